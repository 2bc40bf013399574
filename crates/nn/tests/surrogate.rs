//! CV surrogates and committees: Jacobians and strain against finite differences,
//! periodic invariances, the training gradient, and training on an analytic CV.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_cv::{CollectiveVariable, Coordination, CvValue, Distance, RationalSwitch};
use thermograd_geometry::{scale_positions, Mat3, SimBox, Vec3};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinelloConfig, Committee, CvFeatures, CvSample, CvSurrogate,
    CvSurrogateConfig, Frame, ModelFile, NnError, SymmetryFunctions, Trainable, DEFAULT_HIDDEN,
};

fn surrogate(seed: u64, outputs: usize) -> CvSurrogate {
    CvSurrogateConfig {
        hidden: vec![12, 10],
        ..CvSurrogateConfig::new("learned", vec![3, 0, 5], outputs)
    }
    .build(seed)
    .unwrap()
}

/// A surrogate on the sorted distances of atoms 1..=9 from atom 4 (nearest 6).
fn sorted_surrogate(seed: u64) -> CvSurrogate {
    CvSurrogateConfig {
        hidden: vec![12, 10],
        activation: Activation::Tanh,
        features: CvFeatures::SortedDistances { nearest: 6 },
        ..CvSurrogateConfig::new("sorted", vec![4, 0, 1, 2, 3, 5, 6, 7, 8, 9], 2)
    }
    .build(seed)
    .unwrap()
}

fn many_positions(seed: u64, n: usize, side: f64) -> Vec<Vec3> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            Vec3::new(
                rng.gen_range(0.0..side),
                rng.gen_range(0.0..side),
                rng.gen_range(0.0..side),
            )
        })
        .collect()
}

/// Central-difference check of values' Jacobian and (periodic boxes) strain derivative.
fn check_jacobian_and_strain(cv: &CvSurrogate, p: &[Vec3], b: &SimBox) {
    let v = eval(cv, p, b);
    let dim = cv.dim();
    let h = 1e-6;
    for (k, &atom) in cv.atoms().iter().enumerate() {
        for a in 0..3 {
            let mut pp = p.to_vec();
            pp[atom][a] += h;
            let vp = eval(cv, &pp, b);
            pp[atom][a] -= 2.0 * h;
            let vm = eval(cv, &pp, b);
            for c in 0..dim {
                let fd = (vp.values[c] - vm.values[c]) / (2.0 * h);
                let g = v.gradient(c, k)[a];
                assert!(
                    (fd - g).abs() < 1e-6 * fd.abs().max(1e-2),
                    "atom {atom} axis {a} component {c}: {fd} vs {g}"
                );
            }
        }
    }
    if b.is_periodic() {
        for a in 0..3 {
            for bb in 0..3 {
                let mut vals = vec![[0.0; 2]; dim];
                for (idx, s) in [h, -h].iter().enumerate() {
                    let mut mu = Mat3::identity();
                    mu[(a, bb)] += s;
                    let mut pp = p.to_vec();
                    scale_positions(&mut pp, &mu);
                    let vd = eval(cv, &pp, &b.deformed(&mu).unwrap());
                    for c in 0..dim {
                        vals[c][idx] = vd.values[c];
                    }
                }
                for c in 0..dim {
                    let fd = (vals[c][0] - vals[c][1]) / (2.0 * h);
                    assert!(
                        (fd - v.strain[c][(a, bb)]).abs() < 1e-6 * fd.abs().max(1e-2),
                        "strain ({a},{bb}) component {c}: {fd} vs {}",
                        v.strain[c][(a, bb)]
                    );
                }
            }
        }
    }
}

fn triclinic() -> SimBox {
    SimBox::from_lengths_angles([4.0, 4.5, 5.0], [80.0, 75.0, 65.0]).unwrap()
}

fn positions(seed: u64) -> Vec<Vec3> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..6)
        .map(|_| {
            Vec3::new(
                rng.gen_range(0.0..4.0),
                rng.gen_range(0.0..4.0),
                rng.gen_range(0.0..4.0),
            )
        })
        .collect()
}

fn eval(cv: &dyn CollectiveVariable, p: &[Vec3], b: &SimBox) -> CvValue {
    let mut v = CvValue::default();
    cv.evaluate(p, b, &mut v).unwrap();
    v
}

