//! Test surfaces with closed forms (../../shared/references.md) and noisy samplers.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use thermograd_gpr::{FreeEnergySurface, GradientNoise, Observations};

/// Double well `h(x² − 1)² + c x` (kT) and its derivative.
pub fn double_well(x: f64, h: f64, c: f64) -> (f64, f64) {
    (
        h * (x * x - 1.0).powi(2) + c * x,
        4.0 * h * x * (x * x - 1.0) + c,
    )
}

const MB_A: [f64; 4] = [-200.0, -100.0, -170.0, 15.0];
const MB_SA: [f64; 4] = [-1.0, -1.0, -6.5, 0.7];
const MB_B: [f64; 4] = [0.0, 0.0, 11.0, 0.6];
const MB_C: [f64; 4] = [-10.0, -10.0, -6.5, 0.7];
const MB_X0: [f64; 4] = [1.0, 0.0, -0.5, -1.0];
const MB_Y0: [f64; 4] = [0.0, 0.5, 1.5, 1.0];

/// Müller–Brown potential times `scale`, with its gradient.
pub fn muller_brown(x: f64, y: f64, scale: f64) -> (f64, [f64; 2]) {
    let mut v = 0.0;
    let mut g = [0.0; 2];
    for k in 0..4 {
        let dx = x - MB_X0[k];
        let dy = y - MB_Y0[k];
        let e = MB_A[k] * (MB_SA[k] * dx * dx + MB_B[k] * dx * dy + MB_C[k] * dy * dy).exp();
        v += e;
        g[0] += e * (2.0 * MB_SA[k] * dx + MB_B[k] * dy);
        g[1] += e * (MB_B[k] * dx + 2.0 * MB_C[k] * dy);
    }
    (scale * v, [scale * g[0], scale * g[1]])
}

/// Global minimum of Müller–Brown (references.md).
pub const MB_MIN: f64 = -146.699517;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// `n` points uniform in `[lo, hi]` with gradients of the double well plus N(0, σ²)
/// noise, declared with variance σ².
pub fn double_well_data(
    n: usize,
    lo: f64,
    hi: f64,
    h: f64,
    c: f64,
    sigma: f64,
    seed: u64,
) -> Observations {
    let mut r = rng(seed);
    let mut obs = Observations::new(1).unwrap();
    for _ in 0..n {
        let x = r.gen_range(lo..hi);
        let g = double_well(x, h, c).1 + sigma * normal(&mut r);
        obs.push_gradient(&[x], &[g], GradientNoise::Isotropic(sigma * sigma))
            .unwrap();
    }
    obs
}

/// `n` points uniform over the part of the box where MB×0.1 is within `cut` kT of its
/// minimum, with noisy gradients (σ per component, declared).
pub fn muller_brown_data(n: usize, cut: f64, sigma: f64, seed: u64) -> Observations {
    let mut r = rng(seed);
    let mut obs = Observations::new(2).unwrap();
    let vmin = 0.1 * MB_MIN;
    while obs.n_gradients() < n {
        let x = r.gen_range(-1.5..1.2);
        let y = r.gen_range(-0.5..2.0);
        let (v, g) = muller_brown(x, y, 0.1);
        if v - vmin > cut {
            continue;
        }
        let gn = [g[0] + sigma * normal(&mut r), g[1] + sigma * normal(&mut r)];
        obs.push_gradient(&[x, y], &gn, GradientNoise::Isotropic(sigma * sigma))
            .unwrap();
    }
    obs
}

/// Metrics of a reconstructed surface against the truth over grid points where the
/// truth is within `window` of its grid minimum.
#[derive(Debug)]
pub struct Metrics {
    /// RMSE after the best constant shift (the constant is not identified by gradients).
    pub rmse: f64,
    /// RMSE with both surfaces aligned at the reconstruction's minimum `x₀`.
    pub rmse_at_min: f64,
    /// Root mean square of the standardised errors `((A(x) − A(x₀)) − Â(x)) / std(x)`
    /// over the region (x ≠ x₀): their standard deviation about the calibrated mean 0.
    pub z_rms: f64,
    /// Standard deviation of the standardised errors about their own mean. Errors of a
    /// single data set are correlated along the surface, so this underestimates the
    /// spread over data sets; `z_rms` is the calibration statistic.
    pub z_std: f64,
    /// Mean of the standardised errors.
    pub z_mean: f64,
    pub n: usize,
}

pub fn metrics(fes: &FreeEnergySurface, truth: &[f64], window: f64) -> Metrics {
    let tmin = truth.iter().cloned().fold(f64::INFINITY, f64::min);
    let region: Vec<usize> = (0..truth.len())
        .filter(|&i| truth[i] - tmin <= window)
        .collect();
    let diff: Vec<f64> = region
        .iter()
        .map(|&i| fes.free_energy[i] - truth[i])
        .collect();
    let mean = diff.iter().sum::<f64>() / diff.len() as f64;
    let rmse = (diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diff.len() as f64).sqrt();
    let i0 = fes.minimum_index;
    let t0 = truth[i0];
    let rmse_at_min = (region
        .iter()
        .map(|&i| (fes.free_energy[i] - (truth[i] - t0)).powi(2))
        .sum::<f64>()
        / region.len() as f64)
        .sqrt();
    let std = fes.std.as_ref().expect("std requested");
    let z: Vec<f64> = region
        .iter()
        .filter(|&&i| i != i0 && std[i] > 0.0)
        .map(|&i| ((truth[i] - t0) - fes.free_energy[i]) / std[i])
        .collect();
    let z_mean = z.iter().sum::<f64>() / z.len() as f64;
    let z_std = (z.iter().map(|v| (v - z_mean).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
    let z_rms = (z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64).sqrt();
    Metrics {
        rmse,
        z_rms,
        rmse_at_min,
        z_std,
        z_mean,
        n: region.len(),
    }
}
