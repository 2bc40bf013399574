//! Biases on collective variables, acting on atoms through the CV's Jacobian.
//!
//! A [`Bias`] couples a [`CollectiveVariable`] with a [`BiasEnergy`] `U(ξ)` and is a
//! [`thermograd_md::Potential`]: forces `f_i = −Σ_c (∂U/∂ξ_c) ∂ξ_c/∂r_i` and virial
//! `W = −Σ_c (∂U/∂ξ_c) S_cᵀ` (md's `W = Σ r ⊗ f` convention) from the CV's strain
//! derivative `S_c`, so biases are correct
//! under periodic boundaries and barostats.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use thermograd_md::{Configuration, Evaluation, MdError, Potential};

use crate::cv::{periodic_difference, CollectiveVariable, CvValue};
use crate::error::{CvError, Result};

/// An energy as a function of CV values: returns `U(ξ)` (energy units) and writes
/// `∂U/∂ξ_c` into `gradient`. `periods[c]` is the period of component `c`, if any.
pub trait BiasEnergy: Send + Sync + Debug {
    /// Energy and its gradient at `xi`.
    fn energy(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64;
    /// Number of CV components it expects.
    fn dim(&self) -> usize;
    /// Checks that the energy can be used with CV components of these `periods`
    /// (called by [`Bias::new`]); by default every CV is accepted.
    fn check_periods(&self, periods: &[Option<f64>]) -> Result<()> {
        let _ = periods;
        Ok(())
    }
}

fn check_vector(what: &str, values: &[f64], dim: usize, positive: bool) -> Result<()> {
    if values.len() != dim {
        return Err(CvError::InvalidDefinition {
            reason: format!("{what} has {} entries, expected {dim}", values.len()),
        });
    }
    if values
        .iter()
        .any(|v| !v.is_finite() || (positive && *v <= 0.0))
    {
        return Err(CvError::InvalidDefinition {
            reason: format!(
                "{what} must be finite{}: {values:?}",
                if positive { " and positive" } else { "" }
            ),
        });
    }
    Ok(())
}

/// Harmonic restraint (an umbrella window) `U = ½ Σ_c κ_c (ξ_c − ξ0_c)²`, differences
/// taken the short way round for periodic components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Harmonic {
    center: Vec<f64>,
    kappa: Vec<f64>,
}

impl Harmonic {
    /// Restraint at `center` (CV units) with force constants `kappa` (energy / CV unit²).
    pub fn new(center: Vec<f64>, kappa: Vec<f64>) -> Result<Self> {
        check_vector("restraint center", &center, center.len(), false)?;
        check_vector("force constants", &kappa, center.len(), true)?;
        Ok(Harmonic { center, kappa })
    }

    /// The restraint center.
    pub fn center(&self) -> &[f64] {
        &self.center
    }

    /// The force constants.
    pub fn kappa(&self) -> &[f64] {
        &self.kappa
    }
}

impl BiasEnergy for Harmonic {
    fn energy(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        let mut u = 0.0;
        for c in 0..self.center.len() {
            let d = periodic_difference(xi[c], self.center[c], periods[c]);
            u += 0.5 * self.kappa[c] * d * d;
            gradient[c] = self.kappa[c] * d;
        }
        u
    }
    fn dim(&self) -> usize {
        self.center.len()
    }
}

/// Flat-bottom walls: zero between `lower` and `upper`, harmonic `½ κ (excess)²` outside.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatBottom {
    lower: Vec<f64>,
    upper: Vec<f64>,
    kappa: Vec<f64>,
}

impl FlatBottom {
    /// Walls per component (`lower ≤ upper`, CV units; use ±∞ for a one-sided wall).
    pub fn new(lower: Vec<f64>, upper: Vec<f64>, kappa: Vec<f64>) -> Result<Self> {
        let dim = lower.len();
        check_vector("wall force constants", &kappa, dim, true)?;
        if upper.len() != dim
            || lower
                .iter()
                .zip(&upper)
                .any(|(l, u)| l.is_nan() || u.is_nan() || l > u)
        {
            return Err(CvError::InvalidDefinition {
                reason: format!("walls need lower ≤ upper per component: {lower:?} / {upper:?}"),
            });
        }
        Ok(FlatBottom {
            lower,
            upper,
            kappa,
        })
    }
}

