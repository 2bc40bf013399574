//! Force matching: the loss gradient against finite differences, exact resume, and
//! recovery of a known potential from its own MD data.

mod common;

use common::{lj_dataset, lj_state, slow};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinelloConfig, SchNetConfig, SymmetryFunctions, Trainable,
};
use thermograd_train::{
    force_matching_loss, Dataset, EnergyModel, FmWeights, ForceMatchingConfig, OptimizerConfig,
    Schedule, SplinePairConfig, Split, SplitConfig, Structure,
};

fn small_data() -> Dataset {
    // 32 atoms, short runs: enough variety for gradients and resume checks.
    lj_dataset(lj_state(2, 0.85, 1.0, 3), 1.0, 200, 12, 10, 4)
}

fn fd_check<M: EnergyModel + Clone>(model: &M, data: &Dataset, w: &FmWeights, tol: f64) {
    let s: Vec<&Structure> = data.structures().iter().collect();
    let g = force_matching_loss(model, &s, w, true)
        .unwrap()
        .gradient
        .unwrap();
    let p0 = model.parameters();
    let scale = g.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mut m = model.clone();
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for k in (0..p0.len()).step_by(1 + p0.len() / 25) {
        let mut p = p0.clone();
        p[k] += h;
        m.set_parameters(&p).unwrap();
        let up = force_matching_loss(&m, &s, w, false).unwrap().loss;
        p[k] -= 2.0 * h;
        m.set_parameters(&p).unwrap();
        let down = force_matching_loss(&m, &s, w, false).unwrap().loss;
        worst = worst.max(((up - down) / (2.0 * h) - g[k]).abs() / scale);
    }
    assert!(worst < tol, "worst relative gradient error {worst:e}");
}

#[test]
fn loss_gradient_matches_finite_differences() {
    let data = small_data();
    let w = FmWeights {
        energy: 0.7,
        forces: 1.0,
        virial: 0.3,
    };
    let spline = SplinePairConfig::uniform(0.7, 2.0, 16)
        .build_from(|_, _, r| {
            4.0 * (r.powi(-12) - r.powi(-6)) - 4.0 * (2f64.powi(-12) - 2f64.powi(-6))
        })
        .unwrap();
    fd_check(&spline, &data, &w, 1e-7);
    let bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.0, 1, 4, AngularKind::G4),
        hidden: vec![8],
        activation: Activation::Silu,
    }
    .build(5)
    .unwrap();
    fd_check(&bp, &data, &w, 1e-6);
    // Without virials the network takes its fused path (one descriptor pass); the
    // finite differences use the separate evaluation, so this also checks that both
    // paths compute the same loss.
    let no_virial = FmWeights { virial: 0.0, ..w };
    fd_check(&bp, &data, &no_virial, 1e-6);
    let s: Vec<&Structure> = data.structures().iter().collect();
    let fused = force_matching_loss(&bp, &s, &no_virial, true).unwrap();
    let plain = force_matching_loss(&bp, &s, &no_virial, false).unwrap();
    assert!((fused.loss - plain.loss).abs() < 1e-12 * plain.loss);
    assert!((fused.force_rmse.unwrap() - plain.force_rmse.unwrap()).abs() < 1e-12);
    // SchNet: virials through the same tangent pass as the forces.
    let schnet = SchNetConfig {
        features: 6,
        n_rbf: 5,
        interactions: 2,
        readout_hidden: vec![4],
        ..SchNetConfig::standard(1, 2.0)
    }
    .build(6)
    .unwrap();
    fd_check(&schnet, &data, &w, 1e-6);
    fd_check(&schnet, &data, &no_virial, 1e-6);
}

fn bp_trainer_config(epochs: usize, checkpoint: Option<std::path::PathBuf>) -> ForceMatchingConfig {
    ForceMatchingConfig {
        weights: FmWeights {
            energy: 0.1,
            forces: 1.0,
            virial: 0.0,
        },
        epochs,
        batch_size: 4,
        optimizer: OptimizerConfig {
            schedule: Schedule::Cosine {
                final_learning_rate: 1e-4,
            },
            clip_norm: Some(10.0),
            ..Default::default()
        },
        seed: 9,
        checkpoint,
        ..Default::default()
    }
}

#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let data = small_data();
    let split = data
        .split(&SplitConfig {
            validation: 0.25,
            test: 0.0,
            seed: 1,
        })
        .unwrap();
    let model = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.0, 1, 4, AngularKind::G4),
        hidden: vec![8],
        activation: Activation::Silu,
    }
    .build(5)
    .unwrap();
    let mut full = bp_trainer_config(4, None)
        .build(model.clone(), split.train.clone(), split.validation.clone())
        .unwrap();
    full.train().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ckpt = dir.join("fm.ckpt");
    let mut first = bp_trainer_config(4, Some(ckpt.clone()))
        .build(model.clone(), split.train.clone(), split.validation.clone())
        .unwrap();
    first.run_epoch().unwrap();
    first.run_epoch().unwrap();
    drop(first); // "interrupted" after two epochs
    let mut second = bp_trainer_config(4, Some(ckpt.clone()))
        .build(model, split.train, split.validation)
        .unwrap();
    second.resume(&ckpt).unwrap();
    assert_eq!(second.epoch(), 2);
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    let losses =
        |h: &[thermograd_train::FmEpoch]| h.iter().map(|e| e.validation_loss).collect::<Vec<_>>();
    assert_eq!(losses(second.history()), losses(full.history()));
    // Training did something.
    assert_ne!(
        full.history()[0].validation_loss,
        full.history()[3].validation_loss
    );
}

