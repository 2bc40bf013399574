//! Stationary covariance kernels with analytic derivatives.
//!
//! A kernel here is a function of the separation `r = x − x′` only. The GP needs, for a
//! pair of points, the kernel `k`, its gradient in either argument and the mixed second
//! derivative `∂²k/∂x∂x′`, because a gradient observation `∂A/∂x_a` has covariance
//! `∂k/∂x_a` with a value and `∂²k/∂x_a∂x′_b` with another gradient component. For a
//! stationary kernel these all follow from `k(r)`, `∇_r k` and `∇_r∇_r k`:
//! `∂k/∂x = ∇_r k`, `∂k/∂x′ = −∇_r k`, `∂²k/∂x∂x′ = −∇_r∇_r k`.
//!
//! Hyperparameters are handled in log space (`log σ²`, `log ℓ_a`, …): the marginal
//! likelihood gradient needs the derivatives of all of the above with respect to each
//! log-hyperparameter, which [`Kernel::eval`] provides when asked.

use std::f64::consts::PI;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{GprError, Result};

/// Kernel value and derivatives at one separation `r`, filled by [`Kernel::eval`].
///
/// Shapes, with `d` the input dimension and `p` the number of hyperparameters:
/// `grad` is `d`, `hess` is `d×d` row-major, `dvalue` is `p`, `dgrad` is `p×d` and
/// `dhess` is `p×d×d` (parameter slowest). The parameter derivatives are only filled
/// when [`Kernel::eval`] is called with `param_derivs = true`.
#[derive(Debug, Clone)]
pub struct KernelEval {
    /// `k(r)`.
    pub value: f64,
    /// `∇_r k`, length `d`.
    pub grad: Vec<f64>,
    /// `∇_r∇_r k`, `d×d` row-major.
    pub hess: Vec<f64>,
    /// `∂k/∂θ_j` for each log-hyperparameter `θ_j`.
    pub dvalue: Vec<f64>,
    /// `∂(∇_r k)_a/∂θ_j` at `[j*d + a]`.
    pub dgrad: Vec<f64>,
    /// `∂(∇_r∇_r k)_ab/∂θ_j` at `[j*d*d + a*d + b]`.
    pub dhess: Vec<f64>,
}

impl KernelEval {
    /// Zeroed buffers for input dimension `dim` and `n_params` hyperparameters.
    pub fn new(dim: usize, n_params: usize) -> Self {
        Self {
            value: 0.0,
            grad: vec![0.0; dim],
            hess: vec![0.0; dim * dim],
            dvalue: vec![0.0; n_params],
            dgrad: vec![0.0; n_params * dim],
            dhess: vec![0.0; n_params * dim * dim],
        }
    }

    /// Input dimension the buffers were made for.
    pub fn dim(&self) -> usize {
        self.grad.len()
    }
}

/// Search range and starting value of one log-hyperparameter, used by the
/// marginal-likelihood optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParamRange {
    /// Lower bound (log space).
    pub lo: f64,
    /// Starting value (log space).
    pub init: f64,
    /// Upper bound (log space).
    pub hi: f64,
}

/// Scales of a data set that kernels use to choose sensible hyperparameter ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct DataScales {
    /// Extent (max − min) of the observation points along each dimension (CV units).
    pub ranges: Vec<f64>,
    /// Mean square of the observed gradient components (energy² / CV unit²).
    pub mean_square_gradient: f64,
    /// Variance of the observed values, if any (energy²).
    pub value_variance: Option<f64>,
}

