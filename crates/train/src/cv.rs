//! Training and evaluation of neural-network CV surrogates (Pathirage et al., "Neural
//! network surrogates for free energy computation of complex chemical systems",
//! arXiv:2510.01396).
//!
//! - [`CvTrainerConfig`] → [`CvTrainer`]: Adam on a weighted value + Jacobian loss
//!   ([`CvSurrogate::loss_and_gradient`]), seeded train/validation split and shuffling,
//!   a cosine or exponential learning-rate schedule, early stopping on the validation
//!   loss (the best parameters are kept), and a per-epoch [`TrainingHistory`].
//! - [`evaluate_surrogate`]: the numbers the paper reports on held-out data — value
//!   RMSE (absolute and as a fraction of the sampled CV range) and the distribution of
//!   Jacobian errors against the analytic Jacobians ([`ErrorStatistics`]: mean, standard
//!   deviation, skewness, excess kurtosis and the D'Agostino–Pearson K² normality test).
//! - [`label_configurations`]: reference values and Jacobians of configurations from an
//!   analytic [`CollectiveVariable`], in the layout a surrogate trains on.
//! - [`RandomConfigurationsConfig`]: randomised configurations (uniform in the cell
//!   with a minimum separation, optionally with one pair spread uniformly over a
//!   distance range), the paper's alternative to simulation data.
//!
//! Training a surrogate of a distance on randomised configurations:
//!
//! ```
//! use thermograd_cv::Distance;
//! use thermograd_geometry::SimBox;
//! use thermograd_nn::{Activation, CvSurrogateConfig};
//! use thermograd_train::cv::*;
//!
//! let simbox = SimBox::cubic(4.0)?;
//! let configs = RandomConfigurationsConfig {
//!     pair: Some(PairPlacement { i: 0, j: 1, min: 0.8, max: 1.8 }),
//!     ..RandomConfigurationsConfig::new(2, 0.0, 3)
//! }
//! .generate(&simbox, 64)?;
//! let samples = label_configurations(&Distance::new(0, 1)?, &[0, 1], &configs, &simbox)?;
//! let mut surrogate = CvSurrogateConfig {
//!     hidden: vec![16, 16],
//!     activation: Activation::Tanh,
//!     ..CvSurrogateConfig::new("distance", vec![0, 1], 1)
//! }
//! .build(1)?;
//! let trainer = CvTrainerConfig { epochs: 40, batch_size: 16, ..CvTrainerConfig::default() }.build()?;
//! let report = trainer.train(&mut surrogate, &samples)?;
//! let first = &report.history.epochs[0];
//! let last = report.history.epochs.last().unwrap();
//! assert!(last.train_loss < first.train_loss);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_cv::{CollectiveVariable, CvValue};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_nn::{Adam, AdamConfig, CvSample, CvSurrogate, Trainable};

use crate::error::{config_error, Result, TrainError};

/// How the learning rate moves from [`CvTrainerConfig::learning_rate`] to
/// [`CvTrainerConfig::final_learning_rate`] over the epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningRateSchedule {
    /// The initial rate throughout (the final rate is ignored).
    Constant,
    /// Half a cosine: `η_f + (η_0 − η_f)(1 + cos(π e/(E − 1)))/2` at epoch `e` of `E`
    /// (Loshchilov & Hutter 2017, without restarts).
    #[default]
    Cosine,
    /// Geometric decay: `η_0 (η_f/η_0)^{e/(E − 1)}`.
    Exponential,
}

/// Settings of [`CvTrainer`]. Numeric knobs only, so it has a `Default`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvTrainerConfig {
    /// Passes over the training set (≥ 1).
    pub epochs: usize,
    /// Samples per Adam step (≥ 1; the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam step size at the first epoch.
    pub learning_rate: f64,
    /// Step size at the last epoch (for decaying schedules).
    pub final_learning_rate: f64,
    /// The schedule between them.
    pub schedule: LearningRateSchedule,
    /// Weight `w_v` of the mean squared value error (1/CV unit²).
    pub value_weight: f64,
    /// Weight `w_J` of the mean squared Jacobian-component error (length²/CV unit²); 0
    /// trains on values only.
    pub jacobian_weight: f64,
    /// Fraction of the samples held out for validation and early stopping (0 ≤ f < 1).
    pub validation_fraction: f64,
    /// Stop after this many epochs without a lower validation loss (`None`: never).
    pub patience: Option<usize>,
    /// Decoupled weight decay per Adam step.
    pub weight_decay: f64,
    /// Seed of the split and of the shuffling.
    pub seed: u64,
    /// Show a progress bar over epochs.
    pub progress: bool,
}

