//! `thermograd train ensemble|active` end to end on tiny configurations: the outputs
//! exist and parse, the committee beats its untrained self, active learning grows the
//! training set with structures labelled by the reference, `--resume` of a finished run
//! changes nothing, a lost member checkpoint is retrained to the same member, and bad
//! configurations are reported with the file's name.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::write_lj_frames;
use tempfile::TempDir;
use thermograd_md::{Configuration, Evaluation, LennardJonesConfig, Potential, Truncation};
use thermograd_train::formats::read_extxyz;
use thermograd_train::UnitConversion;

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

/// The error message of a run that must fail.
fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A spline ensemble on 24 LJ frames (32 atoms, kT = 1.5).
fn ensemble_config(dir: &Path, extra: &str) -> PathBuf {
    write_lj_frames(&dir.join("frames.extxyz"), 24);
    let text = format!(
        r#"[data]
file = "frames.extxyz"
validation_fraction = 0.0
test_fraction = 0.25
split_seed = 3

[model]
kind = "spline"
r_min = 0.8
cutoff = 2.0
n_knots = 12

[training]
epochs = 20
batch_size = 2
weights = {{ forces = 1.0, energy = 0.0, virial = 0.0 }}

[optimizer]
learning_rate = 0.2

[ensemble]
members = 3
seed = 7
{extra}
"#
    );
    let path = dir.join("ensemble.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ensemble_trains_reports_its_committee_and_resumes() {
    let dir = TempDir::new().unwrap();
    let config = ensemble_config(dir.path(), "bootstrap = true");
    let out = dir.path().join("out");
    ok(&train("ensemble", &config, &out, &[]));
    for k in 0..3 {
        assert!(out.join(format!("member_{k}.tgnn")).exists());
        assert!(out.join(format!("member_{k}_potential.csv")).exists());
        assert!(out.join(format!("checkpoints/member-{k}.ckpt")).exists());
    }
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 3 * 20, "{metrics}");
    assert!(!metrics.contains("seconds"));
    // Each member's first and last training loss: training lowered it.
    for k in 0..3 {
        let losses: Vec<f64> = metrics
            .lines()
            .skip(1)
            .filter(|l| l.starts_with(&format!("{k},")))
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect();
        assert_eq!(losses.len(), 20);
        assert!(losses[19] < losses[0], "member {k}: {losses:?}");
    }

    let s = summary(&out);
    let t = &s["test"];
    let rmse = t["force_rmse"].as_f64().unwrap();
    let untrained = s["untrained_test_force_rmse"].as_f64().unwrap();
    let members: Vec<f64> = t["member_force_rmse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    eprintln!(
        "committee RMSE {rmse:.4} (untrained {untrained:.4}, force std {}), members {members:?}, \
         mean σ {}, RMSE/σ {}, within 2σ {}",
        s["test_force_std"], t["mean_force_std"], t["error_to_spread"], t["within_two_sigma"]
    );
    assert!(rmse.is_finite() && rmse < 0.5 * untrained);
    assert_eq!(members.len(), 3);
    // The committee mean is never worse than the average member (Minkowski).
    assert!(rmse <= members.iter().sum::<f64>() / 3.0 + 1e-12);
    // Bootstrap members differ, so there is a spread.
    let sigma = t["mean_force_std"].as_f64().unwrap();
    assert!(sigma > 0.0 && sigma.is_finite());
    let within = t["within_two_sigma"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&within));
    assert!(t["error_to_spread"].as_f64().unwrap().is_finite());
    let timing: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("timing.json")).unwrap()).unwrap();
    assert!(timing["median_epoch_seconds"].as_f64().unwrap() > 0.0);

    // Resuming the finished run changes no file.
    let before = files(&out);
    ok(&train("ensemble", &config, &out, &["--resume"]));
    assert_eq!(before, files(&out));

    // A member whose checkpoint was lost is trained again, to the same member.
    std::fs::remove_file(out.join("checkpoints/member-1.ckpt")).unwrap();
    std::fs::remove_file(out.join("member_1.tgnn")).unwrap();
    ok(&train("ensemble", &config, &out, &["--resume"]));
    let after = files(&out);
    for (path, bytes) in &before {
        if path != Path::new("timing.json") && !path.starts_with("checkpoints") {
            assert_eq!(Some(bytes), after.get(path), "{}", path.display());
        }
    }
}

