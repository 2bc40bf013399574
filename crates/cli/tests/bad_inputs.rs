//! Malformed input files given to the `thermograd` binary (issue #11), one test per case,
//! from the corpus in `tests/data/bad/` at the workspace root. Each must fail with exit
//! status 1 (an error, not a panic's 101) and a message that names the file and the
//! problem.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/bad")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_inputs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs the binary with `args` (`{bad}/name` is replaced by the corpus path), expects a
/// clean failure whose stderr contains the corpus file's name and every needle.
fn fails_with(args: &[&str], file: &str, needles: &[&str]) {
    let path = bad(file);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{bad}", &path.display().to_string()))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_thermograd"))
        .args(&args)
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: expected a clean error (status 1), stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(file),
        "the message does not name {file}:\n{stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "`{n}` missing from:\n{stderr}");
    }
}

#[test]
fn estimate_exp_two_columns() {
    fails_with(
        &["estimate", "exp", "--forward", "{bad}"],
        "works_two_columns.txt",
        &[":3:", "expected one value per line, found '1.2 0.3'"],
    );
}

#[test]
fn estimate_exp_nan() {
    fails_with(
        &["estimate", "exp", "--forward", "{bad}"],
        "works_nan.txt",
        &[":3:", "value 'NaN' is not finite"],
    );
}

#[test]
fn estimate_exp_empty() {
    fails_with(
        &["estimate", "exp", "--forward", "{bad}"],
        "works_empty.txt",
        &["no values found"],
    );
}

#[test]
fn estimate_bar_garbage_in_reverse() {
    let good = scratch("good_works.txt");
    std::fs::write(&good, "0.1\n0.2\n0.3\n").unwrap();
    fails_with(
        &[
            "estimate",
            "bar",
            "--forward",
            good.to_str().unwrap(),
            "--reverse",
            "{bad}",
        ],
        "works_garbage.txt",
        &[":3:", "cannot parse 'abc' as a number"],
    );
}

#[test]
fn estimate_mbar_ragged_rows() {
    fails_with(
        &["estimate", "mbar", "--u-kn", "{bad}", "--n-k", "2,2"],
        "u_kn_ragged.txt",
        &[":2:", "row has 3 values but the first row has 4"],
    );
}

#[test]
fn estimate_mbar_nan() {
    fails_with(
        &["estimate", "mbar", "--u-kn", "{bad}", "--n-k", "2,2"],
        "u_kn_nan.txt",
        &[":2:", "'nan' is not allowed"],
    );
}

#[test]
fn estimate_mbar_empty() {
    fails_with(
        &["estimate", "mbar", "--u-kn", "{bad}", "--n-k", "2,2"],
        "u_kn_empty.txt",
        &["no rows found"],
    );
}

fn fes(file: &str, needles: &[&str]) {
    let out = scratch(&format!("{file}.fes.csv"));
    fails_with(
        &[
            "fes",
            "gpr",
            "--input",
            "{bad}",
            "--grid",
            "0.5:2:10",
            "--output",
            out.to_str().unwrap(),
        ],
        file,
        needles,
    );
    assert!(!out.exists(), "no output may be written for bad input");
}

#[test]
fn fes_gpr_nan_gradient() {
    fes(
        "mean_forces_nan.csv",
        &[":3:", "column g1", "non-finite value NaN"],
    );
}

#[test]
fn fes_gpr_wrong_column_count() {
    fes(
        "mean_forces_wrong_columns.csv",
        &[":3:", "expected 2 fields, found 3"],
    );
}

#[test]
fn fes_gpr_empty() {
    fes("mean_forces_empty.csv", &["empty file"]);
}

#[test]
fn fes_gpr_header_only() {
    fes("mean_forces_header_only.csv", &["no data rows"]);
}

#[test]
fn fes_gpr_gradient_columns_do_not_match_coordinates() {
    fes(
        "mean_forces_bad_header.csv",
        &["g1..g1 must each appear once"],
    );
}

#[test]
fn umbrella_unknown_key() {
    let out = scratch("umbrella_unknown");
    fails_with(
        &[
            "umbrella",
            "--config",
            "{bad}",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "umbrella_unknown_key.toml",
        &["unknown field `kapa`"],
    );
}

#[test]
fn umbrella_missing_section() {
    let out = scratch("umbrella_missing");
    fails_with(
        &[
            "umbrella",
            "--config",
            "{bad}",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "umbrella_missing_windows.toml",
        &["missing field `windows`"],
    );
}

#[test]
fn metad_unknown_key() {
    let out = scratch("metad_unknown");
    fails_with(
        &[
            "metad",
            "--config",
            "{bad}",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "metad_unknown_key.toml",
        &["unknown field `biasfactor`"],
    );
}

#[test]
fn metad_missing_section() {
    let out = scratch("metad_missing");
    fails_with(
        &[
            "metad",
            "--config",
            "{bad}",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "metad_missing_sampling.toml",
        &["missing field `sampling`"],
    );
}
