//! `thermograd train ensemble|active --config FILE.toml --out DIR [--resume]`: deep
//! ensembles of force-matched models (Lakshminarayanan, Pritzel & Blundell 2017) and
//! active learning by query-by-committee (Seung, Opper & Sompolinsky 1992; Smith et al.
//! 2018; Schran et al. 2020), over [`thermograd_train::DeepEnsemble`] and
//! [`thermograd_train::ActiveLearning`].
//!
//! Both read the `[model]`, `[optimizer]` and `[training]` sections of `train fm` plus
//!
//! ```toml
//! [ensemble]
//! members = 4          # at least 2
//! seed = 1             # member k's initial weights, shuffling and bootstrap come from it
//! bootstrap = false    # train each member on a bootstrap resample of the training set
//! ```
//!
//! Spline models all start from the same (zero) table and force matching is a convex
//! problem for them, so their members would converge to one model: a spline ensemble
//! needs `bootstrap = true`.
//!
//! **`ensemble`** also reads `[data]` and an optional `[prior]` exactly as `train fm`
//! does (with a prior the members learn, and the metrics measure, the forces minus the
//! prior's). It writes into `--out`:
//! - `member_<k>.tgnn` (and `member_<k>_potential.csv` for splines), the members;
//! - `metrics.csv`, one row per member and epoch (no wall times);
//! - `summary.json`: on the test split the committee force RMSE, the members' RMSEs,
//!   the mean and RMS committee spread σ, RMSE / RMS σ, the fraction of force components
//!   within ±2σ, the disagreement, and the untrained committee's RMSE for comparison;
//! - `timing.json`, the wall times (kept apart so that every other file is
//!   deterministic: the same on any number of MPI ranks and after `--resume`);
//! - `checkpoints/member-<k>.ckpt` after every epoch of every member. `--resume`
//!   continues each member from its checkpoint (a finished member is read back, not
//!   trained again); without `--resume` old checkpoints are removed first.
//!
//! **`active`** also reads the reference potential that labels new structures and the
//! loop's settings:
//!
//! ```toml
//! [reference.lennard_jones]   # any of soft_sphere, wca, lennard_jones, as [prior]
//! [active]
//! rounds = 2                  # R: R + 1 ensembles, R labelling rounds
//! per_round = 4               # at most this many structures labelled per round
//! threshold = 0.0             # label only candidates with disagreement ≥ this
//! # ceiling = 50.0            # and ≤ this (energy/length; discards blow-ups)
//! selection = "disagreement"  # or "random" (the baseline)
//! driver = "committee_mean"   # MD potential; or { member = 0 }
//! seed = 0                    # of the random selection
//! [active.sampler]            # Langevin MD from each start: `samples` candidates
//! kt = 1.0                    # (energy units)
//! dt = 0.004                  # (time units)
//! friction_time = 0.5
//! equilibration_steps = 50
//! samples = 8
//! stride = 10
//! skin = 0.3
//! seed = 1                    # round r, start s get seeds derived from it
//! [active.starts]             # MD start configurations
//! count = 2                   # the first `count` training structures, or …
//! lattice = { cells = 2, density = 0.85 }   # … `count` copies of an fcc lattice
//! mass = 1.0                  # atom mass (mass units)
//! velocity_seed = 0           # start k draws its velocities with seed velocity_seed + k
//! [active.initial]            # without [data]: labelled structures from reference MD
//! train = 4                   # from start 0 with the sampler's settings
//! test = 12
//! validation = 0
//! ```
//!
//! The initial labelled set is either `[data]` (split as in `train fm`; it needs a test
//! split) or, without `[data]`, `[active.initial]`: a reference-potential MD run from
//! the first start (`train + validation + test` snapshots, dealt to the three sets by a
//! permutation seeded with the sampler seed). It writes into `--out`: `rounds.csv` (one
//! row per round: training-set size, held-out committee force RMSE and spread, candidate
//! disagreements), the final members `member_<k>.tgnn`, their `metrics.csv`,
//! `dataset.extxyz` (the grown training set, in the run's units), `summary.json` and
//! `checkpoints/` (the round checkpoint `active.ckpt` and the members' checkpoints
//! `round-<r>/member-<k>.ckpt`); `--resume` continues from the last finished round.
//!
//! Under `mpirun` (with the `mpi` feature) the members are dealt over the ranks (and in
//! `active` the MD starts too); every rank ends with the whole ensemble and only rank 0
//! writes the shared outputs, which equal those of one process.
//!
//! Examples: `examples/configs/train_ensemble.toml`, `train_active.toml`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;
use thermograd_dist::Comm;
use thermograd_md::{fcc_lattice, Potential, State};
use thermograd_nn::{BehlerParrinello, SchNet};
use thermograd_train::active::label;
use thermograd_train::ensemble::member_seeds;
use thermograd_train::formats::write_extxyz;
use thermograd_train::{
    permutation, ActiveLearningConfig, Dataset, Driver, EnergyModel, EnsembleConfig,
    EnsembleMetrics, FmEpoch, RoundReport, Sampler, SamplerConfig, Selection, SharedPotential,
    SplinePair, Split, TrainedEnsemble, UnitConversion,
};

