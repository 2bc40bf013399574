//! Interrupted training runs (issue #11): `thermograd train fm` and `thermograd train
//! difftre` are killed with SIGKILL after varied numbers of epochs (updates), resumed
//! with `--resume`, and must end with the model, metrics and summary of an
//! uninterrupted run, bit for bit (wall times aside); a run killed while it writes
//! checkpoints in a tight loop always leaves a checkpoint that loads.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{finish, kill_when, spawn, write_lj_frames};
use thermograd_train::formats::read_extxyz;
use thermograd_train::{ForceMatchingConfig, SplinePairConfig, UnitConversion};

/// Force matching of a spline pair potential on LJ frames; an exponential schedule, so
/// that the learning rate of a step depends on where the run stands.
fn fm_config(dir: &Path, epochs: usize, batch_size: usize) -> PathBuf {
    let text = format!(
        r#"[data]
file = "frames.extxyz"
validation_fraction = 0.2
test_fraction = 0.2
split_seed = 3

[model]
kind = "spline"
r_min = 0.3
cutoff = 2.0
n_knots = 12

[training]
epochs = {epochs}
batch_size = {batch_size}
weights = {{ forces = 1.0, energy = 0.0, virial = 0.0 }}
seed = 4

[optimizer]
learning_rate = 0.05
schedule = "exponential"
final_learning_rate = 1e-3
"#
    );
    let path = dir.join(format!("fm_{epochs}_{batch_size}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn train_args(method: &str, config: &Path, out: &Path, resume: bool) -> Vec<String> {
    let mut args: Vec<String> = ["train", method, "--quiet", "--config"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(config.to_str().unwrap().into());
    args.push("--out".into());
    args.push(out.to_str().unwrap().into());
    if resume {
        args.push("--resume".into());
    }
    args
}

/// Rows of a metrics CSV (header first), each split into fields.
fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The rows without their wall-time column.
fn without_seconds(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    let col = rows[0].iter().position(|h| h == "seconds").unwrap();
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.remove(col);
            r
        })
        .collect()
}

/// The summary without wall times.
fn timeless(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(map) = v.as_object_mut() {
        map.retain(|k, _| !k.contains("seconds"));
        for value in map.values_mut() {
            *value = timeless(value.take());
        }
    }
    v
}

/// Kills a run after each of `kill_points` (rows in `metrics.csv`, i.e. epochs or
/// updates whose checkpoint was written, plus a delay), resumes, and checks that the
/// end equals `reference`. Returns the number of kills that landed.
fn kill_and_resume(
    method: &str,
    config: &Path,
    out: &Path,
    reference: &Path,
    kill_points: &[(usize, u64)],
    outputs: &[&str],
) -> usize {
    let metrics = out.join("metrics.csv");
    let mut kills = 0;
    let mut seen: Vec<Vec<String>> = Vec::new();
    for &(k, extra_ms) in kill_points {
        // The first piece starts afresh; later ones continue (a checkpoint exists once a
        // metrics row does: the checkpoint is written first).
        let mut child = spawn(&train_args(method, config, out, !seen.is_empty()));
        let landed = kill_when(
            &mut child,
            || rows(&metrics).len() > k,
            Duration::from_millis(extra_ms),
        );
        kills += landed as usize;
        let now = rows(&metrics);
        eprintln!(
            "{method}: waited for {k} rows, killed: {landed}, {} rows written",
            now.len().saturating_sub(1)
        );
        // Rows already written survive a resume unchanged, wall times included: the
        // history comes from the checkpoint, not from a rerun of those steps.
        assert!(
            now.len() >= seen.len() && now[..seen.len()] == seen[..],
            "{method}: rows changed after a resume"
        );
        seen = now;
    }
    let (summary, _) = finish(&train_args(method, config, out, true));
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(timeless(summary), timeless(expected), "{method}: summary");
    let now = rows(&metrics);
    assert!(now.len() >= seen.len() && now[..seen.len()] == seen[..]);
    assert_eq!(
        without_seconds(&now),
        without_seconds(&rows(&reference.join("metrics.csv"))),
        "{method}: metrics"
    );
    for f in outputs {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(reference.join(f)).unwrap(),
            "{method}: {f} differs"
        );
    }
    kills
}

