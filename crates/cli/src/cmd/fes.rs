//! `thermograd fes`: free-energy surfaces from mean-force data.
//!
//! `thermograd fes gpr` reconstructs `A(x)` and its uncertainty on a grid by Gaussian-
//! process regression on gradient observations (`thermograd-gpr`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use thermograd_gpr::{
    fit_hyperparameters, FreeEnergySurface, GaussianProcess, GpConfig, GradientNoise, Grid,
    HyperConfig, Inducing, Kernel, KernelKind, Matern52, Observations, Periodic, SparseConfig,
    SparseGp, SquaredExponential,
};

/// Above this many scalar gradient rows the exact solve (memory `8·N²` bytes) is replaced
/// by the projected-process approximation.
const MAX_EXACT_ROWS: usize = 20_000;
/// Inducing points of the approximation.
const N_INDUCING: usize = 2_000;

/// Arguments of `thermograd fes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum FesCommand {
    /// Gaussian-process reconstruction from gradient (mean-force) observations.
    Gpr(GprArgs),
}

/// Arguments of `thermograd fes gpr`.
#[derive(Debug, clap::Args)]
struct GprArgs {
    /// Input CSV with a header: columns x1..xd (CV coordinates), g1..gd (gradient of the
    /// free energy, energy per CV unit) and optionally v1..vd (gradient variances).
    #[arg(long)]
    input: PathBuf,
    /// Grid, `lo:hi:n` per dimension, comma-separated (e.g. `-1.5:1.2:60,-0.5:2:60`).
    #[arg(long, allow_hyphen_values = true)]
    grid: String,
    /// Output CSV: x1..xd, free_energy (minimum set to 0) and std (standard deviation of
    /// the free energy relative to the grid minimum).
    #[arg(long)]
    output: PathBuf,
    /// Kernel: se (squared exponential), matern52, or periodic (period 2π, for angles in
    /// radians).
    #[arg(long, default_value = "se", value_parser = ["se", "matern52", "periodic"])]
    kernel: String,
    /// kT in the input's energy unit; if given, free_energy and std are reported in units
    /// of kT, otherwise in the input's energy unit.
    #[arg(long)]
    kt: Option<f64>,
    /// Print a JSON summary: fitted hyperparameters and log marginal likelihood.
    #[arg(long)]
    json_summary: bool,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        FesCommand::Gpr(a) => run_gpr(a),
    }
}

/// Reads the gradient CSV: header `x1..xd,g1..gd[,v1..vd]` (any column order), then one
/// observation per line. Blank lines and lines starting with `#` are skipped.
pub(crate) fn read_gradients(path: &Path) -> anyhow::Result<Observations> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        bail!("{name}: empty file (expected a header x1..xd,g1..gd[,v1..vd])");
    };
    let cols: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let mut xs = Vec::new();
    let mut gs = Vec::new();
    let mut vs = Vec::new();
    for (k, c) in cols.iter().enumerate() {
        let first = c.chars().next().map_or(0, char::len_utf8);
        let (kind, idx) = c.split_at(first);
        let Ok(i) = idx.parse::<usize>() else {
            bail!(
                "{name}:{}: unknown column {c:?} (expected x1..xd, g1..gd, v1..vd)",
                hline + 1
            );
        };
        if i == 0 {
            bail!("{name}:{}: column {c:?}: numbering starts at 1", hline + 1);
        }
        match kind {
            "x" => xs.push((i, k)),
            "g" => gs.push((i, k)),
            "v" => vs.push((i, k)),
            _ => bail!(
                "{name}:{}: unknown column {c:?} (expected x1..xd, g1..gd, v1..vd)",
                hline + 1
            ),
        }
    }
    let d = xs.len();
    if d == 0 {
        bail!("{name}:{}: no coordinate columns x1..xd", hline + 1);
    }
    for (set, what) in [(&mut xs, "x"), (&mut gs, "g"), (&mut vs, "v")] {
        set.sort();
        if !set.is_empty()
            && (set.len() != d || set.iter().enumerate().any(|(a, &(i, _))| i != a + 1))
        {
            bail!(
                "{name}:{}: columns {what}1..{what}{d} must each appear once (found {} {what} columns for {d} coordinates)",
                hline + 1,
                set.len()
            );
        }
    }
    if gs.is_empty() {
        bail!("{name}:{}: no gradient columns g1..g{d}", hline + 1);
    }
    let mut obs = Observations::new(d)?;
    let mut x = vec![0.0; d];
    let mut g = vec![0.0; d];
    let mut v = vec![0.0; d];
    for (lno, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != cols.len() {
            bail!(
                "{name}:{}: expected {} fields, found {}",
                lno + 1,
                cols.len(),
                fields.len()
            );
        }
        let num = |k: usize| -> anyhow::Result<f64> {
            let f = fields[k];
            let val: f64 = f.parse().map_err(|_| {
                anyhow::anyhow!(
                    "{name}:{}: column {}: {f:?} is not a number",
                    lno + 1,
                    cols[k]
                )
            })?;
            if !val.is_finite() {
                bail!(
                    "{name}:{}: column {}: non-finite value {f}",
                    lno + 1,
                    cols[k]
                );
            }
            Ok(val)
        };
        for a in 0..d {
            x[a] = num(xs[a].1)?;
            g[a] = num(gs[a].1)?;
            if !vs.is_empty() {
                v[a] = num(vs[a].1)?;
                if v[a] < 0.0 {
                    bail!(
                        "{name}:{}: column {}: negative variance",
                        lno + 1,
                        cols[vs[a].1]
                    );
                }
            }
        }
        let noise = if vs.is_empty() {
            GradientNoise::None
        } else {
            GradientNoise::Diagonal(&v)
        };
        obs.push_gradient(&x, &g, noise)
            .with_context(|| format!("{name}:{}", lno + 1))?;
    }
    if obs.n_gradients() == 0 {
        bail!("{name}: no data rows after the header");
    }
    Ok(obs)
}

