//! Helpers shared by the CLI tests: starting `thermograd`, running it to the end, killing
//! it with SIGKILL once a condition on its output files holds (`interrupt.rs`,
//! `interrupt_train.rs`), and Lennard-Jones training data (also `train.rs`,
//! `train_ensemble.rs`).

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thermograd_md::{
    fcc_lattice, ForceField, Langevin, LennardJonesConfig, PotentialSum, RunConfig, Simulation,
    State, ThermostatConfig, Truncation,
};
use thermograd_train::formats::write_extxyz;
use thermograd_train::{Dataset, Structure, UnitConversion};

/// Starts `thermograd` with `args`, stdout and stderr piped.
pub fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

/// Runs to completion and fails the test unless it succeeds; returns the JSON object
/// printed on stdout and stderr.
pub fn finish(args: &[String]) -> (serde_json::Value, String) {
    let out = spawn(args).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// Waits until `ready()` holds (or the child exits), then `extra` more; then SIGKILLs
/// the child. Returns false if the child had already finished on its own, and fails the
/// test if it had failed.
pub fn kill_when(child: &mut Child, ready: impl Fn() -> bool, extra: Duration) -> bool {
    let start = Instant::now();
    while !ready() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(extra);
    if let Some(status) = child.try_wait().unwrap() {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "the run failed on its own: {stderr}");
        return false;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    true
}

/// [`kill_when`] the file `path` exists.
pub fn kill_after(child: &mut Child, path: &Path, extra: Duration) -> bool {
    kill_when(child, || path.exists(), extra)
}

/// Writes `frames` Lennard-Jones structures (32 atoms in a 4 σ box, kT = 1.5, force
/// shifted at 2.5 σ) with energies and forces to the extxyz file `path`.
pub fn write_lj_frames(path: &Path, frames: usize) {
    let (positions, simbox) = fcc_lattice(2, 0.5).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.5, 1).unwrap();
    let mut lj = LennardJonesConfig::single(1.0, 1.0, 2.5);
    lj.truncation = Truncation::ForceShifted;
    let ff = ForceField::new(PotentialSum::new().with(lj.build().unwrap()), 0.3).unwrap();
    let integrator = Langevin::new(ThermostatConfig {
        dt: 0.004,
        kt: 1.5,
        tau: 0.5,
        seed: 2,
    })
    .unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(integrator)).unwrap();
    let mut out = Vec::new();
    let run = RunConfig {
        equilibration_steps: 200,
        production_steps: 20 * frames as u64,
        stride: 20,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        let mut st = Structure::new(s.positions.clone(), s.species.clone(), s.simbox.clone());
        st.forces = Some(sim.evaluation().forces.clone());
        st.energy = Some(sim.evaluation().energy);
        out.push(st);
        Ok(())
    })
    .unwrap();
    let data = Dataset::new(out, Default::default()).unwrap();
    write_extxyz(path, &data, &UnitConversion::IDENTITY).unwrap();
}
