//! Reweighting of sampled states to nearby parameters (chemtrain eq. 8–11, §4.2.2
//! `ensemble.reweighting`), the building block DiffTRe and relative entropy share:
//! sample states at reference parameters `θ̃`, keep their per-state quantities, weight
//! them by `w_i ∝ exp(−β[U_θ(r_i) − U_θ̃(r_i)])` for the current `θ`, resample by MD when
//! the effective sample size falls below a threshold, and track the free-energy change
//! along training (EXP within a reference set, BAR between successive ones).

use serde::{Deserialize, Serialize};
use thermograd_estimators::{bar, entropy_ess, exp_forward, kish_ess, BarConfig};
use thermograd_geometry::Mat3;
use thermograd_md::Potential;
use thermograd_nn::Frame;

use crate::error::{config_error, Result};
use crate::model::EnergyModel;
use crate::sampler::{Sampler, Snapshot};

/// Which effective-sample-size formula decides when to resample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EssKind {
    /// Kish's `(Σw)²/Σw²` ([`thermograd_estimators::kish_ess`]).
    #[default]
    Kish,
    /// `exp(−Σ w ln w)`, chemtrain eq. 11 ([`thermograd_estimators::entropy_ess`]).
    Entropy,
}

/// When to resample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReweightingConfig {
    /// Resample when `ESS / N` falls below this fraction (in `(0, 1]`; chemtrain's
    /// default is 0.9).
    pub ess_threshold: f64,
    /// The ESS formula.
    pub ess: EssKind,
}

impl Default for ReweightingConfig {
    fn default() -> Self {
        ReweightingConfig {
            ess_threshold: 0.9,
            ess: EssKind::Kish,
        }
    }
}

impl ReweightingConfig {
    /// Checks the threshold.
    pub fn validate(&self) -> Result<()> {
        if self.ess_threshold > 0.0 && self.ess_threshold <= 1.0 {
            Ok(())
        } else {
            Err(config_error("ess_threshold", "must be in (0, 1]"))
        }
    }
}

/// Normalised weights of reference states at new parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// `w_i`, summing to 1.
    pub weights: Vec<f64>,
    /// Effective sample size (a count in `[1, N]`).
    pub ess: f64,
    /// `β[F(θ) − F(θ̃)]` by EXP (Zwanzig), in units of kT.
    pub reduced_delta_f: f64,
}

/// Weights `w_i ∝ exp(−β[u_i − u_ref,i])` (chemtrain eq. 9) from the energies of the
/// reference states under the reference parameters (`u_ref`) and the new ones (`u`),
/// energy units; `beta = 1/kT`.
pub fn reweight(beta: f64, u_ref: &[f64], u: &[f64], kind: EssKind) -> Result<Weights> {
    if u_ref.len() != u.len() || u.is_empty() {
        return Err(config_error(
            "reweighting",
            format!("{} reference and {} new energies", u_ref.len(), u.len()),
        ));
    }
    let work: Vec<f64> = u.iter().zip(u_ref).map(|(a, b)| beta * (a - b)).collect();
    let log_w: Vec<f64> = work.iter().map(|w| -w).collect();
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let raw: Vec<f64> = log_w.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = raw.iter().sum();
    let weights = raw.iter().map(|w| w / total).collect();
    let ess = match kind {
        EssKind::Kish => kish_ess(&log_w)?,
        EssKind::Entropy => entropy_ess(&log_w)?,
    };
    Ok(Weights {
        weights,
        ess,
        reduced_delta_f: exp_forward(&work)?.delta_f,
    })
}

/// States sampled at reference parameters `θ̃`, with the per-state quantities the
/// trainers reuse until the next resampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSet {
    /// The sampled states (total energy and virial at `θ̃`).
    pub snapshots: Vec<Snapshot>,
    /// The model's part of the energy at `θ̃` (energy units).
    pub model_energy: Vec<f64>,
    /// The model's part of the virial at `θ̃` (energy units).
    pub model_virial: Vec<Mat3>,
    /// `θ̃`.
    pub parameters: Vec<f64>,
    /// `β[F(θ̃) − F(θ₀)]` relative to the first reference set (kT units).
    pub reduced_free_energy: f64,
    /// Its accumulated standard error (kT units).
    pub reduced_free_energy_error: f64,
}

impl ReferenceSet {
    /// The configurations.
    pub fn frames(&self) -> Vec<Frame> {
        self.snapshots.iter().map(|s| s.frame.clone()).collect()
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether there are no states.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }
}

/// Energies (and virials, if `with_virial`) of the model on `frames`.
pub(crate) fn model_terms<M: EnergyModel + ?Sized>(
    model: &M,
    frames: &[Frame],
    with_virial: bool,
) -> Result<(Vec<f64>, Vec<Mat3>)> {
    if with_virial {
        let evals = model.evaluate_frames(frames)?;
        Ok(evals.into_iter().map(|e| (e.energy, e.virial)).unzip())
    } else {
        Ok((model.energies(frames)?, vec![Mat3::zeros(); frames.len()]))
    }
}

/// A free-energy change measured when a new reference set replaced an old one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergyStep {
    /// Update (or step) at which the new set was sampled.
    pub update: usize,
    /// `F(θ̃_new) − F(θ̃_old)` by BAR (energy units).
    pub delta_f: f64,
    /// Its standard error (energy units).
    pub std_err: f64,
    /// `F(θ̃_new) − F(θ₀)` accumulated along training (energy units).
    pub total: f64,
}

