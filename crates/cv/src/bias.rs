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
}

/// One deposited Gaussian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Hill {
    center: Vec<f64>,
    height: f64,
}

/// Well-tempered metadynamics (Barducci, Bussi & Parrinello, PRL 100, 020603, 2008):
/// each deposit at ξ_t adds a Gaussian of height `w·exp(−V(ξ_t)/(kΔT))`,
/// `kΔT = (γ − 1) kT`, and width σ per component.
///
/// The bias and its gradient are the exact sum of the deposited Gaussians, so bias
/// forces are the exact derivative of the bias energy (a grid with multilinear
/// interpolation would give forces that are not the gradient of the energy it
/// reports). The cost per evaluation grows with the number of hills, which is fine for
/// the thousands of deposits of a typical run. The configured grid is where
/// [`Metadynamics::free_energy`] reports `F(ξ) = −γ/(γ − 1) · V(ξ)` + const, the
/// long-time limit of well-tempered metadynamics. Periodic components use the short
/// difference.
#[derive(Debug)]
pub struct Metadynamics {
    config: MetadynamicsConfig,
    hills: RwLock<Vec<Hill>>,
    deposits: AtomicU64,
}

impl Metadynamics {
    /// A flat (zero) bias.
    pub fn new(config: MetadynamicsConfig) -> Result<Self> {
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
        Ok(Metadynamics {
            config,
            hills: RwLock::new(Vec::new()),
            deposits: AtomicU64::new(0),
        })
    }

    fn dim(&self) -> usize {
        self.config.lower.len()
    }

    fn bias(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        gradient.iter_mut().for_each(|g| *g = 0.0);
        let hills = self.hills.read().expect("metadynamics hills lock poisoned");
        let mut value = 0.0;
        let mut d = vec![0.0; self.dim()];
        for hill in hills.iter() {
            let mut exponent = 0.0;
            for c in 0..d.len() {
                d[c] = periodic_difference(xi[c], hill.center[c], periods[c]);
                let s = self.config.sigma[c];
                exponent += d[c] * d[c] / (2.0 * s * s);
            }
            let g = hill.height * (-exponent).exp();
            value += g;
            for c in 0..d.len() {
                let s = self.config.sigma[c];
                gradient[c] -= g * d[c] / (s * s);
            }
        }
        value
    }

    /// Adds one well-tempered Gaussian at `xi`; returns its height (energy units).
    pub fn deposit(&self, xi: &[f64], periods: &[Option<f64>]) -> f64 {
        let mut scratch = vec![0.0; self.dim()];
        let current = self.bias(xi, periods, &mut scratch);
        let kdt = (self.config.bias_factor - 1.0) * self.config.kt;
        let height = self.config.height * (-current / kdt).exp();
        self.hills
            .write()
            .expect("metadynamics hills lock poisoned")
            .push(Hill {
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

    /// The reporting grid's nodes (components vary slowest first) and the free-energy
    /// estimate `−γ/(γ − 1) V` at each, shifted so its minimum is zero.
    pub fn free_energy(&self, periods: &[Option<f64>]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let dim = self.dim();
        let nodes: usize = self.config.bins.iter().product();
        let factor = -self.config.bias_factor / (self.config.bias_factor - 1.0);
        let mut scratch = vec![0.0; dim];
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
            f.push(factor * self.bias(&x, periods, &mut scratch));
            coordinates.push(x);
        }
        let min = f.iter().copied().fold(f64::INFINITY, f64::min);
        (coordinates, f.into_iter().map(|x| x - min).collect())
    }
}

impl BiasEnergy for Metadynamics {
    fn energy(&self, xi: &[f64], periods: &[Option<f64>], gradient: &mut [f64]) -> f64 {
        self.bias(xi, periods, gradient)
    }
    fn dim(&self) -> usize {
        self.config.lower.len()
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
        let periods = (0..cv.dim()).map(|c| cv.period(c)).collect();
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
