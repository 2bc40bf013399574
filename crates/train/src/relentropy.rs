//! Relative-entropy minimisation (Shell 2008; Thaler, Stupp & Zavadlav, J. Chem. Phys.
//! 157, 244103, 2022; chemtrain §3.2.2, eq. 19–22): fit a coarse-grained model to mapped
//! fine-grained reference configurations by minimising
//!
//! `L(θ) = β⟨U_θ(M(r))⟩_FG − β ΔA_θ`   (eq. 22),
//!
//! which differs from the relative entropy by a constant. Its gradient is
//! `β (⟨∂U_θ/∂θ⟩_FG − ⟨∂U_θ/∂θ⟩_θ)`; the model average uses states sampled by MD at
//! reference parameters and reweighted to `θ` while the effective sample size stays
//! above a threshold (the same [`Statepoint`] machinery as DiffTRe), and `ΔA_θ` is
//! tracked along training (BAR between reference sets, EXP within one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_md::{Potential, State};
use thermograd_nn::Frame;

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::data::{batch_indices, Dataset};
use crate::error::{config_error, Result};
use crate::model::{Cotangents, EnergyModel};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::reweight::{
    reweight, FreeEnergyStep, ReweightingConfig, Statepoint, StatepointState, Weights,
};
use crate::sampler::{Sampler, SamplerConfig};
use crate::trainloop::{
    self, apply_gradient, restore_parameters, LoopSettings, SamplingCheckpoint, TrainLoop,
};

/// Settings of a [`RelativeEntropy`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelativeEntropyConfig {
    /// How model states are sampled.
    pub sampler: SamplerConfig,
    /// Number of parameter updates.
    pub updates: usize,
    /// Optimizer (the schedule runs over updates).
    pub optimizer: OptimizerConfig,
    /// When to resample model states.
    pub reweighting: ReweightingConfig,
    /// Reference configurations per update (`None`: all of them every update).
    pub reference_batch: Option<usize>,
    /// Seed of the reference minibatches.
    pub seed: u64,
    /// Checkpoint written atomically after every update.
    pub checkpoint: Option<PathBuf>,
    /// Metrics file, rewritten after every update (`.csv`, otherwise JSON lines).
    pub metrics: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl RelativeEntropyConfig {
    /// Checks the settings and builds the trainer: `reference` holds the (mapped)
    /// fine-grained configurations, `model` is trained with `prior` (if any) added in
    /// every simulation, which starts from `initial`.
    pub fn build<M: EnergyModel + Clone + 'static>(
        &self,
        model: M,
        reference: Dataset,
        initial: State,
        prior: Option<Arc<dyn Potential>>,
    ) -> Result<RelativeEntropy<M>> {
        if self.updates == 0 {
            return Err(config_error("updates", "need at least one"));
        }
        let point = RelativeEntropyPoint::new(
            self.sampler,
            self.reweighting,
            reference,
            self.reference_batch,
            self.seed,
            initial,
            prior,
        )?;
        let optimizer = self.optimizer.build(model.n_parameters())?;
        Ok(RelativeEntropy {
            config: self.clone(),
            model,
            point,
            optimizer,
            update: 0,
            history: Vec::new(),
        })
    }
}

/// The per-state-point part of relative-entropy minimisation: the (mapped) reference
/// configurations at one thermodynamic state, the sampler and reweighting of model
/// states there, and the loss and parameter gradient of a model (eq. 22).
/// [`RelativeEntropy`] holds one; [`crate::MultiStateRelativeEntropy`] one per state
/// point, sharing the parameters and the optimizer.
#[derive(Debug)]
pub(crate) struct RelativeEntropyPoint {
    reference: Vec<Frame>,
    reference_batch: Option<usize>,
    seed: u64,
    pub(crate) statepoint: Statepoint,
}

impl RelativeEntropyPoint {
    /// Checks the settings and builds the sampler (which starts from `initial`, with
    /// `prior` added to the model in every simulation).
    pub(crate) fn new(
        sampler: SamplerConfig,
        reweighting: ReweightingConfig,
        reference: Dataset,
        reference_batch: Option<usize>,
        seed: u64,
        initial: State,
        prior: Option<Arc<dyn Potential>>,
    ) -> Result<Self> {
        reweighting.validate()?;
        if reference.is_empty() {
            return Err(config_error("reference data", "is empty"));
        }
        if reference_batch == Some(0) {
            return Err(config_error("reference_batch", "must be at least 1"));
        }
        Ok(RelativeEntropyPoint {
            reference: reference.frames(),
            reference_batch,
            seed,
            statepoint: Statepoint {
                sampler: Sampler::new(sampler, initial, prior)?,
                config: reweighting,
                with_virial: false,
                reference: None,
                free_energy: Vec::new(),
            },
        })
    }

