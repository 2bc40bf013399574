//! Replica-exchange checkpoints (issue #12): a job stopped or crashed after some cycles
//! and restarted from its per-rank checkpoints ends exactly where the uninterrupted job
//! ends, exchange statistics included; damaged or foreign checkpoints are errors that
//! name the file.

mod common;

use std::cell::Cell;
use std::path::Path;

use common::{ladder, oscillator_potential, oscillator_state};
use thermograd_dist::{
    replica_checkpoint_paths, run_replica_exchange, run_replica_exchange_checkpointed, DistError,
    ReplicaCheckpointConfig, ReplicaExchangeConfig, ReplicaExchangeOutcome, ReplicaExchangeRun,
    Serial,
};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::State;

/// Short enough for a fast test; `ladder` has 20 equilibration cycles.
fn config() -> ReplicaExchangeConfig {
    ReplicaExchangeConfig {
        exchange_every: 7,
        ..ladder(40)
    }
}

fn checkpoints(dir: &Path, every: u64, stop: Option<u64>) -> ReplicaCheckpointConfig {
    ReplicaCheckpointConfig {
        dir: dir.to_path_buf(),
        every,
        stop_after_cycles: stop,
    }
}

fn run(config: &ReplicaExchangeConfig, c: &ReplicaCheckpointConfig) -> ReplicaExchangeOutcome {
    run_replica_exchange_checkpointed(&Serial, config, c, &oscillator_state, &oscillator_potential)
        .unwrap()
}

