//! `thermograd train fm|rm|difftre --config FILE.toml --out DIR`: force matching,
//! relative-entropy minimisation and DiffTRe from a TOML description (chemtrain §3).
//! `thermograd train cv` trains a CV surrogate instead (see [`super::train_cv`]);
//! `thermograd train ensemble|active` trains deep ensembles and runs active learning
//! (see [`super::train_ensemble`]).
//!
//! Under `mpirun` (with the `mpi` feature), `fm`, `rm`, `difftre` and `cv` run on rank
//! 0 only: the other ranks wait at a barrier and exit 0 without writing anything, so a
//! config run unchanged under `mpirun` writes what one process writes. Only `ensemble`
//! and `active` spread their work (the members) over the ranks.
//!
//! Paths inside the file are relative to the file's directory. Every run writes into
//! `--out`: the trained model (`model.tgnn`, the `thermograd-nn` model-file format), a
//! pair table `potential.csv` for spline models, `metrics.csv` (one row per epoch or
//! update), `checkpoint.bin` (after every epoch or update; `--resume` continues from
//! it) and `summary.json`. DiffTRe also writes `predictions.csv` (final reweighted
//! averages against the targets) and both reweighting trainers `free_energy.csv`.
//!
//! `fm` reads `[data]` (an extxyz or npz file, optional unit conversion and
//! `[data.coarse_grain]` centre-of-mass mapping of consecutive atom blocks), an optional
//! `[prior]` whose forces are subtracted from the labels (Δ-learning), `[training]`
//! (epochs, batch size, loss weights) and reports held-out errors and the time per epoch
//! per 1,000 structures. `rm` reads `[data]` as the (mapped) reference and samples the
//! model with `[sampler]` plus `[prior]`; `difftre` reads `[system]`, `[sampler]`,
//! `[prior]` and `[[targets]]` (RDF, ADF, pressure, density, energy; curves from a file
//! or from a reference simulation).
//!
//! Sections shared by the three methods:
//!
//! ```toml
//! [model]                      # what is trained
//! kind = "spline"              # pair potential; or "behler_parrinello", "schnet"
//! r_min = 0.75                 # first knot (length units)
//! cutoff = 2.5                 # last knot, where u = 0
//! n_knots = 30
//! n_species = 1
//! # init = "start.tgnn"        # start from a saved model
//!
//! [optimizer]
//! learning_rate = 0.01
//! schedule = "cosine"          # "constant" (default), "cosine", "exponential"
//! final_learning_rate = 1e-4
//! clip_norm = 10.0             # optional
//! weight_decay = 0.0           # AdamW when > 0
//! ```
//!
//! Examples: `examples/configs/train_fm.toml`, `train_rm.toml`, `train_difftre.toml`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use serde::Deserialize;
use thermograd_geometry::LinearMap;
use thermograd_md::{
    fcc_lattice, AdfConfig, ForceField, Langevin, LennardJonesConfig, Potential, PotentialSum,
    RdfConfig, RunConfig, Simulation, SoftSphereConfig, State, ThermostatConfig, WcaConfig,
};
use thermograd_nn::{
    Activation, AdamConfig, AngularKind, BehlerParrinello, BehlerParrinelloConfig, ModelFile,
    SchNet, SchNetConfig, SymmetryFunctions,
};
use thermograd_train::formats::{read_extxyz, read_npz_dataset};
use thermograd_train::{
    AdfObservable, Dataset, DensityObservable, DiffTReConfig, EnergyModel, EnergyObservable,
    EssKind, FmWeights, ForceMatchingConfig, FreeEnergyStep, NpzKeys, Observable, OptimizerConfig,
    PressureObservable, RdfObservable, RelativeEntropyConfig, ReweightingConfig, SamplerConfig,
    Schedule, SplinePair, SplinePairConfig, SplitConfig, StateView, Target, UnitConversion,
    UnitSet,
};

use super::write_atomic;

/// Arguments of `thermograd train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    method: Method,
}

#[derive(Debug, clap::Subcommand)]
enum Method {
    /// Force matching on energies, forces and virials of reference structures.
    Fm(Common),
    /// Relative-entropy minimisation against (coarse-grained) reference structures.
    Rm(Common),
    /// DiffTRe: match ensemble averages (RDF, ADF, pressure, density, energy).
    Difftre(Common),
    /// A neural-network surrogate of a collective variable (values and Jacobians).
    Cv(super::train_cv::CvArgs),
    /// A deep ensemble of force-matched models (members spread over MPI ranks).
    Ensemble(Common),
    /// Active learning: ensemble, MD, label where the committee disagrees, retrain.
    Active(Common),
}

