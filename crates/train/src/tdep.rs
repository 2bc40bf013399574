//! Temperature-dependent coarse-grained free energies learned from forces and energies
//! at several temperatures (Duschatko, Vandermause, Molinari & Kozinsky,
//! "Thermodynamically informed multimodal learning of high-dimensional free energy
//! models in molecular coarse graining", 2024).
//!
//! # Physics
//!
//! The free energy (potential of mean force) `A(R; T)` of coarse-grained (CG)
//! coordinates `R` at temperature `T` (`kT` = `1/β`, energy units) obeys two relations
//! whose right-hand sides are conditional averages over the fine-grained states that
//! map to `R`:
//!
//! - **force matching**, `−∇_R A(R; T) = ⟨F_mapped⟩_R`: the instantaneous mapped force
//!   of one sample is an unbiased, noisy target for the model force;
//! - **the thermodynamic (energy) relation**, `∂(βA)/∂β (R; T) = ⟨u⟩_R`, the conditional
//!   mean of the fine-grained potential energy `u`: the instantaneous `u` of one sample
//!   is likewise an unbiased, noisy target.
//!
//! A model with explicit temperature dependence is trained on samples drawn at several
//! temperatures by minimising
//!
//! `L = w_F · mean_{s,i,c} (F_model − F_inst)² + w_U · mean_s (∂(βA)/∂β − u_inst)²`
//!
//! ([`TdepWeights`], [`tdep_loss`]). With the force term alone `A` is defined only up to
//! an arbitrary function `c(T)` added at each temperature. The energy term pins the
//! absolute level except for `c(T) = c·kT`: `∂(β·c/β)/∂β = 0`, so an additive `c·kT`
//! (an entropy constant) is invisible to both targets and is fixed only by the model's
//! prior or initialisation. Compare free energies at one temperature up to a constant,
//! and across temperatures up to `c·kT`; `∂(βA)/∂β` itself is fully determined.
//!
//! # Models
//!
//! Both models share a small temperature basis ([`TemperatureTerm`]) in the reduced
//! temperature `t = kT/kT_ref`: `{1, t, t ln t}`. A system whose entropy and energy vary
//! with a constant heat capacity `C` has exactly `A = E₀ + C T − T S₀ − C T ln T`, so the
//! three terms are the energy, the entropy and the heat-capacity parts of `A = E − TS`;
//! their contributions to `∂(βA)/∂β = A − T ∂A/∂T` are `1`, `0` and `−t`.
//!
//! - [`KernelFreeEnergy`] (from [`KernelFreeEnergyConfig::fit`]): Bayesian linear
//!   regression, i.e. a Gaussian process with the finite-rank kernel of its features,
//!   `A(R; T) = ū + Σ_j Σ_m w_jm g_m(t) φ_j(R)`, where `φ_j(R) = Σ_pairs s_j(r)` are the
//!   cardinal natural cubic splines of [`SplinePair`] (one per free knot and species
//!   pair) plus one configuration-independent feature `φ = 1` that carries `c(T)`, and
//!   `ū` is the mean of the training energies (a fixed offset outside the prior); the
//!   part of `c(T)` no target sees (`c·kT`, or all of it without energies) is fixed at
//!   zero. Forces
//!   and `∂(βA)/∂β` are linear in `w`, so the fit is one Cholesky solve of the normal
//!   equations (faer, no explicit inverse), and the posterior gives a standard deviation
//!   of `A`.
//! - [`NnFreeEnergy`] (from [`NnFreeEnergyConfig::build`], trained by
//!   [`NnFreeEnergy::train`]): `A(R; T) = ū + Σ_m c_m g_m(t) + Σ_pairs f_c(r) y(r, t)`
//!   with `y` a multilayer perceptron ([`thermograd_nn::Mlp`]) of the pair distance and
//!   the reduced temperature, `f_c` a C² switch to zero at the cutoff. Forces come from
//!   the input gradient along `r`, `∂(βA)/∂β` from the derivative along `t`; the
//!   parameter gradient of the loss takes one backward pass through the MLP's taped
//!   forward-mode tangents, and Adam ([`OptimizerConfig`]) does the updates.
//!
//! [`HiddenHarmonicDimer`] is an analytic benchmark: a CG dimer whose hidden
//! fine-grained coordinates have a distance-dependent stiffness, with exact `A(r; T)`,
//! mean force, `⟨u⟩_r` and exact Boltzmann sampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_gpr::linalg::Cholesky;
use thermograd_md::Evaluation;
use thermograd_neighbors::{CellList, ListKind};
use thermograd_nn::{Activation, Frame, Matrix, Mlp, MlpConfig, Normalization, Trainable};

use crate::data::{batch_indices, Structure};
use crate::error::{config_error, Result, TrainError};
use crate::model::EnergyModel;
use crate::optim::OptimizerConfig;
use crate::spline::{SplinePair, SplinePairConfig};

/// One coarse-grained sample at a temperature.
///
/// `structure.forces` holds the instantaneous mapped forces (energy/length units) and
/// `structure.energy` the instantaneous fine-grained potential energy `u` (energy
/// units) of the fine-grained state the sample was mapped from; the energy may be
/// absent when only forces are matched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemperatureSample {
    /// CG positions, species, box and the labels above.
    pub structure: Structure,
    /// `kT` of the ensemble the sample was drawn from (energy units).
    pub kt: f64,
}

impl TemperatureSample {
    /// A sample of `structure` drawn at `kt` (energy units).
    pub fn new(structure: Structure, kt: f64) -> Self {
        TemperatureSample { structure, kt }
    }

    /// Checks the structure, a positive finite `kt`, the forces and, when
    /// `need_energy`, the energy; `index` names the sample in the error.
    pub fn validate(&self, index: usize, need_energy: bool) -> Result<()> {
        self.structure.validate(index)?;
        if !(self.kt.is_finite() && self.kt > 0.0) {
            return Err(config_error(
                "sample temperature",
                format!("#{index}: kT = {} (must be finite and > 0)", self.kt),
            ));
        }
        if self.structure.forces.is_none() {
            return Err(TrainError::MissingLabel {
                what: "forces",
                index,
            });
        }
        if need_energy && self.structure.energy.is_none() {
            return Err(TrainError::MissingLabel {
                what: "energy",
                index,
            });
        }
        Ok(())
    }
}

fn check_samples(samples: &[TemperatureSample], need_energy: bool) -> Result<()> {
    if samples.is_empty() {
        return Err(config_error("samples", "need at least one"));
    }
    samples
        .iter()
        .enumerate()
        .try_for_each(|(k, s)| s.validate(k, need_energy))
}

fn check_kt(kt: f64) -> Result<()> {
    if kt.is_finite() && kt > 0.0 {
        Ok(())
    } else {
        Err(config_error("kT", format!("{kt} (must be finite and > 0)")))
    }
}