#[test]
fn default_architecture_is_the_papers() {
    let c = CvSurrogateConfig::new("x", vec![0, 1], 1);
    assert_eq!(c.hidden, DEFAULT_HIDDEN.to_vec());
    assert_eq!(
        c.build(0).unwrap().network().config().hidden,
        vec![64, 128, 64, 32]
    );
    assert!(CvSurrogateConfig::new("x", vec![0, 0], 1).build(0).is_err());
    assert!(CvSurrogateConfig::new("x", vec![0], 1).build(0).is_err());
}

#[test]
fn jacobian_and_strain_match_finite_differences() {
    for b in [
        triclinic(),
        SimBox::orthorhombic([4.0, 4.5, 5.0]).unwrap(),
        SimBox::open(),
    ] {
        let cv = surrogate(1, 2);
        let p = positions(2);
        let v = eval(&cv, &p, &b);
        let h = 1e-6;
        for (k, &atom) in cv.atoms().iter().enumerate() {
            for a in 0..3 {
                let mut pp = p.clone();
                pp[atom][a] += h;
                let vp = eval(&cv, &pp, &b);
                pp[atom][a] -= 2.0 * h;
                let vm = eval(&cv, &pp, &b);
                for c in 0..2 {
                    let fd = (vp.values[c] - vm.values[c]) / (2.0 * h);
                    let g = v.gradient(c, k)[a];
                    assert!((fd - g).abs() < 1e-6 * fd.abs().max(1e-2), "{fd} vs {g}");
                }
            }
        }
        if b.is_periodic() {
            for a in 0..3 {
                for bb in 0..3 {
                    let mut vs = [0.0; 2];
                    let mut vs1 = [0.0; 2];
                    for (idx, s) in [h, -h].iter().enumerate() {
                        let mut mu = Mat3::identity();
                        mu[(a, bb)] += s;
                        let mut pp = p.clone();
                        scale_positions(&mut pp, &mu);
                        let v = eval(&cv, &pp, &b.deformed(&mu).unwrap());
                        vs[idx] = v.values[0];
                        vs1[idx] = v.values[1];
                    }
                    let fd0 = (vs[0] - vs[1]) / (2.0 * h);
                    let fd1 = (vs1[0] - vs1[1]) / (2.0 * h);
                    assert!((fd0 - v.strain[0][(a, bb)]).abs() < 1e-6 * fd0.abs().max(1e-2));
                    assert!((fd1 - v.strain[1][(a, bb)]).abs() < 1e-6 * fd1.abs().max(1e-2));
                }
            }
        }
    }
}

#[test]
fn sorted_distance_jacobian_and_strain_match_finite_differences() {
    for b in [
        triclinic(),
        SimBox::orthorhombic([4.0, 4.5, 5.0]).unwrap(),
        SimBox::open(),
    ] {
        for seed in [2, 3] {
            let cv = sorted_surrogate(1);
            check_jacobian_and_strain(&cv, &many_positions(seed, 10, 4.0), &b);
        }
    }
}

#[test]
fn sorted_distances_are_sorted_nearest_and_permutation_invariant() {
    let cv = sorted_surrogate(4);
    let b = triclinic();
    let p = many_positions(6, 10, 4.0);
    let f = cv.features(&p, &b).unwrap();
    let mut all: Vec<f64> = [0, 1, 2, 3, 5, 6, 7, 8, 9]
        .iter()
        .map(|&a| b.displacement(&p[4], &p[a]).norm())
        .collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(f, all[..6].to_vec());
    // Swapping two non-reference atoms leaves values unchanged and swaps gradients.
    let v0 = eval(&cv, &p, &b);
    let mut q = p.clone();
    q.swap(1, 7);
    let v = eval(&cv, &q, &b);
    let slot = |atom: usize| cv.atoms().iter().position(|&x| x == atom).unwrap();
    for c in 0..2 {
        assert!((v.values[c] - v0.values[c]).abs() < 1e-12);
        assert!((v.gradient(c, slot(1)) - v0.gradient(c, slot(7))).norm() < 1e-12);
        assert!((v.gradient(c, slot(0)) - v0.gradient(c, slot(0))).norm() < 1e-12);
    }
    // And a rigid rotation (open box) leaves values unchanged, which the Cartesian
    // displacement features do not guarantee.
    let rot = nalgebra::Rotation3::from_euler_angles(0.3, -0.7, 1.1);
    let r: Vec<Vec3> = p.iter().map(|x| rot * x).collect();
    let (va, vb) = (
        eval(&cv, &p, &SimBox::open()),
        eval(&cv, &r, &SimBox::open()),
    );
    assert!((va.values[0] - vb.values[0]).abs() < 1e-10);
    // Only the nearest atoms get a gradient.
    let far: Vec<usize> = [0, 1, 2, 3, 5, 6, 7, 8, 9]
        .into_iter()
        .filter(|&a| b.displacement(&p[4], &p[a]).norm() > all[5])
        .collect();
    assert_eq!(far.len(), 3);
    for a in far {
        assert_eq!(v0.gradient(0, slot(a)), Vec3::zeros());
    }
    // Bad definitions are errors.
    for nearest in [0, 10] {
        assert!(CvSurrogateConfig {
            features: CvFeatures::SortedDistances { nearest },
            ..CvSurrogateConfig::new("x", (0..10).collect(), 1)
        }
        .build(0)
        .is_err());
    }
}

