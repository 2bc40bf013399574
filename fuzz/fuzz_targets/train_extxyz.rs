//! `thermograd_train::formats::read_extxyz`: the MD parser plus the virial and stress
//! keys of the comment line and unit conversion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::scratch_file;
use thermograd_train::formats::read_extxyz;
use thermograd_train::UnitConversion;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("fuzz.xyz", data);
    if let Ok(dataset) = read_extxyz(&path, &UnitConversion::default()) {
        for s in dataset.structures() {
            assert!(s.positions.iter().all(|p| p.iter().all(|x| x.is_finite())));
            if let Some(w) = &s.virial {
                assert!(w.iter().all(|x| x.is_finite()));
            }
        }
    }
});
