//! Active learning by query-by-committee (Seung, Opper & Sompolinsky 1992; for
//! interatomic potentials Artrith & Behler 2012, Smith et al. 2018 "Less is more",
//! Schran et al. 2020): train a deep ensemble ([`crate::ensemble`]) on a small labelled
//! set, run MD with it to propose candidate configurations, label the candidates the
//! committee disagrees on most with a reference potential, add them, and retrain.
//!
//! One round `r = 0, 1, …, R`:
//! 1. train the ensemble on the current training set (members over the ranks of the
//!    [`Comm`], per-member checkpoints in `round-<r>/` of the checkpoint directory) and
//!    report its held-out force error, spread and calibration ([`EnsembleMetrics`]);
//! 2. for `r < R`: from every start configuration, one Langevin run ([`Sampler`]) with
//!    the [`Driver`] potential (by default the committee mean) yields candidate
//!    snapshots (start configurations dealt over ranks);
//! 3. score each candidate by the committee disagreement `max_i |σ_i|`, the largest
//!    norm over atoms of the standard deviation of the force vector across members;
//! 4. label the `per_round` highest-scoring candidates whose score is at least
//!    `threshold` (and at most `ceiling`, which discards configurations the model drove
//!    into unphysical regions) with the reference potential: energy, forces and virial;
//! 5. append them to the training set and write the round checkpoint (training set,
//!    next round, reports) atomically.
//!
//! Every round starts its MD from the given start configurations with seeds derived from
//! the sampler seed, the round and the start index, so a round depends only on the
//! training set and the round number: resuming from the round checkpoint reproduces the
//! uninterrupted loop exactly. Every rank computes the same scores and selection from
//! the same ensemble, and only rank 0 writes the round checkpoint.

use std::path::PathBuf;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thermograd_dist::Comm;
use thermograd_md::{Configuration, Evaluation, Potential, State};
use thermograd_nn::Frame;

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::data::{Dataset, Structure};
use crate::ensemble::{distribute, splitmix64, EnsembleConfig, EnsembleMetrics, TrainedEnsemble};
use crate::error::{config_error, Result};
use crate::model::EnergyModel;
use crate::sampler::{Sampler, SamplerConfig};

/// The potential that drives the candidate-generating MD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Driver {
    /// The committee mean (forces averaged over members): smoother and more robust
    /// than any single member, at `M` times the cost per step.
    #[default]
    CommitteeMean,
    /// One member, by index: cheaper; its own errors then steer the exploration.
    Member(usize),
}

/// How candidates are chosen for labelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// The highest committee disagreement first (query by committee).
    #[default]
    Disagreement,
    /// Uniformly at random among the candidates that pass the threshold and ceiling
    /// (seeded by [`ActiveLearningConfig::seed`] and the round): the baseline that
    /// query by committee should beat.
    Random,
}

/// Settings of an [`ActiveLearning`] loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveLearningConfig {
    /// The ensemble trained every round. Its `checkpoint_dir` must be `None`: member
    /// checkpoints go under [`ActiveLearningConfig::checkpoint_dir`].
    pub ensemble: EnsembleConfig,
    /// Acquisition rounds `R`: the loop trains `R + 1` ensembles and labels candidates
    /// after each of the first `R`.
    pub rounds: usize,
    /// Langevin MD from each start configuration: `samples` candidates per start and
    /// round. Its `seed` is the base of the per-round, per-start seeds; `pressure`
    /// couples the box if set.
    pub sampler: SamplerConfig,
    /// The potential of the MD.
    pub driver: Driver,
    /// How candidates are picked.
    pub selection: Selection,
    /// At most this many candidates labelled per round.
    pub per_round: usize,
    /// Candidates whose disagreement is below this are not labelled (energy/length).
    pub threshold: f64,
    /// Candidates whose disagreement is above this are discarded as unphysical
    /// (energy/length; `None`: no ceiling).
    pub ceiling: Option<f64>,
    /// Seed of the random selection baseline.
    pub seed: u64,
    /// Directory of the round checkpoint `active.ckpt` and the members' checkpoints
    /// `round-<r>/member-<k>.ckpt` (`None`: no checkpoints).
    pub checkpoint_dir: Option<PathBuf>,
}