#[test]
fn batch_evaluation_equals_single_evaluation() {
    for cv in [surrogate(8, 2), sorted_surrogate(8)] {
        let b = triclinic();
        let samples: Vec<CvSample> = (0..5)
            .map(|s| CvSample {
                positions: many_positions(40 + s, 10, 4.0),
                simbox: b.clone(),
                values: vec![],
                gradients: vec![],
            })
            .collect();
        let batch = cv.evaluate_batch(&samples).unwrap();
        for (s, v) in samples.iter().zip(&batch) {
            let single = eval(&cv, &s.positions, &b);
            for c in 0..2 {
                assert!((single.values[c] - v.values[c]).abs() < 1e-12);
                assert!((single.strain[c] - v.strain[c]).norm() < 1e-12);
            }
            for (g, h) in single.gradients.iter().zip(&v.gradients) {
                assert!((g - h).norm() < 1e-12);
            }
        }
    }
}

#[test]
fn training_gradient_matches_finite_differences() {
    let mut cv = surrogate(3, 2);
    let b = triclinic();
    let samples: Vec<CvSample> = (0..4)
        .map(|s| CvSample {
            positions: positions(10 + s),
            simbox: b.clone(),
            values: vec![0.3 * s as f64, -0.2],
            gradients: (0..6)
                .map(|k| Vec3::new(0.1 * k as f64, -0.05, 0.2))
                .collect(),
        })
        .collect();
    let out = cv.loss_and_gradient(&samples, 1.0, 0.7).unwrap();
    let p0 = cv.parameters();
    let h = 1e-6;
    for k in (0..p0.len()).step_by(4) {
        let mut p = p0.clone();
        let mut l = [0.0; 2];
        for (s, li) in [h, -h].iter().zip(&mut l) {
            p[k] = p0[k] + s;
            cv.set_parameters(&p).unwrap();
            *li = cv.loss_and_gradient(&samples, 1.0, 0.7).unwrap().loss;
        }
        let fd = (l[0] - l[1]) / (2.0 * h);
        assert!(
            (fd - out.gradient[k]).abs() < 1e-6 * fd.abs().max(1e-3),
            "{k}: {fd} vs {}",
            out.gradient[k]
        );
    }
}

#[test]
fn sorted_training_gradient_matches_finite_differences() {
    let mut cv = sorted_surrogate(5);
    let b = triclinic();
    let samples: Vec<CvSample> = (0..4)
        .map(|s| CvSample {
            positions: many_positions(60 + s, 10, 4.0),
            simbox: b.clone(),
            values: vec![0.3 * s as f64, -0.2],
            gradients: (0..20)
                .map(|k| Vec3::new(0.1 * k as f64, -0.05, 0.2))
                .collect(),
        })
        .collect();
    let out = cv.loss_and_gradient(&samples, 1.0, 0.7).unwrap();
    let p0 = cv.parameters();
    let h = 1e-6;
    for k in (0..p0.len()).step_by(3) {
        let mut p = p0.clone();
        let mut l = [0.0; 2];
        for (s, li) in [h, -h].iter().zip(&mut l) {
            p[k] = p0[k] + s;
            cv.set_parameters(&p).unwrap();
            *li = cv.loss_and_gradient(&samples, 1.0, 0.7).unwrap().loss;
        }
        let fd = (l[0] - l[1]) / (2.0 * h);
        assert!(
            (fd - out.gradient[k]).abs() < 1e-6 * fd.abs().max(1e-3),
            "{k}: {fd} vs {}",
            out.gradient[k]
        );
    }
}

