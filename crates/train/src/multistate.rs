//! DiffTRe over several thermodynamic state points (chemtrain §3.1, eq. 7–11; §4.1,
//! listing 2, `add_statepoint`; §5.2 trains titanium with one state point per
//! temperature; Thaler & Zavadlav, Nat. Commun. 12, 6884, 2021): one model, one
//! optimizer, and a loss that is the weighted sum of the DiffTRe losses of state
//! points, each with its own conditions (`kT`, box or density, optionally a pressure
//! bath), its own sampler and reference states, and its own targets,
//!
//! `L(θ) = Σ_s λ_s L_s(θ)`,  `∂L/∂θ = Σ_s λ_s ∂L_s/∂θ`.
//!
//! The state points are independent until their gradients are added, so they spread
//! over the ranks of a [`Comm`] (issue #12): rank `r` of `R` samples and reweights the
//! state points `r, r + R, …` ([`thermograd_dist::round_robin`]), the weighted gradients
//! are summed with [`thermograd_dist::sum_over_items`], and every rank takes the same
//! optimizer step, so the parameters stay equal on all ranks. The per-state losses, ESS
//! and free energies ride along in the same reduction, so every rank has the metrics of
//! every state point. With [`thermograd_dist::Serial`] it is a plain single-process
//! trainer, and a run on `R` ranks equals it up to the order in which the ranks' partial
//! gradient sums are added (bit for bit with at most one state point per rank).
//!
//! Checkpoints are per rank: rank `k` writes `<checkpoint>.rank<k>`
//! ([`rank_checkpoint_path`]) with the shared parameters, the optimizer, the history
//! and the sampling state of the state points it owns. A job resumes
//! ([`MultiStateDiffTRe::resume`]) with the same number of ranks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_dist::{all_reduce_outcome, broadcast_value, round_robin, sum_over_items, Comm};
use thermograd_md::{Potential, State};

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::difftre::{join_losses, StatePointLoss, Target};
use crate::error::{config_error, Result, TrainError};
use crate::model::EnergyModel;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::reweight::{FreeEnergyStep, ReweightingConfig, StatepointState};
use crate::sampler::SamplerConfig;
use crate::trainloop::{self, apply_gradient, restore_parameters, LoopSettings, TrainLoop};

/// The settings of one state point of a [`MultiStateDiffTRe`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatePointConfig {
    /// How its states are sampled: `kt` (energy units), MD settings, the seed, and
    /// `pressure` for an NPT state point (the box and density come with the initial
    /// [`State`] of [`StatePoint`]).
    pub sampler: SamplerConfig,
    /// When its reference states are resampled.
    pub reweighting: ReweightingConfig,
    /// `λ_s`, the weight of its loss in the total (finite, ≥ 0).
    pub weight: f64,
}

/// What a state point needs besides its settings: where its simulations start, the
/// fixed prior added to the model there, and its targets.
#[derive(Debug)]
pub struct StatePoint {
    /// The initial state (positions, velocities, masses, box: this fixes the density
    /// of an NVT state point).
    pub initial: State,
    /// A fixed potential added to the model in every simulation (`None`: none).
    pub prior: Option<Arc<dyn Potential>>,
    /// The targets at this state point.
    pub targets: Vec<Target>,
}

/// Settings of a [`MultiStateDiffTRe`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStateDiffTReConfig {
    /// The state points, in order (their index is their identity in metrics and
    /// checkpoints, and decides which rank owns them).
    pub states: Vec<StatePointConfig>,
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

impl MultiStateDiffTReConfig {
    /// Checks the settings and builds the trainer on the ranks of `comm`: `model` is
    /// trained, `states[s]` goes with `self.states[s]`. Every rank must call it with the
    /// same arguments; each rank keeps only the state points it owns.
    pub fn build<'c, M: EnergyModel + Clone + 'static>(
        &self,
        comm: &'c dyn Comm,
        model: M,
        states: Vec<StatePoint>,
    ) -> Result<MultiStateDiffTRe<'c, M>> {
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
        let mut layout = Vec::with_capacity(states.len());
        let mut offset = model.n_parameters();
        let mut points = Vec::with_capacity(states.len());
        for (s, (config, point)) in self.states.iter().zip(states).enumerate() {
            let n_targets = point.targets.len();
            layout.push((offset, n_targets));
            offset += FIELDS + n_targets;
            // Every rank checks every state point, so that bad input fails everywhere.
            let built = StatePointLoss::new(
                config.sampler,
                config.reweighting,
                point.initial,
                point.prior,
                point.targets,
            )?;
            points.push(owned.contains(&s).then_some(built));
        }
        let optimizer = self.optimizer.build(model.n_parameters())?;
        Ok(MultiStateDiffTRe {
            config: self.clone(),
            comm,
            model,
            points,
            layout,
            reduced_len: offset,
            progress: Progress::new(optimizer),
        })
    }
}

