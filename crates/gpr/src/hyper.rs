//! Hyperparameters by maximising the log marginal likelihood (Rasmussen & Williams,
//! Gaussian Processes for Machine Learning, §5.4.1) with its analytic gradient.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Observations;
use crate::error::{GprError, Result};
use crate::gp::{
    check_duplicates, check_kernel_dim, factor_with_jitter, obs_point, targets, value_offset,
};
use crate::kernel::{DataScales, Kernel, KernelEval, ParamRange};
use crate::lbfgs;

/// Settings of [`fit_hyperparameters`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HyperConfig {
    /// Number of L-BFGS starts: the first from the kernel's data-derived starting point
    /// ([`Kernel::param_ranges`]), the others random around it.
    pub restarts: usize,
    /// Iterations per start.
    pub max_iter: usize,
    /// Seed of the restarts and of the subset selection.
    pub seed: u64,
    /// Fit the gradient noise floor as well; otherwise `noise_floor` is kept fixed.
    pub learn_noise_floor: bool,
    /// Fixed noise floor (energy²/CV unit²) when `learn_noise_floor` is false.
    pub noise_floor: f64,
    /// Fit on at most this many randomly chosen gradient observations (and as many
    /// value observations): each likelihood evaluation costs `O((n·d)³)`.
    pub max_points: Option<usize>,
    /// Largest relative diagonal jitter (see [`crate::GpConfig::max_jitter`]).
    pub max_jitter: f64,
}

impl Default for HyperConfig {
    fn default() -> Self {
        Self {
            restarts: 3,
            max_iter: 80,
            seed: 0,
            learn_noise_floor: true,
            noise_floor: 0.0,
            max_points: Some(500),
            max_jitter: 1e-6,
        }
    }
}

/// Result of [`fit_hyperparameters`]; the kernel passed in is left at `log_params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperFit {
    /// Names of the kernel's log-hyperparameters.
    pub param_names: Vec<String>,
    /// Fitted kernel log-hyperparameters.
    pub log_params: Vec<f64>,
    /// Fitted (or fixed) gradient noise floor (energy²/CV unit²).
    pub noise_floor: f64,
    /// Best log marginal likelihood, on the observations used for the fit (nats).
    pub log_marginal_likelihood: f64,
    /// Gradient observations used for the fit.
    pub points_used: usize,
    /// Likelihood evaluations over all starts.
    pub evaluations: usize,
    /// Final log marginal likelihood of each start (`NaN` where a start failed).
    pub start_lmls: Vec<f64>,
    /// Whether the best start met the L-BFGS convergence test (rather than running out
    /// of iterations).
    pub converged: bool,
}