/// A stationary covariance function `k(x, x′) = k(r)`, `r = x − x′`, with analytic
/// first and second derivatives and derivatives with respect to its log-hyperparameters.
///
/// Implementations provided: [`SquaredExponential`], [`Matern52`], [`Periodic`]. A kernel
/// used with gradient observations must be twice differentiable at `r = 0`.
///
/// # Example: a minimal kernel
///
/// A 1-D squared exponential with unit length scale and a single hyperparameter, the
/// log signal variance:
///
/// ```
/// use thermograd_gpr::{GprError, Kernel, KernelEval};
///
/// #[derive(Debug, Clone)]
/// struct UnitSe { log_var: f64 }
///
/// impl Kernel for UnitSe {
///     fn n_params(&self) -> usize { 1 }
///     fn param_names(&self) -> Vec<String> { vec!["log_variance".into()] }
///     fn log_params(&self) -> Vec<f64> { vec![self.log_var] }
///     fn set_log_params(&mut self, p: &[f64]) -> Result<(), GprError> {
///         self.log_var = p[0];
///         Ok(())
///     }
///     fn input_dim(&self) -> Option<usize> { Some(1) }
///     fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval) {
///         let k = self.log_var.exp() * (-0.5 * r[0] * r[0]).exp();
///         out.value = k;
///         out.grad[0] = -r[0] * k;
///         out.hess[0] = (r[0] * r[0] - 1.0) * k;
///         if param_derivs {
///             // d/d(log σ²) of anything proportional to σ² is itself.
///             out.dvalue[0] = out.value;
///             out.dgrad[0] = out.grad[0];
///             out.dhess[0] = out.hess[0];
///         }
///     }
///     fn boxed_clone(&self) -> Box<dyn Kernel> { Box::new(self.clone()) }
/// }
///
/// let k = UnitSe { log_var: 0.0 };
/// assert!((k.value(&[0.5], &[0.5]) - 1.0).abs() < 1e-15);
/// // ∂²k/∂x∂x′ at x = x′ is the variance of the derivative process, 1/ℓ² = 1.
/// let mut h = [0.0];
/// k.hess_xy(&[0.2], &[0.2], &mut h);
/// assert!((h[0] - 1.0).abs() < 1e-15);
/// ```
pub trait Kernel: Send + Sync + fmt::Debug {
    /// Number of hyperparameters (all in log space).
    fn n_params(&self) -> usize;
    /// Names of the log-hyperparameters, e.g. `["log_variance", "log_length_scale_1"]`.
    fn param_names(&self) -> Vec<String>;
    /// Current log-hyperparameters.
    fn log_params(&self) -> Vec<f64>;
    /// Sets the log-hyperparameters; errors on a wrong length or a non-finite value.
    fn set_log_params(&mut self, log_params: &[f64]) -> Result<()>;
    /// The input dimension this kernel requires, if it fixes one (per-dimension
    /// length scales do).
    fn input_dim(&self) -> Option<usize>;
    /// Fills `out` with `k(r)`, `∇_r k`, `∇_r∇_r k` and, if `param_derivs`, their
    /// derivatives with respect to each log-hyperparameter. `out` was made by
    /// [`KernelEval::new`] with `r.len()` and [`Kernel::n_params`].
    fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval);
    /// Fills `out.value` and `out.grad` (`k(r)` and `∇_r k`; the other fields of `out`
    /// may or may not be written): all that predicting values of `A` needs, evaluated
    /// once per observation and prediction point. The default calls [`Kernel::eval`];
    /// implementations may skip the Hessian, with identical results.
    fn eval_value_grad(&self, r: &[f64], out: &mut KernelEval) {
        self.eval(r, false, out);
    }
    /// A boxed copy (kernels are used as `Box<dyn Kernel>`).
    fn boxed_clone(&self) -> Box<dyn Kernel>;

    /// Search ranges for the marginal-likelihood optimiser. The default is the current
    /// value ± ln(1000).
    fn param_ranges(&self, _scales: &DataScales) -> Vec<ParamRange> {
        let w = 1000f64.ln();
        self.log_params()
            .into_iter()
            .map(|p| ParamRange {
                lo: p - w,
                init: p,
                hi: p + w,
            })
            .collect()
    }

    /// `k(x, y)`.
    fn value(&self, x: &[f64], y: &[f64]) -> f64 {
        let r = diff(x, y);
        let mut e = KernelEval::new(r.len(), self.n_params());
        self.eval(&r, false, &mut e);
        e.value
    }
    /// `∂k/∂x`, written to `out` (length `d`).
    fn grad_x(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        let r = diff(x, y);
        let mut e = KernelEval::new(r.len(), self.n_params());
        self.eval(&r, false, &mut e);
        out.copy_from_slice(&e.grad);
    }
    /// `∂k/∂y`, written to `out` (length `d`).
    fn grad_y(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        self.grad_x(x, y, out);
        out.iter_mut().for_each(|v| *v = -*v);
    }
    /// `∂²k/∂x_a∂y_b` at `out[a*d + b]`.
    fn hess_xy(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        let r = diff(x, y);
        let mut e = KernelEval::new(r.len(), self.n_params());
        self.eval(&r, false, &mut e);
        for (o, h) in out.iter_mut().zip(&e.hess) {
            *o = -h;
        }
    }
    /// Prior variance `k(0)` (energy²).
    fn variance(&self) -> f64 {
        let d = self.input_dim().unwrap_or(1);
        let mut e = KernelEval::new(d, self.n_params());
        self.eval(&vec![0.0; d], false, &mut e);
        e.value
    }
}

