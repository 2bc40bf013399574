//! Behler–Parrinello potential: forces, virial and force-matching gradient against
//! finite differences, invariances, batching, MD energy conservation, files.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

mod common;

use common::{
    assert_list_path_agrees, assert_virial_is_strain_derivative, check_invariances, force_fd_error,
    nve_relative_drift, random_frame, triclinic,
};
use proptest::prelude::*;
use thermograd_geometry::SimBox;
use thermograd_md::Evaluation;
use thermograd_neighbors::NeighborList;
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Frame, LabeledFrame,
    LossWeights, ModelFile, NnError, SymmetryFunctions, Trainable,
};

fn model(kind: AngularKind, seed: u64) -> BehlerParrinello {
    BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(3.0, 2, 4, kind),
        hidden: vec![8, 6],
        activation: Activation::Tanh,
    }
    .build(seed)
    .unwrap()
}

fn evaluate(m: &BehlerParrinello, f: &Frame, list: Option<&NeighborList>) -> Evaluation {
    m.evaluate(&f.positions, &f.species, &f.simbox, list)
        .unwrap()
}

#[test]
fn forces_match_finite_differences() {
    for (kind, simbox) in [
        (AngularKind::G4, triclinic()),
        (AngularKind::G5, triclinic()),
        (AngularKind::G4, SimBox::open()),
    ] {
        let m = model(kind, 1);
        let f = random_frame(14, &simbox, 5.0, 2);
        let worst = force_fd_error(&|f| evaluate(&m, f, None), &f);
        println!("{kind:?}: worst relative force error {worst:e}");
        assert!(
            worst < 1e-6,
            "{kind:?}: worst relative force error {worst:e}"
        );
    }
}

#[test]
fn virial_matches_strain_derivative() {
    let m = model(AngularKind::G4, 3);
    let f = random_frame(14, &triclinic(), 5.0, 4);
    assert_virial_is_strain_derivative(&|f| evaluate(&m, f, None), &f);
}

#[test]
fn neighbor_list_path_agrees_with_cell_list_path() {
    let m = model(AngularKind::G4, 5);
    let f = random_frame(20, &triclinic(), 5.0, 6);
    assert_list_path_agrees(&|f, list| evaluate(&m, f, list), &f);
}

#[test]
fn batches_of_different_sizes_agree_with_single_evaluations() {
    let m = model(AngularKind::G4, 7);
    let frames = vec![
        random_frame(9, &triclinic(), 5.0, 8),
        random_frame(15, &triclinic(), 5.0, 9),
        random_frame(4, &SimBox::open(), 3.0, 10),
    ];
    let energies = m.energies(&frames).unwrap();
    let evals = m.evaluate_batch(&frames).unwrap();
    for ((f, e), ev) in frames.iter().zip(&energies).zip(&evals) {
        let single = m
            .evaluate(&f.positions, &f.species, &f.simbox, None)
            .unwrap();
        assert!((e - single.energy).abs() < 1e-10);
        assert!((ev.energy - single.energy).abs() < 1e-10);
        for (a, b) in ev.forces.iter().zip(&single.forces) {
            assert!((a - b).norm() < 1e-12);
        }
    }
}

fn labeled(m_ref: &BehlerParrinello, frames: &[Frame]) -> Vec<LabeledFrame> {
    frames
        .iter()
        .map(|f| {
            let e = m_ref
                .evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap();
            LabeledFrame {
                frame: f.clone(),
                energy: e.energy + 0.3,
                forces: e.forces,
            }
        })
        .collect()
}

#[test]
fn force_matching_gradient_matches_finite_differences() {
    let mut m = model(AngularKind::G4, 11);
    let reference = model(AngularKind::G4, 12);
    let frames = vec![
        random_frame(8, &triclinic(), 5.0, 13),
        random_frame(11, &triclinic(), 5.0, 14),
    ];
    let data = labeled(&reference, &frames);
    let w = LossWeights {
        energy: 0.5,
        forces: 1.0,
    };
    let out = m.force_matching(&data, w).unwrap();
    assert!(out.loss > 0.0);
    let p0 = m.parameters();
    let h = 1e-6;
    let scale = out.gradient.iter().map(|g| g.abs()).fold(0.0, f64::max);
    let mut worst: f64 = 0.0;
    for k in (0..p0.len()).step_by(3) {
        let mut p = p0.clone();
        p[k] = p0[k] + h;
        m.set_parameters(&p).unwrap();
        let lp = m.force_matching(&data, w).unwrap().loss;
        p[k] = p0[k] - h;
        m.set_parameters(&p).unwrap();
        let lm = m.force_matching(&data, w).unwrap().loss;
        let fd = (lp - lm) / (2.0 * h);
        worst = worst.max((fd - out.gradient[k]).abs() / (fd.abs().max(1e-2 * scale)));
    }
    println!("force-matching gradient: worst relative error {worst:e}");
    assert!(worst < 1e-6, "worst relative error {worst:e}");
}