impl Default for CvTrainerConfig {
    fn default() -> Self {
        CvTrainerConfig {
            epochs: 200,
            batch_size: 32,
            learning_rate: 3e-3,
            final_learning_rate: 1e-4,
            schedule: LearningRateSchedule::Cosine,
            value_weight: 1.0,
            jacobian_weight: 1.0,
            validation_fraction: 0.1,
            patience: None,
            weight_decay: 0.0,
            seed: 0,
            progress: false,
        }
    }
}

impl CvTrainerConfig {
    /// Checks the settings and builds the trainer.
    pub fn build(&self) -> Result<CvTrainer> {
        if self.epochs == 0 {
            return Err(config_error("epochs", "need at least one epoch"));
        }
        if self.batch_size == 0 {
            return Err(config_error("batch_size", "must be at least 1"));
        }
        for (what, v) in [
            ("learning_rate", self.learning_rate),
            ("final_learning_rate", self.final_learning_rate),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(config_error(what, format!("must be positive, got {v}")));
            }
        }
        for (what, v) in [
            ("value_weight", self.value_weight),
            ("jacobian_weight", self.jacobian_weight),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(config_error(what, format!("must be non-negative, got {v}")));
            }
        }
        if self.value_weight == 0.0 && self.jacobian_weight == 0.0 {
            return Err(config_error(
                "loss weights",
                "value_weight and jacobian_weight are both zero",
            ));
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(config_error(
                "validation_fraction",
                format!("must be in [0, 1), got {}", self.validation_fraction),
            ));
        }
        if self.patience == Some(0) {
            return Err(config_error("patience", "must be at least 1 epoch"));
        }
        Ok(CvTrainer {
            config: self.clone(),
        })
    }
}

/// Learning rate, losses and errors of one epoch. Training numbers are averages over
/// the epoch's batches (weighted by batch size) with the parameters of each step;
/// validation numbers use the parameters at the end of the epoch (`NaN` without a
/// validation set).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Adam step size used.
    pub learning_rate: f64,
    /// Training loss.
    pub train_loss: f64,
    /// Training value RMSE (CV units).
    pub train_value_rmse: f64,
    /// Training Jacobian-component RMSE (CV units / length; 0 when not trained on).
    pub train_jacobian_rmse: f64,
    /// Validation loss.
    pub validation_loss: f64,
    /// Validation value RMSE (CV units).
    pub validation_value_rmse: f64,
    /// Validation Jacobian-component RMSE (CV units / length).
    pub validation_jacobian_rmse: f64,
}

/// The per-epoch record of a training run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingHistory {
    /// One record per epoch run.
    pub epochs: Vec<EpochRecord>,
}

impl TrainingHistory {
    /// CSV with a header line, one row per epoch.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "epoch,learning_rate,train_loss,train_value_rmse,train_jacobian_rmse,validation_loss,validation_value_rmse,validation_jacobian_rmse\n",
        );
        for e in &self.epochs {
            let _ = writeln!(
                out,
                "{},{:e},{:e},{:e},{:e},{:e},{:e},{:e}",
                e.epoch,
                e.learning_rate,
                e.train_loss,
                e.train_value_rmse,
                e.train_jacobian_rmse,
                e.validation_loss,
                e.validation_value_rmse,
                e.validation_jacobian_rmse
            );
        }
        out
    }
}

