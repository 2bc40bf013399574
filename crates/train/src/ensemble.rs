//! Deep ensembles of force-matched potentials (Lakshminarayanan, Pritzel & Blundell
//! 2017, "Simple and scalable predictive uncertainty estimation using deep ensembles";
//! for interatomic potentials e.g. Smith et al. 2018 and Schran et al. 2020): `M`
//! members trained independently by [`ForceMatching`] from different random initial
//! weights and with different minibatch shuffling (and optionally bootstrap resamples of
//! the training set). The committee mean is the prediction; the spread across members
//! estimates the model's epistemic uncertainty.
//!
//! Members are independent, so they are dealt round robin over the ranks of a
//! [`Comm`] ([`round_robin`]), trained there, and their parameters and histories are
//! gathered and broadcast so that every rank ends with the whole ensemble. A member's
//! result depends only on its index and the ensemble seed, never on the rank that
//! trained it: the ensemble trained on any number of ranks equals the single-process
//! one bit for bit. With [`EnsembleConfig::checkpoint_dir`] every member writes its own
//! force-matching checkpoint after each epoch, and a rerun resumes member by member.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thermograd_dist::{broadcast_value, gather_outcomes, round_robin, Comm};
use thermograd_geometry::Vec3;
use thermograd_md::Evaluation;
use thermograd_nn::{Committee, Frame};

use crate::data::Dataset;
use crate::error::{config_error, Result, TrainError};
use crate::fm::{FmEpoch, ForceMatching, ForceMatchingConfig};
use crate::model::EnergyModel;

/// Settings of a deep ensemble ([`DeepEnsemble`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    /// Number of members `M` (at least 2, so that there is a spread).
    pub members: usize,
    /// Force-matching settings shared by all members. Its `seed` is replaced by each
    /// member's own shuffling seed; its `checkpoint` and `metrics` must be `None` (the
    /// ensemble places per-member checkpoints in [`EnsembleConfig::checkpoint_dir`]).
    pub training: ForceMatchingConfig,
    /// Base seed: member `k`'s initial weights, shuffling and bootstrap sample come from
    /// seeds derived from it and `k` ([`member_seeds`]).
    pub seed: u64,
    /// Train each member on a bootstrap resample of the training set (as many draws
    /// with replacement as there are structures; Breiman's bagging). Off by default:
    /// Lakshminarayanan et al. found random initialisation and shuffling enough, and
    /// bootstrapping a small set costs each member about a third of its data.
    pub bootstrap: bool,
    /// Directory of per-member checkpoints `member-<k>.ckpt` (`None`: none). A member
    /// whose checkpoint exists resumes from it (a finished one is not trained again), so
    /// one directory belongs to one ensemble run: same settings, data and factory.
    pub checkpoint_dir: Option<PathBuf>,
}

impl EnsembleConfig {
    /// An ensemble of `members` trained with `training` from `seed`, without bootstrap
    /// and checkpoints.
    pub fn new(members: usize, training: ForceMatchingConfig, seed: u64) -> Self {
        EnsembleConfig {
            members,
            training,
            seed,
            bootstrap: false,
            checkpoint_dir: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.members < 2 {
            return Err(config_error(
                "ensemble",
                format!(
                    "{} members: at least 2 are needed for a spread",
                    self.members
                ),
            ));
        }
        if self.training.checkpoint.is_some() || self.training.metrics.is_some() {
            return Err(config_error(
                "ensemble",
                "the members' checkpoint and metrics files are set by the ensemble; \
                 use checkpoint_dir instead",
            ));
        }
        Ok(())
    }

    /// Builds the members' initial models with `factory(k, seed)` (`seed` is member
    /// `k`'s initialisation seed; the factory must build the same model for the same
    /// arguments on every rank) and checks the settings against the data.
    pub fn build<M, F>(
        &self,
        mut factory: F,
        train: Dataset,
        validation: Dataset,
    ) -> Result<DeepEnsemble<M>>
    where
        M: EnergyModel + Clone,
        F: FnMut(usize, u64) -> Result<M>,
    {
        self.validate()?;
        let initial = (0..self.members)
            .map(|k| factory(k, member_seeds(self.seed, k).init))
            .collect::<Result<Vec<M>>>()?;
        // The trainer checks weights, epochs and labels; member 0 stands for all.
        self.training
            .build(initial[0].clone(), train.clone(), validation.clone())?;
        Ok(DeepEnsemble {
            config: self.clone(),
            initial,
            train,
            validation,
        })
    }
}

/// The seeds of one ensemble member, derived from the ensemble seed and the member
/// index by SplitMix64 steps (so neighbouring indices get unrelated streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSeeds {
    /// Initial weights (passed to the model factory).
    pub init: u64,
    /// Minibatch shuffling (the member's [`ForceMatchingConfig::seed`]).
    pub shuffle: u64,
    /// Bootstrap resample of the training set.
    pub bootstrap: u64,
}

