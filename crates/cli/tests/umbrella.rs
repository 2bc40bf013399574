//! `thermograd umbrella` end to end on a small version of the shipped example config.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thermograd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn umbrella_writes_series_mean_forces_and_mbar_input() {
    let dir = scratch("umbrella");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/umbrella_dimer.toml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    let small = text
        .replace("production_steps = 100000", "production_steps = 4000")
        .replace("count = [15]", "count = [4]")
        // Neighbouring stiff windows must overlap for MBAR.
        .replace("upper = [2.4]", "upper = [1.25]");
    let config = dir.join("dimer.toml");
    std::fs::write(&config, small).unwrap();
    let out = dir.join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["umbrella", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("mean_forces.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("x1,g1,v1"));
    assert_eq!(lines.count(), 4);
    // 4000 steps at stride 10: 400 samples per window.
    let series = std::fs::read_to_string(out.join("window_002.dat")).unwrap();
    assert_eq!(series.lines().filter(|l| !l.starts_with('#')).count(), 400);
    let u_kn = std::fs::read_to_string(out.join("u_kn.txt")).unwrap();
    let rows: Vec<&str> = u_kn.lines().collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].split_whitespace().count(), 1600);
    // The MBAR input is accepted by `thermograd estimate mbar`.
    let mbar = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["estimate", "mbar", "--json", "--u-kn"])
        .arg(out.join("u_kn.txt"))
        .arg("--n-k")
        .arg(out.join("n_k.txt"))
        .output()
        .unwrap();
    assert!(
        mbar.status.success(),
        "{}",
        String::from_utf8_lossy(&mbar.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cv_that_does_not_match_the_windows_is_an_error() {
    let dir = scratch("umbrella-bad");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/umbrella_dimer.toml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    let bad = text.replace("kind = \"distance\"", "kind = \"distance_components\"");
    let config = dir.join("bad.toml");
    std::fs::write(&config, bad).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["umbrella", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("components"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The 2-D example (two bond lengths of a chain, instantaneous forces) in small: the
/// mean forces must match the exact gradient of A = Σ_b [k_b/2 (r_b − r0_b)² − 2kT ln r_b]
/// within their error bars, which checks the TOML conventions (k/2, kT) end to end.
#[test]
fn two_dimensional_instantaneous_forces_match_the_chain_gradient() {
    let dir = scratch("umbrella-2d");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/umbrella_chain_2d.toml"
    );
    let text = std::fs::read_to_string(example).unwrap();
    let small = text
        .replace("production_steps = 50000", "production_steps = 5000")
        .replace("count = [5, 4]", "count = [3, 2]");
    assert_ne!(small, text, "the example config changed; update this test");
    let config = dir.join("chain.toml");
    std::fs::write(&config, small).unwrap();
    let out = dir.join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["umbrella", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("mean_forces.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("x1,x2,g1,g2,v1,v2"));
    let (k, r0) = ([4.0, 7.0], [1.2, 1.0]);
    let mut rows = 0;
    for line in lines {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        for c in 0..2 {
            let exact = k[c] * (v[c] - r0[c]) - 2.0 / v[c];
            let z = (v[2 + c] - exact) / v[4 + c].sqrt();
            assert!(z.abs() < 4.0, "{line}: component {c}, z = {z}");
        }
        rows += 1;
    }
    assert_eq!(rows, 6);
    // Window files hold ξ and the instantaneous force, 500 samples each.
    let series = std::fs::read_to_string(out.join("window_005.dat")).unwrap();
    assert!(series.contains("# columns: xi1 xi2 F1 F2"));
    let data: Vec<&str> = series.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(data.len(), 500);
    assert_eq!(data[0].split_whitespace().count(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_step_for_a_method_without_one_is_an_error() {
    let dir = scratch("umbrella-step");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/umbrella_chain_2d.toml"
    );
    let text = std::fs::read_to_string(example).unwrap().replace(
        "method = \"instantaneous_force\"",
        "method = \"umbrella_integration\"\nstep = 1e-4",
    );
    let config = dir.join("bad.toml");
    std::fs::write(&config, text).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["umbrella", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("[mean_force] `step`"));
    let _ = std::fs::remove_dir_all(&dir);
}