#[derive(Debug, clap::Args)]
pub(super) struct Common {
    /// The TOML description (see `examples/configs/train_*.toml`).
    #[arg(long)]
    pub(super) config: PathBuf,
    /// Output directory (created if missing).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Continue from the checkpoints in `OUT` (`checkpoint.bin`; `checkpoints/` for
    /// `ensemble` and `active`).
    #[arg(long)]
    pub(super) resume: bool,
    /// Read and check everything, build the trainer, and stop before training.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub(super) quiet: bool,
}

/// Runs the subcommand. Under `mpirun`, `ensemble` and `active` spread their members
/// over the ranks; the other methods run on rank 0 alone while the other ranks wait at
/// a barrier and exit without writing anything.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let comm = thermograd_dist::world()?;
    let comm = comm.as_ref();
    let single = |f: &dyn Fn() -> anyhow::Result<()>| {
        let result = if comm.is_root() { f() } else { Ok(()) };
        // Rank 0 reaches the barrier whether or not it failed, so nobody waits forever.
        comm.barrier();
        result
    };
    match &args.method {
        Method::Fm(c) => single(&|| run_fm(c)),
        Method::Rm(c) => single(&|| run_rm(c)),
        Method::Difftre(c) => single(&|| run_difftre(c)),
        Method::Cv(c) => single(&|| super::train_cv::run(c)),
        Method::Ensemble(c) => super::train_ensemble::run_ensemble(c, comm),
        Method::Active(c) => super::train_ensemble::run_active(c, comm),
    }
}

// ---------------------------------------------------------------------------------------
// Shared sections

pub(super) fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in {}", path.display()))
}

pub(super) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ModelSpec {
    /// A natural-spline pair potential with uniformly spaced (or given) knots.
    Spline {
        r_min: Option<f64>,
        cutoff: Option<f64>,
        n_knots: Option<usize>,
        knots: Option<Vec<f64>>,
        #[serde(default = "one")]
        n_species: usize,
        init: Option<PathBuf>,
    },
    /// A Behler–Parrinello network with the standard symmetry functions.
    BehlerParrinello {
        cutoff: f64,
        #[serde(default = "one")]
        n_species: usize,
        n_radial: usize,
        #[serde(default = "g4")]
        angular: AngularKind,
        hidden: Vec<usize>,
        #[serde(default = "silu")]
        activation: Activation,
        #[serde(default)]
        seed: u64,
        init: Option<PathBuf>,
    },
    /// A SchNet message-passing network (defaults: `SchNetConfig::standard`).
    Schnet {
        cutoff: f64,
        #[serde(default = "one")]
        n_species: usize,
        features: Option<usize>,
        n_rbf: Option<usize>,
        interactions: Option<usize>,
        readout_hidden: Option<Vec<usize>>,
        activation: Option<Activation>,
        #[serde(default)]
        seed: u64,
        init: Option<PathBuf>,
    },
}

fn one() -> usize {
    1
}
fn g4() -> AngularKind {
    AngularKind::G4
}
fn silu() -> Activation {
    Activation::Silu
}

/// The model being trained.
pub(super) enum Model {
    Spline(SplinePair),
    Bp(BehlerParrinello),
    SchNet(SchNet),
}

impl ModelSpec {
    fn build(&self, base: &Path) -> anyhow::Result<Model> {
        self.build_seeded(base, None)
    }

