//! The TOML configuration shared by `thermograd umbrella` and `thermograd metad`
//! (`[system]`, `[potential]`, `[cv]`, `[walls]`), read into the CLI's own spec types
//! and validated by its `Setup`, which also builds the state and potential; and the
//! `thermograd demo ion-pair` settings (`IonPairConfig`). Keys of the subcommands' own
//! tables (`[sampling]`, `[windows]`, …) are ignored here.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use thermograd::pipelines::ion_pair::IonPairConfig;
use thermograd_cv::CvSpec;

#[allow(dead_code)]
#[path = "../../crates/cli/src/cmd/system.rs"]
mod system;

use system::{PotentialSpec, Setup, SystemSpec, WallSpec};

#[derive(Deserialize)]
struct SimulationFile {
    system: SystemSpec,
    #[serde(default)]
    potential: PotentialSpec,
    cv: CvSpec,
    walls: Option<WallSpec>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Tabulated potentials may name a table file; reading arbitrary paths (`/dev/zero`)
    // is not what is being tested.
    if text.contains("file") {
        return;
    }
    if let Ok(file) = toml::from_str::<SimulationFile>(text) {
        if let Ok(setup) = Setup::new(
            &file.system,
            &file.potential,
            &file.cv,
            file.walls.as_ref(),
            Path::new("fuzz.toml"),
        ) {
            let _ = setup.instance();
        }
    }
    if let Ok(config) = toml::from_str::<IonPairConfig>(text) {
        let _ = config.validate();
    }
});