impl ActiveLearningConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.ensemble.validate()?;
        self.sampler.validate()?;
        if self.ensemble.checkpoint_dir.is_some() {
            return Err(config_error(
                "active learning",
                "set checkpoint_dir on the loop, not on its ensemble",
            ));
        }
        if let Driver::Member(k) = self.driver {
            if k >= self.ensemble.members {
                return Err(config_error(
                    "active-learning driver",
                    format!("member {k} of {}", self.ensemble.members),
                ));
            }
        }
        if self.per_round == 0 {
            return Err(config_error(
                "active learning",
                "per_round must be at least 1",
            ));
        }
        let ceiling = self.ceiling.unwrap_or(f64::INFINITY);
        if !(self.threshold.is_finite() && self.threshold >= 0.0 && ceiling > self.threshold) {
            return Err(config_error(
                "active-learning threshold",
                "must be finite, ≥ 0 and below the ceiling",
            ));
        }
        Ok(())
    }

    /// Checks the settings and the data and builds the loop. `factory(k, seed)` builds
    /// member `k`'s initial model (as in [`EnsembleConfig::build`]); `train` is the
    /// initial labelled set, `validation` is used by the members' early stopping (may be
    /// empty), `test` (with forces) for the per-round reports; `starts` are the MD
    /// start states (positions, velocities, masses, box); `reference` labels the chosen
    /// candidates.
    #[allow(clippy::too_many_arguments)]
    pub fn build<M>(
        &self,
        factory: impl Fn(usize, u64) -> Result<M> + 'static,
        train: Dataset,
        validation: Dataset,
        test: Dataset,
        starts: Vec<State>,
        reference: Arc<dyn Potential>,
    ) -> Result<ActiveLearning<M>>
    where
        M: EnergyModel + Clone + 'static,
    {
        self.validate()?;
        if starts.is_empty() {
            return Err(config_error(
                "active learning",
                "needs start configurations",
            ));
        }
        for s in &starts {
            s.validate()?;
        }
        if test.is_empty() {
            return Err(config_error("active-learning test set", "is empty"));
        }
        // Settings against data (labels, weights) are checked by building the ensemble.
        self.ensemble
            .build(&factory, train.clone(), validation.clone())?;
        Ok(ActiveLearning {
            config: self.clone(),
            factory: Box::new(factory),
            validation,
            test,
            starts,
            reference,
            state: AlState {
                round: 0,
                train,
                history: Vec::new(),
            },
        })
    }
}

/// What one round did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    /// Round number (from 0).
    pub round: usize,
    /// Training structures the round's ensemble was trained on.
    pub train_size: usize,
    /// The ensemble on the held-out test set.
    pub test: EnsembleMetrics,
    /// Candidates generated (0 in the last round).
    pub candidates: usize,
    /// Largest candidate disagreement (energy/length; `None` without candidates).
    pub max_disagreement: Option<f64>,
    /// Mean candidate disagreement (energy/length; `None` without candidates).
    pub mean_disagreement: Option<f64>,
    /// Disagreements of the candidates labelled, in the order they were added.
    pub selected_disagreement: Vec<f64>,
}

/// Everything one round produced, for callers who inspect the selection.
#[derive(Debug)]
pub struct Round<M> {
    /// The report (also appended to [`ActiveLearning::history`]).
    pub report: RoundReport,
    /// The ensemble trained this round.
    pub ensemble: TrainedEnsemble<M>,
    /// The candidate configurations (start-major, then in MD order; empty in the last
    /// round).
    pub candidates: Vec<Frame>,
    /// Their disagreements `max_i |σ_i|`.
    pub scores: Vec<f64>,
    /// Indices of the labelled candidates, in the order they were added.
    pub selected: Vec<usize>,
}

/// The resumable state of the loop.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AlState {
    /// The next round to run.
    round: usize,
    train: Dataset,
    history: Vec<RoundReport>,
}

const KIND: &str = "active-learning";

/// The query-by-committee loop (see the module docs).
pub struct ActiveLearning<M> {
    config: ActiveLearningConfig,
    factory: Box<dyn Fn(usize, u64) -> Result<M>>,
    validation: Dataset,
    test: Dataset,
    starts: Vec<State>,
    reference: Arc<dyn Potential>,
    state: AlState,
}