/// A zeroed scratch slice of length `n`, on the stack when it fits.
fn scratch<'a, const N: usize>(
    stack: &'a mut [f64; N],
    heap: &'a mut Vec<f64>,
    n: usize,
) -> &'a mut [f64] {
    if n <= N {
        &mut stack[..n]
    } else {
        heap.resize(n, 0.0);
        heap
    }
}

fn diff(x: &[f64], y: &[f64]) -> Vec<f64> {
    x.iter().zip(y).map(|(a, b)| a - b).collect()
}

fn check_positive(name: &'static str, v: f64) -> Result<()> {
    if !v.is_finite() || v <= 0.0 {
        return Err(GprError::InvalidParameter {
            name,
            value: v,
            reason: "must be positive and finite",
        });
    }
    Ok(())
}

fn set_log_params_common(n: usize, p: &[f64], log_var: &mut f64, log_ls: &mut [f64]) -> Result<()> {
    if p.len() != n {
        return Err(GprError::DimensionMismatch {
            what: "kernel log-parameters",
            expected: n,
            got: p.len(),
        });
    }
    if let Some(i) = p.iter().position(|v| !v.is_finite()) {
        return Err(GprError::NonFinite {
            what: "kernel log-parameter",
            index: i,
        });
    }
    *log_var = p[0];
    log_ls.copy_from_slice(&p[1..]);
    Ok(())
}

fn inv_l2_of(log_ls: &[f64]) -> Vec<f64> {
    log_ls.iter().map(|l| (-2.0 * l).exp()).collect()
}

fn names(d: usize) -> Vec<String> {
    std::iter::once("log_variance".to_string())
        .chain((0..d).map(|a| format!("log_length_scale_{}", a + 1)))
        .collect()
}

/// Ranges for `[log σ², log ℓ_1, …]`: length scales from 1/200 to 3 times each data
/// range (start: 1/5); variance from the gradient scale (`σ² ≈ ⟨g²⟩ ℓ²` for a process
/// whose derivative has variance `σ²/ℓ²`) and the value variance, ±ln(10⁴).
fn radial_ranges(scales: &DataScales, d: usize, ls_factor: f64) -> Vec<ParamRange> {
    let mut out = Vec::with_capacity(d + 1);
    let ranges: Vec<f64> = (0..d)
        .map(|a| {
            let r = scales.ranges.get(a).copied().unwrap_or(1.0);
            if r.is_finite() && r > 0.0 {
                r
            } else {
                1.0
            }
        })
        .collect();
    let l0: Vec<f64> = ranges.iter().map(|r| r / 5.0 * ls_factor).collect();
    let lmean2 = l0.iter().map(|l| l * l).sum::<f64>() / d as f64;
    let g2 = if scales.mean_square_gradient.is_finite() && scales.mean_square_gradient > 0.0 {
        scales.mean_square_gradient
    } else {
        1.0
    };
    let mut v0 = g2 * lmean2;
    if let Some(vv) = scales.value_variance {
        if vv.is_finite() && vv > v0 {
            v0 = vv;
        }
    }
    let w = 1e4f64.ln();
    out.push(ParamRange {
        lo: v0.ln() - w,
        init: v0.ln(),
        hi: v0.ln() + w,
    });
    for (r, l) in ranges.iter().zip(&l0) {
        out.push(ParamRange {
            lo: (r / 200.0 * ls_factor).ln(),
            init: l.ln(),
            hi: (r * 3.0 * ls_factor).ln(),
        });
    }
    out
}

