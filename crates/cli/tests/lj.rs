//! `thermograd lj` end to end.

use std::process::Command;

fn thermograd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = thermograd(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("exactly one JSON object on stdout")
}

#[test]
fn nve_json_has_exactly_the_documented_keys() {
    let v = json(&[
        "lj",
        "--n",
        "108",
        "--equil-steps",
        "200",
        "--steps",
        "400",
        "--stride",
        "5",
        "--shift",
        "--json",
    ]);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["atom_steps_per_s", "drift", "p", "p_err", "t", "u", "u_err"]
    );
    // The fcc crystal at T* = 1.44 melts: U/N rises well above the lattice sum −6.77.
    let u = v["u"].as_f64().unwrap();
    assert!(u > -6.5 && u < -4.0, "u = {u}");
    assert!(v["u_err"].as_f64().unwrap() > 0.0);
    assert!(v["drift"].as_f64().unwrap().abs() < 1e-3);
    assert!(v["atom_steps_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn langevin_holds_the_temperature() {
    let v = json(&[
        "lj",
        "--n",
        "108",
        "--ensemble",
        "langevin",
        "--temperature",
        "1.2",
        "--tau",
        "0.2",
        "--equil-steps",
        "500",
        "--steps",
        "2000",
        "--json",
    ]);
    let t = v["t"].as_f64().unwrap();
    assert!((t - 1.2).abs() < 0.1, "t = {t}");
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let out = thermograd(&["lj", "--n", "100"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not 4k³"));
    let out = thermograd(&["lj", "--n", "32", "--ensemble", "npt"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pressure"));
    let out = thermograd(&["lj", "--n", "32", "--dt", "-1"]);
    assert!(!out.status.success());
}
