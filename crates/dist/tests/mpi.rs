//! Run under `mpirun -np N` (`.ci/mpi` does, with N = 2): the MPI results must equal
//! the single-process ones computed in the same process. Started without a launcher it
//! runs as a world of one. Its own `main` (no libtest threads): MPI is initialised once
//! and every rank must make the same collective calls in the same order. A failed check
//! panics, and mpirun then stops the job with a non-zero exit status.

mod common;

use common::{dimer, distance, ladder, oscillator_potential, oscillator_state, umbrella_config};
use thermograd_cv::{run_umbrella, MeanForceMethod};
use thermograd_dist::{
    broadcast_value, gather_values, replica_checkpoint_paths, run_replica_exchange,
    run_replica_exchange_checkpointed, run_umbrella_distributed, sum_over_items, Comm, DistError,
    Mpi, ReplicaCheckpointConfig, ReplicaExchangeOutcome, Serial,
};

fn collectives(comm: &Mpi) {
    let (rank, size) = (comm.rank(), comm.size());
    let root = size - 1;
    let from_root = broadcast_value(comm, root, (rank == root).then_some(&vec![rank; 3])).unwrap();
    assert_eq!(from_root, vec![root; 3]);
    // Messages of different lengths, one of them empty.
    let mine: Vec<u64> = (0..rank as u64).collect();
    let gathered = gather_values(comm, root, &mine).unwrap();
    if rank == root {
        let expected: Vec<Vec<u64>> = (0..size as u64).map(|r| (0..r).collect()).collect();
        assert_eq!(gathered.unwrap(), expected);
    } else {
        assert!(gathered.is_none());
    }
    let mut values = vec![rank as f64, 1.0];
    comm.all_reduce_sum(&mut values).unwrap();
    assert_eq!(values, vec![(size * (size - 1) / 2) as f64, size as f64]);
}

fn umbrella(comm: &Mpi) {
    for method in [
        MeanForceMethod::UmbrellaIntegration,
        MeanForceMethod::InstantaneousForce { step: 1e-4 },
    ] {
        let config = umbrella_config(method);
        let distributed =
            run_umbrella_distributed(comm, &config, distance(), &dimer, None).unwrap();
        if comm.is_root() {
            let serial = run_umbrella(&config, distance(), &dimer).unwrap();
            assert_eq!(distributed.unwrap(), serial, "{method:?}");
        } else {
            assert!(distributed.is_none());
        }
    }
}

fn umbrella_restart(comm: &Mpi) {
    // One directory shared by all ranks (one machine), made by the root.
    let dir = comm.is_root().then(|| tempfile::TempDir::new().unwrap());
    let path = dir
        .as_ref()
        .map(|d| d.path().to_string_lossy().into_owned());
    let path = std::path::PathBuf::from(broadcast_value(comm, 0, path.as_ref()).unwrap());
    let config = umbrella_config(MeanForceMethod::UmbrellaIntegration);
    let first = run_umbrella_distributed(comm, &config, distance(), &dimer, Some(&path)).unwrap();
    // The rerun reads every window: a system that cannot be built proves it.
    let never = |k: usize| -> thermograd_md::Result<_> {
        panic!("window {k} was run again instead of read from its checkpoint")
    };
    let resumed = run_umbrella_distributed(comm, &config, distance(), &never, Some(&path)).unwrap();
    assert_eq!(first, resumed);
    if comm.is_root() {
        assert_eq!(
            first.unwrap(),
            run_umbrella(&config, distance(), &dimer).unwrap()
        );
    }
    comm.barrier();
    drop(dir);
}

/// Per-state-point "gradients" of very different magnitudes, so that summation order
/// matters at the last bits.
fn gradient(i: usize) -> Vec<f64> {
    (0..7)
        .map(|j| {
            let x = (i * 7 + j) as f64;
            (0.37 * x).sin() * 10f64.powi((i % 5) as i32 - 2) + 1.0 / (1.0 + x)
        })
        .collect()
}

