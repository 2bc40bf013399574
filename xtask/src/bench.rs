//! `cargo xtask bench [--quick] [--reps N] [SUITE…]`: thermograd against the tools users
//! would otherwise pick, on the same inputs, in one process tree.
//!
//! Every comparison (a [`Case`]) runs the thermograd side and each installed peer
//! interleaved — A B C A B C … — for several repetitions, so that a change in machine
//! load hits all sides alike. Each side is a separate process that times only its own
//! computation (start-up, imports, JIT compilation and input generation excluded) and
//! prints the result; the harness takes medians over repetitions, prints the ratio
//! thermograd/peer of the times (below 1: thermograd is faster), checks that both sides
//! computed the same thing, and writes a Markdown table to `<target>/bench-report.md`.
//!
//! A peer that is not installed is skipped with a line saying so; a peer that fails is
//! reported and skipped. A thermograd side that fails, or a comparison whose answers
//! disagree, makes the command fail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::json::Json;

/// What one run of one side reports: the time of the measured computation and the
/// machine-readable record it printed.
pub struct Obs {
    pub secs: f64,
    pub json: Json,
}

pub type Parse = Box<dyn Fn(&str, &str) -> Result<Obs, String>>;
type Check = Box<dyn Fn(&Json, &Json) -> Result<String, String>>;
type SelfCheck = Box<dyn Fn(&Json) -> Result<String, String>>;

/// One program run as one side of a comparison.
pub struct Side {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Pin to CPUs `0..cpus` with `taskset` (when installed).
    pub cpus: Option<usize>,
    pub cwd: Option<PathBuf>,
    /// Reads stdout and stderr.
    pub parse: Parse,
    /// Compares this peer's record with thermograd's (unused on the thermograd side).
    pub check: Option<Check>,
}

