//! The instantaneous collective force on configurations where it is known exactly.
//!
//! For the distance r between two atoms with a pair potential U(r), the mass-weighted
//! projection gives b·∇U = U'(r) and ∇·b = 2/r for any masses, so the estimator is
//! F = U'(r) − 2kT/r on every configuration: the mean force of the radial PMF
//! U(r) − 2kT ln r. The statistical tests (fluctuating F whose conditional average is
//! the mean force) are in `umbrella.rs`.

use std::sync::Arc;

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use thermograd_cv::{
    instantaneous_mean_force, Bias, CvError, Distance, DistanceComponents, Harmonic,
    InstantaneousForce, InstantaneousForceConfig, Stack, WindowSamples,
};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential};

const KT: f64 = 0.7;

/// U(r) = a (r − r0)² + c/r between atoms 0 and 1 (minimum image).
#[derive(Debug)]
struct Pair;

fn pair_derivative(r: f64) -> f64 {
    2.0 * 1.5 * (r - 1.1) - 0.3 / (r * r)
}

impl Potential for Pair {
    fn cutoff(&self) -> Option<f64> {
        None
    }
    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
        let d = c.simbox.displacement(&c.positions[0], &c.positions[1]);
        let r = d.norm();
        out.energy += 1.5 * (r - 1.1).powi(2) + 0.3 / r;
        let f = d * (pair_derivative(r) / r);
        out.forces[0] += f;
        out.forces[1] -= f;
        Ok(())
    }
}

fn forces(p: &dyn Potential, r: &[Vec3], b: &SimBox) -> Vec<Vec3> {
    let species = vec![0; r.len()];
    let config = Configuration {
        positions: r,
        species: &species,
        simbox: b,
        neighbors: None,
    };
    let mut out = Evaluation::zeros(r.len());
    p.add_to(&config, &mut out).unwrap();
    out.forces
}

fn estimator(masses: Vec<f64>) -> InstantaneousForce {
    InstantaneousForceConfig {
        kt: KT,
        masses,
        step: 1e-4,
    }
    .build()
    .unwrap()
}

