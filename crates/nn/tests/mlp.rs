//! The MLP engine: the three evaluation modes against finite differences, and
//! parameter files.
#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_nn::{
    Activation, Matrix, Mlp, MlpConfig, ModelFile, NnError, Normalization, Trainable,
};

const ACTIVATIONS: [Activation; 5] = [
    Activation::Tanh,
    Activation::Silu,
    Activation::Softplus,
    Activation::ShiftedSoftplus,
    Activation::Relu,
];

fn random_matrix(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix {
    Matrix::new(
        rows,
        cols,
        (0..rows * cols).map(|_| rng.gen_range(-1.5..1.5)).collect(),
    )
    .unwrap()
}

fn net(activation: Activation, seed: u64) -> Mlp {
    let mut mlp = MlpConfig {
        inputs: 3,
        hidden: vec![7, 5],
        outputs: 2,
        activation,
    }
    .build(seed)
    .unwrap();
    // A non-trivial normalization, so that its chain rule is covered too.
    mlp.set_normalization(Normalization {
        input_shift: vec![0.1, -0.2, 0.3],
        input_scale: vec![0.5, 2.0, 1.5],
        output_shift: vec![1.0, -3.0],
        output_scale: vec![2.0, 0.7],
    })
    .unwrap();
    // Nonzero biases.
    let mut p = mlp.parameters();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    for v in &mut p {
        *v += rng.gen_range(-0.1..0.1);
    }
    mlp.set_parameters(&p).unwrap();
    mlp
}

fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / (a.abs().max(b.abs()).max(1e-3))
}

fn dot(a: &Matrix, b: &Matrix) -> f64 {
    a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum()
}

