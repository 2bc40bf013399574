//! Reconstruction accuracy and calibration on surfaces with closed forms
//! (../../shared/references.md): 1-D double well, 2-D Müller–Brown ×0.1, and a
//! dihedral-like periodic profile. Noise is 1 kT per unit length on each gradient
//! component (kT = 1).

mod common;

use common::*;
use thermograd_gpr::*;

fn slow() -> bool {
    std::env::var("THERMOGRAD_SLOW").is_ok()
}

fn fit_gp(
    mut kernel: Box<dyn Kernel>,
    obs: Observations,
    hyper: &HyperConfig,
) -> (GaussianProcess, HyperFit) {
    let fit = fit_hyperparameters(kernel.as_mut(), &obs, hyper).unwrap();
    let config = GpConfig {
        noise_floor: fit.noise_floor,
        ..GpConfig::default()
    };
    (GaussianProcess::fit(kernel, obs, &config).unwrap(), fit)
}

/// 100 noisy gradients of `5(x² − 1)² + x` on [−1.7, 1.7]. A single realisation's RMSE
/// scatters around the statistical floor: even a one-parameter (linear) model fitted to
/// 100 gradients with σ = 1 has a RMSE of σL/√(12n) ≈ 0.1 over a region of length
/// L ≈ 3.4. So the criterion is applied to the mean over 8 independent data sets, and
/// each one must stay below 2.5× that. Calibration pools the standardised errors of all 8.
#[test]
fn double_well_1d_rmse_and_calibration() {
    let (h, c) = (5.0, 1.0);
    let grid = Grid::parse("-1.7:1.7:341").unwrap();
    let truth: Vec<f64> = grid
        .points()
        .iter()
        .map(|&x| double_well(x, h, c).0)
        .collect();
    let mut rmses = Vec::new();
    let mut z2 = 0.0;
    for seed in 0..8 {
        let obs = double_well_data(100, -1.7, 1.7, h, c, 1.0, seed);
        let kernel = Box::new(SquaredExponential::new(1.0, &[1.0]).unwrap());
        let (gp, fit) = fit_gp(kernel, obs, &HyperConfig::default());
        assert!(fit.log_marginal_likelihood.is_finite());
        let fes = gp.free_energy_on_grid(&grid, true).unwrap();
        let m = metrics(&fes, &truth, 10.0);
        assert!(m.n > 300, "region covers most of the grid: {}", m.n);
        assert!(m.rmse < 0.25, "seed {seed}: {m:?}");
        rmses.push(m.rmse);
        z2 += m.z_rms.powi(2);
        // The barrier top (x ≈ 0) lies 5 kT + tilt above the left minimum: check the
        // reconstructed barrier against the exact one within 4 posterior std.
        let i_top = 170; // x = 0
        let t0 = truth[fes.minimum_index];
        let err = fes.free_energy[i_top] - (truth[i_top] - t0);
        let sd = fes.std.as_ref().unwrap()[i_top];
        assert!(
            err.abs() < 4.0 * sd,
            "seed {seed}: barrier error {err} vs std {sd}"
        );
    }
    let mean = rmses.iter().sum::<f64>() / rmses.len() as f64;
    let z_rms = (z2 / 8.0).sqrt();
    println!("double well: mean RMSE {mean:.4} kT, per seed {rmses:.3?}, pooled z rms {z_rms:.3}");
    assert!(mean <= 0.1, "mean RMSE {mean}");
    assert!((0.5..=2.0).contains(&z_rms), "calibration {z_rms}");
}

fn muller_brown_case(n: usize, seeds: std::ops::Range<u64>, max_points: usize, rmse_max: f64) {
    let grid = Grid::parse("-1.5:1.2:82,-0.5:2:76").unwrap();
    let truth: Vec<f64> = grid
        .points()
        .chunks(2)
        .map(|p| muller_brown(p[0], p[1], 0.1).0)
        .collect();
    for seed in seeds {
        let obs = muller_brown_data(n, 12.0, 1.0, seed);
        let kernel = Box::new(SquaredExponential::new(1.0, &[0.3, 0.3]).unwrap());
        let hyper = HyperConfig {
            max_points: Some(max_points),
            seed,
            ..HyperConfig::default()
        };
        let (gp, fit) = fit_gp(kernel, obs, &hyper);
        let fes = gp.free_energy_on_grid(&grid, true).unwrap();
        let m = metrics(&fes, &truth, 10.0);
        println!(
            "Müller–Brown n={n} seed {seed}: {m:?}, length scales {:.3?}, variance {:.3}, floor {:.2e}",
            fit.log_params[1..].iter().map(|v| v.exp()).collect::<Vec<_>>(),
            fit.log_params[0].exp(),
            fit.noise_floor
        );
        assert!(m.rmse <= rmse_max, "seed {seed}: {m:?}");
        assert!(
            (0.5..=2.0).contains(&m.z_rms),
            "calibration seed {seed}: {m:?}"
        );
        // The reconstructed global minimum is next to the true one (−0.558, 1.442).
        let mut x0 = [0.0; 2];
        grid.point(fes.minimum_index, &mut x0);
        assert!(
            (x0[0] + 0.558).abs() < 0.1 && (x0[1] - 1.442).abs() < 0.1,
            "{x0:?}"
        );
    }
}