/// A term `g(t)` of the temperature basis, `t = kT/kT_ref` (dimensionless).
///
/// With a model `A = Σ_m a_m(R) g_m(t)`, `∂(βA)/∂β = Σ_m a_m(R) h_m(t)` where
/// `h = g − t dg/dt` ([`TemperatureTerm::beta_derivative`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemperatureTerm {
    /// `g = 1` (energy-like; `h = 1`).
    Constant,
    /// `g = t` (entropy-like, `−T S`; `h = 0`: invisible to the energy target).
    Linear,
    /// `g = t ln t` (a constant heat capacity; `h = −t`).
    HeatCapacity,
}

impl TemperatureTerm {
    /// `{1, t, t ln t}`: exact for a constant heat capacity.
    pub const ALL: [TemperatureTerm; 3] = [
        TemperatureTerm::Constant,
        TemperatureTerm::Linear,
        TemperatureTerm::HeatCapacity,
    ];

    /// `g(t)`.
    pub fn value(self, t: f64) -> f64 {
        match self {
            TemperatureTerm::Constant => 1.0,
            TemperatureTerm::Linear => t,
            TemperatureTerm::HeatCapacity => t * t.ln(),
        }
    }

    /// `h(t) = d(β g)/dβ = g − t g'(t)`, its contribution to `∂(βA)/∂β`.
    pub fn beta_derivative(self, t: f64) -> f64 {
        match self {
            TemperatureTerm::Constant => 1.0,
            TemperatureTerm::Linear => 0.0,
            TemperatureTerm::HeatCapacity => -t,
        }
    }
}

fn check_terms(terms: &[TemperatureTerm]) -> Result<()> {
    if terms.is_empty() {
        return Err(config_error("temperature terms", "need at least one"));
    }
    for (k, a) in terms.iter().enumerate() {
        if terms[..k].contains(a) {
            return Err(config_error(
                "temperature terms",
                format!("{a:?} appears twice"),
            ));
        }
    }
    Ok(())
}

/// What a [`FreeEnergyModel`] predicts for one configuration at one temperature.
#[derive(Clone, Debug, PartialEq)]
pub struct FreeEnergyPrediction {
    /// `A(R; T)` (energy units), up to the `c·kT` no target fixes.
    pub free_energy: f64,
    /// `−∇_R A`, the mean force on each CG site (energy/length units).
    pub forces: Vec<Vec3>,
    /// `∂(βA)/∂β`, the model's conditional mean fine-grained energy `⟨u⟩_R` (energy
    /// units).
    pub mean_energy: f64,
    /// Posterior standard deviation of `A` (energy units) where the model has one. It
    /// includes the weakly determined `c·kT` direction; for error bars of a profile at
    /// one temperature see [`KernelFreeEnergy::difference_std`].
    pub std: Option<f64>,
}

/// A temperature-dependent CG free energy `A(R; T)`.
///
/// A tiny implementation, an ideal harmonic bond whose stiffness is entropic,
/// `A = kT·r²/2` (so `∂(βA)/∂β = 0`):
///
/// ```
/// use thermograd_geometry::{SimBox, Vec3};
/// use thermograd_nn::Frame;
/// use thermograd_train::{FreeEnergyModel, FreeEnergyPrediction, Result};
///
/// struct EntropicBond;
///
/// impl FreeEnergyModel for EntropicBond {
///     fn predict(&self, frame: &Frame, kt: f64) -> Result<FreeEnergyPrediction> {
///         let d = frame.positions[1] - frame.positions[0];
///         Ok(FreeEnergyPrediction {
///             free_energy: 0.5 * kt * d.norm_squared(),
///             forces: vec![d * kt, -d * kt],
///             mean_energy: 0.0,
///             std: None,
///         })
///     }
/// }
///
/// let frame = Frame {
///     positions: vec![Vec3::zeros(), Vec3::new(2.0, 0.0, 0.0)],
///     species: vec![0, 0],
///     simbox: SimBox::open(),
/// };
/// assert_eq!(EntropicBond.predict(&frame, 0.5)?.free_energy, 1.0);
/// # Ok::<(), thermograd_train::TrainError>(())
/// ```
pub trait FreeEnergyModel {
    /// `A`, `−∇_R A`, `∂(βA)/∂β` (and a standard deviation if available) at `kt`
    /// (energy units).
    fn predict(&self, frame: &Frame, kt: f64) -> Result<FreeEnergyPrediction>;
}

/// Weights of the two terms of the loss; `energy = 0` is pure force matching.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TdepWeights {
    /// `w_F`, on the mean squared force-component residual (1/(energy/length)²).
    pub force: f64,
    /// `w_U`, on the mean squared energy residual per sample (1/energy²).
    pub energy: f64,
}

impl TdepWeights {
    fn validate(&self) -> Result<()> {
        let ok = |w: f64| w.is_finite() && w >= 0.0;
        if !(ok(self.force) && ok(self.energy)) || self.force + self.energy == 0.0 {
            return Err(config_error(
                "loss weights",
                "need finite weights ≥ 0, not both zero",
            ));
        }
        Ok(())
    }
}

/// The loss of [`TdepWeights`] and its parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TdepLoss {
    /// `w_F · force_mse + w_U · energy_mse`.
    pub loss: f64,
    /// Mean squared force-component residual ((energy/length)²).
    pub force_mse: f64,
    /// Mean squared residual of `∂(βA)/∂β` against `u` (energy²), when the samples
    /// have energies.
    pub energy_mse: Option<f64>,
}

/// The loss of `model` on `samples` with `weights` (see the [module docs](self)).
/// Energies are needed only when `weights.energy > 0`.
pub fn tdep_loss(
    model: &dyn FreeEnergyModel,
    samples: &[TemperatureSample],
    weights: &TdepWeights,
) -> Result<TdepLoss> {
    weights.validate()?;
    check_samples(samples, weights.energy > 0.0)?;
    let mut sf = 0.0;
    let mut nf = 0usize;
    let mut se = 0.0;
    let mut ne = 0usize;
    for s in samples {
        let p = model.predict(&s.structure.frame(), s.kt)?;
        let f = s.structure.forces.as_ref().expect("validated");
        for (a, b) in p.forces.iter().zip(f) {
            sf += (a - b).norm_squared();
            nf += 3;
        }
        if let Some(u) = s.structure.energy {
            se += (p.mean_energy - u).powi(2);
            ne += 1;
        }
    }
    let force_mse = sf / nf as f64;
    let energy_mse = (ne > 0).then(|| se / ne as f64);
    Ok(TdepLoss {
        loss: weights.force * force_mse + weights.energy * energy_mse.unwrap_or(0.0),
        force_mse,
        energy_mse,
    })
}