#[test]
fn bad_ensemble_configs_name_the_file() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    // Splines without bootstrap would all converge to one model.
    let config = ensemble_config(dir.path(), "");
    let err = fails(&train("ensemble", &config, &out, &[]));
    assert!(
        err.contains("bootstrap") && err.contains("ensemble.toml"),
        "{err}"
    );

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("members = 3", "members = 1\nbootstrap = true"),
    )
    .unwrap();
    let err = fails(&train("ensemble", &config, &out, &[]));
    assert!(
        err.contains("at least 2") && err.contains("ensemble.toml"),
        "{err}"
    );

    std::fs::write(&config, text.replace("members = 3", "member = 3")).unwrap();
    let err = fails(&train("ensemble", &config, &out, &[]));
    assert!(
        err.contains("member") && err.contains("ensemble.toml"),
        "{err}"
    );

    std::fs::write(
        &config,
        text.replace("seed = 7", "seed = 7\nbootstrap = true"),
    )
    .unwrap();
    let err = fails(&train(
        "ensemble",
        &config,
        &dir.path().join("new"),
        &["--resume"],
    ));
    assert!(err.contains("checkpoints"), "{err}");
}

/// Active learning of tiny Behler–Parrinello networks on a 32-atom LJ lattice, the
/// initial sets from reference MD.
const ACTIVE: &str = r#"[reference.lennard_jones]
species = [{ sigma = 1.0, epsilon = 1.0 }]
mixing = "lorentz-berthelot"
cutoff = 2.0
truncation = "force-shifted"
tail = false

[model]
kind = "behler_parrinello"
cutoff = 2.0
n_radial = 4
hidden = [8]

[training]
epochs = 4
batch_size = 2
weights = { forces = 1.0, energy = 0.0, virial = 0.0 }

[optimizer]
learning_rate = 0.03

[ensemble]
members = 2
seed = 5

[active]
rounds = 2
per_round = 2

[active.sampler]
kt = 1.0
dt = 0.004
friction_time = 0.5
equilibration_steps = 10
samples = 3
stride = 4
skin = 0.3
seed = 8

[active.starts]
count = 2
lattice = { cells = 2, density = 0.85 }
velocity_seed = 3

[active.initial]
train = 3
test = 4
"#;

/// The reference of [`ACTIVE`].
fn reference() -> impl Potential {
    let mut lj = LennardJonesConfig::single(1.0, 1.0, 2.0);
    lj.truncation = Truncation::ForceShifted;
    lj.build().unwrap()
}

#[test]
fn active_learning_grows_the_set_with_reference_labels_and_resumes() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("active.toml");
    std::fs::write(&config, ACTIVE).unwrap();
    let out = dir.path().join("out");
    ok(&train("active", &config, &out, &[]));

    let rounds = std::fs::read_to_string(out.join("rounds.csv")).unwrap();
    let rows: Vec<Vec<&str>> = rounds
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{rounds}");
    for (r, row) in rows.iter().enumerate() {
        assert_eq!(row[0], r.to_string());
        // Threshold 0 and no ceiling: every round labels per_round = 2 structures.
        assert_eq!(row[1], (3 + 2 * r).to_string(), "{rounds}");
        let rmse: f64 = row[2].parse().unwrap();
        assert!(rmse.is_finite() && rmse > 0.0);
        if r < 2 {
            // 2 starts × 3 samples.
            assert_eq!(row[7], "6");
            let max: f64 = row[8].parse().unwrap();
            let mean: f64 = row[9].parse().unwrap();
            assert!(max >= mean && mean > 0.0);
            assert_eq!(row[10], "2");
        } else {
            assert_eq!(row[7], "0");
            assert_eq!(row[10], "0");
        }
    }
    for k in 0..2 {
        assert!(out.join(format!("member_{k}.tgnn")).exists());
    }
    let s = summary(&out);
    assert_eq!(s["final_training_structures"], 7);
    assert!(s["final_test"]["force_rmse"].as_f64().unwrap().is_finite());

    // The grown set: the initial structures plus four labelled by the reference.
    let data = read_extxyz(out.join("dataset.extxyz"), &UnitConversion::IDENTITY).unwrap();
    assert_eq!(data.len(), 7);
    let lj = reference();
    for st in data.structures() {
        let mut e = Evaluation::zeros(st.n_atoms());
        lj.add_to(
            &Configuration {
                positions: &st.positions,
                species: &st.species,
                simbox: &st.simbox,
                neighbors: None,
            },
            &mut e,
        )
        .unwrap();
        let forces = st.forces.as_ref().unwrap();
        for (a, b) in forces.iter().zip(&e.forces) {
            assert!((a - b).norm() <= 1e-6 * (1.0 + b.norm()), "{a} vs {b}");
        }
    }

    let before = files(&out);
    ok(&train("active", &config, &out, &["--resume"]));
    assert_eq!(before, files(&out));
}