/// Default suite: 400 gradients (fewer than the 1,000, to keep the debug build
/// fast), so the RMSE bound is the 1,000-point one scaled by √(1000/400).
#[test]
fn muller_brown_2d_400_points() {
    muller_brown_case(400, 0..1, 400, 0.1 * (1000.0f64 / 400.0).sqrt());
}

/// The case: 1,000 gradients, RMSE ≤ 0.1 kT over the 10 kT region.
#[test]
fn muller_brown_2d_1000_points_slow() {
    if !slow() {
        return;
    }
    muller_brown_case(1000, 0..3, 500, 0.1);
}

/// The same double-well data with and without a few value observations: the surfaces
/// agree, and with values the absolute level is pinned (predictions at the value points
/// match the true values within their uncertainty).
#[test]
fn gradient_only_and_value_plus_gradient_agree() {
    let (h, c) = (5.0, 1.0);
    let obs = double_well_data(100, -1.7, 1.7, h, c, 1.0, 21);
    let mut kernel = SquaredExponential::new(1.0, &[1.0]).unwrap();
    let fit = fit_hyperparameters(&mut kernel, &obs, &HyperConfig::default()).unwrap();
    let config = GpConfig {
        noise_floor: fit.noise_floor,
        ..GpConfig::default()
    };
    let grid = Grid::parse("-1.7:1.7:341").unwrap();
    let gp_g = GaussianProcess::fit(Box::new(kernel.clone()), obs.clone(), &config).unwrap();
    let mut mixed = obs;
    let mut r = rng(5);
    let vx = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5];
    for &x in &vx {
        let v = double_well(x, h, c).0 + 100.0 + 0.05 * normal(&mut r);
        mixed.push_value(&[x], v, 0.05 * 0.05).unwrap();
    }
    let gp_m = GaussianProcess::fit(Box::new(kernel), mixed, &config).unwrap();
    let fes_g = gp_g.free_energy_on_grid(&grid, true).unwrap();
    let fes_m = gp_m.free_energy_on_grid(&grid, true).unwrap();
    let truth: Vec<f64> = grid
        .points()
        .iter()
        .map(|&x| double_well(x, h, c).0)
        .collect();
    let mg = metrics(&fes_g, &truth, 10.0);
    let mm = metrics(&fes_m, &truth, 10.0);
    let diff: f64 = (fes_g
        .free_energy
        .iter()
        .zip(&fes_m.free_energy)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / truth.len() as f64)
        .sqrt();
    println!("gradient-only {mg:?}\nwith values {mm:?}\nRMS difference {diff}");
    assert!(diff < 0.1, "{diff}");
    // Values sharpen the surface: mean std over the grid drops.
    let mean_std = |f: &FreeEnergySurface| f.std.as_ref().unwrap().iter().sum::<f64>() / 341.0;
    assert!(mean_std(&fes_m) < mean_std(&fes_g));
    // Absolute level: the values carry an offset of 100 that gradients cannot see.
    let pred = gp_m.predict(&vx).unwrap();
    for (k, &x) in vx.iter().enumerate() {
        let want = double_well(x, h, c).0 + 100.0;
        assert!(
            (pred.mean[k] - want).abs() < 4.0 * (pred.std[k].powi(2) + 0.05f64.powi(2)).sqrt(),
            "x={x}: {} vs {want} (std {})",
            pred.mean[k],
            pred.std[k]
        );
        assert!(pred.std[k] < 0.1);
    }
}