use super::train::{
    load_split, read_config, save_model_as, Common, DataSpec, FmTraining, LatticeSpec, Model,
    ModelSpec, OptimizerSpec, PriorSpec,
};
use super::write_atomic;

/// `[ensemble]`: how many members and how they differ.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleSpec {
    members: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    bootstrap: bool,
}

/// The `train ensemble` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleFile {
    data: DataSpec,
    #[serde(default)]
    prior: PriorSpec,
    model: ModelSpec,
    training: FmTraining,
    optimizer: OptimizerSpec,
    ensemble: EnsembleSpec,
}

/// A model kind the ensemble can hold, and its way back into the CLI's [`Model`].
trait Member: EnergyModel + Clone + 'static {
    fn from_model(m: Model) -> Option<Self>;
    fn into_model(self) -> Model;
}

impl Member for SplinePair {
    fn from_model(m: Model) -> Option<Self> {
        match m {
            Model::Spline(s) => Some(s),
            _ => None,
        }
    }
    fn into_model(self) -> Model {
        Model::Spline(self)
    }
}

impl Member for SchNet {
    fn from_model(m: Model) -> Option<Self> {
        match m {
            Model::SchNet(b) => Some(b),
            _ => None,
        }
    }
    fn into_model(self) -> Model {
        Model::SchNet(self)
    }
}

impl Member for BehlerParrinello {
    fn from_model(m: Model) -> Option<Self> {
        match m {
            Model::Bp(b) => Some(b),
            _ => None,
        }
    }
    fn into_model(self) -> Model {
        Model::Bp(self)
    }
}

/// The members' initial models: `[model]` with member `k`'s initialisation seed, input
/// normalization fitted to `train`.
fn initial_models(
    spec: &ModelSpec,
    training: &FmTraining,
    ensemble: &EnsembleSpec,
    base: &Path,
    train: &Dataset,
) -> anyhow::Result<Vec<Model>> {
    let models = (0..ensemble.members)
        .map(|k| {
            let mut m = spec.build_seeded(base, Some(member_seeds(ensemble.seed, k).init))?;
            training.normalize(&mut m, train)?;
            Ok(m)
        })
        .collect::<anyhow::Result<Vec<Model>>>()?;
    if matches!(models.first(), Some(Model::Spline(_))) && !ensemble.bootstrap {
        bail!(
            "[ensemble] in {}: spline members start from the same table and force matching \
             is convex for them, so they would all converge to one model; set \
             `bootstrap = true` (or use kind = \"behler_parrinello\")",
            base.display()
        );
    }
    Ok(models)
}

/// The concrete members of one kind (all are: they come from one `[model]`).
fn concrete<M: Member>(models: Vec<Model>) -> Vec<M> {
    models
        .into_iter()
        .map(|m| M::from_model(m).expect("all members come from one [model]"))
        .collect()
}

/// `ensemble` settings from the file's sections, checkpoints in `dir`.
fn ensemble_config(
    spec: &EnsembleSpec,
    training: &FmTraining,
    optimizer: &OptimizerSpec,
    dir: Option<PathBuf>,
    progress: bool,
) -> anyhow::Result<EnsembleConfig> {
    let mut fm = training.config(optimizer)?;
    fm.progress = progress;
    Ok(EnsembleConfig {
        members: spec.members,
        training: fm,
        seed: spec.seed,
        bootstrap: spec.bootstrap,
        checkpoint_dir: dir,
    })
}

