//! Setup and output shared by the training examples (`coarse_grain`, `difftre_rdf`):
//! Langevin runs, error measures, the RDF table and the command line.

use std::path::Path;

use thermograd::md::{
    ForceField, Langevin, PotentialSum, Simulation, SoftSphere, SoftSphereConfig, State,
    ThermostatConfig,
};

#[path = "args.rs"]
mod args;
pub use args::parse_args;

/// A shifted soft-sphere potential `(σ/r)¹²` (unit energy) cut at `cutoff`.
pub fn soft_sphere(sigma: f64, cutoff: f64) -> SoftSphere {
    let mut c = SoftSphereConfig::single(sigma, 1.0, 12, cutoff);
    c.shift = true;
    c.build().expect("valid soft sphere")
}

/// A Langevin simulation of `state` under `potential` (skin 0.3, friction time 0.5).
pub fn langevin(
    state: State,
    potential: PotentialSum,
    dt: f64,
    kt: f64,
    seed: u64,
) -> anyhow::Result<Simulation> {
    let ff = ForceField::new(potential, 0.3)?;
    let integrator = Langevin::new(ThermostatConfig {
        dt,
        kt,
        tau: 0.5,
        seed,
    })?;
    Ok(Simulation::new(state, ff, Box::new(integrator))?)
}

/// Mean square difference of two curves.
pub fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

/// Median (NaN when empty).
pub fn median(mut x: Vec<f64>) -> f64 {
    x.sort_by(f64::total_cmp);
    x.get(x.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Writes `rdf.csv` under `out`: the bin centre `r` for bins of width `dr`, then one
/// column per curve, under `header`.
pub fn write_rdf_csv(out: &Path, header: &str, dr: f64, curves: &[&[f64]]) -> anyhow::Result<()> {
    let mut text = format!("{header}\n");
    for k in 0..curves[0].len() {
        text.push_str(&((k as f64 + 0.5) * dr).to_string());
        for c in curves {
            text.push_str(&format!(",{}", c[k]));
        }
        text.push('\n');
    }
    std::fs::write(out.join("rdf.csv"), text)?;
    Ok(())
}