impl BiasEnergy for FlatBottom {
    fn energy(&self, xi: &[f64], _periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        let mut u = 0.0;
        for c in 0..self.kappa.len() {
            let excess = if xi[c] > self.upper[c] {
                xi[c] - self.upper[c]
            } else if xi[c] < self.lower[c] {
                xi[c] - self.lower[c]
            } else {
                0.0
            };
            u += 0.5 * self.kappa[c] * excess * excess;
            gradient[c] = self.kappa[c] * excess;
        }
        u
    }
    fn dim(&self) -> usize {
        self.kappa.len()
    }
}

/// A moving (steered) harmonic restraint whose center moves at constant velocity:
/// `ξ0(t) = start + velocity · t`. The driver sets the time with [`Moving::set_time`]
/// (it is shared with the running simulation, hence atomic).
#[derive(Debug)]
pub struct Moving {
    start: Vec<f64>,
    velocity: Vec<f64>,
    kappa: Vec<f64>,
    time_bits: AtomicU64,
}

impl Moving {
    /// Restraint starting at `start` (CV units) moving at `velocity` (CV units / time).
    pub fn new(start: Vec<f64>, velocity: Vec<f64>, kappa: Vec<f64>) -> Result<Self> {
        let dim = start.len();
        check_vector("restraint start", &start, dim, false)?;
        check_vector("restraint velocity", &velocity, dim, false)?;
        check_vector("force constants", &kappa, dim, true)?;
        Ok(Moving {
            start,
            velocity,
            kappa,
            time_bits: AtomicU64::new(0f64.to_bits()),
        })
    }

    /// Sets the current time (time units).
    pub fn set_time(&self, time: f64) {
        self.time_bits.store(time.to_bits(), Ordering::Relaxed);
    }

    /// The current restraint center.
    pub fn center(&self) -> Vec<f64> {
        let t = f64::from_bits(self.time_bits.load(Ordering::Relaxed));
        self.start
            .iter()
            .zip(&self.velocity)
            .map(|(s, v)| s + v * t)
            .collect()
    }
}

impl BiasEnergy for Moving {
    fn energy(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        let center = self.center();
        let mut u = 0.0;
        for c in 0..center.len() {
            let d = periodic_difference(xi[c], center[c], periods[c]);
            u += 0.5 * self.kappa[c] * d * d;
            gradient[c] = self.kappa[c] * d;
        }
        u
    }
    fn dim(&self) -> usize {
        self.start.len()
    }
}

/// Parameters of [`Metadynamics`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadynamicsConfig {
    /// Lower bound per component of the grid on which the free energy is reported
    /// (CV units).
    pub lower: Vec<f64>,
    /// Upper grid bound per component (CV units).
    pub upper: Vec<f64>,
    /// Grid points per component (≥ 2).
    pub bins: Vec<usize>,
    /// Gaussian widths σ per component (CV units).
    pub sigma: Vec<f64>,
    /// Initial Gaussian height w (energy units).
    pub height: f64,
    /// Bias factor γ = (T + ΔT)/T > 1 of well-tempered metadynamics.
    pub bias_factor: f64,
    /// Temperature as kT (energy units).
    pub kt: f64,
    /// How the bias is stored: the exact sum over hills (the default, and what
    /// configurations written without this field load as) or a Hermite grid.
    #[serde(default)]
    pub storage: BiasStorage,
}

/// How [`Metadynamics`] stores its bias.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasStorage {
    /// Every evaluation sums all deposited Gaussians: exact, at a cost proportional to
    /// the number of hills.
    #[default]
    Exact,
    /// Values and derivatives on the nodes of a regular grid, interpolated by
    /// tensor-product cubic Hermite polynomials: the cost of an evaluation does not
    /// depend on the number of hills (see [`Metadynamics`]).
    Grid(BiasGridConfig),
}

fn default_cutoff() -> f64 {
    6.25
}

