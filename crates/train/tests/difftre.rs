//! DiffTRe: the reweighted loss gradient against finite differences on a fixed sample
//! set, exact resume, and learning a Lennard-Jones RDF from a soft-sphere prior.

mod common;

use std::sync::Arc;

use common::{lj, lj_state, slow};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_md::{
    ForceField, Langevin, Potential, PotentialSum, RdfConfig, RunConfig, Simulation,
    SoftSphereConfig, ThermostatConfig,
};
use thermograd_nn::{AdamConfig, Trainable};
use thermograd_train::{
    DiffTRe, DiffTReConfig, EnergyObservable, OptimizerConfig, PressureObservable, RdfObservable,
    ReweightingConfig, SamplerConfig, SplinePair, SplinePairConfig, Target,
};

const KT: f64 = 1.0;
const DENSITY: f64 = 0.8;

fn rdf_config() -> RdfConfig {
    RdfConfig {
        r_max: 2.5,
        n_bins: 50,
        n_species: 1,
    }
}

/// The RDF of a potential (plus nothing) from Langevin MD: `frames` snapshots every 20
/// steps after 1000 steps of equilibration, 108 atoms at ρ = 0.8, kT = 1.
fn md_rdf(potential: PotentialSum, frames: usize, seed: u64) -> Vec<f64> {
    let ff = ForceField::new(potential, 0.3).unwrap();
    let integrator = Langevin::new(ThermostatConfig {
        dt: 0.005,
        kt: KT,
        tau: 0.5,
        seed,
    })
    .unwrap();
    let mut sim =
        Simulation::new(lj_state(3, DENSITY, KT, seed), ff, Box::new(integrator)).unwrap();
    let mut rdf = rdf_config().build().unwrap();
    let run = RunConfig {
        equilibration_steps: 1000,
        production_steps: 20 * frames as u64,
        stride: 20,
        progress: false,
    };
    sim.run_protocol(&run, &mut rdf).unwrap();
    rdf.curve(0, 0).unwrap().g
}

/// The prior: soft spheres `u = (σ/r)¹²`, σ = ε = 1, shifted to 0 at r = 1.5.
fn soft_sphere() -> thermograd_md::SoftSphere {
    let mut c = SoftSphereConfig::single(1.0, 1.0, 12, 1.5);
    c.shift = true;
    c.build().unwrap()
}

fn prior() -> Arc<dyn Potential> {
    Arc::new(soft_sphere())
}

fn sampler(samples: usize, stride: u64, equilibration: u64, seed: u64) -> SamplerConfig {
    SamplerConfig {
        kt: KT,
        dt: 0.005,
        friction_time: 0.5,
        equilibration_steps: equilibration,
        samples,
        stride,
        skin: 0.3,
        seed,
        pressure: None,
    }
}

fn spline() -> SplinePair {
    SplinePairConfig::uniform(0.75, 2.5, 25).build().unwrap()
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

fn rdf_target(target: Vec<f64>) -> Target {
    Target {
        observable: Box::new(RdfObservable {
            config: rdf_config(),
            a: 0,
            b: 0,
        }),
        target,
        weight: 1.0,
    }
}

#[test]
fn loss_gradient_matches_finite_differences_on_fixed_samples() {
    let config = DiffTReConfig {
        sampler: sampler(40, 10, 200, 1),
        updates: 1,
        optimizer: OptimizerConfig::default(),
        reweighting: ReweightingConfig::default(),
        checkpoint: None,
        metrics: None,
        progress: false,
    };
    // RDF, pressure and energy targets: weights-only and model-dependent observables.
    let targets = vec![
        rdf_target(vec![1.0; 50]),
        Target {
            observable: Box::new(PressureObservable),
            target: vec![1.0],
            weight: 0.5,
        },
        Target {
            observable: Box::new(EnergyObservable),
            target: vec![-4.0],
            weight: 0.3,
        },
    ];
    let mut trainer = config
        .build(
            spline(),
            lj_state(3, DENSITY, KT, 2),
            Some(prior()),
            targets,
        )
        .unwrap();
    trainer.ensure_samples().unwrap();
    // Move away from the sampling parameters so that the weights are not uniform.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let p0: Vec<f64> = (0..trainer.model().n_parameters())
        .map(|_| rng.gen_range(-0.05..0.05))
        .collect();
    trainer.set_parameters(&p0).unwrap();
    let base = trainer.loss().unwrap();
    assert!(
        base.ess < 39.9,
        "weights should not be uniform: ESS {}",
        base.ess
    );
    let scale = base.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..p0.len() {
        let mut p = p0.clone();
        p[k] += h;
        trainer.set_parameters(&p).unwrap();
        let up = trainer.loss().unwrap().loss;
        p[k] -= 2.0 * h;
        trainer.set_parameters(&p).unwrap();
        let down = trainer.loss().unwrap().loss;
        worst = worst.max(((up - down) / (2.0 * h) - base.gradient[k]).abs() / scale);
    }
    assert!(worst < 1e-6, "worst relative gradient error {worst:e}");
}

fn resume_config(checkpoint: Option<std::path::PathBuf>) -> DiffTReConfig {
    DiffTReConfig {
        sampler: sampler(8, 5, 40, 7),
        updates: 3,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.05,
                ..Default::default()
            },
            ..Default::default()
        },
        // A threshold of 1 resamples on every update, so the checkpoint must carry
        // the MD state across simulations.
        reweighting: ReweightingConfig {
            ess_threshold: 1.0,
            ..Default::default()
        },
        checkpoint,
        metrics: None,
        progress: false,
    }
}

