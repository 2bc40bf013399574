//! Instantaneous observables `a(r)` whose ensemble averages DiffTRe matches (chemtrain
//! §4.2.3): radial and angular distribution functions, pressure, density, energy, and
//! any user observable through the [`Observable`] trait.

use std::fmt::Debug;

use serde::{Deserialize, Serialize};
use thermograd_geometry::Mat3;
use thermograd_md::{AdfConfig, RdfConfig};
use thermograd_nn::Frame;

use crate::error::{config_error, Result};

/// What an observable sees of one sampled state.
#[derive(Clone, Copy, Debug)]
pub struct StateView<'a> {
    /// The configuration.
    pub frame: &'a Frame,
    /// `k_B T` of the ensemble (energy units).
    pub kt: f64,
    /// Total potential energy at the current parameters (energy units).
    pub energy: f64,
    /// Total virial `Σ r_ij ⊗ f_ij` at the current parameters (energy units).
    pub virial: Mat3,
}

/// An instantaneous observable `a(r; θ)` with values in `R^dim`.
///
/// Most observables depend on the configuration only (RDF, ADF, density); their
/// gradient reaches the parameters through the reweighting weights alone. Observables
/// that also depend on the parameters through the potential energy or the virial
/// (pressure, energy) say so with [`Observable::depends_on_model`] and give the
/// cotangent of `Σ_j c_j a_j` with respect to the state's energy and virial in
/// [`Observable::model_cotangent`] (the term `⟨∂a/∂θ w⟩` of chemtrain eq. 10).
///
/// A user observable, the mean squared distance of the atoms from the origin:
///
/// ```
/// use thermograd_train::{Observable, StateView};
///
/// #[derive(Debug)]
/// struct MeanSquareRadius;
///
/// impl Observable for MeanSquareRadius {
///     fn name(&self) -> &str { "msr" }
///     fn dim(&self) -> usize { 1 }
///     fn value(&self, s: &StateView<'_>) -> thermograd_train::Result<Vec<f64>> {
///         let p = &s.frame.positions;
///         Ok(vec![p.iter().map(|r| r.norm_squared()).sum::<f64>() / p.len() as f64])
///     }
/// }
/// ```
pub trait Observable: Send + Sync + Debug {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Number of components.
    fn dim(&self) -> usize;
    /// The value in one state.
    fn value(&self, state: &StateView<'_>) -> Result<Vec<f64>>;
    /// Whether the value depends on the parameters through the energy or virial.
    fn depends_on_model(&self) -> bool {
        false
    }
    /// `(∂/∂U, ∂/∂W)` of `Σ_j c_j a_j` in this state (only called when
    /// [`Observable::depends_on_model`]).
    fn model_cotangent(&self, state: &StateView<'_>, c: &[f64]) -> (f64, Mat3) {
        let _ = (state, c);
        (0.0, Mat3::zeros())
    }
}

/// The instantaneous radial distribution function `g_ab(r)` of one configuration
/// ([`thermograd_md::Rdf`] on a single frame): its ensemble average is the RDF.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RdfObservable {
    /// Range and bins.
    pub config: RdfConfig,
    /// First species.
    pub a: u32,
    /// Second species.
    pub b: u32,
}

impl RdfObservable {
    /// Bin centres (length units).
    pub fn bin_centres(&self) -> Vec<f64> {
        let dr = self.config.r_max / self.config.n_bins as f64;
        (0..self.config.n_bins)
            .map(|k| (k as f64 + 0.5) * dr)
            .collect()
    }
}

impl Observable for RdfObservable {
    fn name(&self) -> &str {
        "rdf"
    }

    fn dim(&self) -> usize {
        self.config.n_bins
    }

    fn value(&self, s: &StateView<'_>) -> Result<Vec<f64>> {
        let mut rdf = self.config.build()?;
        rdf.accumulate(&s.frame.positions, &s.frame.species, &s.frame.simbox)?;
        Ok(rdf.curve(self.a, self.b)?.g)
    }
}

/// The angular distribution of one configuration ([`thermograd_md::Adf`]); its
/// ensemble average (over frames with equal angle counts) is the ADF.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdfObservable {
    /// Neighbour cutoff, bins and species filters.
    pub config: AdfConfig,
}

impl Observable for AdfObservable {
    fn name(&self) -> &str {
        "adf"
    }

    fn dim(&self) -> usize {
        self.config.n_bins
    }

    fn value(&self, s: &StateView<'_>) -> Result<Vec<f64>> {
        let mut adf = self.config.build()?;
        adf.accumulate(&s.frame.positions, &s.frame.species, &s.frame.simbox)?;
        Ok(adf.curve().density)
    }
}

/// The pressure `P = (N k_B T + tr W / 3) / V` (energy/volume units): the kinetic part
/// is its exact canonical average, the virial part instantaneous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureObservable;

fn volume(s: &StateView<'_>) -> Result<f64> {
    s.frame
        .simbox
        .volume()
        .ok_or_else(|| config_error("observable", "pressure and density need a periodic box"))
}

impl Observable for PressureObservable {
    fn name(&self) -> &str {
        "pressure"
    }

    fn dim(&self) -> usize {
        1
    }

    fn value(&self, s: &StateView<'_>) -> Result<Vec<f64>> {
        let v = volume(s)?;
        let n = s.frame.positions.len() as f64;
        Ok(vec![(n * s.kt + s.virial.trace() / 3.0) / v])
    }

    fn depends_on_model(&self) -> bool {
        true
    }

    fn model_cotangent(&self, s: &StateView<'_>, c: &[f64]) -> (f64, Mat3) {
        let v = s.frame.simbox.volume().unwrap_or(f64::INFINITY);
        (0.0, Mat3::identity() * (c[0] / (3.0 * v)))
    }
}

/// The number density `N/V` (1/volume units); it varies under pressure coupling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DensityObservable;

impl Observable for DensityObservable {
    fn name(&self) -> &str {
        "density"
    }

    fn dim(&self) -> usize {
        1
    }

    fn value(&self, s: &StateView<'_>) -> Result<Vec<f64>> {
        Ok(vec![s.frame.positions.len() as f64 / volume(s)?])
    }
}

/// The potential energy per particle (energy units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyObservable;

impl Observable for EnergyObservable {
    fn name(&self) -> &str {
        "energy"
    }

    fn dim(&self) -> usize {
        1
    }

    fn value(&self, s: &StateView<'_>) -> Result<Vec<f64>> {
        Ok(vec![s.energy / s.frame.positions.len() as f64])
    }

    fn depends_on_model(&self) -> bool {
        true
    }

    fn model_cotangent(&self, s: &StateView<'_>, c: &[f64]) -> (f64, Mat3) {
        (c[0] / s.frame.positions.len() as f64, Mat3::zeros())
    }
}
