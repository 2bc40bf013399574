//! `cargo xtask scale [--quick] [--max N] [--gp-max N] [--threads T] [--rss time|poll]
//! [--out PATH] [CASE…]`: how time and memory grow with system size, N = 10³ … 10⁶.
//!
//! For every power of ten up to `--max` (default 10⁶; `--quick` stops at 10⁴) each case
//! runs as its own release-built example process; the harness records the process's
//! wall time (start-up and input generation included), the throughput the example timed
//! itself, the process's peak resident set size, and a check of its answer against a
//! number it did not compute:
//!
//! - `nl`: Verlet-list build (cutoff 2.5 + skin 0.3, half list) of a perturbed fcc
//!   crystal of exactly N atoms at ρ* = 0.8442 (`nl_scale`); the number of pairs must
//!   equal N times half the number of fcc lattice vectors shorter than 2.8.
//! - `md`: NVE molecular dynamics of the LAMMPS `bench/in.lj` system (`lj_bench`), which
//!   needs N = 4n³: the smallest such N at or above the target is used (1,372, 10,976,
//!   108,000, 1,000,188). The step-0 energy must match LAMMPS' lattice energy from
//!   `references.md` plus the exact kinetic energy, and the energy must be conserved.
//! - `mbar`: MBAR on N samples of 10 harmonic oscillators (`mbar_scale`); every
//!   Δf(0→k) must lie within 4 of its standard errors of the analytic value.
//! - `gp`: the projected-process GP with 400 inducing points on N noisy gradients of
//!   Müller–Brown ×0.1 (`gp_scale`), up to `--gp-max` (default 10⁵, the size issue #11
//!   asks for); the reconstructed surface must be within 0.1 kT RMS of the exact one.
//!
//! Peak memory is the child's maximum resident set size as the kernel accounts it
//! (`wait4`), read through GNU `/usr/bin/time -f %M` when that is installed
//! (`--rss time`, the default then); otherwise (`--rss poll`) the harness polls the
//! child's `VmHWM` in `/proc/<pid>/status` every 5 ms, which can miss growth in the
//! last few milliseconds and is therefore marked as a lower bound (`≥`).
//!
//! Prints a Markdown table and writes it to `<target>/scale.md` (or `--out PATH`). A
//! case that fails or whose check fails makes the command fail after the others ran.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{cargo, fmt_secs, machine, num, result_line, target_dir};
use crate::json::Json;

/// Case names, in the order they run at each size.
pub const CASES: &[&str] = &["nl", "md", "mbar", "gp"];

/// fcc number density of the in.lj system (σ⁻³).
const DENSITY: f64 = 0.8442;
/// Neighbor-list reach: LJ cutoff 2.5 plus skin 0.3 (σ).
const REACH: f64 = 2.8;
/// Potential energy per atom of the perfect fcc lattice at ρ* = 0.8442, LJ truncated at
/// 2.5 and not shifted (ε): LAMMPS `bench/in.lj` step 0, `references.md`.
const LAMMPS_FCC_ENERGY: f64 = -6.7733681;
/// Initial temperature of in.lj (ε/k_B).
const LJ_TEMPERATURE: f64 = 1.44;
/// Harmonic-oscillator states of the MBAR case.
const MBAR_STATES: usize = 10;
/// Inducing points of the GP case.
const GP_INDUCING: usize = 400;

/// How to measure the children's peak memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RssMode {
    /// `/usr/bin/time -f %M` (exact: the kernel's `ru_maxrss` from `wait4`).
    Time,
    /// Poll `/proc/<pid>/status` `VmHWM` (a lower bound).
    Poll,
}

/// Options of `cargo xtask scale`.
#[derive(Debug)]
struct Options {
    max: u64,
    gp_max: u64,
    threads: Option<usize>,
    rss: Option<RssMode>,
    out: Option<PathBuf>,
    cases: Vec<String>,
}

