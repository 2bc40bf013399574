//! `thermograd metad` end to end on a small version of the shipped example config, and
//! the errors of bad configurations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thermograd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/metad_dimer.toml"
    );
    std::fs::read_to_string(path).unwrap()
}

fn metad(config: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(["metad", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn small(text: &str) -> String {
    let small = text
        .replace("steps = 200000", "steps = 4000")
        .replace("replicas = 8", "replicas = 2")
        .replace("snapshot_every = 100", "snapshot_every = 10");
    assert_ne!(small, text, "the example config changed; update this test");
    small
}

/// The example without its `[bias_grid]` section: the bias summed exactly over hills.
fn exact_sum(text: &str) -> String {
    let start = text
        .find("[bias_grid]")
        .expect("the example has a [bias_grid]");
    let end = start + text[start..].find("\n\n").unwrap();
    let exact = format!("{}{}", &text[..start], &text[end + 2..]);
    assert!(!exact.contains("[bias_grid]") && !exact.contains("intervals = ["));
    exact
}

#[test]
fn metad_writes_free_energy_hills_and_series() {
    for (name, text) in [
        ("grid", small(&example())),
        ("exact", exact_sum(&small(&example()))),
    ] {
        check_outputs(name, &text);
    }
}

fn check_outputs(name: &str, text: &str) {
    let dir = scratch(&format!("metad-{name}"));
    let config = dir.join("dimer.toml");
    std::fs::write(&config, text).unwrap();
    let out = dir.join("out");
    let run = metad(&config, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The grid covers every distance the walls allow: no step falls off it.
    assert!(!String::from_utf8_lossy(&run.stdout).contains("outside [bias_grid]"));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let data = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // The grid has 33 nodes; two walkers give finite error bars.
    let fes = read("fes.csv");
    let mut lines = fes.lines();
    assert_eq!(lines.next(), Some("x1,A,err"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 33);
    assert!((rows[0][0] - 0.8).abs() < 1e-12 && (rows[32][0] - 2.4).abs() < 1e-12);
    assert!(rows.iter().all(|r| r[1] >= 0.0 && r[2].is_finite()));
    assert!(rows.iter().any(|r| r[1] == 0.0));
    // 4000 steps at pace 100: 40 hills per walker; stride 50: 80 samples.
    for r in 0..2 {
        let hills = data(&read(&format!("hills_{r:03}.dat")));
        assert_eq!(hills.len(), 40);
        assert_eq!(hills[0].split_whitespace().count(), 3);
        let first_height: f64 = hills[0].split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(first_height, 0.2);
        assert_eq!(data(&read(&format!("colvar_{r:03}.dat"))).len(), 80);
    }
    // A snapshot every 10 hills: 4 per walker, 33 nodes each.
    let series = read("fes_time.csv");
    let mut lines = series.lines();
    assert_eq!(lines.next(), Some("walker,hills,time,x1,A"));
    assert_eq!(lines.count(), 2 * 4 * 33);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_configurations_name_the_offending_key() {
    let dir = scratch("metad-bad");
    let text = small(&example());
    let cases = [
        // A misspelt key inside a potential table.
        (
            text.replace("depth = 5.0", "depht = 5.0"),
            "depht".to_owned(),
        ),
        // An invalid value: reported with its table.
        (
            text.replace("depth = 5.0", "depth = -5.0"),
            "[potential.morse]".to_owned(),
        ),
        // A grid that does not match the CV.
        (
            text.replace("bins = [33]", "bins = [33, 10]")
                .replace("lower = [0.8]", "lower = [0.8, 0.0]")
                .replace("upper = [2.4]", "upper = [2.4, 1.0]"),
            "[grid] has 2 components".to_owned(),
        ),
        // Walls of the wrong dimension.
        (
            text.replace("kappa = [500.0]", "kappa = [500.0, 1.0]"),
            "[walls]".to_owned(),
        ),
        // A bias grid that does not match the CV.
        (
            text.replace("intervals = [65]", "intervals = [65, 3]"),
            "[bias_grid] has 2 components".to_owned(),
        ),
        // A bias grid that is empty.
        (
            text.replace("upper = [3.0]", "upper = [0.3]"),
            "bias grid component 0".to_owned(),
        ),
        // A misspelt key in the bias grid.
        (
            text.replace("intervals = [65]", "interval = [65]"),
            "interval".to_owned(),
        ),
        // A missing section.
        (text.replace("[grid]", "[grid_typo]"), "grid".to_owned()),
        // A CV on atoms that do not exist.
        (
            text.replace("atoms = [0, 1]", "atoms = [0, 5]"),
            "[cv] uses atom 5".to_owned(),
        ),
    ];
    for (k, (bad, needle)) in cases.iter().enumerate() {
        let config = dir.join(format!("bad{k}.toml"));
        std::fs::write(&config, bad).unwrap();
        let run = metad(&config, &dir.join("out"));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "case {k} should fail");
        assert!(
            stderr.contains(needle.as_str()),
            "case {k}: `{needle}` not in {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
