//! The command line shared by the examples: `[--quick] [--out DIR]`.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// Reads `[--quick] [--out DIR]` (default `out/<name>`); `None` after printing help.
pub fn parse_args(name: &str) -> anyhow::Result<Option<(bool, PathBuf)>> {
    let mut quick = false;
    let mut out = PathBuf::from("out").join(name);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => out = PathBuf::from(args.next().context("--out needs a directory")?),
            "-h" | "--help" => {
                println!("usage: {name} [--quick] [--out DIR]");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(Some((quick, out)))
}
