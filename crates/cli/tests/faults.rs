//! Physical fault checks from the command line (issue #11): the `thermograd lj` flags
//! `--min-distance`, `--max-kt`, `--min-volume`, `--max-volume`, `--check-every` and the
//! `[faults]` table of `thermograd umbrella` and `thermograd metad`. A violated check must
//! end the command with exit status 1 (an error, not a panic's 101) and a message naming
//! the step and the cause.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thermograd-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `thermograd args…`; returns whether it succeeded and its stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `thermograd lj` on 108 atoms (one thread, so runs repeat exactly) with `extra`
/// arguments; fails the test unless it exits with status 1, and returns stderr.
fn lj_fails(extra: &[&str]) -> String {
    let mut args = vec![
        "lj",
        "--n",
        "108",
        "--threads",
        "1",
        "--equil-steps",
        "0",
        "--steps",
        "3000",
        "--stride",
        "10",
        "--json",
    ];
    args.extend_from_slice(extra);
    let (code, stderr) = run(&args);
    assert_eq!(code, Some(1), "{extra:?}: {stderr}");
    stderr
}

/// The step in "simulation stopped at step N".
fn step(message: &str) -> u64 {
    message
        .split("stopped at step ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no step in: {message}"))
}

/// The number after `key` in `message` (up to a space, comma or parenthesis).
fn number_after(message: &str, key: &str) -> f64 {
    message
        .split(key)
        .nth(1)
        .and_then(|s| s.split([' ', ',', ')', ';']).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{key}` in: {message}"))
}

#[test]
fn atoms_closer_than_the_minimum_distance_stop_lj() {
    // An fcc start at ρ = 2 has nearest neighbours at (4/ρ)^(1/3)/√2 = 0.8909: caught by
    // the check on the starting state, step 0.
    let message = lj_fails(&["--density", "2.0", "--min-distance", "1.0"]);
    assert_eq!(step(&message), 0, "{message}");
    assert!(message.contains("overlap"), "{message}");
    let distance = number_after(&message, "(distance ");
    let nearest = (4.0f64 / 2.0).cbrt() / 2f64.sqrt();
    assert!((distance - nearest).abs() < 1e-3, "{distance} vs {nearest}");

    // A fluid at T* = 10 pushes atoms into each other's cores during the run.
    let message = lj_fails(&[
        "--temperature",
        "10",
        "--min-distance",
        "0.8",
        "--check-every",
        "1",
    ]);
    assert!(step(&message) > 0, "{message}");
    assert!(number_after(&message, "(distance ") < 0.8, "{message}");

    // The check is not what fails a normal run: the same kind of run at the default
    // state point with a bound no pair reaches succeeds.
    let (code, stderr) = run(&[
        "lj",
        "--n",
        "108",
        "--equil-steps",
        "0",
        "--steps",
        "500",
        "--json",
        "--min-distance",
        "0.5",
        "--check-every",
        "1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn an_exploding_temperature_stops_lj() {
    // dt = 0.05 is ten times the stable LJ time step: the energy blows up within a few
    // steps.
    let message = lj_fails(&["--dt", "0.05", "--max-kt", "20", "--check-every", "1"]);
    assert!(step(&message) > 0, "{message}");
    assert!(message.contains("temperature exploded"), "{message}");
    assert!(number_after(&message, "kT = ") > 20.0, "{message}");

    // A bound below the starting temperature (T* = 1.44) fails at once.
    let message = lj_fails(&["--max-kt", "1.0"]);
    assert_eq!(step(&message), 0, "{message}");
    assert!(
        (number_after(&message, "kT = ") - 1.44).abs() < 1e-9,
        "{message}"
    );
}

#[test]
fn a_box_collapsing_under_the_barostat_stops_lj() {
    // A dilute gas (ρ = 0.3, V = 360) under P* = 20 shrinks steadily; the check runs every
    // 100 steps by default.
    let message = lj_fails(&[
        "--ensemble",
        "npt",
        "--pressure",
        "20",
        "--density",
        "0.3",
        "--tau-p",
        "1",
        "--min-volume",
        "288",
    ]);
    let at = step(&message);
    assert!(at > 0 && at % 100 == 0, "{message}");
    assert!(
        message.contains("the box collapsed") && message.contains("below the smallest volume"),
        "{message}"
    );
    assert!(number_after(&message, "volume ") < 288.0, "{message}");

    // Without any check, a barostat asked for a pressure of 10⁶ with β_T/τ_p = 10 is
    // stopped at its first step (every 10 steps in `lj`).
    let message = lj_fails(&[
        "--ensemble",
        "npt",
        "--pressure",
        "1e6",
        "--compressibility",
        "10",
        "--tau-p",
        "1",
    ]);
    assert_eq!(step(&message), 10, "{message}");
    assert!(message.contains("factor of 2"), "{message}");
}

#[test]
fn bad_fault_flags_are_errors() {
    for (extra, needle) in [
        (&["--max-kt=-1"][..], "--max-kt must be positive and finite"),
        (
            &["--min-distance", "nan"][..],
            "--min-distance must be positive",
        ),
        (&["--check-every", "5"][..], "--check-every needs one of"),
        (
            &["--max-kt", "5", "--check-every", "0"][..],
            "--check-every must be at least 1",
        ),
        (
            &["--min-volume", "10", "--max-volume", "5"][..],
            "--min-volume (10) must be below --max-volume (5)",
        ),
    ] {
        let message = lj_fails(extra);
        assert!(message.contains(needle), "{extra:?}: {message}");
    }
}

/// A Lennard-Jones dimer at distance 1.2 in umbrella windows, with `faults` as its
/// `[faults]` table.
fn umbrella_config(faults: &str) -> String {
    format!(
        r#"[system]
box = {{ orthorhombic = {{ lengths = [8.0, 8.0, 8.0] }} }}
positions = [[1.0, 1.0, 1.0], [2.2, 1.0, 1.0]]
masses = [1.0, 1.0]
kt = 1.0

[potential.lennard_jones]
species = [{{ sigma = 1.0, epsilon = 1.0 }}]
mixing = "lorentz-berthelot"
cutoff = 3.0
truncation = "energy-shifted"
tail = false

[cv]
kind = "distance"
atoms = [0, 1]

[windows]
lower = [1.2]
upper = [1.6]
count = [3]
kappa = [500.0]

[sampling]
dt = 0.002
tau = 0.2
equilibration_steps = 100
production_steps = 1000
stride = 10
seed = 7

[faults]
{faults}
"#
    )
}

fn umbrella(name: &str, faults: &str) -> (Option<i32>, String) {
    let dir = scratch(name);
    let config = dir.join("umbrella.toml");
    std::fs::write(&config, umbrella_config(faults)).unwrap();
    let out = dir.join("out");
    run(&[
        "umbrella",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn the_faults_table_stops_an_umbrella_window() {
    // Every window starts from the dimer at 1.2, closer than allowed.
    let (code, message) = umbrella("overlap", "min_distance = 1.3");
    assert_eq!(code, Some(1), "{message}");
    assert!(message.contains("umbrella window"), "{message}");
    assert_eq!(step(&message), 0, "{message}");
    assert!(message.contains("atoms 0 and 1 overlap"), "{message}");

    // The same windows with checks that hold run to the end.
    let (code, message) = umbrella("fine", "min_distance = 0.5\nmax_kt = 100.0");
    assert_eq!(code, Some(0), "{message}");

    let (code, message) = umbrella("unknown", "min_distance = 0.5\nmin_distanse = 0.5");
    assert_eq!(code, Some(1), "{message}");
    assert!(
        message.contains("umbrella.toml") && message.contains("unknown field `min_distanse`"),
        "{message}"
    );
    let (code, message) = umbrella("every", "check_every = 0\nmax_kt = 1.0");
    assert_eq!(code, Some(1), "{message}");
    assert!(
        message.contains("umbrella.toml")
            && message.contains("[faults] check_every must be at least 1"),
        "{message}"
    );
}

#[test]
fn the_faults_table_stops_a_metadynamics_walker() {
    // Two atoms' instantaneous kT fluctuates far above a bound of 0.3 at kT = 1.
    let dir = scratch("metad");
    let config = dir.join("metad.toml");
    std::fs::write(
        &config,
        r#"[system]
box = "open"
positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
masses = [1.0, 1.0]
kt = 1.0

[potential.morse]
cutoff = 3.0
shift = true
pairs = [{ depth = 5.0, stiffness = 2.0, r0 = 1.0 }]

[cv]
kind = "distance"
atoms = [0, 1]

[metadynamics]
sigma = [0.08]
height = 0.2
bias_factor = 8.0
pace = 100

[grid]
lower = [0.8]
upper = [2.4]
bins = [33]

[sampling]
dt = 0.005
tau = 0.1
equilibration_steps = 100
steps = 2000
stride = 50
seed = 2026

[faults]
max_kt = 0.3
check_every = 10
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let (code, message) = run(&[
        "metad",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{message}");
    assert!(message.contains("metadynamics walker 0"), "{message}");
    let at = step(&message);
    assert!(at > 0 && at % 10 == 0, "{message}");
    assert!(message.contains("temperature exploded"), "{message}");
    assert!(number_after(&message, "kT = ") > 0.3, "{message}");
}