fn finished(outcome: ReplicaExchangeOutcome) -> ReplicaExchangeRun {
    match outcome {
        ReplicaExchangeOutcome::Finished(run) => run,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

/// The contents of rank 0's checkpoint files that exist.
fn files(dir: &Path) -> Vec<Vec<u8>> {
    replica_checkpoint_paths(dir, 0)
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

#[test]
fn stopped_and_resumed_jobs_equal_the_uninterrupted_one() {
    let config = config();
    let total = config.equilibration_cycles + config.production_cycles;
    let reference =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    assert!(reference.exchanges.iter().all(|s| s.accepted > 0));

    // The same job with checkpoints (only the final one), uninterrupted: same run.
    let whole = tempfile::TempDir::new().unwrap();
    let run_whole = finished(run(&config, &checkpoints(whole.path(), 1000, None)));
    assert_eq!(run_whole, reference);
    let final_checkpoint = files(whole.path());
    assert_eq!(final_checkpoint.len(), 1);

    // Stops in equilibration, at the start of production and in production (odd and
    // even cycles, so both exchange patterns resume), with checkpoints every 1 or 3
    // cycles; several pieces in a row.
    for (every, stops) in [
        (1, vec![1]),
        (3, vec![7, 20]),
        (1, vec![21, 22, 45]),
        (3, vec![59]),
    ] {
        let dir = tempfile::TempDir::new().unwrap();
        for &k in &stops {
            let outcome = run(&config, &checkpoints(dir.path(), every, Some(k)));
            assert_eq!(outcome, ReplicaExchangeOutcome::Stopped { cycles_done: k });
        }
        // Rerunning a stopped piece does nothing new.
        let again = run(
            &config,
            &checkpoints(dir.path(), every, stops.last().copied()),
        );
        assert!(matches!(again, ReplicaExchangeOutcome::Stopped { .. }));
        let resumed = finished(run(&config, &checkpoints(dir.path(), every, None)));
        // Energies, assignments and statistics accumulated over all pieces.
        assert_eq!(resumed, reference, "every {every}, stops {stops:?}");
        assert_eq!(
            resumed.exchanges.iter().map(|s| s.attempted).sum::<u64>(),
            reference.exchanges.iter().map(|s| s.attempted).sum::<u64>()
        );
        // The final states, Langevin streams and neighbor lists are equal bit for bit:
        // the newest checkpoint is byte-identical to the uninterrupted job's.
        assert!(
            files(dir.path()).contains(&final_checkpoint[0]),
            "every {every}, stops {stops:?}"
        );
        // A finished job rerun returns the run from its checkpoint.
        assert_eq!(
            finished(run(&config, &checkpoints(dir.path(), every, None))),
            reference
        );
    }
    assert_eq!(total, 60);
}

/// A Lennard-Jones liquid of 108 atoms (reduced units, ρ = 0.8442, cutoff 2.5, periodic):
/// unlike the oscillator its forces come through a neighbor list, whose pair order
/// depends on where it was built, so a restart must rebuild it from the same reference
/// positions for the sums, and so the run, to continue bit for bit.
fn liquid(replica: usize) -> thermograd_md::Result<State> {
    let (positions, simbox) = thermograd_md::fcc_lattice(3, 0.8442)?;
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox)?;
    state.thermalize(1.0, replica as u64)?;
    Ok(state)
}

fn lj() -> thermograd_md::Result<thermograd_md::PotentialSum> {
    Ok(thermograd_md::PotentialSum::new()
        .with(thermograd_md::LennardJonesConfig::single(1.0, 1.0, 2.5).build()?))
}

#[test]
fn a_liquid_with_a_neighbor_list_resumes_bit_for_bit() {
    let config = ReplicaExchangeConfig {
        kts: vec![1.0, 1.02],
        dt: 0.005,
        tau: 0.5,
        exchange_every: 10,
        equilibration_cycles: 2,
        production_cycles: 10,
        skin: 0.3,
        seed: 9,
    };
    let reference = run_replica_exchange(&Serial, &config, &liquid, &lj).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    for stop in [Some(3), Some(7), None] {
        let c = checkpoints(dir.path(), 2, stop);
        let outcome =
            run_replica_exchange_checkpointed(&Serial, &config, &c, &liquid, &lj).unwrap();
        if stop.is_none() {
            assert_eq!(finished(outcome), reference);
        }
    }
}

/// `oscillator_potential` that fails on its `fail_at`-th call (`usize::MAX`: never)
/// and counts its calls in `built`.
fn potential_failing_at(
    built: &Cell<usize>,
    fail_at: usize,
) -> impl Fn() -> thermograd_md::Result<thermograd_md::PotentialSum> + '_ {
    move || {
        built.set(built.get() + 1);
        if built.get() == fail_at {
            Err(thermograd_md::MdError::InvalidParameter {
                name: "test",
                value: fail_at as f64,
                reason: "simulated crash",
            })
        } else {
            oscillator_potential()
        }
    }
}

#[test]
fn a_crash_between_checkpoints_loses_only_the_cycles_since_the_last_one() {
    let config = config();
    let reference =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    // The potential is built once per replica at the start and once per replica that
    // changes temperature: a failing build crashes the job in the middle of an exchange.
    let built = Cell::new(0);
    let counted = potential_failing_at(&built, usize::MAX);
    run_replica_exchange(&Serial, &config, &oscillator_state, &counted).unwrap();
    let total = built.get();
    assert!(total > 40, "only {total} builds");

    let dir = tempfile::TempDir::new().unwrap();
    let c = checkpoints(dir.path(), 4, None);
    for crash_at in [total * 2 / 5, total / 3] {
        let built = Cell::new(0);
        let failing = potential_failing_at(&built, crash_at);
        let crashed =
            run_replica_exchange_checkpointed(&Serial, &config, &c, &oscillator_state, &failing);
        assert!(matches!(crashed, Err(DistError::Md(_))), "{crashed:?}");
        assert!(
            !files(dir.path()).is_empty(),
            "no checkpoint before the crash"
        );
    }
    // The last piece resumes (it builds fewer potentials than a whole run) and ends
    // where the uninterrupted run ends.
    let built = Cell::new(0);
    let counted = potential_failing_at(&built, usize::MAX);
    let resumed =
        run_replica_exchange_checkpointed(&Serial, &config, &c, &oscillator_state, &counted)
            .unwrap();
    assert_eq!(finished(resumed), reference);
    assert!(built.get() < total, "{} builds: not resumed", built.get());
}

#[test]
fn damaged_or_foreign_checkpoints_are_errors_naming_the_file() {
    let config = config();
    let dir = tempfile::TempDir::new().unwrap();
    let c = checkpoints(dir.path(), 5, Some(12));
    run(&config, &c);
    let [a, b] = replica_checkpoint_paths(dir.path(), 0);
    assert!(a.exists() && b.exists());
    let message = |r: thermograd_dist::Result<ReplicaExchangeOutcome>| match r {
        Err(e @ DistError::Checkpoint { .. }) => e.to_string(),
        other => panic!("expected a checkpoint error, got {other:?}"),
    };
    let resume = |config: &ReplicaExchangeConfig, initial: &dyn Fn(usize) -> _| {
        run_replica_exchange_checkpointed(&Serial, config, &c, initial, &oscillator_potential)
    };

    // Another config (seed) and another system (two atoms) are refused.
    let other = ReplicaExchangeConfig {
        seed: config.seed + 1,
        ..config.clone()
    };
    let m = message(resume(&other, &oscillator_state));
    assert!(m.contains("different replica-exchange config"), "{m}");
    assert!(
        m.contains(a.to_str().unwrap()) || m.contains(b.to_str().unwrap()),
        "{m}"
    );
    let dimer = |_: usize| {
        State::new(
            vec![Vec3::new(0.5, 0.0, 0.0), Vec3::new(-0.5, 0.0, 0.0)],
            vec![1.0, 1.0],
            vec![0, 0],
            SimBox::open(),
        )
    };
    let m = message(resume(&config, &dimer));
    assert!(
        m.contains("replica 0: 1 atoms in the checkpoint, 2 in the system"),
        "{m}"
    );

    // A flipped bit, a truncated file and a file of another kind.
    let original = std::fs::read(&a).unwrap();
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    for (bytes, expected) in [
        (flipped, "checksum mismatch"),
        (original[..original.len() / 3].to_vec(), "checksum mismatch"),
        (original[..10].to_vec(), "truncated"),
        (
            b"TGMDCKPT and more bytes".to_vec(),
            "not a thermograd replica",
        ),
    ] {
        std::fs::write(&a, &bytes).unwrap();
        let m = message(resume(&config, &oscillator_state));
        assert!(
            m.contains(expected) && m.contains(a.to_str().unwrap()),
            "{m}"
        );
    }
    // Removing the damaged file falls back to the other one, and the job completes.
    std::fs::remove_file(&a).unwrap();
    let reference =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    let resumed = run_replica_exchange_checkpointed(
        &Serial,
        &config,
        &checkpoints(dir.path(), 5, None),
        &oscillator_state,
        &oscillator_potential,
    )
    .unwrap();
    assert_eq!(finished(resumed), reference);

    let zero = ReplicaCheckpointConfig { every: 0, ..c };
    assert!(matches!(
        run_replica_exchange_checkpointed(
            &Serial,
            &config,
            &zero,
            &oscillator_state,
            &oscillator_potential
        ),
        Err(DistError::InvalidConfig { .. })
    ));
}