fn gradients(comm: &Mpi) {
    let n_items = 13;
    let distributed = sum_over_items(comm, n_items, 7, &mut |i| Ok(gradient(i))).unwrap();
    let serial = sum_over_items(&Serial, n_items, 7, &mut |i| Ok(gradient(i))).unwrap();
    for (d, s) in distributed.iter().zip(&serial) {
        assert!(
            (d - s).abs() <= 1e-12 * s.abs().max(1e-300),
            "{d} vs {s} (relative {})",
            (d - s).abs() / s.abs()
        );
    }
    // Every rank holds the total, and a failure on the last rank fails every rank.
    let last = comm.size() - 1;
    let failing = sum_over_items(comm, n_items, 7, &mut |i| {
        if i % comm.size() == last {
            Err(DistError::InvalidConfig {
                name: "test",
                reason: "state point failed".into(),
            })
        } else {
            Ok(gradient(i))
        }
    });
    match failing {
        Err(DistError::InvalidConfig { .. }) => assert_eq!(comm.rank(), last),
        Err(DistError::RemoteFailure { rank, .. }) => assert_eq!(rank, last),
        other => panic!("rank {}: expected a failure, got {other:?}", comm.rank()),
    }
}

fn replica_exchange(comm: &Mpi) {
    let config = ladder(200);
    let distributed =
        run_replica_exchange(comm, &config, &oscillator_state, &oscillator_potential).unwrap();
    let serial =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    assert_eq!(distributed, serial);
    assert!(distributed.exchanges.iter().all(|s| s.accepted > 0));
}

/// Checkpoints per rank and a restart of the whole job: stopped twice, once with one
/// rank a checkpoint ahead of the other (as when a job is killed while the ranks write),
/// the resumed job equals the single-process run without checkpoints.
fn replica_exchange_restart(comm: &Mpi) {
    let dir = comm.is_root().then(|| tempfile::TempDir::new().unwrap());
    let path = dir
        .as_ref()
        .map(|d| d.path().to_string_lossy().into_owned());
    let path = std::path::PathBuf::from(broadcast_value(comm, 0, path.as_ref()).unwrap());
    let config = ladder(40);
    let checkpoints = |stop: Option<u64>| ReplicaCheckpointConfig {
        dir: path.clone(),
        every: 3,
        stop_after_cycles: stop,
    };
    let run = |stop| {
        run_replica_exchange_checkpointed(
            comm,
            &config,
            &checkpoints(stop),
            &oscillator_state,
            &oscillator_potential,
        )
        .unwrap()
    };
    assert_eq!(
        run(Some(25)),
        ReplicaExchangeOutcome::Stopped { cycles_done: 25 }
    );
    // Keep the last rank's files of cycles 24 and 25, let the others go on to 27.
    let last = comm.size() - 1;
    let saved: Vec<Vec<u8>> = replica_checkpoint_paths(&path, last)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(
        run(Some(27)),
        ReplicaExchangeOutcome::Stopped { cycles_done: 27 }
    );
    comm.barrier();
    if comm.rank() == last {
        for (p, bytes) in replica_checkpoint_paths(&path, last).iter().zip(&saved) {
            std::fs::write(p, bytes).unwrap();
        }
    }
    comm.barrier();
    // Every rank goes back to cycle 25, the newest that all ranks hold.
    let resumed = match run(None) {
        ReplicaExchangeOutcome::Finished(run) => run,
        other => panic!("expected a finished run, got {other:?}"),
    };
    let serial =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    assert_eq!(resumed, serial);
    assert!(resumed.exchanges.iter().all(|s| s.attempted == 20));
    comm.barrier();
    drop(dir);
}

fn main() {
    let comm = Mpi::init().expect("MPI initialises once");
    assert!(matches!(Mpi::init(), Err(DistError::AlreadyInitialized)));
    collectives(&comm);
    umbrella(&comm);
    umbrella_restart(&comm);
    gradients(&comm);
    replica_exchange(&comm);
    replica_exchange_restart(&comm);
    comm.barrier();
    if comm.is_root() {
        println!("mpi tests passed on {} ranks", comm.size());
    }
}
