//! Relative-entropy minimisation over several thermodynamic state points (chemtrain
//! §3.2.2, eq. 22; Thaler, Stupp & Zavadlav, J. Chem. Phys. 157, 244103, 2022): one
//! coarse-grained model, one optimizer, and the weighted sum of the relative-entropy
//! losses of state points, each with its own mapped fine-grained reference data, its own
//! conditions (`kT`, box or density, optionally a pressure bath) and its own sampler of
//! model states,
//!
//! `L(θ) = Σ_s λ_s L_s(θ)`,  `∂L/∂θ = Σ_s λ_s β_s (⟨∂U_θ/∂θ⟩_FG,s − ⟨∂U_θ/∂θ⟩_θ,s)`.
//!
//! As for [`crate::MultiStateDiffTRe`] (issue #12), the state points are dealt round
//! robin over the ranks of a [`Comm`] ([`thermograd_dist::round_robin`]), each rank
//! samples and reweights the model states of its own state points, the weighted
//! gradients and the per-state metrics are summed with
//! [`thermograd_dist::sum_over_items`], and every rank takes the root's summed step, so
//! the parameters stay equal on all ranks. A run on `R` ranks equals the single-process
//! run ([`thermograd_dist::Serial`]) up to the order in which the ranks' partial sums
//! are added (bit for bit with at most one state point per rank).
//!
//! Checkpoints are per rank: rank `k` writes `<checkpoint>.rank<k>`
//! ([`crate::rank_checkpoint_path`]) with the shared parameters, the optimizer, the
//! history and the sampling state of the state points it owns; a job resumes
//! ([`MultiStateRelativeEntropy::resume`]) with the same number of ranks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_dist::{round_robin, Comm};
use thermograd_md::{Potential, State};

use crate::data::Dataset;
use crate::difftre::join_losses;
use crate::error::{config_error, Result};
use crate::model::EnergyModel;
use crate::multistate::{check_weights, sum_state_points, CheckpointedPoint, Progress};
use crate::optim::OptimizerConfig;
use crate::relentropy::RelativeEntropyPoint;
use crate::reweight::{FreeEnergyStep, ReweightingConfig, StatepointState};
use crate::sampler::SamplerConfig;
use crate::trainloop::{self, apply_gradient, LoopSettings, TrainLoop};

/// The settings of one state point of a [`MultiStateRelativeEntropy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelativeEntropyStatePointConfig {
    /// How its model states are sampled: `kt` (energy units; the `β_s` of its loss), MD
    /// settings, the seed, and `pressure` for an NPT state point.
    pub sampler: SamplerConfig,
    /// When its model states are resampled.
    pub reweighting: ReweightingConfig,
    /// Reference configurations per update (`None`: all of them every update).
    pub reference_batch: Option<usize>,
    /// Seed of its reference minibatches.
    pub seed: u64,
    /// `λ_s`, the weight of its loss in the total (finite, ≥ 0).
    pub weight: f64,
}

/// What a state point needs besides its settings: its reference data, where its
/// simulations start and the fixed prior added to the model there.
#[derive(Debug)]
pub struct RelativeEntropyStatePoint {
    /// The (mapped) fine-grained reference configurations at this state point.
    pub reference: Dataset,
    /// The initial state of its simulations (positions, velocities, masses, box).
    pub initial: State,
    /// A fixed potential added to the model in every simulation (`None`: none).
    pub prior: Option<Arc<dyn Potential>>,
}

/// Settings of a [`MultiStateRelativeEntropy`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStateRelativeEntropyConfig {
    /// The state points, in order (their index is their identity in metrics and
    /// checkpoints, and decides which rank owns them).
    pub states: Vec<RelativeEntropyStatePointConfig>,
    /// Number of parameter updates.
    pub updates: usize,
    /// The one optimizer of the shared parameters (the schedule runs over updates).
    pub optimizer: OptimizerConfig,
    /// Checkpoint base path: rank `k` writes `<checkpoint>.rank<k>` atomically after
    /// every update.
    pub checkpoint: Option<PathBuf>,
    /// Metrics file, rewritten by rank 0 after every update (`.csv`, otherwise JSON
    /// lines).
    pub metrics: Option<PathBuf>,
    /// Show a progress bar on rank 0's stderr.
    pub progress: bool,
}