/// The grid of [`BiasStorage::Grid`] (one entry per CV component in each vector).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiasGridConfig {
    /// Lower edge per component (CV units); for a periodic component, where one period
    /// starts.
    pub lower: Vec<f64>,
    /// Upper edge per component (CV units); for a periodic component it must be
    /// `lower + period` (relative tolerance 10⁻⁶).
    pub upper: Vec<f64>,
    /// Intervals per component (≥ 2; PLUMED's `GRID_BIN`): the spacing is
    /// `(upper − lower)/intervals`, with `intervals + 1` nodes on a non-periodic
    /// component and `intervals` on a periodic one, whose node at `upper` is the node
    /// at `lower`. A spacing of σ/2 or finer keeps the interpolation error below
    /// 5·10⁻⁴ of a hill's height (see [`Metadynamics`]).
    pub intervals: Vec<usize>,
    /// A deposit updates the nodes within `cutoff` σ of the hill's center (the
    /// ellipsoid `Σ_c (d_c/σ_c)² ≤ cutoff²`; dimensionless, default 6.25). The
    /// Gaussian dropped beyond it is below `exp(−cutoff²/2)` of its height
    /// (3.4·10⁻⁹ at 6.25).
    #[serde(default = "default_cutoff")]
    pub cutoff: f64,
}

/// Largest CV dimension a bias grid supports (a node holds 2^d numbers).
const MAX_GRID_DIM: usize = 4;
/// Largest number of stored values of a bias grid (8 bytes each: 1 GiB).
const MAX_GRID_VALUES: usize = 1 << 27;

/// One deposited Gaussian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Hill {
    center: Vec<f64>,
    height: f64,
}

/// The fixed layout of a Hermite bias grid; the node values live in [`HillStore`].
#[derive(Debug)]
struct GridLayout {
    lower: Vec<f64>,
    spacing: Vec<f64>,
    /// Nodes per component.
    nodes: Vec<usize>,
    /// Node-index stride per component (component 0 varies slowest).
    strides: Vec<usize>,
    periods: Vec<Option<f64>>,
    sigma: Vec<f64>,
    cutoff: f64,
}

// Loops over CV components index several per-component arrays at once, as the formulas do.
#[allow(clippy::needless_range_loop)]
impl GridLayout {
    fn new(grid: &BiasGridConfig, sigma: &[f64], periods: &[Option<f64>]) -> Result<Self> {
        let dim = sigma.len();
        let invalid = |reason: String| Err(CvError::InvalidDefinition { reason });
        check_vector("bias grid lower bounds", &grid.lower, dim, false)?;
        check_vector("bias grid upper bounds", &grid.upper, dim, false)?;
        if grid.intervals.len() != dim || periods.len() != dim {
            return invalid(format!(
                "the bias grid has {} interval counts and {} periods for {dim} components",
                grid.intervals.len(),
                periods.len()
            ));
        }
        if dim > MAX_GRID_DIM {
            return invalid(format!(
                "a bias grid supports at most {MAX_GRID_DIM} CV components, got {dim}"
            ));
        }
        if !(grid.cutoff.is_finite() && grid.cutoff > 0.0) {
            return invalid(format!(
                "the bias grid's cutoff must be positive, got {}",
                grid.cutoff
            ));
        }
        let mut nodes = Vec::with_capacity(dim);
        let mut spacing = Vec::with_capacity(dim);
        for c in 0..dim {
            let (lower, upper, intervals) = (grid.lower[c], grid.upper[c], grid.intervals[c]);
            if intervals < 2 || lower >= upper {
                return invalid(format!(
                    "bias grid component {c} needs lower < upper and ≥ 2 intervals \
                     (got {lower}, {upper}, {intervals})"
                ));
            }
            match periods[c] {
                Some(p) => {
                    if ((upper - lower) - p).abs() > 1e-6 * p.abs() {
                        return invalid(format!(
                            "bias grid component {c} is periodic with period {p}: the grid must \
                             span exactly one period, got [{lower}, {upper}]"
                        ));
                    }
                    nodes.push(intervals);
                    spacing.push(p / intervals as f64);
                }
                None => {
                    nodes.push(intervals + 1);
                    spacing.push((upper - lower) / intervals as f64);
                }
            }
        }
        let total = nodes
            .iter()
            .try_fold(1usize << dim, |acc, &n| acc.checked_mul(n))
            .filter(|&t| t <= MAX_GRID_VALUES);
        if total.is_none() {
            return invalid(format!(
                "a bias grid of {nodes:?} nodes with 2^{dim} values each exceeds \
                 {MAX_GRID_VALUES} values"
            ));
        }
        let mut strides = vec![1; dim];
        for c in (0..dim.saturating_sub(1)).rev() {
            strides[c] = strides[c + 1] * nodes[c + 1];
        }
        Ok(GridLayout {
            lower: grid.lower.clone(),
            spacing,
            nodes,
            strides,
            periods: periods.to_vec(),
            sigma: sigma.to_vec(),
            cutoff: grid.cutoff,
        })
    }

