//! Two or three state points of a small soft-sphere fluid with a spline correction,
//! shared by the multi-state DiffTRe tests (`multistate.rs`, `mpi.rs`) and the
//! interleaved trainer's test: 32 atoms, short runs, so that each test takes seconds.
#![allow(dead_code)]

use std::sync::Arc;

use thermograd_md::{Potential, SoftSphereConfig, State};
use thermograd_nn::AdamConfig;
use thermograd_train::{
    DiffTReConfig, MultiStateDiffTReConfig, OptimizerConfig, PressureObservable, RdfObservable,
    ReweightingConfig, SamplerConfig, SplinePair, SplinePairConfig, StatePoint, StatePointConfig,
    Target,
};

use super::common::lj_state;

/// The soft-sphere prior `u = (σ/r)¹²`, σ = ε = 1, shifted to 0 at r = 1.5.
pub fn prior() -> Arc<dyn Potential> {
    let mut c = SoftSphereConfig::single(1.0, 1.0, 12, 1.5);
    c.shift = true;
    Arc::new(c.build().unwrap())
}

/// The trained correction: a cubic spline on [0.75, 2.0] with 12 knots, all zero.
pub fn spline() -> SplinePair {
    SplinePairConfig::uniform(0.75, 2.0, 12).build().unwrap()
}

/// `(kT, density, pressure target, weight)` of state point `s` (reduced units).
pub fn conditions(s: usize) -> (f64, f64, f64, f64) {
    [
        (1.0, 0.8, 1.0, 1.0),
        (1.5, 0.7, 2.0, 0.5),
        (1.2, 0.75, 1.5, 0.8),
    ][s]
}

/// Langevin sampling at `kt`: `samples` snapshots every 5 steps after 50 steps.
pub fn sampler(kt: f64, samples: usize, seed: u64) -> SamplerConfig {
    SamplerConfig {
        kt,
        dt: 0.005,
        friction_time: 0.5,
        equilibration_steps: 50,
        samples,
        stride: 5,
        skin: 0.3,
        seed,
        pressure: None,
    }
}

/// Targets of state point `s`: its pressure, and (weakly) a flat RDF, so that both a
/// model-dependent observable and a weights-only one enter.
pub fn targets(s: usize) -> Vec<Target> {
    let (_, _, pressure, _) = conditions(s);
    vec![
        Target {
            observable: Box::new(PressureObservable),
            target: vec![pressure],
            weight: 1.0,
        },
        Target {
            observable: Box::new(RdfObservable {
                config: thermograd_md::RdfConfig {
                    r_max: 1.9,
                    n_bins: 19,
                    n_species: 1,
                },
                a: 0,
                b: 0,
            }),
            target: vec![1.0; 19],
            weight: 0.1,
        },
    ]
}

/// The initial state of state point `s` (32 atoms, fcc at its density).
pub fn initial(s: usize) -> State {
    let (kt, density, _, _) = conditions(s);
    lj_state(2, density, kt, 100 + s as u64)
}

/// The settings of state point `s`.
pub fn state_config(s: usize, samples: usize, ess_threshold: f64) -> StatePointConfig {
    let (kt, _, _, weight) = conditions(s);
    StatePointConfig {
        sampler: sampler(kt, samples, 10 + s as u64),
        reweighting: ReweightingConfig {
            ess_threshold,
            ..Default::default()
        },
        weight,
    }
}

/// State point `s` (initial state, prior, targets).
pub fn state_point(s: usize) -> StatePoint {
    StatePoint {
        initial: initial(s),
        prior: Some(prior()),
        targets: targets(s),
    }
}

/// Adam with learning rate `lr`.
pub fn adam(lr: f64) -> OptimizerConfig {
    OptimizerConfig {
        adam: AdamConfig {
            learning_rate: lr,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A multi-state trainer's settings over the first `n` state points.
pub fn multi_config(
    n: usize,
    updates: usize,
    samples: usize,
    ess_threshold: f64,
    checkpoint: Option<std::path::PathBuf>,
) -> MultiStateDiffTReConfig {
    MultiStateDiffTReConfig {
        states: (0..n)
            .map(|s| state_config(s, samples, ess_threshold))
            .collect(),
        updates,
        optimizer: adam(0.05),
        checkpoint,
        metrics: None,
        progress: false,
    }
}

/// The single-state DiffTRe settings equal to state point `s` of [`multi_config`].
pub fn single_config(
    s: usize,
    updates: usize,
    samples: usize,
    ess_threshold: f64,
) -> DiffTReConfig {
    let c = state_config(s, samples, ess_threshold);
    DiffTReConfig {
        sampler: c.sampler,
        updates,
        optimizer: adam(0.05),
        reweighting: c.reweighting,
        checkpoint: None,
        metrics: None,
        progress: false,
    }
}
