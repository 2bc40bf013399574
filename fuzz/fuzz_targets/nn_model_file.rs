//! Model and parameter files: `file::decode` and every `ModelFile::from_bytes` on the
//! same bytes. The first byte says whether the rest is the whole file or a patch of the
//! header or payload section of a valid file (an MLP, a Behler–Parrinello potential, a
//! CV surrogate or a spline pair potential), after which lengths and checksum are
//! repaired so that decoding past the checksum is reached.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::{fnv1a, patch};
use thermograd_nn::file::{decode, FORMAT_VERSION, MAGIC};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, CvSurrogate,
    CvSurrogateConfig, MlpConfig, ModelFile, SymmetryFunctions,
};
use thermograd_train::{SplinePair, SplinePairConfig};

/// (header bytes, payload bytes) of one valid file per model kind.
fn sections() -> &'static Vec<(Vec<u8>, Vec<u8>)> {
    static SECTIONS: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    SECTIONS.get_or_init(|| {
        let mlp = MlpConfig {
            inputs: 3,
            hidden: vec![4],
            outputs: 1,
            activation: Activation::Tanh,
        }
        .build(1)
        .unwrap();
        let bp = BehlerParrinelloConfig {
            descriptors: SymmetryFunctions::standard(3.0, 2, 3, AngularKind::G5),
            hidden: vec![3],
            activation: Activation::Tanh,
        }
        .build(2)
        .unwrap();
        let mut cv = CvSurrogateConfig::new("d", vec![0, 1, 2], 1);
        cv.hidden = vec![3];
        let cv = cv.build(3).unwrap();
        let spline = SplinePairConfig::uniform(0.5, 2.0, 5).build().unwrap();
        [
            mlp.to_bytes().unwrap(),
            bp.to_bytes().unwrap(),
            cv.to_bytes().unwrap(),
            spline.to_bytes().unwrap(),
        ]
        .iter()
        .map(|bytes| split(bytes))
        .collect()
    })
}

/// Splits a valid file into its header and payload sections.
fn split(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let len = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let hl = len(12);
    let h = bytes[20..20 + hl].to_vec();
    let pl = len(20 + hl);
    let p = bytes[28 + hl..28 + hl + pl].to_vec();
    (h, p)
}

/// A file with correct magic, version, lengths and checksum around `h` and `p`.
fn assemble(h: &[u8], p: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(h);
    out.extend_from_slice(&(p.len() as u64).to_le_bytes());
    out.extend_from_slice(p);
    out.extend_from_slice(&fnv1a(&[h, p]).to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        m => {
            let (h, p) = &sections()[usize::from(mode / 3) % 4];
            if m == 1 {
                assemble(&patch(h, rest), p)
            } else {
                assemble(h, &patch(p, rest))
            }
        }
    };
    if let Ok((header, parameters)) = decode(&bytes) {
        assert_eq!(header.n_parameters, parameters.len() as u64);
    }
    let _ = thermograd_nn::Mlp::from_bytes(&bytes);
    let _ = BehlerParrinello::from_bytes(&bytes);
    let _ = CvSurrogate::from_bytes(&bytes);
    let _ = SplinePair::from_bytes(&bytes);
});
