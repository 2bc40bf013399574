//! Wall time of the trainers' units of work on a Lennard-Jones liquid (108 atoms,
//! ρ = 0.8, kT = 1, reduced units): one force-matching epoch, scaled to 1,000
//! configurations, for a Behler–Parrinello network and a spline pair potential, and one
//! DiffTRe update (reweighting + gradient) with and without resampling.
//!
//! ```text
//! cargo run --release -p thermograd-train --example train_timing
//! ```
//!
//! Prints medians over repetitions; machines are shared, so read them as orders of
//! magnitude and ratios, not as exact numbers.

use std::sync::Arc;
use std::time::Instant;

use thermograd_md::{
    fcc_lattice, ForceField, Langevin, LennardJonesConfig, Potential, PotentialSum, RdfConfig,
    RunConfig, Simulation, SoftSphereConfig, State, ThermostatConfig, Truncation,
};
use thermograd_nn::{
    Activation, AdamConfig, AngularKind, BehlerParrinelloConfig, SymmetryFunctions,
};
use thermograd_train::{
    Dataset, DiffTReConfig, FmWeights, ForceMatchingConfig, OptimizerConfig, RdfObservable,
    ReweightingConfig, SamplerConfig, SplinePairConfig, Structure, Target,
};

fn state(seed: u64) -> State {
    let (positions, simbox) = fcc_lattice(3, 0.8).unwrap();
    let n = positions.len();
    let mut s = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    s.thermalize(1.0, seed).unwrap();
    s
}

fn lj() -> thermograd_md::LennardJones {
    let mut c = LennardJonesConfig::single(1.0, 1.0, 2.5);
    c.truncation = Truncation::ForceShifted;
    c.build().unwrap()
}

fn dataset(frames: usize) -> Dataset {
    let ff = ForceField::new(PotentialSum::new().with(lj()), 0.3).unwrap();
    let integrator = Langevin::new(ThermostatConfig {
        dt: 0.005,
        kt: 1.0,
        tau: 0.5,
        seed: 1,
    })
    .unwrap();
    let mut sim = Simulation::new(state(2), ff, Box::new(integrator)).unwrap();
    let mut out = Vec::new();
    let run = RunConfig {
        equilibration_steps: 1000,
        production_steps: 20 * frames as u64,
        stride: 20,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        let mut st = Structure::new(s.positions.clone(), s.species.clone(), s.simbox.clone());
        st.forces = Some(sim.evaluation().forces.clone());
        st.energy = Some(sim.evaluation().energy);
        st.virial = Some(sim.evaluation().virial);
        out.push(st);
        Ok(())
    })
    .unwrap();
    Dataset::new(out, Default::default()).unwrap()
}

fn median(mut x: Vec<f64>) -> f64 {
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}