/// A count given as digits, `1e6` or `10^6`; it must be a power of ten in 10³ … 10⁶.
fn parse_count(s: &str) -> Result<u64, String> {
    let exp = if let Some(e) = s.strip_prefix("1e").or_else(|| s.strip_prefix("10^")) {
        e.parse::<u32>().ok()
    } else {
        s.parse::<u64>()
            .ok()
            .and_then(|v| (3..=6).find(|&e| 10u64.pow(e) == v))
    };
    match exp {
        Some(e) if (3..=6).contains(&e) => Ok(10u64.pow(e)),
        _ => Err(format!(
            "`{s}` is not one of 1000, 10000, 100000, 1000000 (or 1e3 … 1e6)"
        )),
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        max: 1_000_000,
        gp_max: 100_000,
        threads: None,
        rss: None,
        out: None,
        cases: Vec::new(),
    };
    let mut quick = false;
    let mut max_given = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "--quick" => quick = true,
            "--max" => {
                o.max = parse_count(&value("--max")?)?;
                max_given = true;
            }
            "--gp-max" => o.gp_max = parse_count(&value("--gp-max")?)?,
            "--threads" => {
                let v = value("--threads")?;
                o.threads = Some(
                    v.parse()
                        .ok()
                        .filter(|&t: &usize| t > 0)
                        .ok_or("--threads needs a positive integer")?,
                );
            }
            "--rss" => {
                o.rss = Some(match value("--rss")?.as_str() {
                    "time" => RssMode::Time,
                    "poll" => RssMode::Poll,
                    other => return Err(format!("--rss takes `time` or `poll`, not `{other}`")),
                })
            }
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            s if CASES.contains(&s) => {
                if !o.cases.iter().any(|c| c == s) {
                    o.cases.push(s.to_owned());
                }
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; cases: {}",
                    CASES.join(" ")
                ))
            }
        }
    }
    if quick {
        if max_given && o.max > 10_000 {
            return Err("--quick stops at 10⁴; drop it or --max".to_owned());
        }
        o.max = o.max.min(10_000);
    }
    if o.cases.is_empty() {
        o.cases = CASES.iter().map(|s| s.to_string()).collect();
    }
    Ok(o)
}

/// 10³, 10⁴, … up to `max`.
fn sizes(max: u64) -> Vec<u64> {
    (3..=6)
        .map(|e| 10u64.pow(e))
        .filter(|&n| n <= max)
        .collect()
}

/// The smallest `n` with `4n³ ≥ atoms`: in.lj's fcc crystal of `n³` cubic cells.
fn fcc_cells_at_least(atoms: u64) -> u64 {
    (1..).find(|&n: &u64| 4 * n * n * n >= atoms).unwrap_or(1)
}

/// MD steps for `atoms`: about 5·10⁶ atom-steps, between 10 and 1000 steps.
fn md_steps(atoms: u64) -> u64 {
    (5_000_000 / atoms).clamp(10, 1000)
}

/// Distances and multiplicities of the coordination shells of an fcc lattice with
/// cubic lattice constant `a`, out to `r_max`, nearest first.
fn fcc_shells(a: f64, r_max: f64) -> Vec<(f64, usize)> {
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let reach = (r_max / a).ceil() as i64 + 1;
    let mut dist: Vec<f64> = Vec::new();
    for i in -reach..=reach {
        for j in -reach..=reach {
            for k in -reach..=reach {
                for b in &basis {
                    let v = [i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]];
                    let r = a * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                    if r > 0.0 && r <= r_max {
                        dist.push(r);
                    }
                }
            }
        }
    }
    dist.sort_by(f64::total_cmp);
    let mut shells: Vec<(f64, usize)> = Vec::new();
    for r in dist {
        match shells.last_mut() {
            Some((r0, count)) if (r - *r0).abs() < 1e-9 * a => *count += 1,
            _ => shells.push((r, 1)),
        }
    }
    shells
}

