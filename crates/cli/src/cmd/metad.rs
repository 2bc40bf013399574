//! `thermograd metad`: well-tempered metadynamics along a CV from a TOML description,
//! writing hills, CV time series, the free-energy estimate `A = −γ/(γ − 1) V` with error
//! bars from independent walkers, and its time series.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use thermograd_cv::{
    run_metadynamics, BiasGridConfig, BiasStorage, CvSpec, MetadynamicsConfig,
    MetadynamicsRunConfig,
};
use thermograd_md::ThermostatConfig;

use super::system::{read_config, FaultSpec, PotentialSpec, Setup, SystemSpec, WallSpec};
use super::write_atomic;

/// Arguments of `thermograd metad`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TOML description of system, CV, hills, grid and sampling (see
    /// `examples/configs/metad_dimer.toml`).
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
struct MetadFile {
    system: SystemSpec,
    #[serde(default)]
    potential: PotentialSpec,
    cv: CvSpec,
    walls: Option<WallSpec>,
    metadynamics: HillSpec,
    grid: GridSpec,
    /// Optional: store the bias on a Hermite grid instead of summing every hill.
    bias_grid: Option<BiasGridSpec>,
    sampling: SamplingSpec,
    /// Optional physical checks (see `FaultSpec`).
    #[serde(default)]
    faults: FaultSpec,
}

/// `[metadynamics]`: the hills.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HillSpec {
    /// Gaussian width per CV component (CV units).
    sigma: Vec<f64>,
    /// Initial hill height (energy units).
    height: f64,
    /// Bias factor γ > 1.
    bias_factor: f64,
    /// A hill every `pace` steps.
    pace: u64,
    /// A free-energy snapshot every this many hills (default 0: final estimate only).
    #[serde(default)]
    snapshot_every: u64,
}

/// `[grid]`: where the free energy is reported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GridSpec {
    lower: Vec<f64>,
    upper: Vec<f64>,
    bins: Vec<usize>,
}

/// `[bias_grid]`: where the bias is stored (see `thermograd_cv::BiasGridConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BiasGridSpec {
    /// Lower edge per component (CV units); a periodic component spans one period.
    lower: Vec<f64>,
    /// Upper edge per component (CV units).
    upper: Vec<f64>,
    /// Intervals per component (spacing (upper − lower)/intervals).
    intervals: Vec<usize>,
    /// Deposit cutoff in units of σ (default 6.25).
    cutoff: Option<f64>,
}