/// Sampling, reweighting and free-energy bookkeeping at one thermodynamic state point.
#[derive(Debug)]
pub(crate) struct Statepoint {
    pub sampler: Sampler,
    pub config: ReweightingConfig,
    pub with_virial: bool,
    pub reference: Option<ReferenceSet>,
    pub free_energy: Vec<FreeEnergyStep>,
}

/// The resumable part of a [`Statepoint`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StatepointState {
    pub sampler: crate::sampler::SamplerState,
    pub reference: Option<ReferenceSet>,
    pub free_energy: Vec<FreeEnergyStep>,
}

impl Statepoint {
    pub fn beta(&self) -> f64 {
        1.0 / self.sampler.config().kt
    }

    pub fn save(&self) -> StatepointState {
        StatepointState {
            sampler: self.sampler.save(),
            reference: self.reference.clone(),
            free_energy: self.free_energy.clone(),
        }
    }

    pub fn restore(&mut self, s: StatepointState) -> Result<()> {
        self.sampler.restore(s.sampler)?;
        self.reference = s.reference;
        self.free_energy = s.free_energy;
        Ok(())
    }

    /// Samples a new reference set with `model` at its current parameters; the
    /// free-energy change from the old set is estimated by BAR.
    pub fn resample<M>(&mut self, model: &M, update: usize) -> Result<()>
    where
        M: EnergyModel + Clone + 'static,
    {
        let snapshots = self
            .sampler
            .sample(Box::new(model.clone()) as Box<dyn Potential>)?;
        let frames: Vec<Frame> = snapshots.iter().map(|s| s.frame.clone()).collect();
        let (model_energy, model_virial) = model_terms(model, &frames, self.with_virial)?;
        let parameters = model.parameters();
        let (reduced, error) = match &self.reference {
            None => (0.0, 0.0),
            Some(old) => {
                let beta = self.beta();
                // Forward: old states, new − old parameters; reverse: new states.
                let u_new_on_old = model.energies(&old.frames())?;
                let w_f: Vec<f64> = u_new_on_old
                    .iter()
                    .zip(&old.model_energy)
                    .map(|(n, o)| beta * (n - o))
                    .collect();
                let mut old_model = model.clone();
                old_model.set_parameters(&old.parameters)?;
                let u_old_on_new = old_model.energies(&frames)?;
                let w_r: Vec<f64> = u_old_on_new
                    .iter()
                    .zip(&model_energy)
                    .map(|(o, n)| beta * (o - n))
                    .collect();
                let est = bar(&w_f, &w_r, &BarConfig::default())?;
                let kt = self.sampler.config().kt;
                let total = old.reduced_free_energy + est.delta_f;
                let error = old.reduced_free_energy_error.hypot(est.std_err);
                self.free_energy.push(FreeEnergyStep {
                    update,
                    delta_f: kt * est.delta_f,
                    std_err: kt * est.std_err,
                    total: kt * total,
                });
                (total, error)
            }
        };
        self.reference = Some(ReferenceSet {
            snapshots,
            model_energy,
            model_virial,
            parameters,
            reduced_free_energy: reduced,
            reduced_free_energy_error: error,
        });
        Ok(())
    }

    /// The current model's energies (and virials) on the reference states and their
    /// weights; resamples first if there is no set yet or the ESS fraction is below the
    /// threshold. Returns whether it resampled.
    pub fn weights<M>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<(Weights, Vec<f64>, Vec<Mat3>, bool)>
    where
        M: EnergyModel + Clone + 'static,
    {
        let mut resampled = false;
        if self.reference.is_none() {
            self.resample(model, update)?;
            resampled = true;
        }
        loop {
            let reference = self.reference.as_ref().expect("sampled");
            let frames = reference.frames();
            let (u, w) = model_terms(model, &frames, self.with_virial)?;
            let weights = reweight(self.beta(), &reference.model_energy, &u, self.config.ess)?;
            let fraction = weights.ess / reference.len() as f64;
            if fraction >= self.config.ess_threshold || resampled {
                return Ok((weights, u, w, resampled));
            }
            self.resample(model, update)?;
            resampled = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_energies_give_uniform_weights() {
        let u = [1.0, 2.0, 3.0];
        let w = reweight(2.0, &u, &u, EssKind::Kish).unwrap();
        assert_eq!(w.weights, vec![1.0 / 3.0; 3]);
        assert!((w.ess - 3.0).abs() < 1e-12);
        assert_eq!(w.reduced_delta_f, 0.0);
    }

    #[test]
    fn weights_follow_the_boltzmann_factor() {
        // Shifting one state's energy by kT ln 3 down triples its weight.
        let beta = 0.5;
        let u_ref = [0.0, 0.0];
        let u = [-(3f64.ln()) / beta, 0.0];
        let w = reweight(beta, &u_ref, &u, EssKind::Entropy).unwrap();
        assert!((w.weights[0] - 0.75).abs() < 1e-12);
        // βΔF = −ln((3 + 1)/2).
        assert!((w.reduced_delta_f + 2f64.ln()).abs() < 1e-12);
        assert!(reweight(1.0, &[0.0], &[], EssKind::Kish).is_err());
    }
}