    fn dim(&self) -> usize {
        self.nodes.len()
    }

    /// Number of stored values: 2^d per node.
    fn len(&self) -> usize {
        self.nodes.iter().product::<usize>() << self.dim()
    }

    /// The two nodes around `x` along component `c` and the fraction `t ∈ [0, 1]` of
    /// the way from the first to the second; `None` off a non-periodic grid.
    fn locate(&self, c: usize, x: f64) -> Option<(usize, usize, f64)> {
        let u = (x - self.lower[c]) / self.spacing[c];
        let n = self.nodes[c];
        if self.periods[c].is_some() {
            if !u.is_finite() {
                return None;
            }
            let u = u.rem_euclid(n as f64);
            let i = (u.floor() as usize).min(n - 1);
            Some((i, (i + 1) % n, (u - i as f64).min(1.0)))
        } else {
            if !(u >= 0.0 && u <= (n - 1) as f64) {
                return None;
            }
            let i = (u.floor() as usize).min(n - 2);
            Some((i, i + 1, u - i as f64))
        }
    }

    /// The Hermite interpolant at `xi` and its exact gradient (written to `gradient`);
    /// `None` off the grid.
    ///
    /// Per component, on a cell of width h with t = (x − x₀)/h, the interpolant is
    /// `V₀ h₀₀(t) + h V'₀ h₁₀(t) + V₁ h₀₁(t) + h V'₁ h₁₁(t)` with the cubic Hermite basis
    /// `h₀₀ = (1 + 2t)(1 − t)²`, `h₁₀ = t(1 − t)²`, `h₀₁ = t²(3 − 2t)`, `h₁₁ = −t²(1 − t)`;
    /// in d dimensions the tensor product over the 2^d corners and the 2^d mixed
    /// partials stored at each.
    fn interpolate(&self, values: &[f64], xi: &[f64], gradient: &mut [f64]) -> Option<f64> {
        let dim = self.dim();
        let mut offset = [[0usize; 2]; MAX_GRID_DIM];
        // basis[c][2k + m]: corner k ∈ {0, 1}, derivative order m ∈ {0, 1}.
        let mut basis = [[0.0f64; 4]; MAX_GRID_DIM];
        let mut slope = [[0.0f64; 4]; MAX_GRID_DIM];
        for c in 0..dim {
            let (i0, i1, t) = self.locate(c, xi[c])?;
            let h = self.spacing[c];
            let s = 1.0 - t;
            offset[c] = [i0 * self.strides[c], i1 * self.strides[c]];
            basis[c] = [
                (1.0 + 2.0 * t) * s * s,
                h * t * s * s,
                t * t * (3.0 - 2.0 * t),
                -h * t * t * s,
            ];
            slope[c] = [
                -6.0 * t * s / h,
                s * (1.0 - 3.0 * t),
                6.0 * t * s / h,
                t * (3.0 * t - 2.0),
            ];
        }
        let per_node = 1usize << dim;
        let mut value = 0.0;
        gradient[..dim].iter_mut().for_each(|g| *g = 0.0);
        let mut which = [0usize; MAX_GRID_DIM];
        for corner in 0..per_node {
            let node: usize = (0..dim).map(|c| offset[c][(corner >> c) & 1]).sum();
            let stored = &values[node * per_node..(node + 1) * per_node];
            for (mask, &coefficient) in stored.iter().enumerate() {
                if coefficient == 0.0 {
                    continue;
                }
                for c in 0..dim {
                    which[c] = 2 * ((corner >> c) & 1) + ((mask >> c) & 1);
                }
                value += (0..dim).fold(coefficient, |p, c| p * basis[c][which[c]]);
                for (g, grad) in gradient[..dim].iter_mut().enumerate() {
                    *grad += (0..dim).fold(coefficient, |p, c| {
                        p * if c == g {
                            slope[c][which[c]]
                        } else {
                            basis[c][which[c]]
                        }
                    });
                }
            }
        }
        Some(value)
    }

