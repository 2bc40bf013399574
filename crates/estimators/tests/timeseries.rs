//! Time-series analysis against processes with known correlation.

mod common;

use common::*;
use thermograd_estimators::*;

#[test]
fn ar1_statistical_inefficiency_matches_theory() {
    let n = 200_000;
    for (phi, seed) in [(0.0, 1), (0.5, 2), (0.8, 3)] {
        let x = ar1(phi, n, seed);
        let g_exact = (1.0 + phi) / (1.0 - phi);
        // Sokal: var(τ̂)/τ² ≈ 2(2M + 1)/N for a window M; take M = 10 exponential times.
        let tau_exp = if phi > 0.0 { -1.0 / f64::ln(phi) } else { 1.0 };
        let rel_sigma = (2.0 * (2.0 * 10.0 * tau_exp + 1.0) / n as f64).sqrt();
        for fast in [false, true] {
            let cfg = StatisticalInefficiencyConfig {
                fast,
                ..Default::default()
            };
            let g = statistical_inefficiency(&x, &cfg).unwrap();
            assert!(
                (g - g_exact).abs() < 4.0 * rel_sigma * g_exact + 0.02,
                "phi {phi} fast {fast}: g {g} vs {g_exact}"
            );
            let tau = integrated_autocorrelation_time(&x, &cfg).unwrap();
            assert!((tau - (g - 1.0) / 2.0).abs() < 1e-12);
        }
    }
}

#[test]
fn million_point_series_is_fast_enough_in_debug() {
    let x = ar1(0.9, 1_000_000, 5);
    let start = std::time::Instant::now();
    let g = statistical_inefficiency(&x, &StatisticalInefficiencyConfig::default()).unwrap();
    // Not a timing assertion: just a sanity value; the time is printed for the record.
    eprintln!("g = {g} for 10^6 points in {:?}", start.elapsed());
    assert!((g - 19.0).abs() < 2.0);
}

#[test]
fn fast_mode_agrees_with_the_full_sum_on_a_slow_process() {
    // φ = 0.98: g = 99, the cut-off lag is in the hundreds, where fast mode skips lags.
    let x = ar1(0.98, 200_000, 12);
    let full = statistical_inefficiency(&x, &StatisticalInefficiencyConfig::default()).unwrap();
    let fast_cfg = StatisticalInefficiencyConfig {
        fast: true,
        ..Default::default()
    };
    let fast = statistical_inefficiency(&x, &fast_cfg).unwrap();
    // Same data, so only the truncation differs: both stop at the first negative
    // autocorrelation they see, and fast mode looks at fewer lags.
    assert!(
        (fast / full - 1.0).abs() < 0.08,
        "fast {fast} vs full {full}"
    );
    // Sokal's error with window M = 10 τ_exp ≈ 500: relative σ ≈ √(2(2M+1)/N) ≈ 0.1.
    let rel_sigma = (2.0 * 1001.0 / 200_000.0f64).sqrt();
    for g in [full, fast] {
        assert!((g / 99.0 - 1.0).abs() < 4.0 * rel_sigma, "{g}");
    }
}

#[test]
fn equilibration_detection_finds_a_known_transient() {
    // Stationary AR(1) with a +5σ offset over the first 500 samples.
    let mut x = ar1(0.5, 10_000, 9);
    for v in x.iter_mut().take(500) {
        *v += 5.0;
    }
    let eq = detect_equilibration(&x, &EquilibrationConfig::default()).unwrap();
    assert!((450..=1000).contains(&eq.t0), "{eq:?}");
    assert!(eq.g > 1.0 && eq.g < 6.0, "{eq:?}");
    assert!((eq.n_eff - (x.len() - eq.t0) as f64 / eq.g).abs() < 1e-9);
    // Without a transient the whole series is kept (or nearly).
    let y = ar1(0.5, 10_000, 10);
    let eq = detect_equilibration(&y, &EquilibrationConfig::default()).unwrap();
    assert!(eq.t0 <= 1000, "{eq:?}");
}

#[test]
fn decorrelated_subsample_is_nearly_uncorrelated() {
    let x = ar1(0.9, 100_000, 6);
    let cfg = StatisticalInefficiencyConfig::default();
    let g = statistical_inefficiency(&x, &cfg).unwrap();
    let idx = decorrelated_indices(x.len(), g).unwrap();
    assert!((idx.len() as f64 - x.len() as f64 / g).abs() <= 1.0);
    let sub: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
    let g_sub = statistical_inefficiency(&sub, &cfg).unwrap();
    // Subsampled every g ≈ 19 steps: residual correlation φ^19 ≈ 0.14 → g ≈ 1.3.
    assert!(g_sub < 1.6, "g_sub = {g_sub}");
}

#[test]
fn block_averages_plateau_at_the_correlated_standard_error() {
    let n = 1 << 18;
    let phi = 0.8;
    let x = ar1(phi, n, 7);
    let g = (1.0 + phi) / (1.0 - phi);
    let exact = (g / n as f64).sqrt();
    let blocks = block_analysis(&x, 32).unwrap();
    assert_eq!(blocks[0].block_size, 1);
    // Block size 1 underestimates by √g; large blocks recover the correlated error.
    assert!((blocks[0].std_err / exact - 1.0 / g.sqrt()).abs() < 0.1);
    let b = block_average(&x, 1024).unwrap();
    // 256 blocks: the error estimate itself is good to 1/√(2·256) ≈ 4.4%.
    assert!(
        (b.std_err / exact - 1.0).abs() < 4.0 * 0.044,
        "{} vs {exact}",
        b.std_err
    );
    assert_z("block mean", b.mean, 0.0, b.std_err);
}