impl MultiStateRelativeEntropyConfig {
    /// Checks the settings and builds the trainer on the ranks of `comm`: `model` is
    /// trained, `states[s]` goes with `self.states[s]`. Every rank must call it with the
    /// same arguments; each rank keeps only the state points it owns.
    pub fn build<'c, M: EnergyModel + Clone + 'static>(
        &self,
        comm: &'c dyn Comm,
        model: M,
        states: Vec<RelativeEntropyStatePoint>,
    ) -> Result<MultiStateRelativeEntropy<'c, M>> {
        if self.updates == 0 {
            return Err(config_error("updates", "need at least one"));
        }
        if self.states.is_empty() {
            return Err(config_error("states", "need at least one state point"));
        }
        if states.len() != self.states.len() {
            return Err(config_error(
                "states",
                format!(
                    "{} state-point settings but {} state points",
                    self.states.len(),
                    states.len()
                ),
            ));
        }
        check_weights(self.states.iter().map(|s| s.weight))?;
        let owned = round_robin(self.states.len(), comm.rank(), comm.size());
        let mut points = Vec::with_capacity(states.len());
        for (s, (config, point)) in self.states.iter().zip(states).enumerate() {
            // Every rank checks every state point, so that bad input fails everywhere.
            let built = RelativeEntropyPoint::new(
                config.sampler,
                config.reweighting,
                point.reference,
                config.reference_batch,
                config.seed,
                point.initial,
                point.prior,
            )?;
            points.push(owned.contains(&s).then_some(built));
        }
        let optimizer = self.optimizer.build(model.n_parameters())?;
        Ok(MultiStateRelativeEntropy {
            config: self.clone(),
            comm,
            model,
            points,
            progress: Progress::new(optimizer),
        })
    }
}

/// The loss of a [`MultiStateRelativeEntropy`] at the current parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStateRelativeEntropyLoss {
    /// `L = Σ_s λ_s L_s` (kT units of each state point).
    pub loss: f64,
    /// `∂L/∂θ`, summed over state points (and ranks).
    pub gradient: Vec<f64>,
    /// What each state point reported, in state-point order.
    pub states: Vec<RelativeEntropyReport>,
}

/// The loss and reweighting diagnostics of one state point at one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelativeEntropyReport {
    /// Its loss `L_s = β_s⟨U_θ⟩_FG − β_s ΔA_θ` (eq. 22 up to a constant; unweighted by
    /// `λ_s`; kT units).
    pub loss: f64,
    /// ESS fraction `ESS/N` of its model states' weights.
    pub ess_fraction: f64,
    /// Whether its model states were resampled for this evaluation.
    pub resampled: bool,
    /// `F(θ) − F(θ₀)` at this state point (energy units).
    pub free_energy: f64,
    /// Sets of model states it has sampled so far.
    pub simulations: u64,
}

/// Metrics of one update of a [`MultiStateRelativeEntropy`]. Per-state-point values
/// are `;`-separated in state-point order (so a CSV row stays flat); the typed values
/// are in [`MultiStateRelativeEntropy::reports`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStateRelativeEntropyUpdate {
    /// Update number (from 1).
    pub update: usize,
    /// `Σ_s λ_s L_s` before the step.
    pub loss: f64,
    /// `L_s` of each state point.
    pub state_losses: String,
    /// ESS fraction of each state point.
    pub ess_fractions: String,
    /// State points resampled for this update.
    pub resampled: usize,
    /// Sets of model states sampled so far, over all state points.
    pub simulations: u64,
    /// `F(θ) − F(θ₀)` of each state point (energy units).
    pub free_energies: String,
    /// Norm of the summed gradient.
    pub gradient_norm: f64,
    /// Wall time of the update on this rank, including its sampling (seconds).
    pub seconds: f64,
}

/// Scalars per state point in the reduced vector, after the gradient.
const FIELDS: usize = 5;

const KIND: &str = "relative-entropy-multistate";

impl CheckpointedPoint for RelativeEntropyPoint {
    fn save(&self) -> StatepointState {
        RelativeEntropyPoint::save(self)
    }
    fn restore(&mut self, state: StatepointState) -> Result<()> {
        RelativeEntropyPoint::restore(self, state)
    }
}

