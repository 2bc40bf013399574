//! Interrupted MD runs (issue #11): `thermograd lj` with checkpoints is killed with
//! SIGKILL at deterministic but varied points, resumed, and must end exactly where an
//! uninterrupted run ends; a kill during a checkpoint write must never leave a checkpoint
//! that cannot be loaded.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{finish, kill_after, spawn};

use thermograd_md::{
    fcc_lattice, ForceField, Langevin, LennardJonesConfig, PotentialSum, Simulation, State,
    ThermostatConfig,
};

const N: &str = "108";
const SEED: u64 = 4242;

fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("interrupt")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn args(checkpoint: &Path, every: u64, steps: u64) -> Vec<String> {
    [
        "lj",
        "--n",
        N,
        "--ensemble",
        "langevin",
        "--equil-steps",
        "100",
        "--steps",
        &steps.to_string(),
        "--stride",
        "10",
        "--seed",
        &SEED.to_string(),
        "--threads",
        "1",
        "--json",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--checkpoint-every",
        &every.to_string(),
        "--resume",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn same_report(a: &serde_json::Value, b: &serde_json::Value) {
    for key in ["u", "u_err", "p", "p_err", "t", "drift"] {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        assert_eq!(x.to_bits(), y.to_bits(), "{key}: {x} vs {y}");
    }
}

/// The simulation `thermograd lj` builds for [`args`], to load its checkpoints here.
fn replica() -> Simulation {
    let (positions, simbox) = fcc_lattice(3, 0.8442).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.44, SEED).unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
    let langevin = Langevin::new(ThermostatConfig {
        dt: 0.005,
        kt: 1.44,
        tau: 0.5,
        seed: SEED + 1,
    })
    .unwrap();
    Simulation::new(state, ff, Box::new(langevin)).unwrap()
}

#[test]
fn killed_and_resumed_run_equals_the_uninterrupted_one() {
    let steps = 1900;
    let d = dir("resume");
    let reference_ckpt = d.join("reference.ckpt");
    let (reference, _) = finish(&args(&reference_ckpt, 1_000_000, steps));

    let ckpt = d.join("run.ckpt");
    let a = args(&ckpt, 100, steps);
    // Kill points: right after the first checkpoint appears, then after varied delays.
    let mut kills = 0;
    for extra_ms in [0, 40, 5, 90, 20] {
        let mut child = spawn(&a);
        if kill_after(&mut child, &ckpt, Duration::from_millis(extra_ms)) {
            kills += 1;
        }
    }
    let (resumed, stderr) = finish(&a);
    assert!(kills >= 3, "only {kills} kills landed before the run ended");
    let step: u64 = stderr
        .split("at step ")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("the last run did not resume: {stderr}"));
    assert!(step > 0 && step < 100 + steps, "resumed at step {step}");

    same_report(&reference, &resumed);
    // The final checkpoints hold state, thermostat RNG and neighbor list: equal bytes
    // mean the final states are equal bit for bit.
    assert_eq!(
        std::fs::read(&reference_ckpt).unwrap(),
        std::fs::read(&ckpt).unwrap()
    );
}

#[test]
fn a_kill_during_a_checkpoint_write_never_corrupts_the_checkpoint() {
    let steps = 1900;
    let d = dir("atomic");
    let ckpt = d.join("run.ckpt");
    // A checkpoint on every step: most of the run is spent writing them.
    let a = args(&ckpt, 1, steps);
    let mut kills = 0;
    let mut loaded_steps = Vec::new();
    for extra_ms in [0, 3, 11, 1, 7, 17, 2, 29, 5, 13] {
        let mut child = spawn(&a);
        if kill_after(&mut child, &ckpt, Duration::from_millis(extra_ms)) {
            kills += 1;
        }
        let mut sim = replica();
        sim.load_checkpoint(&ckpt)
            .unwrap_or_else(|e| panic!("after kill {kills}: {e}"));
        loaded_steps.push(sim.state().step);
    }
    assert!(kills >= 5, "only {kills} kills landed before the run ended");
    assert!(
        loaded_steps.windows(2).all(|w| w[0] <= w[1]),
        "checkpoints went backwards: {loaded_steps:?}"
    );
    // And the run still completes from there, equal to an uninterrupted one.
    let (resumed, _) = finish(&a);
    let (reference, _) = finish(&args(&d.join("reference.ckpt"), 1_000_000, steps));
    same_report(&reference, &resumed);
}
