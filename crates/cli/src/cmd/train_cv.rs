//! `thermograd train cv --config FILE.toml --out DIR`: a neural-network surrogate of a
//! collective variable, trained on reference values and Jacobians of the analytic CV
//! (Pathirage et al., arXiv:2510.01396) with [`thermograd_train::cv`].
//!
//! The `[cv]` table is the one `thermograd umbrella` and `metad` read. Configurations
//! come from an extended XYZ file with a periodic `Lattice` or are generated at random
//! ([`RandomConfigurationsConfig`]); paths are relative to the TOML file's directory.
//!
//! ```toml
//! [cv]                         # the CV to imitate, as in `thermograd umbrella`
//! kind = "distance"
//! atoms = [0, 1]
//!
//! [data]
//! source = "random"            # or "extxyz" with file = "frames.extxyz"
//! box = { orthorhombic = { lengths = [4.0, 4.0, 4.0] } }
//! n_atoms = 8
//! min_distance = 0.8           # length units; 0 for an ideal gas
//! count = 300
//! seed = 1
//! pair = { i = 0, j = 1, min = 0.9, max = 2.0 }   # optional: spread the CV's pair
//!
//! [surrogate]
//! hidden = [32, 32]            # default [64, 128, 64, 32]
//! activation = "tanh"          # default "silu"
//! features = "displacements"   # or { sorted_distances = { nearest = 4 } }
//! # atoms = [0, 1]             # default: the CV's atoms
//! seed = 0
//!
//! [training]                   # every key optional (thermograd_train::cv::CvTrainerConfig)
//! epochs = 60
//! batch_size = 32
//! learning_rate = 3e-3
//! final_learning_rate = 1e-4
//! schedule = "cosine"
//! value_weight = 1.0
//! jacobian_weight = 1.0
//! validation_fraction = 0.2    # > 0: the summary reports the held-out errors
//! seed = 0
//! ```
//!
//! Outputs in `--out`: `model.tgnn` (a `thermograd-nn` CV-surrogate model file),
//! `history.csv` (one row per epoch) and `summary.json` (value RMSE, absolute and as a
//! fraction of the sampled CV range, and the Jacobian-error statistics on the held-out
//! set).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::json;
use thermograd_cv::{CollectiveVariable, CvSpec};
use thermograd_geometry::SimBox;
use thermograd_nn::{Activation, CvFeatures, CvSample, CvSurrogateConfig, ModelFile};
use thermograd_train::cv::{
    evaluate_surrogate, label_configurations, CvTrainerConfig, LearningRateSchedule, PairPlacement,
    RandomConfigurationsConfig,
};
use thermograd_train::formats::read_extxyz;
use thermograd_train::UnitConversion;

use super::system::read_config;
use super::write_atomic;

