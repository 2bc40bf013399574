//! `thermograd estimate` end to end, on inputs whose answers are known by hand.

use std::process::Command;

/// A scratch directory unique to this test process and name.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("thermograd-estimate-{name}-"))
        .tempdir()
        .unwrap()
}

fn write(dir: &std::path::Path, file: &str, text: &str) -> String {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn thermograd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(args)
        .output()
        .expect("run thermograd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).expect("valid JSON")
}

#[test]
fn exp_json_matches_hand_computation() {
    let tmp = scratch("exp");
    let dir = tmp.path();
    // w = {0, ln 3}: ⟨e^{−w}⟩ = 2/3, ΔF = ln 1.5; σ(x)/(⟨x⟩√2) = 1/(2√2).
    let fwd = write(
        dir,
        "fwd.dat",
        "# forward works\n0.0\n\n1.0986122886681098\n",
    );
    let (ok, out, err) = thermograd(&["estimate", "exp", "--forward", &fwd, "--json"]);
    assert!(ok, "{err}");
    let v = json(&out);
    assert!((v["delta_f"].as_f64().unwrap() - 1.5f64.ln()).abs() < 1e-12);
    assert!((v["std_err"].as_f64().unwrap() - 1.0 / (2.0 * 2f64.sqrt())).abs() < 1e-12);

    let rev = write(dir, "rev.dat", "0.0\n1.0986122886681098\n");
    let (ok, out, err) = thermograd(&["estimate", "exp", "--forward", &fwd, "--reverse", &rev]);
    assert!(ok, "{err}");
    assert!(
        out.contains("EXP forward") && out.contains("EXP reverse"),
        "{out}"
    );
}

#[test]
fn bar_json_matches_hand_solution() {
    let tmp = scratch("bar");
    let dir = tmp.path();
    // One forward work a = 3 and one reverse work b = 1: ΔF = (a − b)/2 = 1.
    let fwd = write(dir, "fwd.dat", "3\n");
    let rev = write(dir, "rev.dat", "1\n");
    let (ok, out, err) = thermograd(&[
        "estimate",
        "bar",
        "--forward",
        &fwd,
        "--reverse",
        &rev,
        "--json",
    ]);
    assert!(ok, "{err}");
    let v = json(&out);
    assert!((v["delta_f"].as_f64().unwrap() - 1.0).abs() < 1e-10);
    assert!(v["std_err"].as_f64().unwrap() >= 0.0);
}

#[test]
fn mbar_json_and_text_for_identical_states() {
    let tmp = scratch("mbar");
    let dir = tmp.path();
    // Two identical states: f₁ − f₀ = 0 exactly.
    let u = write(dir, "u_kn.dat", "0.1 0.5 0.2 0.9\n0.1 0.5 0.2 0.9\n");
    let (ok, out, err) = thermograd(&["estimate", "mbar", "--u-kn", &u, "--n-k", "2,2", "--json"]);
    assert!(ok, "{err}");
    let v = json(&out);
    let f = v["f_k"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert!(f[1].as_f64().unwrap().abs() < 1e-10);
    assert_eq!(v["std_err"].as_array().unwrap().len(), 2);

    let nk = write(dir, "n_k.dat", "# counts\n2\n2\n");
    let (ok, out, err) = thermograd(&["estimate", "mbar", "--u-kn", &u, "--n-k", &nk]);
    assert!(ok, "{err}");
    assert!(out.contains("converged: true"), "{out}");
}

#[test]
fn errors_name_the_file_and_line() {
    let tmp = scratch("errors");
    let dir = tmp.path();
    let bad = write(dir, "bad.dat", "1.0\n# comment\nabc\n");
    let (ok, _, err) = thermograd(&["estimate", "exp", "--forward", &bad]);
    assert!(!ok);
    assert!(err.contains("bad.dat:3") && err.contains("abc"), "{err}");

    let ragged = write(dir, "ragged.dat", "0 1 2\n0 1\n");
    let (ok, _, err) = thermograd(&["estimate", "mbar", "--u-kn", &ragged, "--n-k", "1,2"]);
    assert!(!ok);
    assert!(err.contains("ragged.dat:2"), "{err}");

    let u = write(dir, "u.dat", "0 1 2\n0 1 2\n");
    let (ok, _, err) = thermograd(&["estimate", "mbar", "--u-kn", &u, "--n-k", "1,1"]);
    assert!(!ok);
    assert!(
        err.contains("sums to 2") && err.contains("3 columns"),
        "{err}"
    );

    let (ok, _, err) = thermograd(&["estimate", "mbar", "--u-kn", &u, "--n-k", "one,two"]);
    assert!(!ok);
    assert!(err.contains("--n-k"), "{err}");

    let nan = write(dir, "nan.dat", "1.0\nnan\n");
    let (ok, _, err) = thermograd(&["estimate", "bar", "--forward", &nan, "--reverse", &nan]);
    assert!(!ok);
    assert!(err.contains("nan.dat:2"), "{err}");
}