#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let target = vec![1.0; 50];
    let build = |c: DiffTReConfig| -> DiffTRe<SplinePair> {
        c.build(
            spline(),
            lj_state(2, DENSITY, KT, 5),
            Some(prior()),
            vec![rdf_target(target.clone())],
        )
        .unwrap()
    };
    let mut full = build(resume_config(None));
    full.train().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ckpt = dir.join("difftre.ckpt");
    let mut first = build(resume_config(Some(ckpt.clone())));
    first.update().unwrap();
    drop(first);
    let mut second = build(resume_config(Some(ckpt.clone())));
    second.resume(&ckpt).unwrap();
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    assert_eq!(second.free_energy_steps(), full.free_energy_steps());
    assert_eq!(full.free_energy_steps().len(), 2);
    let losses = |t: &DiffTRe<SplinePair>| t.history().iter().map(|u| u.loss).collect::<Vec<_>>();
    assert_eq!(losses(&second), losses(&full));
}

fn learn_lj_rdf(updates: usize, samples: usize, target_frames: usize) -> (f64, f64, Vec<f64>) {
    let target = md_rdf(PotentialSum::new().with(lj()), target_frames, 11);
    let config = DiffTReConfig {
        sampler: sampler(samples, 20, 400, 12),
        updates,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.02,
                ..Default::default()
            },
            ..Default::default()
        },
        reweighting: ReweightingConfig::default(),
        checkpoint: None,
        metrics: None,
        progress: slow(),
    };
    let mut trainer = config
        .build(
            spline(),
            lj_state(3, DENSITY, KT, 13),
            Some(prior()),
            vec![rdf_target(target.clone())],
        )
        .unwrap();
    trainer.train().unwrap();
    let losses: Vec<f64> = trainer.history().iter().map(|u| u.loss).collect();
    let prior_rdf = md_rdf(PotentialSum::new().with(soft_sphere()), target_frames, 14);
    let trained = trainer.into_model();
    let model_rdf = md_rdf(
        PotentialSum::new().with(soft_sphere()).with(trained),
        target_frames,
        15,
    );
    (mse(&prior_rdf, &target), mse(&model_rdf, &target), losses)
}

#[test]
fn rdf_loss_decreases_from_a_soft_sphere_prior_towards_lennard_jones() {
    let (before, after, losses) = learn_lj_rdf(12, 30, 100);
    eprintln!("RDF MSE prior {before:.3e} → trained {after:.3e}; losses {losses:.3?}");
    assert!(after < 0.7 * before, "RDF MSE {before} → {after}");
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < first, "loss {first} → {last}");
}

#[test]
fn rdf_mse_drops_tenfold_from_a_soft_sphere_prior_to_lennard_jones() {
    if !slow() {
        return;
    }
    let (before, after, losses) = learn_lj_rdf(150, 100, 1000);
    eprintln!(
        "RDF MSE prior {before:.3e} → trained {after:.3e} ({:.1}×); final loss {:.3e}",
        before / after,
        losses.last().unwrap()
    );
    assert!(after * 10.0 < before, "RDF MSE {before} → {after}");
}