/// Creates `--out` and its `checkpoints/`: removes old checkpoints unless resuming
/// (rank 0, before anyone trains), and with `--resume` insists that they exist.
fn prepare_checkpoints(c: &Common, comm: &dyn Comm) -> anyhow::Result<PathBuf> {
    let dir = c.out.join("checkpoints");
    if c.resume && !dir.is_dir() {
        bail!("--resume: {} does not exist", dir.display());
    }
    let mut result = Ok(());
    if comm.is_root() && !c.dry_run {
        result = (|| {
            std::fs::create_dir_all(&c.out)
                .with_context(|| format!("cannot create {}", c.out.display()))?;
            if !c.resume && dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove old {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))
        })();
    }
    // Nobody trains (and writes a checkpoint) before rank 0 has cleared the old ones.
    comm.barrier();
    result.map(|()| dir)
}

/// `metrics.csv`: one row per member and epoch; empty cells for metrics not computed.
fn write_member_metrics(out: &Path, histories: &[Vec<FmEpoch>]) -> anyhow::Result<()> {
    let mut text = String::from(
        "member,epoch,train_loss,train_energy_rmse,train_force_rmse,train_virial_rmse,\
         validation_loss,validation_energy_rmse,validation_force_rmse,validation_virial_rmse,\
         learning_rate\n",
    );
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    for (k, h) in histories.iter().enumerate() {
        for e in h {
            let _ = writeln!(
                text,
                "{k},{},{},{},{},{},{},{},{},{},{}",
                e.epoch,
                e.train_loss,
                opt(e.train_energy_rmse),
                opt(e.train_force_rmse),
                opt(e.train_virial_rmse),
                opt(e.validation_loss),
                opt(e.validation_energy_rmse),
                opt(e.validation_force_rmse),
                opt(e.validation_virial_rmse),
                e.learning_rate
            );
        }
    }
    write_atomic(&out.join("metrics.csv"), &text)
}

/// `timing.json`: median epoch wall time over all members' epochs, per 1,000 training
/// structures, and each member's total.
fn write_timing(out: &Path, histories: &[Vec<FmEpoch>], n_train: usize) -> anyhow::Result<()> {
    let mut secs: Vec<f64> = histories.iter().flatten().map(|e| e.seconds).collect();
    secs.sort_by(f64::total_cmp);
    let mut timing = serde_json::Map::new();
    if let Some(median) = secs.get(secs.len() / 2) {
        timing.insert("median_epoch_seconds".into(), (*median).into());
        timing.insert(
            "seconds_per_epoch_per_1000_structures".into(),
            (median * 1000.0 / n_train.max(1) as f64).into(),
        );
    }
    let totals: Vec<f64> = histories
        .iter()
        .map(|h| h.iter().map(|e| e.seconds).sum())
        .collect();
    timing.insert("member_seconds".into(), serde_json::to_value(totals)?);
    write_atomic(
        &out.join("timing.json"),
        &serde_json::to_string_pretty(&timing)?,
    )
}

/// Writes the members as `member_<k>.tgnn` (and spline tables).
fn save_members<M: Member>(out: &Path, members: &[M]) -> anyhow::Result<()> {
    for (k, m) in members.iter().enumerate() {
        save_model_as(
            &m.clone().into_model(),
            &out.join(format!("member_{k}.tgnn")),
            &out.join(format!("member_{k}_potential.csv")),
        )?;
    }
    Ok(())
}

/// The committee metrics as JSON, with the per-member RMSEs.
fn metrics_json(m: &EnsembleMetrics) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(m)?)
}