/// One SplitMix64 output (Steele, Lea & Flood 2014) for `x`.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seeds of member `k` of an ensemble with base seed `seed`.
pub fn member_seeds(seed: u64, k: usize) -> MemberSeeds {
    let base = splitmix64(seed ^ splitmix64(k as u64 + 1));
    MemberSeeds {
        init: splitmix64(base ^ 1),
        shuffle: splitmix64(base ^ 2),
        bootstrap: splitmix64(base ^ 3),
    }
}

/// What training one member produced; what ranks exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberOutcome {
    /// Member index.
    pub index: usize,
    /// Final parameters ([`thermograd_nn::Trainable::parameters`] layout).
    pub parameters: Vec<f64>,
    /// Per-epoch metrics of its force-matching run.
    pub history: Vec<FmEpoch>,
}

/// A deep ensemble ready to train: the members' initial models, the data and settings.
#[derive(Debug)]
pub struct DeepEnsemble<M> {
    config: EnsembleConfig,
    initial: Vec<M>,
    train: Dataset,
    validation: Dataset,
}

impl<M: EnergyModel + Clone> DeepEnsemble<M> {
    /// The settings.
    pub fn config(&self) -> &EnsembleConfig {
        &self.config
    }

    /// The members' initial (untrained) models.
    pub fn initial_models(&self) -> &[M] {
        &self.initial
    }

    /// Member `k`'s checkpoint file, if the ensemble has a checkpoint directory.
    pub fn checkpoint_path(&self, k: usize) -> Option<PathBuf> {
        self.config
            .checkpoint_dir
            .as_ref()
            .map(|d| d.join(format!("member-{k}.ckpt")))
    }

    /// The indices of the training structures member `k` trains on: all of them, or
    /// its bootstrap resample.
    pub fn training_indices(&self, k: usize) -> Vec<usize> {
        let n = self.train.len();
        if !self.config.bootstrap {
            return (0..n).collect();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(member_seeds(self.config.seed, k).bootstrap);
        (0..n).map(|_| rng.gen_range(0..n)).collect()
    }

    /// Member `k`'s force-matching trainer, resumed from its checkpoint if that
    /// exists (then it may already be finished).
    pub fn member_trainer(&self, k: usize) -> Result<ForceMatching<M>> {
        if k >= self.config.members {
            return Err(config_error(
                "ensemble member",
                format!("{k} of {}", self.config.members),
            ));
        }
        let mut fm = self.config.training.clone();
        fm.seed = member_seeds(self.config.seed, k).shuffle;
        fm.checkpoint = self.checkpoint_path(k);
        if let Some(dir) = &self.config.checkpoint_dir {
            std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let train = if self.config.bootstrap {
            self.train.subset(&self.training_indices(k))?
        } else {
            self.train.clone()
        };
        let mut trainer = fm.build(self.initial[k].clone(), train, self.validation.clone())?;
        if let Some(path) = &fm.checkpoint {
            if path.exists() {
                trainer.resume(path)?;
            }
        }
        Ok(trainer)
    }

    /// Trains (or resumes, or reads back) member `k` alone.
    pub fn train_member(&self, k: usize) -> Result<MemberOutcome> {
        let mut trainer = self.member_trainer(k)?;
        trainer.train()?;
        Ok(MemberOutcome {
            index: k,
            history: trainer.history().to_vec(),
            parameters: trainer.model().parameters(),
        })
    }

    /// Trains every member: members dealt round robin over `comm`'s ranks, outcomes
    /// gathered on rank 0 and broadcast, so every rank returns the whole ensemble. A
    /// failure on any rank is a failure on every rank. On one rank ([`thermograd_dist::Serial`]) it
    /// trains the members in order.
    pub fn train(&self, comm: &dyn Comm) -> Result<TrainedEnsemble<M>> {
        let outcomes = distribute(comm, self.config.members, &mut |k| self.train_member(k))?;
        self.assemble(outcomes)
    }

    /// The trained ensemble from the members' outcomes (in member order).
    pub fn assemble(&self, outcomes: Vec<MemberOutcome>) -> Result<TrainedEnsemble<M>> {
        if outcomes.len() != self.config.members
            || outcomes.iter().enumerate().any(|(k, o)| o.index != k)
        {
            return Err(config_error(
                "ensemble outcomes",
                "need one per member, in member order",
            ));
        }
        let mut members = Vec::with_capacity(outcomes.len());
        let mut histories = Vec::with_capacity(outcomes.len());
        for (o, model) in outcomes.into_iter().zip(&self.initial) {
            let mut m = model.clone();
            m.set_parameters(&o.parameters)?;
            members.push(m);
            histories.push(o.history);
        }
        Ok(TrainedEnsemble { members, histories })
    }
}

/// Runs `work(i)` for `i in 0..n` dealt round robin over `comm`'s ranks and returns all
/// results, in index order, on every rank (gathered on rank 0, then broadcast). A
/// failure anywhere is a failure everywhere, so no rank waits forever.
pub(crate) fn distribute<T: Serialize + DeserializeOwned>(
    comm: &dyn Comm,
    n: usize,
    work: &mut dyn FnMut(usize) -> Result<T>,
) -> Result<Vec<T>> {
    let mine = round_robin(n, comm.rank(), comm.size());
    let local = mine
        .iter()
        .map(|&i| work(i).map(|v| (i, v)))
        .collect::<Result<Vec<(usize, T)>>>();
    // The error travels as text; the failing rank gets its own error back.
    let (local, own_error) = match local {
        Ok(v) => (Ok(v), None),
        Err(e) => (
            Err(thermograd_dist::DistError::RemoteFailure {
                rank: comm.rank(),
                message: e.to_string(),
            }),
            Some(e),
        ),
    };
    let gathered = gather_outcomes(comm, 0, local);
    if let Some(e) = own_error {
        return Err(e);
    }
    let ordered = gathered?.map(|parts| {
        let mut all: Vec<(usize, T)> = parts.into_iter().flatten().collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, v)| v).collect::<Vec<T>>()
    });
    Ok(broadcast_value(comm, 0, ordered.as_ref())?)
}