#[test]
fn learns_a_coordination_number_from_sorted_distances() {
    // Coordination of atom 0 by 40 others in a periodic box: the sorted-distance
    // features make it a smooth function of a few inputs, learned quickly.
    let b = SimBox::cubic(4.0).unwrap();
    let others: Vec<usize> = (1..41).collect();
    let target =
        Coordination::between(&[0], &others, RationalSwitch::new(0.0, 1.0, 6, 12).unwrap())
            .unwrap();
    let make = |seed: u64| {
        let p = many_positions(seed, 41, 4.0);
        let v = eval(&target, &p, &b);
        CvSample {
            positions: p,
            simbox: b.clone(),
            values: v.values,
            gradients: v.gradients,
        }
    };
    let train: Vec<CvSample> = (0..160).map(|s| make(1000 + s)).collect();
    let test: Vec<CvSample> = (0..24).map(|s| make(5000 + s)).collect();
    let mut cv = CvSurrogateConfig {
        hidden: vec![24, 24],
        activation: Activation::Tanh,
        features: CvFeatures::SortedDistances { nearest: 24 },
        ..CvSurrogateConfig::new("coordination", (0..41).collect(), 1)
    }
    .build(11)
    .unwrap();
    cv.fit_input_normalization(&train).unwrap();
    cv.fit_output_normalization(&train).unwrap();
    let before = cv.loss_and_gradient(&test, 1.0, 1.0).unwrap();
    let mut adam = thermograd_nn::Adam::new(
        thermograd_nn::AdamConfig {
            learning_rate: 0.005,
            ..Default::default()
        },
        cv.n_parameters(),
    )
    .unwrap();
    let mut p = cv.parameters();
    for _ in 0..1000 {
        let g = cv.loss_and_gradient(&train, 1.0, 1.0).unwrap().gradient;
        adam.step(&mut p, &g).unwrap();
        cv.set_parameters(&p).unwrap();
    }
    let after = cv.loss_and_gradient(&test, 1.0, 1.0).unwrap();
    let values: Vec<f64> = test.iter().map(|s| s.values[0]).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let spread =
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    println!(
        "spread {spread}: value rmse {} → {}, gradient rmse {} → {}",
        before.value_rmse, after.value_rmse, before.gradient_rmse, after.gradient_rmse
    );
    assert!(
        after.value_rmse < 0.2 * spread,
        "value rmse {} vs spread {spread}",
        after.value_rmse
    );
    assert!(after.gradient_rmse < 0.5 * before.gradient_rmse);
}

#[test]
fn learns_a_distance_through_the_boundary() {
    // Train on values and Jacobians of an analytic distance; the surrogate must then
    // reproduce the distance and its Jacobian on held-out configurations.
    let b = SimBox::cubic(3.0).unwrap();
    let target = Distance::new(0, 1).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut sample = || {
        let r0 = Vec3::new(
            rng.gen_range(0.0..3.0),
            rng.gen_range(0.0..3.0),
            rng.gen_range(0.0..3.0),
        );
        let dir = Vec3::new(
            rng.gen_range(-1.0..1.0),
            rng.gen_range(-1.0..1.0),
            rng.gen_range(-1.0..1.0),
        )
        .normalize();
        let p = vec![r0, b.wrap(&(r0 + dir * rng.gen_range(0.6..1.4)))];
        let v = eval(&target, &p, &b);
        CvSample {
            positions: p,
            simbox: b.clone(),
            values: v.values,
            gradients: v.gradients,
        }
    };
    let train: Vec<CvSample> = (0..128).map(|_| sample()).collect();
    let test: Vec<CvSample> = (0..16).map(|_| sample()).collect();
    let mut cv = CvSurrogateConfig {
        hidden: vec![16, 16],
        activation: Activation::Tanh,
        ..CvSurrogateConfig::new("distance", vec![0, 1], 1)
    }
    .build(7)
    .unwrap();
    cv.fit_input_normalization(&train).unwrap();
    let before = cv.loss_and_gradient(&test, 1.0, 0.0).unwrap().value_rmse;
    let mut adam = thermograd_nn::Adam::new(
        thermograd_nn::AdamConfig {
            learning_rate: 0.003,
            ..Default::default()
        },
        cv.n_parameters(),
    )
    .unwrap();
    let mut p = cv.parameters();
    for _ in 0..1000 {
        let g = cv.loss_and_gradient(&train, 1.0, 0.1).unwrap().gradient;
        adam.step(&mut p, &g).unwrap();
        cv.set_parameters(&p).unwrap();
    }
    let after = cv.loss_and_gradient(&test, 1.0, 1.0).unwrap();
    let fit = cv.loss_and_gradient(&train, 1.0, 1.0).unwrap();
    println!(
        "before {before}, train {} / {}, test {} / {}",
        fit.value_rmse, fit.gradient_rmse, after.value_rmse, after.gradient_rmse
    );
    assert!(
        after.value_rmse < 0.1 * before,
        "{before} → {}",
        after.value_rmse
    );
    assert!(after.value_rmse < 0.02, "value rmse {}", after.value_rmse);
    assert!(
        after.gradient_rmse < 0.1,
        "gradient rmse {}",
        after.gradient_rmse
    );
}