fn write_summary(
    out: &Path,
    summary: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    write_atomic(&out.join("summary.json"), &text)?;
    println!("{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Deep ensemble

/// Runs `thermograd train ensemble` on `comm`'s ranks.
pub(super) fn run_ensemble(c: &Common, comm: &dyn Comm) -> anyhow::Result<()> {
    let file: EnsembleFile = read_config(&c.config)?;
    let split = load_split(&file.data, &file.prior, &c.config)?;
    let models = initial_models(
        &file.model,
        &file.training,
        &file.ensemble,
        &c.config,
        &split.train,
    )?;
    let dir = prepare_checkpoints(c, comm)?;
    let config = ensemble_config(
        &file.ensemble,
        &file.training,
        &file.optimizer,
        Some(dir),
        !c.quiet && comm.size() == 1,
    )?;
    match models[0] {
        Model::Spline(_) => {
            ensemble_generic(concrete::<SplinePair>(models), &config, split, c, comm)
        }
        Model::Bp(_) => ensemble_generic(
            concrete::<BehlerParrinello>(models),
            &config,
            split,
            c,
            comm,
        ),
        Model::SchNet(_) => ensemble_generic(concrete::<SchNet>(models), &config, split, c, comm),
    }
}

fn ensemble_generic<M: Member>(
    members: Vec<M>,
    config: &EnsembleConfig,
    split: Split,
    c: &Common,
    comm: &dyn Comm,
) -> anyhow::Result<()> {
    let n_train = split.train.len();
    let (n_validation, n_test) = (split.validation.len(), split.test.len());
    let test = split.test;
    let ensemble = config
        .build(|k, _| Ok(members[k].clone()), split.train, split.validation)
        .with_context(|| format!("in {}", c.config.display()))?;
    if c.dry_run {
        if comm.is_root() {
            println!(
                "configuration and data are valid ({} members, {n_train} training structures)",
                config.members
            );
        }
        return Ok(());
    }
    let trained = ensemble.train(comm)?;
    // Every rank holds the whole ensemble; rank 0 evaluates and writes.
    let result = if comm.is_root() {
        (|| {
            let mut summary = serde_json::Map::new();
            summary.insert("members".into(), config.members.into());
            summary.insert("bootstrap".into(), config.bootstrap.into());
            summary.insert("training_structures".into(), n_train.into());
            summary.insert("validation_structures".into(), n_validation.into());
            summary.insert("test_structures".into(), n_test.into());
            let epochs: Vec<usize> = trained.histories().iter().map(Vec::len).collect();
            summary.insert("epochs".into(), serde_json::to_value(epochs)?);
            let last = |f: fn(&FmEpoch) -> Option<f64>| -> Vec<Option<f64>> {
                trained
                    .histories()
                    .iter()
                    .map(|h| h.last().and_then(f))
                    .collect()
            };
            summary.insert(
                "final_train_loss".into(),
                serde_json::to_value(last(|e| Some(e.train_loss)))?,
            );
            summary.insert(
                "final_validation_loss".into(),
                serde_json::to_value(last(|e| e.validation_loss))?,
            );
            if !test.is_empty() {
                let untrained = TrainedEnsemble::from_members(ensemble.initial_models().to_vec())?
                    .evaluate(&test)?;
                summary.insert("test".into(), metrics_json(&trained.evaluate(&test)?)?);
                summary.insert(
                    "untrained_test_force_rmse".into(),
                    untrained.force_rmse.into(),
                );
                if let Some(s) = test.force_std() {
                    summary.insert("test_force_std".into(), s.into());
                }
            }
            save_members(&c.out, trained.members())?;
            write_member_metrics(&c.out, trained.histories())?;
            write_timing(&c.out, trained.histories(), n_train)?;
            write_summary(&c.out, &summary)
        })()
    } else {
        Ok(())
    };
    comm.barrier();
    result
}

// ---------------------------------------------------------------------------------------
// Active learning

/// The `train active` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveFile {
    data: Option<DataSpec>,
    reference: PriorSpec,
    model: ModelSpec,
    training: FmTraining,
    optimizer: OptimizerSpec,
    ensemble: EnsembleSpec,
    active: ActiveSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SelectionName {
    #[default]
    Disagreement,
    Random,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DriverSpec {
    #[default]
    CommitteeMean,
    Member(usize),
}

/// `[active]`: the loop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveSpec {
    rounds: usize,
    per_round: usize,
    #[serde(default)]
    threshold: f64,
    ceiling: Option<f64>,
    #[serde(default)]
    selection: SelectionName,
    #[serde(default)]
    driver: DriverSpec,
    #[serde(default)]
    seed: u64,
    sampler: SamplerConfig,
    starts: StartsSpec,
    initial: Option<InitialSpec>,
}

/// `[active.starts]`: where the candidate-generating MD starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartsSpec {
    #[serde(default = "one")]
    count: usize,
    lattice: Option<LatticeSpec>,
    #[serde(default = "unit_mass")]
    mass: f64,
    #[serde(default)]
    velocity_seed: u64,
}

/// `[active.initial]`: the initial labelled sets from reference MD.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitialSpec {
    train: usize,
    test: usize,
    #[serde(default)]
    validation: usize,
}

fn one() -> usize {
    1
}
fn unit_mass() -> f64 {
    1.0
}

