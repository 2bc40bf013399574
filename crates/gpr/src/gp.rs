//! Exact GP regression on gradient (and value) observations.

use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Observations;
use crate::error::{GprError, Result};
use crate::grid::{FreeEnergySurface, Grid};
use crate::kernel::{Kernel, KernelEval};
use crate::linalg::Cholesky;

/// Settings of an exact GP fit with fixed hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpConfig {
    /// Variance added to every gradient component on top of each observation's own
    /// noise (energy²/CV unit²). A floor for under-estimated window variances; fitted
    /// by [`crate::fit_hyperparameters`].
    pub noise_floor: f64,
    /// Largest diagonal jitter tried when the Gram matrix is numerically indefinite,
    /// relative to its mean diagonal. Jitter is tried from 0 upward in factors of 100.
    pub max_jitter: f64,
}

impl Default for GpConfig {
    fn default() -> Self {
        Self {
            noise_floor: 0.0,
            max_jitter: 1e-6,
        }
    }
}

/// Posterior mean and standard deviation at a set of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Posterior mean (energy, or energy/CV unit for gradients).
    pub mean: Vec<f64>,
    /// Posterior standard deviation, same units and layout as `mean`.
    pub std: Vec<f64>,
}

/// What a prediction column is: the value `A(x)` or the gradient component `∂A/∂x_c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Value,
    Grad(usize),
}

/// Rows of the joint system: gradient observation `i` is a block of `d` rows at `i·d`,
/// value observation `j` a single row at `n_g·d + j`.
pub(crate) fn obs_point(obs: &Observations, block: usize) -> &[f64] {
    let d = obs.dim();
    let ng = obs.n_gradients();
    if block < ng {
        &obs.gradient_points()[block * d..(block + 1) * d]
    } else {
        let j = block - ng;
        &obs.value_points()[j * d..(j + 1) * d]
    }
}

/// Covariance between observation rows of block `i` (rows) and a prediction target at
/// `x` (one column), written to `col` (length of the block: `d` or 1). `e` is scratch.
#[inline]
#[allow(clippy::too_many_arguments)] // scratch buffers are passed in to avoid allocation
pub(crate) fn cross_block(
    kernel: &dyn Kernel,
    xi: &[f64],
    is_grad: bool,
    x: &[f64],
    target: Target,
    r: &mut [f64],
    e: &mut KernelEval,
    col: &mut [f64],
) {
    let d = x.len();
    for a in 0..d {
        r[a] = xi[a] - x[a];
    }
    match target {
        // Values need no Hessian (the common case: means and variances of A).
        Target::Value => kernel.eval_value_grad(r, e),
        Target::Grad(_) => kernel.eval(r, false, e),
    }
    match (is_grad, target) {
        // cov(∂_a f(x_i), f(x)) = ∂k/∂x_i,a = ∇_a k(r)
        (true, Target::Value) => col.copy_from_slice(&e.grad),
        // cov(∂_a f(x_i), ∂_c f(x)) = −∇_a∇_c k(r)
        (true, Target::Grad(c)) => {
            for a in 0..d {
                col[a] = -e.hess[a * d + c];
            }
        }
        (false, Target::Value) => col[0] = e.value,
        // cov(f(y), ∂_c f(x)) = ∂k/∂x′_c = −∇_c k(r)
        (false, Target::Grad(c)) => col[0] = -e.grad[c],
    }
}

