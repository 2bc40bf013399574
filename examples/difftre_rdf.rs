//! DiffTRe (Thaler & Zavadlav, Nat. Commun. 12, 6884, 2021; chemtrain §3.1): learn a
//! pair potential from a radial distribution function alone. The target is the RDF of
//! the force-shifted Lennard-Jones liquid (ρ = 0.8, kT = 1, reduced units); the model is
//! a soft-sphere prior plus a trainable cubic-spline correction, starting from zero.
//! States are sampled by Langevin MD, reweighted to the current parameters, and
//! resampled when the effective sample size falls below 90 %.
//!
//! ```text
//! cargo run --release --example difftre_rdf                 # writes out/difftre_rdf
//! cargo run --release --example difftre_rdf -- --quick --out /tmp/difftre
//! ```
//!
//! Writes `rdf.csv` (r, target, prior, trained), `metrics.csv` (one row per update),
//! `model.tgnn` (the spline, `thermograd-nn` model-file format), and prints the RDF
//! mean-square errors of prior and trained model (from fresh simulations) and the
//! median time per update.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use thermograd::md::{
    fcc_lattice, LennardJonesConfig, Potential, PotentialSum, RdfConfig, RunConfig, State,
    Truncation,
};
use thermograd::nn::{AdamConfig, ModelFile};
use thermograd::train::{
    DiffTReConfig, OptimizerConfig, RdfObservable, ReweightingConfig, SamplerConfig,
    SplinePairConfig, Target,
};

// `tests/train_examples.rs` includes both examples, hence this module twice.
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;
use common::{langevin, median, mse, parse_args, write_rdf_csv};

const KT: f64 = 1.0;
const DENSITY: f64 = 0.8;

/// What a run measured.
#[derive(Debug)]
pub struct Summary {
    /// Mean-square RDF error of the prior alone.
    pub prior_mse: f64,
    /// Mean-square RDF error of prior + trained spline.
    pub trained_mse: f64,
    /// Parameter updates.
    pub updates: usize,
    /// Simulations (reference sets) run during training.
    pub simulations: u64,
    /// Median wall time of one update, including resampling when it happened (s).
    pub median_update_seconds: f64,
    /// Free-energy change of the model along training, `F(θ) − F(θ₀)` (kT).
    pub free_energy: f64,
}

fn soft_sphere() -> thermograd::md::SoftSphere {
    common::soft_sphere(1.0, 1.5)
}

fn start(seed: u64) -> anyhow::Result<State> {
    let (positions, simbox) = fcc_lattice(3, DENSITY)?;
    let n = positions.len();
    let mut s = State::new(positions, vec![1.0; n], vec![0; n], simbox)?;
    s.thermalize(KT, seed)?;
    Ok(s)
}

/// `g(r)` of `potential` from a Langevin run of `frames` snapshots every 20 steps.
fn md_rdf(potential: PotentialSum, frames: usize, seed: u64) -> anyhow::Result<Vec<f64>> {
    let mut sim = langevin(start(seed)?, potential, 0.005, KT, seed)?;
    let mut rdf = rdf_config().build()?;
    let run = RunConfig {
        equilibration_steps: 1000,
        production_steps: 20 * frames as u64,
        stride: 20,
        progress: false,
    };
    sim.run_protocol(&run, &mut rdf)?;
    Ok(rdf.curve(0, 0)?.g)
}

fn rdf_config() -> RdfConfig {
    RdfConfig {
        r_max: 2.5,
        n_bins: 50,
        n_species: 1,
    }
}

/// Runs the example; `quick` shrinks every stage to seconds (for the smoke test).
pub fn run(quick: bool, out: &Path) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (target_frames, updates, samples) = if quick { (60, 6, 20) } else { (1000, 150, 100) };
    let mut lj = LennardJonesConfig::single(1.0, 1.0, 2.5);
    lj.truncation = Truncation::ForceShifted;
    let target = md_rdf(PotentialSum::new().with(lj.build()?), target_frames, 11)?;

    let config = DiffTReConfig {
        sampler: SamplerConfig {
            kt: KT,
            dt: 0.005,
            friction_time: 0.5,
            equilibration_steps: 400,
            samples,
            stride: 20,
            skin: 0.3,
            seed: 12,
            pressure: None,
        },
        updates,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.02,
                ..Default::default()
            },
            ..Default::default()
        },
        reweighting: ReweightingConfig::default(),
        checkpoint: Some(out.join("checkpoint.bin")),
        metrics: Some(out.join("metrics.csv")),
        progress: !quick,
    };
    let model = SplinePairConfig::uniform(0.75, 2.5, 25).build()?;
    let prior: Arc<dyn Potential> = Arc::new(soft_sphere());
    let targets = vec![Target {
        observable: Box::new(RdfObservable {
            config: rdf_config(),
            a: 0,
            b: 0,
        }),
        target: target.clone(),
        weight: 1.0,
    }];
    let mut trainer = config.build(model, start(13)?, Some(prior), targets)?;
    trainer.train()?;
    let free_energy = trainer.loss()?.free_energy / KT;
    let history = trainer.history().to_vec();
    let trained = trainer.into_model();
    trained.save(&out.join("model.tgnn"))?;

    let prior_rdf = md_rdf(PotentialSum::new().with(soft_sphere()), target_frames, 14)?;
    let model_rdf = md_rdf(
        PotentialSum::new().with(soft_sphere()).with(trained),
        target_frames,
        15,
    )?;
    write_rdf_csv(
        out,
        "r,target,prior,trained",
        rdf_config().r_max / rdf_config().n_bins as f64,
        &[&target, &prior_rdf, &model_rdf],
    )?;
    Ok(Summary {
        prior_mse: mse(&prior_rdf, &target),
        trained_mse: mse(&model_rdf, &target),
        updates: history.len(),
        simulations: history.last().map_or(0, |u| u.simulations),
        median_update_seconds: median(history.iter().map(|u| u.seconds).collect()),
        free_energy,
    })
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let Some((quick, out)) = parse_args("difftre_rdf")? else {
        return Ok(());
    };
    let s = run(quick, &out)?;
    println!(
        "RDF mean-square error: prior {:.3e}, trained {:.3e} ({:.1}× lower)",
        s.prior_mse,
        s.trained_mse,
        s.prior_mse / s.trained_mse
    );
    println!(
        "{} updates, {} simulations, median {:.3} s per update; F(θ) − F(θ₀) = {:.3} kT",
        s.updates, s.simulations, s.median_update_seconds, s.free_energy
    );
    println!("wrote {}", out.display());
    Ok(())
}