/// The loss of a [`MultiStateDiffTRe`] at the current parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStateLoss {
    /// `L = Σ_s λ_s L_s`.
    pub loss: f64,
    /// `∂L/∂θ`, summed over state points (and ranks).
    pub gradient: Vec<f64>,
    /// What each state point reported, in state-point order.
    pub states: Vec<StatePointReport>,
}

/// The loss and reweighting diagnostics of one state point at one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatePointReport {
    /// Its DiffTRe loss `L_s` (eq. 7; unweighted by `λ_s`).
    pub loss: f64,
    /// Its per-target losses (unweighted `‖Δ‖²/(2 dim)`).
    pub target_losses: Vec<f64>,
    /// ESS fraction `ESS/N` of its weights.
    pub ess_fraction: f64,
    /// Whether its states were resampled for this evaluation.
    pub resampled: bool,
    /// `F(θ) − F(θ₀)` at this state point (energy units).
    pub free_energy: f64,
    /// Reference sets it has sampled so far.
    pub simulations: u64,
}

/// Metrics of one update of a [`MultiStateDiffTRe`]. Per-state-point values are
/// `;`-separated in state-point order (so a CSV row stays flat); the typed values are
/// in [`MultiStateDiffTRe::reports`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStateUpdate {
    /// Update number (from 1).
    pub update: usize,
    /// `Σ_s λ_s L_s` before the step.
    pub loss: f64,
    /// `L_s` of each state point.
    pub state_losses: String,
    /// ESS fraction of each state point.
    pub ess_fractions: String,
    /// Per-target losses: state points separated by `|`, targets by `;`.
    pub target_losses: String,
    /// State points resampled for this update.
    pub resampled: usize,
    /// Reference sets sampled so far, over all state points.
    pub simulations: u64,
    /// `F(θ) − F(θ₀)` of each state point (energy units).
    pub free_energies: String,
    /// Norm of the summed gradient.
    pub gradient_norm: f64,
    /// Wall time of the update on this rank, including its sampling (seconds).
    pub seconds: f64,
}

/// Scalars per state point in the reduced vector, before its target losses.
const FIELDS: usize = 5;

/// Checkpoint file of rank `rank` for the base path `path`: `<path>.rank<rank>`.
pub fn rank_checkpoint_path(path: &Path, rank: usize) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".rank{rank}"));
    PathBuf::from(name)
}

/// What a multi-state trainer (DiffTRe or relative entropy) carries from update to
/// update besides the model: the optimizer, the number of updates done, and the history
/// (`U` per update, `R` per state point and update). Saved in and restored from its rank
/// checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Progress<U, R> {
    pub optimizer: Optimizer,
    pub update: usize,
    pub history: Vec<U>,
    pub reports: Vec<Vec<R>>,
}

/// A state point whose sampling state goes into a rank checkpoint.
pub(crate) trait CheckpointedPoint {
    /// The state to save.
    fn save(&self) -> StatepointState;
    /// Continues from a saved state.
    fn restore(&mut self, state: StatepointState) -> Result<()>;
}

impl CheckpointedPoint for StatePointLoss {
    fn save(&self) -> StatepointState {
        StatePointLoss::save(self)
    }
    fn restore(&mut self, state: StatepointState) -> Result<()> {
        StatePointLoss::restore(self, state)
    }
}