    /// The model, with `seed` (when given) in place of the file's initialisation seed.
    pub(super) fn build_seeded(
        &self,
        base: &Path,
        member_seed: Option<u64>,
    ) -> anyhow::Result<Model> {
        let ctx = || format!("[model] in {}", base.display());
        Ok(match self {
            ModelSpec::Spline {
                r_min,
                cutoff,
                n_knots,
                knots,
                n_species,
                init,
            } => {
                if let Some(p) = init {
                    let p = resolve(base, p);
                    return Ok(Model::Spline(
                        SplinePair::load(&p).with_context(|| format!("loading {}", p.display()))?,
                    ));
                }
                let knots = match (knots, r_min, cutoff, n_knots) {
                    (Some(k), None, None, None) => k.clone(),
                    (None, Some(a), Some(b), Some(n)) => {
                        SplinePairConfig::uniform(*a, *b, *n).knots
                    }
                    _ => bail!(
                        "{}: give either `knots` or all of `r_min`, `cutoff`, `n_knots`",
                        ctx()
                    ),
                };
                let config = SplinePairConfig {
                    knots,
                    n_species: *n_species,
                };
                Model::Spline(config.build().with_context(ctx)?)
            }
            ModelSpec::BehlerParrinello {
                cutoff,
                n_species,
                n_radial,
                angular,
                hidden,
                activation,
                seed,
                init,
            } => {
                let config = BehlerParrinelloConfig {
                    descriptors: SymmetryFunctions::standard(
                        *cutoff, *n_species, *n_radial, *angular,
                    ),
                    hidden: hidden.clone(),
                    activation: *activation,
                };
                if let Some(p) = init {
                    let p = resolve(base, p);
                    return Ok(Model::Bp(
                        BehlerParrinello::load_expecting(&p, &config)
                            .with_context(|| format!("loading {}", p.display()))?,
                    ));
                }
                Model::Bp(
                    config
                        .build(member_seed.unwrap_or(*seed))
                        .with_context(ctx)?,
                )
            }
            ModelSpec::Schnet {
                cutoff,
                n_species,
                features,
                n_rbf,
                interactions,
                readout_hidden,
                activation,
                seed,
                init,
            } => {
                let d = SchNetConfig::standard(*n_species, *cutoff);
                let config = SchNetConfig {
                    features: features.unwrap_or(d.features),
                    n_rbf: n_rbf.unwrap_or(d.n_rbf),
                    interactions: interactions.unwrap_or(d.interactions),
                    readout_hidden: readout_hidden.clone().unwrap_or(d.readout_hidden),
                    activation: activation.unwrap_or(d.activation),
                    ..d
                };
                if let Some(p) = init {
                    let p = resolve(base, p);
                    return Ok(Model::SchNet(
                        SchNet::load_expecting(&p, &config)
                            .with_context(|| format!("loading {}", p.display()))?,
                    ));
                }
                Model::SchNet(
                    config
                        .build(member_seed.unwrap_or(*seed))
                        .with_context(ctx)?,
                )
            }
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ScheduleName {
    #[default]
    Constant,
    Cosine,
    Exponential,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OptimizerSpec {
    learning_rate: f64,
    #[serde(default)]
    schedule: ScheduleName,
    final_learning_rate: Option<f64>,
    clip_norm: Option<f64>,
    #[serde(default)]
    weight_decay: f64,
}

impl OptimizerSpec {
    pub(super) fn build(&self) -> anyhow::Result<OptimizerConfig> {
        let final_rate = || {
            self.final_learning_rate
                .context("[optimizer] this schedule needs `final_learning_rate`")
        };
        let schedule = match self.schedule {
            ScheduleName::Constant => Schedule::Constant,
            ScheduleName::Cosine => Schedule::Cosine {
                final_learning_rate: final_rate()?,
            },
            ScheduleName::Exponential => Schedule::Exponential {
                final_learning_rate: final_rate()?,
            },
        };
        Ok(OptimizerConfig {
            adam: AdamConfig {
                learning_rate: self.learning_rate,
                weight_decay: self.weight_decay,
                ..Default::default()
            },
            schedule,
            clip_norm: self.clip_norm,
        })
    }
}

/// `[data]`: reference structures from an extxyz or npz file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DataSpec {
    file: PathBuf,
    /// Units of the file (default: those of the run).
    file_units: Option<UnitSet>,
    /// Units of the run (default nm, kJ/mol; only the ratio to `file_units` matters).
    units: Option<UnitSet>,
    /// Array names in an npz file.
    #[serde(default)]
    keys: NpzKeys,
    /// Map consecutive blocks of atoms to their centres of mass first.
    coarse_grain: Option<CoarseGrainSpec>,
    #[serde(default)]
    validation_fraction: f64,
    #[serde(default)]
    test_fraction: f64,
    #[serde(default)]
    split_seed: u64,
}

/// `[data.coarse_grain]`: atoms `k·block … k·block + block − 1` form bead `k`, at their
/// centre of mass with the total force.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoarseGrainSpec {
    block: usize,
    /// Masses of the atoms of one block (mass units).
    masses: Vec<f64>,
    /// Species of the beads (default all 0).
    bead_species: Option<Vec<u32>>,
}

impl DataSpec {
    pub(super) fn load(&self, base: &Path) -> anyhow::Result<Dataset> {
        let path = resolve(base, &self.file);
        let internal = self.units.unwrap_or(UnitSet::GROMACS);
        let units = match self.file_units {
            Some(f) => UnitConversion::between(f, internal),
            None => UnitConversion::IDENTITY,
        };
        let is_npz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
        let mut data = if is_npz {
            read_npz_dataset(&path, &self.keys, &units)?
        } else {
            read_extxyz(&path, &units)?
        };
        if let Some(cg) = &self.coarse_grain {
            let n = data
                .structures()
                .first()
                .context("the data file holds no structures")?
                .n_atoms();
            if cg.block == 0 || n % cg.block != 0 || cg.masses.len() != cg.block {
                bail!(
                    "[data.coarse_grain]: {n} atoms do not split into blocks of {} with {} masses",
                    cg.block,
                    cg.masses.len()
                );
            }
            let beads = n / cg.block;
            let groups: Vec<Vec<usize>> = (0..beads)
                .map(|b| (b * cg.block..(b + 1) * cg.block).collect())
                .collect();
            let masses: Vec<f64> = (0..n).map(|i| cg.masses[i % cg.block]).collect();
            let map = LinearMap::center_of_mass(n, &groups, &masses)?;
            let species = cg.bead_species.clone().unwrap_or_else(|| vec![0; beads]);
            data = data.coarse_grain(&map, &species, Default::default())?;
        }
        if data.is_empty() {
            bail!("{}: no structures", path.display());
        }
        Ok(data)
    }

    fn split(&self, data: &Dataset) -> anyhow::Result<thermograd_train::Split> {
        Ok(data.split(&SplitConfig {
            validation: self.validation_fraction,
            test: self.test_fraction,
            seed: self.split_seed,
        })?)
    }
}

/// `[prior]`: fixed terms added to the model in every simulation (Δ-learning).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriorSpec {
    soft_sphere: Option<SoftSphereConfig>,
    wca: Option<WcaConfig>,
    lennard_jones: Option<LennardJonesConfig>,
}

impl PriorSpec {
    pub(super) fn build(&self) -> anyhow::Result<PotentialSum> {
        let mut sum = PotentialSum::new();
        if let Some(c) = &self.soft_sphere {
            sum.push(Box::new(c.build().context("[prior.soft_sphere]")?));
        }
        if let Some(c) = &self.wca {
            sum.push(Box::new(c.build().context("[prior.wca]")?));
        }
        if let Some(c) = &self.lennard_jones {
            sum.push(Box::new(c.build().context("[prior.lennard_jones]")?));
        }
        Ok(sum)
    }

    fn shared(&self) -> anyhow::Result<Option<Arc<dyn Potential>>> {
        let sum = self.build()?;
        Ok((!sum.terms().is_empty()).then(|| Arc::new(sum) as Arc<dyn Potential>))
    }
}

/// `[system]`: where the simulations start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemSpec {
    /// An fcc lattice of `4 cells³` atoms at a number density.
    lattice: Option<LatticeSpec>,
    /// The first structure of an extxyz file (relative to the config file).
    file: Option<PathBuf>,
    #[serde(default = "unit_mass")]
    mass: f64,
    #[serde(default)]
    velocity_seed: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LatticeSpec {
    /// Unit cells per side (4 atoms each).
    pub(super) cells: usize,
    /// Number density (1/volume).
    pub(super) density: f64,
}

fn unit_mass() -> f64 {
    1.0
}

impl SystemSpec {
    fn state(&self, base: &Path, kt: f64, first: Option<&Dataset>) -> anyhow::Result<State> {
        let (positions, species, simbox) = match (&self.lattice, &self.file, first) {
            (Some(l), None, _) => {
                let (p, b) = fcc_lattice(l.cells, l.density)?;
                let n = p.len();
                (p, vec![0; n], b)
            }
            (None, Some(f), _) => {
                let d = read_extxyz(resolve(base, f), &UnitConversion::IDENTITY)?;
                let s = d
                    .structures()
                    .first()
                    .context("[system] file has no frames")?;
                (s.positions.clone(), s.species.clone(), s.simbox.clone())
            }
            (None, None, Some(d)) => {
                let s = &d.structures()[0];
                (s.positions.clone(), s.species.clone(), s.simbox.clone())
            }
            _ => bail!("[system]: give one of `lattice` or `file`"),
        };
        let n = positions.len();
        let mut state = State::new(positions, vec![self.mass; n], species, simbox)?;
        state.thermalize(kt, self.velocity_seed)?;
        Ok(state)
    }
}

fn ess_threshold() -> f64 {
    0.9
}

fn save_model(model: &Model, out: &Path) -> anyhow::Result<()> {
    save_model_as(model, &out.join("model.tgnn"), &out.join("potential.csv"))
}

/// Saves `model` to `path` and, for a spline, its pair table to `table`.
pub(super) fn save_model_as(model: &Model, path: &Path, table: &Path) -> anyhow::Result<()> {
    match model {
        Model::Spline(m) => {
            m.save(path)?;
            let mut text = String::from("species_a,species_b,r,u,du_dr\n");
            let n = m.config().n_species as u32;
            let (r0, rc) = (m.config().knots[0], m.cutoff());
            for a in 0..n {
                for b in a..n {
                    for k in 0..=400 {
                        let r = r0 + (rc - r0) * k as f64 / 400.0;
                        let (u, du) = m.pair_energy(a, b, r).unwrap_or((f64::NAN, f64::NAN));
                        let _ = writeln!(text, "{a},{b},{r},{u},{du}");
                    }
                }
            }
            write_atomic(table, &text)?;
        }
        Model::Bp(m) => m.save(path)?,
        Model::SchNet(m) => m.save(path)?,
    }
    Ok(())
}

/// After training: saves the model and writes `summary.json`, also printed; with
/// `--dry-run`, prints only `valid` (what was checked).
fn finish(
    c: &Common,
    model: &Model,
    summary: &serde_json::Map<String, serde_json::Value>,
    valid: &str,
) -> anyhow::Result<()> {
    if c.dry_run {
        println!("{valid}");
        return Ok(());
    }
    save_model(model, &c.out)?;
    let text = serde_json::to_string_pretty(summary)?;
    write_atomic(&c.out.join("summary.json"), &text)?;
    println!("{text}");
    Ok(())
}

fn prepare_out(c: &Common) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&c.out)
        .with_context(|| format!("cannot create {}", c.out.display()))?;
    let ckpt = c.out.join("checkpoint.bin");
    if c.resume && !ckpt.exists() {
        bail!("--resume: {} does not exist", ckpt.display());
    }
    Ok(ckpt)
}