impl StartsSpec {
    /// `count` start states, thermalized at `kt` (energy units).
    fn states(&self, kt: f64, data: Option<&Dataset>, path: &Path) -> anyhow::Result<Vec<State>> {
        let ctx = || format!("[active.starts] in {}", path.display());
        if self.count == 0 {
            bail!("{}: count must be at least 1", ctx());
        }
        let configurations: Vec<_> = match (&self.lattice, data) {
            (Some(l), _) => {
                let (p, b) = fcc_lattice(l.cells, l.density).with_context(ctx)?;
                let n = p.len();
                vec![(p, vec![0; n], b); self.count]
            }
            (None, Some(d)) => {
                if d.len() < self.count {
                    bail!(
                        "{}: {} starts, but the training set has {} structures",
                        ctx(),
                        self.count,
                        d.len()
                    );
                }
                d.structures()[..self.count]
                    .iter()
                    .map(|s| (s.positions.clone(), s.species.clone(), s.simbox.clone()))
                    .collect()
            }
            (None, None) => bail!("{}: give `lattice` (there is no [data])", ctx()),
        };
        configurations
            .into_iter()
            .enumerate()
            .map(|(k, (p, s, b))| {
                let n = p.len();
                let mut state = State::new(p, vec![self.mass; n], s, b).with_context(ctx)?;
                state
                    .thermalize(kt, self.velocity_seed.wrapping_add(k as u64))
                    .with_context(ctx)?;
                Ok(state)
            })
            .collect()
    }
}

impl InitialSpec {
    /// Training, validation and test sets labelled by `reference` from one MD run with
    /// `reference` from `start`.
    fn generate(
        &self,
        sampler: &SamplerConfig,
        start: &State,
        reference: &Arc<dyn Potential>,
    ) -> anyhow::Result<Split> {
        let total = self.train + self.validation + self.test;
        if self.train == 0 || self.test == 0 {
            bail!("[active.initial]: `train` and `test` must be at least 1");
        }
        let config = SamplerConfig {
            samples: total,
            ..*sampler
        };
        let mut md = Sampler::new(config, start.clone(), None)?;
        let snapshots = md.sample(Box::new(SharedPotential(reference.clone())))?;
        let structures = snapshots
            .iter()
            .map(|s| label(reference.as_ref(), &s.frame))
            .collect::<thermograd_train::Result<Vec<_>>>()?;
        let all = Dataset::new(structures, Default::default())?;
        let order = permutation(total, sampler.seed);
        let (a, b) = (self.train, self.train + self.validation);
        Ok(Split {
            train: all.subset(&order[..a])?,
            validation: all.subset(&order[a..b])?,
            test: all.subset(&order[b..])?,
        })
    }
}

/// `rounds.csv`: one row per round run so far.
fn write_rounds(out: &Path, history: &[RoundReport]) -> anyhow::Result<()> {
    let mut text = String::from(
        "round,train_size,test_force_rmse,test_mean_member_force_rmse,test_mean_force_std,\
         test_error_to_spread,test_within_two_sigma,candidates,max_disagreement,\
         mean_disagreement,labelled\n",
    );
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    for r in history {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.round,
            r.train_size,
            r.test.force_rmse,
            r.test.mean_member_force_rmse,
            r.test.mean_force_std,
            r.test.error_to_spread,
            r.test.within_two_sigma,
            r.candidates,
            opt(r.max_disagreement),
            opt(r.mean_disagreement),
            r.selected_disagreement.len()
        );
    }
    write_atomic(&out.join("rounds.csv"), &text)
}