    /// Free-energy changes between successive sets of model states.
    pub(crate) fn free_energy_steps(&self) -> &[FreeEnergyStep] {
        &self.statepoint.free_energy
    }

    /// Sets of model states sampled so far.
    pub(crate) fn simulations(&self) -> u64 {
        self.statepoint.sampler.runs()
    }

    /// Samples model states with `model` if there are none (`update`: the update
    /// number recorded with the free-energy step).
    pub(crate) fn ensure_samples<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<()> {
        if self.statepoint.reference.is_none() {
            self.statepoint.resample(model, update)?;
        }
        Ok(())
    }

    /// The current model states (sampled on first use).
    pub(crate) fn model_states<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<Vec<Frame>> {
        self.ensure_samples(model, update)?;
        Ok(self
            .statepoint
            .reference
            .as_ref()
            .expect("sampled")
            .frames())
    }

    /// The reference minibatch of update `update` (all configurations without
    /// `reference_batch`).
    fn batch(&self, update: usize) -> Result<Vec<Frame>> {
        match self.reference_batch {
            Some(b) if b < self.reference.len() => {
                let seed = self.seed ^ (update as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F);
                let first = batch_indices(self.reference.len(), b, Some(seed))?.remove(0);
                Ok(first.iter().map(|&i| self.reference[i].clone()).collect())
            }
            _ => Ok(self.reference.clone()),
        }
    }

    fn evaluate<M: EnergyModel>(
        &self,
        model: &M,
        batch: &[Frame],
        weights: &Weights,
        resampled: bool,
    ) -> Result<RelativeEntropyLoss> {
        let reference = self.statepoint.reference.as_ref().expect("sampled");
        let kt = self.statepoint.sampler.config().kt;
        let beta = 1.0 / kt;
        let u_ref = model.energies(batch)?;
        let mean_ref = u_ref.iter().sum::<f64>() / batch.len() as f64;
        let reduced_f = reference.reduced_free_energy + weights.reduced_delta_f;
        let loss = beta * mean_ref - reduced_f;
        let mut frames = batch.to_vec();
        frames.extend(reference.frames());
        let b = batch.len() as f64;
        let energy: Vec<f64> = std::iter::repeat_n(beta / b, batch.len())
            .chain(weights.weights.iter().map(|w| -beta * w))
            .collect();
        let gradient = model.parameter_vjp(
            &frames,
            &Cotangents {
                energy: &energy,
                forces: None,
                virial: None,
            },
        )?;
        Ok(RelativeEntropyLoss {
            loss,
            gradient,
            ess: weights.ess,
            resampled,
            free_energy: kt * reduced_f,
        })
    }

    /// Loss and gradient of `model` on the current model states, without resampling
    /// (samples once if there are none), over all reference configurations.
    pub(crate) fn loss<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<RelativeEntropyLoss> {
        let frames = self.model_states(model, update)?;
        let reference = self.statepoint.reference.as_ref().expect("sampled");
        let u = model.energies(&frames)?;
        let weights = reweight(
            self.statepoint.beta(),
            &reference.model_energy,
            &u,
            self.statepoint.config.ess,
        )?;
        let all = self.reference.clone();
        self.evaluate(model, &all, &weights, false)
    }

    /// Loss and gradient of `model` for update `update` on its reference minibatch:
    /// reweights the model states, resampling first if there are none or the ESS
    /// fraction is below the threshold. Also returns the number of model states.
    pub(crate) fn loss_for_update<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<(RelativeEntropyLoss, usize)> {
        let (weights, _, _, resampled) = self.statepoint.weights(model, update)?;
        let batch = self.batch(update)?;
        let out = self.evaluate(model, &batch, &weights, resampled)?;
        let n = self.statepoint.reference.as_ref().map_or(1, |r| r.len());
        Ok((out, n))
    }

    /// The resumable part.
    pub(crate) fn save(&self) -> StatepointState {
        self.statepoint.save()
    }

    /// Restores what [`RelativeEntropyPoint::save`] returned.
    pub(crate) fn restore(&mut self, state: StatepointState) -> Result<()> {
        self.statepoint.restore(state)
    }
}

/// The relative-entropy loss (eq. 22, up to a constant) and its gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct RelativeEntropyLoss {
    /// `β⟨U_θ⟩_FG − βΔA_θ` over the reference configurations used (kT units; the
    /// prior's constant average is left out).
    pub loss: f64,
    /// `β(⟨∂U/∂θ⟩_FG − ⟨∂U/∂θ⟩_θ)`.
    pub gradient: Vec<f64>,
    /// Effective sample size of the model states' weights (count).
    pub ess: f64,
    /// Whether new model states were sampled for this evaluation.
    pub resampled: bool,
    /// `F(θ) − F(θ₀)` (energy units).
    pub free_energy: f64,
}