/// A trained deep ensemble: the members and their training histories.
#[derive(Clone, Debug)]
pub struct TrainedEnsemble<M> {
    members: Vec<M>,
    histories: Vec<Vec<FmEpoch>>,
}

/// Committee mean and spread of one configuration (the generic counterpart of
/// [`thermograd_nn::CommitteeEvaluation`], for any [`EnergyModel`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EnsemblePrediction {
    /// Mean energy, forces and virial over members.
    pub mean: Evaluation,
    /// Standard deviation of the energy over members, `1/(M − 1)` normalization
    /// (energy units).
    pub energy_std: f64,
    /// Standard deviation of each force component over members (energy/length units).
    pub force_std: Vec<Vec3>,
}

impl EnsemblePrediction {
    /// The committee disagreement of the query-by-committee criterion:
    /// `max_i |σ_i|`, the largest norm over atoms of the per-atom force standard
    /// deviation vector (energy/length units).
    pub fn disagreement(&self) -> f64 {
        self.force_std.iter().map(|s| s.norm()).fold(0.0, f64::max)
    }
}

/// Held-out metrics of a committee against reference forces. Force statistics are
/// over all force components `F_ika` of all structures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMetrics {
    /// RMS error of the committee-mean force components (energy/length units).
    pub force_rmse: f64,
    /// Each member's RMS force-component error.
    pub member_force_rmse: Vec<f64>,
    /// Mean of the members' RMS errors: what a single member achieves on average.
    pub mean_member_force_rmse: f64,
    /// Mean over components of the committee's force standard deviation `σ`
    /// (energy/length units).
    pub mean_force_std: f64,
    /// Root mean square of `σ` over components.
    pub rms_force_std: f64,
    /// `force_rmse / rms_force_std`: 1 for a spread that matches the error in size,
    /// above 1 when the committee is overconfident.
    pub error_to_spread: f64,
    /// Fraction of components whose committee error lies within `±2σ`; about 0.95 for
    /// Gaussian errors of standard deviation `σ`.
    pub within_two_sigma: f64,
    /// Mean over structures of the disagreement `max_i |σ_i|` (energy/length).
    pub mean_disagreement: f64,
    /// Largest disagreement of any structure (energy/length).
    pub max_disagreement: f64,
}

impl<M: EnergyModel> TrainedEnsemble<M> {
    /// An ensemble of given (trained) members, with empty histories.
    pub fn from_members(members: Vec<M>) -> Result<Self> {
        if members.len() < 2 {
            return Err(config_error("ensemble", "needs at least 2 members"));
        }
        let histories = vec![Vec::new(); members.len()];
        Ok(TrainedEnsemble { members, histories })
    }

    /// The members.
    pub fn members(&self) -> &[M] {
        &self.members
    }

    /// Each member's per-epoch training metrics.
    pub fn histories(&self) -> &[Vec<FmEpoch>] {
        &self.histories
    }