/// For the perturbed fcc crystal of the `nl` case: the number of half-list pairs per
/// atom within `REACH` of the perfect lattice, and a perturbation amplitude per
/// coordinate small enough that no pair crosses `REACH` (a pair distance changes by at
/// most twice the largest displacement, `2√3·amp`, which is kept below 90 % of the gap
/// between `REACH` and the nearest shell on either side).
fn nl_expectation() -> (f64, f64) {
    let a = (4.0 / DENSITY).cbrt();
    let shells = fcc_shells(a, REACH + a);
    let inside: usize = shells.iter().filter(|s| s.0 < REACH).map(|s| s.1).sum();
    let below = shells
        .iter()
        .filter(|s| s.0 < REACH)
        .map(|s| s.0)
        .fold(0.0, f64::max);
    let above = shells
        .iter()
        .filter(|s| s.0 >= REACH)
        .map(|s| s.0)
        .fold(f64::INFINITY, f64::min);
    let gap = (REACH - below).min(above - REACH);
    (inside as f64 / 2.0, 0.9 * gap / (2.0 * 3f64.sqrt()))
}

/// Total energy per atom of in.lj at step 0 (ε): the lattice energy plus the kinetic
/// energy of exactly T = 1.44 with `3N − 3` degrees of freedom.
fn lj_initial_energy(atoms: u64) -> f64 {
    let n = atoms as f64;
    LAMMPS_FCC_ENERGY + 1.5 * LJ_TEMPERATURE * (n - 1.0) / n
}

/// A check of a child's record: `Ok(note)` or `Err(what is wrong)`.
type Check = Box<dyn Fn(&Json) -> Result<String, String>>;

/// One child process to run and how to read it.
struct Job {
    case: &'static str,
    target: u64,
    /// System size actually used (atoms, samples, observations).
    size: u64,
    program: PathBuf,
    args: Vec<String>,
    /// Throughput from the record, with its unit.
    rate: fn(&Json) -> Result<(f64, &'static str), String>,
    /// Checks the record; Ok(message) or Err(message).
    check: Check,
}

/// What one child run gave.
struct Measured {
    stdout: String,
    stderr: String,
    success: bool,
    status: String,
    wall: f64,
    peak_kib: Option<u64>,
}

/// `VmHWM` (KiB) from the text of `/proc/<pid>/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The peak RSS (KiB) that `/usr/bin/time -f %M -o FILE` wrote: the last line that is a
/// number (a failing command adds a "Command exited …" line before it).
fn time_output_kib(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|l| l.trim().parse().ok())
}

fn run_child(
    program: &Path,
    args: &[String],
    rss: RssMode,
    scratch: &Path,
) -> Result<Measured, String> {
    let start = Instant::now();
    match rss {
        RssMode::Time => {
            let out = Command::new("/usr/bin/time")
                .args(["-f", "%M", "-o"])
                .arg(scratch)
                .arg(program)
                .args(args)
                .output()
                .map_err(|e| format!("cannot start /usr/bin/time {}: {e}", program.display()))?;
            let wall = start.elapsed().as_secs_f64();
            let text = std::fs::read_to_string(scratch).unwrap_or_default();
            let _ = std::fs::remove_file(scratch);
            Ok(Measured {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                success: out.status.success(),
                status: out.status.to_string(),
                wall,
                peak_kib: time_output_kib(&text),
            })
        }
        RssMode::Poll => {
            let mut child = Command::new(program)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
            let drain = |mut pipe: Box<dyn Read + Send>| {
                std::thread::spawn(move || {
                    let mut s = String::new();
                    let _ = pipe.read_to_string(&mut s);
                    s
                })
            };
            let out = drain(Box::new(child.stdout.take().ok_or("no stdout pipe")?));
            let err = drain(Box::new(child.stderr.take().ok_or("no stderr pipe")?));
            let status_path = format!("/proc/{}/status", child.id());
            let mut peak: Option<u64> = None;
            let status = loop {
                if let Some(kib) = std::fs::read_to_string(&status_path)
                    .ok()
                    .as_deref()
                    .and_then(vm_hwm_kib)
                {
                    peak = Some(peak.map_or(kib, |p| p.max(kib)));
                }
                match child.try_wait() {
                    Ok(Some(status)) => break status,
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    Err(e) => return Err(format!("waiting for {}: {e}", program.display())),
                }
            };
            let wall = start.elapsed().as_secs_f64();
            Ok(Measured {
                stdout: out.join().unwrap_or_default(),
                stderr: err.join().unwrap_or_default(),
                success: status.success(),
                status: status.to_string(),
                wall,
                peak_kib: peak,
            })
        }
    }
}

