//! `thermograd demo`: end-to-end demonstrations on built-in settings.
//!
//! `thermograd demo ion-pair` runs [`thermograd::pipelines::ion_pair`]: an ion pair in a
//! Lennard-Jones solvent, NN surrogates of the ion–ion distance and of the cation's
//! coordination number, umbrella sampling with the analytic and the learned distance,
//! Gaussian-process and MBAR free-energy profiles, CSV files, SVG plots and a summary
//! table.

use std::path::PathBuf;

use anyhow::Context;
use thermograd::pipelines::ion_pair::IonPairConfig;

/// Arguments of `thermograd demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DemoCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DemoCommand {
    /// Ion-pair free energy through learned collective variables (a few minutes on
    /// two cores in release mode; `--quick` takes seconds).
    IonPair(IonPairArgs),
}

/// Arguments of `thermograd demo ion-pair`.
#[derive(Debug, clap::Args)]
struct IonPairArgs {
    /// Run the small version of the same pipeline (seconds; noisy numbers).
    #[arg(long)]
    quick: bool,
    /// Output directory (created if missing).
    #[arg(long, default_value = "out/ion_pair")]
    out: PathBuf,
    /// Master seed of every stochastic stage.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Settings from a TOML file (as printed by `--print-config`) instead of the
    /// built-in ones; `--seed` and `--quick` are then ignored.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the settings as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bars or stage headers.
    #[arg(long)]
    no_progress: bool,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        DemoCommand::IonPair(a) => run_ion_pair(a),
    }
}

fn run_ion_pair(args: &IonPairArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<IonPairConfig>(&text)
                .with_context(|| format!("{}: invalid ion-pair settings", path.display()))?
        }
        None if args.quick => IonPairConfig::quick(args.seed),
        None => IonPairConfig::standard(args.seed),
    };
    if args.print_config {
        print!(
            "{}",
            toml::to_string(&config).context("cannot print the settings")?
        );
        return Ok(());
    }
    config.progress = !args.no_progress;
    let report = config
        .run(Some(&args.out))
        .context("the ion-pair pipeline failed")?;
    println!("{}", report.summary_table());
    println!("outputs in {}", args.out.display());
    Ok(())
}