/// What [`CvTrainer::train`] did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvTrainingReport {
    /// Per-epoch losses.
    pub history: TrainingHistory,
    /// The epoch whose parameters were kept (lowest validation loss; the last epoch
    /// without a validation set).
    pub best_epoch: usize,
    /// Whether early stopping ended the run before `epochs`.
    pub stopped_early: bool,
    /// Indices (into the samples given) of the training set.
    pub train_indices: Vec<usize>,
    /// Indices of the validation set.
    pub validation_indices: Vec<usize>,
}

/// Trains [`CvSurrogate`]s; built from a [`CvTrainerConfig`].
#[derive(Clone, Debug, PartialEq)]
pub struct CvTrainer {
    config: CvTrainerConfig,
}

impl CvTrainer {
    /// The settings.
    pub fn config(&self) -> &CvTrainerConfig {
        &self.config
    }

    /// The learning rate at `epoch`.
    pub fn learning_rate(&self, epoch: usize) -> f64 {
        let c = &self.config;
        let span = c.epochs.saturating_sub(1).max(1) as f64;
        let t = (epoch as f64 / span).min(1.0);
        match c.schedule {
            LearningRateSchedule::Constant => c.learning_rate,
            LearningRateSchedule::Cosine => {
                c.final_learning_rate
                    + (c.learning_rate - c.final_learning_rate)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LearningRateSchedule::Exponential => {
                c.learning_rate * (c.final_learning_rate / c.learning_rate).powf(t)
            }
        }
    }

    /// Trains `surrogate` on `samples` (reference values, and reference gradients when
    /// `jacobian_weight > 0`). The input and output normalizations are first fitted to
    /// the training set. With a validation set the parameters of the epoch with the
    /// lowest validation loss are kept. The same seed, samples and starting surrogate
    /// give the same result.
    pub fn train(
        &self,
        surrogate: &mut CvSurrogate,
        samples: &[CvSample],
    ) -> Result<CvTrainingReport> {
        let c = &self.config;
        if samples.is_empty() {
            return Err(config_error("cv training samples", "none given"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.shuffle(&mut rng);
        let n_val = if c.validation_fraction > 0.0 && samples.len() >= 2 {
            ((c.validation_fraction * samples.len() as f64).round() as usize)
                .clamp(1, samples.len() - 1)
        } else {
            0
        };
        let validation_indices = order[..n_val].to_vec();
        let mut train_indices = order[n_val..].to_vec();
        let train_set: Vec<CvSample> = train_indices.iter().map(|&i| samples[i].clone()).collect();
        let validation: Vec<CvSample> = validation_indices
            .iter()
            .map(|&i| samples[i].clone())
            .collect();
        surrogate.fit_input_normalization(&train_set)?;
        surrogate.fit_output_normalization(&train_set)?;

        let mut adam = Adam::new(
            AdamConfig {
                learning_rate: c.learning_rate,
                weight_decay: c.weight_decay,
                ..AdamConfig::default()
            },
            surrogate.n_parameters(),
        )?;
        let mut params = surrogate.parameters();
        let mut best = (f64::INFINITY, 0usize, params.clone());
        let mut history = TrainingHistory::default();
        let mut stopped_early = false;
        let bar = if c.progress {
            let bar = ProgressBar::new(c.epochs as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "training {prefix} {bar:30} {pos}/{len} epochs {msg} [{elapsed} < {eta}]",
                )
                .expect("valid template"),
            );
            bar.set_prefix(surrogate.config().name.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut local: Vec<usize> = (0..train_set.len()).collect();
        for epoch in 0..c.epochs {
            let lr = self.learning_rate(epoch);
            adam.config.learning_rate = lr;
            local.shuffle(&mut rng);
            let (mut loss, mut v_sq, mut g_sq) = (0.0, 0.0, 0.0);
            for batch_idx in local.chunks(c.batch_size) {
                let batch: Vec<CvSample> =
                    batch_idx.iter().map(|&i| train_set[i].clone()).collect();
                let out = surrogate.loss_and_gradient(&batch, c.value_weight, c.jacobian_weight)?;
                if !out.loss.is_finite() {
                    return Err(TrainError::NonFinite {
                        what: "cv surrogate training loss",
                    });
                }
                let w = batch.len() as f64 / train_set.len() as f64;
                loss += w * out.loss;
                v_sq += w * out.value_rmse.powi(2);
                g_sq += w * out.gradient_rmse.powi(2);
                adam.step(&mut params, &out.gradient)?;
                surrogate.set_parameters(&params)?;
            }
            let (val_loss, val_v, val_g) = if validation.is_empty() {
                (f64::NAN, f64::NAN, f64::NAN)
            } else {
                let e = evaluate_surrogate(surrogate, &validation)?;
                let loss = c.value_weight * e.value_rmse.powi(2)
                    + c.jacobian_weight * e.jacobian_rmse.powi(2);
                (loss, e.value_rmse, e.jacobian_rmse)
            };
            history.epochs.push(EpochRecord {
                epoch,
                learning_rate: lr,
                train_loss: loss,
                train_value_rmse: v_sq.sqrt(),
                train_jacobian_rmse: g_sq.sqrt(),
                validation_loss: val_loss,
                validation_value_rmse: val_v,
                validation_jacobian_rmse: val_g,
            });
            bar.set_message(format!("loss {loss:.3e}"));
            bar.inc(1);
            if validation.is_empty() {
                best = (loss, epoch, Vec::new());
                continue;
            }
            if val_loss < best.0 {
                best = (val_loss, epoch, params.clone());
            } else if let Some(p) = c.patience {
                if epoch - best.1 >= p {
                    stopped_early = true;
                    break;
                }
            }
        }
        bar.finish_and_clear();
        if !validation.is_empty() {
            surrogate.set_parameters(&best.2)?;
        }
        train_indices.sort_unstable();
        let mut validation_indices = validation_indices;
        validation_indices.sort_unstable();
        Ok(CvTrainingReport {
            history,
            best_epoch: best.1,
            stopped_early,
            train_indices,
            validation_indices,
        })
    }
}

/// Reference values and Jacobians of `configurations` from `reference`, as
/// [`CvSample`]s for a surrogate over `atoms` (gradients component-major in the order of
/// `atoms`; atoms the reference does not list get zero gradient, and atoms with a
/// nonzero reference gradient must be in `atoms`). Configurations are labelled in
/// parallel.
pub fn label_configurations(
    reference: &dyn CollectiveVariable,
    atoms: &[usize],
    configurations: &[Vec<Vec3>],
    simbox: &SimBox,
) -> Result<Vec<CvSample>> {
    let dim = reference.dim();
    let na = atoms.len();
    let slots: Vec<Option<usize>> = reference
        .atoms()
        .iter()
        .map(|a| atoms.iter().position(|b| b == a))
        .collect();
    configurations
        .par_iter()
        .map(|positions| {
            let mut v = CvValue::default();
            reference.evaluate(positions, simbox, &mut v)?;
            let mut gradients = vec![Vec3::zeros(); dim * na];
            for c in 0..dim {
                for (k, slot) in slots.iter().enumerate() {
                    let g = v.gradient(c, k);
                    match slot {
                        Some(s) => gradients[c * na + s] += g,
                        None if g != Vec3::zeros() => {
                            return Err(config_error(
                                "surrogate atoms",
                                format!(
                                    "atom {} has a nonzero reference gradient but is not listed",
                                    v.atoms[k]
                                ),
                            ))
                        }
                        None => {}
                    }
                }
            }
            Ok(CvSample {
                positions: positions.clone(),
                simbox: simbox.clone(),
                values: v.values,
                gradients,
            })
        })
        .collect()
}

/// Moments of a set of errors and a test of their normality.
///
/// Moments are the biased sample moments `m_k = (1/n) Σ (x − x̄)^k` used by the normality
/// tests: skewness `g1 = m3 / m2^{3/2}`, excess kurtosis `g2 = m4 / m2² − 3` (both 0 for
/// a normal distribution); `std` is the unbiased `√(n m2/(n − 1))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorStatistics {
    /// Number of values.
    pub n: usize,
    /// Mean (units of the values).
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
    /// Root mean square (about zero, not about the mean).
    pub rms: f64,
    /// Skewness g1.
    pub skewness: f64,
    /// Excess kurtosis g2.
    pub excess_kurtosis: f64,
    /// D'Agostino–Pearson K² test (needs n ≥ 20 and a nonzero spread).
    pub normality: Option<NormalityTest>,
}

/// The D'Agostino–Pearson omnibus test of normality (D'Agostino, Belanger &
/// D'Agostino, Am. Stat. 44, 316 (1990); the form of `scipy.stats.normaltest`): the
/// skewness transformed to a standard normal deviate `Z1` (D'Agostino 1970), the
/// kurtosis likewise `Z2` (Anscombe & Glynn 1983), and `K² = Z1² + Z2²`, which is
/// χ²(2)-distributed for normal data, so `p = exp(−K²/2)`.
///
/// With the hundreds of thousands of Jacobian components of a surrogate evaluation the
/// test resolves very small departures from normality, so read `p` together with the
/// size of the skewness and kurtosis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NormalityTest {
    /// The skewness deviate Z1.
    pub skewness_z: f64,
    /// The kurtosis deviate Z2.
    pub kurtosis_z: f64,
    /// K² = Z1² + Z2².
    pub k2: f64,
    /// Probability of a K² at least this large for normal data.
    pub p_value: f64,
}

/// Statistics of `values` (at least two, all finite).
pub fn error_statistics(values: &[f64]) -> Result<ErrorStatistics> {
    let n = values.len();
    if n < 2 {
        return Err(config_error("error statistics", "need at least two values"));
    }
    if !values.iter().all(|v| v.is_finite()) {
        return Err(TrainError::NonFinite {
            what: "error value",
        });
    }
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4, mut sq) = (0.0, 0.0, 0.0, 0.0);
    for &v in values {
        let d = v - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
        sq += v * v;
    }
    m2 /= nf;
    m3 /= nf;
    m4 /= nf;
    let (skewness, excess_kurtosis) = if m2 > 0.0 {
        (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0)
    } else {
        (0.0, 0.0)
    };
    let normality = if m2 > 0.0 {
        dagostino_pearson(skewness, excess_kurtosis, n)
    } else {
        None
    };
    Ok(ErrorStatistics {
        n,
        mean,
        std: (m2 * nf / (nf - 1.0)).sqrt(),
        rms: (sq / nf).sqrt(),
        skewness,
        excess_kurtosis,
        normality,
    })
}

/// The D'Agostino–Pearson K² test from the sample skewness `g1` and excess kurtosis
/// `g2` of `n` values; `None` for `n < 20`, where the kurtosis transformation is not
/// accurate.
pub fn dagostino_pearson(g1: f64, g2: f64, n: usize) -> Option<NormalityTest> {
    if n < 20 || !(g1.is_finite() && g2.is_finite()) {
        return None;
    }
    let n = n as f64;
    // Skewness (D'Agostino 1970).
    let y = g1 * ((n + 1.0) * (n + 3.0) / (6.0 * (n - 2.0))).sqrt();
    let beta2 = 3.0 * (n * n + 27.0 * n - 70.0) * (n + 1.0) * (n + 3.0)
        / ((n - 2.0) * (n + 5.0) * (n + 7.0) * (n + 9.0));
    let w2 = -1.0 + (2.0 * (beta2 - 1.0)).sqrt();
    let delta = 1.0 / (0.5 * w2.ln()).sqrt();
    let alpha = (2.0 / (w2 - 1.0)).sqrt();
    let ya = y / alpha;
    let z1 = delta * (ya + (ya * ya + 1.0).sqrt()).ln();
    // Kurtosis (Anscombe & Glynn 1983), on b2 = g2 + 3.
    let b2 = g2 + 3.0;
    let e = 3.0 * (n - 1.0) / (n + 1.0);
    let var_b2 = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0) * (n + 1.0) * (n + 3.0) * (n + 5.0));
    let x = (b2 - e) / var_b2.sqrt();
    let sqrt_beta1 = 6.0 * (n * n - 5.0 * n + 2.0) / ((n + 7.0) * (n + 9.0))
        * (6.0 * (n + 3.0) * (n + 5.0) / (n * (n - 2.0) * (n - 3.0))).sqrt();
    let a = 6.0
        + 8.0 / sqrt_beta1 * (2.0 / sqrt_beta1 + (1.0 + 4.0 / (sqrt_beta1 * sqrt_beta1)).sqrt());
    let term1 = 1.0 - 2.0 / (9.0 * a);
    let denom = 1.0 + x * (2.0 / (a - 4.0)).sqrt();
    if denom == 0.0 {
        return None;
    }
    let term2 = denom.signum() * ((1.0 - 2.0 / a) / denom.abs()).cbrt();
    let z2 = (term1 - term2) / (2.0 / (9.0 * a)).sqrt();
    let k2 = z1 * z1 + z2 * z2;
    Some(NormalityTest {
        skewness_z: z1,
        kurtosis_z: z2,
        k2,
        p_value: (-0.5 * k2).exp(),
    })
}