/// The joint Gram matrix (column-major `N×N`, lower triangle and diagonal blocks
/// filled) of all observation rows, with each observation's noise, the gradient noise
/// floor and `jitter` on the diagonal. Assembled in parallel over block columns.
pub(crate) fn gram(
    kernel: &dyn Kernel,
    obs: &Observations,
    noise_floor: f64,
    jitter: f64,
) -> Vec<f64> {
    let n = obs.n_rows();
    let d = obs.dim();
    let ng = obs.n_gradients();
    let nv = obs.n_values();
    let p = kernel.n_params();
    let mut k = vec![0.0; n * n];
    let (gpart, vpart) = k.split_at_mut(ng * d * n);
    let gp = obs.gradient_points();
    let vp = obs.value_points();
    let gnoise = obs.gradient_noise();
    gpart.par_chunks_mut(d * n).enumerate().for_each_init(
        || (KernelEval::new(d, p), vec![0.0; d]),
        |(e, r), (j, cols)| {
            let xj = &gp[j * d..(j + 1) * d];
            for i in j..ng {
                let xi = &gp[i * d..(i + 1) * d];
                for a in 0..d {
                    r[a] = xi[a] - xj[a];
                }
                kernel.eval(r, false, e);
                for b in 0..d {
                    let col = &mut cols[b * n..(b + 1) * n];
                    for a in 0..d {
                        col[i * d + a] = -e.hess[a * d + b];
                    }
                }
            }
            for v in 0..nv {
                let y = &vp[v * d..(v + 1) * d];
                for a in 0..d {
                    r[a] = y[a] - xj[a];
                }
                kernel.eval(r, false, e);
                for b in 0..d {
                    cols[b * n + ng * d + v] = -e.grad[b];
                }
            }
            let blk = &gnoise[j * d * d..(j + 1) * d * d];
            for b in 0..d {
                for a in 0..d {
                    cols[b * n + j * d + a] += blk[a * d + b];
                }
                cols[b * n + j * d + b] += noise_floor + jitter;
            }
        },
    );
    let vnoise = obs.value_noise();
    vpart.par_chunks_mut(n).enumerate().for_each_init(
        || (KernelEval::new(d, p), vec![0.0; d]),
        |(e, r), (j, col)| {
            let yj = &vp[j * d..(j + 1) * d];
            for i in j..nv {
                let yi = &vp[i * d..(i + 1) * d];
                for a in 0..d {
                    r[a] = yi[a] - yj[a];
                }
                kernel.eval(r, false, e);
                col[ng * d + i] = e.value;
            }
            col[ng * d + j] += vnoise[j] + jitter;
        },
    );
    k
}

/// Errors if two noise-free observations of the same kind sit at the same point.
pub(crate) fn check_duplicates(obs: &Observations, noise_floor: f64) -> Result<()> {
    let d = obs.dim();
    let ng = obs.n_gradients();
    let gnoise = obs.gradient_noise();
    // A gradient component is noise-free when its variance plus the floor is zero.
    let grad_zero = |i: usize, a: usize| gnoise[i * d * d + a * d + a] + noise_floor <= 0.0;
    let pts = obs.gradient_points();
    check_runs(ng, d, pts, |i, j| {
        (0..d).any(|a| grad_zero(i, a) && grad_zero(j, a))
    })?;
    let vn = obs.value_noise();
    check_runs(obs.n_values(), d, obs.value_points(), |i, j| {
        vn[i] <= 0.0 && vn[j] <= 0.0
    })
    .map_err(|e| match e {
        GprError::DuplicatePoints { i, j } => GprError::DuplicatePoints {
            i: ng + i,
            j: ng + j,
        },
        other => other,
    })
}