#[test]
fn spline_recovers_lennard_jones_forces_from_md() {
    // 108 atoms of the force-shifted LJ liquid; a 50-knot spline, starting from zero,
    // fitted to forces only. Single-structure batches: the knot values are strongly
    // correlated (forces see their differences), and Adam needs many small steps.
    let frames = if slow() { 200 } else { 40 };
    let data = lj_dataset(lj_state(3, 0.8, 1.0, 11), 1.0, 1000, frames, 25, 12);
    let split = data
        .split(&SplitConfig {
            validation: 0.1,
            test: 0.2,
            seed: 2,
        })
        .unwrap();
    let model = SplinePairConfig::uniform(0.75, 2.5, 50).build().unwrap();
    let config = ForceMatchingConfig {
        weights: FmWeights {
            energy: 0.0,
            forces: 1.0,
            virial: 0.0,
        },
        epochs: 200,
        batch_size: 1,
        optimizer: OptimizerConfig {
            adam: thermograd_nn::AdamConfig {
                learning_rate: 0.3,
                ..Default::default()
            },
            schedule: Schedule::Exponential {
                final_learning_rate: 1e-4,
            },
            clip_norm: None,
        },
        seed: 3,
        ..Default::default()
    };
    let mut trainer = config.build(model, split.train, split.validation).unwrap();
    trainer.train().unwrap();
    let test = trainer.evaluate(&split.test).unwrap();
    let rmse = test.force_rmse.unwrap();
    let std = split.test.force_std().unwrap();
    eprintln!(
        "held-out force RMSE {rmse:.4e}, force std {std:.4e}, ratio {:.4}",
        rmse / std
    );
    assert!(rmse < 0.02 * std, "force RMSE {rmse} vs std {std}");
}

/// The data of the slow network tests: 150 frames of a 32-atom LJ fluid (kT = 1) from
/// MD, split 70/10/20.
fn lj_md_split() -> Split {
    lj_dataset(lj_state(2, 0.8, 1.0, 21), 1.0, 1000, 150, 25, 22)
        .split(&SplitConfig {
            validation: 0.1,
            test: 0.2,
            seed: 4,
        })
        .unwrap()
}

/// Trains `model` on forces alone for `epochs` (Adam 3e-3, cosine to 1e-5, batches of
/// 4) and asserts that the held-out force RMSE is below `bound` × the force standard
/// deviation.
fn assert_learns_forces<M: EnergyModel>(
    name: &str,
    model: M,
    split: Split,
    epochs: usize,
    bound: f64,
) {
    let config = ForceMatchingConfig {
        weights: FmWeights {
            energy: 0.0,
            forces: 1.0,
            virial: 0.0,
        },
        epochs,
        batch_size: 4,
        optimizer: OptimizerConfig {
            adam: thermograd_nn::AdamConfig {
                learning_rate: 3e-3,
                ..Default::default()
            },
            schedule: Schedule::Cosine {
                final_learning_rate: 1e-5,
            },
            clip_norm: None,
        },
        seed: 5,
        progress: true,
        ..Default::default()
    };
    let mut trainer = config.build(model, split.train, split.validation).unwrap();
    trainer.train().unwrap();
    let per_epoch: Vec<f64> = trainer.history().iter().map(|e| e.seconds).collect();
    let test = trainer.evaluate(&split.test).unwrap();
    let rmse = test.force_rmse.unwrap();
    let std = split.test.force_std().unwrap();
    eprintln!(
        "{name} held-out force RMSE {rmse:.4e}, force std {std:.4e}, ratio {:.4}; median epoch {:.3} s",
        rmse / std,
        median(per_epoch)
    );
    assert!(rmse < bound * std, "{name}: force RMSE {rmse} vs std {std}");
}

#[test]
fn behler_parrinello_recovers_lennard_jones_forces_from_md() {
    if !slow() {
        return;
    }
    let split = lj_md_split();
    let mut model = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 8, AngularKind::G4),
        hidden: vec![32, 32],
        activation: Activation::Silu,
    }
    .build(7)
    .unwrap();
    model
        .fit_input_normalization(&split.train.frames())
        .unwrap();
    assert_learns_forces("BP", model, split, 200, 0.02);
}

#[test]
fn schnet_recovers_lennard_jones_forces_from_md() {
    if !slow() {
        return;
    }
    let split = lj_md_split();
    let mut model = SchNetConfig {
        features: 32,
        n_rbf: 16,
        interactions: 2,
        readout_hidden: vec![16],
        ..SchNetConfig::standard(1, 2.5)
    }
    .build(7)
    .unwrap();
    model
        .fit_energy_normalization(&split.train.labeled_frames().unwrap())
        .unwrap();
    // Measured 2026-11-22: ratio 0.053 after these 60 epochs (BP above reaches 0.02
    // in 200); an untrained or broken model is near 1.
    assert_learns_forces("SchNet", model, split, 60, 0.08);
}

fn median(mut x: Vec<f64>) -> f64 {
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}