fn build_kernel(kind: KernelKind, d: usize) -> anyhow::Result<Box<dyn Kernel>> {
    // Starting values only: the marginal-likelihood fit starts from data-derived values.
    Ok(match kind {
        KernelKind::Se => Box::new(SquaredExponential::new(1.0, &vec![1.0; d])?),
        KernelKind::Matern52 => Box::new(Matern52::new(1.0, &vec![1.0; d])?),
        KernelKind::Periodic => Box::new(Periodic::angles(1.0, &vec![1.0; d])?),
    })
}

fn write_surface(path: &Path, fes: &FreeEnergySurface, scale: f64) -> anyhow::Result<()> {
    let grid = &fes.grid;
    let d = grid.dim();
    let std = fes
        .std
        .as_ref()
        .context("standard deviations were computed")?;
    let mut out = String::with_capacity(grid.len() * 24 * (d + 2));
    for a in 0..d {
        write!(out, "x{},", a + 1)?;
    }
    out.push_str("free_energy,std\n");
    let mut p = vec![0.0; d];
    for (i, (a, s)) in fes.free_energy.iter().zip(std).enumerate() {
        grid.point(i, &mut p);
        for c in &p {
            write!(out, "{c},")?;
        }
        writeln!(out, "{},{}", a / scale, s / scale)?;
    }
    super::write_atomic(path, &out)
}

fn run_gpr(args: &GprArgs) -> anyhow::Result<()> {
    let kind: KernelKind = args.kernel.parse()?;
    if let Some(kt) = args.kt {
        if !kt.is_finite() || kt <= 0.0 {
            bail!("--kt must be a positive number, got {kt}");
        }
    }
    let grid = Grid::parse(&args.grid).context("--grid")?;
    let obs = read_gradients(&args.input)?;
    let d = obs.dim();
    if grid.dim() != d {
        bail!(
            "--grid has {} dimensions but {} has {d} coordinate columns",
            grid.dim(),
            args.input.display()
        );
    }
    let mut kernel = build_kernel(kind, d)?;
    let hyper = fit_hyperparameters(kernel.as_mut(), &obs, &HyperConfig::default())
        .with_context(|| format!("fitting hyperparameters to {}", args.input.display()))?;
    let exact = obs.n_rows() <= MAX_EXACT_ROWS;
    let (fes, full_lml) = if exact {
        let config = GpConfig {
            noise_floor: hyper.noise_floor,
            ..GpConfig::default()
        };
        let gp = GaussianProcess::fit(kernel.boxed_clone(), obs.clone(), &config)
            .with_context(|| format!("conditioning on {}", args.input.display()))?;
        (
            gp.free_energy_on_grid(&grid, true)?,
            Some(gp.log_marginal_likelihood()),
        )
    } else {
        let config = SparseConfig {
            inducing: Inducing::FarthestPoint(N_INDUCING),
            noise_floor: hyper.noise_floor.max(1e-10),
            jitter: 1e-8,
        };
        let sp = SparseGp::fit(kernel.boxed_clone(), &obs, &config)
            .with_context(|| format!("conditioning on {}", args.input.display()))?;
        (sp.free_energy_on_grid(&grid, true)?, None)
    };
    let scale = args.kt.unwrap_or(1.0);
    write_surface(&args.output, &fes, scale)?;
    if args.json_summary {
        let params: serde_json::Map<String, serde_json::Value> = hyper
            .param_names
            .iter()
            .zip(&hyper.log_params)
            .map(|(n, lp)| {
                let key = n.strip_prefix("log_").unwrap_or(n).to_string();
                (key, serde_json::json!(lp.exp()))
            })
            .collect();
        let mut x0 = vec![0.0; d];
        grid.point(fes.minimum_index, &mut x0);
        let value = serde_json::json!({
            "kernel": args.kernel,
            "dimension": d,
            "n_gradients": obs.n_gradients(),
            "method": if exact { "exact" } else { "projected-process" },
            "hyperparameters": params,
            "noise_floor": hyper.noise_floor,
            "log_marginal_likelihood": hyper.log_marginal_likelihood,
            "hyperparameter_fit_points": hyper.points_used,
            "log_marginal_likelihood_all_points": full_lml,
            "energy_unit": if args.kt.is_some() { "kT" } else { "input" },
            "kt": args.kt,
            "grid_points": grid.len(),
            "minimum": x0,
            "max_free_energy": fes.free_energy.iter().cloned().fold(f64::NEG_INFINITY, f64::max) / scale,
        });
        println!("{value}");
    }
    Ok(())
}
