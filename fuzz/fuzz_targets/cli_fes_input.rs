//! The mean-force CSV of `thermograd fes gpr` (header `x1..xd,g1..gd[,v1..vd]`, one
//! observation per line), read by the CLI's own function.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::scratch_file;

#[allow(dead_code)]
#[path = "../../crates/cli/src/cmd/fes.rs"]
mod fes;

/// What `fes.rs` calls as `super::write_atomic`; never reached by this target.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(path, text)?)
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("fuzz.csv", data);
    if let Ok(obs) = fes::read_gradients(&path) {
        assert!(obs.n_gradients() > 0);
    }
});