#[test]
fn killed_and_resumed_force_matching_equals_the_uninterrupted_run() {
    let dir = tempfile::TempDir::new().unwrap();
    write_lj_frames(&dir.path().join("frames.extxyz"), 10);
    let config = fm_config(dir.path(), 12, 2);
    let reference = dir.path().join("reference");
    finish(&train_args("fm", &config, &reference, false));
    let kills = kill_and_resume(
        "fm",
        &config,
        &dir.path().join("run"),
        &reference,
        &[(1, 0), (3, 7), (5, 0), (8, 3), (10, 0)],
        &["model.tgnn", "potential.csv"],
    );
    assert!(kills >= 3, "only {kills} kills landed before the run ended");
}

#[test]
fn a_kill_during_checkpoint_writes_leaves_a_checkpoint_that_loads() {
    let dir = tempfile::TempDir::new().unwrap();
    let frames = dir.path().join("frames.extxyz");
    write_lj_frames(&frames, 6);
    // Four training structures in one batch: an epoch is a few milliseconds, most of
    // which go to writing the checkpoint and the metrics (each synced to disk).
    let config = fm_config(dir.path(), 300, 4);
    let out = dir.path().join("run");
    let ckpt = out.join("checkpoint.bin");
    // The trainer that reads the checkpoint: the same model (12 knots on [0.3, 2]).
    let data = read_extxyz(&frames, &UnitConversion::IDENTITY).unwrap();
    let load = || {
        let model = SplinePairConfig::uniform(0.3, 2.0, 12).build().unwrap();
        let mut trainer = ForceMatchingConfig::default()
            .build(model, data.clone(), data.clone())
            .unwrap();
        trainer
            .resume(&ckpt)
            .unwrap_or_else(|e| panic!("the checkpoint does not load: {e}"));
        trainer.epoch()
    };
    let mut kills = 0;
    let mut epochs = Vec::new();
    for extra_ms in [0, 3, 11, 1, 7, 17, 2, 5] {
        // Killed some milliseconds after this piece wrote its first checkpoint.
        let written = || std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok();
        let before = written();
        let mut child = spawn(&train_args("fm", &config, &out, !epochs.is_empty()));
        if kill_when(
            &mut child,
            || written() != before,
            Duration::from_millis(extra_ms),
        ) {
            kills += 1;
        }
        epochs.push(load());
    }
    eprintln!("fm: checkpointed epochs after each kill: {epochs:?}");
    assert!(kills >= 5, "only {kills} kills landed before the run ended");
    assert!(
        epochs.windows(2).all(|w| w[0] <= w[1]) && epochs[0] >= 1,
        "checkpointed epochs went backwards: {epochs:?}"
    );
    // And the run completes from there.
    finish(&train_args("fm", &config, &out, true));
    assert_eq!(load(), 300);
}

#[test]
fn killed_and_resumed_difftre_equals_the_uninterrupted_run() {
    let dir = tempfile::TempDir::new().unwrap();
    // A made-up target RDF on 20 bins: the run need not converge, only be reproducible.
    let mut curve = String::from("r,g\n");
    for k in 0..20 {
        let r = (k as f64 + 0.5) * 1.7 / 20.0;
        let g = if r < 0.9 {
            0.0
        } else {
            1.0 + 1.5 * (-((r - 1.1) / 0.12).powi(2)).exp()
        };
        curve.push_str(&format!("{r},{g}\n"));
    }
    std::fs::write(dir.path().join("rdf.csv"), curve).unwrap();
    let config = dir.path().join("difftre.toml");
    std::fs::write(
        &config,
        r#"[system]
lattice = { cells = 2, density = 0.8 }
velocity_seed = 1

[sampler]
kt = 1.0
dt = 0.005
friction_time = 0.5
equilibration_steps = 50
samples = 8
stride = 10
skin = 0.3
seed = 2

[prior.soft_sphere]
pairs = [{ a = 0, b = 0, params = { sigma = 1.0, epsilon = 1.0 } }]
exponent = 12
cutoff = 1.5
shift = true

[model]
kind = "spline"
r_min = 0.75
cutoff = 1.7
n_knots = 12

[[targets]]
kind = "rdf"
r_max = 1.7
n_bins = 20
file = "rdf.csv"

[training]
updates = 5
ess_threshold = 0.9

[optimizer]
learning_rate = 0.05
"#,
    )
    .unwrap();
    let reference = dir.path().join("reference");
    finish(&train_args("difftre", &config, &reference, false));
    let kills = kill_and_resume(
        "difftre",
        &config,
        &dir.path().join("run"),
        &reference,
        &[(1, 0), (3, 0)],
        &[
            "model.tgnn",
            "potential.csv",
            "predictions.csv",
            "free_energy.csv",
        ],
    );
    assert!(kills >= 1, "no kill landed before the run ended");
}
