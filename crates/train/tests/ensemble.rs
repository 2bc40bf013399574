//! Deep ensembles: members differ, the committee is at least as good as its average
//! member, the spread grows off the training distribution, member-by-member resume
//! reproduces the uninterrupted run, and the statistics agree with
//! `thermograd_nn::Committee`.

mod common;

use common::{lj_dataset, lj_state};
use thermograd_dist::Serial;
use thermograd_geometry::SimBox;
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, SymmetryFunctions, Trainable,
};
use thermograd_train::ensemble::member_seeds;
use thermograd_train::{
    Dataset, EnsembleConfig, FmEpoch, FmWeights, ForceMatchingConfig, OptimizerConfig, Result,
    Schedule, SplitConfig, Structure, TrainError,
};

fn data() -> (Dataset, Dataset) {
    // 32 LJ atoms at ρ = 0.85, kT = 1: 24 frames, a third held out.
    let data = lj_dataset(lj_state(2, 0.85, 1.0, 3), 1.0, 200, 24, 10, 4);
    let split = data
        .split(&SplitConfig {
            validation: 0.0,
            test: 1.0 / 3.0,
            seed: 1,
        })
        .unwrap();
    (split.train, split.test)
}

/// Tiny Behler–Parrinello networks with input normalization fitted on `data`.
fn factory(data: &Dataset) -> impl Fn(usize, u64) -> Result<BehlerParrinello> + Clone {
    let frames = data.frames();
    move |_k, seed| {
        let mut m = BehlerParrinelloConfig {
            descriptors: SymmetryFunctions::standard(2.0, 1, 6, AngularKind::G4),
            hidden: vec![16],
            activation: Activation::Silu,
        }
        .build(seed)?;
        m.fit_input_normalization(&frames)?;
        Ok(m)
    }
}

fn config(members: usize, epochs: usize) -> EnsembleConfig {
    EnsembleConfig::new(
        members,
        ForceMatchingConfig {
            weights: FmWeights {
                energy: 0.0,
                forces: 1.0,
                virial: 0.0,
            },
            epochs,
            batch_size: 4,
            optimizer: OptimizerConfig {
                adam: thermograd_nn::AdamConfig {
                    learning_rate: 3e-2,
                    ..Default::default()
                },
                schedule: Schedule::Cosine {
                    final_learning_rate: 1e-3,
                },
                clip_norm: Some(10.0),
            },
            ..Default::default()
        },
        17,
    )
}

/// Every number of a history except the wall times.
fn losses(h: &[FmEpoch]) -> Vec<(f64, Option<f64>)> {
    h.iter()
        .map(|e| (e.train_loss, e.train_force_rmse))
        .collect()
}

/// The configurations of `data` with every length scaled by `s` (positions and box).
fn scaled(data: &Dataset, s: f64) -> Vec<thermograd_nn::Frame> {
    data.structures()
        .iter()
        .map(|st: &Structure| {
            let mut f = st.frame();
            for r in &mut f.positions {
                *r *= s;
            }
            let l = f.simbox.cell().unwrap() * s;
            f.simbox = SimBox::orthorhombic([l[(0, 0)], l[(1, 1)], l[(2, 2)]]).unwrap();
            f
        })
        .collect()
}

