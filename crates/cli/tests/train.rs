//! `thermograd train fm|rm|difftre` end to end on small versions of the shipped example
//! configurations, resume from a checkpoint, dry runs, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use thermograd_nn::ModelFile;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thermograd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example(name: &str) -> String {
    let path = format!(
        "{}/../../examples/configs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// Lennard-Jones frames (32 atoms, kT = 1.5) with energies and forces, written where
/// the example configurations expect `out/coarse_grain/fg.extxyz` relative to
/// `dir/examples/configs/`.
fn write_data(dir: &Path, frames: usize) {
    std::fs::create_dir_all(dir.join("out/coarse_grain")).unwrap();
    std::fs::create_dir_all(dir.join("examples/configs")).unwrap();
    common::write_lj_frames(&dir.join("out/coarse_grain/fg.extxyz"), frames);
}

/// The example without its `[data.coarse_grain]` table.
fn without_mapping(text: &str) -> String {
    let start = text
        .find("\n[data.coarse_grain]")
        .expect("the example maps");
    let end = start
        + text[start..].find("masses = [1.0, 1.0]\n").unwrap()
        + "masses = [1.0, 1.0]\n".len();
    format!("{}{}", &text[..start], &text[end..])
}

fn train(method: &str, config: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["train", method, "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "stdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn force_matching_trains_and_resumes_to_the_same_model() {
    let dir = scratch("train-fm");
    write_data(&dir, 20);
    // Atomistic force matching on the LJ frames (no mapping); the box is 4 σ wide, so
    // a 2 σ cutoff keeps single images.
    let small = without_mapping(&example("train_fm.toml"))
        .replace("epochs = 150", "epochs = 4")
        .replace("cutoff = 3.0\nn_knots = 40", "cutoff = 2.0\nn_knots = 12")
        .replace("schedule = \"exponential\"", "schedule = \"constant\"");
    let config = dir.join("examples/configs/fm.toml");
    std::fs::write(&config, &small).unwrap();
    let full = dir.join("full");
    ok(&train("fm", &config, &full, &[]));
    for f in [
        "model.tgnn",
        "potential.csv",
        "metrics.csv",
        "checkpoint.bin",
        "summary.json",
    ] {
        assert!(full.join(f).exists(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5, "{metrics}");
    let s = summary(&full);
    assert!(s["test_force_rmse"].as_f64().unwrap() < s["test_force_std"].as_f64().unwrap());
    assert!(s["seconds_per_epoch_per_1000_structures"].as_f64().unwrap() > 0.0);

    // Two epochs, then resume to four: the same model, bit for bit.
    let half = dir.join("half");
    let two = dir.join("examples/configs/fm2.toml");
    std::fs::write(&two, small.replace("epochs = 4", "epochs = 2")).unwrap();
    ok(&train("fm", &two, &half, &[]));
    ok(&train("fm", &config, &half, &["--resume"]));
    assert_eq!(
        std::fs::read(half.join("model.tgnn")).unwrap(),
        std::fs::read(full.join("model.tgnn")).unwrap()
    );
}

#[test]
fn force_matching_trains_a_schnet_model() {
    let dir = scratch("train-fm-schnet");
    write_data(&dir, 12);
    let spline = "[model]\nkind = \"spline\"\nr_min = 0.3                # mapped beads come as close as ~0.45\ncutoff = 3.0\nn_knots = 40\n";
    let schnet = "[model]\nkind = \"schnet\"\ncutoff = 2.0\nfeatures = 8\nn_rbf = 8\ninteractions = 2\nreadout_hidden = [8]\nseed = 2\n";
    let text = without_mapping(&example("train_fm.toml"));
    assert!(text.contains(spline), "the example's model table changed");
    let small = text
        .replace(spline, schnet)
        .replace("epochs = 150", "epochs = 3")
        .replace("learning_rate = 0.1", "learning_rate = 0.01")
        .replace("schedule = \"exponential\"", "schedule = \"constant\"");
    let config = dir.join("examples/configs/fm_schnet.toml");
    std::fs::write(&config, &small).unwrap();
    let out = dir.join("out");
    ok(&train("fm", &config, &out, &[]));
    let model = thermograd_nn::SchNet::load(&out.join("model.tgnn")).unwrap();
    assert_eq!(model.config().features, 8);
    let s = summary(&out);
    assert!(s["test_force_rmse"].as_f64().unwrap().is_finite());
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
}

#[test]
fn relative_entropy_trains_a_coarse_grained_model() {
    let dir = scratch("train-rm");
    write_data(&dir, 20);
    let small = without_mapping(&example("train_rm.toml"))
        .replace("updates = 120", "updates = 3")
        .replace("samples = 60", "samples = 5")
        .replace("equilibration_steps = 500", "equilibration_steps = 50")
        .replace("reference_batch = 100", "reference_batch = 10")
        .replace("cutoff = 3.0\nn_knots = 30", "cutoff = 2.0\nn_knots = 12");
    let config = dir.join("examples/configs/rm.toml");
    std::fs::write(&config, small).unwrap();
    let out = dir.join("out-rm");
    ok(&train("rm", &config, &out, &[]));
    for f in [
        "model.tgnn",
        "metrics.csv",
        "checkpoint.bin",
        "free_energy.csv",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    assert_eq!(summary(&out)["updates"].as_u64(), Some(3));
}

#[test]
fn difftre_matches_a_simulated_rdf_target() {
    let dir = scratch("train-difftre");
    let small = example("train_difftre.toml")
        .replace("cells = 3", "cells = 2")
        .replace("frames = 1000", "frames = 10")
        .replace("samples = 100", "samples = 8")
        .replace("equilibration_steps = 400", "equilibration_steps = 50")
        .replace("updates = 150", "updates = 3")
        // The 32-atom box is 3.4 σ wide.
        .replace("r_max = 2.5", "r_max = 1.7")
        .replace("cutoff = 2.5\nn_knots = 25", "cutoff = 1.7\nn_knots = 12");
    let config = dir.join("difftre.toml");
    std::fs::write(&config, small).unwrap();
    let out = dir.join("out");
    ok(&train("difftre", &config, &out, &[]));
    let predictions = std::fs::read_to_string(out.join("predictions.csv")).unwrap();
    assert_eq!(predictions.lines().count(), 51);
    let s = summary(&out);
    assert_eq!(s["updates"].as_u64(), Some(3));
    assert!(s["median_update_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn shipped_configurations_pass_a_dry_run() {
    let dir = scratch("train-dry");
    write_data(&dir, 4);
    for (method, name) in [
        ("fm", "train_fm.toml"),
        ("rm", "train_rm.toml"),
        ("difftre", "train_difftre.toml"),
    ] {
        let config = dir.join("examples/configs").join(name);
        std::fs::write(&config, example(name)).unwrap();
        let o = train(
            method,
            &config,
            &dir.join(format!("dry-{method}")),
            &["--dry-run"],
        );
        ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("valid"));
    }
}

#[test]
fn bad_configurations_are_reported_with_the_file() {
    let dir = scratch("train-bad");
    write_data(&dir, 4);
    let config = dir.join("examples/configs/bad.toml");
    std::fs::write(
        &config,
        example("train_fm.toml").replace("[training]", "[training]\nepoks = 3"),
    )
    .unwrap();
    let o = train("fm", &config, &dir.join("o"), &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml") && err.contains("epoks"), "{err}");
    // Missing data file: named in the error.
    std::fs::write(
        &config,
        example("train_fm.toml").replace("fg.extxyz", "missing.extxyz"),
    )
    .unwrap();
    let o = train("fm", &config, &dir.join("o"), &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.extxyz"));
    // Resume without a checkpoint.
    std::fs::write(&config, example("train_fm.toml")).unwrap();
    let o = train("fm", &config, &dir.join("fresh"), &["--resume"]);
    assert!(!o.status.success());
}
