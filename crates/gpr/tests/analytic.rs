//! Posteriors small enough to write down by hand, and invariances.

use proptest::prelude::*;
use thermograd_gpr::*;

/// One noise-free gradient `g` at 0 under a 1-D squared exponential: the posterior mean
/// is `cov(A(x), A′(0)) g / var(A′(0)) = g x exp(−x²/2ℓ²)` and the variance is
/// `σ²(1 − (x²/ℓ²) exp(−x²/ℓ²))`.
#[test]
fn single_gradient_observation_closed_form() {
    let (s2, l, g) = (2.5, 0.7, 1.3);
    let mut obs = Observations::new(1).unwrap();
    obs.push_gradient(&[0.0], &[g], GradientNoise::None)
        .unwrap();
    let k = SquaredExponential::new(s2, &[l]).unwrap();
    let gp = GaussianProcess::fit(Box::new(k), obs, &GpConfig::default()).unwrap();
    assert_eq!(gp.jitter(), 0.0);
    let xs = [-1.1, -0.3, 0.0, 0.4, 2.0];
    let p = gp.predict(&xs).unwrap();
    for (i, &x) in xs.iter().enumerate() {
        let mean = g * x * (-x * x / (2.0 * l * l)).exp();
        let var = s2 * (1.0 - x * x / (l * l) * (-x * x / (l * l)).exp());
        assert!((p.mean[i] - mean).abs() < 1e-12, "{x}");
        assert!((p.std[i] - var.sqrt()).abs() < 1e-9, "{x}");
    }
    // The observed gradient is reproduced exactly, with zero uncertainty.
    let pg = gp.predict_gradient(&[0.0]).unwrap();
    assert!((pg.mean[0] - g).abs() < 1e-12);
    assert!(pg.std[0] < 1e-6);
    // LML of a single Gaussian observation with variance σ²/ℓ².
    let v = s2 / (l * l);
    let lml = -0.5 * g * g / v - 0.5 * v.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    assert!((gp.log_marginal_likelihood() - lml).abs() < 1e-12);
}

/// Two noisy values: ordinary GP regression with the mean of the values as prior mean,
/// solved by hand with a 2×2 inverse.
#[test]
fn two_values_closed_form() {
    let (s2, l, n2) = (1.5, 0.8, 0.1);
    let (y0, y1) = (0.3, -0.9);
    let mut obs = Observations::new(1).unwrap();
    obs.push_value(&[0.0], y0, n2).unwrap();
    obs.push_value(&[1.0], y1, n2).unwrap();
    let gp = GaussianProcess::fit(
        Box::new(SquaredExponential::new(s2, &[l]).unwrap()),
        obs,
        &GpConfig::default(),
    )
    .unwrap();
    let k = |a: f64, b: f64| s2 * (-(a - b) * (a - b) / (2.0 * l * l)).exp();
    let (a, b, d) = (k(0.0, 0.0) + n2, k(0.0, 1.0), k(1.0, 1.0) + n2);
    let det = a * d - b * b;
    let m = 0.5 * (y0 + y1);
    let (r0, r1) = (y0 - m, y1 - m);
    let alpha = [(d * r0 - b * r1) / det, (-b * r0 + a * r1) / det];
    for x in [-0.5, 0.2, 0.9, 3.0] {
        let (k0, k1) = (k(x, 0.0), k(x, 1.0));
        let mean = m + k0 * alpha[0] + k1 * alpha[1];
        let quad = (d * k0 * k0 - 2.0 * b * k0 * k1 + a * k1 * k1) / det;
        let p = gp.predict(&[x]).unwrap();
        assert!((p.mean[0] - mean).abs() < 1e-12);
        assert!((p.std[0] - (s2 - quad).sqrt()).abs() < 1e-10);
    }
}