    /// Adds a Gaussian of `height` at `center` to the node values and their mixed
    /// partial derivatives (analytic: the Gaussian is a product over components).
    fn add_gaussian(&self, values: &mut [f64], center: &[f64], height: f64) {
        let dim = self.dim();
        // Per component: the nodes within reach, as (index offset, (d/σ)², [g, g']) with
        // g = exp(−d²/2σ²) and g' its derivative.
        let mut axes: Vec<Vec<(usize, f64, [f64; 2])>> = Vec::with_capacity(dim);
        for c in 0..dim {
            let (h, s, n) = (self.spacing[c], self.sigma[c], self.nodes[c]);
            let reach = self.cutoff * s;
            let lo = ((center[c] - reach - self.lower[c]) / h).ceil();
            let hi = ((center[c] + reach - self.lower[c]) / h).floor();
            let mut axis = Vec::new();
            let mut push = |node: usize| {
                let x = self.lower[c] + node as f64 * h;
                let d = periodic_difference(x, center[c], self.periods[c]);
                let z2 = (d / s) * (d / s);
                let g = (-0.5 * z2).exp();
                axis.push((node * self.strides[c], z2, [g, -d / (s * s) * g]));
            };
            if self.periods[c].is_some() {
                // Each node once, with the nearest image of the center (as the exact sum).
                if hi - lo + 1.0 >= n as f64 {
                    (0..n).for_each(&mut push);
                } else if lo <= hi {
                    for j in lo as i64..=hi as i64 {
                        push(j.rem_euclid(n as i64) as usize);
                    }
                }
            } else {
                let (lo, hi) = (lo.max(0.0), hi.min((n - 1) as f64));
                if lo <= hi {
                    (lo as usize..=hi as usize).for_each(&mut push);
                }
            }
            if axis.is_empty() {
                return;
            }
            axes.push(axis);
        }
        let per_node = 1usize << dim;
        let cutoff2 = self.cutoff * self.cutoff;
        let mut position = vec![0usize; dim];
        loop {
            let (mut node, mut z2) = (0, 0.0);
            for c in 0..dim {
                let (offset, z, _) = axes[c][position[c]];
                node += offset;
                z2 += z;
            }
            if z2 <= cutoff2 {
                for mask in 0..per_node {
                    values[node * per_node + mask] +=
                        (0..dim).fold(height, |p, c| p * axes[c][position[c]].2[(mask >> c) & 1]);
                }
            }
            // Next node of the box, last component fastest.
            let mut c = dim;
            loop {
                if c == 0 {
                    return;
                }
                c -= 1;
                position[c] += 1;
                if position[c] < axes[c].len() {
                    break;
                }
                position[c] = 0;
            }
        }
    }
}

/// The hills and, with grid storage, the node values (`2^d` per node: the bias and its
/// mixed partials, component `c` differentiated where bit `c` of the slot is set).
#[derive(Debug, Default)]
struct HillStore {
    hills: Vec<Hill>,
    grid: Vec<f64>,
}

