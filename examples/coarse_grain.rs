//! Bottom-up coarse-graining (chemtrain §3.2): diatomic molecules (Lennard-Jones atoms
//! joined by a stiff harmonic bond, reduced units, kT = 1.5) are simulated with
//! thermograd-md, mapped to one bead per molecule at the centre of mass, and a
//! bead–bead pair potential (cubic spline) is learned twice from the mapped data:
//!
//! - by **force matching** (eq. 16) on the mapped forces, the multiscale
//!   coarse-graining estimate of the potential of mean force, as a correction to a
//!   soft wall below the closest contacts (Δ-learning, eq. 23);
//! - by **relative entropy** (eq. 22) on the mapped positions, with a soft-sphere prior
//!   and MD sampling of the CG model, reweighted between resamplings.
//!
//! Each CG model is then simulated and its bead RDF compared with the mapped reference.
//!
//! ```text
//! cargo run --release --example coarse_grain                 # writes out/coarse_grain
//! cargo run --release --example coarse_grain -- --quick --out /tmp/cg
//! ```
//!
//! Writes the fine-grained frames with forces (`fg.extxyz`, the input of the example
//! configurations `examples/configs/train_fm.toml` and `train_rm.toml`), the mapped
//! frames (`cg.extxyz`), `rdf.csv` (r, reference, prior, FM, RE) and both models.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use thermograd::geometry::{LinearMap, Vec3};
use thermograd::md::{
    fcc_lattice, Bond, BondedPrior, LennardJonesConfig, Potential, PotentialSum, RdfConfig,
    RunConfig, Simulation, State, Topology, Truncation,
};
use thermograd::nn::{AdamConfig, Frame, ModelFile};
use thermograd::train::formats::write_extxyz;
use thermograd::train::{
    Dataset, FmWeights, ForceMatchingConfig, OptimizerConfig, RelativeEntropyConfig,
    ReweightingConfig, SamplerConfig, Schedule, SplinePair, SplinePairConfig, SplitConfig,
    Structure, UnitConversion,
};

// `tests/train_examples.rs` includes both examples, hence this module twice.
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;
use common::{langevin, median, mse, parse_args, write_rdf_csv};

const KT: f64 = 1.5;
const MOLECULE_DENSITY: f64 = 0.25;

/// What a run measured.
#[derive(Debug)]
pub struct Summary {
    /// Mean-square bead-RDF error of the soft-sphere prior alone.
    pub prior_mse: f64,
    /// Of the force-matched model.
    pub fm_mse: f64,
    /// Of the relative-entropy model (prior + spline).
    pub re_mse: f64,
    /// Held-out CG force RMSE of the force-matched model, and the CG force std.
    pub fm_force_rmse: (f64, f64),
    /// Force-matching training loss of the first and the last epoch.
    pub fm_loss: (f64, f64),
    /// Median seconds per force-matching epoch per 1000 CG structures.
    pub fm_epoch_seconds_per_1000: f64,
    /// Median seconds per relative-entropy update.
    pub re_update_seconds: f64,
}

/// The force-matching prior: a soft wall `(0.6/r)¹²`, below the bead contacts the data
/// show (the mapped RDF starts near 0.7; `u(0.75) ≈ 0.07`), so that the short range,
/// which force matching cannot learn from a handful of close contacts, stays repulsive.
fn wall() -> thermograd::md::SoftSphere {
    common::soft_sphere(0.6, 1.0)
}

/// The relative-entropy prior (and the "prior" of the comparison): soft spheres
/// `(0.9/r)¹²`, the bead size.
fn soft_sphere() -> thermograd::md::SoftSphere {
    common::soft_sphere(0.9, 1.5)
}

/// Runs Langevin MD and returns `frames` snapshots (with total forces) every 50 steps.
fn simulate(
    state: State,
    potential: PotentialSum,
    frames: usize,
    seed: u64,
) -> anyhow::Result<Vec<Structure>> {
    let mut sim = langevin(state, potential, 0.004, KT, seed)?;
    let mut out = Vec::new();
    let run = RunConfig {
        equilibration_steps: 2000,
        production_steps: 50 * frames as u64,
        stride: 50,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        let mut st = Structure::new(s.positions.clone(), s.species.clone(), s.simbox.clone());
        st.forces = Some(sim.evaluation().forces.clone());
        st.energy = Some(sim.evaluation().energy);
        out.push(st);
        Ok(())
    })?;
    Ok(out)
}