/// Mean of the energies of the samples that have one (0 if none).
fn mean_energy_of(samples: &[TemperatureSample]) -> f64 {
    let (s, n) = samples
        .iter()
        .filter_map(|s| s.structure.energy)
        .fold((0.0, 0usize), |(s, n), u| (s + u, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

// ---------------------------------------------------------------------------------
// Kernel (Bayesian linear) model
// ---------------------------------------------------------------------------------

/// Settings of a [`KernelFreeEnergy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelFreeEnergyConfig {
    /// The spatial pair basis: one cardinal natural cubic spline per free knot and
    /// species pair (knots in length units; pairs closer than the first knot are an
    /// error; the force jumps by the spline's slope at the cutoff, so put the cutoff
    /// beyond the distances that matter).
    pub basis: SplinePairConfig,
    /// `kT_ref` of the reduced temperature `t = kT/kT_ref` (energy units); a value
    /// inside the training range keeps the basis well conditioned.
    pub reference_kt: f64,
    /// The temperature basis ([`TemperatureTerm::ALL`] is the usual choice).
    pub terms: Vec<TemperatureTerm>,
    /// Prior standard deviation of every weight (energy units): a Gaussian prior
    /// `w ~ N(0, prior_std² I)`, the GP's signal scale.
    pub prior_std: f64,
    /// Noise standard deviation of one instantaneous force component about the mean
    /// force (energy/length units).
    pub force_noise: f64,
    /// Noise standard deviation of one instantaneous energy about `⟨u⟩_R` (energy
    /// units); `None` fits forces only (pure force matching).
    pub energy_noise: Option<f64>,
}

impl KernelFreeEnergyConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.basis.validate()?;
        check_kt(self.reference_kt)?;
        check_terms(&self.terms)?;
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !pos(self.prior_std) {
            return Err(config_error(
                "prior_std",
                format!("{} (must be > 0)", self.prior_std),
            ));
        }
        if !pos(self.force_noise) {
            return Err(config_error(
                "force_noise",
                format!("{} (must be > 0)", self.force_noise),
            ));
        }
        if let Some(e) = self.energy_noise {
            if !pos(e) {
                return Err(config_error("energy_noise", format!("{e} (must be > 0)")));
            }
        }
        Ok(())
    }

    /// The posterior given `samples` (forces always, energies when `energy_noise` is
    /// set): one Cholesky factorisation of the `P×P` posterior precision
    /// `Λ = Φᵀ N⁻¹ Φ + I/prior_std²`, `P = (features + 1) × terms`.
    pub fn fit(&self, samples: &[TemperatureSample]) -> Result<KernelFreeEnergy> {
        self.validate()?;
        let use_energy = self.energy_noise.is_some();
        check_samples(samples, use_energy)?;
        let mut model = KernelFreeEnergy::unfitted(self.clone())?;
        model.offset = if use_energy {
            mean_energy_of(samples)
        } else {
            0.0
        };
        let p = model.n_parameters();
        let m = self.terms.len();
        let frames: Vec<Frame> = samples.iter().map(|s| s.structure.frame()).collect();
        let features = model.spatial_features(&frames)?;
        let mut lambda = vec![0.0; p * p];
        let mut rhs = vec![0.0; p];
        let mut row = vec![0.0; p];
        let inv_f = 1.0 / self.force_noise.powi(2);
        for (s, sample) in samples.iter().enumerate() {
            let t = sample.kt / self.reference_kt;
            let g: Vec<f64> = self.terms.iter().map(|term| term.value(t)).collect();
            let forces = sample.structure.forces.as_ref().expect("validated");
            for (i, f) in forces.iter().enumerate() {
                for c in 0..3 {
                    // The constant feature has no force, so its columns stay zero.
                    row.fill(0.0);
                    for (j, ev) in features[s].iter().enumerate() {
                        let fj = ev.forces[i][c];
                        for (k, gk) in g.iter().enumerate() {
                            row[j * m + k] = gk * fj;
                        }
                    }
                    accumulate(&mut lambda, &mut rhs, &row, f[c], inv_f);
                }
            }
            if let (Some(noise), Some(u)) = (self.energy_noise, sample.structure.energy) {
                let h: Vec<f64> = self
                    .terms
                    .iter()
                    .map(|term| term.beta_derivative(t))
                    .collect();
                model.energy_row(&features[s], &h, &mut row);
                accumulate(
                    &mut lambda,
                    &mut rhs,
                    &row,
                    u - model.offset,
                    noise.powi(-2),
                );
            }
        }
        let prior = self.prior_std.powi(-2);
        for k in 0..p {
            lambda[k * p + k] += prior;
        }
        // No datum touches a gauge-fixed weight, so its posterior is its prior, decoupled
        // from the rest: its mean stays 0 and `predict` leaves it out of the variance.
        let chol = Cholesky::factor(lambda, p).map_err(|_| TrainError::NonFinite {
            what: "posterior precision (Cholesky failed)",
        })?;
        chol.solve_in_place(&mut rhs, 1);
        model.weights = rhs;
        model.chol = Some(chol);
        Ok(model)
    }
}

/// `Λ += inv_var · row rowᵀ`, `b += inv_var · y · row` (column-major, symmetric).
fn accumulate(lambda: &mut [f64], b: &mut [f64], row: &[f64], y: f64, inv_var: f64) {
    let p = row.len();
    for (a, &ra) in row.iter().enumerate() {
        if ra == 0.0 {
            continue;
        }
        b[a] += inv_var * y * ra;
        let col = &mut lambda[a * p..(a + 1) * p];
        for (l, &rb) in col.iter_mut().zip(row) {
            *l += inv_var * ra * rb;
        }
    }
}

/// A temperature-dependent free energy linear in its weights, with a Gaussian posterior
/// (see the [module docs](self)); built by [`KernelFreeEnergyConfig::fit`].
///
/// Weights are laid out feature by feature, `w[j · terms + m]`, the spline features in
/// [`SplinePair`]'s parameter order and the constant feature last.
#[derive(Clone, Debug)]
pub struct KernelFreeEnergy {
    config: KernelFreeEnergyConfig,
    /// One spline per spatial feature, with a unit knot value.
    basis: Vec<SplinePair>,
    weights: Vec<f64>,
    offset: f64,
    chol: Option<Cholesky>,
}

impl KernelFreeEnergy {
    fn unfitted(config: KernelFreeEnergyConfig) -> Result<Self> {
        let zero = config.basis.build()?;
        let k = zero.n_parameters();
        let basis = (0..k)
            .map(|j| {
                let mut s = zero.clone();
                let mut e = vec![0.0; k];
                e[j] = 1.0;
                s.set_parameters(&e)?;
                Ok(s)
            })
            .collect::<Result<Vec<_>>>()?;
        let p = (k + 1) * config.terms.len();
        Ok(KernelFreeEnergy {
            config,
            basis,
            weights: vec![0.0; p],
            offset: 0.0,
            chol: None,
        })
    }

    /// The settings it was fitted with.
    pub fn config(&self) -> &KernelFreeEnergyConfig {
        &self.config
    }

    /// Number of weights, `(spline features + 1) × terms`.
    pub fn n_parameters(&self) -> usize {
        (self.basis.len() + 1) * self.config.terms.len()
    }

