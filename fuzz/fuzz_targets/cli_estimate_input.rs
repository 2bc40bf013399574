//! The input files of `thermograd estimate`: works (one value per line), reduced-energy
//! matrices (K rows of N values) and sample-count files, read by the CLI's own
//! functions. The first byte picks the reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::scratch_file;

#[allow(dead_code)]
#[path = "../../crates/cli/src/cmd/estimate.rs"]
mod estimate;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let path = scratch_file("fuzz.txt", rest);
    match mode % 3 {
        0 => {
            if let Ok(values) = estimate::read_values(&path) {
                assert!(!values.is_empty() && values.iter().all(|v| v.is_finite()));
            }
        }
        1 => {
            if let Ok(rows) = estimate::read_matrix(&path) {
                assert!(rows.iter().all(|r| r.len() == rows[0].len()));
            }
        }
        _ => {
            let _ = estimate::parse_n_k(path.to_str().unwrap());
        }
    }
});
