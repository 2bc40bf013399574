//! The `thermograd` command-line tool. Each subcommand lives in its own module under
//! `cmd/` with a clap `Args` struct and a `run` function.

use clap::{Parser, Subcommand};

mod cmd;

/// Machine-learned molecular models and free-energy methods.
#[derive(Debug, Parser)]
#[command(name = "thermograd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a periodic cell: volume, widths, reduced basis, largest single-image cutoff.
    Cell(cmd::cell::Args),
    /// End-to-end demonstrations (`demo ion-pair`: ion-pair free energy through learned CVs).
    Demo(cmd::demo::Args),
    /// Free-energy differences from reduced works (EXP, BAR) or reduced energies (MBAR).
    Estimate(cmd::estimate::Args),
    /// Free-energy surfaces from mean forces (`fes gpr`: Gaussian-process reconstruction).
    Fes(cmd::fes::Args),
    /// Run a reduced-units Lennard-Jones fluid (fcc start) and report U/N, P, T, energy drift and speed.
    Lj(cmd::lj::Args),
    /// Well-tempered metadynamics along a collective variable from a TOML file: hills, free energy with errors.
    Metad(cmd::metad::Args),
    /// Train from a TOML file: force matching (`fm`), relative entropy (`rm`), DiffTRe (`difftre`), CV surrogates (`cv`), deep ensembles (`ensemble`), active learning (`active`).
    Train(cmd::train::Args),
    /// Umbrella sampling along a collective variable from a TOML file: CV series, mean forces, MBAR input.
    Umbrella(cmd::umbrella::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Cell(args) => cmd::cell::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Estimate(args) => cmd::estimate::run(&args),
        Command::Fes(args) => cmd::fes::run(&args),
        Command::Lj(args) => cmd::lj::run(&args),
        Command::Metad(args) => cmd::metad::run(&args),
        Command::Train(args) => cmd::train::run(&args),
        Command::Umbrella(args) => cmd::umbrella::run(&args),
    }
}