#[test]
fn committee_is_accurate_and_its_spread_grows_off_distribution() {
    let (train, test) = data();
    let ensemble = config(4, 30)
        .build(factory(&train), train.clone(), Dataset::default())
        .unwrap();
    let untrained =
        thermograd_train::TrainedEnsemble::from_members(ensemble.initial_models().to_vec())
            .unwrap();
    let trained = ensemble.train(&Serial).unwrap();

    // Members differ (own initial weights and shuffling) and each trained.
    let p: Vec<Vec<f64>> = trained.members().iter().map(|m| m.parameters()).collect();
    for a in 0..p.len() {
        for b in a + 1..p.len() {
            assert_ne!(p[a], p[b], "members {a} and {b}");
        }
    }
    for h in trained.histories() {
        assert_eq!(h.len(), 30);
        assert!(h[29].train_loss < h[0].train_loss);
    }

    let before = untrained.evaluate(&test).unwrap();
    let after = trained.evaluate(&test).unwrap();
    let std = test.force_std().unwrap();
    eprintln!(
        "held-out force RMSE: committee {:.4} (untrained {:.4}), members {:?}, force std {std:.4}",
        after.force_rmse, before.force_rmse, after.member_force_rmse
    );
    eprintln!(
        "mean σ {:.4}, RMSE/RMS σ {:.3}, within ±2σ {:.3}, disagreement mean {:.4} max {:.4}",
        after.mean_force_std,
        after.error_to_spread,
        after.within_two_sigma,
        after.mean_disagreement,
        after.max_disagreement
    );
    assert!(after.force_rmse < 0.7 * before.force_rmse);
    assert!(after.force_rmse < 0.05 * std);
    // The spread is the size of the error, not orders of magnitude off.
    assert!((0.2..5.0).contains(&after.error_to_spread));
    assert!(after.force_rmse <= after.mean_member_force_rmse);
    assert!((0.0..=1.0).contains(&after.within_two_sigma));

    // Off the training distribution (the same configurations compressed by 8%, density
    // 0.85 → 1.09) the committee disagrees more.
    let inside = trained.disagreements(&test.frames()).unwrap();
    let outside = trained.disagreements(&scaled(&test, 0.92)).unwrap();
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    eprintln!(
        "mean disagreement: in distribution {:.4}, compressed {:.4}",
        mean(&inside),
        mean(&outside)
    );
    assert!(mean(&outside) > 2.0 * mean(&inside));
    assert_eq!(mean(&inside), after.mean_disagreement);

    // The generic statistics equal the network committee's own (thermograd-nn).
    let frames = test.frames();
    let ours = trained.predict(&frames[..3]).unwrap();
    let committee = trained.clone().into_committee().unwrap();
    let theirs = committee.evaluate_batch(&frames[..3]).unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert!((a.mean.energy - b.mean.energy).abs() < 1e-12 * b.mean.energy.abs().max(1.0));
        assert!((a.energy_std - b.energy_std).abs() < 1e-10);
        for (x, y) in a.force_std.iter().zip(&b.force_std) {
            assert!((x - y).norm() < 1e-10);
        }
        for (x, y) in a.mean.forces.iter().zip(&b.mean.forces) {
            assert!((x - y).norm() < 1e-10);
        }
    }
}

#[test]
fn members_are_independent_of_how_they_are_run() {
    let (train, _) = data();
    let ensemble = config(3, 3)
        .build(factory(&train), train, Dataset::default())
        .unwrap();
    let together = ensemble.train(&Serial).unwrap();
    // Member by member, in reverse order (as another rank layout would).
    let mut alone: Vec<_> = (0..3)
        .rev()
        .map(|k| ensemble.train_member(k).unwrap())
        .collect();
    alone.reverse();
    let assembled = ensemble.assemble(alone).unwrap();
    for k in 0..3 {
        assert_eq!(
            together.members()[k].parameters(),
            assembled.members()[k].parameters()
        );
        assert_eq!(
            losses(&together.histories()[k]),
            losses(&assembled.histories()[k])
        );
    }
    // Seeds depend on the member index, not on anything else.
    assert_ne!(member_seeds(17, 0), member_seeds(17, 1));
    assert_eq!(member_seeds(17, 2), member_seeds(17, 2));
}

