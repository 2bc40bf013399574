//! The models' parameter derivatives against finite differences, and the spline model
//! against the MD engine's tabulated potential.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{Mat3, Vec3};
use thermograd_md::{fcc_lattice, Configuration, Evaluation, Potential};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinelloConfig, Frame, SchNetConfig, SymmetryFunctions,
};
use thermograd_train::{Cotangents, EnergyModel, SplinePairConfig};

/// Perturbed fcc frames (reduced units, 32 atoms, two species).
fn frames(n: usize, seed: u64) -> Vec<Frame> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|k| {
            let (pos, simbox) = fcc_lattice(2, 0.9 + 0.05 * k as f64).unwrap();
            let positions = pos
                .iter()
                .map(|r| {
                    r + Vec3::new(
                        rng.gen_range(-0.08..0.08),
                        rng.gen_range(-0.08..0.08),
                        rng.gen_range(-0.08..0.08),
                    )
                })
                .collect();
            let species = (0..pos.len()).map(|i| (i % 3 == 0) as u32).collect();
            Frame {
                positions,
                species,
                simbox,
            }
        })
        .collect()
}

fn cotangents(frames: &[Frame], seed: u64) -> (Vec<f64>, Vec<Vec<Vec3>>, Vec<Mat3>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = || rng.gen_range(-1.0..1.0);
    let a = frames.iter().map(|_| v()).collect();
    let g = frames
        .iter()
        .map(|f| {
            f.positions
                .iter()
                .map(|_| Vec3::new(v(), v(), v()))
                .collect()
        })
        .collect();
    let c = frames.iter().map(|_| Mat3::from_fn(|_, _| v())).collect();
    (a, g, c)
}

/// `Σ a E + Σ g·F + Σ C:W` of a model's evaluations.
fn functional(evals: &[Evaluation], a: &[f64], g: &[Vec<Vec3>], c: &[Mat3]) -> f64 {
    evals
        .iter()
        .enumerate()
        .map(|(s, e)| {
            a[s] * e.energy
                + e.forces
                    .iter()
                    .zip(&g[s])
                    .map(|(f, g)| f.dot(g))
                    .sum::<f64>()
                + c[s].component_mul(&e.virial).sum()
        })
        .sum()
}

fn check_vjp<M: EnergyModel + Clone>(model: &M, frames: &[Frame], h: f64, tol: f64, stride: usize) {
    let (a, g, c) = cotangents(frames, 11);
    let cot = Cotangents {
        energy: &a,
        forces: Some(&g),
        virial: Some(&c),
    };
    let grad = model.parameter_vjp(frames, &cot).unwrap();
    let p0 = model.parameters();
    assert_eq!(grad.len(), p0.len());
    let mut m = model.clone();
    let mut worst: f64 = 0.0;
    let scale = grad.iter().fold(0.0f64, |s, x| s.max(x.abs()));
    for k in (0..p0.len()).step_by(stride) {
        let mut p = p0.clone();
        p[k] += h;
        m.set_parameters(&p).unwrap();
        let up = functional(&m.evaluate_frames(frames).unwrap(), &a, &g, &c);
        p[k] -= 2.0 * h;
        m.set_parameters(&p).unwrap();
        let down = functional(&m.evaluate_frames(frames).unwrap(), &a, &g, &c);
        let fd = (up - down) / (2.0 * h);
        worst = worst.max((fd - grad[k]).abs() / scale);
    }
    eprintln!("worst relative error {worst:e}");
    assert!(worst < tol, "worst relative error {worst:e}");
}

#[test]
fn spline_vjp_matches_finite_differences() {
    let mut cfg = SplinePairConfig::uniform(0.6, 1.6, 14);
    cfg.n_species = 2;
    let model = cfg
        .build_from(|a, b, r| (1.0 + 0.3 * (a + b) as f64) * (r - 1.6).powi(2) * (2.0 - r).sin())
        .unwrap();
    check_vjp(&model, &frames(3, 1), 1e-5, 1e-9, 1);
}

