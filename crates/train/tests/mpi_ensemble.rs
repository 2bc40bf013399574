//! Run under `mpirun -np N` (`.ci/mpi` does, with N = 2): a deep ensemble trained with
//! its members spread over the ranks must equal, bit for bit, the one trained in this
//! same process alone; a rerun over the same checkpoint directory must read every
//! member back instead of training it. Started without a launcher it runs as a world
//! of one. Its own `main` (no libtest threads): MPI is initialised once and every rank
//! makes the same collective calls in the same order. A failed check panics, and
//! mpirun then stops the job with a non-zero exit status.

mod common;

use std::sync::Arc;

use common::{lj, lj_dataset, lj_state};
use thermograd_dist::{broadcast_value, Comm, Mpi, Serial};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, SymmetryFunctions, Trainable,
};
use thermograd_train::{
    ActiveLearningConfig, Dataset, Driver, EnsembleConfig, FmEpoch, FmWeights, ForceMatchingConfig,
    OptimizerConfig, Result, SamplerConfig, Schedule, Selection, TrainedEnsemble,
};

fn factory(_k: usize, seed: u64) -> Result<BehlerParrinello> {
    Ok(BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.0, 1, 4, AngularKind::G4),
        hidden: vec![8],
        activation: Activation::Silu,
    }
    .build(seed)?)
}

fn config() -> EnsembleConfig {
    let mut c = EnsembleConfig::new(
        3,
        ForceMatchingConfig {
            weights: FmWeights {
                energy: 0.1,
                forces: 1.0,
                virial: 0.0,
            },
            epochs: 3,
            batch_size: 4,
            optimizer: OptimizerConfig {
                schedule: Schedule::Cosine {
                    final_learning_rate: 1e-4,
                },
                ..Default::default()
            },
            ..Default::default()
        },
        23,
    );
    c.bootstrap = true;
    c
}

/// Training loss, training force RMSE, validation loss and validation force RMSE.
type EpochNumbers = (f64, Option<f64>, Option<f64>, Option<f64>);

/// Every number of a history except the wall times.
fn numbers(h: &[FmEpoch]) -> Vec<EpochNumbers> {
    h.iter()
        .map(|e| {
            (
                e.train_loss,
                e.train_force_rmse,
                e.validation_loss,
                e.validation_force_rmse,
            )
        })
        .collect()
}

fn assert_same(a: &TrainedEnsemble<BehlerParrinello>, b: &TrainedEnsemble<BehlerParrinello>) {
    assert_eq!(a.members().len(), b.members().len());
    for (k, (x, y)) in a.members().iter().zip(b.members()).enumerate() {
        assert_eq!(x.parameters(), y.parameters(), "member {k}");
        assert_eq!(
            numbers(&a.histories()[k]),
            numbers(&b.histories()[k]),
            "member {k}"
        );
    }
}

/// One round of query-by-committee (ensemble over ranks, MD start states over ranks)
/// and the final training, against the same loop run on one process.
fn active_learning(comm: &dyn Comm, train: &Dataset, test: &Dataset) {
    let mut ensemble = config();
    ensemble.bootstrap = false;
    let c = ActiveLearningConfig {
        ensemble,
        rounds: 1,
        sampler: SamplerConfig {
            kt: 1.0,
            dt: 0.004,
            friction_time: 0.5,
            equilibration_steps: 5,
            samples: 3,
            stride: 4,
            skin: 0.3,
            seed: 8,
            pressure: None,
        },
        driver: Driver::CommitteeMean,
        selection: Selection::Disagreement,
        per_round: 2,
        threshold: 0.0,
        ceiling: None,
        seed: 2,
        checkpoint_dir: None,
    };
    let starts = vec![
        lj_state(2, 0.85, 1.0, 31),
        lj_state(2, 0.85, 1.0, 32),
        lj_state(2, 0.85, 1.0, 33),
    ];
    let run = |comm: &dyn Comm| {
        let mut al = c
            .build(
                factory,
                train.clone(),
                Dataset::default(),
                test.clone(),
                starts.clone(),
                Arc::new(lj()),
            )
            .unwrap();
        let last = al.run(comm).unwrap();
        (al.history().to_vec(), al.training_set().clone(), last)
    };
    let (history, data, last) = run(comm);
    let (serial_history, serial_data, serial_last) = run(&Serial);
    assert_eq!(history, serial_history);
    assert_eq!(data, serial_data);
    assert_same(&last, &serial_last);
    assert_eq!(data.len(), train.len() + 2);
}

fn main() {
    let mpi = Mpi::init().expect("MPI initialises once");
    let comm: &dyn Comm = &mpi;
    let data = lj_dataset(lj_state(2, 0.85, 1.0, 3), 1.0, 200, 12, 10, 4);
    let (serial_train, serial_test) = (
        data.subset(&[0, 2, 4, 6]).unwrap(),
        data.subset(&[9, 10, 11]).unwrap(),
    );
    let (train, validation) = (
        data.subset(&(0..9).collect::<Vec<_>>()).unwrap(),
        data.subset(&[9, 10, 11]).unwrap(),
    );

    let distributed = config()
        .build(factory, train.clone(), validation.clone())
        .unwrap()
        .train(comm)
        .unwrap();
    let serial = config()
        .build(factory, train.clone(), validation.clone())
        .unwrap()
        .train(&Serial)
        .unwrap();
    assert_same(&distributed, &serial);

    // Per-member checkpoints in one directory shared by all ranks (one machine), made
    // by the root; the rerun reads every member back: its histories keep the first
    // run's wall times, which a retrained member would not reproduce.
    let dir = comm.is_root().then(|| tempfile::TempDir::new().unwrap());
    let path = dir
        .as_ref()
        .map(|d| d.path().to_string_lossy().into_owned());
    let path = std::path::PathBuf::from(broadcast_value(comm, 0, path.as_ref()).unwrap());
    let mut c = config();
    c.checkpoint_dir = Some(path.join("members"));
    let first = c
        .build(factory, train.clone(), validation.clone())
        .unwrap()
        .train(comm)
        .unwrap();
    assert_same(&first, &serial);
    let again = c
        .build(factory, train, validation)
        .unwrap()
        .train(comm)
        .unwrap();
    assert_same(&again, &first);
    assert_eq!(again.histories(), first.histories());
    comm.barrier();
    drop(dir);
    active_learning(comm, &serial_train, &serial_test);
    if comm.is_root() {
        println!(
            "mpi_ensemble: {} members and an active-learning round on {} ranks equal the \
             single-process run",
            serial.members().len(),
            comm.size()
        );
    }
}
