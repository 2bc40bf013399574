//! Timing of the performance goal: fit with fixed hyperparameters and predict on a
//! 100×100 grid from 5,000 noisy gradients of Müller–Brown ×0.1 (a 10,000×10,000
//! system), plus the Cholesky's GFLOP/s.
//!
//! `cargo run --release -p thermograd-gpr --example perf -- [n_points] [chol_n]`

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use thermograd_gpr::linalg::Cholesky;
use thermograd_gpr::{
    GaussianProcess, GpConfig, GradientNoise, Grid, Observations, SquaredExponential,
};

fn muller_brown_grad(x: f64, y: f64) -> (f64, [f64; 2]) {
    let a = [-200.0, -100.0, -170.0, 15.0];
    let sa = [-1.0, -1.0, -6.5, 0.7];
    let b = [0.0, 0.0, 11.0, 0.6];
    let c = [-10.0, -10.0, -6.5, 0.7];
    let x0 = [1.0, 0.0, -0.5, -1.0];
    let y0 = [0.0, 0.5, 1.5, 1.0];
    let (mut v, mut g) = (0.0, [0.0; 2]);
    for k in 0..4 {
        let (dx, dy) = (x - x0[k], y - y0[k]);
        let e = a[k] * (sa[k] * dx * dx + b[k] * dx * dy + c[k] * dy * dy).exp();
        v += e;
        g[0] += e * (2.0 * sa[k] * dx + b[k] * dy);
        g[1] += e * (b[k] * dx + 2.0 * c[k] * dy);
    }
    (0.1 * v, [0.1 * g[0], 0.1 * g[1]])
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("integer"))
        .collect();
    let n = args.first().copied().unwrap_or(5000);
    let chol_n = args.get(1).copied().unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut obs = Observations::new(2).unwrap();
    while obs.n_gradients() < n {
        let (x, y) = (rng.gen_range(-1.5..1.2), rng.gen_range(-0.5..2.0));
        let (v, g) = muller_brown_grad(x, y);
        if v > -14.67 + 12.0 {
            continue;
        }
        let nx: f64 = StandardNormal.sample(&mut rng);
        let ny: f64 = StandardNormal.sample(&mut rng);
        obs.push_gradient(
            &[x, y],
            &[g[0] + nx, g[1] + ny],
            GradientNoise::Isotropic(1.0),
        )
        .unwrap();
    }
    println!("threads {}", rayon::current_num_threads());
    let kernel = SquaredExponential::new(40.0, &[0.36, 0.30]).unwrap();
    let grid = Grid::parse("-1.5:1.2:100,-0.5:2:100").unwrap();
    let t = Instant::now();
    let gp = GaussianProcess::fit(Box::new(kernel), obs, &GpConfig::default()).unwrap();
    let t_fit = t.elapsed().as_secs_f64();
    let fes_mean = gp.free_energy_on_grid(&grid, false).unwrap();
    let t_mean = t.elapsed().as_secs_f64();
    let fes = gp.free_energy_on_grid(&grid, true).unwrap();
    let t_std = t.elapsed().as_secs_f64();
    assert_eq!(fes_mean.free_energy, fes.free_energy);
    println!(
        "n = {n} gradients ({} rows): fit {t_fit:.2} s; + grid mean {:.2} s (total {t_mean:.2} s); grid mean+std {:.2} s (fit + mean+std total {:.2} s)",
        2 * n,
        t_mean - t_fit,
        t_std - t_mean,
        t_fit + t_std - t_mean
    );
    // Machine-readable, for `cargo xtask bench gpr`.
    println!(
        "RESULT {{\"n\": {n}, \"fit_s\": {t_fit:.4}, \"mean_s\": {:.4}, \"mean_std_s\": {:.4}, \"total_s\": {:.4}}}",
        t_mean - t_fit,
        t_std - t_mean,
        t_fit + t_std - t_mean
    );
    if chol_n > 0 {
        let m = chol_n;
        let mut r = ChaCha8Rng::seed_from_u64(0);
        let b: Vec<f64> = (0..m * m).map(|_| r.gen::<f64>()).collect();
        let mut times = Vec::new();
        for _ in 0..3 {
            // Same matrix as chol_numpy.py: (B + Bᵀ)/2 + n I.
            let mut a = vec![0.0; m * m];
            for j in 0..m {
                for i in 0..m {
                    a[j * m + i] =
                        0.5 * (b[j * m + i] + b[i * m + j]) + if i == j { m as f64 } else { 0.0 };
                }
            }
            let t = Instant::now();
            let ch = Cholesky::factor(a, m).unwrap();
            times.push(t.elapsed().as_secs_f64());
            assert!(ch.l_at(0, 0) > 0.0);
        }
        times.sort_by(f64::total_cmp);
        let flops = (m as f64).powi(3) / 3.0;
        println!(
            "cholesky n = {m}: min {:.3} / median {:.3} / max {:.3} s, {:.1} GFLOP/s at median ({:.1} best)",
            times[0], times[1], times[2], flops / times[1] / 1e9, flops / times[0] / 1e9
        );
    }
}