/// The exact sum of Gaussians at `xi`, its gradient written to `gradient`.
fn exact_sum(
    hills: &[Hill],
    sigma: &[f64],
    xi: &[f64],
    periods: &[Option<f64>],
    gradient: &mut [f64],
) -> f64 {
    gradient.iter_mut().for_each(|g| *g = 0.0);
    let mut value = 0.0;
    let mut d = vec![0.0; sigma.len()];
    for hill in hills {
        let mut exponent = 0.0;
        for c in 0..d.len() {
            d[c] = periodic_difference(xi[c], hill.center[c], periods[c]);
            exponent += d[c] * d[c] / (2.0 * sigma[c] * sigma[c]);
        }
        let g = hill.height * (-exponent).exp();
        value += g;
        for c in 0..d.len() {
            gradient[c] -= g * d[c] / (sigma[c] * sigma[c]);
        }
    }
    value
}

/// Well-tempered metadynamics (Barducci, Bussi & Parrinello, PRL 100, 020603, 2008):
/// each deposit at ξ_t adds a Gaussian of height `w·exp(−V(ξ_t)/(kΔT))`,
/// `kΔT = (γ − 1) kT`, and width σ per component.
///
/// **Storage** ([`MetadynamicsConfig::storage`]). With [`BiasStorage::Exact`] the bias
/// and its gradient are the exact sum of the deposited Gaussians; the cost per
/// evaluation grows with the number of hills, fine for thousands of deposits but slow
/// for 10⁵. With [`BiasStorage::Grid`] (as PLUMED's `GRID_*` options) each deposit
/// adds the Gaussian's value and all its 2^d mixed partial derivatives (analytic: a
/// Gaussian is a product over components) to the grid nodes within the cutoff, and an
/// evaluation is the tensor-product cubic Hermite interpolant of those node data (4^d
/// terms). The interpolant is C¹ and the reported gradient is its exact derivative, so
/// bias forces are conservative for the energy that is reported (unlike a multilinear
/// grid, whose forces are not the gradient of its energy); constant-energy dynamics
/// with a grid bias conserves energy. For one 1-D Gaussian the interpolation error is
/// at most `(h/σ)⁴ w/128` (`h⁴ max|V''''|/384`), 4.9·10⁻⁴ w at a spacing h = σ/2,
/// and the gradient error is O(h³); in d dimensions the errors of the components add.
///
/// **Off the grid.** On a non-periodic component outside `[lower, upper]` the bias
/// falls back to the exact sum over the hills (always kept: they are the run's record
/// and what the outputs list), and such evaluations are counted
/// ([`Metadynamics::outside_grid_evaluations`]). The fallback is correct but slow and
/// differs from the interpolant at the grid's edge by the interpolation error, so make
/// the grid cover everywhere the walls let the CV go. Periodic components wrap: the
/// grid spans exactly one period with no duplicated node.
///
/// The well-tempered height uses the bias at the deposit point from the same
/// representation the dynamics feels (the interpolant on the grid). The configured
/// reporting grid is where [`Metadynamics::free_energy`] reports
/// `F(ξ) = −γ/(γ − 1) · V(ξ)` + const, the long-time limit of well-tempered
/// metadynamics. Periodic components use the short difference.
#[derive(Debug)]
pub struct Metadynamics {
    config: MetadynamicsConfig,
    grid: Option<GridLayout>,
    store: RwLock<HillStore>,
    deposits: AtomicU64,
    outside: AtomicU64,
}

impl Metadynamics {
    /// A flat (zero) bias; a bias grid treats every component as non-periodic (use
    /// [`Metadynamics::with_periods`] for a CV with periodic components).
    pub fn new(config: MetadynamicsConfig) -> Result<Self> {
        let periods = vec![None; config.lower.len()];
        Self::with_periods(config, &periods)
    }