    /// Posterior mean of the weights (energy units).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The fixed energy offset `ū`, the mean training energy (0 for force matching).
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Whether the weight of temperature term `m` on the constant feature is fixed at
    /// zero: the `c·kT` no target sees (the [`TemperatureTerm::Linear`] one), and all of
    /// `c(T)` when only forces are fitted. Fixing them, rather than leaving them to the
    /// prior, keeps the posterior standard deviation of `A` to what the data determine.
    fn gauge_fixed(&self, m: usize) -> bool {
        self.config.energy_noise.is_none() || self.config.terms[m] == TemperatureTerm::Linear
    }

    /// Energies and forces of every spline feature on every frame (`[frame][feature]`;
    /// the constant feature is implicit).
    fn spatial_features(&self, frames: &[Frame]) -> Result<Vec<Vec<Evaluation>>> {
        let per_feature = self
            .basis
            .iter()
            .map(|b| b.evaluate_frames(frames))
            .collect::<Result<Vec<_>>>()?;
        let mut out: Vec<Vec<Evaluation>> = (0..frames.len())
            .map(|_| Vec::with_capacity(self.basis.len()))
            .collect();
        for feature in per_feature {
            for (s, ev) in feature.into_iter().enumerate() {
                out[s].push(ev);
            }
        }
        Ok(out)
    }

    /// The row of `∂(βA)/∂β` (or of `A`, with `g` in place of `h`) in weight space.
    fn energy_row(&self, features: &[Evaluation], coef: &[f64], row: &mut [f64]) {
        let m = coef.len();
        for (j, ev) in features.iter().enumerate() {
            for (k, c) in coef.iter().enumerate() {
                row[j * m + k] = c * ev.energy;
            }
        }
        let j = features.len();
        row[j * m..(j + 1) * m].copy_from_slice(coef);
    }
}

impl KernelFreeEnergy {
    /// The row of `A(R; T)` in weight space.
    fn free_energy_row(&self, frame: &Frame, kt: f64) -> Result<Vec<f64>> {
        check_kt(kt)?;
        let features = self
            .spatial_features(std::slice::from_ref(frame))?
            .remove(0);
        let t = kt / self.config.reference_kt;
        let g: Vec<f64> = self.config.terms.iter().map(|x| x.value(t)).collect();
        let mut row = vec![0.0; self.n_parameters()];
        self.energy_row(&features, &g, &mut row);
        Ok(row)
    }

    /// `sqrt(aᵀ Λ⁻¹ a)` over the weights that are not gauge-fixed.
    fn posterior_std(&self, mut a: Vec<f64>) -> Option<f64> {
        let chol = self.chol.as_ref()?;
        let m = self.config.terms.len();
        let k = self.basis.len();
        for (mm, ak) in a[k * m..].iter_mut().enumerate() {
            if self.gauge_fixed(mm) {
                *ak = 0.0;
            }
        }
        chol.solve_lower_in_place(&mut a, 1);
        Some(a.iter().map(|v| v * v).sum::<f64>().sqrt())
    }

    /// Posterior standard deviation of the difference `A(R_a; T) − A(R_b; T)` at one
    /// temperature (energy units). Unlike the standard deviation of `A` itself, which
    /// includes the poorly determined `c·kT` that the spline features can imitate over
    /// the sampled range, this is what the data determine: use it for error bars of a
    /// free-energy profile.
    pub fn difference_std(&self, a: &Frame, b: &Frame, kt: f64) -> Result<f64> {
        let ra = self.free_energy_row(a, kt)?;
        let rb = self.free_energy_row(b, kt)?;
        let diff = ra.iter().zip(&rb).map(|(x, y)| x - y).collect();
        self.posterior_std(diff)
            .ok_or_else(|| config_error("kernel model", "not fitted"))
    }
}

impl FreeEnergyModel for KernelFreeEnergy {
    fn predict(&self, frame: &Frame, kt: f64) -> Result<FreeEnergyPrediction> {
        check_kt(kt)?;
        let features = self
            .spatial_features(std::slice::from_ref(frame))?
            .remove(0);
        let t = kt / self.config.reference_kt;
        let g: Vec<f64> = self.config.terms.iter().map(|x| x.value(t)).collect();
        let h: Vec<f64> = self
            .config
            .terms
            .iter()
            .map(|x| x.beta_derivative(t))
            .collect();
        let m = g.len();
        let p = self.n_parameters();
        let dot = |row: &[f64]| {
            row.iter()
                .zip(&self.weights)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let mut a_row = vec![0.0; p];
        self.energy_row(&features, &g, &mut a_row);
        let mut h_row = vec![0.0; p];
        self.energy_row(&features, &h, &mut h_row);
        let mut forces = vec![Vec3::zeros(); frame.positions.len()];
        for (j, ev) in features.iter().enumerate() {
            let wj: f64 = (0..m).map(|k| self.weights[j * m + k] * g[k]).sum();
            for (f, fj) in forces.iter_mut().zip(&ev.forces) {
                *f += fj * wj;
            }
        }
        let std = self.posterior_std(a_row.clone());
        Ok(FreeEnergyPrediction {
            free_energy: self.offset + dot(&a_row),
            forces,
            mean_energy: self.offset + dot(&h_row),
            std,
        })
    }
}

// ---------------------------------------------------------------------------------
// Neural-network model
// ---------------------------------------------------------------------------------

/// Architecture of an [`NnFreeEnergy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NnFreeEnergyConfig {
    /// Hidden widths of the pair network `y(r, t)`.
    pub hidden: Vec<usize>,
    /// Hidden activation (a smooth one: forces and `∂(βA)/∂β` are derivatives).
    pub activation: Activation,
    /// Number of CG species; with more than one, the pair network also sees a one-hot
    /// code of the unordered species pair.
    pub n_species: usize,
    /// Pair cutoff (length units).
    pub cutoff: f64,
    /// Where the switch `f_c` starts to fall from 1 (length units, below `cutoff`):
    /// `f_c = 1 − 10x³ + 15x⁴ − 6x⁵`, `x = (r − switch_on)/(cutoff − switch_on)`.
    pub switch_on: f64,
    /// `kT_ref` of the reduced temperature `t = kT/kT_ref` (energy units).
    pub reference_kt: f64,
    /// Temperature basis of the configuration-independent part `c(T)`.
    pub terms: Vec<TemperatureTerm>,
}