fn boxes() -> impl Strategy<Value = SimBox> {
    prop_oneof![
        Just(SimBox::open()),
        (4.0f64..6.0, 4.0f64..6.0, 4.0f64..6.0)
            .prop_map(|(a, b, c)| SimBox::orthorhombic([a, b, c]).unwrap()),
        (
            5.0f64..7.0,
            5.0f64..7.0,
            5.0f64..7.0,
            70.0f64..110.0,
            70.0f64..110.0,
            70.0f64..110.0
        )
            .prop_filter_map("valid cell", |(a, b, c, al, be, ga)| {
                SimBox::from_lengths_angles([a, b, c], [al, be, ga]).ok()
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two atoms (often straddling the boundary) with random masses, alone and under a
    /// harmonic bias on their distance whose forces are in the sampled forces.
    #[test]
    fn dimer_force_is_the_radial_mean_force(
        b in boxes(),
        start in (0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
        offset in (-1.5f64..1.5, -1.5f64..1.5, -1.5f64..1.5),
        masses in (0.1f64..10.0, 0.1f64..10.0),
        center in 0.5f64..2.0,
    ) {
        let origin = b
            .to_cartesian(&Vec3::new(start.0, start.1, start.2))
            .unwrap_or_else(|| Vec3::new(start.0, start.1, start.2));
        let r = vec![b.wrap(&origin), b.wrap(&(origin + Vec3::new(offset.0, offset.1, offset.2)))];
        let dist = b.distance(&r[0], &r[1]);
        prop_assume!(dist > 0.3);
        let est = estimator(vec![masses.0, masses.1]);
        let cv = Distance::new(0, 1).unwrap();
        let exact = pair_derivative(dist) - 2.0 * KT / dist;
        let mut f = [0.0];
        est.evaluate(&cv, &r, &b, &forces(&Pair, &r, &b), &[0.0], &mut f).unwrap();
        prop_assert!((f[0] - exact).abs() < 1e-6 * (1.0 + exact.abs()), "{} vs {exact}", f[0]);
        let mut div = [0.0];
        est.divergence(&cv, &r, &b, &mut div).unwrap();
        prop_assert!((div[0] - 2.0 / dist).abs() < 1e-6 * (1.0 + 2.0 / dist));
        // Under a bias κ(r − r0)²/2 the sampled forces include it; passing its gradient
        // removes it exactly.
        let kappa = 30.0;
        let bias = Bias::new(
            Arc::new(Distance::new(0, 1).unwrap()),
            Arc::new(Harmonic::new(vec![center], vec![kappa]).unwrap()),
        ).unwrap();
        let total: Vec<Vec3> = forces(&Pair, &r, &b)
            .iter()
            .zip(forces(&bias, &r, &b))
            .map(|(a, c)| a + c)
            .collect();
        est.evaluate(&cv, &r, &b, &total, &[kappa * (dist - center)], &mut f).unwrap();
        prop_assert!((f[0] - exact).abs() < 1e-6 * (1.0 + exact.abs()), "biased {} vs {exact}", f[0]);
    }
}

#[test]
fn a_linear_cv_has_no_divergence_term() {
    // Cartesian displacement components: b is constant, so F is the projected force.
    let b = SimBox::cubic(5.0).unwrap();
    let r = vec![Vec3::new(4.8, 0.2, 0.1), Vec3::new(0.4, 4.7, 0.3)];
    let est = estimator(vec![2.0, 0.5]);
    let mut div = [1.0; 3];
    est.divergence(&DistanceComponents::new(0, 1).unwrap(), &r, &b, &mut div)
        .unwrap();
    assert!(div.iter().all(|d| d.abs() < 1e-8), "{div:?}");
    // F_a = −b_a·f with b_a = M⁻¹ e_a (−1, +1)/Z, Z = 1/m0 + 1/m1: for opposite forces
    // ±g on the two atoms, F = g_a regardless of the masses.
    let g = Vec3::new(0.3, -1.2, 2.0);
    let mut f = [0.0; 3];
    est.evaluate(
        &DistanceComponents::new(0, 1).unwrap(),
        &r,
        &b,
        &[g, -g],
        &[0.0; 3],
        &mut f,
    )
    .unwrap();
    for a in 0..3 {
        assert!((f[a] - g[a]).abs() < 1e-12, "{f:?} vs {g:?}");
    }
}

#[test]
fn bad_input_is_an_error() {
    let b = SimBox::open();
    let r = vec![
        Vec3::zeros(),
        Vec3::new(1.0, 0.0, 0.0),
        Vec3::new(1.0, 1.0, 0.0),
    ];
    let est = estimator(vec![1.0; 3]);
    let mut f = [0.0; 2];
    // The same distance twice: the metric is singular.
    let twice = Stack::new(vec![
        Box::new(Distance::new(0, 1).unwrap()),
        Box::new(Distance::new(1, 0).unwrap()),
    ])
    .unwrap();
    assert!(matches!(
        est.evaluate(&twice, &r, &b, &[Vec3::zeros(); 3], &[0.0; 2], &mut f),
        Err(CvError::Singular { .. })
    ));
    let cv = Distance::new(0, 1).unwrap();
    assert!(matches!(
        est.evaluate(&cv, &r, &b, &[Vec3::zeros(); 2], &[0.0], &mut [0.0]),
        Err(CvError::LengthMismatch { .. })
    ));
    assert!(matches!(
        estimator(vec![1.0; 2]).evaluate(&cv, &r, &b, &[Vec3::zeros(); 3], &[0.0], &mut [0.0]),
        Err(CvError::LengthMismatch { .. })
    ));
    assert!(matches!(
        est.evaluate(&cv, &r, &b, &[Vec3::zeros(); 3], &[0.0, 0.0], &mut [0.0]),
        Err(CvError::LengthMismatch { .. })
    ));
    for (kt, masses, step) in [
        (0.0, vec![1.0], 1e-4),
        (1.0, vec![-1.0], 1e-4),
        (1.0, vec![1.0], 0.0),
        (f64::NAN, vec![1.0], 1e-4),
    ] {
        assert!(InstantaneousForceConfig { kt, masses, step }
            .build()
            .is_err());
    }
}

/// Windows of independent Gaussian samples ξ ~ N(m_w, σ²) with forces
/// F = A'(ξ) + ε, ε ~ N(0, s²), for a given conditional mean A'.
fn synthetic(
    seed: u64,
    windows: usize,
    n: usize,
    sigma: f64,
    s: f64,
    mean_force: impl Fn(f64) -> f64,
) -> (Vec<WindowSamples>, Vec<Vec<Vec<f64>>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0, s).unwrap();
    let mut samples = Vec::new();
    let mut forces = Vec::new();
    for w in 0..windows {
        let center = -0.2 + 0.4 * w as f64 / (windows - 1) as f64;
        let xi = Normal::new(center, sigma).unwrap();
        let series: Vec<f64> = (0..n).map(|_| xi.sample(&mut rng)).collect();
        forces.push(vec![series
            .iter()
            .map(|&x| mean_force(x) + noise.sample(&mut rng))
            .collect::<Vec<f64>>()]);
        samples.push(WindowSamples {
            center: vec![center],
            kappa: vec![100.0],
            periods: vec![None],
            series: vec![series],
        });
    }
    (samples, forces)
}

/// Forces independent of ξ: the fitted value at the mean of a quadratic fit has the
/// variance 1.5 s²/N for Gaussian ξ (E[u⁴]/(E[u⁴] − 1) with u = (ξ − m)/σ), and the
/// jackknife must reproduce it on average over many windows.
#[test]
fn jackknife_errors_are_calibrated() {
    let (n, s, windows) = (1000, 0.8, 40);
    let (samples, forces) = synthetic(7, windows, n, 0.05, s, |_| 1.25);
    let table = instantaneous_mean_force(&samples, &forces).unwrap();
    let expected = 1.5 * s * s / n as f64;
    let mut ratio = 0.0;
    for (w, window) in samples.iter().enumerate() {
        let v = table.variances[w][0];
        let z = (table.gradients[w][0] - 1.25) / v.sqrt();
        assert!(z.abs() < 4.0, "window {w}: z = {z}");
        assert!((table.points[w][0] - window.center[0]).abs() < 0.01);
        ratio += v / expected / windows as f64;
    }
    // A jackknife variance over 20 blocks scatters by √(2/19) ≈ 0.32 relative; the mean
    // of 40 by ≈ 0.05.
    assert!((ratio - 1.0).abs() < 0.25, "mean variance ratio {ratio}");
}

/// A strongly curved mean force A'(ξ) = 3ξ + 30ξ²: the plain window average of F is
/// biased by 30σ², the local quadratic fit is not.
#[test]
fn the_local_fit_removes_the_curvature_bias() {
    let (n, sigma) = (2000, 0.15);
    let mean_force = |x: f64| 3.0 * x + 30.0 * x * x;
    let (samples, forces) = synthetic(8, 5, n, sigma, 0.5, mean_force);
    let table = instantaneous_mean_force(&samples, &forces).unwrap();
    for (w, force) in forces.iter().enumerate() {
        let x = table.points[w][0];
        let err = table.variances[w][0].sqrt();
        let z = (table.gradients[w][0] - mean_force(x)) / err;
        assert!(z.abs() < 4.0, "window {w}: z = {z}");
        let average = force[0].iter().sum::<f64>() / n as f64;
        let z_average = (average - mean_force(x)) / err;
        assert!(
            z_average > 4.0,
            "window {w}: the plain average is off by {z_average}σ"
        );
    }
}

#[test]
fn bad_window_data_are_errors() {
    let (windows, forces) = synthetic(9, 5, 200, 0.05, 0.8, |x| x);
    assert!(matches!(
        instantaneous_mean_force(&windows, &forces[..4]),
        Err(CvError::LengthMismatch { .. })
    ));
    let mut short = forces.clone();
    short[2][0].pop();
    assert!(matches!(
        instantaneous_mean_force(&windows, &short),
        Err(CvError::LengthMismatch { .. })
    ));
    let mut nan = forces.clone();
    nan[1][0][5] = f64::NAN;
    assert!(matches!(
        instantaneous_mean_force(&windows, &nan),
        Err(CvError::NonFinite { .. })
    ));
    // Too few samples for a local quadratic fit with a jackknife.
    let (windows, forces) = synthetic(9, 2, 10, 0.05, 0.8, |x| x);
    assert!(matches!(
        instantaneous_mean_force(&windows, &forces),
        Err(CvError::InvalidDefinition { .. })
    ));
}
