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
    kernel.eval(r, false, e);
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

/// Batch size (prediction columns per solve) so that a batch of cross-covariances
/// stays near 128 MiB.
pub(crate) fn batch_size(n_rows: usize) -> usize {
    ((1usize << 24) / n_rows.max(1)).clamp(32, 4096)
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

    /// Cross-covariances of all observation rows with `target` at each of `points`
    /// (column-major `N × m`).
    fn cross(&self, points: &[f64], target: Target) -> Vec<f64> {
        let d = self.dim();
        let n = self.obs.n_rows();
        let ng = self.obs.n_gradients();
        let nb = ng + self.obs.n_values();
        let p = self.kernel.n_params();
        let m = points.len() / d;
        let mut out = vec![0.0; n * m];
        out.par_chunks_mut(n).enumerate().for_each_init(
            || (KernelEval::new(d, p), vec![0.0; d]),
            |(e, r), (t, col)| {
                let x = &points[t * d..(t + 1) * d];
                for b in 0..nb {
                    let is_grad = b < ng;
                    let (off, len) = if is_grad {
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
                        &mut col[off..off + len],
                    );
                }
            },
        );
        out
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
        let d = self.dim();
        let n = self.obs.n_rows();
        let m = points.len() / d;
        let bs = batch_size(n);
        let mut mean = Vec::with_capacity(m);
        let mut var = Vec::with_capacity(if with_var { m } else { 0 });
        let prior = self.prior_var(target);
        let off = if target == Target::Value {
            self.offset
        } else {
            0.0
        };
        if !with_var {
            // Mean only: accumulate k*ᵀα on the fly, without storing cross-covariances.
            return (self.mean_only(points, target, off), var);
        }
        for chunk in points.chunks(bs * d) {
            let mut ks = self.cross(chunk, target);
            mean.par_extend(
                ks.par_chunks(n)
                    .map(|c| off + c.iter().zip(&self.alpha).map(|(a, b)| a * b).sum::<f64>()),
            );
            if with_var {
                let k = chunk.len() / d;
                self.chol.solve_lower_in_place(&mut ks, k);
                var.par_extend(
                    ks.par_chunks(n)
                        .map(|c| (prior - c.iter().map(|v| v * v).sum::<f64>()).max(0.0)),
                );
            }
        }
        (mean, var)
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
        let mut v0 = self.cross(x0, Target::Value);
        self.chol.solve_lower_in_place(&mut v0, 1);
        v0
    }
    fn var_cov(&self, points: &[f64], x0: &[f64], v0: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim();
        let n = self.obs.n_rows();
        let prior = self.prior_var(Target::Value);
        let m = points.len() / d;
        let mut var = Vec::with_capacity(m);
        let mut cov = Vec::with_capacity(m);
        let bs = batch_size(n);
        for chunk in points.chunks(bs * d) {
            let k = chunk.len() / d;
            let mut ks = self.cross(chunk, Target::Value);
            self.chol.solve_lower_in_place(&mut ks, k);
            let res: Vec<(f64, f64)> = ks
                .par_chunks(n)
                .zip(chunk.par_chunks(d))
                .map(|(c, x)| {
                    let vv = c.iter().map(|v| v * v).sum::<f64>();
                    let v0v = c.iter().zip(v0).map(|(a, b)| a * b).sum::<f64>();
                    (prior - vv, self.kernel.value(x, x0) - v0v)
                })
                .collect();
            for (a, b) in res {
                var.push(a);
                cov.push(b);
            }
        }
        (var, cov)
    }
}