impl NnFreeEnergyConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        check_kt(self.reference_kt)?;
        check_terms(&self.terms)?;
        if self.n_species == 0 {
            return Err(config_error("n_species", "need at least one"));
        }
        if !(self.cutoff.is_finite()
            && self.switch_on.is_finite()
            && self.switch_on >= 0.0
            && self.switch_on < self.cutoff)
        {
            return Err(config_error(
                "cutoff",
                format!(
                    "need 0 ≤ switch_on < cutoff, got {} and {}",
                    self.switch_on, self.cutoff
                ),
            ));
        }
        if !self.activation.is_smooth() {
            return Err(config_error(
                "activation",
                "forces and ∂(βA)/∂β need a smooth activation",
            ));
        }
        self.mlp_config().validate()?;
        Ok(())
    }

    fn n_pair_codes(&self) -> usize {
        if self.n_species > 1 {
            self.n_species * (self.n_species + 1) / 2
        } else {
            0
        }
    }

    fn mlp_config(&self) -> MlpConfig {
        MlpConfig {
            inputs: 2 + self.n_pair_codes(),
            hidden: self.hidden.clone(),
            outputs: 1,
            activation: self.activation,
        }
    }

    /// A network with seeded random weights, its input normalization fitted to the
    /// pair distances and temperatures of `samples`, its output scaled so that initial
    /// forces are of the order of the data's (RMS force × spread of `r`), and the fixed
    /// offset `ū` (the mean sample energy, 0 without energies).
    pub fn build(&self, samples: &[TemperatureSample], seed: u64) -> Result<NnFreeEnergy> {
        self.validate()?;
        check_samples(samples, false)?;
        let mlp = self.mlp_config().build(seed)?;
        let mut model = NnFreeEnergy {
            config: self.clone(),
            mlp,
            constants: vec![0.0; self.terms.len()],
            offset: mean_energy_of(samples),
        };
        let batch = model.pair_batch(samples)?;
        if batch.x.rows > 0 {
            let mut norm = Normalization::from_inputs(&batch.x, 1);
            let (sf, nf) = samples
                .iter()
                .flat_map(|s| s.structure.forces.as_ref().expect("validated"))
                .fold((0.0, 0usize), |(s, n), f| (s + f.norm_squared(), n + 3));
            let rms = (sf / nf as f64).sqrt();
            let scale = rms * norm.input_scale[0];
            if scale.is_finite() && scale > 0.0 {
                norm.output_scale[0] = scale;
            }
            model.mlp.set_normalization(norm)?;
        }
        Ok(model)
    }
}

/// Settings of [`NnFreeEnergy::train`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NnTrainingConfig {
    /// Passes over the samples.
    pub epochs: usize,
    /// Samples per Adam step.
    pub batch_size: usize,
    /// Adam, schedule (over epochs) and clipping.
    pub optimizer: OptimizerConfig,
    /// Loss weights; `energy = 0` is pure force matching.
    pub weights: TdepWeights,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

/// One pair of one sample, with its switch.
#[derive(Clone, Copy, Debug)]
struct PairRow {
    sample: usize,
    i: usize,
    j: usize,
    d: Vec3,
    r: f64,
    fc: f64,
    dfc: f64,
}

/// Network inputs of all pairs of a batch of samples (`rows × (2 + codes)`).
#[derive(Clone, Debug)]
struct PairBatch {
    x: Matrix,
    rows: Vec<PairRow>,
}

/// The C² switch `f_c` and its derivative.
fn switch(r: f64, on: f64, cutoff: f64) -> (f64, f64) {
    if r <= on {
        (1.0, 0.0)
    } else if r >= cutoff {
        (0.0, 0.0)
    } else {
        let w = cutoff - on;
        let x = (r - on) / w;
        let x2 = x * x;
        let f = 1.0 - x2 * x * (10.0 - 15.0 * x + 6.0 * x2);
        let df = -30.0 * x2 * (1.0 - x) * (1.0 - x) / w;
        (f, df)
    }
}

/// Per-sample model outputs of a batch.
#[derive(Clone, Debug)]
struct BatchEval {
    free_energy: Vec<f64>,
    mean_energy: Vec<f64>,
    forces: Vec<Vec<Vec3>>,
}

/// A neural-network temperature-dependent free energy (see the [module docs](self));
/// built by [`NnFreeEnergyConfig::build`].
///
/// Parameters ([`Trainable`]): the MLP's, then the coefficients `c_m` of `c(T)` (energy
/// units).
#[derive(Clone, Debug)]
pub struct NnFreeEnergy {
    config: NnFreeEnergyConfig,
    mlp: Mlp,
    constants: Vec<f64>,
    offset: f64,
}

impl NnFreeEnergy {
    /// The architecture.
    pub fn config(&self) -> &NnFreeEnergyConfig {
        &self.config
    }

