//! `thermograd cell`: what a periodic cell looks like to the minimum-image code.

use anyhow::Context;
use thermograd_geometry::SimBox;

/// Arguments of `thermograd cell`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Edge lengths a,b,c (length units), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    lengths: Vec<f64>,
    /// Angles alpha,beta,gamma in degrees, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [90.0, 90.0, 90.0])]
    angles: Vec<f64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let lengths: [f64; 3] = args
        .lengths
        .as_slice()
        .try_into()
        .context("need 3 lengths")?;
    let angles: [f64; 3] = args.angles.as_slice().try_into().context("need 3 angles")?;
    let simbox = SimBox::from_lengths_angles(lengths, angles)?;
    let volume = simbox.volume().context("periodic box has a volume")?;
    let widths = simbox
        .perpendicular_widths()
        .context("periodic box has widths")?;
    let reduced = simbox
        .reduced_cell()
        .context("periodic box has a reduced cell")?;
    let max_cutoff = simbox.max_single_image_cutoff();
    let rows = |m: &thermograd_geometry::Mat3| -> Vec<[f64; 3]> {
        (0..3).map(|k| [m[(0, k)], m[(1, k)], m[(2, k)]]).collect()
    };
    if args.json {
        let value = serde_json::json!({
            "volume": volume,
            "perpendicular_widths": [widths[0], widths[1], widths[2]],
            "cell_vectors": rows(simbox.cell().context("periodic")?),
            "reduced_vectors": rows(reduced),
            "max_single_image_cutoff": max_cutoff,
        });
        println!("{value}");
    } else {
        println!("volume                   {volume:.6}");
        println!(
            "perpendicular widths     {:.6} {:.6} {:.6}",
            widths[0], widths[1], widths[2]
        );
        for (name, v) in ["a", "b", "c"].iter().zip(rows(reduced)) {
            println!(
                "reduced {name}                {:.6} {:.6} {:.6}",
                v[0], v[1], v[2]
            );
        }
        println!("max single-image cutoff  {max_cutoff:.6}  (half the shortest lattice vector)");
    }
    Ok(())
}