/// How well a surrogate reproduces reference values and Jacobians on a set of samples.
/// For multi-component CVs value errors are pooled over components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurrogateEvaluation {
    /// Number of configurations.
    pub n_samples: usize,
    /// Reference and predicted value of every sample and component (CV units).
    pub parity: Vec<(f64, f64)>,
    /// Root mean square value error (CV units).
    pub value_rmse: f64,
    /// Mean absolute value error (CV units).
    pub value_mae: f64,
    /// Largest absolute value error (CV units).
    pub value_max_error: f64,
    /// Range `max − min` of the reference values (CV units).
    pub value_range: f64,
    /// `value_rmse / value_range`.
    pub relative_rmse: f64,
    /// Every Jacobian-component error `∂ξ/∂r_{k,a} (surrogate) − (reference)` over
    /// samples, components, the surrogate's atoms and the three axes (CV units per
    /// length); empty if the samples hold no reference gradients.
    pub jacobian_errors: Vec<f64>,
    /// The reference Jacobian components, in the layout of `jacobian_errors` (so that
    /// callers can select components, e.g. those of atoms that matter).
    pub jacobian_reference: Vec<f64>,
    /// Root mean square of the Jacobian-component errors.
    pub jacobian_rmse: f64,
    /// Root mean square of the reference Jacobian components (a scale for
    /// `jacobian_rmse`).
    pub jacobian_reference_rms: f64,
    /// Statistics of `jacobian_errors` (`None` without reference gradients).
    pub jacobian_stats: Option<ErrorStatistics>,
}