/// Log marginal likelihood `log p(y|θ) = −½ yᵀK⁻¹y − ½ log|K| − (N/2) log 2π` and its
/// gradient with respect to `[kernel log-parameters…, log noise_floor]`, where the last
/// entry is 0 if `noise_floor` is 0. The gradient is
/// `½ tr((ααᵀ − K⁻¹) ∂K/∂θ)`; its trace needs `K⁻¹`, formed from the Cholesky factor.
pub fn log_marginal_likelihood_and_gradient(
    kernel: &dyn Kernel,
    obs: &Observations,
    noise_floor: f64,
    max_jitter: f64,
) -> Result<(f64, Vec<f64>)> {
    if obs.is_empty() {
        return Err(GprError::Empty {
            what: "observations",
        });
    }
    check_kernel_dim(kernel, obs.dim())?;
    let (chol, _) = factor_with_jitter(kernel, obs, noise_floor, max_jitter)?;
    let y = targets(obs, value_offset(obs));
    let n = y.len();
    let mut alpha = y.clone();
    chol.solve_in_place(&mut alpha, 1);
    let lml = -0.5 * y.iter().zip(&alpha).map(|(a, b)| a * b).sum::<f64>()
        - 0.5 * chol.log_det()
        - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let kinv = chol.inverse();
    drop(chol);
    let d = obs.dim();
    let ng = obs.n_gradients();
    let nb = ng + obs.n_values();
    let p = kernel.n_params();
    let block = |b: usize| -> (usize, usize, bool) {
        if b < ng {
            (b * d, d, true)
        } else {
            (ng * d + b - ng, 1, false)
        }
    };
    let w = |r: usize, c: usize| alpha[r] * alpha[c] - kinv[c * n + r];
    let mut grad = (0..nb)
        .into_par_iter()
        .fold(
            || (vec![0.0; p], KernelEval::new(d, p), vec![0.0; d]),
            |(mut acc, mut e, mut r), jb| {
                let (oj, sj, gj) = block(jb);
                let xj = obs_point(obs, jb);
                for ib in jb..nb {
                    let (oi, si, gi) = block(ib);
                    let xi = obs_point(obs, ib);
                    for a in 0..d {
                        r[a] = xi[a] - xj[a];
                    }
                    kernel.eval(&r, true, &mut e);
                    let weight = if ib == jb { 1.0 } else { 2.0 };
                    for (q, acc_q) in acc.iter_mut().enumerate() {
                        let mut s = 0.0;
                        for a in 0..si {
                            for b in 0..sj {
                                let dk = match (gi, gj) {
                                    (true, true) => -e.dhess[q * d * d + a * d + b],
                                    (false, true) => -e.dgrad[q * d + b],
                                    (true, false) => e.dgrad[q * d + a],
                                    (false, false) => e.dvalue[q],
                                };
                                s += w(oi + a, oj + b) * dk;
                            }
                        }
                        *acc_q += weight * s;
                    }
                }
                (acc, e, r)
            },
        )
        .map(|(acc, _, _)| acc)
        .reduce(
            || vec![0.0; p],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(u, v)| *u += v);
                a
            },
        );
    let floor_trace: f64 = (0..ng * d).map(|r| w(r, r)).sum();
    grad.push(noise_floor * floor_trace);
    grad.iter_mut().for_each(|g| *g *= 0.5);
    Ok((lml, grad))
}

