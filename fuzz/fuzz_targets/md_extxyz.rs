//! `thermograd_md::parse_extxyz` on arbitrary bytes: every input is frames or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thermograd_md::{parse_extxyz, SpeciesTable};

fuzz_target!(|data: &[u8]| {
    let mut species = SpeciesTable::default();
    if let Ok(frames) = parse_extxyz(std::io::Cursor::new(data), "fuzz.xyz", &mut species) {
        for frame in &frames {
            assert_eq!(frame.positions.len(), frame.species.len());
            assert!(frame
                .positions
                .iter()
                .all(|p| p.iter().all(|x| x.is_finite())));
            if let Some(forces) = &frame.forces {
                assert_eq!(forces.len(), frame.positions.len());
            }
        }
    }
});