/// Evaluates `surrogate` on labelled `samples` (from [`label_configurations`]).
pub fn evaluate_surrogate(
    surrogate: &CvSurrogate,
    samples: &[CvSample],
) -> Result<SurrogateEvaluation> {
    if samples.is_empty() {
        return Err(config_error("evaluation samples", "none given"));
    }
    let m = surrogate.config().outputs;
    let na = surrogate.config().atoms.len();
    let with_grads = samples.iter().all(|s| !s.gradients.is_empty());
    let mut parity = Vec::with_capacity(samples.len() * m);
    let mut jacobian_errors = Vec::new();
    let mut jacobian_reference = Vec::new();
    let mut ref_sq = 0.0;
    // Chunks bound the memory of the batched backward passes.
    for chunk in samples.chunks(256) {
        let predicted = surrogate.evaluate_batch(chunk)?;
        for (s, p) in chunk.iter().zip(&predicted) {
            if s.values.len() != m {
                return Err(TrainError::Nn(thermograd_nn::NnError::Mismatch {
                    what: "reference values",
                    expected: m,
                    got: s.values.len(),
                }));
            }
            for c in 0..m {
                parity.push((s.values[c], p.values[c]));
            }
            if with_grads {
                if s.gradients.len() != m * na {
                    return Err(TrainError::Nn(thermograd_nn::NnError::Mismatch {
                        what: "reference gradients",
                        expected: m * na,
                        got: s.gradients.len(),
                    }));
                }
                for (g, r) in p.gradients.iter().zip(&s.gradients) {
                    for a in 0..3 {
                        jacobian_errors.push(g[a] - r[a]);
                        jacobian_reference.push(r[a]);
                        ref_sq += r[a] * r[a];
                    }
                }
            }
        }
    }
    let nv = parity.len() as f64;
    let value_rmse = (parity.iter().map(|(r, p)| (p - r).powi(2)).sum::<f64>() / nv).sqrt();
    let value_mae = parity.iter().map(|(r, p)| (p - r).abs()).sum::<f64>() / nv;
    let value_max_error = parity
        .iter()
        .map(|(r, p)| (p - r).abs())
        .fold(0.0, f64::max);
    let (lo, hi) = parity
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (r, _)| {
            (lo.min(*r), hi.max(*r))
        });
    let value_range = hi - lo;
    let (jacobian_rmse, jacobian_reference_rms, jacobian_stats) = if jacobian_errors.len() >= 2 {
        let nj = jacobian_errors.len() as f64;
        let stats = error_statistics(&jacobian_errors)?;
        (stats.rms, (ref_sq / nj).sqrt(), Some(stats))
    } else {
        (0.0, 0.0, None)
    };
    Ok(SurrogateEvaluation {
        n_samples: samples.len(),
        parity,
        value_rmse,
        value_mae,
        value_max_error,
        value_range,
        relative_rmse: if value_range > 0.0 {
            value_rmse / value_range
        } else {
            f64::INFINITY
        },
        jacobian_errors,
        jacobian_reference,
        jacobian_rmse,
        jacobian_reference_rms,
        jacobian_stats,
    })
}