impl<U, R> Progress<U, R>
where
    U: Clone + Serialize + serde::de::DeserializeOwned,
    R: Clone + Serialize + serde::de::DeserializeOwned,
{
    /// Nothing done yet.
    pub(crate) fn new(optimizer: Optimizer) -> Self {
        Progress {
            optimizer,
            update: 0,
            history: Vec::new(),
            reports: Vec::new(),
        }
    }

    /// Writes this rank's checkpoint `<path>.rank<k>` atomically, with the model's
    /// `parameters` and the state points this rank owns (the `Some` entries of
    /// `points`); a failure on any rank is an error on every rank. Collective.
    pub(crate) fn save_checkpoint<P: CheckpointedPoint>(
        &self,
        path: &Path,
        kind: &str,
        comm: &dyn Comm,
        points: &[Option<P>],
        parameters: Vec<f64>,
    ) -> Result<()> {
        let path = rank_checkpoint_path(path, comm.rank());
        let states = points
            .iter()
            .enumerate()
            .filter_map(|(s, p)| p.as_ref().map(|p| (s, p.save())))
            .collect();
        let checkpoint = RankCheckpoint {
            ranks: comm.size(),
            rank: comm.rank(),
            n_states: points.len(),
            parameters,
            progress: self.clone(),
            states,
        };
        collective(comm, save_checkpoint(&path, kind, &checkpoint))
    }

    /// Continues from the checkpoints `<path>.rank<k>` written by
    /// [`Progress::save_checkpoint`]: restores the model, the owned state points and
    /// `self`. Fails on every rank if any rank's file is missing or does not fit, or if
    /// the ranks' files are from different updates (a job stopped while writing them).
    /// Collective.
    pub(crate) fn resume<P: CheckpointedPoint, M: EnergyModel>(
        &mut self,
        path: &Path,
        kind: &str,
        comm: &dyn Comm,
        points: &mut [Option<P>],
        model: &mut M,
    ) -> Result<()> {
        let path = rank_checkpoint_path(path, comm.rank());
        let local = self.resume_local(&path, kind, comm, points, model);
        same_update_on_all_ranks(comm, &path, local)
    }

    fn resume_local<P: CheckpointedPoint, M: EnergyModel>(
        &mut self,
        path: &Path,
        kind: &str,
        comm: &dyn Comm,
        points: &mut [Option<P>],
        model: &mut M,
    ) -> Result<usize> {
        let c: RankCheckpoint<U, R> = load_checkpoint(path, kind)?;
        let owned: Vec<usize> = (0..points.len()).filter(|&s| points[s].is_some()).collect();
        c.check(comm, points.len(), &owned, path)?;
        restore_parameters(model, &c.parameters, path)?;
        for (s, state) in c.states {
            points[s]
                .as_mut()
                .expect("owned, checked above")
                .restore(state)?;
        }
        *self = c.progress;
        Ok(self.update)
    }
}

/// One rank's checkpoint of a multi-state trainer: the shared parameters and
/// [`Progress`], and the sampling state of the state points this rank owns. (Its bincode
/// layout is that of the flat struct it replaced: fields in the same order.)
#[derive(Serialize, Deserialize)]
struct RankCheckpoint<U, R> {
    ranks: usize,
    rank: usize,
    n_states: usize,
    parameters: Vec<f64>,
    progress: Progress<U, R>,
    states: Vec<(usize, StatepointState)>,
}

impl<U, R> RankCheckpoint<U, R> {
    /// Checks that this file was written by the same rank of a run with the same number
    /// of ranks and state points, holding exactly the state points `owned`.
    fn check(&self, comm: &dyn Comm, n_states: usize, owned: &[usize], path: &Path) -> Result<()> {
        let bad = |reason: String| TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        if self.ranks != comm.size() || self.rank != comm.rank() {
            return Err(bad(format!(
                "written by rank {} of {}, read by rank {} of {}",
                self.rank,
                self.ranks,
                comm.rank(),
                comm.size()
            )));
        }
        let held: Vec<usize> = self.states.iter().map(|(s, _)| *s).collect();
        if self.n_states != n_states || held != owned {
            return Err(bad(format!(
                "holds state points {held:?} of {}, this rank owns {owned:?} of {n_states}",
                self.n_states
            )));
        }
        Ok(())
    }
}

const KIND: &str = "difftre-multistate";

/// A DiffTRe trainer over several state points, spread over the ranks of a [`Comm`];
/// see the module docs. The collective methods ([`MultiStateDiffTRe::loss`],
/// [`MultiStateDiffTRe::update`], [`MultiStateDiffTRe::train`],
/// [`MultiStateDiffTRe::resume`], [`MultiStateDiffTRe::save_checkpoint`]) must be called
/// by every rank in the same order.
#[derive(Debug)]
pub struct MultiStateDiffTRe<'c, M> {
    config: MultiStateDiffTReConfig,
    comm: &'c dyn Comm,
    model: M,
    /// `Some` for the state points this rank owns.
    points: Vec<Option<StatePointLoss>>,
    /// Offset and target count of each state point in the reduced vector.
    layout: Vec<(usize, usize)>,
    reduced_len: usize,
    progress: Progress<MultiStateUpdate, StatePointReport>,
}

