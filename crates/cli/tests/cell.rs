//! `thermograd cell` end to end.

use std::process::Command;

fn thermograd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn help_and_version() {
    let out = thermograd(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cell"));
    let out = thermograd(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn cell_json_reports_the_hexagonal_cell() {
    let out = thermograd(&[
        "cell",
        "--lengths",
        "3,3,3",
        "--angles",
        "90,90,60",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let volume = v["volume"].as_f64().unwrap();
    assert!((volume - 27.0 * 60f64.to_radians().sin()).abs() < 1e-9);
    // The shortest lattice vector of this cell has length 3.
    assert!((v["max_single_image_cutoff"].as_f64().unwrap() - 1.5).abs() < 1e-12);
}

#[test]
fn impossible_angles_fail_with_a_message() {
    let out = thermograd(&["cell", "--lengths", "1,1,1", "--angles", "30,30,90"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not form a valid cell"));
}
