//! Active learning by query-by-committee: the labelled candidates are exactly the ones
//! the committee disagrees on most, the held-out error falls over the rounds, and a
//! loop resumed from its round checkpoint reproduces the uninterrupted one.

mod common;

use std::sync::Arc;

use common::{lj, lj_dataset, lj_state, slow};
use thermograd_dist::Serial;
use thermograd_md::{Configuration, Evaluation, Potential, State};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Committee, SymmetryFunctions,
};
use thermograd_train::active::select_top;
use thermograd_train::{
    ActiveLearning, ActiveLearningConfig, Dataset, Driver, EnsembleConfig, FmWeights,
    ForceMatchingConfig, OptimizerConfig, Result, RoundReport, SamplerConfig, Schedule, Selection,
    SplitConfig,
};

/// Tiny Behler–Parrinello networks with input normalization fitted on `data`.
fn factory(data: &Dataset) -> impl Fn(usize, u64) -> Result<BehlerParrinello> + Clone + 'static {
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

fn config(rounds: usize, selection: Selection) -> ActiveLearningConfig {
    ActiveLearningConfig {
        ensemble: EnsembleConfig::new(
            3,
            ForceMatchingConfig {
                weights: FmWeights {
                    energy: 0.0,
                    forces: 1.0,
                    virial: 0.0,
                },
                epochs: 12,
                batch_size: 2,
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
            5,
        ),
        rounds,
        sampler: SamplerConfig {
            kt: 1.0,
            dt: 0.004,
            friction_time: 0.5,
            equilibration_steps: 10,
            samples: 6,
            stride: 4,
            skin: 0.3,
            seed: 8,
            pressure: None,
        },
        driver: Driver::CommitteeMean,
        selection,
        per_round: 3,
        threshold: 0.0,
        ceiling: None,
        seed: 2,
        checkpoint_dir: None,
    }
}

/// 32 LJ atoms at ρ = 0.85, kT = 1: a small initial set, a held-out set, two starts.
struct Setup {
    train: Dataset,
    test: Dataset,
    starts: Vec<State>,
}

fn setup() -> Setup {
    let data = lj_dataset(lj_state(2, 0.85, 1.0, 3), 1.0, 200, 16, 10, 4);
    let split = data
        .split(&SplitConfig {
            validation: 0.0,
            test: 0.75,
            seed: 1,
        })
        .unwrap();
    Setup {
        train: split.train,
        test: split.test,
        starts: vec![lj_state(2, 0.85, 1.0, 31), lj_state(2, 0.85, 1.0, 32)],
    }
}

fn build(c: &ActiveLearningConfig, s: &Setup) -> ActiveLearning<BehlerParrinello> {
    c.build(
        factory(&s.train),
        s.train.clone(),
        Dataset::default(),
        s.test.clone(),
        s.starts.clone(),
        Arc::new(lj()),
    )
    .unwrap()
}

fn print(label: &str, history: &[RoundReport]) {
    for r in history {
        eprintln!(
            "{label} round {}: {} training structures, held-out force RMSE {:.4}, mean σ {:.4}, \
             candidates {} (disagreement max {:?}, mean {:?}), labelled {:?}",
            r.round,
            r.train_size,
            r.test.force_rmse,
            r.test.mean_force_std,
            r.candidates,
            r.max_disagreement,
            r.mean_disagreement,
            r.selected_disagreement
        );
    }
}

#[test]
fn labels_exactly_the_candidates_the_committee_disagrees_on_most() {
    let s = setup();
    let mut c = config(1, Selection::Disagreement);
    c.driver = Driver::Member(1);
    let mut al = build(&c, &s);
    let n0 = al.training_set().len();
    let round = al.run_round(&Serial).unwrap();
    assert_eq!(round.candidates.len(), 2 * 6);
    // Disagreement computed directly with the network committee of thermograd-nn.
    let committee = Committee::new(round.ensemble.members().to_vec()).unwrap();
    let direct: Vec<f64> = committee
        .evaluate_batch(&round.candidates)
        .unwrap()
        .iter()
        .map(|e| e.force_std.iter().map(|v| v.norm()).fold(0.0, f64::max))
        .collect();
    for (a, b) in round.scores.iter().zip(&direct) {
        assert!((a - b).abs() <= 1e-10 * b.max(1.0), "{a} vs {b}");
    }
    let mut order: Vec<usize> = (0..direct.len()).collect();
    order.sort_by(|&a, &b| direct[b].partial_cmp(&direct[a]).unwrap());
    assert_eq!(round.selected, order[..3].to_vec());
    // The labelled structures were appended in that order, with the reference labels.
    let train = al.training_set().structures();
    assert_eq!(train.len(), n0 + 3);
    for (st, &i) in train[n0..].iter().zip(&round.selected) {
        let f = &round.candidates[i];
        assert_eq!(st.positions, f.positions);
        let mut e = Evaluation::zeros(f.positions.len());
        lj().add_to(
            &Configuration {
                positions: &f.positions,
                species: &f.species,
                simbox: &f.simbox,
                neighbors: None,
            },
            &mut e,
        )
        .unwrap();
        assert_eq!(st.energy, Some(e.energy));
        assert_eq!(st.forces.as_ref(), Some(&e.forces));
    }
    assert_eq!(
        round.report.selected_disagreement,
        order[..3].iter().map(|&i| direct[i]).collect::<Vec<_>>()
    );
    // The threshold and the ceiling filter before ranking.
    let max = direct.iter().copied().fold(0.0, f64::max);
    assert!(select_top(&direct, 3, 1.01 * max, None).is_empty());
    assert_eq!(
        select_top(&direct, 3, 0.0, Some(0.999 * max)),
        order[1..4].to_vec()
    );
}

#[test]
fn held_out_error_falls_and_a_resumed_loop_matches() {
    let s = setup();
    let rounds = if slow() { 4 } else { 2 };
    let mut al = build(&config(rounds, Selection::Disagreement), &s);
    al.run(&Serial).unwrap();
    let history = al.history().to_vec();
    print("query by committee", &history);
    assert_eq!(history.len(), rounds + 1);
    assert_eq!(history[rounds].train_size, s.train.len() + 3 * rounds);
    assert!(history[rounds].test.force_rmse < history[0].test.force_rmse);

    // The same loop killed after its first round and resumed from the checkpoint.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(rounds, Selection::Disagreement);
    c.checkpoint_dir = Some(tmp.path().to_path_buf());
    let mut first = build(&c, &s);
    assert!(!first.resume().unwrap());
    first.run_round(&Serial).unwrap();
    drop(first);
    let mut second = build(&c, &s);
    assert!(second.resume().unwrap());
    assert_eq!(second.round(), 1);
    second.run(&Serial).unwrap();
    assert_eq!(second.history(), &history[..]);
    assert_eq!(second.training_set(), al.training_set());
    assert!(second.finished());

    if slow() {
        // The baseline: as many candidates, chosen at random.
        let mut random = build(&config(rounds, Selection::Random), &s);
        random.run(&Serial).unwrap();
        print("random", random.history());
    }
}

#[test]
fn bad_settings_are_errors() {
    let s = setup();
    let mut c = config(1, Selection::Disagreement);
    c.driver = Driver::Member(3);
    assert!(c.validate().is_err());
    let mut c = config(1, Selection::Disagreement);
    c.threshold = -1.0;
    assert!(c.validate().is_err());
    let mut c = config(1, Selection::Disagreement);
    c.ceiling = Some(0.0);
    assert!(c.validate().is_err());
    let mut c = config(1, Selection::Disagreement);
    c.per_round = 0;
    assert!(c.validate().is_err());
    let c = config(1, Selection::Disagreement);
    let no_starts = c.build(
        factory(&s.train),
        s.train.clone(),
        Dataset::default(),
        s.test.clone(),
        Vec::new(),
        Arc::new(lj()),
    );
    assert!(no_starts.is_err());
    let mut done = build(&config(0, Selection::Disagreement), &s);
    done.run_round(&Serial).unwrap();
    assert!(done.finished());
    assert!(done.run_round(&Serial).is_err());
    assert!(done.resume().is_err(), "no checkpoint directory");
}