impl<M: EnergyModel + Clone + 'static> MultiStateDiffTRe<'_, M> {
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
    pub fn history(&self) -> &[MultiStateUpdate] {
        &self.progress.history
    }

    /// What each state point reported at each update (the same on every rank):
    /// `reports()[u][s]` is state point `s` at update `u + 1`.
    pub fn reports(&self) -> &[Vec<StatePointReport>] {
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

    /// Free-energy changes between the successive reference sets of state point `s`,
    /// if this rank owns it.
    pub fn free_energy_steps(&self, s: usize) -> Option<&[FreeEnergyStep]> {
        self.points.get(s)?.as_ref().map(|p| p.free_energy_steps())
    }

    /// Samples reference sets now for the owned state points that have none.
    pub fn ensure_samples(&mut self) -> Result<()> {
        for p in self.points.iter_mut().flatten() {
            p.ensure_samples(&self.model, self.progress.update)?;
        }
        Ok(())
    }

    /// The loss and summed gradient at the current parameters on the current
    /// reference states, **without** resampling (each state point samples once if it
    /// has no states). Collective.
    pub fn loss(&mut self) -> Result<MultiStateLoss> {
        self.reduce(false)
    }

    /// Evaluates every owned state point (reweighting, resampling first if `resample`
    /// and its ESS asks for it), then sums weighted gradients and collects the
    /// per-state reports over ranks.
    fn reduce(&mut self, resample: bool) -> Result<MultiStateLoss> {
        let n_params = self.model.n_parameters();
        let (model, update) = (&self.model, self.progress.update);
        let points = &mut self.points;
        let layout = &self.layout;
        let weights: Vec<f64> = self.config.states.iter().map(|s| s.weight).collect();
        let len = self.reduced_len;
        let total = sum_state_points(self.comm, points.len(), len, &mut |s| {
            let point = points[s].as_mut().expect("items are dealt as at build");
            let out = if resample {
                point.loss_for_update(model, update)
            } else {
                point.loss(model, update).map(|l| {
                    let n = point.statepoint.reference.as_ref().map_or(1, |r| r.len());
                    (l, n)
                })
            };
            let (l, n_frames) = out?;
            let mut v = vec![0.0; len];
            for (x, g) in v.iter_mut().zip(&l.gradient) {
                *x = weights[s] * g;
            }
            let (at, n_targets) = layout[s];
            v[at] = l.loss;
            v[at + 1] = l.ess / n_frames as f64;
            v[at + 2] = if l.resampled { 1.0 } else { 0.0 };
            v[at + 3] = l.free_energy;
            v[at + 4] = point.simulations() as f64;
            v[at + FIELDS..at + FIELDS + n_targets].copy_from_slice(&l.target_losses);
            Ok(v)
        })?;
        let states: Vec<StatePointReport> = layout
            .iter()
            .map(|&(at, n_targets)| StatePointReport {
                loss: total[at],
                ess_fraction: total[at + 1],
                resampled: total[at + 2] != 0.0,
                free_energy: total[at + 3],
                simulations: total[at + 4] as u64,
                target_losses: total[at + FIELDS..at + FIELDS + n_targets].to_vec(),
            })
            .collect();
        let loss = states
            .iter()
            .zip(&weights)
            .map(|(r, w)| w * r.loss)
            .sum::<f64>();
        Ok(MultiStateLoss {
            loss,
            gradient: total[..n_params].to_vec(),
            states,
        })
    }

    /// One update: every rank evaluates its state points (resampling where the ESS
    /// fraction is below the threshold), the gradients are summed over ranks, one
    /// optimizer step; checkpoint and metrics if configured. Collective.
    pub fn update(&mut self) -> Result<&MultiStateUpdate> {
        trainloop::step(self)
    }

    /// Runs the remaining updates. Collective.
    pub fn train(&mut self) -> Result<&[MultiStateUpdate]> {
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
    /// from different updates (a job stopped while writing them). Collective.
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

/// Checks state-point weights `λ_s`: finite, non-negative, not all zero.
pub(crate) fn check_weights(weights: impl IntoIterator<Item = f64>) -> Result<()> {
    let weights: Vec<f64> = weights.into_iter().collect();
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().all(|&w| w == 0.0) {
        return Err(config_error(
            "state-point weights",
            "must be finite, non-negative and not all zero",
        ));
    }
    Ok(())
}

/// Sums `item(s)` (a vector of length `len`) over the state points `s` that this rank
/// owns and over all ranks ([`sum_over_items`]), and hands every rank the root's sum,
/// so that every rank takes the same optimizer step whatever order an MPI library adds
/// the ranks' contributions in. A failure of `item` on any rank is an error on every
/// rank (the failing rank gets its own error back). Collective.
pub(crate) fn sum_state_points(
    comm: &dyn Comm,
    n_items: usize,
    len: usize,
    item: &mut dyn FnMut(usize) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let mut failure: Option<TrainError> = None;
    let summed = sum_over_items(comm, n_items, len, &mut |s| match item(s) {
        Ok(v) => Ok(v),
        Err(e) => {
            let reason = e.to_string();
            failure = Some(e);
            Err(thermograd_dist::DistError::InvalidConfig {
                name: "state point",
                reason,
            })
        }
    });
    let summed = match (summed, failure) {
        (Err(_), Some(own)) => return Err(own),
        (s, _) => s?,
    };
    Ok(broadcast_value(comm, 0, Some(&summed))?)
}

/// Makes the local outcome of reading this rank's checkpoint `path` (the update it
/// holds) collective, and checks that all ranks' checkpoints are from the same update
/// (not so for a job stopped while writing them). Collective.
pub(crate) fn same_update_on_all_ranks(
    comm: &dyn Comm,
    path: &Path,
    local: Result<usize>,
) -> Result<()> {
    let update = local.as_ref().map_or(0.0, |&u| u as f64);
    // Σu and Σu² over ranks: all equal exactly when (Σu)² = R Σu².
    let sums = all_reduce_outcome(
        comm,
        2,
        local
            .as_ref()
            .map(|_| vec![update, update * update])
            .map_err(|e| thermograd_dist::DistError::InvalidConfig {
                name: "checkpoint",
                reason: e.to_string(),
            }),
    );
    let sums = match (sums, local) {
        (_, Err(own)) => return Err(own),
        (s, Ok(_)) => s?,
    };
    if sums[0] * sums[0] != comm.size() as f64 * sums[1] {
        return Err(TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason: "the ranks' checkpoints are from different updates".into(),
        });
    }
    Ok(())
}

/// Makes a local outcome collective: an error on any rank is an error on every rank.
pub(crate) fn collective(comm: &dyn Comm, local: Result<()>) -> Result<()> {
    let message = local.as_ref().err().map(|e| e.to_string());
    let outcome = all_reduce_outcome(
        comm,
        0,
        match message {
            None => Ok(Vec::new()),
            Some(reason) => Err(thermograd_dist::DistError::InvalidConfig {
                name: "checkpoint",
                reason,
            }),
        },
    );
    local?;
    outcome?;
    Ok(())
}

impl<M: EnergyModel + Clone + 'static> TrainLoop for MultiStateDiffTRe<'_, M> {
    type Row = MultiStateUpdate;
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
        let joined = |f: &dyn Fn(&StatePointReport) -> f64| {
            join_losses(&out.states.iter().map(f).collect::<Vec<_>>())
        };
        self.progress.history.push(MultiStateUpdate {
            update: self.progress.update,
            loss: out.loss,
            state_losses: joined(&|r| r.loss),
            ess_fractions: joined(&|r| r.ess_fraction),
            target_losses: out
                .states
                .iter()
                .map(|r| join_losses(&r.target_losses))
                .collect::<Vec<_>>()
                .join("|"),
            resampled: out.states.iter().filter(|r| r.resampled).count(),
            simulations: out.states.iter().map(|r| r.simulations).sum(),
            free_energies: joined(&|r| r.free_energy),
            gradient_norm: info.gradient_norm,
            seconds: start.elapsed().as_secs_f64(),
        });
        self.progress.reports.push(out.states);
        Ok(())
    }

    fn rows(&self) -> &[MultiStateUpdate] {
        &self.progress.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(u: &MultiStateUpdate) -> String {
        format!(
            "loss {:.3e}  resampled {}  sims {}",
            u.loss, u.resampled, u.simulations
        )
    }
}
