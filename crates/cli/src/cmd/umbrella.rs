//! `thermograd umbrella`: umbrella sampling along a CV from a TOML description, writing
//! CV time series, mean forces (umbrella integration) and MBAR input.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::Deserialize;
use thermograd_cv::{grid_centers, run_umbrella, window_stats, CvSpec, UmbrellaConfig};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{LennardJonesConfig, PotentialSum, RunConfig, State, ThermostatConfig};

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
}

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UmbrellaFile {
    system: SystemSpec,
    #[serde(default)]
    potential: PotentialSpec,
    cv: CvSpec,
    windows: WindowSpec,
    sampling: SamplingSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemSpec {
    /// The box, e.g. `{ orthorhombic = { lengths = [8.0, 8.0, 8.0] } }` or `"open"`.
    #[serde(rename = "box")]
    simbox: SimBox,
    /// Atom positions (length units).
    positions: Vec<[f64; 3]>,
    /// Atom masses (mass units).
    masses: Vec<f64>,
    /// Species indices (default: all 0).
    #[serde(default)]
    species: Vec<u32>,
    /// Temperature as kT (energy units).
    kt: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PotentialSpec {
    lennard_jones: Option<LennardJonesConfig>,
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

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let text = fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let file: UmbrellaFile =
        toml::from_str(&text).with_context(|| format!("in {}", args.config.display()))?;
    let system = &file.system;
    let n = system.positions.len();
    let species = if system.species.is_empty() {
        vec![0; n]
    } else {
        system.species.clone()
    };
    let cv = file
        .cv
        .build()
        .with_context(|| format!("[cv] in {}", args.config.display()))?;
    if file.windows.lower.len() != cv.dim() {
        bail!(
            "{}: [windows] has {} components but the CV `{}` has {}",
            args.config.display(),
            file.windows.lower.len(),
            cv.name(),
            cv.dim()
        );
    }
    let centers = grid_centers(
        &file.windows.lower,
        &file.windows.upper,
        &file.windows.count,
    )?;
    let positions: Vec<Vec3> = system.positions.iter().map(|p| Vec3::from(*p)).collect();
    // Validate the system once, before spawning windows.
    State::new(
        positions.clone(),
        system.masses.clone(),
        species.clone(),
        system.simbox.clone(),
    )
    .with_context(|| format!("[system] in {}", args.config.display()))?;
    let lj = file.potential.lennard_jones.clone();
    let build_system = |_: usize| -> thermograd_md::Result<(State, PotentialSum)> {
        let state = State::new(
            positions.clone(),
            system.masses.clone(),
            species.clone(),
            system.simbox.clone(),
        )?;
        let mut potential = PotentialSum::new();
        if let Some(lj) = &lj {
            potential.push(Box::new(lj.build()?));
        }
        Ok((state, potential))
    };
    let config = UmbrellaConfig {
        centers,
        kappa: file.windows.kappa.clone(),
        thermostat: ThermostatConfig {
            dt: file.sampling.dt,
            kt: system.kt,
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
    };
    let run = run_umbrella(&config, cv.clone(), &build_system)?;

    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let dim = cv.dim();
    for (k, window) in run.windows.iter().enumerate() {
        let mut text = format!(
            "# {} window {k}: center {:?}, kappa {:?}\n",
            cv.name(),
            window.center,
            window.kappa
        );
        for t in 0..window.series[0].len() {
            let row: Vec<String> = (0..dim)
                .map(|c| format!("{:.10e}", window.series[c][t]))
                .collect();
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
        "wrote {} windows, mean_forces.csv (for `thermograd fes gpr`) and u_kn.txt + n_k.txt \
         (for `thermograd estimate mbar`) to {}",
        run.windows.len(),
        args.out.display()
    );
    Ok(())
}