impl<M> std::fmt::Debug for ActiveLearning<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveLearning")
            .field("config", &self.config)
            .field("round", &self.state.round)
            .field("train_size", &self.state.train.len())
            .finish_non_exhaustive()
    }
}

/// The indices of the candidates to label: those with `threshold ≤ score ≤ ceiling`,
/// highest score first (ties by index), at most `k` of them.
pub fn select_top(scores: &[f64], k: usize, threshold: f64, ceiling: Option<f64>) -> Vec<usize> {
    let mut eligible = eligible(scores, threshold, ceiling);
    eligible.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    eligible.truncate(k);
    eligible
}

fn eligible(scores: &[f64], threshold: f64, ceiling: Option<f64>) -> Vec<usize> {
    let ceiling = ceiling.unwrap_or(f64::INFINITY);
    (0..scores.len())
        .filter(|&i| scores[i] >= threshold && scores[i] <= ceiling)
        .collect()
}

/// `frame` labelled with `reference`'s energy (energy units), forces (energy/length)
/// and virial `Σ r_ij ⊗ f_ij` (energy units): a structure for the training set.
pub fn label(reference: &dyn Potential, frame: &Frame) -> Result<Structure> {
    let mut e = Evaluation::zeros(frame.positions.len());
    let config = Configuration {
        positions: &frame.positions,
        species: &frame.species,
        simbox: &frame.simbox,
        neighbors: None,
    };
    reference.add_to(&config, &mut e)?;
    let mut s = Structure::new(
        frame.positions.clone(),
        frame.species.clone(),
        frame.simbox.clone(),
    );
    s.energy = Some(e.energy);
    s.forces = Some(e.forces);
    s.virial = Some(e.virial);
    Ok(s)
}

/// The mean of the members' energies, forces and virials: the committee mean as a
/// potential for any [`EnergyModel`].
#[derive(Debug)]
struct CommitteeMean<M>(Vec<M>);

impl<M: EnergyModel> Potential for CommitteeMean<M> {
    fn cutoff(&self) -> Option<f64> {
        self.0.iter().filter_map(|m| m.cutoff()).reduce(f64::max)
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        let scale = 1.0 / self.0.len() as f64;
        let mut e = Evaluation::zeros(config.positions.len());
        for m in &self.0 {
            e.energy = 0.0;
            e.forces.iter_mut().for_each(|f| *f = Default::default());
            e.virial = Default::default();
            m.add_to(config, &mut e)?;
            out.energy += scale * e.energy;
            for (a, b) in out.forces.iter_mut().zip(&e.forces) {
                *a += scale * b;
            }
            out.virial += scale * e.virial;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "committee mean"
    }
}

impl<M: EnergyModel + Clone + 'static> ActiveLearning<M> {
    /// The settings.
    pub fn config(&self) -> &ActiveLearningConfig {
        &self.config
    }

    /// The labelled training set so far.
    pub fn training_set(&self) -> &Dataset {
        &self.state.train
    }

    /// The next round to run.
    pub fn round(&self) -> usize {
        self.state.round
    }

    /// Reports of the rounds run so far.
    pub fn history(&self) -> &[RoundReport] {
        &self.state.history
    }

