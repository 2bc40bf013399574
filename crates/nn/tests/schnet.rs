//! SchNet potential: forces, virial and parameter gradients (force matching, virial
//! cotangents) against finite differences, invariances, batching, MD energy
//! conservation, files.

mod common;

use common::{
    assert_list_path_agrees, assert_virial_is_strain_derivative, check_invariances, force_fd_error,
    nve_relative_drift, random_frame, triclinic,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_md::{Evaluation, Potential};
use thermograd_neighbors::NeighborList;
use thermograd_nn::{
    Activation, Committee, Frame, LabeledFrame, LossWeights, ModelFile, NnError, SchNet,
    SchNetConfig, SchNetNormalization, Trainable,
};

fn config() -> SchNetConfig {
    SchNetConfig {
        n_species: 2,
        cutoff: 3.0,
        features: 8,
        n_rbf: 6,
        interactions: 2,
        readout_hidden: vec![6],
        activation: Activation::ShiftedSoftplus,
    }
}

fn model(seed: u64) -> SchNet {
    let mut m = config().build(seed).unwrap();
    m.set_normalization(SchNetNormalization {
        energy_scale: 0.7,
        atom_energy: vec![-1.5, 0.25],
    })
    .unwrap();
    m
}

fn evaluate(m: &SchNet, f: &Frame, list: Option<&NeighborList>) -> Evaluation {
    m.evaluate(&f.positions, &f.species, &f.simbox, list)
        .unwrap()
}

fn energy(m: &SchNet, f: &Frame) -> f64 {
    m.evaluate(&f.positions, &f.species, &f.simbox, None)
        .unwrap()
        .energy
}

#[test]
fn forces_match_finite_differences() {
    for simbox in [triclinic(), SimBox::open()] {
        let m = model(1);
        let f = random_frame(12, &simbox, 5.0, 2);
        let worst = force_fd_error(&|f| evaluate(&m, f, None), &f);
        assert!(worst < 1e-7, "worst relative force error {worst:e}");
        let e = evaluate(&m, &f, None);
        let net: Vec3 = e.forces.iter().sum();
        let scale = e.forces.iter().map(|v| v.norm()).fold(0.0, f64::max);
        assert!(net.norm() < 1e-10 * scale, "net force {net}");
    }
}

#[test]
fn virial_matches_strain_derivative() {
    let m = model(3);
    let f = random_frame(12, &triclinic(), 5.0, 4);
    assert_virial_is_strain_derivative(&|f| evaluate(&m, f, None), &f);
}

#[test]
fn neighbor_list_path_agrees_with_cell_list_path() {
    let m = model(5);
    let f = random_frame(16, &triclinic(), 5.0, 6);
    assert_list_path_agrees(&|f, list| evaluate(&m, f, list), &f);
}

#[test]
fn batches_of_different_sizes_agree_with_single_evaluations() {
    let m = model(7);
    let frames = vec![
        random_frame(9, &triclinic(), 5.0, 8),
        random_frame(3, &SimBox::open(), 8.0, 9),
        random_frame(14, &triclinic(), 5.0, 10),
    ];
    let batch = m.evaluate_batch(&frames).unwrap();
    let energies = m.energies(&frames).unwrap();
    for ((f, b), e) in frames.iter().zip(&batch).zip(&energies) {
        let single = m
            .evaluate(&f.positions, &f.species, &f.simbox, None)
            .unwrap();
        assert!((single.energy - b.energy).abs() < 1e-10);
        assert!((single.energy - e).abs() < 1e-10);
        for (x, y) in single.forces.iter().zip(&b.forces) {
            assert!((x - y).norm() < 1e-10);
        }
    }
}

#[test]
fn atoms_without_neighbors_have_species_energies_and_zero_forces() {
    let m = model(11);
    let f = Frame {
        positions: vec![Vec3::zeros(), Vec3::new(10.0, 0.0, 0.0)],
        species: vec![0, 1],
        simbox: SimBox::open(),
    };
    let e = m
        .evaluate(&f.positions, &f.species, &f.simbox, None)
        .unwrap();
    assert!(e.forces.iter().all(|v| v.norm() == 0.0));
    // Without neighbours each atom's energy depends on its species only.
    let g = Frame {
        positions: vec![Vec3::zeros(), Vec3::new(0.0, 10.0, 0.0)],
        species: vec![1, 0],
        simbox: SimBox::open(),
    };
    assert!((energy(&m, &g) - e.energy).abs() < 1e-12);
    // Gradients exist and are finite for every parameter, zero for the filters.
    let (_, grad) = m.param_vjp(&[f], &[1.0], None, None).unwrap();
    assert_eq!(grad.len(), m.n_parameters());
    assert!(grad.iter().all(|v| v.is_finite()));
}

fn labeled(m_ref: &SchNet, frames: &[Frame]) -> Vec<LabeledFrame> {
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

fn fd_check(m: &mut SchNet, analytic: &[f64], loss: impl Fn(&SchNet) -> f64, step: usize) {
    let p0 = m.parameters();
    let h = 1e-6;
    let scale = analytic.iter().map(|g| g.abs()).fold(0.0, f64::max);
    assert!(scale > 0.0);
    let mut worst: f64 = 0.0;
    for k in (0..p0.len()).step_by(step) {
        let mut p = p0.clone();
        p[k] = p0[k] + h;
        m.set_parameters(&p).unwrap();
        let lp = loss(m);
        p[k] = p0[k] - h;
        m.set_parameters(&p).unwrap();
        let lm = loss(m);
        let fd = (lp - lm) / (2.0 * h);
        worst = worst.max((fd - analytic[k]).abs() / fd.abs().max(1e-2 * scale));
    }
    m.set_parameters(&p0).unwrap();
    println!("worst relative gradient error {worst:e}");
    assert!(worst < 1e-6, "worst relative error {worst:e}");
}

#[test]
fn force_matching_gradient_matches_finite_differences() {
    let mut m = model(11);
    let reference = model(12);
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
    fd_check(
        &mut m,
        &out.gradient,
        |m| m.force_matching(&data, w).unwrap().loss,
        3,
    );
}

#[test]
fn parameter_gradient_of_energies_forces_and_virials_matches_finite_differences() {
    // L = Σ a_s E_s + Σ v_sk · ∇_k E_s + Σ C_s : W_s, every term at once.
    let mut m = model(15);
    let frames = vec![
        random_frame(7, &triclinic(), 5.0, 16),
        random_frame(10, &triclinic(), 5.0, 17),
    ];
    let a = [0.7, -1.3];
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let v: Vec<Vec<Vec3>> = frames
        .iter()
        .map(|f| {
            (0..f.positions.len())
                .map(|_| Vec3::new(rng.gen(), rng.gen(), rng.gen()) - Vec3::repeat(0.5))
                .collect()
        })
        .collect();
    let c: Vec<Mat3> = (0..frames.len())
        .map(|_| Mat3::from_fn(|_, _| rng.gen::<f64>() - 0.5))
        .collect();
    let (energies, g) = m.param_vjp(&frames, &a, Some(&v), Some(&c)).unwrap();
    let direct = m.energies(&frames).unwrap();
    for (x, y) in energies.iter().zip(&direct) {
        assert!((x - y).abs() < 1e-12);
    }
    let loss = |m: &SchNet| {
        let evals = m.evaluate_batch(&frames).unwrap();
        let mut l = 0.0;
        for s in 0..frames.len() {
            l += a[s] * evals[s].energy;
            for (vk, fk) in v[s].iter().zip(&evals[s].forces) {
                l -= vk.dot(fk);
            }
            l += c[s].component_mul(&evals[s].virial).sum();
        }
        l
    };
    fd_check(&mut m, &g, loss, 2);
    // Energies alone: the same pass without tangents.
    let (_, g_e) = m.param_vjp(&frames, &a, None, None).unwrap();
    fd_check(
        &mut m,
        &g_e,
        |m| {
            let e = m.energies(&frames).unwrap();
            a[0] * e[0] + a[1] * e[1]
        },
        5,
    );
}

#[test]
fn delta_learning_with_a_prior_conserves_energy_in_nve() {
    let mut net = SchNetConfig {
        n_species: 1,
        cutoff: 2.5,
        ..config()
    }
    .build(21)
    .unwrap();
    let p: Vec<f64> = net.parameters().iter().map(|v| 0.3 * v).collect();
    net.set_parameters(&p).unwrap();
    let drift = nve_relative_drift(net);
    assert!(drift < 1e-4, "energy drift {drift:e} of the kinetic scale");
}

#[test]
fn committee_of_schnets_averages_members_and_runs_in_md() {
    let members: Vec<SchNet> = (0..3).map(|k| model(50 + k)).collect();
    let committee = Committee::new(members.clone()).unwrap();
    let f = random_frame(10, &triclinic(), 5.0, 51);
    let c = committee
        .evaluate(&f.positions, &f.species, &f.simbox, None)
        .unwrap();
    let singles: Vec<_> = members
        .iter()
        .map(|m| {
            m.evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap()
        })
        .collect();
    let mean = singles.iter().map(|e| e.energy).sum::<f64>() / 3.0;
    let var = singles
        .iter()
        .map(|e| (e.energy - mean).powi(2))
        .sum::<f64>()
        / 2.0;
    assert!((c.mean.energy - mean).abs() < 1e-12);
    assert!((c.energy_std - var.sqrt()).abs() < 1e-12);
    let fx = singles.iter().map(|e| e.forces[4].x).sum::<f64>() / 3.0;
    assert!((c.mean.forces[4].x - fx).abs() < 1e-12);
    assert_eq!(committee.cutoff(), Some(3.0));
}

#[test]
fn energy_normalization_fits_composition() {
    // Energies exactly linear in the composition: E = −2 n_0 + 0.5 n_1 (+ noise-free),
    // so the fitted reference energies are those and the scale falls back to 1.
    let mut m = model(23);
    let frames: Vec<LabeledFrame> = [(4, 1), (2, 3), (5, 5)]
        .iter()
        .map(|&(n0, n1)| {
            let mut f = random_frame(n0 + n1, &SimBox::open(), 8.0, 24);
            f.species = (0..n0 + n1).map(|i| (i >= n0) as u32).collect();
            LabeledFrame {
                energy: -2.0 * n0 as f64 + 0.5 * n1 as f64,
                forces: vec![Vec3::zeros(); n0 + n1],
                frame: f,
            }
        })
        .collect();
    m.fit_energy_normalization(&frames).unwrap();
    let n = m.normalization();
    assert!((n.atom_energy[0] + 2.0).abs() < 1e-10);
    assert!((n.atom_energy[1] - 0.5).abs() < 1e-10);
    assert_eq!(n.energy_scale, 1.0);
}

#[test]
fn bad_input_is_an_error() {
    let m = model(1);
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
    let bad = SchNetConfig {
        n_rbf: 1,
        ..config()
    };
    assert!(matches!(bad.build(1), Err(NnError::InvalidConfig { .. })));
    let mut m = model(1);
    assert!(m.set_parameters(&[0.0; 3]).is_err());
    assert!(m
        .set_normalization(SchNetNormalization {
            energy_scale: 0.0,
            atom_energy: vec![0.0; 2],
        })
        .is_err());
}

#[test]
fn potential_file_round_trip() {
    let m = model(31);
    let frames = vec![random_frame(10, &triclinic(), 5.0, 32)];
    let bytes = m.to_bytes().unwrap();
    let back = SchNet::from_bytes(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.energies(&frames).unwrap()[0].to_bits(),
        m.energies(&frames).unwrap()[0].to_bits()
    );
    assert!(matches!(
        thermograd_nn::BehlerParrinello::from_bytes(&bytes),
        Err(NnError::WrongArchitecture { .. })
    ));
    for n in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(SchNet::from_bytes(&bytes[..n]).is_err());
    }
    let dir = std::env::temp_dir().join(format!("thermograd-schnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.tgnn");
    m.save(&path).unwrap();
    assert_eq!(SchNet::load_expecting(&path, m.config()).unwrap(), m);
    let other = SchNetConfig {
        features: 9,
        ..config()
    };
    let err = SchNet::load_expecting(&path, &other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.tgnn"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn energy_is_invariant(
        seed in 0u64..1000,
        t in prop::array::uniform3(-10.0f64..10.0),
        angles in prop::array::uniform3(-3.0f64..3.0),
        shift in prop::array::uniform3(-2i32..=2),
        atom in 0usize..10,
    ) {
        let m = model(41);
        let eval = |f: &Frame| m.evaluate(&f.positions, &f.species, &f.simbox, None).unwrap();
        check_invariances(&eval, seed, t, angles, shift, atom)?;
    }
}