/// Whether `/usr/bin/time -f %M` works here (GNU time; BusyBox and BSD differ).
fn time_works(scratch: &Path) -> bool {
    let ok = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(scratch)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let kib = std::fs::read_to_string(scratch)
        .ok()
        .as_deref()
        .and_then(time_output_kib);
    let _ = std::fs::remove_file(scratch);
    ok && kib.is_some_and(|k| k > 0)
}

/// `(package, example)` of each case.
fn example(case: &str) -> (&'static str, &'static str) {
    match case {
        "nl" => ("thermograd-neighbors", "nl_scale"),
        "md" => ("thermograd-md", "lj_bench"),
        "mbar" => ("thermograd-estimators", "mbar_scale"),
        _ => ("thermograd-gpr", "gp_scale"),
    }
}

/// Builds the cases' examples in release mode, one cargo call per package.
fn build(root: &Path, cases: &[String]) -> Result<(), String> {
    for c in cases {
        let (package, ex) = example(c);
        let args = [
            "build",
            "--release",
            "--quiet",
            "-p",
            package,
            "--example",
            ex,
        ];
        eprintln!("xtask: cargo {}", args.join(" "));
        let status = Command::new(cargo())
            .args(args)
            .current_dir(root)
            .status()
            .map_err(|e| format!("could not start cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building {package}'s example {ex} failed"));
        }
    }
    Ok(())
}

fn jobs(opts: &Options, bin: &Path, threads: usize) -> Vec<Job> {
    let (pairs_per_atom, amp) = nl_expectation();
    let mut jobs = Vec::new();
    for n in sizes(opts.max) {
        for case in CASES.iter().filter(|c| opts.cases.iter().any(|o| o == *c)) {
            let job = match *case {
                "nl" => Job {
                    case: "nl",
                    target: n,
                    size: n,
                    program: bin.join("nl_scale"),
                    args: vec![n.to_string(), format!("{amp:e}"), threads.to_string()],
                    rate: |j| Ok((num(j, "atoms_per_s")?, "atoms/s per build")),
                    check: Box::new(move |j| {
                        let pairs = num(j, "pairs")?;
                        let expected = pairs_per_atom * n as f64;
                        if pairs == expected {
                            Ok(format!(
                                "{pairs:.0} pairs = {pairs_per_atom}·N (fcc shells)"
                            ))
                        } else {
                            Err(format!("{pairs:.0} pairs, fcc shells give {expected:.0}"))
                        }
                    }),
                },
                "md" => {
                    let cells = fcc_cells_at_least(n);
                    let atoms = 4 * cells.pow(3);
                    let steps = md_steps(atoms);
                    Job {
                        case: "md",
                        target: n,
                        size: atoms,
                        program: bin.join("lj_bench"),
                        args: vec![atoms.to_string(), steps.to_string(), threads.to_string()],
                        rate: |j| Ok((num(j, "atom_steps_per_s")?, "atom-steps/s")),
                        check: Box::new(move |j| {
                            let e0 = num(j, "e0")?;
                            let exact = lj_initial_energy(atoms);
                            // references.md gives 8 significant digits.
                            if (e0 - exact).abs() > 1e-6 {
                                return Err(format!("E₀/N = {e0:.7} vs LAMMPS {exact:.7}"));
                            }
                            // Largest excursion of E/N from E₀/N over the samples (every
                            // 100 steps and the last). As the crystal melts, LAMMPS and
                            // thermograd both lose ~2e-3 of it in the first 100 steps at
                            // dt = 0.005; the bound is the one `cargo xtask bench md` uses.
                            let energies =
                                j.nums("energies").ok_or("no `energies` in the result")?;
                            let drift = energies
                                .iter()
                                .map(|e| ((e - e0) / e0.abs()).abs())
                                .fold(0.0, |m, d| if d.is_nan() || d > m { d } else { m });
                            if !drift.is_finite() || drift >= 1e-2 {
                                return Err(format!("|ΔE/E₀| = {drift:.1e} over {steps} steps"));
                            }
                            Ok(format!(
                                "{steps} steps; E₀/N − LAMMPS = {:.0e}; max |ΔE/E₀| = {drift:.1e}",
                                e0 - exact
                            ))
                        }),
                    }
                }
                "mbar" => Job {
                    case: "mbar",
                    target: n,
                    size: n,
                    program: bin.join("mbar_scale"),
                    args: vec![n.to_string(), MBAR_STATES.to_string()],
                    rate: |j| Ok((num(j, "samples_per_s")?, "samples/s")),
                    check: Box::new(|j| {
                        let z = num(j, "max_abs_z")?;
                        let it = num(j, "iterations")?;
                        let msg = format!(
                            "K = {MBAR_STATES}; max |Δf − exact|/σ = {z:.2}; {it:.0} iterations"
                        );
                        if z < 4.0 {
                            Ok(msg)
                        } else {
                            Err(msg)
                        }
                    }),
                },
                _ => {
                    if n > opts.gp_max {
                        continue;
                    }
                    Job {
                        case: "gp",
                        target: n,
                        size: n,
                        program: bin.join("gp_scale"),
                        args: vec![n.to_string(), GP_INDUCING.to_string(), threads.to_string()],
                        rate: |j| Ok((num(j, "obs_per_s")?, "gradients/s")),
                        check: Box::new(|j| {
                            let rmse = num(j, "rmse")?;
                            let z = num(j, "z_rms")?;
                            let msg = format!(
                                "M = {GP_INDUCING}; RMSE {rmse:.4} kT vs exact; z rms {z:.2}"
                            );
                            if rmse <= 0.1 {
                                Ok(msg)
                            } else {
                                Err(msg)
                            }
                        }),
                    }
                }
            };
            jobs.push(job);
        }
    }
    jobs
}