/// A relative-entropy trainer over several state points, spread over the ranks of a
/// [`Comm`]; see the module docs. The collective methods
/// ([`MultiStateRelativeEntropy::loss`], [`MultiStateRelativeEntropy::update`],
/// [`MultiStateRelativeEntropy::train`], [`MultiStateRelativeEntropy::resume`],
/// [`MultiStateRelativeEntropy::save_checkpoint`]) must be called by every rank in the
/// same order.
#[derive(Debug)]
pub struct MultiStateRelativeEntropy<'c, M> {
    config: MultiStateRelativeEntropyConfig,
    comm: &'c dyn Comm,
    model: M,
    /// `Some` for the state points this rank owns.
    points: Vec<Option<RelativeEntropyPoint>>,
    progress: Progress<MultiStateRelativeEntropyUpdate, RelativeEntropyReport>,
}

impl<M: EnergyModel + Clone + 'static> MultiStateRelativeEntropy<'_, M> {
    /// The model (the same parameters on every rank).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, consuming the trainer.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Replaces the parameters (on this rank; call it on every rank alike).
    pub fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        Ok(self.model.set_parameters(parameters)?)
    }

    /// Metrics of the updates so far (the same on every rank but for `seconds`).
    pub fn history(&self) -> &[MultiStateRelativeEntropyUpdate] {
        &self.progress.history
    }

    /// What each state point reported at each update (the same on every rank):
    /// `reports()[u][s]` is state point `s` at update `u + 1`.
    pub fn reports(&self) -> &[Vec<RelativeEntropyReport>] {
        &self.progress.reports
    }

    /// Updates done.
    pub fn updates_done(&self) -> usize {
        self.progress.update
    }

    /// Whether all planned updates are done.
    pub fn finished(&self) -> bool {
        trainloop::finished(self)
    }

    /// Number of state points.
    pub fn n_states(&self) -> usize {
        self.points.len()
    }

    /// The state points this rank owns.
    pub fn owned(&self) -> Vec<usize> {
        (0..self.points.len())
            .filter(|&s| self.points[s].is_some())
            .collect()
    }

    /// Free-energy changes between the successive sets of model states of state point
    /// `s`, if this rank owns it.
    pub fn free_energy_steps(&self, s: usize) -> Option<&[FreeEnergyStep]> {
        self.points.get(s)?.as_ref().map(|p| p.free_energy_steps())
    }

    /// Samples model states now for the owned state points that have none.
    pub fn ensure_samples(&mut self) -> Result<()> {
        for p in self.points.iter_mut().flatten() {
            p.ensure_samples(&self.model, self.progress.update)?;
        }
        Ok(())
    }

    /// The loss and summed gradient at the current parameters on the current model
    /// states, **without** resampling (each state point samples once if it has none),
    /// over all reference configurations of every state point. Collective.
    pub fn loss(&mut self) -> Result<MultiStateRelativeEntropyLoss> {
        self.reduce(false)
    }

    /// Evaluates every owned state point (for an update: reweighting, resampling first
    /// where the ESS asks for it, on the update's reference minibatch), then sums
    /// weighted gradients and collects the per-state reports over ranks.
    fn reduce(&mut self, for_update: bool) -> Result<MultiStateRelativeEntropyLoss> {
        let n_params = self.model.n_parameters();
        let n_states = self.points.len();
        let (model, update) = (&self.model, self.progress.update);
        let points = &mut self.points;
        let weights: Vec<f64> = self.config.states.iter().map(|s| s.weight).collect();
        let len = n_params + FIELDS * n_states;
        let total = sum_state_points(self.comm, n_states, len, &mut |s| {
            let point = points[s].as_mut().expect("items are dealt as at build");
            let (l, n_frames) = if for_update {
                point.loss_for_update(model, update)?
            } else {
                let l = point.loss(model, update)?;
                let n = point.statepoint.reference.as_ref().map_or(1, |r| r.len());
                (l, n)
            };
            let mut v = vec![0.0; len];
            for (x, g) in v.iter_mut().zip(&l.gradient) {
                *x = weights[s] * g;
            }
            let at = n_params + FIELDS * s;
            v[at] = l.loss;
            v[at + 1] = l.ess / n_frames as f64;
            v[at + 2] = if l.resampled { 1.0 } else { 0.0 };
            v[at + 3] = l.free_energy;
            v[at + 4] = point.simulations() as f64;
            Ok(v)
        })?;
        let states: Vec<RelativeEntropyReport> = (0..n_states)
            .map(|s| {
                let at = n_params + FIELDS * s;
                RelativeEntropyReport {
                    loss: total[at],
                    ess_fraction: total[at + 1],
                    resampled: total[at + 2] != 0.0,
                    free_energy: total[at + 3],
                    simulations: total[at + 4] as u64,
                }
            })
            .collect();
        let loss = states
            .iter()
            .zip(&weights)
            .map(|(r, w)| w * r.loss)
            .sum::<f64>();
        Ok(MultiStateRelativeEntropyLoss {
            loss,
            gradient: total[..n_params].to_vec(),
            states,
        })
    }

    /// One update: every rank evaluates its state points (resampling where the ESS
    /// fraction is below the threshold), the gradients are summed over ranks, one
    /// optimizer step; checkpoint and metrics if configured. Collective.
    pub fn update(&mut self) -> Result<&MultiStateRelativeEntropyUpdate> {
        trainloop::step(self)
    }

    /// Runs the remaining updates. Collective.
    pub fn train(&mut self) -> Result<&[MultiStateRelativeEntropyUpdate]> {
        trainloop::train(self)?;
        Ok(&self.progress.history)
    }

    /// Writes this rank's checkpoint to `<path>.rank<k>` atomically; a failure on any
    /// rank is an error on every rank. Collective.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        let parameters = self.model.parameters();
        self.progress
            .save_checkpoint(path.as_ref(), KIND, self.comm, &self.points, parameters)
    }

    /// Continues from the checkpoints `<path>.rank<k>` of a run with the same settings,
    /// state points, number of ranks and a model built the same way. Fails on every
    /// rank if any rank's file is missing or does not fit, or if the ranks' files are
    /// from different updates. Collective.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.progress.resume(
            path.as_ref(),
            KIND,
            self.comm,
            &mut self.points,
            &mut self.model,
        )
    }
}

