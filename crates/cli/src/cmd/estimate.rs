//! `thermograd estimate`: free-energy differences from reduced works (EXP, BAR) or
//! reduced energies (MBAR), with asymptotic uncertainties. All quantities are in kT.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use thermograd_estimators::{
    bar, bar_bootstrap, exp_forward, exp_reverse, BarConfig, BootstrapConfig, FreeEnergyEstimate,
    Mbar, MbarConfig,
};

/// Arguments of `thermograd estimate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    method: Method,
}

/// The estimator to run.
#[derive(Debug, clap::Subcommand)]
enum Method {
    /// Exponential averaging (Zwanzig) of reduced works: ΔF = f1 − f0 = −ln⟨exp(−w_F)⟩₀.
    Exp(ExpArgs),
    /// Bennett acceptance ratio from forward and reverse reduced works.
    Bar(BarArgs),
    /// Multistate BAR from a K×N matrix of reduced energies.
    Mbar(MbarArgs),
}

#[derive(Debug, clap::Args)]
struct ExpArgs {
    /// Forward works u1 − u0 on samples of state 0, one value per line (kT).
    #[arg(long, value_name = "FILE")]
    forward: PathBuf,
    /// Reverse works u0 − u1 on samples of state 1, one value per line (kT); also
    /// reports the reverse estimate of f1 − f0.
    #[arg(long, value_name = "FILE")]
    reverse: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct BarArgs {
    /// Forward works u1 − u0 on samples of state 0, one value per line (kT).
    #[arg(long, value_name = "FILE")]
    forward: PathBuf,
    /// Reverse works u0 − u1 on samples of state 1, one value per line (kT).
    #[arg(long, value_name = "FILE")]
    reverse: PathBuf,
    /// Replace the asymptotic standard error by a bootstrap one with this many replicas.
    #[arg(long, value_name = "N")]
    bootstrap: Option<usize>,
    /// Seed of the bootstrap random-number generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct MbarArgs {
    /// Reduced energies: K rows of N whitespace-separated values, u_kn[k][n] = energy of
    /// sample n in state k (kT); samples ordered by the state that drew them.
    #[arg(long = "u-kn", value_name = "FILE")]
    u_kn: PathBuf,
    /// Samples per state: a file of K counts, or a comma-separated list such as 100,100,0.
    #[arg(long = "n-k", value_name = "FILE_OR_LIST")]
    n_k: String,
    /// Convergence threshold on max_k |Σ_n W_nk − 1|.
    #[arg(long, default_value_t = 1e-10)]
    tolerance: f64,
    /// Maximum solver iterations.
    #[arg(long, default_value_t = 500)]
    max_iterations: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.method {
        Method::Exp(a) => run_exp(a),
        Method::Bar(a) => run_bar(a),
        Method::Mbar(a) => run_mbar(a),
    }
}

fn estimate_json(e: &FreeEnergyEstimate) -> serde_json::Value {
    serde_json::json!({ "delta_f": e.delta_f, "std_err": e.std_err })
}

fn run_exp(a: &ExpArgs) -> anyhow::Result<()> {
    let w_f = read_values(&a.forward)?;
    let fwd = exp_forward(&w_f).with_context(|| format!("EXP on {}", a.forward.display()))?;
    let rev = match &a.reverse {
        Some(path) => {
            let w_r = read_values(path)?;
            let r = exp_reverse(&w_r).with_context(|| format!("EXP on {}", path.display()))?;
            Some((r, w_r.len()))
        }
        None => None,
    };
    if a.json {
        let mut v = estimate_json(&fwd);
        if let Some((r, _)) = &rev {
            v["forward"] = estimate_json(&fwd);
            v["reverse"] = estimate_json(r);
        }
        println!("{v}");
    } else {
        println!(
            "EXP forward ({} samples): delta_f = {:.6} +- {:.6} kT",
            w_f.len(),
            fwd.delta_f,
            fwd.std_err
        );
        if let Some((r, n)) = rev {
            println!(
                "EXP reverse ({n} samples): delta_f = {:.6} +- {:.6} kT",
                r.delta_f, r.std_err
            );
        }
    }
    Ok(())
}

fn run_bar(a: &BarArgs) -> anyhow::Result<()> {
    let w_f = read_values(&a.forward)?;
    let w_r = read_values(&a.reverse)?;
    let cfg = BarConfig::default();
    let context = || format!("BAR on {} and {}", a.forward.display(), a.reverse.display());
    let (est, kind) = match a.bootstrap {
        Some(n) => {
            let boot = BootstrapConfig::new(n, a.seed)?;
            let e = bar_bootstrap(&w_f, &w_r, &cfg, &boot).with_context(context)?;
            (e, format!("bootstrap error, {n} replicas, seed {}", a.seed))
        }
        None => (
            bar(&w_f, &w_r, &cfg).with_context(context)?,
            "asymptotic error".to_string(),
        ),
    };
    if a.json {
        println!("{}", estimate_json(&est));
    } else {
        println!(
            "BAR ({} forward, {} reverse samples): delta_f = {:.6} +- {:.6} kT ({kind})",
            w_f.len(),
            w_r.len(),
            est.delta_f,
            est.std_err
        );
    }
    Ok(())
}

fn run_mbar(a: &MbarArgs) -> anyhow::Result<()> {
    let u_kn = read_matrix(&a.u_kn)?;
    let n_k = parse_n_k(&a.n_k)?;
    let n_cols = u_kn[0].len();
    if n_k.len() != u_kn.len() {
        bail!(
            "--n-k has {} entries but {} has {} rows (states)",
            n_k.len(),
            a.u_kn.display(),
            u_kn.len()
        );
    }
    let total: usize = n_k.iter().sum();
    if total != n_cols {
        bail!(
            "--n-k sums to {total} samples but {} has {n_cols} columns",
            a.u_kn.display()
        );
    }
    let cfg = MbarConfig {
        tolerance: a.tolerance,
        max_iterations: a.max_iterations,
        ..MbarConfig::default()
    };
    let mbar =
        Mbar::new(&u_kn, &n_k, &cfg).with_context(|| format!("MBAR on {}", a.u_kn.display()))?;
    let diffs = mbar.free_energy_differences()?;
    let f_k: Vec<f64> = diffs.delta_f[0].clone();
    let std_err: Vec<f64> = diffs.std_err[0].clone();
    let report = mbar.convergence();
    let overlap = mbar.overlap()?;
    let ess = mbar.kish_ess();
    if a.json {
        let v = serde_json::json!({
            "f_k": f_k,
            "std_err": std_err,
            "convergence": report,
            "overlap": overlap.scalar,
            "kish_ess": ess,
        });
        println!("{v}");
    } else {
        let mut out = String::new();
        writeln!(
            out,
            "MBAR: {} states, {} samples; free energies relative to state 0 (kT)",
            mbar.n_states(),
            mbar.n_samples()
        )?;
        writeln!(out, "state  n_k        f_k          std_err      kish_ess")?;
        for k in 0..mbar.n_states() {
            writeln!(
                out,
                "{k:<6} {:<10} {:<12.6} {:<12.6} {:.1}",
                n_k[k], f_k[k], std_err[k], ess[k]
            )?;
        }
        writeln!(
            out,
            "converged: {} after {} iterations ({} Newton, {} self-consistent; method {:?}); \
             gradient norm {:.3e}",
            report.converged,
            report.iterations,
            report.newton_steps,
            report.self_consistent_steps,
            report.method,
            report.gradient_norm
        )?;
        writeln!(
            out,
            "overlap (1 - second eigenvalue): {:.6}",
            overlap.scalar
        )?;
        print!("{out}");
    }
    Ok(())
}

/// Meaningful lines of a text file with their 1-based numbers: blank lines and lines
/// starting with `#` are skipped.
fn data_lines(path: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect())
}