    /// The pair network.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The fixed energy offset `ū`.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    fn pair_code(&self, a: u32, b: u32) -> usize {
        let n = self.config.n_species;
        let (a, b) = (a.min(b) as usize, a.max(b) as usize);
        a * n - a * (a + 1) / 2 + b
    }

    fn pair_batch_frames(&self, frames: &[(&Frame, f64)]) -> Result<PairBatch> {
        let c = &self.config;
        let codes = c.n_pair_codes();
        let cols = 2 + codes;
        let mut data = Vec::new();
        let mut rows = Vec::new();
        for (s, (frame, kt)) in frames.iter().enumerate() {
            if frame.species.len() != frame.positions.len() {
                return Err(config_error("frame", "as many species as positions needed"));
            }
            if let Some(&bad) = frame.species.iter().find(|&&x| x as usize >= c.n_species) {
                return Err(config_error(
                    "frame",
                    format!("species {bad} but the model knows {}", c.n_species),
                ));
            }
            let t = kt / c.reference_kt;
            let cells = CellList::new(&frame.positions, &frame.simbox, c.cutoff)?;
            let rc2 = c.cutoff * c.cutoff;
            let mut bad_pair = None;
            cells.for_each_pair(ListKind::Half, |p| {
                if p.r2 >= rc2 {
                    return;
                }
                let r = p.r2.sqrt();
                if r == 0.0 {
                    bad_pair = Some((p.i, p.j));
                    return;
                }
                let (fc, dfc) = switch(r, c.switch_on, c.cutoff);
                let start = data.len();
                data.resize(start + cols, 0.0);
                data[start] = r;
                data[start + 1] = t;
                if codes > 0 {
                    data[start + 2 + self.pair_code(frame.species[p.i], frame.species[p.j])] = 1.0;
                }
                rows.push(PairRow {
                    sample: s,
                    i: p.i,
                    j: p.j,
                    d: p.d,
                    r,
                    fc,
                    dfc,
                });
            });
            if let Some((i, j)) = bad_pair {
                return Err(config_error(
                    "frame",
                    format!("atoms {i} and {j} of sample #{s} overlap"),
                ));
            }
        }
        Ok(PairBatch {
            x: Matrix::new(rows.len(), cols, data)?,
            rows,
        })
    }

    fn pair_batch(&self, samples: &[TemperatureSample]) -> Result<PairBatch> {
        let frames: Vec<Frame> = samples.iter().map(|s| s.structure.frame()).collect();
        let pairs: Vec<(&Frame, f64)> =
            frames.iter().zip(samples).map(|(f, s)| (f, s.kt)).collect();
        self.pair_batch_frames(&pairs)
    }

    /// Per-sample `A`, `∂(βA)/∂β`, forces, and the per-pair `(y, ∂y/∂r, ∂y/∂t)`.
    fn evaluate_batch(
        &self,
        batch: &PairBatch,
        kts: &[f64],
        n_atoms: &[usize],
    ) -> Result<(BatchEval, Vec<[f64; 3]>)> {
        let n = kts.len();
        let mut out = BatchEval {
            free_energy: vec![self.offset; n],
            mean_energy: vec![self.offset; n],
            forces: n_atoms.iter().map(|&k| vec![Vec3::zeros(); k]).collect(),
        };
        for (s, &kt) in kts.iter().enumerate() {
            let t = kt / self.config.reference_kt;
            for (term, c) in self.config.terms.iter().zip(&self.constants) {
                out.free_energy[s] += c * term.value(t);
                out.mean_energy[s] += c * term.beta_derivative(t);
            }
        }
        let mut pair_values = Vec::with_capacity(batch.rows.len());
        if batch.rows.is_empty() {
            return Ok((out, pair_values));
        }
        let ones = Matrix::new(batch.x.rows, 1, vec![1.0; batch.x.rows])?;
        let (y, grad) = self.mlp.input_vjp(&batch.x, &ones)?;
        for (k, p) in batch.rows.iter().enumerate() {
            let (yk, yr, yt) = (y.data[k], grad.get(k, 0), grad.get(k, 1));
            let t = batch.x.get(k, 1);
            out.free_energy[p.sample] += p.fc * yk;
            out.mean_energy[p.sample] += p.fc * (yk - t * yt);
            let da = p.dfc * yk + p.fc * yr;
            let f = p.d * (da / p.r);
            out.forces[p.sample][p.i] += f;
            out.forces[p.sample][p.j] -= f;
            pair_values.push([yk, yr, yt]);
        }
        Ok((out, pair_values))
    }

    /// The loss of [`TdepWeights`] on `samples` and its gradient with respect to
    /// [`Trainable::parameters`]: one input-gradient pass for the residuals, then one
    /// backward pass through the MLP's taped tangent along
    /// `(∂L/∂A'·f_c, −∂L/∂(∂(βA)/∂β)·f_c·t)` in `(r, t)`.
    pub fn loss_and_gradient(
        &self,
        samples: &[TemperatureSample],
        weights: &TdepWeights,
    ) -> Result<(TdepLoss, Vec<f64>)> {
        weights.validate()?;
        let use_energy = weights.energy > 0.0;
        check_samples(samples, use_energy)?;
        let batch = self.pair_batch(samples)?;
        let kts: Vec<f64> = samples.iter().map(|s| s.kt).collect();
        let n_atoms: Vec<usize> = samples.iter().map(|s| s.structure.n_atoms()).collect();
        let (eval, _) = self.evaluate_batch(&batch, &kts, &n_atoms)?;
        let n_f = 3 * n_atoms.iter().sum::<usize>();
        let n_s = samples.len();
        // ∂L/∂F (per atom) and ∂L/∂(∂(βA)/∂β) (per sample).
        let mut g_force: Vec<Vec<Vec3>> = Vec::with_capacity(n_s);
        let mut g_energy = vec![0.0; n_s];
        let (mut sf, mut se, mut ne) = (0.0, 0.0, 0usize);
        for (s, sample) in samples.iter().enumerate() {
            let target = sample.structure.forces.as_ref().expect("validated");
            let g: Vec<Vec3> = eval.forces[s]
                .iter()
                .zip(target)
                .map(|(a, b)| {
                    let r = a - b;
                    sf += r.norm_squared();
                    r * (2.0 * weights.force / n_f as f64)
                })
                .collect();
            g_force.push(g);
            if let Some(u) = sample.structure.energy {
                let r = eval.mean_energy[s] - u;
                se += r * r;
                ne += 1;
                if use_energy {
                    g_energy[s] = 2.0 * weights.energy * r / n_s as f64;
                }
            }
        }
        let force_mse = sf / n_f as f64;
        let energy_mse = (ne > 0).then(|| se / ne as f64);
        let loss = TdepLoss {
            loss: weights.force * force_mse
                + if use_energy {
                    weights.energy * energy_mse.unwrap_or(0.0)
                } else {
                    0.0
                },
            force_mse,
            energy_mse,
        };
        let rows = batch.x.rows;
        let cols = batch.x.cols;
        let mut cot_y = Matrix::zeros(rows, 1);
        let mut tangent = Matrix::zeros(rows, cols);
        for (k, p) in batch.rows.iter().enumerate() {
            let gf = &g_force[p.sample];
            let g_da = (gf[p.i] - gf[p.j]).dot(&p.d) / p.r;
            let c = g_energy[p.sample];
            let t = batch.x.get(k, 1);
            cot_y.data[k] = g_da * p.dfc + c * p.fc;
            tangent.data[k * cols] = g_da * p.fc;
            tangent.data[k * cols + 1] = -c * p.fc * t;
        }
        let mut gradient = if rows > 0 {
            let ones = Matrix::new(rows, 1, vec![1.0; rows])?;
            self.mlp
                .param_vjp(&batch.x, &cot_y, Some((&tangent, &ones)))?
                .gradient
        } else {
            vec![0.0; self.mlp.n_parameters()]
        };
        for term in &self.config.terms {
            gradient.push(
                samples
                    .iter()
                    .zip(&g_energy)
                    .map(|(s, c)| c * term.beta_derivative(s.kt / self.config.reference_kt))
                    .sum(),
            );
        }
        Ok((loss, gradient))
    }

    /// Minibatch Adam on `samples`; returns the loss on all of `samples` after each
    /// epoch.
    pub fn train(
        &mut self,
        samples: &[TemperatureSample],
        config: &NnTrainingConfig,
    ) -> Result<Vec<TdepLoss>> {
        config.weights.validate()?;
        check_samples(samples, config.weights.energy > 0.0)?;
        let mut optimizer = config.optimizer.build(self.n_parameters())?;
        let mut history = Vec::with_capacity(config.epochs);
        let mut params = self.parameters();
        for epoch in 0..config.epochs {
            let seed = config.seed.wrapping_add(epoch as u64);
            for idx in batch_indices(samples.len(), config.batch_size, Some(seed))? {
                let batch: Vec<TemperatureSample> =
                    idx.iter().map(|&k| samples[k].clone()).collect();
                let (_, g) = self.loss_and_gradient(&batch, &config.weights)?;
                optimizer.step(&mut params, &g, epoch, config.epochs)?;
                self.set_parameters(&params)?;
            }
            history.push(tdep_loss(self, samples, &config.weights)?);
        }
        Ok(history)
    }
}

impl Trainable for NnFreeEnergy {
    fn n_parameters(&self) -> usize {
        self.mlp.n_parameters() + self.constants.len()
    }

    fn parameters(&self) -> Vec<f64> {
        let mut p = self.mlp.parameters();
        p.extend_from_slice(&self.constants);
        p
    }