impl Side {
    pub fn new(label: impl Into<String>, program: impl Into<PathBuf>, parse: Parse) -> Self {
        Side {
            label: label.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cpus: None,
            cwd: None,
            parse,
            check: None,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.args.extend(args.into_iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn pin(mut self, cpus: usize) -> Self {
        self.cpus = Some(cpus);
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    pub fn check(mut self, f: impl Fn(&Json, &Json) -> Result<String, String> + 'static) -> Self {
        self.check = Some(Box::new(f));
        self
    }

    fn command_line(&self, env: &Env) -> (PathBuf, Vec<String>) {
        match (self.cpus, &env.taskset) {
            (Some(n), Some(taskset)) => {
                let list: Vec<String> = (0..n.min(env.cores)).map(|c| c.to_string()).collect();
                let mut args = vec!["-c".to_owned(), list.join(",")];
                args.push(self.program.display().to_string());
                args.extend(self.args.iter().cloned());
                (taskset.clone(), args)
            }
            _ => (self.program.clone(), self.args.clone()),
        }
    }

    /// Runs the program once and parses its output.
    pub fn run(&self, env: &Env) -> Result<Obs, String> {
        let (program, args) = self.command_line(env);
        let mut cmd = Command::new(&program);
        cmd.args(&args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            return Err(format!(
                "`{} {}` failed ({}): {}",
                program.display(),
                args.join(" "),
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
        (self.parse)(&stdout, &stderr)
    }
}

/// One comparison: the thermograd side, its peers, and what "the same answer" means.
pub struct Case {
    pub name: String,
    /// Work per run and its unit, to print a rate next to the time (`work / secs`).
    pub rate: Option<(f64, &'static str)>,
    pub ours: Side,
    pub peers: Vec<Side>,
    /// Checks on the thermograd record alone (e.g. energy conservation).
    pub self_check: Option<SelfCheck>,
}

/// A suite: its cases, the examples they need built, and the peers that were skipped.
pub struct Suite {
    pub name: &'static str,
    pub cases: Vec<Case>,
    pub skipped: Vec<String>,
}

/// Where things are and which peers are installed.
pub struct Env {
    pub root: PathBuf,
    pub target: PathBuf,
    pub data: PathBuf,
    pub peers: PathBuf,
    pub python: Option<PathBuf>,
    pub lmp: Option<PathBuf>,
    pub mpirun: Option<PathBuf>,
    pub taskset: Option<PathBuf>,
    pub cores: usize,
    pub quick: bool,
}

impl Env {
    /// An example binary built by [`build_examples`].
    pub fn example(&self, name: &str) -> PathBuf {
        self.target.join("release").join("examples").join(name)
    }

    /// The line printed for a Python peer when the peers' virtual environment is missing.
    pub fn no_python(&self, what: &str) -> String {
        format!(
            "{what}: skipped, the peers' Python environment {} is not installed \
             (run `bash {}/install.sh`)",
            self.peers.join(".venv").display(),
            self.peers.display()
        )
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Options of `cargo xtask bench`.
struct Options {
    quick: bool,
    reps: Option<usize>,
    suites: Vec<String>,
}

pub const SUITES: &[&str] = &["md", "neighbors", "estimators", "gpr", "nn"];

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        reps: None,
        suites: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                o.reps = Some(
                    n.parse()
                        .ok()
                        .filter(|&r| r > 0)
                        .ok_or("--reps needs a positive integer")?,
                );
            }
            s if SUITES.contains(&s) => o.suites.push(s.to_owned()),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; suites: {}",
                    SUITES.join(" ")
                ))
            }
        }
    }
    if o.suites.is_empty() {
        o.suites = SUITES.iter().map(|s| s.to_string()).collect();
    }
    Ok(o)
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The workspace's target directory, as cargo resolves it (CARGO_TARGET_DIR, config).
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf, String> {
    let out = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err("cargo metadata failed".to_owned());
    }
    let meta = Json::parse(&String::from_utf8_lossy(&out.stdout))?;
    meta.str("target_directory")
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_owned())
}

/// `(package, example)` pairs each suite runs.
fn examples(suite: &str) -> &'static [(&'static str, &'static str)] {
    match suite {
        "md" => &[("thermograd-md", "lj_bench")],
        "neighbors" => &[("thermograd-neighbors", "nl_bench")],
        "estimators" => &[
            ("thermograd-estimators", "est_data"),
            ("thermograd-estimators", "peer_compare"),
        ],
        "gpr" => &[("thermograd-gpr", "gpr_bench"), ("thermograd-gpr", "perf")],
        "nn" => &[("thermograd-nn", "bp_bench")],
        _ => &[],
    }
}

fn build_examples(root: &Path, suites: &[String]) -> Result<(), String> {
    let mut by_package: Vec<(&str, Vec<&str>)> = Vec::new();
    for s in suites {
        for &(p, e) in examples(s) {
            match by_package.iter_mut().find(|(q, _)| *q == p) {
                Some((_, list)) => list.push(e),
                None => by_package.push((p, vec![e])),
            }
        }
    }
    for (package, list) in by_package {
        let mut args = vec!["build", "--release", "--quiet", "-p", package];
        for e in &list {
            args.extend(["--example", e]);
        }
        eprintln!("xtask: cargo {}", args.join(" "));
        let status = Command::new(cargo())
            .args(&args)
            .current_dir(root)
            .status()
            .map_err(|e| format!("could not start cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building the {package} examples failed"));
        }
    }
    Ok(())
}

/// CPU time (s) used by every process on the machine (`/proc/stat`, all but idle and
/// iowait), and by this process and its waited-for children (`/proc/self/stat`), so
/// that what others used during a case can be reported as its noise.
fn cpu_times() -> Option<(f64, f64)> {
    // USER_HZ is 100 on every Linux configuration this project runs on.
    const TICK: f64 = 0.01;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let busy = v.iter().sum::<f64>() - v.get(3)? - v.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<f64> = own
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // After the command name: state(3) … utime(14) stime(15) cutime(16) cstime(17);
    // `fields` starts at ppid(4) because the state letter does not parse.
    let mine: f64 = fields.get(10..14)?.iter().sum();
    Some((busy * TICK, mine * TICK))
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    })
}

/// Time with three significant digits and a unit that fits.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn fmt_rate(work: Option<(f64, &str)>, secs: f64) -> String {
    match work {
        Some((w, unit)) => format!(" ({:.3} {unit})", w / secs),
        None => String::new(),
    }
}

struct Row {
    suite: &'static str,
    case: String,
    ours: String,
    peer: String,
    peer_time: String,
    ratio: String,
    check: String,
    noise: String,
}