/// Scales of `obs` for [`Kernel::param_ranges`].
pub fn data_scales(obs: &Observations) -> DataScales {
    let g = obs.gradients();
    let msg = if g.is_empty() {
        0.0
    } else {
        g.iter().map(|v| v * v).sum::<f64>() / g.len() as f64
    };
    let v = obs.values();
    let value_variance = if v.len() > 1 {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        Some(v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
    } else {
        None
    };
    DataScales {
        ranges: obs.ranges(),
        mean_square_gradient: msg,
        value_variance,
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Fits the kernel's hyperparameters (and the gradient noise floor) by maximising the
/// log marginal likelihood with L-BFGS in log-parameter space, from `config.restarts`
/// starts. Each log-parameter is confined to the range from [`Kernel::param_ranges`] by
/// a smooth logistic map; the floor's range is `[10⁻¹⁰, 1]·⟨g²⟩`. Leaves `kernel` at the
/// best parameters found and returns them with the likelihood.
pub fn fit_hyperparameters(
    kernel: &mut dyn Kernel,
    obs: &Observations,
    config: &HyperConfig,
) -> Result<HyperFit> {
    if obs.is_empty() {
        return Err(GprError::Empty {
            what: "observations",
        });
    }
    check_kernel_dim(kernel, obs.dim())?;
    if config.restarts == 0 {
        return Err(GprError::InvalidParameter {
            name: "restarts",
            value: 0.0,
            reason: "need at least one start",
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // Subset for the fit.
    let sub;
    let data = match config.max_points {
        Some(m) if m < obs.n_gradients() || m < obs.n_values() => {
            let gi = choose(&mut rng, obs.n_gradients(), m);
            let vi = choose(&mut rng, obs.n_values(), m);
            sub = obs.subset(&gi, &vi);
            &sub
        }
        _ => obs,
    };
    let floor_fixed = config.noise_floor;
    if !floor_fixed.is_finite() || floor_fixed < 0.0 {
        return Err(GprError::InvalidParameter {
            name: "noise_floor",
            value: floor_fixed,
            reason: "must be finite and non-negative",
        });
    }
    check_duplicates(
        data,
        if config.learn_noise_floor {
            1.0
        } else {
            floor_fixed
        },
    )?;
    let scales = data_scales(data);
    let mut ranges = kernel.param_ranges(&scales);
    let p = kernel.n_params();
    if ranges.len() != p {
        return Err(GprError::DimensionMismatch {
            what: "kernel parameter ranges",
            expected: p,
            got: ranges.len(),
        });
    }
    if config.learn_noise_floor {
        let g2 = if scales.mean_square_gradient > 0.0 {
            scales.mean_square_gradient
        } else {
            1.0
        };
        ranges.push(ParamRange {
            lo: (1e-10 * g2).ln(),
            init: (1e-3 * g2).ln(),
            hi: g2.ln(),
        });
    }
    let np = ranges.len();
    let n_rows = data.n_rows() as f64;
    let to_theta = |z: &[f64]| -> Vec<f64> {
        z.iter()
            .zip(&ranges)
            .map(|(z, r)| r.lo + (r.hi - r.lo) * sigmoid(*z))
            .collect()
    };
    let to_z = |theta: f64, r: &ParamRange| -> f64 {
        let u = ((theta - r.lo) / (r.hi - r.lo)).clamp(1e-6, 1.0 - 1e-6);
        (u / (1.0 - u)).ln()
    };
    let mut work = kernel.boxed_clone();
    let mut evaluations = 0;
    let mut best: Option<(f64, Vec<f64>, bool)> = None;
    let mut start_lmls = Vec::with_capacity(config.restarts);
    for s in 0..config.restarts {
        let z0: Vec<f64> = ranges
            .iter()
            .map(|r| {
                let t = if s == 0 {
                    r.init
                } else {
                    r.init + (rng.gen::<f64>() - 0.5) * 0.5 * (r.hi - r.lo)
                };
                to_z(t, r)
            })
            .collect();
        let mut objective = |z: &[f64]| -> Option<(f64, Vec<f64>)> {
            evaluations += 1;
            let theta = to_theta(z);
            work.set_log_params(&theta[..p]).ok()?;
            let floor = if config.learn_noise_floor {
                theta[p].exp()
            } else {
                floor_fixed
            };
            let (lml, g) =
                log_marginal_likelihood_and_gradient(work.as_ref(), data, floor, config.max_jitter)
                    .ok()?;
            let grad_z: Vec<f64> = (0..np)
                .map(|j| {
                    let r = &ranges[j];
                    let sg = sigmoid(z[j]);
                    -g[j] * (r.hi - r.lo) * sg * (1.0 - sg) / n_rows
                })
                .collect();
            Some((-lml / n_rows, grad_z))
        };
        match lbfgs::minimize(&mut objective, &z0, config.max_iter, 1e-5, 1e-10) {
            Some(res) => {
                let lml = -res.f * n_rows;
                start_lmls.push(lml);
                if best.as_ref().is_none_or(|(b, _, _)| lml > *b) {
                    best = Some((lml, to_theta(&res.x), res.converged));
                }
            }
            None => start_lmls.push(f64::NAN),
        }
    }
    let (lml, theta, converged) = best.ok_or(GprError::OptimizationFailed)?;
    kernel.set_log_params(&theta[..p])?;
    let noise_floor = if config.learn_noise_floor {
        theta[p].exp()
    } else {
        floor_fixed
    };
    Ok(HyperFit {
        param_names: kernel.param_names(),
        log_params: theta[..p].to_vec(),
        noise_floor,
        log_marginal_likelihood: lml,
        points_used: data.n_gradients(),
        evaluations,
        start_lmls,
        converged,
    })
}

/// `m` distinct indices out of `n` (all of them, in order, if `m ≥ n`).
fn choose(rng: &mut ChaCha8Rng, n: usize, m: usize) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = rng.gen_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::GradientNoise;
    use crate::kernel::{Matern52, Periodic, SquaredExponential};

    fn data(dim: usize, with_values: bool) -> Observations {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut o = Observations::new(dim).unwrap();
        for _ in 0..9 {
            let x: Vec<f64> = (0..dim).map(|_| rng.gen_range(-1.5..1.5)).collect();
            let g: Vec<f64> = x
                .iter()
                .map(|v| 2.0 * v.sin() + rng.gen_range(-0.1..0.1))
                .collect();
            let cov: Vec<f64> = (0..dim * dim)
                .map(|k| if k % (dim + 1) == 0 { 0.05 } else { 0.01 })
                .collect();
            o.push_gradient(&x, &g, GradientNoise::Full(&cov)).unwrap();
        }
        if with_values {
            for k in 0..4 {
                let x: Vec<f64> = (0..dim)
                    .map(|a| -1.0 + 0.6 * k as f64 + 0.1 * a as f64)
                    .collect();
                o.push_value(&x, x.iter().map(|v| -2.0 * v.cos()).sum(), 0.02)
                    .unwrap();
            }
        }
        o
    }

    /// The analytic LML gradient against central differences, for every kernel, with
    /// and without value observations.
    #[test]
    fn lml_gradient_matches_finite_differences() {
        for with_values in [false, true] {
            let kernels: Vec<Box<dyn Kernel>> = vec![
                Box::new(SquaredExponential::new(1.3, &[0.7, 1.1]).unwrap()),
                Box::new(Matern52::new(0.9, &[0.8, 0.6]).unwrap()),
                Box::new(Periodic::angles(1.2, &[0.9, 0.5]).unwrap()),
            ];
            let obs = data(2, with_values);
            let floor = 0.03;
            for k in kernels {
                let (lml, g) =
                    log_marginal_likelihood_and_gradient(k.as_ref(), &obs, floor, 0.0).unwrap();
                assert!(lml.is_finite());
                let lp = k.log_params();
                let h = 1e-5;
                for j in 0..=lp.len() {
                    let eval = |delta: f64| {
                        let mut kk = k.boxed_clone();
                        let mut fl = floor;
                        if j < lp.len() {
                            let mut q = lp.clone();
                            q[j] += delta;
                            kk.set_log_params(&q).unwrap();
                        } else {
                            fl = floor * delta.exp();
                        }
                        log_marginal_likelihood_and_gradient(kk.as_ref(), &obs, fl, 0.0)
                            .unwrap()
                            .0
                    };
                    let fd = (eval(h) - eval(-h)) / (2.0 * h);
                    assert!(
                        (fd - g[j]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "{k:?} values={with_values} param {j}: fd {fd} analytic {}",
                        g[j]
                    );
                }
            }
        }
    }

    #[test]
    fn fit_increases_likelihood_and_is_reproducible() {
        let obs = data(1, false);
        let mut k = SquaredExponential::new(50.0, &[0.05]).unwrap();
        let before = log_marginal_likelihood_and_gradient(&k, &obs, 1e-3, 1e-6)
            .unwrap()
            .0;
        let cfg = HyperConfig {
            restarts: 2,
            ..Default::default()
        };
        let fit = fit_hyperparameters(&mut k, &obs, &cfg).unwrap();
        assert!(fit.log_marginal_likelihood > before);
        let again = log_marginal_likelihood_and_gradient(&k, &obs, fit.noise_floor, 1e-6)
            .unwrap()
            .0;
        assert!((again - fit.log_marginal_likelihood).abs() < 1e-8 * again.abs().max(1.0));
        let mut k2 = SquaredExponential::new(50.0, &[0.05]).unwrap();
        let fit2 = fit_hyperparameters(&mut k2, &obs, &cfg).unwrap();
        assert_eq!(fit, fit2);
        assert_eq!(fit.start_lmls.len(), 2);
    }
}
