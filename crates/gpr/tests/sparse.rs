//! Accuracy of the projected-process approximation against the exact GP.

mod common;

use common::*;
use thermograd_gpr::*;

fn rms_diff(a: &[f64], b: &[f64], idx: &[usize]) -> f64 {
    (idx.iter().map(|&i| (a[i] - b[i]).powi(2)).sum::<f64>() / idx.len() as f64).sqrt()
}

fn compare(
    obs: Observations,
    kernel: Box<dyn Kernel>,
    floor: f64,
    grid: &Grid,
    truth: &[f64],
    ms: &[usize],
) -> Vec<(usize, f64, f64, f64)> {
    let exact = GaussianProcess::fit(
        kernel.boxed_clone(),
        obs.clone(),
        &GpConfig {
            noise_floor: floor,
            ..GpConfig::default()
        },
    )
    .unwrap();
    let fe = exact.free_energy_on_grid(grid, true).unwrap();
    let tmin = truth.iter().cloned().fold(f64::INFINITY, f64::min);
    let region: Vec<usize> = (0..truth.len())
        .filter(|&i| truth[i] - tmin <= 10.0)
        .collect();
    let mut out = Vec::new();
    for &m in ms {
        let cfg = SparseConfig {
            inducing: Inducing::FarthestPoint(m),
            noise_floor: floor,
            jitter: 1e-8,
        };
        let sp = SparseGp::fit(kernel.boxed_clone(), &obs, &cfg).unwrap();
        assert_eq!(sp.n_inducing(), m);
        let fs = sp.free_energy_on_grid(grid, true).unwrap();
        let dmean = rms_diff(&fe.free_energy, &fs.free_energy, &region);
        let dstd = rms_diff(fe.std.as_ref().unwrap(), fs.std.as_ref().unwrap(), &region);
        let ms = metrics(&fs, truth, 10.0);
        println!(
            "m = {m}: RMS(sparse − exact) mean {dmean:.4}, std {dstd:.4}; sparse vs truth {ms:?}"
        );
        out.push((m, dmean, dstd, ms.rmse));
    }
    out
}

/// 1-D double well, 100 gradients: 10 inducing points (about 3 per length scale) already
/// reproduce the exact surface to within a small fraction of its own error, and more
/// inducing points converge to it.
#[test]
fn sparse_matches_exact_in_1d() {
    let (h, c) = (5.0, 1.0);
    let obs = double_well_data(100, -1.7, 1.7, h, c, 1.0, 3);
    let mut k = SquaredExponential::new(1.0, &[1.0]).unwrap();
    let fit = fit_hyperparameters(&mut k, &obs, &HyperConfig::default()).unwrap();
    let grid = Grid::parse("-1.7:1.7:341").unwrap();
    let truth: Vec<f64> = grid
        .points()
        .iter()
        .map(|&x| double_well(x, h, c).0)
        .collect();
    let r = compare(
        obs,
        Box::new(k),
        fit.noise_floor.max(1e-6),
        &grid,
        &truth,
        &[10, 40],
    );
    assert!(r[0].1 < 0.02, "{r:?}");
    assert!(r[1].1 < 0.002, "{r:?}");
    assert!(r[1].1 <= r[0].1);
    assert!(r[1].2 < 0.01, "{r:?}");
}

/// 2-D Müller–Brown ×0.1 with 400 gradients (800 rows): 400 inducing points.
#[test]
fn sparse_matches_exact_in_2d() {
    let obs = muller_brown_data(400, 12.0, 1.0, 0);
    let k = SquaredExponential::new(40.0, &[0.36, 0.30]).unwrap();
    let grid = Grid::parse("-1.5:1.2:55,-0.5:2:51").unwrap();
    let truth: Vec<f64> = grid
        .points()
        .chunks(2)
        .map(|p| muller_brown(p[0], p[1], 0.1).0)
        .collect();
    let ms: &[usize] = if std::env::var("THERMOGRAD_SLOW").is_ok() {
        &[100, 200, 400]
    } else {
        &[200, 400]
    };
    let r = compare(obs, Box::new(k), 0.0, &grid, &truth, ms);
    let last = r.last().unwrap();
    assert!(last.1 < 0.05, "{r:?}");
    assert!(last.3 < 0.2, "{r:?}");
    assert!(r[0].1 >= last.1);
}
