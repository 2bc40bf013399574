//! Shared by the network tests: random frames, a triclinic box, rotations, and the
//! invariance checks every potential must pass.
#![allow(dead_code)] // each test file uses its own subset

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{scale_positions, Mat3, SimBox, Vec3};
use thermograd_md::{
    fcc_lattice, Evaluation, ForceField, LennardJonesConfig, Potential, PotentialSum, Simulation,
    State, Truncation, VelocityVerlet,
};
use thermograd_neighbors::{ListKind, NeighborList, NeighborListConfig};
use thermograd_nn::Frame;

/// Random positions with a minimum separation (minimum image in `simbox`).
pub fn random_frame(n: usize, simbox: &SimBox, extent: f64, seed: u64) -> Frame {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut positions: Vec<Vec3> = Vec::new();
    while positions.len() < n {
        let r = Vec3::new(
            rng.gen_range(0.0..extent),
            rng.gen_range(0.0..extent),
            rng.gen_range(0.0..extent),
        );
        if positions.iter().all(|p| simbox.distance(p, &r) > 0.9) {
            positions.push(r);
        }
    }
    let species = (0..n).map(|i| (i % 3 == 0) as u32).collect();
    Frame {
        positions,
        species,
        simbox: simbox.clone(),
    }
}

pub fn triclinic() -> SimBox {
    SimBox::from_lengths_angles([5.0, 5.5, 6.0], [80.0, 75.0, 65.0]).unwrap()
}

/// Rotation by `az` about z after `ay` about y after `ax` about x.
pub fn rotation(ax: f64, ay: f64, az: f64) -> Mat3 {
    let rx = nalgebra::Rotation3::from_axis_angle(&Vec3::x_axis(), ax);
    let ry = nalgebra::Rotation3::from_axis_angle(&Vec3::y_axis(), ay);
    let rz = nalgebra::Rotation3::from_axis_angle(&Vec3::z_axis(), az);
    (rz * ry * rx).into_inner()
}

/// Energy invariance under translation, a lattice shift of one atom, a permutation of
/// two same-species atoms (1 and 2) and a rotation (open boundaries, forces rotating
/// with the frame), for a model evaluated by `eval`, on a random triclinic frame.
pub fn check_invariances(
    eval: &dyn Fn(&Frame) -> Evaluation,
    seed: u64,
    t: [f64; 3],
    angles: [f64; 3],
    shift: [i32; 3],
    atom: usize,
) -> Result<(), TestCaseError> {
    let energy = |f: &Frame| eval(f).energy;
    let simbox = triclinic();
    let f = random_frame(10, &simbox, 5.0, seed);
    let e0 = eval(&f);
    let tol = 1e-9 * (1.0 + e0.energy.abs());

    // Translation (periodic box).
    let mut p = f.clone();
    for r in &mut p.positions {
        *r += Vec3::from(t);
    }
    prop_assert!((energy(&p) - e0.energy).abs() < tol);

    // One atom shifted by a lattice vector.
    let mut p = f.clone();
    let h = simbox.cell().unwrap();
    p.positions[atom] += h * Vec3::new(shift[0] as f64, shift[1] as f64, shift[2] as f64);
    let e = eval(&p);
    prop_assert!((e.energy - e0.energy).abs() < tol);
    for (a, b) in e.forces.iter().zip(&e0.forces) {
        prop_assert!((a - b).norm() < 1e-9);
    }

    // Permutation of two atoms of the same species (1 ↔ 2 are both species 0).
    let mut p = f.clone();
    p.positions.swap(1, 2);
    let e = eval(&p);
    prop_assert!((e.energy - e0.energy).abs() < tol);
    prop_assert!((e.forces[1] - e0.forces[2]).norm() < 1e-9);

    // Rotation (open boundaries; forces rotate with the frame).
    let open = Frame {
        simbox: SimBox::open(),
        ..f.clone()
    };
    let eo = eval(&open);
    let rot = rotation(angles[0], angles[1], angles[2]);
    let mut p = open.clone();
    for r in &mut p.positions {
        *r = rot * *r;
    }
    let e = eval(&p);
    prop_assert!((e.energy - eo.energy).abs() < 1e-9 * (1.0 + eo.energy.abs()));
    for (a, b) in e.forces.iter().zip(&eo.forces) {
        prop_assert!((a - rot * b).norm() < 1e-9);
    }
    Ok(())
}