fn rdf(frames: &[Frame], r_max: f64) -> anyhow::Result<Vec<f64>> {
    let mut rdf = RdfConfig {
        r_max,
        n_bins: 40,
        n_species: 1,
    }
    .build()?;
    for f in frames {
        rdf.accumulate(&f.positions, &f.species, &f.simbox)?;
    }
    Ok(rdf.curve(0, 0)?.g)
}

/// Runs the example; `quick` shrinks every stage to seconds (for the smoke test).
pub fn run(quick: bool, out: &Path) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (cells, fg_frames, epochs, updates, cg_frames) = if quick {
        (2, 40, 10, 6, 40)
    } else {
        (3, 400, 150, 120, 300)
    };
    // Fine-grained system: diatomics on an fcc lattice of molecule centres.
    let (sites, simbox) = fcc_lattice(cells, MOLECULE_DENSITY)?;
    let n_mol = sites.len();
    let mut positions = Vec::with_capacity(2 * n_mol);
    let mut bonds = Vec::with_capacity(n_mol);
    for (m, s) in sites.iter().enumerate() {
        positions.push(s - Vec3::new(0.5, 0.0, 0.0));
        positions.push(s + Vec3::new(0.5, 0.0, 0.0));
        bonds.push(Bond {
            atoms: [2 * m, 2 * m + 1],
            k: 200.0,
            r0: 1.0,
        });
    }
    let n = positions.len();
    let mut fg_state = State::new(positions, vec![1.0; n], vec![0; n], simbox.clone())?;
    fg_state.thermalize(KT, 1)?;
    let mut lj = LennardJonesConfig::single(1.0, 1.0, 2.5);
    lj.truncation = Truncation::ForceShifted;
    let topology = Topology {
        bonds,
        ..Default::default()
    };
    let fg = PotentialSum::new()
        .with(lj.build()?)
        .with(BondedPrior::new(topology, n)?);
    let fg_data = Dataset::new(simulate(fg_state, fg, fg_frames, 2)?, Default::default())?;
    write_extxyz(out.join("fg.extxyz"), &fg_data, &UnitConversion::IDENTITY)?;

    // Centre-of-mass map, one bead per molecule.
    let groups: Vec<Vec<usize>> = (0..n_mol).map(|m| vec![2 * m, 2 * m + 1]).collect();
    let map = LinearMap::center_of_mass(n, &groups, &vec![1.0; n])?;
    let cg = fg_data.coarse_grain(&map, &vec![0; n_mol], Default::default())?;
    write_extxyz(out.join("cg.extxyz"), &cg, &UnitConversion::IDENTITY)?;
    let cutoff = simbox.max_single_image_cutoff().min(3.0);
    let reference_rdf = rdf(&cg.frames(), cutoff)?;

    // Force matching on the mapped forces, as a correction to a soft wall (Δ-learning):
    // the wall keeps CG simulations away from contacts closer than the data ever show.
    let split_config = SplitConfig {
        validation: 0.1,
        test: 0.2,
        seed: 3,
    };
    let split = cg.subtract_potential(&wall())?.split(&split_config)?;
    let total_test = cg.split(&split_config)?.test;
    let n_train = split.train.len();
    let fm = ForceMatchingConfig {
        weights: FmWeights::default(),
        epochs,
        batch_size: 1,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.1,
                ..Default::default()
            },
            schedule: Schedule::Exponential {
                final_learning_rate: 1e-3,
            },
            clip_norm: None,
        },
        seed: 4,
        progress: !quick,
        ..Default::default()
    };
    let knots = SplinePairConfig::uniform(0.3, cutoff, 40);
    let mut fm_trainer = fm.build(knots.build()?, split.train, split.validation)?;
    fm_trainer.train()?;
    let test = fm_trainer.evaluate(&split.test)?;
    let fm_epoch = median(fm_trainer.history().iter().map(|e| e.seconds).collect());
    let fm_loss = (
        fm_trainer.history()[0].train_loss,
        fm_trainer
            .history()
            .last()
            .map_or(f64::NAN, |e| e.train_loss),
    );
    let fm_model = fm_trainer.into_model();
    fm_model.save(&out.join("fm_model.tgnn"))?;

    // Relative entropy with a soft-sphere prior.
    let mut cg_start = State::new(
        sites.clone(),
        vec![2.0; n_mol],
        vec![0; n_mol],
        simbox.clone(),
    )?;
    cg_start.thermalize(KT, 5)?;
    let prior: Arc<dyn Potential> = Arc::new(soft_sphere());
    let re = RelativeEntropyConfig {
        sampler: SamplerConfig {
            kt: KT,
            dt: 0.004,
            friction_time: 0.5,
            equilibration_steps: 500,
            samples: if quick { 20 } else { 60 },
            stride: 50,
            skin: 0.3,
            seed: 6,
            pressure: None,
        },
        updates,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.03,
                ..Default::default()
            },
            ..Default::default()
        },
        reweighting: ReweightingConfig::default(),
        reference_batch: Some(100),
        seed: 7,
        checkpoint: Some(out.join("re_checkpoint.bin")),
        metrics: Some(out.join("re_metrics.csv")),
        progress: !quick,
    };
    let mut re_trainer = re.build(
        SplinePairConfig::uniform(0.3, cutoff, 30).build()?,
        cg.clone(),
        cg_start.clone(),
        Some(prior),
    )?;
    re_trainer.train()?;
    let re_update = median(re_trainer.history().iter().map(|u| u.seconds).collect());
    let re_model: SplinePair = re_trainer.into_model();
    re_model.save(&out.join("re_model.tgnn"))?;

    // Simulate each CG model and compare bead RDFs.
    let frames = |s: Vec<Structure>| s.into_iter().map(|s| s.frame()).collect::<Vec<_>>();
    let prior_rdf = rdf(
        &frames(simulate(
            cg_start.clone(),
            PotentialSum::new().with(soft_sphere()),
            cg_frames,
            8,
        )?),
        cutoff,
    )?;
    let fm_rdf = rdf(
        &frames(simulate(
            cg_start.clone(),
            PotentialSum::new().with(wall()).with(fm_model),
            cg_frames,
            9,
        )?),
        cutoff,
    )?;
    let re_rdf = rdf(
        &frames(simulate(
            cg_start,
            PotentialSum::new().with(soft_sphere()).with(re_model),
            cg_frames,
            10,
        )?),
        cutoff,
    )?;
    write_rdf_csv(
        out,
        "r,reference,prior,force_matching,relative_entropy",
        cutoff / reference_rdf.len() as f64,
        &[&reference_rdf, &prior_rdf, &fm_rdf, &re_rdf],
    )?;
    Ok(Summary {
        prior_mse: mse(&prior_rdf, &reference_rdf),
        fm_mse: mse(&fm_rdf, &reference_rdf),
        re_mse: mse(&re_rdf, &reference_rdf),
        fm_force_rmse: (
            test.force_rmse.unwrap_or(f64::NAN),
            total_test.force_std().unwrap_or(f64::NAN),
        ),
        fm_epoch_seconds_per_1000: fm_epoch * 1000.0 / n_train as f64,
        fm_loss,
        re_update_seconds: re_update,
    })
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let Some((quick, out)) = parse_args("coarse_grain")? else {
        return Ok(());
    };
    let s = run(quick, &out)?;
    println!("bead RDF mean-square error against the mapped reference:");
    println!("  soft-sphere prior    {:.3e}", s.prior_mse);
    println!("  force matching       {:.3e}", s.fm_mse);
    println!("  relative entropy     {:.3e}", s.re_mse);
    println!(
        "FM held-out CG force RMSE {:.3} (force std {:.3}); {:.3} s per epoch per 1000 structures",
        s.fm_force_rmse.0, s.fm_force_rmse.1, s.fm_epoch_seconds_per_1000
    );
    println!("RE median {:.3} s per update", s.re_update_seconds);
    println!("wrote {}", out.display());
    Ok(())
}
