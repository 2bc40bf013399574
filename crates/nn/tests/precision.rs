//! `f32` networks: agreement with `f64` networks of the same (rounded) parameters in
//! every evaluation mode, input gradients against finite differences, a
//! Behler–Parrinello potential in `f32` (energies, forces, force-matching gradient, an
//! NVE run), and model files of `f32` models.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

mod common;

use common::{nve_relative_drift, random_frame, triclinic};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{SimBox, Vec3};
use thermograd_nn::file::{decode, encode};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, CvSurrogate,
    CvSurrogateConfig, Dtype, Frame, LabeledFrame, LossWeights, Matrix, Mlp, MlpConfig, ModelFile,
    NnError, Normalization, SymmetryFunctions, Trainable,
};

/// Relative tolerance of `f32` results against `f64` ones on the same parameters: a
/// few hundred `f32` roundings (unit roundoff 6e-8) through these small networks.
const F32_TOL: f64 = 1e-5;

const SMOOTH: [Activation; 4] = [
    Activation::Tanh,
    Activation::Silu,
    Activation::Softplus,
    Activation::ShiftedSoftplus,
];

fn random_matrix(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
    Matrix::new(
        rows,
        cols,
        (0..rows * cols).map(|_| rng.gen_range(-1.5..1.5)).collect(),
    )
    .unwrap()
}

/// A 3→7→5→2 network with a non-trivial normalization and nonzero biases, in `f64`.
fn net(activation: Activation, seed: u64) -> Mlp {
    let mut mlp = MlpConfig {
        inputs: 3,
        hidden: vec![7, 5],
        outputs: 2,
        activation,
    }
    .build(seed)
    .unwrap();
    mlp.set_normalization(Normalization {
        input_shift: vec![0.1, -0.2, 0.3],
        input_scale: vec![0.5, 2.0, 1.5],
        output_shift: vec![1.0, -3.0],
        output_scale: vec![2.0, 0.7],
    })
    .unwrap();
    let mut p = mlp.parameters();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for v in &mut p {
        *v += rng.gen_range(-0.1..0.1);
    }
    mlp.set_parameters(&p).unwrap();
    mlp
}

/// The `f32` version of `m` and an `f64` network with exactly its parameters.
fn pair(m: &Mlp) -> (Mlp, Mlp) {
    let m32 = m.clone().with_precision(Dtype::F32).unwrap();
    let m64 = m32.clone().with_precision(Dtype::F64).unwrap();
    (m32, m64)
}

/// `max |a − b| / max |b|`: the error of `a` relative to the size of `b`.
fn rel_dev(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |s, v| s.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0f64, |s, (x, y)| s.max((x - y).abs()))
        / scale
}

/// `a` agrees with `b` to `f32` accuracy but not to `f64` accuracy, so the `f32` path
/// really computed in `f32`.
fn assert_f32_close(what: &str, a: &[f64], b: &[f64]) {
    let d = rel_dev(a, b);
    assert!(d < F32_TOL, "{what}: relative deviation {d:e}");
    assert!(d > 1e-12, "{what}: no f32 rounding visible ({d:e})");
}

#[test]
fn precision_is_f64_by_default_and_f32_rounds_the_parameters() {
    let m = net(Activation::Tanh, 1);
    assert_eq!(m.precision(), Dtype::F64);
    assert_eq!(Dtype::default(), Dtype::F64);
    let (m32, m64) = pair(&m);
    assert_eq!(m32.precision(), Dtype::F32);
    assert_eq!(m64.precision(), Dtype::F64);
    // Same parameters, different precision: not equal models.
    assert_eq!(m32.parameters(), m64.parameters());
    assert_ne!(m32, m64);
    assert!(m32
        .parameters()
        .iter()
        .all(|&v| (v as f32) as f64 == v && v.is_finite()));
    assert_ne!(m32.parameters(), m.parameters(), "rounding changed nothing");
    // Setting parameters rounds them too, and a value beyond the f32 range is an
    // error that leaves the network unchanged.
    let mut m32b = m32.clone();
    let mut p = m.parameters();
    m32b.set_parameters(&p).unwrap();
    assert_eq!(m32b.parameters(), m32.parameters());
    p[0] = 1e300;
    assert!(matches!(
        m32b.set_parameters(&p),
        Err(NnError::NonFinite { .. })
    ));
    assert_eq!(m32b, m32);
    let mut huge = m.clone();
    huge.set_parameters(&p).unwrap();
    assert!(huge.with_precision(Dtype::F32).is_err());
}