/// Runs `thermograd train active` on `comm`'s ranks.
pub(super) fn run_active(c: &Common, comm: &dyn Comm) -> anyhow::Result<()> {
    let file: ActiveFile = read_config(&c.config)?;
    let in_file = || format!("in {}", c.config.display());
    let a = &file.active;
    let reference = file.reference.build()?;
    if reference.terms().is_empty() {
        bail!(
            "[reference] in {}: give at least one of soft_sphere, wca, lennard_jones",
            c.config.display()
        );
    }
    let reference: Arc<dyn Potential> = Arc::new(reference);
    a.sampler
        .validate()
        .with_context(|| format!("[active.sampler] {}", in_file()))?;
    let (split, starts) = match (&file.data, &a.initial) {
        (Some(d), None) => {
            let split = load_split(d, &PriorSpec::default(), &c.config)?;
            let starts = a
                .starts
                .states(a.sampler.kt, Some(&split.train), &c.config)?;
            (split, starts)
        }
        (None, Some(init)) => {
            let starts = a.starts.states(a.sampler.kt, None, &c.config)?;
            let split = init
                .generate(&a.sampler, &starts[0], &reference)
                .with_context(in_file)?;
            (split, starts)
        }
        _ => bail!(
            "{}: give exactly one of [data] or [active.initial] (the initial labelled set)",
            c.config.display()
        ),
    };
    if split.test.is_empty() {
        bail!(
            "{}: the held-out test set is empty (set test_fraction in [data])",
            c.config.display()
        );
    }
    let models = initial_models(
        &file.model,
        &file.training,
        &file.ensemble,
        &c.config,
        &split.train,
    )?;
    let dir = prepare_checkpoints(c, comm)?;
    let config = ActiveLearningConfig {
        ensemble: ensemble_config(
            &file.ensemble,
            &file.training,
            &file.optimizer,
            None,
            !c.quiet && comm.size() == 1,
        )?,
        rounds: a.rounds,
        sampler: a.sampler,
        driver: match a.driver {
            DriverSpec::CommitteeMean => Driver::CommitteeMean,
            DriverSpec::Member(k) => Driver::Member(k),
        },
        selection: match a.selection {
            SelectionName::Disagreement => Selection::Disagreement,
            SelectionName::Random => Selection::Random,
        },
        per_round: a.per_round,
        threshold: a.threshold,
        ceiling: a.ceiling,
        seed: a.seed,
        checkpoint_dir: Some(dir),
    };
    match models[0] {
        Model::Spline(_) => active_generic(
            concrete::<SplinePair>(models),
            &config,
            split,
            starts,
            reference,
            c,
            comm,
        ),
        Model::Bp(_) => active_generic(
            concrete::<BehlerParrinello>(models),
            &config,
            split,
            starts,
            reference,
            c,
            comm,
        ),
        Model::SchNet(_) => active_generic(
            concrete::<SchNet>(models),
            &config,
            split,
            starts,
            reference,
            c,
            comm,
        ),
    }
}

fn active_generic<M: Member>(
    members: Vec<M>,
    config: &ActiveLearningConfig,
    split: Split,
    starts: Vec<State>,
    reference: Arc<dyn Potential>,
    c: &Common,
    comm: &dyn Comm,
) -> anyhow::Result<()> {
    let n_initial = split.train.len();
    let n_test = split.test.len();
    let mut al = config
        .build(
            move |k, _| Ok(members[k].clone()),
            split.train,
            split.validation,
            split.test,
            starts,
            reference,
        )
        .with_context(|| format!("in {}", c.config.display()))?;
    if c.dry_run {
        if comm.is_root() {
            println!(
                "configuration is valid ({} members, {n_initial} initial training structures, \
                 {n_test} test structures)",
                config.ensemble.members
            );
        }
        return Ok(());
    }
    if c.resume {
        al.resume()?;
    }
    let mut last = None;
    while !al.finished() {
        let round = al.run_round(comm)?;
        if comm.is_root() {
            write_rounds(&c.out, al.history())?;
        }
        last = Some(round.ensemble);
    }
    // Resuming a finished loop reads the last ensemble back from its checkpoints.
    let ensemble = match last {
        Some(e) => e,
        None => al.train_ensemble(comm)?,
    };
    let result = if comm.is_root() {
        (|| {
            write_rounds(&c.out, al.history())?;
            save_members(&c.out, ensemble.members())?;
            write_member_metrics(&c.out, ensemble.histories())?;
            let tmp = c.out.join("dataset.extxyz.tmp");
            write_extxyz(&tmp, al.training_set(), &UnitConversion::IDENTITY)?;
            std::fs::rename(&tmp, c.out.join("dataset.extxyz"))
                .context("cannot write dataset.extxyz")?;
            let mut summary = serde_json::Map::new();
            summary.insert("members".into(), config.ensemble.members.into());
            summary.insert("rounds".into(), config.rounds.into());
            summary.insert("initial_training_structures".into(), n_initial.into());
            summary.insert(
                "final_training_structures".into(),
                al.training_set().len().into(),
            );
            summary.insert("test_structures".into(), n_test.into());
            let h = al.history();
            if let (Some(first), Some(last)) = (h.first(), h.last()) {
                summary.insert("first_round_test".into(), metrics_json(&first.test)?);
                summary.insert("final_test".into(), metrics_json(&last.test)?);
            }
            write_summary(&c.out, &summary)
        })()
    } else {
        Ok(())
    };
    comm.barrier();
    result
}