fn default_skin() -> f64 {
    0.3
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplingSpec {
    /// Time step (time units).
    dt: f64,
    /// Langevin friction time 1/γ (time units).
    tau: f64,
    equilibration_steps: u64,
    steps: u64,
    stride: u64,
    seed: u64,
    /// Independent walkers (default 1; two or more give error bars).
    #[serde(default = "one")]
    replicas: usize,
    #[serde(default = "default_skin")]
    skin: f64,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let file: MetadFile = read_config(&args.config)?;
    let setup = Setup::new(
        &file.system,
        &file.potential,
        &file.cv,
        file.walls.as_ref(),
        &args.config,
    )?;
    let cv = setup.cv.clone();
    let path = &args.config;
    setup.check_dim("metadynamics", file.metadynamics.sigma.len(), path)?;
    setup.check_dim("grid", file.grid.lower.len(), path)?;
    let storage = match &file.bias_grid {
        None => BiasStorage::Exact,
        Some(grid) => {
            for n in [grid.lower.len(), grid.upper.len(), grid.intervals.len()] {
                setup.check_dim("bias_grid", n, path)?;
            }
            BiasStorage::Grid(BiasGridConfig {
                lower: grid.lower.clone(),
                upper: grid.upper.clone(),
                intervals: grid.intervals.clone(),
                cutoff: grid.cutoff.unwrap_or(6.25),
            })
        }
    };
    let faults = file
        .faults
        .checks(|key| format!("[faults] {key}"))
        .with_context(|| format!("in {}", path.display()))?
        .unwrap_or_default();
    let config = MetadynamicsRunConfig {
        metadynamics: MetadynamicsConfig {
            lower: file.grid.lower.clone(),
            upper: file.grid.upper.clone(),
            bins: file.grid.bins.clone(),
            sigma: file.metadynamics.sigma.clone(),
            height: file.metadynamics.height,
            bias_factor: file.metadynamics.bias_factor,
            kt: setup.kt,
            storage,
        },
        thermostat: ThermostatConfig {
            dt: file.sampling.dt,
            kt: setup.kt,
            tau: file.sampling.tau,
            seed: file.sampling.seed,
        },
        equilibration_steps: file.sampling.equilibration_steps,
        steps: file.sampling.steps,
        pace: file.metadynamics.pace,
        stride: file.sampling.stride,
        snapshot_every: file.metadynamics.snapshot_every,
        replicas: file.sampling.replicas,
        skin: file.sampling.skin,
        progress: !args.quiet,
        faults,
    };
    let run = run_metadynamics(&config, cv.clone(), &|_| setup.instance()).with_context(|| {
        format!(
            "[metadynamics]/[grid]/[bias_grid]/[sampling] in {}",
            path.display()
        )
    })?;

    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let dim = cv.dim();
    let xs = |prefix: &str| -> Vec<String> { (1..=dim).map(|c| format!("{prefix}{c}")).collect() };
    let fmt_point = |x: &[f64]| -> Vec<String> { x.iter().map(|v| format!("{v:.10e}")).collect() };

    // The free-energy estimate with its error (nan with a single walker).
    let mut text = [xs("x"), vec!["A".into(), "err".into()]].concat().join(",") + "\n";
    for (j, x) in run.grid.iter().enumerate() {
        let err = run.std_err.as_ref().map_or(f64::NAN, |e| e[j]);
        let row = [
            fmt_point(x),
            vec![
                format!("{:.10e}", run.free_energy[j]),
                format!("{err:.10e}"),
            ],
        ]
        .concat();
        let _ = writeln!(text, "{}", row.join(","));
    }
    write_atomic(&args.out.join("fes.csv"), &text)?;

    // Its time series, walker by walker.
    let mut text = [
        vec!["walker".into(), "hills".into(), "time".into()],
        xs("x"),
        vec!["A".into()],
    ]
    .concat()
    .join(",")
        + "\n";
    for (r, walker) in run.walkers.iter().enumerate() {
        for snapshot in &walker.snapshots {
            for (x, f) in run.grid.iter().zip(&snapshot.free_energy) {
                let row = [
                    vec![
                        r.to_string(),
                        snapshot.hills.to_string(),
                        format!("{:.10e}", snapshot.time),
                    ],
                    fmt_point(x),
                    vec![format!("{f:.10e}")],
                ]
                .concat();
                let _ = writeln!(text, "{}", row.join(","));
            }
        }
    }
    write_atomic(&args.out.join("fes_time.csv"), &text)?;

    for (r, walker) in run.walkers.iter().enumerate() {
        let mut hills = format!(
            "# {} walker {r}: sigma {:?}, bias factor {}\n# columns: time {} height\n",
            cv.name(),
            file.metadynamics.sigma,
            run.bias_factor,
            xs("xi").join(" ")
        );
        for hill in &walker.hills {
            let _ = writeln!(
                hills,
                "{:.10e} {} {:.10e}",
                hill.time,
                fmt_point(&hill.center).join(" "),
                hill.height
            );
        }
        write_atomic(&args.out.join(format!("hills_{r:03}.dat")), &hills)?;
        let mut colvar = format!(
            "# {} walker {r}\n# columns: time {} bias\n",
            cv.name(),
            xs("xi").join(" ")
        );
        for (t, time) in walker.times.iter().enumerate() {
            let point: Vec<f64> = (0..dim).map(|c| walker.series[c][t]).collect();
            let _ = writeln!(
                colvar,
                "{time:.10e} {} {:.10e}",
                fmt_point(&point).join(" "),
                walker.bias[t]
            );
        }
        write_atomic(&args.out.join(format!("colvar_{r:03}.dat")), &colvar)?;
    }

    for (r, walker) in run.walkers.iter().enumerate() {
        let last = walker.hills.last().map_or(0.0, |h| h.height);
        println!(
            "walker {r}: {} hills, last height {last:.4} (initial {})",
            walker.hills.len(),
            file.metadynamics.height
        );
        if walker.outside_grid > 0 {
            println!(
                "walker {r}: {} bias evaluations fell outside [bias_grid] and used the exact \
                 sum over hills (slow); widen the grid to cover the walls",
                walker.outside_grid
            );
        }
    }
    println!(
        "wrote fes.csv (A = -gamma/(gamma-1) V{}), fes_time.csv, hills_*.dat and colvar_*.dat \
         to {}",
        if run.std_err.is_some() {
            ", errors from the spread of the walkers"
        } else {
            "; one walker, no error bars"
        },
        args.out.display()
    );
    Ok(())
}