#[test]
fn f32_modes_agree_with_f64_on_the_same_parameters() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (k, &activation) in SMOOTH.iter().enumerate() {
        let (m32, m64) = pair(&net(activation, 10 + k as u64));
        let x = random_matrix(6, 3, &mut rng);
        let t = random_matrix(6, 3, &mut rng);
        let cot = random_matrix(6, 2, &mut rng);
        let cot_t = random_matrix(6, 2, &mut rng);
        let name = |m: &str| format!("{activation:?} {m}");

        let (y32, y64) = (m32.forward(&x).unwrap(), m64.forward(&x).unwrap());
        assert_f32_close(&name("forward"), &y32.data, &y64.data);

        let (_, g32) = m32.input_vjp(&x, &cot).unwrap();
        let (_, g64) = m64.input_vjp(&x, &cot).unwrap();
        assert_f32_close(&name("input gradient"), &g32.data, &g64.data);

        let (_, ty32) = m32.tangent(&x, &t).unwrap();
        let (_, ty64) = m64.tangent(&x, &t).unwrap();
        assert_f32_close(&name("tangent"), &ty32.data, &ty64.data);

        let p32 = m32.param_vjp(&x, &cot, None).unwrap();
        let p64 = m64.param_vjp(&x, &cot, None).unwrap();
        assert_f32_close(&name("param_vjp"), &p32.gradient, &p64.gradient);

        let p32 = m32.param_vjp(&x, &cot, Some((&t, &cot_t))).unwrap();
        let p64 = m64.param_vjp(&x, &cot, Some((&t, &cot_t))).unwrap();
        assert_f32_close(
            &name("param_vjp with tangent"),
            &p32.gradient,
            &p64.gradient,
        );
        assert_f32_close(
            &name("param_vjp tangent output"),
            &p32.ty.unwrap().data,
            &p64.ty.unwrap().data,
        );
    }
    // ReLU: forward only, since near a kink the two precisions may pick different
    // sides of the step in the derivatives.
    let (m32, m64) = pair(&net(Activation::Relu, 20));
    let x = random_matrix(6, 3, &mut rng);
    assert_f32_close(
        "relu forward",
        &m32.forward(&x).unwrap().data,
        &m64.forward(&x).unwrap().data,
    );
}

#[test]
fn f32_input_gradients_match_finite_differences() {
    // Finite differences of the f32 network itself are dominated by its rounding noise,
    // about ε_f32 |y| / h: with h = 1e-5 that is 1e-2 relative, useless. So the
    // reference is a central difference of the f64 network with the same rounded
    // parameters (error ~1e-10 at h = 1e-5); the f32 gradient differs from it by f32
    // evaluation error only. A second check differences the f32 network directly with
    // a large step, h = 1e-2, where the rounding noise (~1e-5 relative) and the O(h²)
    // truncation error (~1e-4) both stay below 1e-3.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (k, &activation) in SMOOTH.iter().enumerate() {
        let (m32, m64) = pair(&net(activation, 30 + k as u64));
        let x = random_matrix(4, 3, &mut rng);
        let cot = random_matrix(4, 2, &mut rng);
        let (_, g) = m32.input_vjp(&x, &cot).unwrap();
        let objective = |m: &Mlp, x: &Matrix| -> f64 {
            let y = m.forward(x).unwrap();
            y.data.iter().zip(&cot.data).map(|(a, b)| a * b).sum()
        };
        let scale = g.data.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        for (m, h, tol) in [(&m64, 1e-5, F32_TOL), (&m32, 1e-2, 1e-3)] {
            let mut worst: f64 = 0.0;
            for i in 0..x.data.len() {
                let mut xp = x.clone();
                xp.data[i] += h;
                let mut xm = x.clone();
                xm.data[i] -= h;
                let fd = (objective(m, &xp) - objective(m, &xm)) / (2.0 * h);
                worst = worst.max((fd - g.data[i]).abs() / scale);
            }
            assert!(
                worst < tol,
                "{activation:?}, {:?} differences, h = {h}: worst relative error {worst:e}",
                m.precision()
            );
        }
    }
}

fn bp_model(seed: u64) -> BehlerParrinello {
    BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(3.0, 2, 4, AngularKind::G4),
        hidden: vec![8, 6],
        activation: Activation::Tanh,
    }
    .build(seed)
    .unwrap()
}

fn flat(v: &[Vec3]) -> Vec<f64> {
    v.iter().flat_map(|r| [r.x, r.y, r.z]).collect()
}

/// An `f32` potential and an `f64` one with exactly its parameters.
fn bp_pair(seed: u64, frames: &[Frame]) -> (BehlerParrinello, BehlerParrinello) {
    let mut m = bp_model(seed);
    m.fit_input_normalization(frames).unwrap();
    let m32 = m.with_precision(Dtype::F32).unwrap();
    let m64 = m32.clone().with_precision(Dtype::F64).unwrap();
    assert_eq!(m32.precision(), Dtype::F32);
    assert!(m32.networks().iter().all(|n| n.precision() == Dtype::F32));
    (m32, m64)
}