/// A full 2×2 noise block equals rotating the problem: gradients observed with
/// covariance `R diag(a, b) Rᵀ` under an isotropic kernel give the same posterior as
/// the rotated data with a diagonal block.
#[test]
fn full_noise_block_is_rotation_covariant() {
    let th = 0.6f64;
    let (c, s) = (th.cos(), th.sin());
    let rot = |v: [f64; 2]| [c * v[0] - s * v[1], s * v[0] + c * v[1]];
    let (na, nb) = (0.3, 0.05);
    let cov = [
        c * c * na + s * s * nb,
        c * s * (na - nb),
        c * s * (na - nb),
        s * s * na + c * c * nb,
    ];
    let pts = [[0.1, 0.2], [-0.5, 0.4], [0.7, -0.3], [0.0, -0.8]];
    let gs = [[1.0, -0.5], [0.3, 0.9], [-1.2, 0.1], [0.4, 0.4]];
    let mut rotated = Observations::new(2).unwrap();
    let mut plain = Observations::new(2).unwrap();
    for (p, g) in pts.iter().zip(&gs) {
        rotated
            .push_gradient(&rot(*p), &rot(*g), GradientNoise::Full(&cov))
            .unwrap();
        plain
            .push_gradient(p, g, GradientNoise::Diagonal(&[na, nb]))
            .unwrap();
    }
    let k = SquaredExponential::new(1.2, &[0.9, 0.9]).unwrap();
    let gp_r = GaussianProcess::fit(Box::new(k.clone()), rotated, &GpConfig::default()).unwrap();
    let gp_p = GaussianProcess::fit(Box::new(k), plain, &GpConfig::default()).unwrap();
    for q in [[0.2, 0.1], [-0.4, -0.6], [1.0, 1.0]] {
        let a = gp_r.predict(&rot(q)).unwrap();
        let b = gp_p.predict(&q).unwrap();
        assert!((a.mean[0] - b.mean[0]).abs() < 1e-12);
        assert!((a.std[0] - b.std[0]).abs() < 1e-12);
    }
    assert!((gp_r.log_marginal_likelihood() - gp_p.log_marginal_likelihood()).abs() < 1e-10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Stationarity and exchangeability: translating every point, or permuting the
    /// observations, leaves the posterior unchanged.
    #[test]
    fn translation_and_permutation_invariance(
        raw in proptest::collection::vec((-2.0..2.0f64, -2.0..2.0f64, -3.0..3.0f64, -3.0..3.0f64), 3..12),
        shift in (-5.0..5.0f64, -5.0..5.0f64),
        rot in 1usize..11,
    ) {
        let k = Matern52::new(1.7, &[0.8, 1.3]).unwrap();
        let mut a = Observations::new(2).unwrap();
        let mut b = Observations::new(2).unwrap();
        let mut c = Observations::new(2).unwrap();
        for &(x, y, g, h) in &raw {
            a.push_gradient(&[x, y], &[g, h], GradientNoise::Isotropic(0.1)).unwrap();
            b.push_gradient(&[x + shift.0, y + shift.1], &[g, h], GradientNoise::Isotropic(0.1)).unwrap();
        }
        let n = raw.len();
        for i in 0..n {
            let (x, y, g, h) = raw[(i + rot) % n];
            c.push_gradient(&[x, y], &[g, h], GradientNoise::Isotropic(0.1)).unwrap();
        }
        let cfg = GpConfig::default();
        let ga = GaussianProcess::fit(Box::new(k.clone()), a, &cfg).unwrap();
        let gb = GaussianProcess::fit(Box::new(k.clone()), b, &cfg).unwrap();
        let gc = GaussianProcess::fit(Box::new(k), c, &cfg).unwrap();
        let q = [0.3, -0.2, 1.1, 0.5];
        let qs = [q[0] + shift.0, q[1] + shift.1, q[2] + shift.0, q[3] + shift.1];
        let pa = ga.predict(&q).unwrap();
        let pb = gb.predict(&qs).unwrap();
        let pc = gc.predict(&q).unwrap();
        for t in 0..2 {
            prop_assert!((pa.mean[t] - pb.mean[t]).abs() < 1e-8);
            prop_assert!((pa.mean[t] - pc.mean[t]).abs() < 1e-8);
            prop_assert!((pa.std[t] - pb.std[t]).abs() < 1e-7);
            prop_assert!((pa.std[t] - pc.std[t]).abs() < 1e-7);
        }
        prop_assert!((ga.log_marginal_likelihood() - gc.log_marginal_likelihood()).abs() < 1e-8);
    }
}
