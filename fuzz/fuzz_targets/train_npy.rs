//! `thermograd_train::formats::read_npy` on arbitrary bytes: header, dtype, byte order,
//! memory order and length checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::scratch_file;
use thermograd_train::formats::read_npy;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("fuzz.npy", data);
    if let Ok(array) = read_npy(&path) {
        assert_eq!(array.shape.iter().product::<usize>(), array.data.len());
    }
});