/// Shared evaluation of `k = σ² F(q)`, `q = Σ_a r_a²/ℓ_a²`, given `F` and its first three
/// derivatives with respect to `q`. Parameters are `[log σ², log ℓ_1, …, log ℓ_d]`.
fn radial_eval(
    sigma2: f64,
    inv_l2: &[f64],
    r: &[f64],
    param_derivs: bool,
    f: impl Fn(f64) -> [f64; 4],
    out: &mut KernelEval,
) {
    let d = r.len();
    debug_assert_eq!(inv_l2.len(), d);
    let mut u = [0.0f64; 8];
    let mut uv = Vec::new();
    let u: &mut [f64] = if d <= 8 {
        &mut u[..d]
    } else {
        uv.resize(d, 0.0);
        &mut uv
    };
    let mut q = 0.0;
    for a in 0..d {
        u[a] = r[a] * inv_l2[a];
        q += r[a] * u[a];
    }
    let [f0, f1, f2, f3] = f(q);
    out.value = sigma2 * f0;
    for a in 0..d {
        out.grad[a] = 2.0 * sigma2 * f1 * u[a];
        for b in 0..d {
            let diag = if a == b { 2.0 * f1 * inv_l2[a] } else { 0.0 };
            out.hess[a * d + b] = sigma2 * (diag + 4.0 * f2 * u[a] * u[b]);
        }
    }
    if !param_derivs {
        return;
    }
    // log σ²: everything is proportional to σ².
    out.dvalue[0] = out.value;
    out.dgrad[..d].copy_from_slice(&out.grad);
    out.dhess[..d * d].copy_from_slice(&out.hess);
    for c in 0..d {
        let j = c + 1;
        let s_c = r[c] * u[c];
        out.dvalue[j] = -2.0 * sigma2 * f1 * s_c;
        for a in 0..d {
            let dac = if a == c { 1.0 } else { 0.0 };
            out.dgrad[j * d + a] = 2.0 * sigma2 * (-2.0 * f2 * s_c * u[a] - 2.0 * f1 * u[a] * dac);
            for b in 0..d {
                let dbc = if b == c { 1.0 } else { 0.0 };
                let dab = if a == b { 1.0 } else { 0.0 };
                out.dhess[j * d * d + a * d + b] = sigma2
                    * (-4.0 * f2 * s_c * dab * inv_l2[a]
                        - 4.0 * f1 * dab * dac * inv_l2[a]
                        - 8.0 * f3 * s_c * u[a] * u[b]
                        - 8.0 * f2 * (u[a] * u[b] * dac + u[a] * u[b] * dbc));
            }
        }
    }
}

/// [`radial_eval`] for `k` and `∇_r k` only, with the same arithmetic (so the same
/// bits); of `f`'s derivatives only `F(q)` and `F'(q)` are used (the others are dead
/// code once inlined).
#[inline]
fn radial_value_grad(
    sigma2: f64,
    inv_l2: &[f64],
    r: &[f64],
    f: impl Fn(f64) -> [f64; 4],
    out: &mut KernelEval,
) {
    let d = r.len();
    debug_assert_eq!(inv_l2.len(), d);
    let mut q = 0.0;
    for a in 0..d {
        q += r[a] * (r[a] * inv_l2[a]);
    }
    let [f0, f1, ..] = f(q);
    out.value = sigma2 * f0;
    for a in 0..d {
        out.grad[a] = 2.0 * sigma2 * f1 * (r[a] * inv_l2[a]);
    }
}

/// The squared exponential's radial profile `F(q) = exp(−q/2)` and its first three
/// derivatives in `q`.
#[inline]
fn gaussian_profile(q: f64) -> [f64; 4] {
    let f = (-0.5 * q).exp();
    [f, -0.5 * f, 0.25 * f, -0.125 * f]
}

/// The Matérn 5/2 radial profile `F(q) = (1 + √5ρ + 5ρ²/3) exp(−√5ρ)`, `ρ = √q`, and
/// its first three derivatives in `q`. `F'''` ~ 1/ρ is only ever multiplied by terms of
/// order ρ⁴, so it is set to 0 at ρ = 0.
#[inline]
fn matern52_profile(q: f64) -> [f64; 4] {
    let s5 = 5f64.sqrt();
    let rho = q.sqrt();
    let e = (-s5 * rho).exp();
    let f0 = (1.0 + s5 * rho + 5.0 * q / 3.0) * e;
    let f1 = -5.0 / 6.0 * (1.0 + s5 * rho) * e;
    let f2 = 25.0 / 12.0 * e;
    let f3 = if rho > 0.0 {
        -25.0 * s5 / 24.0 * e / rho
    } else {
        0.0
    };
    [f0, f1, f2, f3]
}

/// Squared-exponential kernel with one length scale per dimension (ARD):
/// `k(r) = σ² exp(−½ Σ_a r_a²/ℓ_a²)`.
///
/// `σ²` is in energy², `ℓ_a` in the units of CV `a`. Log-hyperparameters:
/// `[log σ², log ℓ_1, …, log ℓ_d]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SquaredExponential {
    log_variance: f64,
    log_length_scales: Vec<f64>,
    /// Cached `1/ℓ_a²`, kept in sync with `log_length_scales`.
    inv_l2: Vec<f64>,
}

impl SquaredExponential {
    /// A kernel with signal variance `variance` (energy²) and one length scale per
    /// dimension (CV units); errors on non-positive or non-finite values or no dimensions.
    pub fn new(variance: f64, length_scales: &[f64]) -> Result<Self> {
        check_positive("variance", variance)?;
        if length_scales.is_empty() {
            return Err(GprError::Empty {
                what: "length scales",
            });
        }
        for &l in length_scales {
            check_positive("length_scale", l)?;
        }
        Ok(Self {
            log_variance: variance.ln(),
            log_length_scales: length_scales.iter().map(|l| l.ln()).collect(),
            inv_l2: length_scales.iter().map(|l| 1.0 / (l * l)).collect(),
        })
    }