fn main() {
    let frames = 200;
    let data = dataset(frames);
    println!(
        "threads: {} (rayon); {} configurations of {} atoms",
        rayon::current_num_threads(),
        frames,
        data.structures()[0].n_atoms()
    );
    let fm = ForceMatchingConfig {
        weights: FmWeights {
            energy: 0.1,
            forces: 1.0,
            virial: 0.0,
        },
        epochs: 5,
        batch_size: 16,
        ..Default::default()
    };
    let bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 8, AngularKind::G4),
        hidden: vec![32, 32],
        activation: Activation::Silu,
    }
    .build(1)
    .unwrap();
    let mut t = fm.build(bp, data.clone(), Dataset::default()).unwrap();
    t.train().unwrap();
    let per_1000 = median(t.history().iter().map(|e| e.seconds).collect()) * 1000.0 / frames as f64;
    println!("force matching, Behler–Parrinello [32, 32], 24 descriptors, E+F: {per_1000:.2} s per epoch per 1000 configurations");
    // Where the time goes, on one batch of 16 configurations.
    let bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 8, AngularKind::G4),
        hidden: vec![32, 32],
        activation: Activation::Silu,
    }
    .build(1)
    .unwrap();
    let batch: Vec<_> = data.structures()[..16].iter().map(|s| s.frame()).collect();
    let labeled = data
        .subset(&(0..16).collect::<Vec<_>>())
        .unwrap()
        .labeled_frames()
        .unwrap();
    let time = |f: &mut dyn FnMut()| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let evaluate = time(&mut || {
        bp.evaluate_batch(&batch).unwrap();
    });
    let energies = time(&mut || {
        bp.energies(&batch).unwrap();
    });
    let dirs: Vec<Vec<thermograd_md::Vec3>> = batch
        .iter()
        .map(|f| vec![thermograd_md::Vec3::new(0.1, 0.2, 0.3); f.positions.len()])
        .collect();
    let tangent = time(&mut || {
        bp.param_vjp(&batch, &[0.1; 16], Some(&dirs)).unwrap();
    });
    let fused = time(&mut || {
        bp.force_matching(
            &labeled,
            thermograd_nn::LossWeights {
                energy: 0.1,
                forces: 1.0,
            },
        )
        .unwrap();
    });
    println!(
        "  one batch of 16: evaluate_batch {evaluate:.3} s, energies {energies:.3} s, param_vjp with forces {tangent:.3} s, nn's fused force_matching {fused:.3} s"
    );
    let fm_virial = ForceMatchingConfig {
        weights: FmWeights {
            energy: 0.1,
            forces: 1.0,
            virial: 0.1,
        },
        ..fm.clone()
    };
    let bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 8, AngularKind::G4),
        hidden: vec![32, 32],
        activation: Activation::Silu,
    }
    .build(1)
    .unwrap();
    let mut t = fm_virial
        .build(bp, data.clone(), Dataset::default())
        .unwrap();
    t.train().unwrap();
    let per_1000 = median(t.history().iter().map(|e| e.seconds).collect()) * 1000.0 / frames as f64;
    println!("  … with virials (E+F+W): {per_1000:.2} s per epoch per 1000 configurations");
    let spline = SplinePairConfig::uniform(0.75, 2.5, 50).build().unwrap();
    let mut t = fm.build(spline, data.clone(), Dataset::default()).unwrap();
    t.train().unwrap();
    let per_1000 = median(t.history().iter().map(|e| e.seconds).collect()) * 1000.0 / frames as f64;
    println!(
        "force matching, 50-knot spline, E+F: {per_1000:.3} s per epoch per 1000 configurations"
    );

    // DiffTRe: 100 states per reference set, 50-bin RDF target.
    let mut ss = SoftSphereConfig::single(1.0, 1.0, 12, 1.5);
    ss.shift = true;
    let prior: Arc<dyn Potential> = Arc::new(ss.build().unwrap());
    let rdf = RdfConfig {
        r_max: 2.5,
        n_bins: 50,
        n_species: 1,
    };
    for (label, threshold) in [("always resampling", 1.0), ("ESS threshold 0.9", 0.9)] {
        let config = DiffTReConfig {
            sampler: SamplerConfig {
                kt: 1.0,
                dt: 0.005,
                friction_time: 0.5,
                equilibration_steps: 400,
                samples: 100,
                stride: 20,
                skin: 0.3,
                seed: 3,
                pressure: None,
            },
            updates: 20,
            optimizer: OptimizerConfig {
                adam: AdamConfig {
                    learning_rate: 0.02,
                    ..Default::default()
                },
                ..Default::default()
            },
            reweighting: ReweightingConfig {
                ess_threshold: threshold,
                ..Default::default()
            },
            checkpoint: None,
            metrics: None,
            progress: false,
        };
        let targets = vec![Target {
            observable: Box::new(RdfObservable {
                config: rdf,
                a: 0,
                b: 0,
            }),
            target: vec![1.0; 50],
            weight: 1.0,
        }];
        let mut t = config
            .build(
                SplinePairConfig::uniform(0.75, 2.5, 25).build().unwrap(),
                state(4),
                Some(prior.clone()),
                targets,
            )
            .unwrap();
        let start = Instant::now();
        t.train().unwrap();
        let total = start.elapsed().as_secs_f64();
        let h = t.history();
        let (with, without): (Vec<_>, Vec<_>) = h.iter().partition(|u| u.resampled);
        let med = |v: &[&thermograd_train::DiffTReUpdate]| {
            if v.is_empty() {
                f64::NAN
            } else {
                median(v.iter().map(|u| u.seconds).collect())
            }
        };
        println!(
            "DiffTRe, spline + soft-sphere prior, 100 states × 2000 MD steps/set ({label}): {} updates in {total:.2} s, {} simulations; median {:.4} s per update with resampling, {:.5} s without",
            h.len(),
            h.last().unwrap().simulations,
            med(&with),
            med(&without)
        );
    }
}