    /// A flat (zero) bias for a CV whose components have `periods` (CV units; `None`
    /// for a non-periodic component), which lay out a bias grid: a periodic component's
    /// grid must span one period. [`Bias::new`] checks that they are the CV's.
    pub fn with_periods(config: MetadynamicsConfig, periods: &[Option<f64>]) -> Result<Self> {
        let dim = config.lower.len();
        check_vector("grid lower bounds", &config.lower, dim, false)?;
        check_vector("grid upper bounds", &config.upper, dim, false)?;
        check_vector("Gaussian widths", &config.sigma, dim, true)?;
        if dim == 0
            || config.bins.len() != dim
            || config.bins.iter().any(|&b| b < 2)
            || config.lower.iter().zip(&config.upper).any(|(l, u)| l >= u)
            || !(config.height.is_finite() && config.height > 0.0)
            || !(config.bias_factor.is_finite() && config.bias_factor > 1.0)
            || !(config.kt.is_finite() && config.kt > 0.0)
        {
            return Err(CvError::InvalidDefinition {
                reason: "metadynamics needs ≥ 2 grid bins per component, lower < upper, \
                         height > 0, bias factor > 1 and kT > 0"
                    .into(),
            });
        }
        if periods.len() != dim
            || periods
                .iter()
                .flatten()
                .any(|p| !(p.is_finite() && *p > 0.0))
        {
            return Err(CvError::InvalidDefinition {
                reason: format!(
                    "metadynamics on {dim} components got periods {periods:?} (must be \
                     positive)"
                ),
            });
        }
        let grid = match &config.storage {
            BiasStorage::Exact => None,
            BiasStorage::Grid(grid) => Some(GridLayout::new(grid, &config.sigma, periods)?),
        };
        let store = HillStore {
            hills: Vec::new(),
            grid: vec![0.0; grid.as_ref().map_or(0, GridLayout::len)],
        };
        Ok(Metadynamics {
            config,
            grid,
            store: RwLock::new(store),
            deposits: AtomicU64::new(0),
            outside: AtomicU64::new(0),
        })
    }

    fn dim(&self) -> usize {
        self.config.lower.len()
    }

    /// The configuration.
    pub fn config(&self) -> &MetadynamicsConfig {
        &self.config
    }

    /// The bias and its gradient from the stored representation; `count` says whether
    /// an evaluation off the grid is counted.
    fn bias(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64], count: bool) -> f64 {
        let store = self.store.read().expect("metadynamics hills lock poisoned");
        if let Some(grid) = &self.grid {
            assert_eq!(
                periods,
                &grid.periods[..],
                "metadynamics grid laid out for other periods"
            );
            if let Some(v) = grid.interpolate(&store.grid, xi, gradient) {
                return v;
            }
            if count {
                self.outside.fetch_add(1, Ordering::Relaxed);
            }
        }
        exact_sum(&store.hills, &self.config.sigma, xi, periods, gradient)
    }

    /// The bias V(ξ) (energy units) as the dynamics feels it, without counting an
    /// evaluation off the grid.
    pub fn value(&self, xi: &[f64], periods: &[Option<f64>]) -> f64 {
        let mut scratch = vec![0.0; self.dim()];
        self.bias(xi, periods, &mut scratch, false)
    }

    /// Adds one well-tempered Gaussian at `xi`; returns its height (energy units). The
    /// height uses the bias at `xi` as the dynamics feels it (grid or exact sum).
    pub fn deposit(&self, xi: &[f64], periods: &[Option<f64>]) -> f64 {
        let mut scratch = vec![0.0; self.dim()];
        let current = self.bias(xi, periods, &mut scratch, true);
        let kdt = (self.config.bias_factor - 1.0) * self.config.kt;
        let height = self.config.height * (-current / kdt).exp();
        let mut store = self
            .store
            .write()
            .expect("metadynamics hills lock poisoned");
        if let Some(grid) = &self.grid {
            grid.add_gaussian(&mut store.grid, xi, height);
        }
        store.hills.push(Hill {
            center: xi.to_vec(),
            height,
        });
        self.deposits.fetch_add(1, Ordering::Relaxed);
        height
    }

    /// Number of Gaussians deposited.
    pub fn deposits(&self) -> u64 {
        self.deposits.load(Ordering::Relaxed)
    }

    /// Number of evaluations (through [`BiasEnergy::energy`] and
    /// [`Metadynamics::deposit`]) that fell off a non-periodic component of the bias grid
    /// and used the exact sum instead; always 0 with [`BiasStorage::Exact`].
    pub fn outside_grid_evaluations(&self) -> u64 {
        self.outside.load(Ordering::Relaxed)
    }

    /// The reporting grid's nodes (components vary slowest first) and the free-energy
    /// estimate `−γ/(γ − 1) V` at each, shifted so its minimum is zero.
    pub fn free_energy(&self, periods: &[Option<f64>]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let dim = self.dim();
        let nodes: usize = self.config.bins.iter().product();
        let factor = -self.config.bias_factor / (self.config.bias_factor - 1.0);
        let mut coordinates = Vec::with_capacity(nodes);
        let mut f = Vec::with_capacity(nodes);
        for index in 0..nodes {
            let mut rest = index;
            let mut x = vec![0.0; dim];
            for c in (0..dim).rev() {
                let i = rest % self.config.bins[c];
                rest /= self.config.bins[c];
                let step = (self.config.upper[c] - self.config.lower[c])
                    / (self.config.bins[c] - 1) as f64;
                x[c] = self.config.lower[c] + i as f64 * step;
            }
            f.push(factor * self.value(&x, periods));
            coordinates.push(x);
        }
        let min = f.iter().copied().fold(f64::INFINITY, f64::min);
        (coordinates, f.into_iter().map(|x| x - min).collect())
    }
}

