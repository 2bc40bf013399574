//! The main job: the free energy of an ion pair in a Lennard-Jones solvent along the
//! ion–ion distance, through neural-network surrogates of collective variables
//! (Pathirage et al., arXiv:2510.01396, at laptop scale). See
//! `thermograd::pipelines::ion_pair` for the stages.
//!
//! ```text
//! cargo run --release --example ion_pair_fes                 # writes out/ion_pair
//! cargo run --release --example ion_pair_fes -- --quick --out /tmp/ip --seed 3
//! ```
//!
//! The same as `thermograd demo ion-pair`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use thermograd::pipelines::ion_pair::IonPairConfig;

fn main() -> anyhow::Result<()> {
    let mut quick = false;
    let mut out = PathBuf::from("out/ion_pair");
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().context("--out needs a directory")?),
            "--seed" => {
                seed = args
                    .next()
                    .context("--seed needs a number")?
                    .parse()
                    .context("--seed needs a non-negative integer")?
            }
            "-h" | "--help" => {
                println!("usage: ion_pair_fes [--quick] [--out DIR] [--seed N]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let mut config = if quick {
        IonPairConfig::quick(seed)
    } else {
        IonPairConfig::standard(seed)
    };
    config.progress = true;
    let report = config.run(Some(&out))?;
    println!("{}", report.summary_table());
    println!("outputs in {}:", out.display());
    for f in &report.files {
        println!("  {}", f.display());
    }
    Ok(())
}
