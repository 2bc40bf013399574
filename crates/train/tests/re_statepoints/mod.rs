//! Two or three state points for multi-state relative entropy, shared by
//! `multistate.rs` and `mpi.rs`: Lennard-Jones reference configurations of the small
//! fluid of [`super::statepoints`] (32 atoms, its conditions), coarse-grained model =
//! soft-sphere prior + spline correction, so the spline has an attraction to learn.
#![allow(dead_code)]

use thermograd_train::{
    MultiStateRelativeEntropyConfig, RelativeEntropyConfig, RelativeEntropyStatePoint,
    RelativeEntropyStatePointConfig, ReweightingConfig,
};

use super::common::{lj_dataset, lj_state};
use super::statepoints::{adam, conditions, initial, prior, sampler};

/// Reference data of state point `s`: 16 Lennard-Jones frames at its `kT` and density.
pub fn reference(s: usize) -> thermograd_train::Dataset {
    let (kt, density, _, _) = conditions(s);
    lj_dataset(
        lj_state(2, density, kt, 200 + s as u64),
        kt,
        200,
        16,
        10,
        300 + s as u64,
    )
}

/// State point `s` (reference data, initial state, prior).
pub fn re_point(s: usize) -> RelativeEntropyStatePoint {
    RelativeEntropyStatePoint {
        reference: reference(s),
        initial: initial(s),
        prior: Some(prior()),
    }
}

/// The first `n` state points.
pub fn re_points(n: usize) -> Vec<RelativeEntropyStatePoint> {
    (0..n).map(re_point).collect()
}

/// The settings of state point `s`: `samples` model states, resampled below
/// `ess_threshold`, reference minibatches of `batch`.
pub fn re_state_config(
    s: usize,
    samples: usize,
    ess_threshold: f64,
    batch: Option<usize>,
) -> RelativeEntropyStatePointConfig {
    let (kt, _, _, weight) = conditions(s);
    RelativeEntropyStatePointConfig {
        sampler: sampler(kt, samples, 10 + s as u64),
        reweighting: ReweightingConfig {
            ess_threshold,
            ..Default::default()
        },
        reference_batch: batch,
        seed: 40 + s as u64,
        weight,
    }
}

/// A multi-state relative-entropy trainer's settings over the first `n` state points.
pub fn re_multi_config(
    n: usize,
    updates: usize,
    samples: usize,
    ess_threshold: f64,
    checkpoint: Option<std::path::PathBuf>,
) -> MultiStateRelativeEntropyConfig {
    MultiStateRelativeEntropyConfig {
        states: (0..n)
            .map(|s| re_state_config(s, samples, ess_threshold, Some(8)))
            .collect(),
        updates,
        optimizer: adam(0.05),
        checkpoint,
        metrics: None,
        progress: false,
    }
}

/// The single-state settings equal to state point `s` of [`re_multi_config`].
pub fn re_single_config(
    s: usize,
    updates: usize,
    samples: usize,
    ess_threshold: f64,
) -> RelativeEntropyConfig {
    let c = re_state_config(s, samples, ess_threshold, Some(8));
    RelativeEntropyConfig {
        sampler: c.sampler,
        updates,
        optimizer: adam(0.05),
        reweighting: c.reweighting,
        reference_batch: c.reference_batch,
        seed: c.seed,
        checkpoint: None,
        metrics: None,
        progress: false,
    }
}