/// One pair of atoms placed at a distance drawn uniformly from `[min, max]` in a
/// uniformly random direction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairPlacement {
    /// First atom (placed uniformly in the cell).
    pub i: usize,
    /// Second atom.
    pub j: usize,
    /// Smallest distance (length units).
    pub min: f64,
    /// Largest distance (length units).
    pub max: f64,
}

/// Randomised configurations: every atom uniformly in the periodic cell, rejecting
/// placements closer than `min_distance` (minimum image) to an atom already placed
/// (random sequential addition), and optionally one pair at a controlled distance.
/// This is the "randomised data" of Pathirage et al.: configurations that cover CV
/// space without a simulation, at the price of unphysical local structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomConfigurationsConfig {
    /// Atoms per configuration.
    pub n_atoms: usize,
    /// Smallest separation of any two atoms except the placed pair (length units; 0
    /// for an ideal gas). Random sequential addition jams near a packing fraction of
    /// 0.38, i.e. `ρ d³ ≲ 0.7`.
    pub min_distance: f64,
    /// A pair placed first at a distance drawn uniformly from a range.
    pub pair: Option<PairPlacement>,
    /// Attempts per atom before giving up with an error.
    pub max_attempts: usize,
    /// Seed; configuration `k` uses its own stream, so results do not depend on
    /// threads.
    pub seed: u64,
}