#[test]
fn f32_behler_parrinello_agrees_with_f64() {
    let frames = vec![
        random_frame(9, &triclinic(), 5.0, 40),
        random_frame(14, &triclinic(), 5.0, 41),
        random_frame(5, &SimBox::open(), 3.0, 42),
    ];
    let (m32, m64) = bp_pair(43, &frames);
    let e32 = m32.evaluate_batch(&frames).unwrap();
    let e64 = m64.evaluate_batch(&frames).unwrap();
    for (a, b) in e32.iter().zip(&e64) {
        assert_f32_close("energy", &[a.energy], &[b.energy]);
        assert_f32_close("forces", &flat(&a.forces), &flat(&b.forces));
        let va: Vec<f64> = a.virial.iter().copied().collect();
        let vb: Vec<f64> = b.virial.iter().copied().collect();
        assert_f32_close("virial", &va, &vb);
    }
    // The batched energy path (segment sums) dispatches to the f32 engine too, and
    // agrees with the per-frame path up to f32 rounding of the atomic energies.
    let batched = m32.energies(&frames).unwrap();
    let single: Vec<f64> = e32.iter().map(|e| e.energy).collect();
    assert!(rel_dev(&batched, &single) < F32_TOL);
    assert_f32_close(
        "batched energies",
        &batched,
        &m64.energies(&frames).unwrap(),
    );
    let a = [0.7, -1.3, 0.4];
    let (_, g32) = m32.param_vjp(&frames, &a, None).unwrap();
    let (_, g64) = m64.param_vjp(&frames, &a, None).unwrap();
    assert_f32_close("energy parameter gradient", &g32, &g64);
}

#[test]
fn f32_force_matching_gradient_agrees_with_f64() {
    let frames = vec![
        random_frame(8, &triclinic(), 5.0, 50),
        random_frame(11, &triclinic(), 5.0, 51),
    ];
    let (m32, m64) = bp_pair(52, &frames);
    // Labels from another model, so that the residuals are of order one and do not
    // cancel to the f32 noise level.
    let teacher = bp_model(53);
    let data: Vec<LabeledFrame> = frames
        .iter()
        .map(|f| {
            let e = teacher
                .evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap();
            LabeledFrame {
                frame: f.clone(),
                energy: e.energy + 0.3,
                forces: e.forces,
            }
        })
        .collect();
    let w = LossWeights {
        energy: 0.5,
        forces: 1.0,
    };
    let l32 = m32.force_matching(&data, w).unwrap();
    let l64 = m64.force_matching(&data, w).unwrap();
    assert_f32_close("loss", &[l32.loss], &[l64.loss]);
    assert_f32_close("force-matching gradient", &l32.gradient, &l64.gradient);
}

#[test]
fn mixed_precision_networks_sum_both_engines() {
    // Only reachable by changing one network through `networks_mut`: the batched path
    // runs each precision's networks in its own engine and adds the results.
    let frames = vec![
        random_frame(9, &triclinic(), 5.0, 60),
        random_frame(6, &triclinic(), 5.0, 61),
    ];
    let (_, m64) = bp_pair(62, &frames);
    let mut mixed = m64.clone();
    let first = mixed.networks()[0].clone();
    mixed.networks_mut()[0] = first.with_precision(Dtype::F32).unwrap();
    assert_eq!(mixed.networks()[1].precision(), Dtype::F64);
    let per_frame: Vec<f64> = mixed
        .evaluate_batch(&frames)
        .unwrap()
        .iter()
        .map(|e| e.energy)
        .collect();
    assert!(rel_dev(&mixed.energies(&frames).unwrap(), &per_frame) < F32_TOL);
    let a = [0.5, 2.0];
    let (_, gm) = mixed.param_vjp(&frames, &a, None).unwrap();
    let (_, g64) = m64.param_vjp(&frames, &a, None).unwrap();
    assert_f32_close("mixed parameter gradient", &gm, &g64);
    // The f64 network's share is computed in f64 alone.
    let k = m64.networks()[0].n_parameters();
    assert!(rel_dev(&gm[k..], &g64[k..]) < 1e-12);
    // One file holds one precision.
    assert!(matches!(
        mixed.to_bytes(),
        Err(NnError::InvalidConfig { .. })
    ));
}