/// Runs `f` with the concrete model type.
macro_rules! with_model {
    ($model:expr, |$m:ident| $body:expr) => {
        match $model {
            Model::Spline($m) => {
                let $m = $body?;
                Model::Spline($m)
            }
            Model::Bp($m) => {
                let $m = $body?;
                Model::Bp($m)
            }
            Model::SchNet($m) => {
                let $m = $body?;
                Model::SchNet($m)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Force matching

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FmFile {
    data: DataSpec,
    /// Fixed terms subtracted from the labels: the model learns the correction
    /// (Δ-learning); simulate the prior plus the saved model.
    #[serde(default)]
    prior: PriorSpec,
    model: ModelSpec,
    training: FmTraining,
    optimizer: OptimizerSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FmTraining {
    epochs: usize,
    batch_size: usize,
    #[serde(default)]
    weights: Option<FmWeights>,
    #[serde(default)]
    seed: u64,
    patience: Option<usize>,
    /// Fit the network normalization to the training data first (Behler–Parrinello:
    /// descriptor mean and spread; SchNet: reference energies and energy scale, when
    /// the data have energies; default true).
    normalize_inputs: Option<bool>,
}

impl FmTraining {
    /// The force-matching settings, without checkpoint, metrics file or progress bar.
    pub(super) fn config(&self, optimizer: &OptimizerSpec) -> anyhow::Result<ForceMatchingConfig> {
        Ok(ForceMatchingConfig {
            weights: self.weights.unwrap_or_default(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: optimizer.build()?,
            seed: self.seed,
            patience: self.patience,
            restore_best: true,
            checkpoint: None,
            metrics: None,
            progress: false,
        })
    }

    /// Fits a Behler–Parrinello model's input normalization, or a SchNet model's
    /// reference energies and energy scale, to `train` unless the file turned it off.
    pub(super) fn normalize(&self, model: &mut Model, train: &Dataset) -> anyhow::Result<()> {
        if !self.normalize_inputs.unwrap_or(true) {
            return Ok(());
        }
        match model {
            Model::Bp(m) => m.fit_input_normalization(&train.frames())?,
            Model::SchNet(m) if train.structures().iter().all(|s| s.energy.is_some()) => {
                m.fit_energy_normalization(&train.labeled_frames()?)?
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads `[data]`, subtracts the `[prior]` forces (Δ-learning) and splits.
pub(super) fn load_split(
    data: &DataSpec,
    prior: &PriorSpec,
    base: &Path,
) -> anyhow::Result<thermograd_train::Split> {
    let mut loaded = data.load(base)?;
    let prior = prior.build()?;
    if !prior.terms().is_empty() {
        loaded = loaded.subtract_potential(&prior)?;
    }
    data.split(&loaded)
}

fn run_fm(c: &Common) -> anyhow::Result<()> {
    let file: FmFile = read_config(&c.config)?;
    let ckpt = prepare_out(c)?;
    let split = load_split(&file.data, &file.prior, &c.config)?;
    let config = ForceMatchingConfig {
        checkpoint: Some(ckpt.clone()),
        metrics: Some(c.out.join("metrics.csv")),
        progress: !c.quiet,
        ..file.training.config(&file.optimizer)?
    };
    let mut model = file.model.build(&c.config)?;
    file.training.normalize(&mut model, &split.train)?;
    let n_train = split.train.len();
    let test = split.test.clone();
    let mut summary = serde_json::Map::new();
    let model = with_model!(model, |m| fm_generic(
        m,
        &config,
        split,
        &test,
        c,
        &ckpt,
        &mut summary
    ));
    summary.insert("training_structures".into(), n_train.into());
    finish(
        c,
        &model,
        &summary,
        &format!("configuration and data are valid ({n_train} training structures)"),
    )
}

fn fm_generic<M: EnergyModel>(
    model: M,
    config: &ForceMatchingConfig,
    split: thermograd_train::Split,
    test: &Dataset,
    c: &Common,
    ckpt: &Path,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<M> {
    let n_train = split.train.len();
    let mut trainer = config.build(model, split.train, split.validation)?;
    if c.dry_run {
        return Ok(trainer.into_model());
    }
    if c.resume {
        trainer.resume(ckpt)?;
    }
    trainer.train()?;
    let h = trainer.history();
    let mut secs: Vec<f64> = h.iter().map(|e| e.seconds).collect();
    secs.sort_by(f64::total_cmp);
    if let Some(median) = secs.get(secs.len() / 2) {
        summary.insert("epochs".into(), h.len().into());
        summary.insert("median_epoch_seconds".into(), (*median).into());
        summary.insert(
            "seconds_per_epoch_per_1000_structures".into(),
            (median * 1000.0 / n_train as f64).into(),
        );
    }
    if let Some(last) = h.last() {
        summary.insert("final".into(), serde_json::to_value(last)?);
    }
    if !test.is_empty() {
        let t = trainer.evaluate(test)?;
        summary.insert("test_loss".into(), t.loss.into());
        summary.insert(
            "test_energy_rmse".into(),
            serde_json::to_value(t.energy_rmse)?,
        );
        summary.insert(
            "test_force_rmse".into(),
            serde_json::to_value(t.force_rmse)?,
        );
        summary.insert(
            "test_virial_rmse".into(),
            serde_json::to_value(t.virial_rmse)?,
        );
        if let Some(s) = test.force_std() {
            summary.insert("test_force_std".into(), s.into());
        }
    }
    Ok(trainer.into_model())
}

// ---------------------------------------------------------------------------------------
// Relative entropy

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RmFile {
    data: DataSpec,
    #[serde(default)]
    system: Option<SystemSpec>,
    sampler: SamplerConfig,
    #[serde(default)]
    prior: PriorSpec,
    model: ModelSpec,
    training: RmTraining,
    optimizer: OptimizerSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RmTraining {
    updates: usize,
    reference_batch: Option<usize>,
    #[serde(default = "ess_threshold")]
    ess_threshold: f64,
    #[serde(default)]
    ess: EssKind,
    #[serde(default)]
    seed: u64,
}

fn run_rm(c: &Common) -> anyhow::Result<()> {
    let file: RmFile = read_config(&c.config)?;
    let ckpt = prepare_out(c)?;
    let data = file.data.load(&c.config)?;
    let system = file.system.unwrap_or(SystemSpec {
        lattice: None,
        file: None,
        mass: 1.0,
        velocity_seed: 0,
    });
    let start = system.state(&c.config, file.sampler.kt, Some(&data))?;
    let config = RelativeEntropyConfig {
        sampler: file.sampler,
        updates: file.training.updates,
        optimizer: file.optimizer.build()?,
        reweighting: ReweightingConfig {
            ess_threshold: file.training.ess_threshold,
            ess: file.training.ess,
        },
        reference_batch: file.training.reference_batch,
        seed: file.training.seed,
        checkpoint: Some(ckpt.clone()),
        metrics: Some(c.out.join("metrics.csv")),
        progress: !c.quiet,
    };
    let prior = file.prior.shared()?;
    let model = file.model.build(&c.config)?;
    let n_ref = data.len();
    let mut summary = serde_json::Map::new();
    let model = with_model!(model, |m| {
        let run = || -> anyhow::Result<_> {
            let mut trainer = config.build(m, data.clone(), start.clone(), prior.clone())?;
            if c.dry_run {
                return Ok(trainer.into_model());
            }
            if c.resume {
                trainer.resume(&ckpt)?;
            }
            trainer.train()?;
            write_free_energy(&c.out, trainer.free_energy_steps())?;
            summary.insert("updates".into(), trainer.history().len().into());
            if let Some(last) = trainer.history().last() {
                summary.insert("final".into(), serde_json::to_value(last)?);
            }
            Ok(trainer.into_model())
        };
        run()
    });
    finish(
        c,
        &model,
        &summary,
        &format!("configuration and data are valid ({n_ref} reference structures)"),
    )
}

/// `free_energy.csv`: the free-energy change between successive reference sets.
fn write_free_energy(out: &Path, steps: &[FreeEnergyStep]) -> anyhow::Result<()> {
    let mut text = String::from("update,delta_f,std_err,total\n");
    for s in steps {
        let _ = writeln!(text, "{},{},{},{}", s.update, s.delta_f, s.std_err, s.total);
    }
    write_atomic(&out.join("free_energy.csv"), &text)
}

// ---------------------------------------------------------------------------------------
// DiffTRe

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffTReFile {
    system: SystemSpec,
    sampler: SamplerConfig,
    #[serde(default)]
    prior: PriorSpec,
    model: ModelSpec,
    targets: Vec<TargetSpec>,
    training: DiffTReTraining,
    optimizer: OptimizerSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffTReTraining {
    updates: usize,
    #[serde(default = "ess_threshold")]
    ess_threshold: f64,
    #[serde(default)]
    ess: EssKind,
}

fn unit_weight() -> f64 {
    1.0
}

/// `[[targets]]`: one ensemble average to match.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum TargetSpec {
    /// `g_ab(r)` on `n_bins` bins in `[0, r_max)`: from a two-column file (`r g`), or
    /// simulated with a reference potential from the same start and sampler.
    Rdf {
        r_max: f64,
        n_bins: usize,
        #[serde(default)]
        a: u32,
        #[serde(default)]
        b: u32,
        #[serde(default = "unit_weight")]
        weight: f64,
        file: Option<PathBuf>,
        reference: Option<ReferenceSpec>,
    },
    /// The angle distribution within `cutoff`, from a two-column file (`θ density`) or
    /// a reference simulation.
    Adf {
        cutoff: f64,
        n_bins: usize,
        #[serde(default = "unit_weight")]
        weight: f64,
        file: Option<PathBuf>,
        reference: Option<ReferenceSpec>,
    },
    /// Pressure (energy/volume).
    Pressure {
        value: f64,
        #[serde(default = "unit_weight")]
        weight: f64,
    },
    /// Number density (1/volume), with pressure coupling in the sampler.
    Density {
        value: f64,
        #[serde(default = "unit_weight")]
        weight: f64,
    },
    /// Potential energy per particle.
    Energy {
        value: f64,
        #[serde(default = "unit_weight")]
        weight: f64,
    },
}

/// A reference simulation that defines a target: `potential` sampled with the run's
/// sampler settings for `frames` snapshots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceSpec {
    potential: PriorSpec,
    frames: usize,
}

fn read_curve(path: &Path, n: usize) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with(|c: char| c.is_alphabetic()) {
            continue;
        }
        let fields: Vec<&str> = line
            .split([',', ' ', '\t'])
            .filter(|s| !s.is_empty())
            .collect();
        let v = fields
            .get(1)
            .and_then(|s| s.parse::<f64>().ok())
            .with_context(|| {
                format!("{}:{}: expected two numeric columns", path.display(), k + 1)
            })?;
        out.push(v);
    }
    if out.len() != n {
        bail!(
            "{}: {} values, the target has {n} bins",
            path.display(),
            out.len()
        );
    }
    Ok(out)
}

/// Averages `observable` over a reference simulation.
fn simulate_target(
    observable: &dyn Observable,
    reference: &ReferenceSpec,
    sampler: &SamplerConfig,
    start: &State,
) -> anyhow::Result<Vec<f64>> {
    let ff = ForceField::new(reference.potential.build()?, sampler.skin)?;
    let integrator = Langevin::new(ThermostatConfig {
        dt: sampler.dt,
        kt: sampler.kt,
        tau: sampler.friction_time,
        seed: sampler.seed ^ 0x5EED,
    })?;
    let mut sim = Simulation::new(start.clone(), ff, Box::new(integrator))?;
    let mut sum = vec![0.0; observable.dim()];
    let mut count = 0usize;
    let mut failure = None;
    let run = RunConfig {
        equilibration_steps: sampler.equilibration_steps,
        production_steps: sampler.stride * reference.frames as u64,
        stride: sampler.stride,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        let frame = thermograd_nn::Frame {
            positions: s.positions.clone(),
            species: s.species.clone(),
            simbox: s.simbox.clone(),
        };
        let e = sim.evaluation();
        match observable.value(&StateView {
            frame: &frame,
            kt: sampler.kt,
            energy: e.energy,
            virial: e.virial,
        }) {
            Ok(v) => {
                for (a, b) in sum.iter_mut().zip(v) {
                    *a += b;
                }
                count += 1;
            }
            Err(e) => failure = Some(e),
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(sum.into_iter().map(|s| s / count.max(1) as f64).collect())
}

impl TargetSpec {
    fn build(
        &self,
        base: &Path,
        sampler: &SamplerConfig,
        start: &State,
        dry_run: bool,
    ) -> anyhow::Result<Target> {
        let from = |obs: Box<dyn Observable>,
                    file: &Option<PathBuf>,
                    reference: &Option<ReferenceSpec>,
                    weight: f64|
         -> anyhow::Result<Target> {
            let target = match (file, reference) {
                (Some(f), None) => read_curve(&resolve(base, f), obs.dim())?,
                // A dry run checks the specification without the reference simulation.
                (None, Some(_)) if dry_run => vec![0.0; obs.dim()],
                (None, Some(r)) => simulate_target(obs.as_ref(), r, sampler, start)?,
                _ => bail!(
                    "[[targets]] `{}`: give exactly one of `file` or `reference`",
                    obs.name()
                ),
            };
            Ok(Target {
                observable: obs,
                target,
                weight,
            })
        };
        let scalar = |obs: Box<dyn Observable>, value: f64, weight: f64| Target {
            observable: obs,
            target: vec![value],
            weight,
        };
        Ok(match self {
            TargetSpec::Rdf {
                r_max,
                n_bins,
                a,
                b,
                weight,
                file,
                reference,
            } => {
                let n_species = start.species.iter().max().map_or(1, |&m| m as usize + 1);
                from(
                    Box::new(RdfObservable {
                        config: RdfConfig {
                            r_max: *r_max,
                            n_bins: *n_bins,
                            n_species,
                        },
                        a: *a,
                        b: *b,
                    }),
                    file,
                    reference,
                    *weight,
                )?
            }
            TargetSpec::Adf {
                cutoff,
                n_bins,
                weight,
                file,
                reference,
            } => from(
                Box::new(AdfObservable {
                    config: AdfConfig {
                        cutoff: *cutoff,
                        n_bins: *n_bins,
                        center_species: None,
                        neighbor_species: None,
                    },
                }),
                file,
                reference,
                *weight,
            )?,
            TargetSpec::Pressure { value, weight } => {
                scalar(Box::new(PressureObservable), *value, *weight)
            }
            TargetSpec::Density { value, weight } => {
                scalar(Box::new(DensityObservable), *value, *weight)
            }
            TargetSpec::Energy { value, weight } => {
                scalar(Box::new(EnergyObservable), *value, *weight)
            }
        })
    }
}

fn run_difftre(c: &Common) -> anyhow::Result<()> {
    let file: DiffTReFile = read_config(&c.config)?;
    let ckpt = prepare_out(c)?;
    let start = file.system.state(&c.config, file.sampler.kt, None)?;
    let t0 = Instant::now();
    let targets = file
        .targets
        .iter()
        .map(|t| t.build(&c.config, &file.sampler, &start, c.dry_run))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let target_seconds = t0.elapsed().as_secs_f64();
    let config = DiffTReConfig {
        sampler: file.sampler,
        updates: file.training.updates,
        optimizer: file.optimizer.build()?,
        reweighting: ReweightingConfig {
            ess_threshold: file.training.ess_threshold,
            ess: file.training.ess,
        },
        checkpoint: Some(ckpt.clone()),
        metrics: Some(c.out.join("metrics.csv")),
        progress: !c.quiet,
    };
    let prior = file.prior.shared()?;
    let model = file.model.build(&c.config)?;
    let mut summary = serde_json::Map::new();
    summary.insert("target_seconds".into(), target_seconds.into());
    let mut targets = Some(targets);
    let model = with_model!(model, |m| {
        let run = || -> anyhow::Result<_> {
            let mut trainer = config.build(
                m,
                start.clone(),
                prior.clone(),
                targets.take().expect("used once"),
            )?;
            if c.dry_run {
                return Ok(trainer.into_model());
            }
            if c.resume {
                trainer.resume(&ckpt)?;
            }
            trainer.train()?;
            let final_loss = trainer.loss()?;
            let mut text = String::from("target,component,prediction,target_value\n");
            for (k, (t, p)) in trainer
                .targets()
                .iter()
                .zip(&final_loss.predictions)
                .enumerate()
            {
                for (j, (x, y)) in p.iter().zip(&t.target).enumerate() {
                    let _ = writeln!(text, "{k}:{},{j},{x},{y}", t.observable.name());
                }
            }
            write_atomic(&c.out.join("predictions.csv"), &text)?;
            write_free_energy(&c.out, trainer.free_energy_steps())?;
            let h = trainer.history();
            let mut secs: Vec<f64> = h.iter().map(|u| u.seconds).collect();
            secs.sort_by(f64::total_cmp);
            summary.insert("updates".into(), h.len().into());
            if let Some(m) = secs.get(secs.len() / 2) {
                summary.insert("median_update_seconds".into(), (*m).into());
            }
            if let (Some(first), Some(last)) = (h.first(), h.last()) {
                summary.insert("first_loss".into(), first.loss.into());
                summary.insert("last_loss".into(), last.loss.into());
                summary.insert("simulations".into(), last.simulations.into());
            }
            summary.insert("final_loss".into(), final_loss.loss.into());
            summary.insert("free_energy".into(), final_loss.free_energy.into());
            Ok(trainer.into_model())
        };
        run()
    });
    finish(c, &model, &summary, "configuration is valid")
}