fn check_runs(
    n: usize,
    d: usize,
    pts: &[f64],
    singular: impl Fn(usize, usize) -> bool,
) -> Result<()> {
    let mut idx: Vec<usize> = (0..n).collect();
    let key = |i: usize| &pts[i * d..(i + 1) * d];
    idx.sort_by(|&i, &j| {
        key(i)
            .partial_cmp(key(j))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && key(idx[end]) == key(idx[start]) {
            end += 1;
        }
        for u in start..end {
            for v in (u + 1)..end {
                let (i, j) = (idx[u].min(idx[v]), idx[u].max(idx[v]));
                if singular(i, j) {
                    return Err(GprError::DuplicatePoints { i, j });
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// The observation vector `y`: gradients, then values minus `offset`.
pub(crate) fn targets(obs: &Observations, offset: f64) -> Vec<f64> {
    obs.gradients()
        .iter()
        .copied()
        .chain(obs.values().iter().map(|v| v - offset))
        .collect()
}

/// Prior mean used for value observations: their mean (0 when there are none, in which
/// case the constant of `A` is fixed only by the zero-mean prior).
pub(crate) fn value_offset(obs: &Observations) -> f64 {
    let v = obs.values();
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub(crate) fn check_kernel_dim(kernel: &dyn Kernel, dim: usize) -> Result<()> {
    match kernel.input_dim() {
        Some(kd) if kd != dim => Err(GprError::DimensionMismatch {
            what: "kernel input dimension",
            expected: dim,
            got: kd,
        }),
        _ => Ok(()),
    }
}

/// Factors the Gram matrix, adding jitter (0, then 1e-12, 1e-10, … × mean diagonal up to
/// `max_jitter` × mean diagonal) until the factorisation succeeds. Returns the factor and
/// the absolute jitter used.
pub(crate) fn factor_with_jitter(
    kernel: &dyn Kernel,
    obs: &Observations,
    noise_floor: f64,
    max_jitter: f64,
) -> Result<(Cholesky, f64)> {
    let n = obs.n_rows();
    let mut jitter = 0.0;
    let mut rel = 1e-12;
    let mut mean_diag = f64::NAN;
    loop {
        let k = gram(kernel, obs, noise_floor, jitter);
        if mean_diag.is_nan() {
            mean_diag = (0..n).map(|i| k[i * n + i]).sum::<f64>() / n as f64;
            if !mean_diag.is_finite() || mean_diag <= 0.0 {
                return Err(GprError::NotPositiveDefinite { jitter: 0.0 });
            }
        }
        match Cholesky::factor(k, n) {
            Ok(ch) => return Ok((ch, jitter)),
            Err(_) => {
                if rel > max_jitter * (1.0 + 1e-9) {
                    return Err(GprError::NotPositiveDefinite { jitter });
                }
                jitter = rel * mean_diag;
                rel *= 100.0;
            }
        }
    }
}

/// How the batched posterior splits `m` prediction points into column blocks: returns
/// `(columns per block, whether each block's solve should itself run in parallel)`.
///
/// A block of cross-covariances (`n_rows × cols` f64) is kept near 64 MiB, and at most
/// 1024 columns: past a few hundred right-hand sides a triangular solve already runs at
/// matrix-multiply speed. Blocks are processed in parallel, each with a sequential
/// solve, which avoids synchronising the threads inside every multiply of the
/// recursive triangular solve; with fewer blocks than threads (few points) the solve
/// of each block is parallel instead.
pub(crate) fn block_plan(n_rows: usize, m: usize, threads: usize) -> (usize, bool) {
    let threads = threads.max(1);
    let max_cols = ((1usize << 23) / n_rows.max(1)).clamp(16, 1024);
    let n_blocks = m.div_ceil(max_cols).max(threads.min(m)).max(1);
    // Rounding down keeps at least `n_blocks` blocks (the last one may be short).
    let cols = (m / n_blocks).max(1);
    (cols, m.div_ceil(cols) < threads)
}

/// An exact GP posterior conditioned on gradient (and optionally value) observations
/// of a free energy `A(x)` (Stecher, Bernstein & Csányi, JCTC 10, 4079 (2014)).
///
/// The prior is `A ~ GP(m, k)` with `m = 0` for gradient-only data and `m` = the mean
/// of the observed values otherwise. Gradient-only data fix `A` only up to a constant;
/// the zero-mean prior picks one, and [`GaussianProcess::free_energy_on_grid`] reports
/// `A` relative to its grid minimum, with the standard deviation of that difference.
///
/// The joint `(n·d + m)×(n·d + m)` Gram matrix is factored once (faer Cholesky, never an
/// explicit inverse); predictions are `k*ᵀ α` and `k** − ‖L⁻¹k*‖²`.
pub struct GaussianProcess {
    kernel: Box<dyn Kernel>,
    obs: Observations,
    noise_floor: f64,
    offset: f64,
    chol: Cholesky,
    alpha: Vec<f64>,
    jitter: f64,
    lml: f64,
}

impl fmt::Debug for GaussianProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaussianProcess")
            .field("kernel", &self.kernel)
            .field("n_gradients", &self.obs.n_gradients())
            .field("n_values", &self.obs.n_values())
            .field("noise_floor", &self.noise_floor)
            .field("jitter", &self.jitter)
            .field("log_marginal_likelihood", &self.lml)
            .finish_non_exhaustive()
    }
}

impl GaussianProcess {
    /// Conditions the GP with kernel `kernel` (hyperparameters as set) on `obs`.
    ///
    /// Errors: [`GprError::Empty`] without observations, [`GprError::DimensionMismatch`]
    /// if the kernel's dimension differs, [`GprError::DuplicatePoints`] for coincident
    /// noise-free observations, [`GprError::NotPositiveDefinite`] if the Gram matrix
    /// stays indefinite after `config.max_jitter`.
    pub fn fit(kernel: Box<dyn Kernel>, obs: Observations, config: &GpConfig) -> Result<Self> {
        if obs.is_empty() {
            return Err(GprError::Empty {
                what: "observations",
            });
        }
        check_kernel_dim(kernel.as_ref(), obs.dim())?;
        if !config.noise_floor.is_finite() || config.noise_floor < 0.0 {
            return Err(GprError::InvalidParameter {
                name: "noise_floor",
                value: config.noise_floor,
                reason: "must be finite and non-negative",
            });
        }
        if !config.max_jitter.is_finite() || config.max_jitter < 0.0 {
            return Err(GprError::InvalidParameter {
                name: "max_jitter",
                value: config.max_jitter,
                reason: "must be finite and non-negative",
            });
        }
        check_duplicates(&obs, config.noise_floor)?;
        let (chol, jitter) =
            factor_with_jitter(kernel.as_ref(), &obs, config.noise_floor, config.max_jitter)?;
        let offset = value_offset(&obs);
        let y = targets(&obs, offset);
        let mut alpha = y.clone();
        chol.solve_in_place(&mut alpha, 1);
        let n = y.len() as f64;
        let fit = y.iter().zip(&alpha).map(|(a, b)| a * b).sum::<f64>();
        let lml = -0.5 * fit - 0.5 * chol.log_det() - 0.5 * n * (2.0 * std::f64::consts::PI).ln();
        if !lml.is_finite() || alpha.iter().any(|a| !a.is_finite()) {
            return Err(GprError::NotPositiveDefinite { jitter });
        }
        Ok(Self {
            kernel,
            obs,
            noise_floor: config.noise_floor,
            offset,
            chol,
            alpha,
            jitter,
            lml,
        })
    }

    /// Log marginal likelihood `log p(y | θ)` of the data under the fitted
    /// hyperparameters (nats).
    pub fn log_marginal_likelihood(&self) -> f64 {
        self.lml
    }

    /// Diagonal jitter that had to be added (absolute; 0 if none).
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The kernel.
    pub fn kernel(&self) -> &dyn Kernel {
        self.kernel.as_ref()
    }

    /// The gradient noise floor used (energy²/CV unit²).
    pub fn noise_floor(&self) -> f64 {
        self.noise_floor
    }

    /// The observations conditioned on.
    pub fn observations(&self) -> &Observations {
        &self.obs
    }

    /// CV dimension.
    pub fn dim(&self) -> usize {
        self.obs.dim()
    }

    fn check_points(&self, points: &[f64]) -> Result<usize> {
        let d = self.dim();
        if points.len() % d != 0 {
            return Err(GprError::DimensionMismatch {
                what: "prediction points (length not a multiple of the dimension)",
                expected: (points.len() / d + 1) * d,
                got: points.len(),
            });
        }
        if let Some(i) = points.iter().position(|v| !v.is_finite()) {
            return Err(GprError::NonFinite {
                what: "prediction point",
                index: i / d,
            });
        }
        Ok(points.len() / d)
    }

    /// Cross-covariances of all observation rows with `target` at each of `points`,
    /// written to `out` (column-major `N × m`, one column per point). Sequential: the
    /// callers parallelise over blocks of points.
    fn cross_into(&self, points: &[f64], target: Target, out: &mut [f64]) {
        let d = self.dim();
        let n = self.obs.n_rows();
        let ng = self.obs.n_gradients();
        let nb = ng + self.obs.n_values();
        debug_assert_eq!(out.len(), n * (points.len() / d));
        let mut e = KernelEval::new(d, self.kernel.n_params());
        let mut r = vec![0.0; d];
        for (col, x) in out.chunks_mut(n).zip(points.chunks(d)) {
            for b in 0..nb {
                let is_grad = b < ng;
                let (off, len) = if is_grad {
                    (b * d, d)
                } else {
                    (ng * d + b - ng, 1)
                };
                cross_block(
                    self.kernel.as_ref(),
                    obs_point(&self.obs, b),
                    is_grad,
                    x,
                    target,
                    &mut r,
                    &mut e,
                    &mut col[off..off + len],
                );
            }
        }
    }

    /// The batched posterior: `points` are split into column blocks ([`block_plan`]),
    /// processed in parallel on rayon's pool. Each block builds its cross-covariances
    /// `K*` (`N × c`), takes the posterior means `off + K*ᵀα`, overwrites `K*` with
    /// `W = L⁻¹K*` in one faer triangular solve with all `c` columns as right-hand sides,
    /// and maps every point with `f(x, mean, w)`. Nothing of size `N × m` is ever held,
    /// and only the diagonal of the posterior covariance (`k** − ‖w‖²`) is needed by the
    /// callers.
    fn map_solved<T: Send>(
        &self,
        points: &[f64],
        target: Target,
        off: f64,
        f: impl Fn(&[f64], f64, &[f64]) -> T + Sync,
    ) -> Vec<T> {
        let d = self.dim();
        let n = self.obs.n_rows();
        let m = points.len() / d;
        let (cols, inner_par) = block_plan(n, m, rayon::current_num_threads());
        let par = if inner_par {
            crate::linalg::par()
        } else {
            faer::Par::Seq
        };
        points
            .par_chunks(cols * d)
            .flat_map_iter(|chunk| {
                let c = chunk.len() / d;
                let mut ks = vec![0.0; n * c];
                self.cross_into(chunk, target, &mut ks);
                let means: Vec<f64> = ks
                    .chunks(n)
                    .map(|k| off + k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum::<f64>())
                    .collect();
                self.chol.solve_lower_block(&mut ks, c, par);
                chunk
                    .chunks(d)
                    .zip(means)
                    .zip(ks.chunks(n))
                    .map(|((x, mu), w)| f(x, mu, w))
                    .collect::<Vec<T>>()
            })
            .collect()
    }

    fn prior_var(&self, target: Target) -> f64 {
        let d = self.dim();
        let mut e = KernelEval::new(d, self.kernel.n_params());
        self.kernel.eval(&vec![0.0; d], false, &mut e);
        match target {
            Target::Value => e.value,
            Target::Grad(c) => -e.hess[c * d + c],
        }
    }

    fn mean_only(&self, points: &[f64], target: Target, off: f64) -> Vec<f64> {
        let d = self.dim();
        let ng = self.obs.n_gradients();
        let nb = ng + self.obs.n_values();
        let p = self.kernel.n_params();
        points
            .par_chunks(d)
            .map_init(
                || (KernelEval::new(d, p), vec![0.0; d], vec![0.0; d]),
                |(e, r, col), x| {
                    let mut s = off;
                    for b in 0..nb {
                        let is_grad = b < ng;
                        let (o, len) = if is_grad {
                            (b * d, d)
                        } else {
                            (ng * d + b - ng, 1)
                        };
                        let xi = obs_point(&self.obs, b);
                        cross_block(
                            self.kernel.as_ref(),
                            xi,
                            is_grad,
                            x,
                            target,
                            r,
                            e,
                            &mut col[..len],
                        );
                        s += col[..len]
                            .iter()
                            .zip(&self.alpha[o..o + len])
                            .map(|(u, v)| u * v)
                            .sum::<f64>();
                    }
                    s
                },
            )
            .collect()
    }

    /// Posterior mean (and, if `with_var`, variance) of `target` at `points`.
    fn posterior(&self, points: &[f64], target: Target, with_var: bool) -> (Vec<f64>, Vec<f64>) {
        let off = if target == Target::Value {
            self.offset
        } else {
            0.0
        };
        if !with_var {
            // Mean only: accumulate k*ᵀα on the fly, without storing cross-covariances.
            return (self.mean_only(points, target, off), Vec::new());
        }
        let prior = self.prior_var(target);
        self.map_solved(points, target, off, |_, mu, w| {
            (mu, (prior - w.iter().map(|v| v * v).sum::<f64>()).max(0.0))
        })
        .into_iter()
        .unzip()
    }

    /// Posterior mean of `A` at `points` (`m×d` row-major), energy units.
    pub fn predict_mean(&self, points: &[f64]) -> Result<Vec<f64>> {
        self.check_points(points)?;
        Ok(self.posterior(points, Target::Value, false).0)
    }

    /// Posterior mean and standard deviation of `A` at `points` (`m×d` row-major).
    /// The standard deviation is that of `A` itself, including the uncertainty of the
    /// constant that gradient-only data leave open (see
    /// [`GaussianProcess::free_energy_on_grid`] for the relative one).
    pub fn predict(&self, points: &[f64]) -> Result<Prediction> {
        self.check_points(points)?;
        let (mean, var) = self.posterior(points, Target::Value, true);
        Ok(Prediction {
            mean,
            std: var.into_iter().map(f64::sqrt).collect(),
        })
    }

    /// Posterior mean and marginal standard deviation of `∇A` at `points`; both
    /// `m×d` row-major (energy/CV unit).
    pub fn predict_gradient(&self, points: &[f64]) -> Result<Prediction> {
        let m = self.check_points(points)?;
        let d = self.dim();
        let mut mean = vec![0.0; m * d];
        let mut std = vec![0.0; m * d];
        for c in 0..d {
            let (mu, var) = self.posterior(points, Target::Grad(c), true);
            for t in 0..m {
                mean[t * d + c] = mu[t];
                std[t * d + c] = var[t].sqrt();
            }
        }
        Ok(Prediction { mean, std })
    }

    /// The free-energy surface on `grid`: the posterior mean shifted to a minimum of 0
    /// and, if `with_std`, the standard deviation of `A(x) − A(x₀)` relative to the grid
    /// minimum `x₀` (and of `A(x)` itself). The standard deviations cost one triangular
    /// solve with all grid points as right-hand sides, `N²·m` flops.
    pub fn free_energy_on_grid(&self, grid: &Grid, with_std: bool) -> Result<FreeEnergySurface> {
        crate::posterior::fes_on_grid(self, grid, with_std)
    }
}

impl crate::posterior::Engine for GaussianProcess {
    fn dim(&self) -> usize {
        self.obs.dim()
    }
    fn mean(&self, points: &[f64]) -> Vec<f64> {
        self.posterior(points, Target::Value, false).0
    }
    fn reference(&self, x0: &[f64]) -> Vec<f64> {
        let mut v0 = vec![0.0; self.obs.n_rows()];
        self.cross_into(x0, Target::Value, &mut v0);
        self.chol.solve_lower_in_place(&mut v0, 1);
        v0
    }
    fn var_cov(&self, points: &[f64], x0: &[f64], v0: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let prior = self.prior_var(Target::Value);
        self.map_solved(points, Target::Value, 0.0, |x, _, w| {
            let (vv, v0v) = w
                .iter()
                .zip(v0)
                .fold((0.0, 0.0), |(s, t), (a, b)| (s + a * a, t + a * b));
            let k0 = self.kernel.value(x, x0);
            (prior - vv, k0 - v0v)
        })
        .into_iter()
        .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::GradientNoise;
    use crate::kernel::{Matern52, SquaredExponential};
    use crate::posterior::Engine;

    /// 2-D data with every kind of row: gradients with isotropic, diagonal and full noise,
    /// and values, on a smooth surface `A = sin(x) cos(y) + x²/4`.
    fn data() -> Observations {
        let mut obs = Observations::new(2).unwrap();
        for i in 0..45 {
            // A low-discrepancy (golden-ratio) cover of [-1.5, 1.5]².
            let x = -1.5 + 3.0 * ((i as f64 * 0.618_033_988_75) % 1.0);
            let y = -1.5 + 3.0 * ((i as f64 * 0.754_877_666_25) % 1.0);
            let g = [x.cos() * y.cos() + 0.5 * x, -x.sin() * y.sin()];
            let full = [0.02, 0.005, 0.005, 0.03];
            let noise = match i % 3 {
                0 => GradientNoise::Isotropic(0.01),
                1 => GradientNoise::Diagonal(&[0.01, 0.04]),
                _ => GradientNoise::Full(&full),
            };
            obs.push_gradient(&[x, y], &g, noise).unwrap();
        }
        for i in 0..4 {
            let (x, y) = (-1.0 + 0.6 * i as f64, 0.3 - 0.2 * i as f64);
            obs.push_value(&[x, y], x.sin() * y.cos() + 0.25 * x * x, 1e-3)
                .unwrap();
        }
        obs
    }

    fn gps() -> Vec<GaussianProcess> {
        let kernels: Vec<Box<dyn Kernel>> = vec![
            Box::new(SquaredExponential::new(2.0, &[0.8, 0.6]).unwrap()),
            Box::new(Matern52::new(1.5, &[0.9, 0.7]).unwrap()),
        ];
        kernels
            .into_iter()
            .map(|k| GaussianProcess::fit(k, data(), &GpConfig::default()).unwrap())
            .collect()
    }

    /// 11 × 9 points: one block under a 1-thread pool, several (of unequal sizes) under
    /// 2 and 3 threads.
    fn points() -> Vec<f64> {
        Grid::parse("-2:2:11,-1.7:1.9:9").unwrap().points()
    }

    /// One point at a time: its own cross-covariance column, its own triangular solve.
    fn per_point(gp: &GaussianProcess, x: &[f64], target: Target) -> (f64, f64, Vec<f64>) {
        let mut k = vec![0.0; gp.obs.n_rows()];
        gp.cross_into(x, target, &mut k);
        let off = if target == Target::Value {
            gp.offset
        } else {
            0.0
        };
        let mean = off + k.iter().zip(&gp.alpha).map(|(a, b)| a * b).sum::<f64>();
        gp.chol.solve_lower_in_place(&mut k, 1);
        let var = gp.prior_var(target) - k.iter().map(|v| v * v).sum::<f64>();
        (mean, var, k)
    }

    /// `a` equals `b` to `tol` relative, where values below 1e-4 of the prior variance
    /// `scale` count as 1e-4 · `scale`: those come from cancellation between terms of the
    /// size of the prior, whose rounding is all that can differ.
    fn close(a: f64, b: f64, tol: f64, scale: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-4 * scale)
    }

    #[test]
    fn block_plan_covers_every_point() {
        for &(n, threads) in &[(1, 1), (10, 2), (4000, 2), (10_000, 2), (20_000, 16)] {
            for m in [1, 2, 3, 17, 1000, 10_000, 10_001] {
                let (cols, inner_par) = block_plan(n, m, threads);
                let blocks = m.div_ceil(cols);
                assert!((1..=1024).contains(&cols), "{n} {m} {threads}: {cols}");
                assert!(n * cols <= (1 << 23) || cols <= 16, "{n} {m}: {cols}");
                assert_eq!(inner_par, blocks < threads, "{n} {m} {threads}");
                // Enough blocks to keep every thread busy when there are enough points.
                assert!(blocks >= threads.min(m), "{n} {m} {threads}: {blocks}");
            }
        }
    }

    #[test]
    fn batched_variance_equals_per_point_solves() {
        let pts = points();
        for gp in gps() {
            let s0 = gp.prior_var(Target::Value);
            let s1 = gp
                .prior_var(Target::Grad(0))
                .max(gp.prior_var(Target::Grad(1)));
            let reference: Vec<_> = pts
                .chunks(2)
                .map(|x| per_point(&gp, x, Target::Value))
                .collect();
            // Different pool sizes change the blocks and whether each solve is parallel.
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let pred = pool.install(|| gp.predict(&pts)).unwrap();
                for (t, (mu, var, _)) in reference.iter().enumerate() {
                    assert!(*var > 0.0);
                    assert!(close(pred.mean[t], *mu, 1e-10, s0.sqrt()), "{threads}: {t}");
                    assert!(
                        close(pred.std[t].powi(2), *var, 1e-10, s0),
                        "{threads}: {t}"
                    );
                }
                // The grid path: variances and covariances with a reference point.
                let x0 = &pts[2 * 40..2 * 41];
                let v0 = gp.reference(x0);
                let (var, cov) = pool.install(|| gp.var_cov(&pts, x0, &v0));
                for (t, (_, vref, w)) in reference.iter().enumerate() {
                    let cref = gp.kernel.value(&pts[2 * t..2 * t + 2], x0)
                        - w.iter().zip(&v0).map(|(a, b)| a * b).sum::<f64>();
                    assert!(close(var[t], *vref, 1e-10, s0), "{threads}: {t}");
                    assert!(close(cov[t], cref, 1e-10, s0), "{threads}: {t}");
                }
                // A single point: fewer blocks than threads, so the solve itself is parallel.
                let one = pool.install(|| gp.predict(&pts[2 * 57..2 * 58])).unwrap();
                assert!(close(one.mean[0], reference[57].0, 1e-10, s0.sqrt()));
                assert!(close(one.std[0].powi(2), reference[57].1, 1e-10, s0));
                let grad = pool.install(|| gp.predict_gradient(&pts)).unwrap();
                for (t, x) in pts.chunks(2).enumerate() {
                    for c in 0..2 {
                        let (mu, var, _) = per_point(&gp, x, Target::Grad(c));
                        assert!(close(grad.mean[2 * t + c], mu, 1e-10, s1.sqrt()), "{t} {c}");
                        assert!(
                            close(grad.std[2 * t + c].powi(2), var, 1e-10, s1),
                            "{t} {c}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn variance_matches_explicit_inverse() {
        // An independent route to k** − kᵀK⁻¹k: the explicit inverse from faer, no
        // triangular solve involved.
        let pts = points();
        for gp in gps() {
            let n = gp.obs.n_rows();
            let inv = gp.chol.inverse();
            let pred = gp.predict(&pts).unwrap();
            let prior = gp.prior_var(Target::Value);
            for (t, x) in pts.chunks(2).enumerate() {
                let mut k = vec![0.0; n];
                gp.cross_into(x, Target::Value, &mut k);
                let mut q = 0.0;
                for j in 0..n {
                    for i in 0..n {
                        q += k[i] * inv[j * n + i] * k[j];
                    }
                }
                let var = prior - q;
                assert!((pred.std[t].powi(2) - var).abs() <= 1e-8 * prior, "{t}");
            }
        }
    }
}
