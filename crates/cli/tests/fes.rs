//! `thermograd fes gpr` end to end: CSV in, surface out, errors that name the line.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_thermograd"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("thermograd-fes-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic standard normals (64-bit LCG + Box–Muller); the CLI crate has no rand.
struct Normals(u64);
impl Normals {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn double_well(x: f64) -> (f64, f64) {
    (
        5.0 * (x * x - 1.0).powi(2) + x,
        20.0 * x * (x * x - 1.0) + 1.0,
    )
}

fn read_csv(path: &PathBuf) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn double_well_with_variances_and_kt() {
    let dir = tmpdir("dw");
    let input = dir.join("in.csv");
    let output = dir.join("out.csv");
    let mut rng = Normals(7);
    let mut csv = String::from("x1,g1,v1\n");
    for _ in 0..100 {
        let x = -1.7 + 3.4 * rng.uniform();
        csv += &format!("{x},{},1.0\n", double_well(x).1 + rng.normal());
    }
    std::fs::write(&input, csv).unwrap();
    let kt = 2.0;
    let out = bin()
        .args(["fes", "gpr", "--input"])
        .arg(&input)
        .args(["--grid", "-1.7:1.7:69", "--output"])
        .arg(&output)
        .args(["--kt", "2.0", "--json-summary"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, rows) = read_csv(&output);
    assert_eq!(header, ["x1", "free_energy", "std"]);
    assert_eq!(rows.len(), 69);
    assert!((rows[0][0] + 1.7).abs() < 1e-12 && (rows[68][0] - 1.7).abs() < 1e-12);
    let min = rows.iter().map(|r| r[1]).fold(f64::INFINITY, f64::min);
    assert_eq!(min, 0.0);
    assert!(rows.iter().all(|r| r[2] >= 0.0 && r[2].is_finite()));
    // Against the exact surface (in units of kT), after the best constant shift.
    let diff: Vec<f64> = rows
        .iter()
        .map(|r| r[1] - double_well(r[0]).0 / kt)
        .collect();
    let mean = diff.iter().sum::<f64>() / diff.len() as f64;
    let rmse = (diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diff.len() as f64).sqrt();
    assert!(rmse < 0.2 / kt, "RMSE {rmse} kT");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["kernel"], "se");
    assert_eq!(summary["energy_unit"], "kT");
    assert!(summary["log_marginal_likelihood"]
        .as_f64()
        .unwrap()
        .is_finite());
    assert!(summary["hyperparameters"]["variance"].as_f64().unwrap() > 0.0);
    assert!(
        summary["hyperparameters"]["length_scale_1"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(summary["noise_floor"].as_f64().unwrap() >= 0.0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn two_dimensions_periodic_without_variances() {
    let dir = tmpdir("2d");
    let input = dir.join("in.csv");
    let output = dir.join("out.csv");
    let mut rng = Normals(3);
    // A(φ, ψ) = cos φ + 0.5 cos(2ψ) + 0.3 cos(φ − ψ), angles in radians.
    let mut csv = String::from("# dihedrals\ng2,x1,x2,g1\n");
    for _ in 0..120 {
        let (p, s) = (
            std::f64::consts::PI * (2.0 * rng.uniform() - 1.0),
            std::f64::consts::PI * (2.0 * rng.uniform() - 1.0),
        );
        let g1 = -p.sin() - 0.3 * (p - s).sin() + 0.1 * rng.normal();
        let g2 = -(2.0 * s).sin() + 0.3 * (p - s).sin() + 0.1 * rng.normal();
        csv += &format!("{g2},{p},{s},{g1}\n");
    }
    std::fs::write(&input, csv).unwrap();
    let out = bin()
        .args(["fes", "gpr", "--kernel", "periodic", "--input"])
        .arg(&input)
        .args([
            "--grid",
            "-3.14159:3.14159:13,-3.14159:3.14159:11",
            "--output",
        ])
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, rows) = read_csv(&output);
    assert_eq!(header, ["x1", "x2", "free_energy", "std"]);
    assert_eq!(rows.len(), 143);
    // Last dimension runs fastest.
    assert_eq!(rows[0][0], rows[1][0]);
    assert!(rows[1][1] > rows[0][1]);
    let a = |p: f64, s: f64| p.cos() + 0.5 * (2.0 * s).cos() + 0.3 * (p - s).cos();
    let diff: Vec<f64> = rows.iter().map(|r| r[2] - a(r[0], r[1])).collect();
    let mean = diff.iter().sum::<f64>() / diff.len() as f64;
    let rmse = (diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diff.len() as f64).sqrt();
    assert!(rmse < 0.1, "RMSE {rmse}");
    std::fs::remove_dir_all(dir).ok();
}

fn run_err(csv: &str, grid: &str) -> String {
    let dir = tmpdir(&format!("err{}", csv.len()));
    let input = dir.join("bad.csv");
    std::fs::write(&input, csv).unwrap();
    let out = bin()
        .args(["fes", "gpr", "--input"])
        .arg(&input)
        .args(["--grid", grid, "--output"])
        .arg(dir.join("out.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!dir.join("out.csv").exists());
    std::fs::remove_dir_all(dir).ok();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn errors_name_the_file_and_line() {
    let e = run_err("x1,g1\n0.0,1.0\n0.5,abc\n", "0:1:5");
    assert!(e.contains("bad.csv:3") && e.contains("abc"), "{e}");
    let e = run_err("x1,g1\n0.0,1.0\n0.5,NaN\n", "0:1:5");
    assert!(e.contains("bad.csv:3") && e.contains("non-finite"), "{e}");
    let e = run_err("x1,g1\n0.0,1.0\n0.5\n", "0:1:5");
    assert!(
        e.contains("bad.csv:3") && e.contains("expected 2 fields"),
        "{e}"
    );
    let e = run_err("x1,y1\n0.0,1.0\n", "0:1:5");
    assert!(e.contains("bad.csv:1") && e.contains("y1"), "{e}");
    let e = run_err("x1,x2,g1\n0.0,1.0,1.0\n", "0:1:5,0:1:5");
    assert!(e.contains("bad.csv:1") && e.contains("g1..g2"), "{e}");
    let e = run_err("x1,g1\n0.0,1.0\n", "0:1:5,0:1:5");
    assert!(
        e.contains("2 dimensions") && e.contains("1 coordinate"),
        "{e}"
    );
    let e = run_err("x1,g1\n0.0,1.0\n", "1:0:5");
    assert!(e.contains("--grid"), "{e}");
    let e = run_err("x1,g1,v1\n0.0,1.0,-1\n", "0:1:5");
    assert!(
        e.contains("bad.csv:2") && e.contains("negative variance"),
        "{e}"
    );
    let e = run_err("x1,g1\n", "0:1:5");
    assert!(e.contains("no data rows"), "{e}");
}
