//! Differentiable trajectory reweighting, DiffTRe (Thaler & Zavadlav, Nat. Commun. 12,
//! 6884, 2021; chemtrain §3.1, eq. 7–11): learn a potential from ensemble averages of
//! observables. States sampled by MD at reference parameters are reweighted to the
//! current ones, the loss of the weighted averages is differentiated through the
//! weights (and through observables that depend on the model), and new states are
//! sampled when the effective sample size drops below a threshold.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_geometry::Mat3;
use thermograd_md::{Potential, State};
use thermograd_nn::Frame;

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::error::{config_error, Result};
use crate::model::{Cotangents, EnergyModel};
use crate::observables::{Observable, StateView};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::reweight::{FreeEnergyStep, ReweightingConfig, Statepoint, StatepointState, Weights};
use crate::sampler::{Sampler, SamplerConfig};
use crate::trainloop::{
    self, apply_gradient, restore_parameters, LoopSettings, SamplingCheckpoint, TrainLoop,
};

/// One macroscopic target: the ensemble average of an observable should equal `target`.
#[derive(Debug)]
pub struct Target {
    /// The instantaneous observable.
    pub observable: Box<dyn Observable>,
    /// The target average (`observable.dim()` values).
    pub target: Vec<f64>,
    /// `γ_k`, the weight of this target's loss `ℓ = ‖A − Â‖²/(2 dim)` (eq. 7).
    pub weight: f64,
}

/// Settings of a [`DiffTRe`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffTReConfig {
    /// How states are sampled (temperature, MD settings, snapshots per run).
    pub sampler: SamplerConfig,
    /// Number of parameter updates.
    pub updates: usize,
    /// Optimizer (the schedule runs over updates).
    pub optimizer: OptimizerConfig,
    /// When to resample.
    pub reweighting: ReweightingConfig,
    /// Checkpoint written atomically after every update.
    pub checkpoint: Option<PathBuf>,
    /// Metrics file, rewritten after every update (`.csv`, otherwise JSON lines).
    pub metrics: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl DiffTReConfig {
    /// Checks the settings and builds the trainer: `model` is trained, `prior` (if
    /// any) is added to it in every simulation, which starts from `initial`.
    pub fn build<M: EnergyModel + Clone + 'static>(
        &self,
        model: M,
        initial: State,
        prior: Option<Arc<dyn Potential>>,
        targets: Vec<Target>,
    ) -> Result<DiffTRe<M>> {
        self.reweighting.validate()?;
        if self.updates == 0 {
            return Err(config_error("updates", "need at least one"));
        }
        let point = StatePointLoss::new(self.sampler, self.reweighting, initial, prior, targets)?;
        let optimizer = self.optimizer.build(model.n_parameters())?;
        Ok(DiffTRe {
            config: self.clone(),
            model,
            point,
            optimizer,
            update: 0,
            history: Vec::new(),
        })
    }
}

/// The reweighted loss at the current parameters, its gradient and the predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffTReLoss {
    /// `L = Σ_k γ_k ‖A_k − Â_k‖²/(2 dim_k)` (eq. 7).
    pub loss: f64,
    /// Loss of each target (unweighted `‖Δ‖²/(2 dim)`).
    pub target_losses: Vec<f64>,
    /// The reweighted averages `A_k` (eq. 8).
    pub predictions: Vec<Vec<f64>>,
    /// `∂L/∂θ` (eq. 10).
    pub gradient: Vec<f64>,
    /// Effective sample size of the weights (count).
    pub ess: f64,
    /// Whether new states were sampled before this evaluation.
    pub resampled: bool,
    /// `F(θ) − F(θ₀)` (energy units): BAR along the reference sets, EXP to `θ`.
    pub free_energy: f64,
}

/// Metrics of one update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffTReUpdate {
    /// Update number (from 1).
    pub update: usize,
    /// Loss before the step.
    pub loss: f64,
    /// Per-target losses (unweighted), in target order, as `;`-separated text so CSV
    /// rows stay flat.
    pub target_losses: String,
    /// ESS fraction `ESS/N` of the weights used.
    pub ess_fraction: f64,
    /// Whether states were resampled for this update.
    pub resampled: bool,
    /// Reference sets sampled so far.
    pub simulations: u64,
    /// `F(θ) − F(θ₀)` before the step (energy units).
    pub free_energy: f64,
    /// Gradient norm.
    pub gradient_norm: f64,
    /// Wall time of the update including any resampling (seconds).
    pub seconds: f64,
}

/// Instantaneous values of the configuration-only observables, per target, per state;
/// computed once per reference set.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ValueCache {
    simulations: u64,
    values: Vec<Option<Vec<Vec<f64>>>>,
}

