//! Helpers shared by the fuzz targets in `fuzz_targets/`: a per-process scratch file for
//! parsers that only take a path, and a structure-aware mutation ("patch a valid file,
//! then repair its checksum") for formats whose checksum would otherwise stop every
//! random input at the first check.

use std::path::PathBuf;

/// Writes `bytes` to `name` in a directory private to this process and returns its
/// path. The same name is overwritten on every call, so a long run leaves one file per
/// target behind (in the system temporary directory), not one per input.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thermograd-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create the scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("cannot write the scratch file");
    path
}

/// Applies `patch` to a copy of `base`. The first two bytes of `patch` give an offset
/// (little-endian, taken modulo `base.len() + 1`), the third an operation (even:
/// overwrite from the offset, growing the result if the patch runs past the end; odd:
/// cut at the offset and append), the rest are the bytes written. A short patch leaves
/// `base` unchanged.
pub fn patch(base: &[u8], patch: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if patch.len() < 3 {
        return out;
    }
    let offset = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % (base.len() + 1);
    let data = &patch[3..];
    if patch[2] % 2 == 0 {
        for (k, &b) in data.iter().enumerate() {
            match out.get_mut(offset + k) {
                Some(slot) => *slot = b,
                None => out.push(b),
            }
        }
    } else {
        out.truncate(offset);
        out.extend_from_slice(data);
    }
    out
}

/// FNV-1a 64 over the concatenation of `chunks`: the checksum of thermograd's MD
/// checkpoints and model files, recomputed here so that patched files pass it.
pub fn fnv1a(chunks: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in chunks {
        for &b in *chunk {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_overwrites_truncates_and_grows() {
        let base = [1u8, 2, 3, 4];
        assert_eq!(patch(&base, &[1, 0, 0, 9]), vec![1, 9, 3, 4]);
        assert_eq!(patch(&base, &[3, 0, 0, 7, 8]), vec![1, 2, 3, 7, 8]);
        assert_eq!(patch(&base, &[2, 0, 1, 5]), vec![1, 2, 5]);
        assert_eq!(patch(&base, &[2, 0]), base.to_vec());
    }

    #[test]
    fn fnv1a_of_the_empty_input_is_the_offset_basis() {
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        // Published FNV-1a 64 test vector: "a".
        assert_eq!(fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    }
}