#[test]
fn file_round_trip_and_errors() {
    let sorted = sorted_surrogate(9);
    assert_eq!(
        CvSurrogate::from_bytes(&sorted.to_bytes().unwrap()).unwrap(),
        sorted
    );
    let cv = surrogate(9, 1);
    let bytes = cv.to_bytes().unwrap();
    assert_eq!(CvSurrogate::from_bytes(&bytes).unwrap(), cv);
    assert!(CvSurrogate::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    assert!(matches!(
        thermograd_nn::Mlp::from_bytes(&bytes),
        Err(NnError::WrongArchitecture { .. })
    ));
    let mut v = CvValue::default();
    assert!(cv
        .evaluate(&positions(1)[..4], &triclinic(), &mut v)
        .is_err());
}

#[test]
fn committees_give_mean_and_spread() {
    let members: Vec<CvSurrogate> = (0..3).map(|s| surrogate(20 + s, 2)).collect();
    let c = Committee::of_surrogates(members.clone()).unwrap();
    let p = positions(4);
    let b = triclinic();
    let spread = c.evaluate_with_spread(&p, &b).unwrap();
    let vals: Vec<CvValue> = members.iter().map(|m| eval(m, &p, &b)).collect();
    for comp in 0..2 {
        let xs: Vec<f64> = vals.iter().map(|v| v.values[comp]).collect();
        let mean = xs.iter().sum::<f64>() / 3.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0;
        assert!((spread.mean.values[comp] - mean).abs() < 1e-12);
        assert!((spread.value_std[comp] - var.sqrt()).abs() < 1e-12);
        assert!(spread.value_std[comp] > 0.0);
    }
    assert_eq!(eval(&c, &p, &b), spread.mean);
    assert!(Committee::<CvSurrogate>::new(vec![]).is_err());

    // Potentials.
    let pots: Vec<_> = (0..3)
        .map(|s| {
            BehlerParrinelloConfig {
                descriptors: SymmetryFunctions::standard(2.5, 1, 3, AngularKind::G5),
                hidden: vec![6],
                activation: Activation::Tanh,
            }
            .build(s)
            .unwrap()
        })
        .collect();
    let committee = Committee::new(pots.clone()).unwrap();
    let frames = vec![
        Frame {
            positions: positions(6),
            species: vec![0; 6],
            simbox: b.clone(),
        },
        Frame {
            positions: positions(7)[..4].to_vec(),
            species: vec![0; 4],
            simbox: SimBox::open(),
        },
    ];
    let batch = committee.evaluate_batch(&frames).unwrap();
    for (f, ce) in frames.iter().zip(&batch) {
        let es: Vec<f64> = pots
            .iter()
            .map(|m| {
                m.evaluate(&f.positions, &f.species, &f.simbox, None)
                    .unwrap()
                    .energy
            })
            .collect();
        let mean = es.iter().sum::<f64>() / 3.0;
        let std = (es.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((ce.mean.energy - mean).abs() < 1e-12);
        assert!((ce.energy_std - std).abs() < 1e-12);
        assert_eq!(ce.force_std.len(), f.positions.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn invariant_to_translation_and_lattice_shifts(
        seed in 0u64..1000,
        t in prop::array::uniform3(-10.0f64..10.0),
        shift in prop::array::uniform3(-2i32..=2),
        which in 0usize..3,
    ) {
        let cv = surrogate(30, 2);
        let b = triclinic();
        let p = positions(seed);
        let v0 = eval(&cv, &p, &b);
        let mut q = p.clone();
        for r in &mut q { *r += Vec3::from(t); }
        let v = eval(&cv, &q, &b);
        for c in 0..2 {
            prop_assert!((v.values[c] - v0.values[c]).abs() < 1e-9);
        }
        let mut q = p.clone();
        let atom = cv.atoms()[which];
        q[atom] += b.cell().unwrap() * Vec3::new(shift[0] as f64, shift[1] as f64, shift[2] as f64);
        let v = eval(&cv, &q, &b);
        for c in 0..2 {
            prop_assert!((v.values[c] - v0.values[c]).abs() < 1e-9);
        }
        for (g, g0) in v.gradients.iter().zip(&v0.gradients) {
            prop_assert!((g - g0).norm() < 1e-9);
        }
    }
}