#[test]
fn active_learning_from_a_data_file_and_bad_configs() {
    let dir = TempDir::new().unwrap();
    write_lj_frames(&dir.path().join("frames.extxyz"), 10);
    // Starts from the first training structures of the file (LJ frames with a 2.5 σ
    // cutoff; the reference keeps its 2 σ cutoff, half the 4 σ box of the file).
    let from_data = ACTIVE
        .replace(
            "[active.initial]\ntrain = 3\ntest = 4\n",
            "[data]\nfile = \"frames.extxyz\"\ntest_fraction = 0.3\nsplit_seed = 1\n",
        )
        .replace("rounds = 2", "rounds = 1")
        .replace("lattice = { cells = 2, density = 0.85 }\n", "");
    let config = dir.path().join("active.toml");
    std::fs::write(&config, &from_data).unwrap();
    let out = dir.path().join("out");
    ok(&train("active", &config, &out, &[]));
    let rounds = std::fs::read_to_string(out.join("rounds.csv")).unwrap();
    let sizes: Vec<usize> = rounds
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(sizes, vec![7, 9], "{rounds}");

    // Neither [data] nor [active.initial].
    let neither = ACTIVE.replace("[active.initial]\ntrain = 3\ntest = 4\n", "");
    std::fs::write(&config, neither).unwrap();
    let err = fails(&train("active", &config, &out, &[]));
    assert!(
        err.contains("[active.initial]") && err.contains("active.toml"),
        "{err}"
    );
    // No reference potential.
    let start = ACTIVE.find("[model]").unwrap();
    std::fs::write(&config, format!("[reference]\n{}", &ACTIVE[start..])).unwrap();
    let err = fails(&train("active", &config, &out, &[]));
    assert!(
        err.contains("[reference]") && err.contains("active.toml"),
        "{err}"
    );
    // A driver that is not a member.
    std::fs::write(
        &config,
        ACTIVE.replace("per_round = 2", "per_round = 2\ndriver = { member = 5 }"),
    )
    .unwrap();
    let err = fails(&train("active", &config, &out, &[]));
    assert!(
        err.contains("member 5") && err.contains("active.toml"),
        "{err}"
    );
}

#[test]
fn the_example_configurations_are_valid() {
    let dir = TempDir::new().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs");
    let out = dir.path().join("out-active");
    let o = train(
        "active",
        &examples.join("train_active.toml"),
        &out,
        &["--dry-run"],
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("valid"));
    // The ensemble example reads out/coarse_grain/fg.extxyz relative to the repository
    // root: stand-in LJ frames at the same place in a copy of the layout.
    let configs = dir.path().join("examples/configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::create_dir_all(dir.path().join("out/coarse_grain")).unwrap();
    write_lj_frames(&dir.path().join("out/coarse_grain/fg.extxyz"), 10);
    std::fs::copy(
        examples.join("train_ensemble.toml"),
        configs.join("train_ensemble.toml"),
    )
    .unwrap();
    let o = train(
        "ensemble",
        &configs.join("train_ensemble.toml"),
        &dir.path().join("out-ensemble"),
        &["--dry-run"],
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 members"));
}
