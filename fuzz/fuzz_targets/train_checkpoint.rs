//! `thermograd_train::load_checkpoint` of a state shaped like the trainers' (parameters,
//! optimizer with its Adam moments, a counter, a label). The first byte says whether the
//! rest is the whole file or a patch of a valid checkpoint.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::{patch, scratch_file};
use thermograd_train::{load_checkpoint, save_checkpoint, Optimizer, OptimizerConfig};

type State = (Vec<f64>, Optimizer, usize, String, Option<Vec<f64>>);

fn base() -> &'static Vec<u8> {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let state: State = (
            vec![0.5, -1.0, 2.0],
            OptimizerConfig::default().build(3).unwrap(),
            7,
            "epoch".into(),
            Some(vec![1.0]),
        );
        let path = scratch_file("base.ckpt", b"");
        save_checkpoint(&path, "force-matching", &state).unwrap();
        std::fs::read(&path).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        patch(base(), rest)
    };
    let path = scratch_file("fuzz.ckpt", &bytes);
    let _ = load_checkpoint::<State>(&path, "force-matching");
});
