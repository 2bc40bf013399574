//! `thermograd demo ion-pair --quick` end to end: it writes every output file, and the
//! numbers in them are sane — checked here from the files alone, with their own
//! arithmetic: the GP and MBAR profiles agree within their error bars at most points,
//! the surrogates' held-out errors are within the bounds of the issue, the plots are
//! SVG drawings.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("thermograd-demo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Header and rows of a CSV file (lines starting with `#` skipped); fields that are not
/// numbers become NaN.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect::<Vec<_>>();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{}: ragged row", path.display());
    }
    (header, rows)
}

fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<f64> {
    let k = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter()
        .map(|r| r[k].parse::<f64>().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn quick_ion_pair_demo_writes_sane_outputs() {
    let out = tmpdir("quick");
    let run = bin()
        .args([
            "demo",
            "ion-pair",
            "--quick",
            "--no-progress",
            "--seed",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("free-energy profiles along the ion–ion distance"),
        "{stdout}"
    );
    assert!(stdout.contains("GP (surrogate CV)"), "{stdout}");

    for f in [
        "profiles_gp.csv",
        "profile_mbar_analytic.csv",
        "profile_mbar_surrogate.csv",
        "mean_forces_analytic.csv",
        "mean_forces_surrogate.csv",
        "parity_distance.csv",
        "parity_coordination.csv",
        "jacobian_errors_distance.csv",
        "jacobian_errors_coordination.csv",
        "training_distance.csv",
        "training_coordination.csv",
        "surrogates.csv",
        "features.csv",
        "distance_surrogate.tgnn",
        "coordination_surrogate.tgnn",
        "free_energy.svg",
        "parity.svg",
        "jacobian_errors.svg",
        "report.json",
        "summary.txt",
    ] {
        let p = out.join(f);
        assert!(
            std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false),
            "{} missing or empty",
            p.display()
        );
    }
    for f in ["free_energy.svg", "parity.svg", "jacobian_errors.svg"] {
        let svg = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{f}"
        );
        assert!(svg.contains("<polyline") || svg.contains("<path") || svg.contains("<rect"));
    }

    // GP profiles: finite, minimum 0, non-negative standard deviations.
    let (h, rows) = read_csv(&out.join("profiles_gp.csv"));
    let r = column(&h, &rows, "r");
    let gp = column(&h, &rows, "gp_analytic");
    let gp_std = column(&h, &rows, "gp_analytic_std");
    assert!(r.windows(2).all(|w| w[1] > w[0]));
    assert!(gp.iter().chain(&gp_std).all(|v| v.is_finite() && *v >= 0.0));
    assert!(gp.contains(&0.0));

    // MBAR against GP at the bin centres: remove the best constant offset (weighted by
    // the combined variance), then count points within two combined standard errors.
    let (h, rows) = read_csv(&out.join("profile_mbar_analytic.csv"));
    let x = column(&h, &rows, "r");
    let f = column(&h, &rows, "free_energy");
    let s = column(&h, &rows, "std_err");
    let mut pairs = Vec::new();
    for i in 0..x.len() {
        if !(f[i].is_finite() && s[i].is_finite()) || x[i] < r[0] || x[i] > r[r.len() - 1] {
            continue;
        }
        let j = r.partition_point(|&v| v <= x[i]).clamp(1, r.len() - 1);
        let t = (x[i] - r[j - 1]) / (r[j] - r[j - 1]);
        let g = gp[j - 1] + t * (gp[j] - gp[j - 1]);
        let gs = gp_std[j - 1] + t * (gp_std[j] - gp_std[j - 1]);
        pairs.push((f[i] - g, s[i] * s[i] + gs * gs + 1e-6));
    }
    assert!(pairs.len() >= 20, "{} comparable points", pairs.len());
    let w: f64 = pairs.iter().map(|(_, v)| 1.0 / v).sum();
    let offset = pairs.iter().map(|(d, v)| d / v).sum::<f64>() / w;
    let within = pairs
        .iter()
        .filter(|(d, v)| (d - offset).abs() <= 2.0 * v.sqrt())
        .count() as f64
        / pairs.len() as f64;
    assert!(within >= 0.7, "only {:.0} % within 2σ", 100.0 * within);

    // Surrogate accuracy on held-out frames, from the table and from the parity data.
    let (h, rows) = read_csv(&out.join("surrogates.csv"));
    let rel = column(&h, &rows, "relative_rmse");
    let cv: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let data: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    let find = |c: &str, d: &str| {
        (0..rows.len())
            .find(|&i| cv[i] == c && data[i] == d)
            .unwrap_or_else(|| panic!("no row {c}/{d}"))
    };
    assert!(rel[find("distance", "simulation")] < 0.02);
    assert!(rel[find("coordination", "simulation")] < 0.05);
    let (h, rows) = read_csv(&out.join("parity_distance.csv"));
    let reference = column(&h, &rows, "reference");
    let predicted = column(&h, &rows, "surrogate");
    let n = reference.len() as f64;
    let rmse = (reference
        .iter()
        .zip(&predicted)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let range = reference.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - reference.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!((rmse / range - rel[find("distance", "simulation")]).abs() < 1e-4);
    // The sampled distances span the umbrella range.
    assert!(range > 1.0, "distance range {range}");

    // The Jacobian-error histogram is a density: it integrates to the fraction of the
    // values inside its range.
    let (h, rows) = read_csv(&out.join("jacobian_errors_distance.csv"));
    let lo = column(&h, &rows, "lower");
    let hi = column(&h, &rows, "upper");
    let density = column(&h, &rows, "density");
    let mass: f64 = (0..lo.len()).map(|i| (hi[i] - lo[i]) * density[i]).sum();
    assert!(mass > 0.9 && mass <= 1.0 + 1e-4, "{mass}"); // 7-digit CSV values

    // The models load back.
    let bytes = std::fs::read(out.join("distance_surrogate.tgnn")).unwrap();
    assert!(bytes.starts_with(b"TGRDNN"));
}

#[test]
fn settings_round_trip_through_toml_and_bad_ones_are_reported() {
    let dir = tmpdir("config");
    let printed = bin()
        .args(["demo", "ion-pair", "--quick", "--print-config"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(text.contains("ion_charge"), "{text}");
    let path = dir.join("ion_pair.toml");
    std::fs::write(&path, &text).unwrap();
    let again = bin()
        .args(["demo", "ion-pair", "--print-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);

    // A setting that does not fit the box is an error that says so, before any work.
    let bad = text.replace("coulomb_cutoff = 2.5", "coulomb_cutoff = 9.0");
    assert_ne!(bad, text, "the quick settings have coulomb_cutoff = 2.5");
    std::fs::write(&path, bad).unwrap();
    let run = bin()
        .args(["demo", "ion-pair", "--no-progress", "--config"])
        .arg(&path)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("coulomb_cutoff"), "{err}");
}