#[test]
fn killed_ensemble_resumes_member_by_member() {
    let (train, _) = data();
    let uninterrupted = config(3, 4)
        .build(factory(&train), train.clone(), Dataset::default())
        .unwrap()
        .train(&Serial)
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(3, 4);
    c.checkpoint_dir = Some(tmp.path().join("members"));
    let ensemble = c.build(factory(&train), train, Dataset::default()).unwrap();
    // The job dies after member 0 finished and member 1 ran one of its four epochs.
    let member0 = ensemble.train_member(0).unwrap();
    let mut partial = ensemble.member_trainer(1).unwrap();
    partial.run_epoch().unwrap();
    let epoch1 = partial.history()[0].clone();
    drop(partial);
    assert!(ensemble.checkpoint_path(1).unwrap().is_file());
    assert!(!ensemble.checkpoint_path(2).unwrap().exists());

    let resumed = ensemble.train(&Serial).unwrap();
    for k in 0..3 {
        assert_eq!(
            resumed.members()[k].parameters(),
            uninterrupted.members()[k].parameters(),
            "member {k}"
        );
        assert_eq!(
            losses(&resumed.histories()[k]),
            losses(&uninterrupted.histories()[k])
        );
    }
    // Member 0 was read back, not trained again (its wall times are the first run's),
    // and member 1 kept the epoch it had done.
    assert_eq!(resumed.histories()[0], member0.history);
    assert_eq!(resumed.histories()[1][0], epoch1);
}

#[test]
fn bootstrap_draws_each_member_its_own_resample() {
    let (train, test) = data();
    let mut c = config(3, 2);
    c.bootstrap = true;
    let ensemble = c
        .build(factory(&train), train.clone(), Dataset::default())
        .unwrap();
    let n = train.len();
    let draws: Vec<Vec<usize>> = (0..3).map(|k| ensemble.training_indices(k)).collect();
    for d in &draws {
        assert_eq!(d.len(), n);
        assert!(d.iter().all(|&i| i < n));
        let mut distinct = d.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // With replacement: P(no repeat in 16 draws of 16) = 16!/16¹⁶ ≈ 1e-6.
        assert!(distinct.len() < n);
    }
    assert_ne!(draws[0], draws[1]);
    let trained = ensemble.train(&Serial).unwrap();
    assert!(trained.evaluate(&test).unwrap().force_rmse.is_finite());
    // Without bootstrap every member sees every structure.
    let plain = config(3, 2)
        .build(factory(&train), train, Dataset::default())
        .unwrap();
    assert_eq!(plain.training_indices(1), (0..n).collect::<Vec<_>>());
}

#[test]
fn bad_settings_are_errors() {
    let (train, test) = data();
    let one = config(1, 2).build(factory(&train), train.clone(), Dataset::default());
    assert!(matches!(one, Err(TrainError::Config { .. })));
    let mut c = config(2, 2);
    c.training.checkpoint = Some("x.ckpt".into());
    assert!(matches!(
        c.build(factory(&train), train.clone(), Dataset::default()),
        Err(TrainError::Config { .. })
    ));
    // Energy weight without energy labels.
    let mut unlabeled = Vec::new();
    for s in train.structures() {
        let mut s = s.clone();
        s.energy = None;
        unlabeled.push(s);
    }
    let mut c = config(2, 2);
    c.training.weights.energy = 1.0;
    let unlabeled = Dataset::new(unlabeled, Default::default()).unwrap();
    assert!(matches!(
        c.build(factory(&train), unlabeled.clone(), Dataset::default()),
        Err(TrainError::MissingLabel { .. })
    ));
    let ensemble = config(2, 1)
        .build(factory(&train), train, Dataset::default())
        .unwrap();
    assert!(ensemble.member_trainer(2).is_err());
    let trained = ensemble.train(&Serial).unwrap();
    let mut no_forces = unlabeled.structures().to_vec();
    no_forces[0].forces = None;
    let no_forces = Dataset::new(no_forces, Default::default()).unwrap();
    assert!(matches!(
        trained.evaluate(&no_forces),
        Err(TrainError::MissingLabel { what: "forces", .. })
    ));
    assert!(trained.evaluate(&test).is_ok());
}
