//! Shared by the network tests: random frames, a triclinic box, rotations, and the
//! invariance checks every potential must pass.
#![allow(dead_code)] // each test file uses its own subset

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_md::Evaluation;
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