    /// Whether all `R + 1` rounds have run.
    pub fn finished(&self) -> bool {
        self.state.round > self.config.rounds
    }

    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.config
            .checkpoint_dir
            .as_ref()
            .map(|d| d.join("active.ckpt"))
    }

    /// Trains the ensemble of the current round on the current training set (members
    /// resumed from their checkpoints where those exist).
    pub fn train_ensemble(&self, comm: &dyn Comm) -> Result<TrainedEnsemble<M>> {
        let round = self.state.round.min(self.config.rounds);
        let mut config = self.config.ensemble.clone();
        config.checkpoint_dir = self
            .config
            .checkpoint_dir
            .as_ref()
            .map(|d| d.join(format!("round-{round}")));
        config
            .build(
                &*self.factory,
                self.state.train.clone(),
                self.validation.clone(),
            )?
            .train(comm)
    }

    /// The sampler settings of start `s` in round `r`.
    fn sampler_config(&self, round: usize, start: usize) -> SamplerConfig {
        let mut c = self.config.sampler;
        c.seed = splitmix64(c.seed ^ splitmix64(((round as u64) << 32) ^ start as u64));
        c
    }

    /// Candidate configurations of this round from MD with the driver potential
    /// (start configurations dealt over `comm`'s ranks; every rank gets all).
    pub fn candidates(&self, ensemble: &TrainedEnsemble<M>, comm: &dyn Comm) -> Result<Vec<Frame>> {
        let round = self.state.round;
        let per_start = distribute(comm, self.starts.len(), &mut |s| {
            let driver: Box<dyn Potential> = match self.config.driver {
                Driver::CommitteeMean => Box::new(CommitteeMean(ensemble.members().to_vec())),
                Driver::Member(k) => Box::new(ensemble.members()[k].clone()),
            };
            let mut sampler =
                Sampler::new(self.sampler_config(round, s), self.starts[s].clone(), None)?;
            Ok(sampler
                .sample(driver)?
                .into_iter()
                .map(|snap| snap.frame)
                .collect::<Vec<Frame>>())
        })?;
        Ok(per_start.into_iter().flatten().collect())
    }

    /// `frame` labelled with the reference potential's energy, forces and virial.
    fn label(&self, frame: &Frame) -> Result<Structure> {
        label(self.reference.as_ref(), frame)
    }

    /// Runs the next round (see the module docs) and writes the round checkpoint.
    pub fn run_round(&mut self, comm: &dyn Comm) -> Result<Round<M>> {
        if self.finished() {
            return Err(config_error(
                "active learning",
                format!("all {} rounds have run", self.config.rounds + 1),
            ));
        }
        let round = self.state.round;
        let ensemble = self.train_ensemble(comm)?;
        let test = ensemble.evaluate(&self.test)?;
        let (candidates, scores, selected) = if round < self.config.rounds {
            let candidates = self.candidates(&ensemble, comm)?;
            let scores = ensemble.disagreements(&candidates)?;
            let c = &self.config;
            let selected = match c.selection {
                Selection::Disagreement => select_top(&scores, c.per_round, c.threshold, c.ceiling),
                Selection::Random => {
                    let mut pool = eligible(&scores, c.threshold, c.ceiling);
                    let seed = splitmix64(c.seed ^ splitmix64(round as u64));
                    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                    pool.truncate(c.per_round);
                    pool
                }
            };
            (candidates, scores, selected)
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let labelled = selected
            .iter()
            .map(|&i| self.label(&candidates[i]))
            .collect::<Result<Vec<_>>>()?;
        let report = RoundReport {
            round,
            train_size: self.state.train.len(),
            test,
            candidates: candidates.len(),
            max_disagreement: (!scores.is_empty())
                .then(|| scores.iter().copied().fold(0.0, f64::max)),
            mean_disagreement: (!scores.is_empty())
                .then(|| scores.iter().sum::<f64>() / scores.len() as f64),
            selected_disagreement: selected.iter().map(|&i| scores[i]).collect(),
        };
        let added = Dataset::new(labelled, self.state.train.species().clone())?;
        self.state.train.extend(added)?;
        self.state.history.push(report.clone());
        self.state.round += 1;
        if let Some(path) = self.checkpoint_path() {
            if comm.is_root() {
                save_checkpoint(&path, KIND, &self.state)?;
            }
            // Nobody reads the checkpoint before it is complete.
            comm.barrier();
        }
        Ok(Round {
            report,
            ensemble,
            candidates,
            scores,
            selected,
        })
    }

    /// Runs the remaining rounds and returns the last round's ensemble (trained again,
    /// or read back from its member checkpoints, if the loop had already finished).
    pub fn run(&mut self, comm: &dyn Comm) -> Result<TrainedEnsemble<M>> {
        let mut last = None;
        while !self.finished() {
            last = Some(self.run_round(comm)?.ensemble);
        }
        match last {
            Some(e) => Ok(e),
            None => self.train_ensemble(comm),
        }
    }

    /// Continues from the round checkpoint of a loop with the same settings, data and
    /// factory (read from [`ActiveLearningConfig::checkpoint_dir`]); without a
    /// checkpoint there, starts from round 0. Returns whether a checkpoint was read.
    pub fn resume(&mut self) -> Result<bool> {
        let Some(path) = self.checkpoint_path() else {
            return Err(config_error("active learning", "has no checkpoint_dir"));
        };
        if !path.exists() {
            return Ok(false);
        }
        self.state = load_checkpoint(&path, KIND)?;
        Ok(true)
    }
}