/// Runs `cargo xtask bench`.
pub fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_options(args)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_owned();
    let target = target_dir(&root)?;
    let peers = std::env::var_os("THERMOGRAD_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("..").join("shared").join("peers"));
    let peers = peers.canonicalize().unwrap_or(peers);
    let python = Some(peers.join(".venv").join("bin").join("python")).filter(|p| p.is_file());
    let env = Env {
        data: target.join("bench-data"),
        root: root.clone(),
        target: target.clone(),
        peers,
        python,
        lmp: which("lmp"),
        mpirun: which("mpirun"),
        taskset: which("taskset"),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        quick: opts.quick,
    };
    let reps = opts.reps.unwrap_or(if opts.quick { 2 } else { 3 });
    build_examples(&root, &opts.suites)?;
    std::fs::create_dir_all(&env.data)
        .map_err(|e| format!("cannot create {}: {e}", env.data.display()))?;

    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    if env.taskset.is_none() {
        skipped.push("taskset not found: runs are not pinned to CPUs".to_owned());
    }
    for name in &opts.suites {
        eprintln!("\n== suite {name} ==");
        let suite = match crate::suites::build(name, &env) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: set-up failed: {e}"));
                eprintln!("{name}: set-up failed: {e}");
                continue;
            }
        };
        for line in &suite.skipped {
            eprintln!("{}: {line}", suite.name);
            skipped.push(format!("{}: {line}", suite.name));
        }
        for case in &suite.cases {
            run_case(&env, suite.name, case, reps, &mut rows, &mut failures);
        }
    }
    let report = markdown(&env, &opts, reps, &rows, &skipped, &failures, started);
    let path = target.join("bench-report.md");
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("\n{report}");
    eprintln!("xtask: report written to {}", path.display());
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