    /// Signal variance σ² (energy²).
    pub fn variance(&self) -> f64 {
        self.log_variance.exp()
    }

    /// Length scales ℓ_a (CV units).
    pub fn length_scales(&self) -> Vec<f64> {
        self.log_length_scales.iter().map(|l| l.exp()).collect()
    }
}

impl Kernel for SquaredExponential {
    fn n_params(&self) -> usize {
        1 + self.log_length_scales.len()
    }
    fn param_names(&self) -> Vec<String> {
        names(self.log_length_scales.len())
    }
    fn log_params(&self) -> Vec<f64> {
        std::iter::once(self.log_variance)
            .chain(self.log_length_scales.iter().copied())
            .collect()
    }
    fn set_log_params(&mut self, p: &[f64]) -> Result<()> {
        let n = self.n_params();
        set_log_params_common(n, p, &mut self.log_variance, &mut self.log_length_scales)?;
        self.inv_l2 = inv_l2_of(&self.log_length_scales);
        Ok(())
    }
    fn input_dim(&self) -> Option<usize> {
        Some(self.log_length_scales.len())
    }
    fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval) {
        let sigma2 = self.log_variance.exp();
        radial_eval(sigma2, &self.inv_l2, r, param_derivs, gaussian_profile, out);
    }
    fn eval_value_grad(&self, r: &[f64], out: &mut KernelEval) {
        let sigma2 = self.log_variance.exp();
        radial_value_grad(sigma2, &self.inv_l2, r, gaussian_profile, out);
    }
    fn boxed_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
    fn param_ranges(&self, scales: &DataScales) -> Vec<ParamRange> {
        radial_ranges(scales, self.log_length_scales.len(), 1.0)
    }
}

/// Matérn ν = 5/2 kernel with one length scale per dimension:
/// `k(r) = σ² (1 + √5ρ + 5ρ²/3) exp(−√5ρ)`, `ρ² = Σ_a r_a²/ℓ_a²`.
///
/// Twice differentiable, so it can condition on gradients; its sample paths are rougher
/// than the squared exponential's. Units and log-hyperparameters as for
/// [`SquaredExponential`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matern52 {
    log_variance: f64,
    log_length_scales: Vec<f64>,
    /// Cached `1/ℓ_a²`, kept in sync with `log_length_scales`.
    inv_l2: Vec<f64>,
}

impl Matern52 {
    /// A kernel with signal variance `variance` (energy²) and one length scale per
    /// dimension (CV units).
    pub fn new(variance: f64, length_scales: &[f64]) -> Result<Self> {
        let se = SquaredExponential::new(variance, length_scales)?;
        Ok(Self {
            log_variance: se.log_variance,
            log_length_scales: se.log_length_scales,
            inv_l2: se.inv_l2,
        })
    }
}

impl Kernel for Matern52 {
    fn n_params(&self) -> usize {
        1 + self.log_length_scales.len()
    }
    fn param_names(&self) -> Vec<String> {
        names(self.log_length_scales.len())
    }
    fn log_params(&self) -> Vec<f64> {
        std::iter::once(self.log_variance)
            .chain(self.log_length_scales.iter().copied())
            .collect()
    }
    fn set_log_params(&mut self, p: &[f64]) -> Result<()> {
        let n = self.n_params();
        set_log_params_common(n, p, &mut self.log_variance, &mut self.log_length_scales)?;
        self.inv_l2 = inv_l2_of(&self.log_length_scales);
        Ok(())
    }
    fn input_dim(&self) -> Option<usize> {
        Some(self.log_length_scales.len())
    }
    fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval) {
        let sigma2 = self.log_variance.exp();
        radial_eval(sigma2, &self.inv_l2, r, param_derivs, matern52_profile, out);
    }
    fn eval_value_grad(&self, r: &[f64], out: &mut KernelEval) {
        let sigma2 = self.log_variance.exp();
        radial_value_grad(sigma2, &self.inv_l2, r, matern52_profile, out);
    }
    fn boxed_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
    fn param_ranges(&self, scales: &DataScales) -> Vec<ParamRange> {
        radial_ranges(scales, self.log_length_scales.len(), 1.5)
    }
}