fn parse_number(path: &Path, line: usize, token: &str) -> anyhow::Result<f64> {
    token.parse::<f64>().map_err(|_| {
        anyhow::anyhow!(
            "{}:{line}: cannot parse '{token}' as a number",
            path.display()
        )
    })
}

/// One finite value per line.
pub(crate) fn read_values(path: &Path) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    for (line, text) in data_lines(path)? {
        let mut tokens = text.split_whitespace();
        let token = tokens.next().unwrap_or_default();
        if tokens.next().is_some() {
            bail!(
                "{}:{line}: expected one value per line, found '{text}'",
                path.display()
            );
        }
        let v = parse_number(path, line, token)?;
        if !v.is_finite() {
            bail!("{}:{line}: value '{token}' is not finite", path.display());
        }
        out.push(v);
    }
    if out.is_empty() {
        bail!("{}: no values found", path.display());
    }
    Ok(out)
}

/// K rows of N whitespace-separated values; `inf` is allowed (a sample impossible in a
/// state), NaN and `-inf` are not.
pub(crate) fn read_matrix(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (line, text) in data_lines(path)? {
        let mut row = Vec::new();
        for token in text.split_whitespace() {
            let v = parse_number(path, line, token)?;
            if v.is_nan() || v == f64::NEG_INFINITY {
                bail!(
                    "{}:{line}: value '{token}' is not allowed (NaN or -inf)",
                    path.display()
                );
            }
            row.push(v);
        }
        if let Some(first) = rows.first() {
            if row.len() != first.len() {
                bail!(
                    "{}:{line}: row has {} values but the first row has {}",
                    path.display(),
                    row.len(),
                    first.len()
                );
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no rows found", path.display());
    }
    Ok(rows)
}

/// `--n-k`: an existing file of counts (whitespace or newline separated), else a
/// comma-separated list.
pub(crate) fn parse_n_k(arg: &str) -> anyhow::Result<Vec<usize>> {
    let path = Path::new(arg);
    if path.is_file() {
        let mut out = Vec::new();
        for (line, text) in data_lines(path)? {
            for token in text.split(|c: char| c.is_whitespace() || c == ',') {
                if token.is_empty() {
                    continue;
                }
                out.push(token.parse::<usize>().map_err(|_| {
                    anyhow::anyhow!(
                        "{}:{line}: cannot parse '{token}' as a sample count",
                        path.display()
                    )
                })?);
            }
        }
        if out.is_empty() {
            bail!("{}: no sample counts found", path.display());
        }
        return Ok(out);
    }
    arg.split(',')
        .map(|t| {
            t.trim().parse::<usize>().map_err(|_| {
                anyhow::anyhow!(
                    "--n-k: '{arg}' is neither an existing file nor a comma-separated list of \
                     sample counts ('{}' is not a count)",
                    t.trim()
                )
            })
        })
        .collect()
}