/// A dihedral-like profile `A(φ) = 2(1 + cos 3φ) + cos φ` on [−π, π) with the periodic
/// kernel: accurate, and continuous across ±π in value and gradient (no seam), unlike
/// the squared-exponential fit of the same data.
#[test]
fn periodic_kernel_without_seam() {
    use std::f64::consts::PI;
    let a = |p: f64| 2.0 * (1.0 + (3.0 * p).cos()) + p.cos();
    let da = |p: f64| -6.0 * (3.0 * p).sin() - p.sin();
    let mut r = rng(8);
    let mut obs = Observations::new(1).unwrap();
    for _ in 0..150 {
        let p = -PI + 2.0 * PI * rand::Rng::gen::<f64>(&mut r);
        obs.push_gradient(
            &[p],
            &[da(p) + normal(&mut r)],
            GradientNoise::Isotropic(1.0),
        )
        .unwrap();
    }
    let kp = Box::new(Periodic::angles(1.0, &[1.0]).unwrap());
    let (gp, fit) = fit_gp(kp, obs.clone(), &HyperConfig::default());
    println!("periodic fit {fit:?}");
    let grid = Grid::parse(&format!("{}:{}:181", -PI, PI)).unwrap();
    let fes = gp.free_energy_on_grid(&grid, true).unwrap();
    let truth: Vec<f64> = grid.points().iter().map(|&p| a(p)).collect();
    let m = metrics(&fes, &truth, 10.0);
    println!("periodic {m:?}");
    assert!(m.rmse < 0.15, "{m:?}");
    assert!((0.5..=2.0).contains(&m.z_rms), "{m:?}");
    // No seam: −π and π are the same angle, for the value, the gradient and the std.
    let seam = (fes.free_energy[0] - fes.free_energy[180]).abs();
    assert!(seam < 1e-9, "{seam}");
    let g = gp
        .predict_gradient(&[-PI, PI, -PI + 1e-4, PI - 1e-4])
        .unwrap();
    assert!((g.mean[0] - g.mean[1]).abs() < 1e-9);
    assert!((g.mean[2] - g.mean[3]).abs() < 0.01);
    // Predictions a full period away are identical.
    let shifted: Vec<f64> = grid.points().iter().map(|p| p + 2.0 * PI).collect();
    let p1 = gp.predict_mean(&grid.points()).unwrap();
    let p2 = gp.predict_mean(&shifted).unwrap();
    for (u, v) in p1.iter().zip(&p2) {
        assert!((u - v).abs() < 1e-8);
    }
    // The non-periodic kernel, given the same data, leaves a step between −π and π.
    let ks = Box::new(SquaredExponential::new(1.0, &[1.0]).unwrap());
    let (gp_se, _) = fit_gp(ks, obs, &HyperConfig::default());
    let fes_se = gp_se.free_energy_on_grid(&grid, false).unwrap();
    let seam_se = (fes_se.free_energy[0] - fes_se.free_energy[180]).abs();
    println!("seam: periodic {seam:e}, squared exponential {seam_se:e}");
    assert!(seam_se > 1e3 * seam.max(1e-12));
}

/// The posterior mean of ∇A equals the gradient of the posterior mean of A (both are
/// linear in the data), and the predicted gradient matches the true one.
#[test]
fn gradient_prediction_is_consistent() {
    let obs = muller_brown_data(200, 12.0, 1.0, 4);
    let kernel = SquaredExponential::new(40.0, &[0.36, 0.3]).unwrap();
    let gp = GaussianProcess::fit(Box::new(kernel), obs, &GpConfig::default()).unwrap();
    let pts = [-0.55, 1.44, 0.62, 0.03, -0.05, 0.47];
    let g = gp.predict_gradient(&pts).unwrap();
    let h = 1e-5;
    for t in 0..3 {
        for a in 0..2 {
            let mut p = [pts[2 * t], pts[2 * t + 1]];
            p[a] += h;
            let up = gp.predict_mean(&p).unwrap()[0];
            p[a] -= 2.0 * h;
            let dn = gp.predict_mean(&p).unwrap()[0];
            let fd = (up - dn) / (2.0 * h);
            assert!(
                (fd - g.mean[2 * t + a]).abs() < 1e-5 * (1.0 + fd.abs()),
                "{fd} {}",
                g.mean[2 * t + a]
            );
            // And against the true Müller–Brown gradient, within 5 posterior std.
            let tg = muller_brown(pts[2 * t], pts[2 * t + 1], 0.1).1[a];
            assert!(
                (g.mean[2 * t + a] - tg).abs() < 5.0 * g.std[2 * t + a],
                "{} vs {tg} ± {}",
                g.mean[2 * t + a],
                g.std[2 * t + a]
            );
        }
    }
}
