//! `.npz` datasets: `read_npz` and `dataset_from_arrays`. The first byte says whether
//! the rest is the whole archive or the contents of arrays placed into a valid archive
//! (so that the array and dataset checks are reached without the fuzzer having to
//! discover the zip format).
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::scratch_file;
use thermograd_train::formats::{dataset_from_arrays, read_npz};
use thermograd_train::{NpzKeys, UnitConversion};

/// A stored zip archive holding `members` as `<name>.npy`.
fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut cursor);
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in members {
            zip.start_file(format!("{name}.npy"), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    cursor.into_inner()
}

const NAMES: [&str; 5] = ["R", "F", "U", "box", "species"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode == 0 {
        rest.to_vec()
    } else {
        // Members are separated by the byte pair `|~`.
        let parts: Vec<&[u8]> = split(rest).into_iter().take(NAMES.len()).collect();
        let members: Vec<(&str, &[u8])> = NAMES.iter().copied().zip(parts).collect();
        archive(&members)
    };
    let path = scratch_file("fuzz.npz", &bytes);
    if let Ok(arrays) = read_npz(&path) {
        let _ = dataset_from_arrays(
            &arrays,
            &NpzKeys::default(),
            &UnitConversion::default(),
            &path,
        );
    }
});

fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut k = 0;
    while k + 1 < bytes.len() {
        if bytes[k] == b'|' && bytes[k + 1] == b'~' {
            parts.push(&bytes[start..k]);
            start = k + 2;
            k += 2;
        } else {
            k += 1;
        }
    }
    parts.push(&bytes[start..]);
    parts
}