/// Periodic kernel (MacKay 1998), a product over dimensions:
/// `k(r) = σ² exp(−Σ_a 2 sin²(π r_a/p_a)/ℓ_a²)`.
///
/// For angle-like CVs: the surface it describes is exactly periodic with period `p_a`
/// along each dimension (default `2π`, i.e. radians), so there is no seam at ±π.
/// `ℓ_a` is dimensionless (relative to the period). Log-hyperparameters:
/// `[log σ², log ℓ_1, …]`; the periods are fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Periodic {
    log_variance: f64,
    log_length_scales: Vec<f64>,
    /// Cached `1/ℓ_a²`, kept in sync with `log_length_scales`.
    inv_l2: Vec<f64>,
    periods: Vec<f64>,
}

impl Periodic {
    /// A kernel with signal variance `variance` (energy²), dimensionless length scales
    /// and one period per dimension (CV units).
    pub fn new(variance: f64, length_scales: &[f64], periods: &[f64]) -> Result<Self> {
        let se = SquaredExponential::new(variance, length_scales)?;
        if periods.len() != length_scales.len() {
            return Err(GprError::DimensionMismatch {
                what: "periods",
                expected: length_scales.len(),
                got: periods.len(),
            });
        }
        for &p in periods {
            check_positive("period", p)?;
        }
        Ok(Self {
            log_variance: se.log_variance,
            log_length_scales: se.log_length_scales,
            inv_l2: se.inv_l2,
            periods: periods.to_vec(),
        })
    }

    /// Periodic in every dimension with period 2π (angles in radians).
    pub fn angles(variance: f64, length_scales: &[f64]) -> Result<Self> {
        Self::new(
            variance,
            length_scales,
            &vec![2.0 * PI; length_scales.len()],
        )
    }

    /// The periods (CV units).
    pub fn periods(&self) -> &[f64] {
        &self.periods
    }
}

impl Kernel for Periodic {
    fn n_params(&self) -> usize {
        1 + self.log_length_scales.len()
    }
    fn param_names(&self) -> Vec<String> {
        names(self.log_length_scales.len())
    }
    fn log_params(&self) -> Vec<f64> {
        std::iter::once(self.log_variance)
            .chain(self.log_length_scales.iter().copied())
            .collect()
    }
    fn set_log_params(&mut self, p: &[f64]) -> Result<()> {
        let n = self.n_params();
        set_log_params_common(n, p, &mut self.log_variance, &mut self.log_length_scales)?;
        self.inv_l2 = inv_l2_of(&self.log_length_scales);
        Ok(())
    }
    fn input_dim(&self) -> Option<usize> {
        Some(self.log_length_scales.len())
    }
    fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval) {
        let d = r.len();
        let sigma2 = self.log_variance.exp();
        let mut stack = [0.0f64; 24];
        let mut heap = Vec::new();
        let buf = scratch(&mut stack, &mut heap, 3 * d);
        let (e, rest) = buf.split_at_mut(d);
        let (h, ec) = rest.split_at_mut(d);
        let mut big_e = 0.0;
        for a in 0..d {
            let inv_l2 = self.inv_l2[a];
            let w = PI / self.periods[a];
            let (sn, cs) = (2.0 * w * r[a]).sin_cos();
            ec[a] = (1.0 - cs) * inv_l2;
            big_e += ec[a];
            e[a] = 2.0 * w * sn * inv_l2;
            h[a] = 4.0 * w * w * cs * inv_l2;
        }
        let k = sigma2 * (-big_e).exp();
        out.value = k;
        for a in 0..d {
            out.grad[a] = -k * e[a];
            for b in 0..d {
                let dab = if a == b { h[a] } else { 0.0 };
                out.hess[a * d + b] = k * (e[a] * e[b] - dab);
            }
        }
        if !param_derivs {
            return;
        }
        out.dvalue[0] = out.value;
        out.dgrad[..d].copy_from_slice(&out.grad);
        out.dhess[..d * d].copy_from_slice(&out.hess);
        for c in 0..d {
            let j = c + 1;
            out.dvalue[j] = 2.0 * ec[c] * k;
            for a in 0..d {
                let dac = if a == c { 1.0 } else { 0.0 };
                out.dgrad[j * d + a] = -2.0 * ec[c] * k * e[a] + 2.0 * k * e[a] * dac;
                for b in 0..d {
                    let dbc = if b == c { 1.0 } else { 0.0 };
                    let hab = if a == b { h[a] } else { 0.0 };
                    out.dhess[j * d * d + a * d + b] = 2.0 * ec[c] * k * (e[a] * e[b] - hab)
                        + k * (-2.0 * e[a] * e[b] * dac - 2.0 * e[a] * e[b] * dbc
                            + 2.0 * hab * dac);
                }
            }
        }
    }
    fn boxed_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
    fn param_ranges(&self, scales: &DataScales) -> Vec<ParamRange> {
        // ℓ is relative to the period: ℓ ≈ 1 is one bump per period.
        let d = self.log_length_scales.len();
        let mut out = radial_ranges(
            &DataScales {
                ranges: self.periods.clone(),
                ..scales.clone()
            },
            d,
            1.0,
        );
        for (a, pr) in out.iter_mut().skip(1).enumerate() {
            let _ = a;
            *pr = ParamRange {
                lo: (0.05f64).ln(),
                init: (0.7f64).ln(),
                hi: (10f64).ln(),
            };
        }
        out
    }
}