/// Arguments of `thermograd train cv`.
#[derive(Debug, clap::Args)]
pub struct CvArgs {
    /// The TOML description (see `examples/configs/train_cv.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Read and check everything, label the data, and stop before training.
    #[arg(long)]
    dry_run: bool,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CvFile {
    cv: CvSpec,
    data: DataSource,
    #[serde(default)]
    surrogate: SurrogateSpec,
    #[serde(default)]
    training: TrainingSpec,
}

/// Where the configurations come from.
#[derive(Debug, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
enum DataSource {
    /// Frames of an extended XYZ file (each with a periodic `Lattice`).
    Extxyz { file: PathBuf },
    /// Random configurations in a periodic box.
    Random {
        #[serde(rename = "box")]
        simbox: Box<SimBox>,
        n_atoms: usize,
        min_distance: f64,
        count: usize,
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        pair: Option<PairPlacement>,
        #[serde(default)]
        max_attempts: Option<usize>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurrogateSpec {
    atoms: Option<Vec<usize>>,
    hidden: Option<Vec<usize>>,
    activation: Option<Activation>,
    #[serde(default)]
    features: CvFeatures,
    #[serde(default)]
    seed: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingSpec {
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    final_learning_rate: Option<f64>,
    schedule: Option<LearningRateSchedule>,
    value_weight: Option<f64>,
    jacobian_weight: Option<f64>,
    validation_fraction: Option<f64>,
    patience: Option<usize>,
    weight_decay: Option<f64>,
    seed: Option<u64>,
}

impl TrainingSpec {
    fn build(&self, progress: bool) -> CvTrainerConfig {
        let d = CvTrainerConfig::default();
        CvTrainerConfig {
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            learning_rate: self.learning_rate.unwrap_or(d.learning_rate),
            final_learning_rate: self.final_learning_rate.unwrap_or(d.final_learning_rate),
            schedule: self.schedule.unwrap_or(d.schedule),
            value_weight: self.value_weight.unwrap_or(d.value_weight),
            jacobian_weight: self.jacobian_weight.unwrap_or(d.jacobian_weight),
            validation_fraction: self.validation_fraction.unwrap_or(d.validation_fraction),
            patience: self.patience.or(d.patience),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            seed: self.seed.unwrap_or(d.seed),
            progress,
        }
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

impl DataSource {
    /// Labelled samples of `cv` over `atoms`.
    fn load(
        &self,
        config: &Path,
        cv: &dyn CollectiveVariable,
        atoms: &[usize],
    ) -> anyhow::Result<Vec<CvSample>> {
        let file = config.display();
        let check_atoms = |n: usize, what: &str| -> anyhow::Result<()> {
            if let Some(&a) = cv.atoms().iter().chain(atoms).find(|&&a| a >= n) {
                bail!("[cv]/[surrogate] use atom {a}, but {what} has {n} atoms (in {file})");
            }
            Ok(())
        };
        match self {
            DataSource::Extxyz { file: data } => {
                let path = resolve(config, data);
                let dataset = read_extxyz(&path, &UnitConversion::IDENTITY)
                    .with_context(|| format!("[data] in {file}"))?;
                if dataset.is_empty() {
                    bail!("[data] {} holds no frames (in {file})", path.display());
                }
                let mut samples = Vec::with_capacity(dataset.len());
                for (k, frame) in dataset.frames().into_iter().enumerate() {
                    if frame.simbox.cell().is_none() {
                        bail!(
                            "[data] frame {k} of {} has no periodic Lattice; CV surrogates need a periodic box (in {file})",
                            path.display()
                        );
                    }
                    check_atoms(
                        frame.positions.len(),
                        &format!("frame {k} of {}", path.display()),
                    )?;
                    samples.extend(
                        label_configurations(cv, atoms, &[frame.positions], &frame.simbox)
                            .with_context(|| {
                                format!("labelling frame {k} of {} (in {file})", path.display())
                            })?,
                    );
                }
                Ok(samples)
            }
            DataSource::Random {
                simbox,
                n_atoms,
                min_distance,
                count,
                seed,
                pair,
                max_attempts,
            } => {
                if *count < 2 {
                    bail!("[data] count must be at least 2, got {count} (in {file})");
                }
                check_atoms(*n_atoms, "[data]")?;
                let mut generator = RandomConfigurationsConfig::new(*n_atoms, *min_distance, *seed);
                generator.pair = *pair;
                if let Some(m) = max_attempts {
                    generator.max_attempts = *m;
                }
                let configurations = generator
                    .generate(simbox, *count)
                    .with_context(|| format!("[data] in {file}"))?;
                label_configurations(cv, atoms, &configurations, simbox)
                    .with_context(|| format!("[surrogate] atoms in {file}"))
            }
        }
    }
}

/// Runs `thermograd train cv`.
pub fn run(c: &CvArgs) -> anyhow::Result<()> {
    let spec: CvFile = read_config(&c.config)?;
    let file = c.config.display();
    let cv = spec.cv.build().with_context(|| format!("[cv] in {file}"))?;
    let atoms = spec
        .surrogate
        .atoms
        .clone()
        .unwrap_or_else(|| cv.atoms().to_vec());
    let periods: Vec<Option<f64>> = (0..cv.dim()).map(|k| cv.period(k)).collect();
    let surrogate_config = CvSurrogateConfig {
        hidden: spec
            .surrogate
            .hidden
            .clone()
            .unwrap_or_else(|| CvSurrogateConfig::new("", Vec::new(), 1).hidden),
        activation: spec.surrogate.activation.unwrap_or(Activation::Silu),
        periods: if periods.iter().any(Option::is_some) {
            periods
        } else {
            Vec::new()
        },
        features: spec.surrogate.features,
        ..CvSurrogateConfig::new(cv.name(), atoms.clone(), cv.dim())
    };
    let mut surrogate = surrogate_config
        .build(spec.surrogate.seed)
        .with_context(|| format!("[surrogate] in {file}"))?;
    let trainer_config = spec.training.build(!c.quiet);
    if trainer_config.validation_fraction <= 0.0 {
        bail!(
            "[training] validation_fraction must be positive: the summary reports errors on the held-out set (in {file})"
        );
    }
    let trainer = trainer_config
        .build()
        .with_context(|| format!("[training] in {file}"))?;
    let samples = spec.data.load(&c.config, cv.as_ref(), &atoms)?;
    if c.dry_run {
        println!(
            "configuration and data are valid ({} labelled configurations of `{}`)",
            samples.len(),
            cv.name()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&c.out)
        .with_context(|| format!("cannot create {}", c.out.display()))?;

    let report = trainer.train(&mut surrogate, &samples)?;
    let held_out: Vec<CvSample> = report
        .validation_indices
        .iter()
        .map(|&i| samples[i].clone())
        .collect();
    let eval = evaluate_surrogate(&surrogate, &held_out)?;
    let n = eval.parity.len() as f64;
    let mean = eval.parity.iter().map(|(r, _)| r).sum::<f64>() / n;
    let value_std = (eval
        .parity
        .iter()
        .map(|(r, _)| (r - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let jacobian = eval.jacobian_stats.as_ref().map(|s| {
        json!({
            "n": s.n,
            "mean": s.mean,
            "std": s.std,
            "rms": s.rms,
            "skewness": s.skewness,
            "excess_kurtosis": s.excess_kurtosis,
            "normality_p_value": s.normality.map(|t| t.p_value),
            "normality_skewness_z": s.normality.map(|t| t.skewness_z),
            "normality_kurtosis_z": s.normality.map(|t| t.kurtosis_z),
        })
    });
    let summary = json!({
        "cv": cv.name(),
        "atoms": atoms,
        "samples": samples.len(),
        "training_samples": report.train_indices.len(),
        "held_out_samples": report.validation_indices.len(),
        "epochs_run": report.history.epochs.len(),
        "best_epoch": report.best_epoch,
        "stopped_early": report.stopped_early,
        "held_out": {
            "value_rmse": eval.value_rmse,
            "value_mae": eval.value_mae,
            "value_max_error": eval.value_max_error,
            "value_range": eval.value_range,
            "relative_rmse": eval.relative_rmse,
            "value_std": value_std,
            "jacobian_rmse": eval.jacobian_rmse,
            "jacobian_reference_rms": eval.jacobian_reference_rms,
            "jacobian_errors": jacobian,
        },
    });
    let model = c.out.join("model.tgnn");
    surrogate
        .save(&model)
        .with_context(|| format!("cannot write {}", model.display()))?;
    write_atomic(&c.out.join("history.csv"), &report.history.to_csv())?;
    let text = serde_json::to_string_pretty(&summary)?;
    write_atomic(&c.out.join("summary.json"), &text)?;
    println!("{text}");
    Ok(())
}