/// The 1-minute load average.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One table row.
struct Row {
    target: u64,
    case: &'static str,
    size: u64,
    wall: String,
    rate: String,
    rss: String,
    per_item: String,
    load: String,
    check: String,
}

/// Runs `cargo xtask scale`.
pub fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_options(args)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_owned();
    let target = target_dir(&root)?;
    std::fs::create_dir_all(&target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let scratch = target.join(format!("scale-rss-{}.txt", std::process::id()));
    let rss = match opts.rss {
        Some(RssMode::Time) if !time_works(&scratch) => {
            return Err("--rss time: /usr/bin/time -f %M does not work here".to_owned())
        }
        Some(mode) => mode,
        None if time_works(&scratch) => RssMode::Time,
        None => RssMode::Poll,
    };
    let threads = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    build(&root, &opts.cases)?;
    let bin = target.join("release").join("examples");
    let started = Instant::now();
    let load_start = load_average();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for job in jobs(&opts, &bin, threads) {
        let load = load_average();
        eprintln!(
            "xtask: scale {} N = {} ({} {})",
            job.case,
            thousands(job.size),
            job.program.display(),
            job.args.join(" ")
        );
        let outcome = run_child(&job.program, &job.args, rss, &scratch).and_then(|m| {
            if !m.success {
                let tail: Vec<&str> = m.stderr.lines().rev().take(3).collect();
                return Err(format!(
                    "exited with {}: {}",
                    m.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            let record = result_line(&m.stdout)?;
            Ok((m, record))
        });
        let (m, record) = match outcome {
            Ok(v) => v,
            Err(e) => {
                eprintln!("  FAILED: {e}");
                failures.push(format!("{} N = {}: {e}", job.case, job.size));
                rows.push(Row {
                    target: job.target,
                    case: job.case,
                    size: job.size,
                    wall: "—".to_owned(),
                    rate: "—".to_owned(),
                    rss: "—".to_owned(),
                    per_item: "—".to_owned(),
                    load: load.map_or("?".to_owned(), |l| format!("{l:.1}")),
                    check: format!("FAILED: {e}"),
                });
                continue;
            }
        };
        let rate = match (job.rate)(&record) {
            Ok((v, unit)) => format!("{v:.3e} {unit}"),
            Err(e) => e,
        };
        let check = match (job.check)(&record) {
            Ok(msg) => format!("ok: {msg}"),
            Err(msg) => {
                failures.push(format!(
                    "{} N = {}: check failed: {msg}",
                    job.case, job.size
                ));
                format!("FAIL: {msg}")
            }
        };
        let bound = if rss == RssMode::Poll { "≥ " } else { "" };
        let (rss_cell, per_item) = match m.peak_kib {
            Some(kib) => (
                format!("{bound}{:.1}", kib as f64 / 1024.0),
                format!("{bound}{:.0}", kib as f64 * 1024.0 / job.size as f64),
            ),
            None => ("?".to_owned(), "?".to_owned()),
        };
        eprintln!(
            "  {} | {rate} | peak RSS {rss_cell} MiB | {check}",
            fmt_secs(m.wall)
        );
        rows.push(Row {
            target: job.target,
            case: job.case,
            size: job.size,
            wall: format!("{:.2}", m.wall),
            rate,
            rss: rss_cell,
            per_item,
            load: load.map_or("?".to_owned(), |l| format!("{l:.1}")),
            check,
        });
    }
    let report = markdown(&opts, rss, threads, load_start, &rows, &failures, started);
    let path = opts.out.clone().unwrap_or_else(|| target.join("scale.md"));
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("\n{report}");
    eprintln!("xtask: table written to {}", path.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

fn markdown(
    opts: &Options,
    rss: RssMode,
    threads: usize,
    load_start: Option<f64>,
    rows: &[Row],
    failures: &[String],
    started: Instant,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Scaling with system size (`cargo xtask scale`)\n");
    let _ = writeln!(
        s,
        "{} · {threads} thread{} per case · N up to {} · load average at start {} · {:.0} s in all\n",
        machine(),
        if threads == 1 { "" } else { "s" },
        thousands(opts.max),
        load_start.map_or("?".to_owned(), |l| format!("{l:.2}")),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        s,
        "Wall = the whole child process (start-up and input generation included); throughput \
         = the example's own timer over its computation; peak RSS = {}. `nl`: one Verlet-list \
         build; `md`: in.lj NVE, N = 4n³ ≥ target; `mbar`: K = {MBAR_STATES} states; `gp`: \
         projected process, {GP_INDUCING} inducing points, fit + surface. Load = 1-minute \
         load average when the case started (this machine is shared).\n",
        match rss {
            RssMode::Time => "maximum resident set size of the child (`/usr/bin/time -f %M`)",
            RssMode::Poll => "`VmHWM` polled every 5 ms (a lower bound, marked ≥)",
        }
    );
    let _ = writeln!(
        s,
        "| N | case | size | wall s | throughput | peak RSS MiB | bytes per item | load | check |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    // Grouped by case, so that each case's scaling reads down the table.
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (CASES.iter().position(|c| *c == r.case), r.target));
    for r in sorted {
        let _ = writeln!(
            s,
            "| 10^{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.target.ilog10(),
            r.case,
            thousands(r.size),
            r.wall,
            r.rate,
            r.rss,
            r.per_item,
            r.load,
            r.check.replace('|', "\\|")
        );
    }
    if opts.cases.iter().any(|c| c == "gp") && opts.gp_max < opts.max {
        let _ = writeln!(
            s,
            "\n`gp` stops at N = {} (`--gp-max`).",
            thousands(opts.gp_max)
        );
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nProblems:");
        for line in failures {
            let _ = writeln!(s, "- {line}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&[]).unwrap();
        assert_eq!((o.max, o.gp_max), (1_000_000, 100_000));
        assert_eq!(o.cases, CASES);
        let o = parse_options(&args(&["--quick", "md", "nl", "md"])).unwrap();
        assert_eq!(o.max, 10_000);
        assert_eq!(o.cases, vec!["md", "nl"]);
        let o = parse_options(&args(&["--max", "1e5", "--threads", "1", "--rss", "poll"])).unwrap();
        assert_eq!(
            (o.max, o.threads, o.rss),
            (100_000, Some(1), Some(RssMode::Poll))
        );
        let o = parse_options(&args(&["--out", "x.md", "--gp-max", "10^6"])).unwrap();
        assert_eq!(o.out, Some(PathBuf::from("x.md")));
        assert_eq!(o.gp_max, 1_000_000);
        for bad in [
            &["--max"][..],
            &["--max", "5000"],
            &["--max", "1e7"],
            &["--max", "1e2"],
            &["--threads", "0"],
            &["--rss", "maybe"],
            &["--quick", "--max", "1e6"],
            &["bogus"],
        ] {
            assert!(parse_options(&args(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(parse_count("1000000"), Ok(1_000_000));
        assert_eq!(sizes(100_000), vec![1_000, 10_000, 100_000]);
    }

    #[test]
    fn md_sizes_are_the_smallest_whole_fcc_crystals_at_or_above_the_target() {
        let atoms: Vec<u64> = sizes(1_000_000)
            .into_iter()
            .map(|n| 4 * fcc_cells_at_least(n).pow(3))
            .collect();
        assert_eq!(atoms, vec![1_372, 10_976, 108_000, 1_000_188]);
        assert_eq!(md_steps(1_000_188), 10);
        assert_eq!(md_steps(1_372), 1000);
    }

    /// The textbook fcc coordination shells: 12 at a/√2, 6 at a, 24 at a√(3/2), 12 at
    /// a√2, 24 at a√(5/2), 8 at a√3.
    #[test]
    fn fcc_shells_are_the_textbook_ones() {
        let shells = fcc_shells(1.0, 1.75);
        let counts: Vec<usize> = shells.iter().map(|s| s.1).collect();
        assert_eq!(counts, vec![12, 6, 24, 12, 24, 8]);
        for (s, r2) in shells.iter().zip([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]) {
            assert!((s.0 - f64::sqrt(r2)).abs() < 1e-12, "{s:?}");
        }
        // At ρ* = 0.8442 the reach 2.8 lies between a√(5/2) and a√3: 78 neighbours.
        let (per_atom, amp) = nl_expectation();
        assert_eq!(per_atom, 39.0);
        let a = (4.0 / DENSITY).cbrt();
        let gap = (REACH - a * 2.5f64.sqrt()).min(a * 3f64.sqrt() - REACH);
        assert!(amp > 0.0 && 2.0 * 3f64.sqrt() * amp < gap, "{amp} {gap}");
    }

    #[test]
    fn parsing_memory_reports() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(1234));
        assert_eq!(vm_hwm_kib("Name: x\n"), None);
        assert_eq!(time_output_kib("2048\n"), Some(2048));
        assert_eq!(
            time_output_kib("Command exited with non-zero status 1\n4096\n"),
            Some(4096)
        );
        assert_eq!(time_output_kib(""), None);
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!(thousands(999), "999");
    }

    /// Both ways of measuring see a running process's memory, and its output.
    #[test]
    fn child_runs_report_output_and_peak_memory() {
        let dir = std::env::temp_dir();
        let scratch = dir.join(format!("xtask-scale-test-{}.txt", std::process::id()));
        let sh = PathBuf::from("/bin/sh");
        let script = args(&["-c", "echo RESULT '{\"a\": 1}'; sleep 0.05"]);
        let mut modes = vec![RssMode::Poll];
        if time_works(&scratch) {
            modes.push(RssMode::Time);
        }
        for mode in modes {
            let m = run_child(&sh, &script, mode, &scratch).unwrap();
            assert!(m.success, "{mode:?}: {}", m.status);
            assert_eq!(result_line(&m.stdout).unwrap().num("a"), Some(1.0));
            assert!(m.peak_kib.is_some_and(|k| k > 0), "{mode:?}");
            assert!(m.wall >= 0.05, "{mode:?}");
            assert!(!scratch.exists());
        }
        let fail = run_child(&sh, &args(&["-c", "exit 3"]), RssMode::Poll, &scratch).unwrap();
        assert!(!fail.success);
    }

    /// The checks accept the right answers and reject wrong ones (a pair too few, an
    /// energy that is off or not finite, a z-score too large, a poor surface).
    #[test]
    fn checks_accept_right_and_reject_wrong_answers() {
        let opts = parse_options(&args(&["--max", "1e3"])).unwrap();
        let all = jobs(&opts, Path::new("/nowhere"), 2);
        assert_eq!(
            all.iter().map(|j| (j.case, j.size)).collect::<Vec<_>>(),
            vec![("nl", 1000), ("md", 1372), ("mbar", 1000), ("gp", 1000)]
        );
        let check = |case: &str, record: &str| {
            let job = all.iter().find(|j| j.case == case).unwrap();
            (job.check)(&Json::parse(record).unwrap())
        };
        assert!(check("nl", r#"{"pairs": 39000}"#).is_ok());
        assert!(check("nl", r#"{"pairs": 38999}"#).is_err());
        assert!(check("nl", r#"{}"#).is_err());
        let e0 = lj_initial_energy(1372);
        let md = |e_end: &str| format!(r#"{{"e0": {e0}, "energies": [{e0}, {e_end}]}}"#);
        assert!(check("md", &md(&(e0 * 1.005).to_string())).is_ok());
        assert!(check("md", &md(&(e0 * 1.02).to_string())).is_err());
        assert!(check("md", &md("null")).is_err());
        let off = format!(r#"{{"e0": {}, "energies": []}}"#, e0 + 1e-5);
        assert!(check("md", &off).is_err());
        assert!(check("mbar", r#"{"max_abs_z": 1.5, "iterations": 7}"#).is_ok());
        assert!(check("mbar", r#"{"max_abs_z": 4.5, "iterations": 7}"#).is_err());
        assert!(check("gp", r#"{"rmse": 0.05, "z_rms": 1.0}"#).is_ok());
        assert!(check("gp", r#"{"rmse": 0.5, "z_rms": 1.0}"#).is_err());
    }

    #[test]
    fn markdown_table_is_grouped_by_case_and_escapes_pipes() {
        let row = |target: u64, case: &'static str, check: &str| Row {
            target,
            case,
            size: target,
            wall: "1.00".into(),
            rate: "1e6 atoms/s".into(),
            rss: "10.0".into(),
            per_item: "100".into(),
            load: "0.5".into(),
            check: check.into(),
        };
        let rows = [
            row(1000, "mbar", "ok"),
            row(1000, "md", "ok: max |ΔE/E₀| = 1e-3"),
            row(10_000, "md", "ok"),
        ];
        let opts = parse_options(&[]).unwrap();
        let text = markdown(
            &opts,
            RssMode::Time,
            2,
            Some(0.5),
            &rows,
            &[],
            Instant::now(),
        );
        let table: Vec<&str> = text.lines().filter(|l| l.starts_with("| 10^")).collect();
        assert_eq!(table.len(), 3);
        assert!(table[0].contains("| md |") && table[0].contains("\\|ΔE/E₀\\|"));
        assert!(table[1].starts_with("| 10^4 | md |"));
        assert!(table[2].contains("| mbar |"));
        let unescaped = |l: &str| l.replace("\\|", "").matches('|').count();
        assert!(table.iter().all(|l| unescaped(l) == 10), "{table:?}");
    }

    #[test]
    fn in_lj_initial_energy_adds_the_exact_kinetic_energy() {
        // 32,000 atoms: (3N − 3)/(2N) · 1.44 = 2.1599325 per atom.
        assert!((lj_initial_energy(32_000) - (-6.7733681 + 2.1599325)).abs() < 1e-9);
    }
}
