//! Interleaved training: force-matching epochs alternating with DiffTRe updates on one
//! spline correction to a soft-sphere prior, towards Lennard-Jones forces (bottom-up)
//! and the Lennard-Jones pressure (top-down). Both losses improve, and resume equals
//! the uninterrupted run.

mod common;
mod statepoints;

use common::{lj_dataset, lj_state};
use statepoints::{adam, prior, sampler, spline};
use thermograd_md::{Evaluation, ForceField, PotentialSum, State};
use thermograd_nn::Trainable;
use thermograd_train::{
    force_matching_loss, Dataset, DiffTReConfig, DiffTReSetup, FmWeights, ForceMatchingConfig,
    Interleaved, InterleavedConfig, InterleavedPhase, PressureObservable, ReweightingConfig,
    SharedPotential, SplinePair, Structure, Target,
};

const KT: f64 = 1.0;
const DENSITY: f64 = 0.8;

/// Lennard-Jones configurations labelled with the forces the correction should
/// supply, `F_LJ − F_prior`, and the mean Lennard-Jones pressure over them.
fn data() -> (Dataset, f64) {
    let lj = lj_dataset(lj_state(2, DENSITY, KT, 7), KT, 200, 16, 10, 8);
    let mut ff = ForceField::new(PotentialSum::new().with(SharedPotential(prior())), 0.3).unwrap();
    let mut out = Evaluation::zeros(0);
    let mut pressure = 0.0;
    let mut structures = Vec::new();
    for s in lj.structures() {
        let n = s.n_atoms();
        let state = State::new(
            s.positions.clone(),
            vec![1.0; n],
            s.species.clone(),
            s.simbox.clone(),
        )
        .unwrap();
        ff.evaluate(&state, &mut out).unwrap();
        let mut t = Structure::new(s.positions.clone(), s.species.clone(), s.simbox.clone());
        t.forces = Some(
            s.forces
                .as_ref()
                .unwrap()
                .iter()
                .zip(&out.forces)
                .map(|(f, p)| f - p)
                .collect(),
        );
        structures.push(t);
        let volume = s.simbox.volume().unwrap();
        pressure += (n as f64 * KT + s.virial.unwrap().trace() / 3.0) / volume;
    }
    let n = structures.len() as f64;
    (
        Dataset::new(structures, Default::default()).unwrap(),
        pressure / n,
    )
}

fn setup(pressure: f64) -> DiffTReSetup {
    DiffTReSetup {
        initial: lj_state(2, DENSITY, KT, 9),
        prior: Some(prior()),
        targets: vec![Target {
            observable: Box::new(PressureObservable),
            target: vec![pressure],
            weight: 1.0,
        }],
    }
}

fn config(
    cycles: usize,
    fm_epochs: usize,
    difftre_updates: usize,
    checkpoint: Option<std::path::PathBuf>,
) -> InterleavedConfig {
    InterleavedConfig {
        force_matching: ForceMatchingConfig {
            weights: FmWeights::default(),
            batch_size: 8,
            optimizer: adam(0.05),
            seed: 3,
            ..Default::default()
        },
        difftre: difftre_config(),
        cycles,
        fm_epochs,
        difftre_updates,
        checkpoint,
        metrics: None,
        progress: false,
    }
}

fn difftre_config() -> DiffTReConfig {
    DiffTReConfig {
        sampler: sampler(KT, 16, 21),
        updates: 1,
        optimizer: adam(0.05),
        reweighting: ReweightingConfig {
            ess_threshold: 0.6,
            ..Default::default()
        },
        checkpoint: None,
        metrics: None,
        progress: false,
    }
}

/// The force-matching loss of `model` on `data`.
fn fm_loss(model: &SplinePair, data: &Dataset) -> f64 {
    let s: Vec<&Structure> = data.structures().iter().collect();
    force_matching_loss(model, &s, &FmWeights::default(), false)
        .unwrap()
        .loss
}

/// The DiffTRe loss of `model` on fresh samples drawn with it.
fn difftre_loss(model: SplinePair, pressure: f64) -> f64 {
    let s = setup(pressure);
    let mut t = difftre_config()
        .build(model, s.initial, s.prior, s.targets)
        .unwrap();
    t.loss().unwrap().loss
}

#[test]
fn interleaving_lowers_both_the_force_matching_and_the_difftre_loss() {
    let (data, pressure) = data();
    let mut trainer = config(10, 2, 2, None)
        .build(spline(), data.clone(), Dataset::default(), setup(pressure))
        .unwrap();
    let (fm_before, dt_before) = (fm_loss(&spline(), &data), difftre_loss(spline(), pressure));
    trainer.train().unwrap();
    assert_eq!(trainer.history().len(), 40);
    assert_eq!(trainer.fm_history().len(), 20);
    assert_eq!(trainer.difftre_history().len(), 20);
    let phases: Vec<InterleavedPhase> = trainer.history()[..4].iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        [
            InterleavedPhase::ForceMatching,
            InterleavedPhase::ForceMatching,
            InterleavedPhase::DiffTRe,
            InterleavedPhase::DiffTRe
        ]
    );
    let model = trainer.into_model();
    let (fm_after, dt_after) = (fm_loss(&model, &data), difftre_loss(model, pressure));
    eprintln!(
        "target pressure {pressure:.3}; FM loss {fm_before:.3e} → {fm_after:.3e}; \
         DiffTRe loss {dt_before:.3e} → {dt_after:.3e}"
    );
    assert!(
        fm_after < 0.5 * fm_before,
        "FM loss {fm_before} → {fm_after}"
    );
    assert!(
        dt_after < 0.5 * dt_before,
        "DiffTRe loss {dt_before} → {dt_after}"
    );
}

#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let (data, pressure) = data();
    let build = |checkpoint| -> Interleaved<SplinePair> {
        config(2, 1, 2, checkpoint)
            .build(spline(), data.clone(), Dataset::default(), setup(pressure))
            .unwrap()
    };
    let mut full = build(None);
    full.train().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("interleaved.ckpt");
    // Stop after the first DiffTRe update, inside a phase, right after a switch.
    let mut first = build(Some(ckpt.clone()));
    first.step().unwrap();
    first.step().unwrap();
    drop(first);
    let mut second = build(Some(ckpt.clone()));
    second.resume(&ckpt).unwrap();
    assert_eq!(second.steps_done(), 2);
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    let strip = |t: &Interleaved<SplinePair>| {
        t.history()
            .iter()
            .map(|s| (s.step, s.cycle, s.phase, s.index, s.loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&second), strip(&full));
    let fm = |t: &Interleaved<SplinePair>| {
        t.fm_history()
            .iter()
            .map(|e| e.train_loss)
            .collect::<Vec<_>>()
    };
    assert_eq!(fm(&second), fm(&full));
    // Only the checkpoint itself is left behind.
    let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn sub_trainer_outputs_are_refused() {
    let (data, pressure) = data();
    let mut c = config(1, 1, 1, None);
    c.force_matching.metrics = Some("fm.csv".into());
    assert!(c
        .build(spline(), data.clone(), Dataset::default(), setup(pressure))
        .is_err());
    let c = config(1, 0, 0, None);
    assert!(c
        .build(spline(), data, Dataset::default(), setup(pressure))
        .is_err());
}