/// Worst error of the forces against central differences of the energy (step 1e-5),
/// relative to the largest force; also asserts that the forces do not vanish.
pub fn force_fd_error(eval: &dyn Fn(&Frame) -> Evaluation, f: &Frame) -> f64 {
    let e = eval(f);
    let scale = e.forces.iter().map(|v| v.norm()).fold(0.0, f64::max);
    assert!(scale > 1e-3, "forces should not vanish");
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for i in 0..f.positions.len() {
        for a in 0..3 {
            let mut p = f.clone();
            p.positions[i][a] += h;
            let ep = eval(&p).energy;
            p.positions[i][a] -= 2.0 * h;
            let em = eval(&p).energy;
            let fd = -(ep - em) / (2.0 * h);
            worst = worst.max((fd - e.forces[i][a]).abs() / scale);
        }
    }
    worst
}

/// Asserts `W_ba = −∂E/∂ε_ab` (W = Σ x ⊗ F) by central differences of homogeneous
/// strains, within 1e-6 of the largest virial entry.
pub fn assert_virial_is_strain_derivative(eval: &dyn Fn(&Frame) -> Evaluation, f: &Frame) {
    let e = eval(f);
    let h = 1e-6;
    let scale = e.virial.abs().max().max(1e-3);
    for a in 0..3 {
        for b in 0..3 {
            let mut es = [0.0; 2];
            for (s, out) in [h, -h].iter().zip(&mut es) {
                let mut mu = Mat3::identity();
                mu[(a, b)] += s;
                let mut p = f.clone();
                scale_positions(&mut p.positions, &mu);
                p.simbox = f.simbox.deformed(&mu).unwrap();
                *out = eval(&p).energy;
            }
            let fd = -(es[0] - es[1]) / (2.0 * h);
            assert!(
                (fd - e.virial[(b, a)]).abs() / scale < 1e-6,
                "({a},{b}): {fd} vs {}",
                e.virial[(b, a)]
            );
        }
    }
}

/// Asserts that evaluating with an up-to-date Verlet list (half and full, cutoff 3.2,
/// skin 0.3) gives what `eval` gives without one.
pub fn assert_list_path_agrees(
    eval: &dyn Fn(&Frame, Option<&NeighborList>) -> Evaluation,
    f: &Frame,
) {
    let reference = eval(f, None);
    for kind in [ListKind::Half, ListKind::Full] {
        let mut list = NeighborList::new(NeighborListConfig {
            cutoff: 3.2,
            skin: 0.3,
            kind,
        })
        .unwrap();
        list.update(&f.positions, &f.simbox).unwrap();
        let e = eval(f, Some(&list));
        assert!((e.energy - reference.energy).abs() < 1e-10);
        for (a, b) in e.forces.iter().zip(&reference.forces) {
            assert!((a - b).norm() < 1e-10);
        }
        assert!((e.virial - reference.virial).abs().max() < 1e-10);
    }
}

/// Runs 100 NVE steps (dt = 0.002) of a 32-atom fcc crystal (ρ = 0.8, started at kT = 0.8)
/// under a force-shifted Lennard-Jones prior plus `correction` (Δ-learning), and returns
/// the largest change of the conserved energy relative to the kinetic scale `1.5 kT N`.
/// The prior is force-shifted because plain truncation does not conserve energy itself
/// (its energy jumps when pairs cross the cutoff).
pub fn nve_relative_drift(correction: impl Potential + 'static) -> f64 {
    let (positions, simbox) = fcc_lattice(2, 0.8).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(0.8, 3).unwrap();
    let lj = LennardJonesConfig {
        truncation: Truncation::ForceShifted,
        ..LennardJonesConfig::single(1.0, 1.0, 2.5)
    }
    .build()
    .unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj).with(correction), 0.3).unwrap();
    let mut sim =
        Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.002).unwrap())).unwrap();
    let e0 = sim.sample().conserved_energy;
    let mut worst: f64 = 0.0;
    for _ in 0..10 {
        sim.run(10).unwrap();
        worst = worst.max((sim.sample().conserved_energy - e0).abs());
    }
    worst / (1.5 * 0.8 * n as f64)
}