/// Which built-in kernel, for configuration files and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelKind {
    /// [`SquaredExponential`].
    Se,
    /// [`Matern52`].
    Matern52,
    /// [`Periodic`].
    Periodic,
}

impl std::str::FromStr for KernelKind {
    type Err = GprError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "se" => Ok(Self::Se),
            "matern52" => Ok(Self::Matern52),
            "periodic" => Ok(Self::Periodic),
            _ => Err(GprError::InvalidParameter {
                name: "kernel",
                value: f64::NAN,
                reason: "expected se, matern52 or periodic",
            }),
        }
    }
}

/// Plain configuration of a built-in kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelConfig {
    /// Which kernel.
    pub kind: KernelKind,
    /// Signal variance σ² (energy²).
    pub variance: f64,
    /// One length scale per dimension (CV units; dimensionless for [`Periodic`]).
    pub length_scales: Vec<f64>,
    /// Periods for [`Periodic`] (CV units); `None` means 2π in every dimension.
    pub periods: Option<Vec<f64>>,
}

impl KernelConfig {
    /// Validates and builds the kernel.
    pub fn build(&self) -> Result<Box<dyn Kernel>> {
        Ok(match self.kind {
            KernelKind::Se => {
                Box::new(SquaredExponential::new(self.variance, &self.length_scales)?)
            }
            KernelKind::Matern52 => Box::new(Matern52::new(self.variance, &self.length_scales)?),
            KernelKind::Periodic => match &self.periods {
                Some(p) => Box::new(Periodic::new(self.variance, &self.length_scales, p)?),
                None => Box::new(Periodic::angles(self.variance, &self.length_scales)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernels() -> Vec<Box<dyn Kernel>> {
        vec![
            Box::new(SquaredExponential::new(1.7, &[0.6, 1.3]).unwrap()),
            Box::new(Matern52::new(0.8, &[0.9, 0.4]).unwrap()),
            Box::new(Periodic::new(2.1, &[0.8, 1.4], &[2.0 * PI, 3.0]).unwrap()),
        ]
    }

    /// Central differences of `k`, `∇k` with respect to `r`, and of everything with
    /// respect to each log-hyperparameter.
    #[test]
    fn derivatives_match_finite_differences() {
        let rs = [
            [0.3, -0.7],
            [1.1, 0.2],
            [-0.05, 0.02],
            [0.0, 0.0],
            [2.5, -1.9],
        ];
        let h = 1e-5;
        for kern in kernels() {
            let p = kern.n_params();
            for r in &rs {
                let mut e = KernelEval::new(2, p);
                kern.eval(r, true, &mut e);
                let mut ep = KernelEval::new(2, p);
                let mut em = KernelEval::new(2, p);
                for a in 0..2 {
                    let mut rp = *r;
                    let mut rm = *r;
                    rp[a] += h;
                    rm[a] -= h;
                    kern.eval(&rp, false, &mut ep);
                    kern.eval(&rm, false, &mut em);
                    let g = (ep.value - em.value) / (2.0 * h);
                    assert!(
                        (g - e.grad[a]).abs() < 1e-7,
                        "{kern:?} grad {r:?} {g} {}",
                        e.grad[a]
                    );
                    for b in 0..2 {
                        let hh = (ep.grad[b] - em.grad[b]) / (2.0 * h);
                        assert!(
                            (hh - e.hess[a * 2 + b]).abs() < 1e-6,
                            "{kern:?} hess {r:?} {hh} {}",
                            e.hess[a * 2 + b]
                        );
                    }
                }
                let lp = kern.log_params();
                for j in 0..p {
                    let mut kp = kern.boxed_clone();
                    let mut km = kern.boxed_clone();
                    let mut pp = lp.clone();
                    let mut pm = lp.clone();
                    pp[j] += h;
                    pm[j] -= h;
                    kp.set_log_params(&pp).unwrap();
                    km.set_log_params(&pm).unwrap();
                    kp.eval(r, false, &mut ep);
                    km.eval(r, false, &mut em);
                    let fd = (ep.value - em.value) / (2.0 * h);
                    assert!((fd - e.dvalue[j]).abs() < 1e-7, "{kern:?} dvalue {j}");
                    for a in 0..2 {
                        let fd = (ep.grad[a] - em.grad[a]) / (2.0 * h);
                        assert!(
                            (fd - e.dgrad[j * 2 + a]).abs() < 1e-6,
                            "{kern:?} dgrad {j} {a}"
                        );
                        for b in 0..2 {
                            let fd = (ep.hess[a * 2 + b] - em.hess[a * 2 + b]) / (2.0 * h);
                            let an = e.dhess[j * 4 + a * 2 + b];
                            assert!(
                                (fd - an).abs() < 1e-5 * (1.0 + an.abs()),
                                "{kern:?} dhess {j} {a}{b} r={r:?}: fd {fd} analytic {an}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn value_grad_path_equals_full_evaluation() {
        for k in kernels() {
            for r in [[0.3, -0.7], [1.1, 0.2], [0.0, 0.0], [-2.5, 3.1]] {
                let mut full = KernelEval::new(2, k.n_params());
                k.eval(&r, false, &mut full);
                let mut fast = KernelEval::new(2, k.n_params());
                k.eval_value_grad(&r, &mut fast);
                assert_eq!(fast.value, full.value, "{k:?} {r:?}");
                assert_eq!(fast.grad, full.grad, "{k:?} {r:?}");
            }
        }
    }

    #[test]
    fn argument_derivatives_follow_stationarity() {
        let k = SquaredExponential::new(1.3, &[0.7]).unwrap();
        let (x, y) = ([0.4], [-0.3]);
        let h = 1e-5;
        let mut gx = [0.0];
        let mut gy = [0.0];
        let mut hxy = [0.0];
        k.grad_x(&x, &y, &mut gx);
        k.grad_y(&x, &y, &mut gy);
        k.hess_xy(&x, &y, &mut hxy);
        let fdx = (k.value(&[x[0] + h], &y) - k.value(&[x[0] - h], &y)) / (2.0 * h);
        let fdy = (k.value(&x, &[y[0] + h]) - k.value(&x, &[y[0] - h])) / (2.0 * h);
        assert!((fdx - gx[0]).abs() < 1e-8);
        assert!((fdy - gy[0]).abs() < 1e-8);
        let mut a = [0.0];
        let mut b = [0.0];
        k.grad_x(&x, &[y[0] + h], &mut a);
        k.grad_x(&x, &[y[0] - h], &mut b);
        assert!(((a[0] - b[0]) / (2.0 * h) - hxy[0]).abs() < 1e-7);
    }

    #[test]
    fn closed_forms_at_known_points() {
        // Matérn 5/2 at ρ = 1: (1 + √5 + 5/3) e^{−√5}.
        let m = Matern52::new(2.0, &[0.5]).unwrap();
        let s5 = 5f64.sqrt();
        let want = 2.0 * (1.0 + s5 + 5.0 / 3.0) * (-s5).exp();
        assert!((m.value(&[0.5], &[0.0]) - want).abs() < 1e-14);
        // Periodic: one full period apart is the same point.
        let p = Periodic::angles(1.5, &[0.7]).unwrap();
        assert!((p.value(&[0.3], &[0.3 + 2.0 * PI]) - 1.5).abs() < 1e-12);
        // SE derivative-process variance σ²/ℓ².
        let se = SquaredExponential::new(3.0, &[0.5, 2.0]).unwrap();
        let mut h = [0.0; 4];
        se.hess_xy(&[0.1, 0.1], &[0.1, 0.1], &mut h);
        assert!((h[0] - 12.0).abs() < 1e-12 && (h[3] - 0.75).abs() < 1e-12);
        assert_eq!(h[1], 0.0);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(SquaredExponential::new(-1.0, &[1.0]).is_err());
        assert!(SquaredExponential::new(1.0, &[f64::NAN]).is_err());
        assert!(SquaredExponential::new(1.0, &[]).is_err());
        assert!(Periodic::new(1.0, &[1.0], &[0.0]).is_err());
        let mut k = SquaredExponential::new(1.0, &[1.0]).unwrap();
        assert!(k.set_log_params(&[0.0]).is_err());
        assert!(k.set_log_params(&[0.0, f64::INFINITY]).is_err());
        assert!("rbf".parse::<KernelKind>().is_err());
        assert_eq!(
            "matern52".parse::<KernelKind>().unwrap(),
            KernelKind::Matern52
        );
    }
}
