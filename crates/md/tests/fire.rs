//! FIRE minimisation: a perturbed Lennard-Jones crystal relaxes to the lattice energy, the
//! 13-atom Lennard-Jones cluster to its icosahedral minimum, harmonic restraints to their
//! targets; non-convergence is an error.

mod support;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::*;
use thermograd_md::*;

#[test]
fn perturbed_fcc_relaxes_to_the_lattice_energy() {
    // LAMMPS in.lj lattice sum (shared/references.md): −6.7733681 per atom at ρ = 0.8442,
    // cutoff 2.5, plain truncation.
    let (positions, simbox) = fcc_lattice(3, 0.8442).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for r in &mut state.positions {
        *r += Vec3::new(rng.gen(), rng.gen(), rng.gen()).map(|x| 0.16 * x - 0.08);
    }
    let mut ff = forcefield(LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap());
    let e0 = eval(&mut ff, &state).energy / n as f64;
    let result = FireConfig::new(0.005, 1e-8)
        .build()
        .unwrap()
        .minimize(&mut state, &mut ff)
        .unwrap();
    let u = result.energy / n as f64;
    println!(
        "fcc: {e0:.6} -> {u:.10} per atom in {} steps (max force {:.1e})",
        result.steps, result.max_force
    );
    assert!((u - (-6.7733681)).abs() < 1e-7, "{u}");
    assert!(result.max_force < 1e-8);
    assert!(state.velocities.iter().all(|v| v.norm() == 0.0));
}

#[test]
fn lj13_cluster_reaches_the_icosahedral_minimum() {
    // Global minimum of LJ₁₃, −44.326801 ε (Wales & Doye 1997, Cambridge Cluster
    // Database), from a roughly placed icosahedron in an open box.
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let mut positions = vec![Vec3::zeros()];
    for (a, b) in [(1.0, phi), (1.0, -phi), (-1.0, phi), (-1.0, -phi)] {
        positions.push(Vec3::new(0.0, a, b));
        positions.push(Vec3::new(a, b, 0.0));
        positions.push(Vec3::new(b, 0.0, a));
    }
    let norm = (1.0 + phi * phi).sqrt();
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for r in positions.iter_mut().skip(1) {
        *r *= 1.2 / norm;
        *r += Vec3::new(rng.gen(), rng.gen(), rng.gen()).map(|x| 0.1 * x - 0.05);
    }
    let mut state = State::new(positions, vec![1.0; 13], vec![0; 13], SimBox::open()).unwrap();
    let mut ff = forcefield(LennardJonesConfig::single(1.0, 1.0, 10.0).build().unwrap());
    let result = FireConfig::new(0.005, 1e-9)
        .build()
        .unwrap()
        .minimize(&mut state, &mut ff)
        .unwrap();
    println!("LJ13: {:.8} in {} steps", result.energy, result.steps);
    assert!(
        (result.energy - (-44.326801)).abs() < 2e-6,
        "{}",
        result.energy
    );
}

#[test]
fn harmonic_wells_are_found_and_non_convergence_is_reported() {
    let targets: Vec<Vec3> = (0..5)
        .map(|k| Vec3::new(k as f64, -0.5 * k as f64, 2.0))
        .collect();
    let restraints = HarmonicRestraints::new(
        targets
            .iter()
            .enumerate()
            .map(|(atom, &target)| Restraint {
                atom,
                target,
                k: 0.5 + 3.0 * atom as f64,
            })
            .collect(),
    )
    .unwrap();
    let start = vec![Vec3::new(0.3, 0.2, -0.1); 5];
    let masses = vec![1.0, 2.0, 0.5, 1.0, 4.0];
    let mut state = State::new(start.clone(), masses.clone(), vec![0; 5], SimBox::open()).unwrap();
    let mut ff = forcefield(restraints);
    let result = FireConfig::new(0.05, 1e-10)
        .build()
        .unwrap()
        .minimize(&mut state, &mut ff)
        .unwrap();
    assert!(result.energy < 1e-18);
    for (r, t) in state.positions.iter().zip(&targets) {
        assert!((r - t).norm() < 1e-9);
    }

    let mut config = FireConfig::new(0.05, 1e-10);
    config.max_steps = 5;
    let mut state = State::new(start, masses, vec![0; 5], SimBox::open()).unwrap();
    match config.build().unwrap().minimize(&mut state, &mut ff) {
        Err(MdError::NotConverged {
            iterations: 5,
            residual,
            tolerance,
            ..
        }) => {
            assert!(residual > tolerance);
            let message = MdError::NotConverged {
                what: "FIRE minimisation",
                iterations: 5,
                residual,
                tolerance,
            }
            .to_string();
            assert!(
                message.contains("did not converge in 5 iterations"),
                "{message}"
            );
        }
        other => panic!("expected NotConverged, got {other:?}"),
    }
}

#[test]
fn invalid_fire_parameters_are_errors() {
    assert!(FireConfig::new(0.0, 1e-6).build().is_err());
    assert!(FireConfig::new(0.01, -1.0).build().is_err());
    let mut c = FireConfig::new(0.01, 1e-6);
    c.f_dec = 1.5;
    assert!(c.build().is_err());
    let mut c = FireConfig::new(0.01, 1e-6);
    c.dt_max = 0.001;
    assert!(c.build().is_err());
}