#[test]
fn f32_models_round_trip_through_files_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("thermograd-nn-precision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bits = |p: Vec<f64>| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();

    let (m32, _) = pair(&net(Activation::Silu, 70));
    let bytes = m32.to_bytes().unwrap();
    assert_eq!(decode(&bytes).unwrap().0.dtype, Dtype::F32);
    let back = Mlp::from_bytes(&bytes).unwrap();
    assert_eq!(back, m32);
    assert_eq!(back.precision(), Dtype::F32);
    assert_eq!(bits(back.parameters()), bits(m32.parameters()));
    let x = Matrix::new(1, 3, vec![0.2, 0.4, -0.6]).unwrap();
    assert_eq!(
        bits(back.forward(&x).unwrap().data),
        bits(m32.forward(&x).unwrap().data)
    );
    let path = dir.join("mlp32.tgnn");
    m32.save(&path).unwrap();
    assert_eq!(
        Mlp::load_expecting_precision(&path, m32.config(), Dtype::F32).unwrap(),
        m32
    );

    let frames = vec![random_frame(10, &triclinic(), 5.0, 71)];
    let (bp32, _) = bp_pair(72, &frames);
    let path = dir.join("bp32.tgnn");
    bp32.save(&path).unwrap();
    let back =
        BehlerParrinello::load_expecting_precision(&path, bp32.config(), Dtype::F32).unwrap();
    assert_eq!(back, bp32);
    assert_eq!(bits(back.parameters()), bits(bp32.parameters()));
    let f = &frames[0];
    let (ea, eb) = (
        back.evaluate(&f.positions, &f.species, &f.simbox, None)
            .unwrap(),
        bp32.evaluate(&f.positions, &f.species, &f.simbox, None)
            .unwrap(),
    );
    assert_eq!(ea.energy.to_bits(), eb.energy.to_bits());
    assert_eq!(bits(flat(&ea.forces)), bits(flat(&eb.forces)));

    let cv = CvSurrogateConfig {
        hidden: vec![6, 4],
        ..CvSurrogateConfig::new("d", vec![0, 1, 2], 1)
    }
    .build(73)
    .unwrap()
    .with_precision(Dtype::F32)
    .unwrap();
    let back = CvSurrogate::from_bytes(&cv.to_bytes().unwrap()).unwrap();
    assert_eq!(back, cv);
    assert_eq!(back.precision(), Dtype::F32);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_of_the_other_precision_is_wrong_dtype_where_one_is_expected() {
    let dir = std::env::temp_dir().join(format!("thermograd-nn-dtype-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = net(Activation::Tanh, 80);
    let (m32, _) = pair(&m);
    let p32 = dir.join("mlp32.tgnn");
    let p64 = dir.join("mlp64.tgnn");
    m32.save(&p32).unwrap();
    m.save(&p64).unwrap();
    // The config alone matches: only the precision is wrong.
    let err = Mlp::load_expecting(&p32, m.config()).unwrap_err();
    assert!(matches!(err, NnError::File { .. }), "{err}");
    assert!(matches!(err.cause(), NnError::WrongDtype { .. }), "{err}");
    assert!(err.to_string().contains("f32"), "{err}");
    let err = Mlp::load_expecting_precision(&p64, m.config(), Dtype::F32).unwrap_err();
    assert!(matches!(err.cause(), NnError::WrongDtype { .. }), "{err}");
    assert!(Mlp::load_expecting(&p64, m.config()).is_ok());

    let bp = bp_model(81);
    let b32 = dir.join("bp32.tgnn");
    bp.clone()
        .with_precision(Dtype::F32)
        .unwrap()
        .save(&b32)
        .unwrap();
    let err = BehlerParrinello::load_expecting(&b32, bp.config()).unwrap_err();
    assert!(matches!(err.cause(), NnError::WrongDtype { .. }), "{err}");

    // A header that claims f32 over parameters that are not f32 values is corrupt.
    let (mut header, params) = decode(&m.to_bytes().unwrap()).unwrap();
    header.dtype = Dtype::F32;
    assert!(matches!(
        Mlp::from_bytes(&encode(&header, &params).unwrap()),
        Err(NnError::CorruptFile { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nve_with_an_f32_potential_runs_and_conserves_energy() {
    // As the f64 Δ-learning NVE test in tests/bp.rs, with the correction in f32.
    let mut bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 4, AngularKind::G4),
        hidden: vec![8],
        activation: Activation::Silu,
    }
    .build(21)
    .unwrap()
    .with_precision(Dtype::F32)
    .unwrap();
    let p: Vec<f64> = bp.parameters().iter().map(|v| 0.1 * v).collect();
    bp.set_parameters(&p).unwrap();
    assert_eq!(bp.precision(), Dtype::F32);
    // f32 forces are the gradient of the f32 energy only up to rounding, but that noise
    // (~1e-7 of a small correction) is far below the integrator's own fluctuation.
    let drift = nve_relative_drift(bp);
    assert!(drift < 1e-4, "energy drift {drift:e} of the kinetic scale");
}