#[test]
fn forward_matches_a_hand_written_reference() {
    let mlp = net(Activation::Silu, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = random_matrix(4, 3, &mut rng);
    let y = mlp.forward(&x).unwrap();
    let n = mlp.normalization();
    for r in 0..4 {
        let mut h: Vec<f64> = (0..3)
            .map(|c| (x.get(r, c) - n.input_shift[c]) / n.input_scale[c])
            .collect();
        let layers = mlp.layers();
        for (k, l) in layers.iter().enumerate() {
            let mut z = l.biases.clone();
            for i in 0..l.inputs {
                for o in 0..l.outputs {
                    z[o] += h[i] * l.weights[i * l.outputs + o];
                }
            }
            h = if k + 1 < layers.len() {
                z.iter().map(|&v| Activation::Silu.apply(v)).collect()
            } else {
                z
            };
        }
        for c in 0..2 {
            let expected = h[c] * n.output_scale[c] + n.output_shift[c];
            assert!((y.get(r, c) - expected).abs() < 1e-12);
        }
    }
}

#[test]
fn input_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for a in ACTIVATIONS {
        let mlp = net(a, 5);
        let x = random_matrix(3, 3, &mut rng);
        let cot = random_matrix(3, 2, &mut rng);
        let (_, g) = mlp.input_vjp(&x, &cot).unwrap();
        let h = 1e-6;
        for k in 0..x.data.len() {
            let mut xp = x.clone();
            xp.data[k] += h;
            let mut xm = x.clone();
            xm.data[k] -= h;
            let fd = (dot(&mlp.forward(&xp).unwrap(), &cot)
                - dot(&mlp.forward(&xm).unwrap(), &cot))
                / (2.0 * h);
            assert!(
                rel_err(g.data[k], fd) < 1e-6,
                "{a:?} {k}: {} vs {fd}",
                g.data[k]
            );
        }
        // The Jacobian at one input agrees with the vector-Jacobian products.
        let (y, jac) = mlp.jacobian(x.row(0)).unwrap();
        assert_eq!(y.len(), 2);
        let x0 = Matrix::new(1, 3, x.row(0).to_vec()).unwrap();
        for c in 0..2 {
            let mut e = Matrix::zeros(1, 2);
            e.data[c] = 1.0;
            let (_, gc) = mlp.input_vjp(&x0, &e).unwrap();
            for i in 0..3 {
                assert!((jac.get(c, i) - gc.data[i]).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn tangents_are_directional_derivatives() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for a in ACTIVATIONS {
        let mlp = net(a, 7);
        let x = random_matrix(4, 3, &mut rng);
        let t = random_matrix(4, 3, &mut rng);
        let (y, ty) = mlp.tangent(&x, &t).unwrap();
        assert_eq!(y, mlp.forward(&x).unwrap());
        let h = 1e-6;
        let shifted = |s: f64| {
            let mut xs = x.clone();
            for (v, d) in xs.data.iter_mut().zip(&t.data) {
                *v += s * d;
            }
            mlp.forward(&xs).unwrap()
        };
        let (yp, ym) = (shifted(h), shifted(-h));
        for k in 0..ty.data.len() {
            let fd = (yp.data[k] - ym.data[k]) / (2.0 * h);
            assert!(
                rel_err(ty.data[k], fd) < 1e-6,
                "{a:?} {k}: {} vs {fd}",
                ty.data[k]
            );
        }
    }
}

/// The force-matching building block: ∂/∂θ of Σ cot_y∘y + Σ cot_ty∘(∂y/∂x · t) from
/// one backward pass through the taped tangents, against central differences in θ.
#[test]
fn tangent_parameter_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for a in [
        Activation::Tanh,
        Activation::Silu,
        Activation::Softplus,
        Activation::ShiftedSoftplus,
    ] {
        let mut mlp = net(a, 11);
        let x = random_matrix(5, 3, &mut rng);
        let t = random_matrix(5, 3, &mut rng);
        let cy = random_matrix(5, 2, &mut rng);
        let ct = random_matrix(5, 2, &mut rng);
        let out = mlp.param_vjp(&x, &cy, Some((&t, &ct))).unwrap();
        let loss = |m: &Mlp| {
            let (y, ty) = m.tangent(&x, &t).unwrap();
            dot(&y, &cy) + dot(&ty, &ct)
        };
        let p0 = mlp.parameters();
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for k in 0..p0.len() {
            let mut p = p0.clone();
            p[k] = p0[k] + h;
            mlp.set_parameters(&p).unwrap();
            let lp = loss(&mlp);
            p[k] = p0[k] - h;
            mlp.set_parameters(&p).unwrap();
            let lm = loss(&mlp);
            let fd = (lp - lm) / (2.0 * h);
            worst = worst.max(rel_err(out.gradient[k], fd));
        }
        mlp.set_parameters(&p0).unwrap();
        println!("{a:?}: tangent parameter gradient, worst relative error {worst:e}");
        assert!(worst < 1e-6, "{a:?}: worst relative error {worst:e}");
        // Without a tangent: the plain parameter gradient.
        let plain = mlp.param_vjp(&x, &cy, None).unwrap();
        let k = 3;
        let mut p = p0.clone();
        p[k] += h;
        mlp.set_parameters(&p).unwrap();
        let lp = dot(&mlp.forward(&x).unwrap(), &cy);
        p[k] -= 2.0 * h;
        mlp.set_parameters(&p).unwrap();
        let lm = dot(&mlp.forward(&x).unwrap(), &cy);
        assert!(rel_err(plain.gradient[k], (lp - lm) / (2.0 * h)) < 1e-6);
    }
}

#[test]
fn relu_parameter_gradient_matches_finite_differences_away_from_kinks() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut mlp = net(Activation::Relu, 13);
    let x = random_matrix(3, 3, &mut rng);
    let t = random_matrix(3, 3, &mut rng);
    let cy = random_matrix(3, 2, &mut rng);
    let ct = random_matrix(3, 2, &mut rng);
    let out = mlp.param_vjp(&x, &cy, Some((&t, &ct))).unwrap();
    let p0 = mlp.parameters();
    let h = 1e-7;
    for k in 0..p0.len() {
        let mut p = p0.clone();
        let mut l = [0.0; 2];
        for (s, li) in [h, -h].iter().zip(&mut l) {
            p[k] = p0[k] + s;
            mlp.set_parameters(&p).unwrap();
            let (y, ty) = mlp.tangent(&x, &t).unwrap();
            *li = dot(&y, &cy) + dot(&ty, &ct);
        }
        let fd = (l[0] - l[1]) / (2.0 * h);
        assert!(
            rel_err(out.gradient[k], fd) < 1e-5,
            "{k}: {} vs {fd}",
            out.gradient[k]
        );
    }
}

#[test]
fn initialisation_is_seeded() {
    let c = MlpConfig {
        inputs: 4,
        hidden: vec![6],
        outputs: 1,
        activation: Activation::Tanh,
    };
    assert_eq!(
        c.build(1).unwrap().parameters(),
        c.build(1).unwrap().parameters()
    );
    assert_ne!(
        c.build(1).unwrap().parameters(),
        c.build(2).unwrap().parameters()
    );
}

#[test]
fn bad_inputs_are_errors() {
    let mlp = net(Activation::Tanh, 1);
    assert!(matches!(
        mlp.forward(&Matrix::zeros(2, 4)),
        Err(NnError::Mismatch { .. })
    ));
    let mut x = Matrix::zeros(1, 3);
    x.data[1] = f64::NAN;
    assert!(matches!(mlp.forward(&x), Err(NnError::NonFinite { .. })));
    assert!(Matrix::new(2, 2, vec![0.0; 3]).is_err());
    assert!(MlpConfig {
        inputs: 3,
        hidden: vec![0],
        outputs: 1,
        activation: Activation::Tanh
    }
    .build(0)
    .is_err());
    let mut m = mlp.clone();
    assert!(m.set_parameters(&[1.0]).is_err());
    assert_eq!(m.forward(&Matrix::zeros(0, 3)).unwrap().rows, 0);
}

#[test]
fn save_load_round_trip_is_bit_for_bit() {
    let mlp = net(Activation::Silu, 17);
    let dir = std::env::temp_dir().join(format!("thermograd-nn-mlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.tgnn");
    mlp.save(&path).unwrap();
    let back = Mlp::load(&path).unwrap();
    assert_eq!(back, mlp);
    let bits = |m: &Mlp| {
        m.parameters()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&back), bits(&mlp));
    assert_eq!(back.normalization(), mlp.normalization());
    let x = Matrix::new(1, 3, vec![0.2, 0.4, -0.6]).unwrap();
    assert_eq!(
        back.forward(&x).unwrap().data[0].to_bits(),
        mlp.forward(&x).unwrap().data[0].to_bits()
    );
    assert!(Mlp::load_expecting(&path, mlp.config()).is_ok());
    let other = MlpConfig {
        hidden: vec![7, 6],
        ..mlp.config().clone()
    };
    let err = Mlp::load_expecting(&path, &other).unwrap_err();
    assert!(
        matches!(err.cause(), NnError::WrongArchitecture { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(matches!(
        Mlp::load(&dir.join("missing")),
        Err(NnError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let mlp = net(Activation::Tanh, 19);
    let bytes = mlp.to_bytes().unwrap();
    // Every truncation.
    for n in 0..bytes.len() {
        assert!(Mlp::from_bytes(&bytes[..n]).is_err(), "truncated at {n}");
    }
    // Every single-byte corruption.
    for k in 0..bytes.len() {
        let mut b = bytes.clone();
        b[k] ^= 0x5a;
        assert!(Mlp::from_bytes(&b).is_err(), "corrupted byte {k}");
    }
    // Trailing garbage.
    let mut b = bytes.clone();
    b.push(0);
    assert!(Mlp::from_bytes(&b).is_err());
    // Another format version.
    let mut b = bytes.clone();
    b[8] = 99;
    assert!(matches!(
        Mlp::from_bytes(&b),
        Err(NnError::UnsupportedVersion { found: 99, .. })
    ));
}

#[test]
fn files_of_another_kind_or_precision_are_rejected() {
    use thermograd_nn::file::{decode, encode, Dtype};
    let mlp = net(Activation::Tanh, 23);
    let (mut header, params) = decode(&mlp.to_bytes().unwrap()).unwrap();
    // f32 files are accepted (tests/precision.rs), but these parameters are not f32
    // values, so the file contradicts its header.
    header.dtype = Dtype::F32;
    assert!(matches!(
        Mlp::from_bytes(&encode(&header, &params).unwrap()),
        Err(NnError::CorruptFile { .. })
    ));
    header.dtype = Dtype::F64;
    header.kind = "behler_parrinello".into();
    assert!(matches!(
        Mlp::from_bytes(&encode(&header, &params).unwrap()),
        Err(NnError::WrongArchitecture { .. })
    ));
    header.kind = "mlp".into();
    // Parameters that do not fit the architecture.
    header.n_parameters -= 1;
    assert!(Mlp::from_bytes(&encode(&header, &params[1..]).unwrap()).is_err());
}