#[test]
fn energy_gradient_through_segment_sum_matches_finite_differences() {
    let mut m = model(AngularKind::G5, 15);
    let frames = vec![
        random_frame(7, &triclinic(), 5.0, 16),
        random_frame(12, &triclinic(), 5.0, 17),
    ];
    let a = [0.7, -1.3];
    let (energies, g) = m.param_vjp(&frames, &a, None).unwrap();
    assert_eq!(energies, m.energies(&frames).unwrap());
    let p0 = m.parameters();
    let h = 1e-6;
    for k in (0..p0.len()).step_by(5) {
        let mut p = p0.clone();
        let mut l = [0.0; 2];
        for (s, out) in [h, -h].iter().zip(&mut l) {
            p[k] = p0[k] + s;
            m.set_parameters(&p).unwrap();
            let e = m.energies(&frames).unwrap();
            *out = a[0] * e[0] + a[1] * e[1];
        }
        let fd = (l[0] - l[1]) / (2.0 * h);
        assert!(
            (fd - g[k]).abs() <= 1e-6 * fd.abs().max(1e-3),
            "{k}: {fd} vs {}",
            g[k]
        );
    }
}

#[test]
fn delta_learning_with_a_prior_conserves_energy_in_nve() {
    // An LJ prior plus a small BP correction, run by the MD crate.
    let mut bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 4, AngularKind::G4),
        hidden: vec![8],
        activation: Activation::Silu,
    }
    .build(21)
    .unwrap();
    let p: Vec<f64> = bp.parameters().iter().map(|v| 0.1 * v).collect();
    bp.set_parameters(&p).unwrap();
    let drift = nve_relative_drift(bp);
    assert!(drift < 1e-4, "energy drift {drift:e} of the kinetic scale");
}

#[test]
fn bad_input_is_an_error() {
    let m = model(AngularKind::G4, 1);
    let mut f = random_frame(5, &SimBox::open(), 3.0, 1);
    f.species[2] = 7;
    assert!(matches!(
        m.evaluate(&f.positions, &f.species, &f.simbox, None),
        Err(NnError::UnknownSpecies { atom: 2, .. })
    ));
    f.species[2] = 0;
    f.positions[3] = f.positions[1];
    assert!(matches!(
        m.evaluate(&f.positions, &f.species, &f.simbox, None),
        Err(NnError::CoincidentAtoms { .. })
    ));
    f.positions[3].x = f64::NAN;
    assert!(m
        .evaluate(&f.positions, &f.species, &f.simbox, None)
        .is_err());
}

#[test]
fn potential_file_round_trip() {
    let mut m = model(AngularKind::G4, 31);
    let frames = vec![random_frame(10, &triclinic(), 5.0, 32)];
    m.fit_input_normalization(&frames).unwrap();
    let bytes = m.to_bytes().unwrap();
    let back = BehlerParrinello::from_bytes(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.energies(&frames).unwrap()[0].to_bits(),
        m.energies(&frames).unwrap()[0].to_bits()
    );
    assert!(matches!(
        thermograd_nn::Mlp::from_bytes(&bytes),
        Err(NnError::WrongArchitecture { .. })
    ));
    for n in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(BehlerParrinello::from_bytes(&bytes[..n]).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn energy_is_invariant(
        seed in 0u64..1000,
        t in prop::array::uniform3(-10.0f64..10.0),
        angles in prop::array::uniform3(-3.0f64..3.0),
        shift in prop::array::uniform3(-2i32..=2),
        atom in 0usize..10,
    ) {
        let m = model(AngularKind::G4, 41);
        let eval = |f: &Frame| m.evaluate(&f.positions, &f.species, &f.simbox, None).unwrap();
        check_invariances(&eval, seed, t, angles, shift, atom)?;
    }
}