    fn set_parameters(&mut self, parameters: &[f64]) -> thermograd_nn::Result<()> {
        let n = self.mlp.n_parameters();
        if parameters.len() != self.n_parameters() {
            return Err(thermograd_nn::NnError::Mismatch {
                what: "free-energy model parameters",
                expected: self.n_parameters(),
                got: parameters.len(),
            });
        }
        if !parameters.iter().all(|v| v.is_finite()) {
            return Err(thermograd_nn::NnError::NonFinite { what: "parameter" });
        }
        self.mlp.set_parameters(&parameters[..n])?;
        self.constants.copy_from_slice(&parameters[n..]);
        Ok(())
    }
}

impl FreeEnergyModel for NnFreeEnergy {
    fn predict(&self, frame: &Frame, kt: f64) -> Result<FreeEnergyPrediction> {
        check_kt(kt)?;
        let batch = self.pair_batch_frames(&[(frame, kt)])?;
        let (eval, _) = self.evaluate_batch(&batch, &[kt], &[frame.positions.len()])?;
        Ok(FreeEnergyPrediction {
            free_energy: eval.free_energy[0],
            forces: eval.forces.into_iter().next().expect("one frame"),
            mean_energy: eval.mean_energy[0],
            std: None,
        })
    }
}

// ---------------------------------------------------------------------------------
// Analytic benchmark
// ---------------------------------------------------------------------------------

/// An analytic benchmark: two CG particles at distance `r` and `d` hidden fine-grained
/// coordinates `x` with
///
/// `u(r, x) = u₀(r) + ½ k(r) |x|²`,
/// `u₀(r) = barrier · (((r − center)/half_width)² − 1)²` (a double well),
/// `k(r) = stiffness · exp(−stiffness_slope · (r − center))`.
///
/// Integrating out `x` exactly gives
///
/// - `A(r; T) = u₀(r) + (d/2) kT ln k(r) − (d/2) kT ln(2π kT)`,
/// - `∂(βA)/∂β = ⟨u⟩_r = u₀(r) + (d/2) kT`,
/// - mean force along `r`: `−u₀'(r) − (d kT/2) k'(r)/k(r)`,
/// - instantaneous force along `r`: `−u₀'(r) − ½ k'(r) |x|²`.
///
/// The softening of the hidden modes with `r` is an entropic force that grows with `T`
/// and shifts weight to the outer well, so `A` changes shape with temperature and the
/// force and energy targets carry different information: the energy separates `u₀`
/// from the entropic part. Lengths and energies are in the caller's units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HiddenHarmonicDimer {
    /// Height of the double-well barrier (energy units).
    pub barrier: f64,
    /// Position of the barrier top (length units).
    pub center: f64,
    /// Half the distance between the wells (length units).
    pub half_width: f64,
    /// `k(center)` (energy/length²).
    pub stiffness: f64,
    /// `−d ln k/dr` (1/length).
    pub stiffness_slope: f64,
    /// Number `d` of hidden coordinates.
    pub hidden_dim: usize,
    /// Range of `r` sampled (length units); it must hold essentially all the
    /// Boltzmann weight at the temperatures used.
    pub r_range: (f64, f64),
}

/// Errors of a model against the exact answer of a [`HiddenHarmonicDimer`] at one
/// temperature, Boltzmann-weighted over `r` (including the `r²` of the radial measure).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DimerErrors {
    /// `kT` (energy units).
    pub kt: f64,
    /// RMS error of `A(r; T)` after removing the weighted mean difference (the one
    /// constant no target fixes at one temperature) (energy units).
    pub free_energy_rmse: f64,
    /// RMS error of `∂(βA)/∂β` against `⟨u⟩_r` (energy units).
    pub mean_energy_rmse: f64,
    /// RMS error of the mean force along `r` (energy/length units).
    pub mean_force_rmse: f64,
}

