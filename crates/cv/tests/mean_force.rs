//! Mean-force estimators on windows drawn exactly from a known biased distribution.
//!
//! With a harmonic free energy A(ξ) = ½ a (ξ − c)² and a window bias ½ κ (ξ − ξ0)², the
//! biased distribution at temperature kT is Gaussian with mean m = (a c + κ ξ0)/(a + κ)
//! and variance kT/(a + κ). Then: umbrella integration at the mean gives A'(m) = a(m − c)
//! exactly; the restrained mean force at ξ0 gives κ(ξ0 − m) = κa(ξ0 − c)/(a + κ), which
//! tends to A'(ξ0) only as κ → ∞; the full UI profile gives a(ξ − c) at every ξ.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use thermograd_cv::{
    restrained_mean_force, umbrella_integration, umbrella_integration_profile, CvError,
    WindowSamples,
};

const A: f64 = 3.0;
const C: f64 = 0.4;
const KT: f64 = 1.7;

fn windows(kappa: f64, n: usize, seed: u64) -> Vec<WindowSamples> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..7)
        .map(|i| {
            let center = -1.0 + 0.4 * i as f64;
            let mean = (A * C + kappa * center) / (A + kappa);
            let normal = Normal::new(mean, (KT / (A + kappa)).sqrt()).unwrap();
            WindowSamples {
                center: vec![center],
                kappa: vec![kappa],
                periods: vec![None],
                series: vec![(0..n).map(|_| normal.sample(&mut rng)).collect()],
            }
        })
        .collect()
}

#[test]
fn umbrella_integration_is_exact_for_a_harmonic_free_energy() {
    let table = umbrella_integration(&windows(20.0, 4000, 1)).unwrap();
    for ((x, g), v) in table
        .points
        .iter()
        .zip(&table.gradients)
        .zip(&table.variances)
    {
        let exact = A * (x[0] - C);
        let z = (g[0] - exact) / v[0].sqrt();
        // The point x is itself estimated; A' is evaluated at the estimate, so the
        // comparison includes its noise through the slope a: var(g − A'(x̄)) = (κ + a)² var(x̄).
        let z_full = (g[0] - exact) / (v[0].sqrt() * (20.0 + A) / 20.0);
        assert!(z_full.abs() < 4.0, "z = {z}, z_full = {z_full}");
    }
}

#[test]
fn restrained_mean_force_has_the_predicted_bias() {
    let kappa = 5.0;
    let table = restrained_mean_force(&windows(kappa, 4000, 2)).unwrap();
    for ((x, g), v) in table
        .points
        .iter()
        .zip(&table.gradients)
        .zip(&table.variances)
    {
        let expected = kappa * A * (x[0] - C) / (A + kappa);
        let z = (g[0] - expected) / v[0].sqrt();
        assert!(z.abs() < 4.0, "z = {z}");
        // …and it is measurably not the true derivative A'(ξ0) at this stiffness.
        if (x[0] - C).abs() > 0.5 {
            assert!(((g[0] - A * (x[0] - C)) / v[0].sqrt()).abs() > 4.0);
        }
    }
}

#[test]
fn umbrella_integration_profile_recovers_the_derivative_everywhere() {
    let grid: Vec<f64> = (0..25).map(|i| -0.9 + 0.1 * i as f64).collect();
    let table = umbrella_integration_profile(&windows(20.0, 4000, 3), KT, &grid).unwrap();
    for ((x, g), v) in table
        .points
        .iter()
        .zip(&table.gradients)
        .zip(&table.variances)
    {
        let z = (g[0] - A * (x[0] - C)) / v[0].sqrt();
        assert!(z.abs() < 4.0, "at {}: z = {z}", x[0]);
    }
}

#[test]
fn periodic_windows_average_across_the_seam() {
    let period = 2.0 * std::f64::consts::PI;
    // Samples around π, half of them wrapped to near −π.
    let series: Vec<f64> = (0..400)
        .map(|t| {
            let x = std::f64::consts::PI + 0.1 * ((t as f64) * 0.7).sin();
            if x > std::f64::consts::PI {
                x - period
            } else {
                x
            }
        })
        .collect();
    let window = WindowSamples {
        center: vec![std::f64::consts::PI - 0.05],
        kappa: vec![10.0],
        periods: vec![Some(period)],
        series: vec![series],
    };
    let table = umbrella_integration(std::slice::from_ref(&window)).unwrap();
    // Mean near π (not near 0, which a naive average would give).
    assert!((table.points[0][0].abs() - std::f64::consts::PI).abs() < 0.02);
    assert!(table.gradients[0][0].abs() < 1.0);
}

#[test]
fn csv_has_the_gpr_input_header() {
    let table = umbrella_integration(&windows(20.0, 100, 4)).unwrap();
    let csv = table.to_csv();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("x1,g1,v1"));
    assert_eq!(lines.count(), 7);
}

#[test]
fn bad_windows_are_rejected() {
    let mut w = windows(20.0, 100, 5);
    w[0].series[0][3] = f64::NAN;
    assert!(matches!(
        umbrella_integration(&w),
        Err(CvError::NonFinite { .. })
    ));
    let mut w = windows(20.0, 100, 5);
    w[1].kappa.push(1.0);
    assert!(matches!(
        umbrella_integration(&w),
        Err(CvError::LengthMismatch { .. })
    ));
    let mut w = windows(20.0, 100, 5);
    w[2].series[0] = vec![1.0; 50];
    assert!(matches!(
        umbrella_integration(&w),
        Err(CvError::InvalidDefinition { .. })
    ));
    let w = windows(20.0, 3, 5);
    assert!(matches!(
        umbrella_integration(&w),
        Err(CvError::InvalidDefinition { .. })
    ));
    assert!(umbrella_integration_profile(&windows(20.0, 100, 6), 0.0, &[0.0]).is_err());
}