fn run_case(
    env: &Env,
    suite: &'static str,
    case: &Case,
    reps: usize,
    rows: &mut Vec<Row>,
    failures: &mut Vec<String>,
) {
    let sides: Vec<&Side> = std::iter::once(&case.ours).chain(&case.peers).collect();
    let mut results: Vec<Vec<Obs>> = sides.iter().map(|_| Vec::new()).collect();
    let mut errors: Vec<Option<String>> = vec![None; sides.len()];
    let t0 = Instant::now();
    let c0 = cpu_times();
    for rep in 0..reps {
        for (k, side) in sides.iter().enumerate() {
            if errors[k].is_some() {
                continue;
            }
            match side.run(env) {
                Ok(obs) => {
                    eprintln!(
                        "  {:<40} rep {} {:<16} {}",
                        case.name,
                        rep + 1,
                        side.label,
                        fmt_secs(obs.secs)
                    );
                    results[k].push(obs);
                }
                Err(e) => {
                    eprintln!("  {:<40} {:<16} FAILED: {e}", case.name, side.label);
                    errors[k] = Some(e);
                }
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let noise = match (c0, cpu_times()) {
        (Some((b0, m0)), Some((b1, m1))) => {
            format!("{:.1} / {:.0}", ((b1 - b0) - (m1 - m0)).max(0.0), wall)
        }
        _ => format!("? / {wall:.0}"),
    };
    let times = |k: usize| -> Vec<f64> { results[k].iter().map(|o| o.secs).collect() };
    let ours_med = median(&times(0));
    let ours_cell = match (ours_med, &errors[0]) {
        (Some(t), _) => format!("{}{}", fmt_secs(t), fmt_rate(case.rate, t)),
        (None, e) => {
            failures.push(format!(
                "{suite} / {}: thermograd side failed: {}",
                case.name,
                e.clone().unwrap_or_default()
            ));
            "FAILED".to_owned()
        }
    };
    let mut self_note = String::new();
    if let (Some(check), Some(obs)) = (&case.self_check, results[0].first()) {
        match check(&obs.json) {
            Ok(msg) => self_note = msg,
            Err(msg) => {
                failures.push(format!("{suite} / {}: thermograd: {msg}", case.name));
                self_note = format!("FAIL {msg}");
            }
        }
    }
    if case.peers.is_empty() {
        eprintln!("{suite} / {}: thermograd {ours_cell} (no peer)", case.name);
        rows.push(Row {
            suite,
            case: case.name.clone(),
            ours: ours_cell,
            peer: "—".to_owned(),
            peer_time: "—".to_owned(),
            ratio: "—".to_owned(),
            check: if self_note.is_empty() {
                "—".to_owned()
            } else {
                self_note
            },
            noise,
        });
        return;
    }
    for (k, side) in sides.iter().enumerate().skip(1) {
        let peer_med = median(&times(k));
        let (peer_time, ratio) = match (peer_med, ours_med) {
            (Some(p), Some(o)) => (
                format!("{}{}", fmt_secs(p), fmt_rate(case.rate, p)),
                format!("{:.2}", o / p),
            ),
            (Some(p), None) => (
                format!("{}{}", fmt_secs(p), fmt_rate(case.rate, p)),
                "—".to_owned(),
            ),
            (None, _) => (
                format!("failed: {}", errors[k].clone().unwrap_or_default()),
                "—".to_owned(),
            ),
        };
        let check = match (results[0].first(), results[k].first(), &side.check) {
            (Some(a), Some(b), Some(f)) => match f(&a.json, &b.json) {
                Ok(msg) => format!("ok: {msg}"),
                Err(msg) => {
                    failures.push(format!(
                        "{suite} / {} vs {}: answers differ: {msg}",
                        case.name, side.label
                    ));
                    format!("MISMATCH: {msg}")
                }
            },
            (_, _, None) => "n/a".to_owned(),
            _ => "not checked (a side failed)".to_owned(),
        };
        let check = if self_note.is_empty() {
            check
        } else {
            format!("{check}; {self_note}")
        };
        eprintln!(
            "{suite} / {}: thermograd {ours_cell} | {} {peer_time} | ratio {ratio} | {check} | others' CPU s / wall s {noise}",
            case.name, side.label
        );
        rows.push(Row {
            suite,
            case: case.name.clone(),
            ours: ours_cell.clone(),
            peer: side.label.clone(),
            peer_time,
            ratio,
            check,
            noise: noise.clone(),
        });
    }
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    utc(secs)
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time (days-to-civil, Howard Hinnant).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// CPU model, core count and memory of this machine, for report headers.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(String::new(), |kb| format!(", {:.0} GiB", kb / 1048576.0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores{mem}")
}

fn markdown(
    env: &Env,
    opts: &Options,
    reps: usize,
    rows: &[Row],
    skipped: &[String],
    failures: &[String],
    started: Instant,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# thermograd vs peers (`cargo xtask bench`)\n");
    let _ = writeln!(
        s,
        "{} · {} · {} mode, {reps} interleaved repetition{} per side · suites: {} · {:.0} s in all\n",
        utc_now(),
        machine(),
        if opts.quick { "quick" } else { "full" },
        if reps == 1 { "" } else { "s" },
        opts.suites.join(" "),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        s,
        "Times are medians over repetitions of each side's own timer (start-up, imports, JIT \
         compilation and input generation excluded). Ratio = thermograd time / peer time: \
         below 1, thermograd is faster. \"Others' CPU\" is the CPU time other processes used \
         on the machine while the case ran (0 on a quiet machine), against the case's wall \
         time; where it is large the numbers are noisy.\n"
    );
    let _ = writeln!(
        s,
        "| suite | case | thermograd | peer | peer time | ratio | same answer? | others' CPU s / wall s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.suite,
            r.case,
            r.ours,
            r.peer,
            r.peer_time.replace('|', "/"),
            r.ratio,
            r.check.replace('|', "/"),
            r.noise
        );
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "\nNotes and skipped peers:");
        for line in skipped {
            let _ = writeln!(s, "- {line}");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nProblems:");
        for line in failures {
            let _ = writeln!(s, "- {line}");
        }
    }
    let _ = writeln!(
        s,
        "\nPeers from `{}`; data in `{}`.",
        env.peers.display(),
        env.data.display()
    );
    s
}

/// The last `RESULT {json}` line of `text`.
pub fn result_line(text: &str) -> Result<Json, String> {
    let line = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("RESULT "))
        .ok_or("no `RESULT {…}` line in the output")?;
    Json::parse(line)
}

/// A number from a record, or an error naming it.
pub fn num(j: &Json, key: &str) -> Result<f64, String> {
    j.num(key)
        .ok_or_else(|| format!("no number `{key}` in the result"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_helpers() {
        let o = parse_options(&["--quick".into(), "md".into(), "gpr".into()]).unwrap();
        assert!(o.quick);
        assert_eq!(o.suites, vec!["md", "gpr"]);
        assert_eq!(parse_options(&[]).unwrap().suites.len(), SUITES.len());
        assert!(parse_options(&["bogus".into()]).is_err());
        assert!(parse_options(&["--reps".into(), "0".into()]).is_err());
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(fmt_secs(2.0), "2.000 s");
        assert_eq!(fmt_secs(0.0123), "12.300 ms");
        let j = result_line("noise\nRESULT {\"a\": 1}\nRESULT {\"a\": 2}\ntrailer").unwrap();
        assert_eq!(j.num("a"), Some(2.0));
        assert!(result_line("nothing").is_err());
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        // Leap-year boundaries of the civil-date conversion.
        assert_eq!(
            utc(951_782_400 + 3_600 * 13 + 60 * 7),
            "2000-02-29 13:07 UTC"
        );
        assert_eq!(utc(951_868_800), "2000-03-01 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