impl HiddenHarmonicDimer {
    /// The parameters of the tests and the `temperature_free_energy` example: wells at
    /// 1.05 and 1.55 with a barrier of 1, four hidden modes softening with slope 2; meant
    /// for `kT` between about 0.4 and 2.
    pub fn standard() -> Self {
        HiddenHarmonicDimer {
            barrier: 1.0,
            center: 1.3,
            half_width: 0.25,
            stiffness: 20.0,
            stiffness_slope: 2.0,
            hidden_dim: 4,
            r_range: (0.7, 2.0),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !(pos(self.half_width)
            && pos(self.stiffness)
            && self.barrier.is_finite()
            && self.center.is_finite()
            && self.stiffness_slope.is_finite()
            && self.hidden_dim > 0
            && pos(self.r_range.0)
            && self.r_range.1.is_finite()
            && self.r_range.1 > self.r_range.0)
        {
            return Err(config_error(
                "hidden-harmonic dimer",
                "need finite parameters, half_width, stiffness > 0, hidden_dim ≥ 1 and \
                 0 < r_range.0 < r_range.1",
            ));
        }
        Ok(())
    }

    /// `(u₀(r), u₀'(r))`.
    pub fn bare_energy(&self, r: f64) -> (f64, f64) {
        let s = (r - self.center) / self.half_width;
        let q = s * s - 1.0;
        (
            self.barrier * q * q,
            self.barrier * 4.0 * q * s / self.half_width,
        )
    }

    /// `(k(r), k'(r))`.
    pub fn hidden_stiffness(&self, r: f64) -> (f64, f64) {
        let k = self.stiffness * (-self.stiffness_slope * (r - self.center)).exp();
        (k, -self.stiffness_slope * k)
    }

    /// The exact `A(r; T)` including its `c(T)` (energy units).
    pub fn free_energy(&self, r: f64, kt: f64) -> f64 {
        let d = self.hidden_dim as f64;
        let (k, _) = self.hidden_stiffness(r);
        self.bare_energy(r).0 + 0.5 * d * kt * (k.ln() - (2.0 * std::f64::consts::PI * kt).ln())
    }

    /// The exact `∂(βA)/∂β = ⟨u⟩_r` (energy units).
    pub fn mean_energy(&self, r: f64, kt: f64) -> f64 {
        self.bare_energy(r).0 + 0.5 * self.hidden_dim as f64 * kt
    }

    /// The exact mean force along `r`, `−∂A/∂r` (energy/length units; positive pushes
    /// the particles apart).
    pub fn mean_force(&self, r: f64, kt: f64) -> f64 {
        let (k, dk) = self.hidden_stiffness(r);
        -self.bare_energy(r).1 - 0.5 * self.hidden_dim as f64 * kt * dk / k
    }

    /// The CG frame of a dimer at distance `r` along `x` (open box).
    pub fn frame(r: f64) -> Frame {
        Frame {
            positions: vec![Vec3::zeros(), Vec3::new(r, 0.0, 0.0)],
            species: vec![0, 0],
            simbox: SimBox::open(),
        }
    }

    /// A grid of `n` distances over `r_range` and the normalised Boltzmann weights
    /// `∝ r² exp(−A/kT)` of the radial measure at `kt`.
    pub fn boltzmann_grid(&self, kt: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
        let n = n.max(2);
        let (lo, hi) = self.r_range;
        let r: Vec<f64> = (0..n)
            .map(|k| lo + (hi - lo) * k as f64 / (n - 1) as f64)
            .collect();
        let a: Vec<f64> = r.iter().map(|&r| self.free_energy(r, kt)).collect();
        let a_min = a.iter().copied().fold(f64::INFINITY, f64::min);
        let w: Vec<f64> = r
            .iter()
            .zip(&a)
            .map(|(r, a)| r * r * (-(a - a_min) / kt).exp())
            .collect();
        let total: f64 = w.iter().sum();
        (r, w.into_iter().map(|v| v / total).collect())
    }

    /// Exact Boltzmann samples, `per_temperature` at each of `kts` (energy units):
    /// `r` by inverse CDF of `r² exp(−A/kT)` on a fine grid, a uniformly random
    /// direction, `x ~ N(0, kT/k(r))` per hidden coordinate. Each sample carries the
    /// instantaneous mapped forces and fine-grained energy.
    pub fn sample(
        &self,
        kts: &[f64],
        per_temperature: usize,
        seed: u64,
    ) -> Result<Vec<TemperatureSample>> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(kts.len() * per_temperature);
        for &kt in kts {
            check_kt(kt)?;
            let (grid, w) = self.boltzmann_grid(kt, 8001);
            // Trapezoidal cumulative distribution.
            let mut cdf = vec![0.0; grid.len()];
            for k in 1..grid.len() {
                cdf[k] = cdf[k - 1] + 0.5 * (w[k] + w[k - 1]);
            }
            let total = cdf[grid.len() - 1];
            for _ in 0..per_temperature {
                let target = rng.gen::<f64>() * total;
                let k = cdf
                    .partition_point(|&c| c < target)
                    .clamp(1, grid.len() - 1);
                let span = cdf[k] - cdf[k - 1];
                let frac = if span > 0.0 {
                    (target - cdf[k - 1]) / span
                } else {
                    0.5
                };
                let r = grid[k - 1] + frac * (grid[k] - grid[k - 1]);
                let n = loop {
                    let v = Vec3::new(
                        StandardNormal.sample(&mut rng),
                        StandardNormal.sample(&mut rng),
                        StandardNormal.sample(&mut rng),
                    );
                    let norm = v.norm();
                    if norm > 1e-12 {
                        break v / norm;
                    }
                };
                let (k_r, dk_r) = self.hidden_stiffness(r);
                let sd = (kt / k_r).sqrt();
                let x2: f64 = (0..self.hidden_dim)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        (sd * z).powi(2)
                    })
                    .sum();
                let (u0, du0) = self.bare_energy(r);
                let radial = -(du0 + 0.5 * dk_r * x2);
                let mut s = Structure::new(vec![Vec3::zeros(), n * r], vec![0, 0], SimBox::open());
                s.energy = Some(u0 + 0.5 * k_r * x2);
                s.forces = Some(vec![-n * radial, n * radial]);
                out.push(TemperatureSample::new(s, kt));
            }
        }
        Ok(out)
    }

    /// Errors of `model` at `kt` on an `n`-point Boltzmann-weighted grid.
    pub fn errors(&self, model: &dyn FreeEnergyModel, kt: f64, n: usize) -> Result<DimerErrors> {
        check_kt(kt)?;
        let (grid, w) = self.boltzmann_grid(kt, n);
        let preds = grid
            .iter()
            .map(|&r| model.predict(&Self::frame(r), kt))
            .collect::<Result<Vec<_>>>()?;
        let diff: Vec<f64> = grid
            .iter()
            .zip(&preds)
            .map(|(&r, p)| p.free_energy - self.free_energy(r, kt))
            .collect();
        let mean: f64 = diff.iter().zip(&w).map(|(d, w)| d * w).sum();
        let wrms = |f: &dyn Fn(usize) -> f64| {
            (0..grid.len())
                .map(|k| w[k] * f(k).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        Ok(DimerErrors {
            kt,
            free_energy_rmse: wrms(&|k| diff[k] - mean),
            mean_energy_rmse: wrms(&|k| preds[k].mean_energy - self.mean_energy(grid[k], kt)),
            // Force on particle 1 along +x is the mean force along r.
            mean_force_rmse: wrms(&|k| preds[k].forces[1].x - self.mean_force(grid[k], kt)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_terms_have_the_beta_derivative_they_claim() {
        // d(β g(1/β))/dβ by central differences, kT_ref = 1.
        for term in TemperatureTerm::ALL {
            for t in [0.5, 1.0, 1.7] {
                let f = |beta: f64| beta * term.value(1.0 / beta);
                let (b, h) = (1.0 / t, 1e-5);
                let fd = (f(b + h) - f(b - h)) / (2.0 * h);
                assert!((fd - term.beta_derivative(t)).abs() < 1e-8, "{term:?} {t}");
            }
        }
    }

    #[test]
    fn switch_is_smooth_and_its_derivative_matches() {
        let (on, rc) = (1.0, 2.0);
        assert_eq!(switch(0.5, on, rc), (1.0, 0.0));
        assert_eq!(switch(2.5, on, rc), (0.0, 0.0));
        for r in [1.01, 1.3, 1.5, 1.9, 1.999] {
            let h = 1e-6;
            let fd = (switch(r + h, on, rc).0 - switch(r - h, on, rc).0) / (2.0 * h);
            assert!((fd - switch(r, on, rc).1).abs() < 1e-7, "{r}");
        }
        // Continuous value and slope at both ends.
        assert!((switch(on + 1e-9, on, rc).0 - 1.0).abs() < 1e-12);
        assert!(switch(rc - 1e-9, on, rc).0.abs() < 1e-12);
    }

    #[test]
    fn dimer_formulas_are_consistent() {
        let d = HiddenHarmonicDimer::standard();
        for (r, kt) in [(1.0, 0.6), (1.3, 1.0), (1.6, 1.4)] {
            let h = 1e-5;
            // Mean force = −∂A/∂r.
            let fd = -(d.free_energy(r + h, kt) - d.free_energy(r - h, kt)) / (2.0 * h);
            assert!((fd - d.mean_force(r, kt)).abs() < 1e-6);
            // ⟨u⟩ = ∂(βA)/∂β.
            let ba = |b: f64| b * d.free_energy(r, 1.0 / b);
            let b = 1.0 / kt;
            let fd = (ba(b + h) - ba(b - h)) / (2.0 * h);
            assert!((fd - d.mean_energy(r, kt)).abs() < 1e-6);
            // u₀' and k' against differences of u₀ and k.
            let fd = (d.bare_energy(r + h).0 - d.bare_energy(r - h).0) / (2.0 * h);
            assert!((fd - d.bare_energy(r).1).abs() < 1e-6);
            let fd = (d.hidden_stiffness(r + h).0 - d.hidden_stiffness(r - h).0) / (2.0 * h);
            assert!((fd - d.hidden_stiffness(r).1).abs() < 1e-6 * d.stiffness);
        }
    }
}