/// The per-state-point part of DiffTRe: the targets at one thermodynamic state, its
/// sampler and reference set, and the loss and parameter gradient of a model there
/// (eq. 7–10). [`DiffTRe`] holds one; [`crate::MultiStateDiffTRe`] one per state point,
/// sharing the parameters and the optimizer.
#[derive(Debug)]
pub(crate) struct StatePointLoss {
    targets: Vec<Target>,
    pub(crate) statepoint: Statepoint,
    cache: Option<ValueCache>,
}

impl StatePointLoss {
    /// Checks the targets and builds the sampler (which starts from `initial`, with
    /// `prior` added to the model in every simulation).
    pub(crate) fn new(
        sampler: SamplerConfig,
        reweighting: ReweightingConfig,
        initial: State,
        prior: Option<Arc<dyn Potential>>,
        targets: Vec<Target>,
    ) -> Result<Self> {
        reweighting.validate()?;
        if targets.is_empty() {
            return Err(config_error("targets", "need at least one"));
        }
        for t in &targets {
            if t.target.len() != t.observable.dim() {
                return Err(config_error(
                    "target",
                    format!(
                        "`{}` has {} components but the target {}",
                        t.observable.name(),
                        t.observable.dim(),
                        t.target.len()
                    ),
                ));
            }
            if !(t.weight.is_finite() && t.weight >= 0.0) || t.target.iter().any(|x| !x.is_finite())
            {
                return Err(config_error(
                    "target",
                    format!(
                        "`{}`: weight and values must be finite",
                        t.observable.name()
                    ),
                ));
            }
        }
        let with_virial = targets.iter().any(|t| t.observable.depends_on_model());
        Ok(StatePointLoss {
            targets,
            statepoint: Statepoint {
                sampler: Sampler::new(sampler, initial, prior)?,
                config: reweighting,
                with_virial,
                reference: None,
                free_energy: Vec::new(),
            },
            cache: None,
        })
    }

    /// The targets.
    pub(crate) fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Free-energy changes between successive reference sets.
    pub(crate) fn free_energy_steps(&self) -> &[FreeEnergyStep] {
        &self.statepoint.free_energy
    }

    /// Reference sets sampled so far.
    pub(crate) fn simulations(&self) -> u64 {
        self.statepoint.sampler.runs()
    }

    /// Samples a reference set with `model` if there is none (`update`: the update
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

    /// Loss, predictions and gradient of `model` on the current reference states,
    /// without resampling (samples once if there are none).
    pub(crate) fn loss<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<DiffTReLoss> {
        self.ensure_samples(model, update)?;
        let reference = self.statepoint.reference.as_ref().expect("sampled");
        let frames = reference.frames();
        let (u, w) = crate::reweight::model_terms(model, &frames, self.statepoint.with_virial)?;
        let weights = crate::reweight::reweight(
            self.statepoint.beta(),
            &reference.model_energy,
            &u,
            self.statepoint.config.ess,
        )?;
        self.evaluate(model, &frames, &weights, &u, &w, false)
    }