impl RandomConfigurationsConfig {
    /// `n_atoms` atoms at least `min_distance` apart, no placed pair, 10⁴ attempts per
    /// atom.
    pub fn new(n_atoms: usize, min_distance: f64, seed: u64) -> Self {
        RandomConfigurationsConfig {
            n_atoms,
            min_distance,
            pair: None,
            max_attempts: 10_000,
            seed,
        }
    }

    /// `count` configurations in `simbox` (which must be periodic).
    pub fn generate(&self, simbox: &SimBox, count: usize) -> Result<Vec<Vec<Vec3>>> {
        let cell = *simbox
            .cell()
            .ok_or_else(|| config_error("random configurations", "need a periodic box"))?;
        if !(self.min_distance.is_finite() && self.min_distance >= 0.0) {
            return Err(config_error("min_distance", "must be non-negative"));
        }
        if self.max_attempts == 0 {
            return Err(config_error("max_attempts", "must be at least 1"));
        }
        if let Some(p) = self.pair {
            if p.i == p.j || p.i >= self.n_atoms || p.j >= self.n_atoms {
                return Err(config_error(
                    "pair placement",
                    "needs two distinct atoms of the configuration",
                ));
            }
            if !(p.min.is_finite() && p.max.is_finite() && 0.0 < p.min && p.min <= p.max) {
                return Err(config_error("pair placement", "needs 0 < min ≤ max"));
            }
        }
        (0..count)
            .into_par_iter()
            .map(|k| {
                let mut rng =
                    ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9).wrapping_add(k as u64));
                let uniform = |rng: &mut ChaCha8Rng| {
                    cell * Vec3::new(rng.gen::<f64>(), rng.gen::<f64>(), rng.gen::<f64>())
                };
                let mut positions = vec![Vec3::zeros(); self.n_atoms];
                let mut placed: Vec<usize> = Vec::with_capacity(self.n_atoms);
                if let Some(p) = self.pair {
                    positions[p.i] = uniform(&mut rng);
                    let dir = loop {
                        let v = Vec3::new(
                            rng.gen_range(-1.0..1.0),
                            rng.gen_range(-1.0..1.0),
                            rng.gen_range(-1.0..1.0),
                        );
                        let n2 = v.norm_squared();
                        if n2 > 1e-6 && n2 <= 1.0 {
                            break v / n2.sqrt();
                        }
                    };
                    let r = rng.gen_range(p.min..=p.max);
                    positions[p.j] = simbox.wrap(&(positions[p.i] + dir * r));
                    placed.extend([p.i, p.j]);
                }
                let d2 = self.min_distance * self.min_distance;
                for a in 0..self.n_atoms {
                    if placed.contains(&a) {
                        continue;
                    }
                    let mut attempts = 0;
                    positions[a] = loop {
                        let r = uniform(&mut rng);
                        if placed
                            .iter()
                            .all(|&b| simbox.displacement(&r, &positions[b]).norm_squared() >= d2)
                        {
                            break r;
                        }
                        attempts += 1;
                        if attempts >= self.max_attempts {
                            return Err(config_error(
                                "random configurations",
                                format!(
                                    "could not place atom {a} after {attempts} attempts (min_distance too large for the density?)"
                                ),
                            ));
                        }
                    };
                    placed.push(a);
                }
                Ok(positions)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_schedules_hit_their_ends() {
        for schedule in [
            LearningRateSchedule::Cosine,
            LearningRateSchedule::Exponential,
        ] {
            let t = CvTrainerConfig {
                epochs: 11,
                learning_rate: 1e-2,
                final_learning_rate: 1e-4,
                schedule,
                ..CvTrainerConfig::default()
            }
            .build()
            .unwrap();
            assert!((t.learning_rate(0) - 1e-2).abs() < 1e-15);
            assert!((t.learning_rate(10) - 1e-4).abs() < 1e-15);
            assert!(t.learning_rate(5) < 1e-2 && t.learning_rate(5) > 1e-4);
        }
        // Midpoints: cosine is the arithmetic mean, exponential the geometric one.
        let mid = |schedule| {
            CvTrainerConfig {
                epochs: 11,
                learning_rate: 1e-2,
                final_learning_rate: 1e-4,
                schedule,
                ..CvTrainerConfig::default()
            }
            .build()
            .unwrap()
            .learning_rate(5)
        };
        assert!((mid(LearningRateSchedule::Cosine) - 0.5 * (1e-2 + 1e-4)).abs() < 1e-15);
        assert!((mid(LearningRateSchedule::Exponential) - 1e-3).abs() < 1e-15);
        assert_eq!(mid(LearningRateSchedule::Constant), 1e-2);
    }

    #[test]
    fn rejects_bad_settings() {
        let ok = CvTrainerConfig::default();
        for bad in [
            CvTrainerConfig {
                epochs: 0,
                ..ok.clone()
            },
            CvTrainerConfig {
                batch_size: 0,
                ..ok.clone()
            },
            CvTrainerConfig {
                learning_rate: -1.0,
                ..ok.clone()
            },
            CvTrainerConfig {
                validation_fraction: 1.0,
                ..ok.clone()
            },
            CvTrainerConfig {
                value_weight: 0.0,
                jacobian_weight: 0.0,
                ..ok.clone()
            },
            CvTrainerConfig {
                patience: Some(0),
                ..ok.clone()
            },
            CvTrainerConfig {
                jacobian_weight: f64::NAN,
                ..ok.clone()
            },
        ] {
            assert!(bad.build().is_err(), "{bad:?}");
        }
        assert!(ok.build().is_ok());
    }
}
