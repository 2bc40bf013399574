//! `thermograd umbrella`: umbrella sampling along a CV from a TOML description, writing
//! CV time series, mean forces (umbrella integration, restrained mean force or the
//! instantaneous collective force) and MBAR input.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Deserialize;
use thermograd_cv::{grid_centers, window_stats, CvSpec, MeanForceMethod, UmbrellaConfig};
use thermograd_dist::run_umbrella_distributed;
use thermograd_md::{RunConfig, ThermostatConfig};

use super::system::{read_config, FaultSpec, PotentialSpec, Setup, SystemSpec, WallSpec};
use super::write_atomic;

/// Arguments of `thermograd umbrella`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TOML description of system, CV, windows and sampling (see
    /// `examples/configs/umbrella_dimer.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
    /// Keep each finished window in this directory and, when rerun with the same
    /// config, resume from the windows found there instead of running them again.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
}

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UmbrellaFile {
    system: SystemSpec,
    #[serde(default)]
    potential: PotentialSpec,
    cv: CvSpec,
    walls: Option<WallSpec>,
    windows: WindowSpec,
    sampling: SamplingSpec,
    mean_force: Option<MeanForceSpec>,
    /// Optional physical checks (see `FaultSpec`).
    #[serde(default)]
    faults: FaultSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowSpec {
    /// Lowest window center per CV component.
    lower: Vec<f64>,
    /// Highest window center per CV component.
    upper: Vec<f64>,
    /// Number of windows per component.
    count: Vec<usize>,
    /// Force constant per component (energy / CV unit²).
    kappa: Vec<f64>,
}

fn default_skin() -> f64 {
    0.3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplingSpec {
    /// Time step (time units).
    dt: f64,
    /// Langevin friction time 1/γ (time units).
    tau: f64,
    equilibration_steps: u64,
    production_steps: u64,
    stride: u64,
    seed: u64,
    #[serde(default = "default_skin")]
    skin: f64,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MethodName {
    UmbrellaIntegration,
    RestrainedMeanForce,
    InstantaneousForce,
}

/// `[mean_force]`: which estimator writes `mean_forces.csv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeanForceSpec {
    method: MethodName,
    /// Finite-difference step of the instantaneous force's divergence term (length
    /// units, default 1e-4).
    step: Option<f64>,
}

impl MeanForceSpec {
    fn method(&self) -> anyhow::Result<MeanForceMethod> {
        Ok(match (self.method, self.step) {
            (MethodName::UmbrellaIntegration, None) => MeanForceMethod::UmbrellaIntegration,
            (MethodName::RestrainedMeanForce, None) => MeanForceMethod::RestrainedMeanForce,
            (MethodName::InstantaneousForce, step) => MeanForceMethod::InstantaneousForce {
                step: step.unwrap_or(1e-4),
            },
            (_, Some(_)) => {
                bail!("[mean_force] `step` applies only to method = \"instantaneous_force\"")
            }
        })
    }
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let file: UmbrellaFile = read_config(&args.config)?;
    let setup = Setup::new(
        &file.system,
        &file.potential,
        &file.cv,
        file.walls.as_ref(),
        &args.config,
    )?;
    let cv = setup.cv.clone();
    setup.check_dim("windows", file.windows.lower.len(), &args.config)?;
    let centers = grid_centers(
        &file.windows.lower,
        &file.windows.upper,
        &file.windows.count,
    )
    .with_context(|| format!("[windows] in {}", args.config.display()))?;
    let method = match &file.mean_force {
        None => MeanForceMethod::UmbrellaIntegration,
        Some(spec) => spec
            .method()
            .with_context(|| format!("in {}", args.config.display()))?,
    };
    let faults = file
        .faults
        .checks(|key| format!("[faults] {key}"))
        .with_context(|| format!("in {}", args.config.display()))?
        .unwrap_or_default();
    let config = UmbrellaConfig {
        centers,
        kappa: file.windows.kappa.clone(),
        thermostat: ThermostatConfig {
            dt: file.sampling.dt,
            kt: setup.kt,
            tau: file.sampling.tau,
            seed: file.sampling.seed,
        },
        run: RunConfig {
            equilibration_steps: file.sampling.equilibration_steps,
            production_steps: file.sampling.production_steps,
            stride: file.sampling.stride,
            progress: false,
        },
        skin: file.sampling.skin,
        progress: !args.quiet,
        mean_force: method,
        faults,
    };
    // Under `mpirun` (in a build with the `mpi` feature) the windows are dealt over the
    // ranks and rank 0 writes everything; otherwise this is one process doing it all.
    let comm = thermograd_dist::world()?;
    let Some(run) = run_umbrella_distributed(
        comm.as_ref(),
        &config,
        cv.clone(),
        &|_| setup.instance(),
        args.checkpoints.as_deref(),
    )?
    else {
        return Ok(());
    };

    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let dim = cv.dim();
    let with_forces = !run.forces.is_empty();
    for (k, window) in run.windows.iter().enumerate() {
        let mut text = format!(
            "# {} window {k}: center {:?}, kappa {:?}\n# columns: {}{}\n",
            cv.name(),
            window.center,
            window.kappa,
            (1..=dim)
                .map(|c| format!("xi{c}"))
                .collect::<Vec<_>>()
                .join(" "),
            if with_forces {
                (1..=dim).map(|c| format!(" F{c}")).collect::<String>()
            } else {
                String::new()
            }
        );
        for t in 0..window.series[0].len() {
            let mut row: Vec<String> = (0..dim)
                .map(|c| format!("{:.10e}", window.series[c][t]))
                .collect();
            if with_forces {
                row.extend((0..dim).map(|c| format!("{:.10e}", run.forces[k][c][t])));
            }
            let _ = writeln!(text, "{}", row.join(" "));
        }
        write_atomic(&args.out.join(format!("window_{k:03}.dat")), &text)?;
    }
    let table = run.mean_forces()?;
    write_atomic(&args.out.join("mean_forces.csv"), &table.to_csv())?;
    let (u_kn, n_k) = run.reduced_bias_energies();
    let mut text = String::new();
    for row in &u_kn {
        let row: Vec<String> = row.iter().map(|u| format!("{u:.10e}")).collect();
        let _ = writeln!(text, "{}", row.join(" "));
    }
    write_atomic(&args.out.join("u_kn.txt"), &text)?;
    let n_k_text: Vec<String> = n_k.iter().map(usize::to_string).collect();
    write_atomic(&args.out.join("n_k.txt"), &(n_k_text.join("\n") + "\n"))?;

    println!(
        "{:>6}  {:>24}  {:>24}  {:>8}  {:>24}",
        "window", "center", "mean", "g", "dA/dxi ± err"
    );
    for (k, window) in run.windows.iter().enumerate() {
        let stats = window_stats(window)?;
        let fmt = |v: Vec<String>| v.join(",");
        println!(
            "{k:>6}  {:>24}  {:>24}  {:>8}  {:>24}",
            fmt(window.center.iter().map(|x| format!("{x:.4}")).collect()),
            fmt(stats.iter().map(|s| format!("{:.4}", s.mean)).collect()),
            fmt(stats
                .iter()
                .map(|s| format!("{:.1}", s.inefficiency))
                .collect()),
            fmt((0..dim)
                .map(|c| format!(
                    "{:.3}±{:.3}",
                    table.gradients[k][c],
                    table.variances[k][c].sqrt()
                ))
                .collect()),
        );
    }
    println!(
        "wrote {} windows, mean_forces.csv ({:?}; for `thermograd fes gpr`) and u_kn.txt + \
         n_k.txt (for `thermograd estimate mbar`) to {}",
        run.windows.len(),
        run.method,
        args.out.display()
    );
    Ok(())
}