impl BiasEnergy for Metadynamics {
    fn energy(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        self.bias(xi, periods, gradient, true)
    }
    fn dim(&self) -> usize {
        self.config.lower.len()
    }
    fn check_periods(&self, periods: &[Option<f64>]) -> Result<()> {
        match &self.grid {
            Some(grid) if grid.periods != periods => Err(CvError::InvalidDefinition {
                reason: format!(
                    "the metadynamics grid was laid out for periods {:?}, the CV has {periods:?} \
                     (build it with Metadynamics::with_periods)",
                    grid.periods
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// A CV bias as an MD potential. Both parts are shared (`Arc`), so a driver can keep a
/// handle to move a restraint or deposit metadynamics hills while the simulation owns
/// the potential.
#[derive(Debug, Clone)]
pub struct Bias {
    cv: Arc<dyn CollectiveVariable>,
    energy: Arc<dyn BiasEnergy>,
    periods: Vec<Option<f64>>,
}

impl Bias {
    /// Couples `cv` with `energy`; their dimensions must agree.
    pub fn new(cv: Arc<dyn CollectiveVariable>, energy: Arc<dyn BiasEnergy>) -> Result<Self> {
        if cv.dim() != energy.dim() {
            return Err(CvError::InvalidDefinition {
                reason: format!(
                    "bias expects {} CV components, `{}` has {}",
                    energy.dim(),
                    cv.name(),
                    cv.dim()
                ),
            });
        }
        let periods: Vec<Option<f64>> = (0..cv.dim()).map(|c| cv.period(c)).collect();
        energy.check_periods(&periods)?;
        Ok(Bias {
            cv,
            energy,
            periods,
        })
    }

    /// The CV.
    pub fn cv(&self) -> &Arc<dyn CollectiveVariable> {
        &self.cv
    }

    /// Periods of the CV's components.
    pub fn periods(&self) -> &[Option<f64>] {
        &self.periods
    }

    /// Bias energy, CV value and Jacobian at a configuration, and the bias forces added
    /// to `out`.
    fn apply(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        let mut value = CvValue::default();
        self.cv
            .evaluate(config.positions, config.simbox, &mut value)?;
        let mut gradient = vec![0.0; value.dim()];
        out.energy += self
            .energy
            .energy(&value.values, &self.periods, &mut gradient);
        for (c, &du) in gradient.iter().enumerate() {
            if du == 0.0 {
                continue;
            }
            for (k, &atom) in value.atoms.iter().enumerate() {
                out.forces[atom] -= value.gradient(c, k) * du;
            }
            out.virial -= value.strain[c].transpose() * du;
        }
        Ok(())
    }
}

impl Potential for Bias {
    fn cutoff(&self) -> Option<f64> {
        None
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        self.apply(config, out).map_err(|e| MdError::Potential {
            name: self.cv.name().to_owned(),
            source: Box::new(e),
        })
    }

    fn name(&self) -> &str {
        "cv-bias"
    }
}