/// Metrics of one update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelativeEntropyUpdate {
    /// Update number (from 1).
    pub update: usize,
    /// Loss before the step (kT units).
    pub loss: f64,
    /// ESS fraction of the model states.
    pub ess_fraction: f64,
    /// Whether model states were resampled for this update.
    pub resampled: bool,
    /// Simulations run so far.
    pub simulations: u64,
    /// `F(θ) − F(θ₀)` before the step (energy units).
    pub free_energy: f64,
    /// Gradient norm.
    pub gradient_norm: f64,
    /// Wall time of the update (seconds).
    pub seconds: f64,
}

/// A relative-entropy trainer; see the module docs. Checkpoints resume exactly, as
/// for [`crate::DiffTRe`].
#[derive(Debug)]
pub struct RelativeEntropy<M> {
    config: RelativeEntropyConfig,
    model: M,
    point: RelativeEntropyPoint,
    optimizer: Optimizer,
    update: usize,
    history: Vec<RelativeEntropyUpdate>,
}

type ReCheckpoint = SamplingCheckpoint<RelativeEntropyUpdate>;

const KIND: &str = "relative-entropy";

impl<M: EnergyModel + Clone + 'static> RelativeEntropy<M> {
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, consuming the trainer.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Replaces the parameters.
    pub fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        Ok(self.model.set_parameters(parameters)?)
    }

    /// Metrics of the updates so far.
    pub fn history(&self) -> &[RelativeEntropyUpdate] {
        &self.history
    }

    /// Free-energy changes between successive reference sets.
    pub fn free_energy_steps(&self) -> &[FreeEnergyStep] {
        self.point.free_energy_steps()
    }

    /// The current model states (sampled on first use).
    pub fn model_states(&mut self) -> Result<Vec<Frame>> {
        self.point.model_states(&self.model, self.update)
    }

    /// Loss and gradient at the current parameters on the current model states,
    /// **without** resampling (samples once if there are none), over all reference
    /// configurations.
    pub fn loss(&mut self) -> Result<RelativeEntropyLoss> {
        self.point.loss(&self.model, self.update)
    }

    /// One update: reweight (resampling if the ESS fraction is below the threshold),
    /// loss and gradient on a reference minibatch, one optimizer step.
    pub fn update(&mut self) -> Result<&RelativeEntropyUpdate> {
        trainloop::step(self)
    }

    /// Runs the remaining updates.
    pub fn train(&mut self) -> Result<&[RelativeEntropyUpdate]> {
        trainloop::train(self)?;
        Ok(&self.history)
    }

    /// Writes a checkpoint atomically.
    pub fn save_checkpoint(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        save_checkpoint(
            path,
            KIND,
            &ReCheckpoint {
                parameters: self.model.parameters(),
                optimizer: self.optimizer.clone(),
                update: self.update,
                history: self.history.clone(),
                statepoint: self.point.save(),
            },
        )
    }

    /// Continues from a checkpoint of a run with the same settings and data and a model
    /// built the same way.
    pub fn resume(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let c: ReCheckpoint = load_checkpoint(path, KIND)?;
        restore_parameters(&mut self.model, &c.parameters, path)?;
        self.optimizer = c.optimizer;
        self.update = c.update;
        self.history = c.history;
        self.point.restore(c.statepoint)
    }
}

impl<M: EnergyModel + Clone + 'static> TrainLoop for RelativeEntropy<M> {
    type Row = RelativeEntropyUpdate;
    const UNIT: &'static str = "updates";

    fn settings(&self) -> LoopSettings<'_> {
        LoopSettings {
            planned: self.config.updates,
            progress: self.config.progress,
            checkpoint: self.config.checkpoint.as_deref(),
            metrics: self.config.metrics.as_deref(),
        }
    }

    fn steps_done(&self) -> usize {
        self.update
    }

    fn advance(&mut self) -> Result<()> {
        let start = Instant::now();
        let (out, n) = self.point.loss_for_update(&self.model, self.update)?;
        let info = apply_gradient(
            &mut self.model,
            &mut self.optimizer,
            &out.gradient,
            self.update,
            self.config.updates,
        )?;
        self.update += 1;
        self.history.push(RelativeEntropyUpdate {
            update: self.update,
            loss: out.loss,
            ess_fraction: out.ess / n as f64,
            resampled: out.resampled,
            simulations: self.point.simulations(),
            free_energy: out.free_energy,
            gradient_norm: info.gradient_norm,
            seconds: start.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    fn rows(&self) -> &[RelativeEntropyUpdate] {
        &self.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(u: &RelativeEntropyUpdate) -> String {
        format!(
            "loss {:.4e}  ESS {:.2}  sims {}",
            u.loss, u.ess_fraction, u.simulations
        )
    }
}
