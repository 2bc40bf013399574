//! Project automation, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `ci`: exactly what `.ci/run` runs: formatting check, clippy with warnings denied,
//!   the README's test command, and `.ci/mpi` (the MPI feature on 2 ranks).
//! - `slow`: the test suite with `THERMOGRAD_SLOW=1`, which enables heavy validation.
//! - `bench [--quick] [--reps N] [SUITE…]`: thermograd against its peers (LAMMPS,
//!   OpenMM, JAX-MD, pymbar, scikit-learn, numpy), interleaved, with medians, ratios,
//!   answer checks and a Markdown report in `<target>/bench-report.md` (see `bench.rs`).
//!   `bench --criterion [ARGS…]` runs the criterion benchmarks instead.
//! - `scale [--quick] [--max N] [CASE…]`: time, throughput and peak memory of the
//!   neighbor list, LJ MD, MBAR and the sparse GP at N = 10³ … 10⁶, with answer checks
//!   and a Markdown table in `<target>/scale.md` (see `scale.rs`).

mod bench;
mod json;
mod scale;
mod suites;

use std::process::{Command, ExitCode};

/// The README's test command. `.ci/run` and `cargo xtask ci` both run it.
const TEST_ARGS: &[&str] = &["test", "--workspace"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "ci" => ci(),
        "slow" => slow(rest),
        "bench" => bench(rest),
        "scale" => scale::run(rest),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => Err(format!("unknown task `{other}`; run `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <task>\n\n\
         tasks:\n  \
         ci     fmt --check, clippy -D warnings, the test suite and .ci/mpi (what .ci/run runs)\n  \
         slow   the test suite with THERMOGRAD_SLOW=1 (heavy validation)\n  \
         bench  [--quick] [--reps N] [SUITE...]: thermograd vs peers, interleaved, with\n         \
         answer checks; suites md neighbors estimators gpr nn (default all);\n         \
         report in target/bench-report.md\n  \
         bench --criterion [ARGS...]: the criterion benchmarks (ARGS go to `cargo bench`)\n  \
         scale  [--quick] [--max N] [--gp-max N] [--threads T] [--rss time|poll] [--out PATH]\n         \
         [CASE...]: time and peak memory at N = 10^3 ... 10^6 (default max 10^6, --quick\n         \
         10^4); cases nl md mbar gp; table in target/scale.md"
    );
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed with {status}", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    // Same as .ci/run: incremental caches only cost disk in a one-off build.
    let env = [("CARGO_INCREMENTAL", "0")];
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &env,
    )?;
    cargo(TEST_ARGS, &env)?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/mpi");
    let status = Command::new(script)
        .status()
        .map_err(|e| format!("could not start .ci/mpi: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`.ci/mpi` failed with {status}"))
    }
}

fn slow(rest: &[String]) -> Result<(), String> {
    let mut args: Vec<&str> = vec!["test", "--workspace", "--release"];
    args.extend(rest.iter().map(String::as_str));
    cargo(&args, &[("THERMOGRAD_SLOW", "1")])
}

fn bench(rest: &[String]) -> Result<(), String> {
    match rest.first().map(String::as_str) {
        Some("--criterion") => criterion(&rest[1..]),
        _ => bench::run(rest),
    }
}

fn criterion(rest: &[String]) -> Result<(), String> {
    let mut args: Vec<&str> = vec!["bench", "--workspace"];
    if !rest.is_empty() {
        args.push("--");
        args.extend(rest.iter().map(String::as_str));
    }
    cargo(&args, &[])
}