#[test]
fn spline_agrees_with_the_md_table_and_its_forces_are_gradients() {
    let mut cfg = SplinePairConfig::uniform(0.6, 1.6, 14);
    cfg.n_species = 2;
    let model = cfg
        .build_from(|a, b, r| (1.0 + 0.3 * (a + b) as f64) * (r - 1.6).powi(2) / r)
        .unwrap();
    let fs = frames(2, 5);
    let evals = model.evaluate_frames(&fs).unwrap();
    for (f, e) in fs.iter().zip(&evals) {
        let mut md = Evaluation::zeros(f.positions.len());
        let config = Configuration {
            positions: &f.positions,
            species: &f.species,
            simbox: &f.simbox,
            neighbors: None,
        };
        model.add_to(&config, &mut md).unwrap();
        assert!((md.energy - e.energy).abs() < 1e-10 * e.energy.abs().max(1.0));
        assert!((md.virial - e.virial).norm() < 1e-10 * e.virial.norm().max(1.0));
        for (x, y) in md.forces.iter().zip(&e.forces) {
            assert!((x - y).norm() < 1e-10);
        }
        // Forces are −∇E.
        let h = 1e-6;
        for (i, c) in [(0, 0), (5, 1), (17, 2)] {
            let mut p = f.clone();
            p.positions[i][c] += h;
            let up = model.energies(&[p.clone()]).unwrap()[0];
            p.positions[i][c] -= 2.0 * h;
            let down = model.energies(&[p]).unwrap()[0];
            assert!((-(up - down) / (2.0 * h) - e.forces[i][c]).abs() < 1e-6);
        }
    }
}

#[test]
fn behler_parrinello_vjp_matches_finite_differences() {
    let config = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(1.6, 2, 3, AngularKind::G4),
        hidden: vec![6],
        activation: Activation::Tanh,
    };
    let model = config.build(3).unwrap();
    // Every 7th parameter keeps the test fast; each is a full finite difference.
    check_vjp(&model, &frames(2, 2), 1e-5, 1e-8, 7);
}

#[test]
fn schnet_vjp_matches_finite_differences() {
    let config = SchNetConfig {
        n_species: 2,
        cutoff: 1.6,
        features: 6,
        n_rbf: 5,
        interactions: 2,
        readout_hidden: vec![4],
        activation: Activation::ShiftedSoftplus,
    };
    let model = config.build(3).unwrap();
    check_vjp(&model, &frames(2, 2), 1e-5, 1e-8, 7);
}

#[test]
fn virial_cotangent_alone_matches_the_strain_derivative() {
    // With only a virial cotangent, the VJP of a spline model is ∂(C:W)/∂θ; cross-check
    // W itself against the strain derivative of the energy, W_ab = −∂E/∂ε_ba.
    let model = SplinePairConfig::uniform(0.6, 1.6, 10)
        .build_from(|_, _, r| (r - 1.6).powi(2) / r)
        .unwrap();
    let mut f = frames(1, 9).remove(0);
    f.species = vec![0; f.positions.len()];
    let w = model.evaluate_frames(std::slice::from_ref(&f)).unwrap()[0].virial;
    let h = 1e-6;
    for (a, b) in [(0, 0), (0, 1), (2, 1)] {
        let strained = |t: f64| {
            let mut eps = Mat3::zeros();
            eps[(b, a)] = t;
            let mu = Mat3::identity() + eps;
            Frame {
                positions: f.positions.iter().map(|r| mu * r).collect(),
                species: f.species.clone(),
                simbox: f.simbox.deformed(&mu).unwrap(),
            }
        };
        let de = (model.energies(&[strained(h)]).unwrap()[0]
            - model.energies(&[strained(-h)]).unwrap()[0])
            / (2.0 * h);
        assert!(
            (w[(a, b)] + de).abs() < 1e-6 * w.norm(),
            "W_{a}{b} = {} vs {}",
            w[(a, b)],
            -de
        );
    }
}
