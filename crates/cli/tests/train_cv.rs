//! `thermograd train cv` end to end: the shipped example trains a distance surrogate
//! whose held-out error is far below what an untrained one reaches, extxyz input is
//! read, and bad configurations fail with a message naming the problem.

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;
use thermograd_cv::{CollectiveVariable, CvValue};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_nn::{CvSurrogate, ModelFile};

/// Held-out value RMSE as a fraction of the sampled CV range that a trained surrogate
/// must reach. The best constant prediction of a distance spread uniformly over its
/// range has relative RMSE 1/√12 ≈ 0.29, and an untrained network (whose output
/// normalization is fitted to the data) is no better, so 0.1 needs real learning; the
/// example reaches about 0.04.
const RELATIVE_RMSE_BOUND: f64 = 0.1;

fn example() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/train_cv.toml"
    );
    std::fs::read_to_string(path).unwrap()
}

fn train_cv(config: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["train", "cv", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn held_out(s: &serde_json::Value, key: &str) -> f64 {
    s["held_out"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("summary.json lacks held_out.{key}: {s}"))
}

/// Writes `text` as `name` in `dir`, runs it and returns stderr of a run that must fail.
fn failure(dir: &TempDir, name: &str, text: &str) -> String {
    let config = dir.path().join(name);
    std::fs::write(&config, text).unwrap();
    let out = train_cv(&config, &dir.path().join("out-bad"), &[]);
    assert!(!out.status.success(), "{name} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn example_trains_a_distance_surrogate_and_writes_its_outputs() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("train_cv.toml");
    std::fs::write(&config, example()).unwrap();
    let out = dir.path().join("out");
    let run = train_cv(&config, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in ["model.tgnn", "history.csv", "summary.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(
        history.lines().count(),
        1 + 60,
        "header and one row per epoch"
    );

    let s = summary(&out);
    assert_eq!(s["samples"], 300);
    assert_eq!(s["held_out_samples"], 60);
    let relative = held_out(&s, "relative_rmse");
    let rmse = held_out(&s, "value_rmse");
    let range = held_out(&s, "value_range");
    assert!((relative - rmse / range).abs() < 1e-12);
    // The pair is spread over 0.9–2.0, so 60 held-out distances span most of 1.1.
    assert!(range > 0.8 && range <= 1.1, "range {range}");
    assert!(
        relative < RELATIVE_RMSE_BOUND,
        "trained relative RMSE {relative} ≥ {RELATIVE_RMSE_BOUND}"
    );
    // The Jacobian of a distance has unit-norm rows: the error must be well below that.
    let j = &s["held_out"]["jacobian_errors"];
    assert_eq!(j["n"], 60 * 2 * 3, "samples × atoms × axes");
    assert!(j["rms"].as_f64().unwrap() < 0.5 * held_out(&s, "jacobian_reference_rms"));
    for key in [
        "mean",
        "std",
        "skewness",
        "excess_kurtosis",
        "normality_p_value",
    ] {
        assert!(j[key].as_f64().is_some_and(f64::is_finite), "{key}: {j}");
    }

    // The saved model is the trained surrogate: it reads back and tracks the distance
    // (and its unit-vector gradient) inside the sampled range.
    let model = CvSurrogate::load(&out.join("model.tgnn")).unwrap();
    assert_eq!(model.atoms(), [0, 1]);
    let simbox = SimBox::orthorhombic([4.0, 4.0, 4.0]).unwrap();
    let mut value = CvValue::default();
    for d in [1.2, 1.5, 1.8] {
        let positions = vec![Vec3::new(0.5, 0.5, 0.5), Vec3::new(0.5 + d, 0.5, 0.5)];
        model.evaluate(&positions, &simbox, &mut value).unwrap();
        assert!(
            (value.values[0] - d).abs() < 0.1,
            "surrogate({d}) = {}",
            value.values[0]
        );
        assert!(
            (value.gradient(0, 1).x - 1.0).abs() < 0.3,
            "{:?}",
            value.gradient(0, 1)
        );
    }

    // The bound is meaningful: the same run without learning stays above it.
    let untrained = example()
        .replace("epochs = 60", "epochs = 1")
        .replace("learning_rate = 3e-3", "learning_rate = 1e-9")
        .replace("final_learning_rate = 1e-4", "final_learning_rate = 1e-9");
    assert!(untrained.contains("epochs = 1\n") && untrained.contains("= 1e-9"));
    let config = dir.path().join("untrained.toml");
    std::fs::write(&config, untrained).unwrap();
    let out = dir.path().join("out-untrained");
    let run = train_cv(&config, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let untrained = held_out(&summary(&out), "relative_rmse");
    assert!(
        untrained > 2.0 * RELATIVE_RMSE_BOUND,
        "untrained relative RMSE {untrained} does not make the bound meaningful"
    );
}

#[test]
fn extxyz_frames_are_labelled() {
    let dir = TempDir::new().unwrap();
    let mut xyz = String::new();
    for k in 0..3 {
        let d = 1.0 + 0.25 * k as f64;
        xyz.push_str(&format!(
            "3\nLattice=\"5 0 0 0 5 0 0 0 5\" pbc=\"T T T\" Properties=species:S:1:pos:R:3\n\
             Ar 1.0 1.0 1.0\nAr {} 1.0 1.0\nAr 3.0 3.0 3.0\n",
            1.0 + d
        ));
    }
    std::fs::write(dir.path().join("frames.extxyz"), xyz).unwrap();
    let text = "[cv]\nkind = \"distance\"\natoms = [0, 1]\n\
                [data]\nsource = \"extxyz\"\nfile = \"frames.extxyz\"\n";
    let config = dir.path().join("xyz.toml");
    std::fs::write(&config, text).unwrap();
    let run = train_cv(&config, &dir.path().join("out"), &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("3 labelled configurations"), "{stdout}");
    assert!(!dir.path().join("out").exists(), "a dry run writes nothing");
}

#[test]
fn bad_configurations_are_clear_errors() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("absent.toml");
    let run = train_cv(&missing, &dir.path().join("out"), &[]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("cannot read") && err.contains("absent.toml"),
        "{err}"
    );

    let err = failure(
        &dir,
        "unknown.toml",
        &example().replace("hidden = [32, 32]", "hiden = [32, 32]"),
    );
    assert!(
        err.contains("unknown field `hiden`") && err.contains("unknown.toml"),
        "{err}"
    );

    let err = failure(
        &dir,
        "zero.toml",
        &example().replace("epochs = 60", "epochs = 0"),
    );
    assert!(err.contains("[training]") && err.contains("epoch"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let err = failure(
        &dir,
        "atom.toml",
        &example().replace("atoms = [0, 1]", "atoms = [0, 9]"),
    );
    assert!(err.contains("atom 9") && err.contains("8 atoms"), "{err}");

    let err = failure(
        &dir,
        "nofile.toml",
        "[cv]\nkind = \"distance\"\natoms = [0, 1]\n\
         [data]\nsource = \"extxyz\"\nfile = \"nowhere.extxyz\"\n",
    );
    assert!(err.contains("nowhere.extxyz"), "{err}");
}