    /// Loss, predictions and gradient of `model` for update `update`: reweights the
    /// reference states, resampling first if there are none or the ESS fraction is
    /// below the threshold. Also returns the number of states.
    pub(crate) fn loss_for_update<M: EnergyModel + Clone + 'static>(
        &mut self,
        model: &M,
        update: usize,
    ) -> Result<(DiffTReLoss, usize)> {
        let (weights, u, w, resampled) = self.statepoint.weights(model, update)?;
        let frames = self
            .statepoint
            .reference
            .as_ref()
            .expect("sampled")
            .frames();
        let out = self.evaluate(model, &frames, &weights, &u, &w, resampled)?;
        Ok((out, frames.len()))
    }

    /// The resumable part.
    pub(crate) fn save(&self) -> StatepointState {
        self.statepoint.save()
    }

    /// Restores what [`StatePointLoss::save`] returned.
    pub(crate) fn restore(&mut self, state: StatepointState) -> Result<()> {
        self.statepoint.restore(state)?;
        self.cache = None;
        Ok(())
    }

    fn refresh_cache(&mut self) -> Result<()> {
        let runs = self.statepoint.sampler.runs();
        if self.cache.as_ref().is_some_and(|c| c.simulations == runs) {
            return Ok(());
        }
        let reference = self.statepoint.reference.as_ref().expect("sampled");
        let kt = self.statepoint.sampler.config().kt;
        let values = self
            .targets
            .iter()
            .map(|t| {
                if t.observable.depends_on_model() {
                    return Ok(None);
                }
                reference
                    .snapshots
                    .iter()
                    .map(|s| {
                        t.observable.value(&StateView {
                            frame: &s.frame,
                            kt,
                            energy: s.energy,
                            virial: s.virial,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some)
            })
            .collect::<Result<Vec<_>>>()?;
        self.cache = Some(ValueCache {
            simulations: runs,
            values,
        });
        Ok(())
    }

    fn evaluate<M: EnergyModel>(
        &mut self,
        model: &M,
        frames: &[Frame],
        weights: &Weights,
        u: &[f64],
        w_model: &[Mat3],
        resampled: bool,
    ) -> Result<DiffTReLoss> {
        self.refresh_cache()?;
        let reference = self.statepoint.reference.as_ref().expect("sampled");
        let cache = self.cache.as_ref().expect("refreshed");
        let kt = self.statepoint.sampler.config().kt;
        let beta = 1.0 / kt;
        let n = frames.len();
        // Total energy and virial of each state at θ: the prior's part is fixed.
        let views: Vec<(f64, Mat3)> = (0..n)
            .map(|i| {
                let s = &reference.snapshots[i];
                (
                    s.energy - reference.model_energy[i] + u[i],
                    s.virial - reference.model_virial[i] + w_model[i],
                )
            })
            .collect();
        let view = |i: usize| StateView {
            frame: &frames[i],
            kt,
            energy: views[i].0,
            virial: views[i].1,
        };
        let wts = &weights.weights;
        let mut loss = 0.0;
        let mut target_losses = Vec::new();
        let mut predictions = Vec::new();
        // c_i = Σ_k G_k · a_ik, and the direct cotangents of model-dependent observables.
        let mut c = vec![0.0; n];
        let mut e_direct = vec![0.0; n];
        let mut w_direct = vec![Mat3::zeros(); n];
        for (t, cached) in self.targets.iter().zip(&cache.values) {
            let dim = t.target.len();
            let computed: Vec<Vec<f64>>;
            let values: &[Vec<f64>] = match cached {
                Some(v) => v,
                None => {
                    computed = (0..n)
                        .map(|i| t.observable.value(&view(i)))
                        .collect::<Result<_>>()?;
                    &computed
                }
            };
            let mut avg = vec![0.0; dim];
            for (wi, a) in wts.iter().zip(values) {
                if a.len() != dim {
                    return Err(config_error(
                        "observable",
                        format!(
                            "`{}` returned {} values, not {dim}",
                            t.observable.name(),
                            a.len()
                        ),
                    ));
                }
                for (s, x) in avg.iter_mut().zip(a) {
                    *s += wi * x;
                }
            }
            let delta: Vec<f64> = avg.iter().zip(&t.target).map(|(a, b)| a - b).collect();
            let l = delta.iter().map(|d| d * d).sum::<f64>() / (2.0 * dim as f64);
            loss += t.weight * l;
            target_losses.push(l);
            let g: Vec<f64> = delta.iter().map(|d| t.weight * d / dim as f64).collect();
            for (ci, a) in c.iter_mut().zip(values) {
                *ci += g.iter().zip(a).map(|(g, a)| g * a).sum::<f64>();
            }
            if t.observable.depends_on_model() {
                for i in 0..n {
                    let scaled: Vec<f64> = g.iter().map(|g| g * wts[i]).collect();
                    let (eu, ew) = t.observable.model_cotangent(&view(i), &scaled);
                    e_direct[i] += eu;
                    w_direct[i] += ew;
                }
            }
            predictions.push(avg);
        }
        // ∂w_i/∂θ = −β w_i (∂U_i/∂θ − Σ_j w_j ∂U_j/∂θ)  ⇒  energy cotangent
        // −β w_i (c_i − c̄) (eq. 10), plus the observables' direct terms.
        let c_bar: f64 = wts.iter().zip(&c).map(|(w, c)| w * c).sum();
        let energy: Vec<f64> = (0..n)
            .map(|i| -beta * wts[i] * (c[i] - c_bar) + e_direct[i])
            .collect();
        let any_virial = self.statepoint.with_virial;
        let cot = Cotangents {
            energy: &energy,
            forces: None,
            virial: any_virial.then_some(&w_direct[..]),
        };
        let gradient = model.parameter_vjp(frames, &cot)?;
        let free_energy = kt * (reference.reduced_free_energy + weights.reduced_delta_f);
        Ok(DiffTReLoss {
            loss,
            target_losses,
            predictions,
            gradient,
            ess: weights.ess,
            resampled,
            free_energy,
        })
    }
}

/// Per-target losses as `;`-separated text (metrics rows stay flat in CSV).
pub(crate) fn join_losses(losses: &[f64]) -> String {
    losses
        .iter()
        .map(|l| format!("{l:e}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A DiffTRe trainer; see the module docs. Resuming from its checkpoint
/// ([`DiffTRe::resume`]) reproduces the uninterrupted run bit for bit: the checkpoint
/// holds the parameters, the optimizer, the current reference states and the MD state
/// the next simulation starts from.
#[derive(Debug)]
pub struct DiffTRe<M> {
    config: DiffTReConfig,
    model: M,
    point: StatePointLoss,
    optimizer: Optimizer,
    update: usize,
    history: Vec<DiffTReUpdate>,
}

pub(crate) type DiffTReCheckpoint = SamplingCheckpoint<DiffTReUpdate>;

const KIND: &str = "difftre";

impl<M: EnergyModel + Clone + 'static> DiffTRe<M> {
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, consuming the trainer.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Replaces the parameters (e.g. for a finite-difference check on a fixed
    /// reference set).
    pub fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        Ok(self.model.set_parameters(parameters)?)
    }

    /// Metrics of the updates so far.
    pub fn history(&self) -> &[DiffTReUpdate] {
        &self.history
    }

    /// Free-energy changes between successive reference sets.
    pub fn free_energy_steps(&self) -> &[FreeEnergyStep] {
        self.point.free_energy_steps()
    }

    /// Updates done.
    pub fn updates_done(&self) -> usize {
        self.update
    }

    /// Whether all planned updates are done.
    pub fn finished(&self) -> bool {
        trainloop::finished(self)
    }

    /// The targets.
    pub fn targets(&self) -> &[Target] {
        self.point.targets()
    }

    /// Samples a reference set now if there is none (the first call of
    /// [`DiffTRe::loss`] or [`DiffTRe::update`] does it otherwise).
    pub fn ensure_samples(&mut self) -> Result<()> {
        self.point.ensure_samples(&self.model, self.update)
    }

    /// The loss, predictions and gradient at the current parameters on the current
    /// reference states, **without** resampling (samples once if there are none).
    pub fn loss(&mut self) -> Result<DiffTReLoss> {
        self.point.loss(&self.model, self.update)
    }

    /// One update: reweight (resampling if the ESS fraction is below the threshold),
    /// loss and gradient, one optimizer step; checkpoint and metrics if configured.
    pub fn update(&mut self) -> Result<&DiffTReUpdate> {
        trainloop::step(self)
    }

    /// Runs the remaining updates.
    pub fn train(&mut self) -> Result<&[DiffTReUpdate]> {
        trainloop::train(self)?;
        Ok(&self.history)
    }

    /// Writes a checkpoint atomically.
    pub fn save_checkpoint(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        save_checkpoint(path, KIND, &self.checkpoint_state())
    }

    /// Continues from a checkpoint of a run with the same settings, targets and a model
    /// built the same way.
    pub fn resume(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        self.restore_state(load_checkpoint(path, KIND)?, path)
    }

    /// Everything a checkpoint holds (trainers that embed this one store it).
    pub(crate) fn checkpoint_state(&self) -> DiffTReCheckpoint {
        DiffTReCheckpoint {
            parameters: self.model.parameters(),
            optimizer: self.optimizer.clone(),
            update: self.update,
            history: self.history.clone(),
            statepoint: self.point.save(),
        }
    }

    /// Restores what [`DiffTRe::checkpoint_state`] returned (`path`: where it was
    /// read from, for errors).
    pub(crate) fn restore_state(&mut self, c: DiffTReCheckpoint, path: &Path) -> Result<()> {
        restore_parameters(&mut self.model, &c.parameters, path)?;
        self.optimizer = c.optimizer;
        self.update = c.update;
        self.history = c.history;
        self.point.restore(c.statepoint)
    }
}

impl<M: EnergyModel + Clone + 'static> TrainLoop for DiffTRe<M> {
    type Row = DiffTReUpdate;
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
        let (out, n_frames) = self.point.loss_for_update(&self.model, self.update)?;
        let info = apply_gradient(
            &mut self.model,
            &mut self.optimizer,
            &out.gradient,
            self.update,
            self.config.updates,
        )?;
        self.update += 1;
        self.history.push(DiffTReUpdate {
            update: self.update,
            loss: out.loss,
            target_losses: join_losses(&out.target_losses),
            ess_fraction: out.ess / n_frames as f64,
            resampled: out.resampled,
            simulations: self.point.simulations(),
            free_energy: out.free_energy,
            gradient_norm: info.gradient_norm,
            seconds: start.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    fn rows(&self) -> &[DiffTReUpdate] {
        &self.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(u: &DiffTReUpdate) -> String {
        format!(
            "loss {:.3e}  ESS {:.2}  sims {}",
            u.loss, u.ess_fraction, u.simulations
        )
    }
}