    /// The members as a [`thermograd_nn::Committee`] (for Behler–Parrinello members it
    /// is a [`thermograd_md::Potential`] and evaluates mean and spread itself).
    pub fn into_committee(self) -> Result<Committee<M>> {
        Ok(Committee::new(self.members)?)
    }

    /// Committee mean and spread of each frame (each member evaluated batched).
    pub fn predict(&self, frames: &[Frame]) -> Result<Vec<EnsemblePrediction>> {
        let per_member = self
            .members
            .iter()
            .map(|m| m.evaluate_frames(frames))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..frames.len())
            .map(|f| combine(per_member.iter().map(|m| &m[f])))
            .collect())
    }

    /// The query-by-committee disagreement `max_i |σ_i|` of each frame.
    pub fn disagreements(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        Ok(self
            .predict(frames)?
            .iter()
            .map(EnsemblePrediction::disagreement)
            .collect())
    }

    /// Committee error, spread and calibration on labelled `data` (every structure
    /// needs forces).
    pub fn evaluate(&self, data: &Dataset) -> Result<EnsembleMetrics> {
        if data.is_empty() {
            return Err(config_error("evaluation set", "is empty"));
        }
        let m = self.members.len();
        let mut n = 0usize;
        let mut sq = 0.0;
        let mut member_sq = vec![0.0; m];
        let (mut sum_std, mut sum_var, mut within) = (0.0, 0.0, 0usize);
        let mut disagreements = Vec::with_capacity(data.len());
        // Chunks bound the memory of large sets.
        for (c, chunk) in data.structures().chunks(64).enumerate() {
            let frames: Vec<Frame> = chunk.iter().map(|s| s.frame()).collect();
            let per_member = self
                .members
                .iter()
                .map(|mm| mm.evaluate_frames(&frames))
                .collect::<Result<Vec<_>>>()?;
            for (j, s) in chunk.iter().enumerate() {
                let reference = s.forces.as_ref().ok_or(TrainError::MissingLabel {
                    what: "forces",
                    index: 64 * c + j,
                })?;
                let p = combine(per_member.iter().map(|e| &e[j]));
                disagreements.push(p.disagreement());
                for (i, r) in reference.iter().enumerate() {
                    for a in 0..3 {
                        let err = p.mean.forces[i][a] - r[a];
                        let sd = p.force_std[i][a];
                        sq += err * err;
                        sum_std += sd;
                        sum_var += sd * sd;
                        within += usize::from(err.abs() <= 2.0 * sd);
                        n += 1;
                        for (acc, e) in member_sq.iter_mut().zip(&per_member) {
                            *acc += (e[j].forces[i][a] - r[a]).powi(2);
                        }
                    }
                }
            }
        }
        let nf = n as f64;
        let force_rmse = (sq / nf).sqrt();
        let rms_force_std = (sum_var / nf).sqrt();
        let member_force_rmse: Vec<f64> = member_sq.iter().map(|s| (s / nf).sqrt()).collect();
        Ok(EnsembleMetrics {
            force_rmse,
            mean_member_force_rmse: member_force_rmse.iter().sum::<f64>() / m as f64,
            member_force_rmse,
            mean_force_std: sum_std / nf,
            rms_force_std,
            error_to_spread: force_rmse / rms_force_std,
            within_two_sigma: within as f64 / nf,
            mean_disagreement: disagreements.iter().sum::<f64>() / disagreements.len() as f64,
            max_disagreement: disagreements.iter().copied().fold(0.0, f64::max),
        })
    }
}

/// Mean and `1/(M − 1)` standard deviation over members' evaluations of one frame.
fn combine<'a>(members: impl Iterator<Item = &'a Evaluation> + Clone) -> EnsemblePrediction {
    let m = members.clone().count();
    let n = members.clone().next().map_or(0, |e| e.forces.len());
    let mut mean = Evaluation::zeros(n);
    for e in members.clone() {
        mean.energy += e.energy / m as f64;
        for (a, b) in mean.forces.iter_mut().zip(&e.forces) {
            *a += b / m as f64;
        }
        mean.virial += e.virial / m as f64;
    }
    let denominator = m.saturating_sub(1).max(1) as f64;
    let energy_std = (members
        .clone()
        .map(|e| (e.energy - mean.energy).powi(2))
        .sum::<f64>()
        / denominator)
        .sqrt();
    let mut var = vec![Vec3::zeros(); n];
    for e in members {
        for ((v, f), mu) in var.iter_mut().zip(&e.forces).zip(&mean.forces) {
            *v += (f - mu).map(|x| x * x);
        }
    }
    let force_std = var
        .iter()
        .map(|v| (v / denominator).map(f64::sqrt))
        .collect();
    EnsemblePrediction {
        mean,
        energy_std,
        force_std,
    }
}