impl<M: EnergyModel + Clone + 'static> TrainLoop for MultiStateRelativeEntropy<'_, M> {
    type Row = MultiStateRelativeEntropyUpdate;
    const UNIT: &'static str = "updates";

    fn settings(&self) -> LoopSettings<'_> {
        let root = self.comm.is_root();
        LoopSettings {
            planned: self.config.updates,
            progress: self.config.progress && root,
            checkpoint: self.config.checkpoint.as_deref(),
            metrics: self.config.metrics.as_deref().filter(|_| root),
        }
    }

    fn steps_done(&self) -> usize {
        self.progress.update
    }

    fn advance(&mut self) -> Result<()> {
        let start = Instant::now();
        let out = self.reduce(true)?;
        let info = apply_gradient(
            &mut self.model,
            &mut self.progress.optimizer,
            &out.gradient,
            self.progress.update,
            self.config.updates,
        )?;
        self.progress.update += 1;
        let joined = |f: &dyn Fn(&RelativeEntropyReport) -> f64| {
            join_losses(&out.states.iter().map(f).collect::<Vec<_>>())
        };
        self.progress.history.push(MultiStateRelativeEntropyUpdate {
            update: self.progress.update,
            loss: out.loss,
            state_losses: joined(&|r| r.loss),
            ess_fractions: joined(&|r| r.ess_fraction),
            resampled: out.states.iter().filter(|r| r.resampled).count(),
            simulations: out.states.iter().map(|r| r.simulations).sum(),
            free_energies: joined(&|r| r.free_energy),
            gradient_norm: info.gradient_norm,
            seconds: start.elapsed().as_secs_f64(),
        });
        self.progress.reports.push(out.states);
        Ok(())
    }

    fn rows(&self) -> &[MultiStateRelativeEntropyUpdate] {
        &self.progress.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(u: &MultiStateRelativeEntropyUpdate) -> String {
        format!(
            "loss {:.3e}  resampled {}  sims {}",
            u.loss, u.resampled, u.simulations
        )
    }
}
