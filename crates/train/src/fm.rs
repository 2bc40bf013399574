//! Force matching (chemtrain §3.2.1, eq. 16–18; Ercolessi & Adams 1994, Noid et al.
//! 2008): minimise the weighted mean squared errors of forces, energies and virials over
//! reference configurations with minibatch Adam.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, Vec3};
use thermograd_nn::{Frame, LabeledFrame, LossWeights};

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::data::{batch_indices, Dataset, Structure};
use crate::error::{config_error, Result, TrainError};
use crate::model::{Cotangents, EnergyModel};
use crate::optim::{EarlyStopping, Optimizer, OptimizerConfig};
use crate::trainloop::{self, apply_gradient, restore_parameters, LoopSettings, TrainLoop};

/// Weights `γ` of the terms of the force-matching loss (eq. 18); omitted fields take
/// their defaults (forces 1, energy and virial 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FmWeights {
    /// `γ_E`, on the mean squared energy error per atom ((energy/atom)⁻²).
    pub energy: f64,
    /// `γ_F`, on the mean squared force-component error ((energy/length)⁻²).
    pub forces: f64,
    /// `γ_W`, on the mean squared virial-component error per atom ((energy/atom)⁻²).
    pub virial: f64,
}

impl Default for FmWeights {
    fn default() -> Self {
        FmWeights {
            energy: 0.0,
            forces: 1.0,
            virial: 0.0,
        }
    }
}

/// The force-matching loss of a set of structures (chemtrain eq. 16 and 18):
///
/// `L = γ_F Σ_s Σ_k |F_sk − F̂_sk|² / (3 Σ_s N_s)
///    + γ_E (1/D) Σ_s ((E_s − Ê_s)/N_s)²
///    + γ_W (1/D) Σ_s ‖W_s − Ŵ_s‖² / (9 N_s²)`
///
/// with `D` structures of `N_s` atoms. Root mean squares are per atom for energies and
/// virials (energy units) and per component for forces (energy/length).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FmLoss {
    /// The loss.
    pub loss: f64,
    /// RMS energy error per atom (energy units); `None` without energy labels.
    pub energy_rmse: Option<f64>,
    /// RMS force-component error (energy/length units); `None` without forces.
    pub force_rmse: Option<f64>,
    /// RMS virial-component error per atom (energy units); `None` without virials.
    pub virial_rmse: Option<f64>,
    /// `∂L/∂θ` if requested.
    pub gradient: Option<Vec<f64>>,
}

/// Sums behind [`FmLoss`], so that batches combine exactly.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    e_sq: f64,
    n_e: usize,
    f_sq: f64,
    n_f: usize,
    w_sq: f64,
    n_w: usize,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.e_sq += o.e_sq;
        self.n_e += o.n_e;
        self.f_sq += o.f_sq;
        self.n_f += o.n_f;
        self.w_sq += o.w_sq;
        self.n_w += o.n_w;
    }

    fn finish(&self, w: &FmWeights, gradient: Option<Vec<f64>>) -> FmLoss {
        let mean = |s: f64, n: usize| (n > 0).then(|| s / n as f64);
        let (e, f, v) = (
            mean(self.e_sq, self.n_e),
            mean(self.f_sq, self.n_f),
            mean(self.w_sq, self.n_w),
        );
        FmLoss {
            loss: w.energy * e.unwrap_or(0.0)
                + w.forces * f.unwrap_or(0.0)
                + w.virial * v.unwrap_or(0.0),
            energy_rmse: e.map(f64::sqrt),
            force_rmse: f.map(f64::sqrt),
            virial_rmse: v.map(f64::sqrt),
            gradient,
        }
    }
}

/// The force-matching loss of `structures` under `model` and, if `gradient`, its exact
/// parameter gradient (one evaluation and one [`EnergyModel::parameter_vjp`]). Terms
/// with zero weight are skipped; a term with positive weight needs its label on every
/// structure.
pub fn force_matching_loss<M: EnergyModel + ?Sized>(
    model: &M,
    structures: &[&Structure],
    weights: &FmWeights,
    gradient: bool,
) -> Result<FmLoss> {
    let (sums, g) = loss_sums(model, structures, weights, gradient)?;
    Ok(sums.finish(weights, g))
}

fn loss_sums<M: EnergyModel + ?Sized>(
    model: &M,
    structures: &[&Structure],
    w: &FmWeights,
    want_gradient: bool,
) -> Result<(Sums, Option<Vec<f64>>)> {
    if structures.is_empty() {
        return Err(config_error("force-matching batch", "is empty"));
    }
    if want_gradient && w.virial == 0.0 {
        if let Some(out) = fused(model, structures, w) {
            return out;
        }
    }
    let frames: Vec<Frame> = structures.iter().map(|s| s.frame()).collect();
    let evals = model.evaluate_frames(&frames)?;
    let d = structures.len() as f64;
    let n_comp = 3 * structures.iter().map(|s| s.n_atoms()).sum::<usize>();
    let mut sums = Sums::default();
    let mut a = vec![0.0; structures.len()];
    let mut g: Vec<Vec<Vec3>> = Vec::new();
    let mut c: Vec<Mat3> = Vec::new();
    for (k, (s, e)) in structures.iter().zip(&evals).enumerate() {
        let n = s.n_atoms() as f64;
        if w.energy > 0.0 {
            let re = s.energy.ok_or(TrainError::MissingLabel {
                what: "energy",
                index: k,
            })?;
            let de = (e.energy - re) / n;
            sums.e_sq += de * de;
            sums.n_e += 1;
            a[k] = 2.0 * w.energy * de / (n * d);
        }
        if w.forces > 0.0 {
            let rf = s.forces.as_ref().ok_or(TrainError::MissingLabel {
                what: "forces",
                index: k,
            })?;
            let mut gk = Vec::with_capacity(rf.len());
            for (f, r) in e.forces.iter().zip(rf) {
                let diff = f - r;
                sums.f_sq += diff.norm_squared();
                gk.push(diff * (2.0 * w.forces / n_comp as f64));
            }
            sums.n_f += 3 * rf.len();
            g.push(gk);
        }
        if w.virial > 0.0 {
            let rw = s.virial.ok_or(TrainError::MissingLabel {
                what: "virial",
                index: k,
            })?;
            let diff = (e.virial - rw) / n;
            sums.w_sq += diff.norm_squared() / 9.0;
            sums.n_w += 1;
            c.push(diff * (2.0 * w.virial / (9.0 * n * d)));
        }
    }
    if !want_gradient {
        return Ok((sums, None));
    }
    let cot = Cotangents {
        energy: &a,
        forces: (w.forces > 0.0).then_some(&g[..]),
        virial: (w.virial > 0.0).then_some(&c[..]),
    };
    Ok((sums, Some(model.parameter_vjp(&frames, &cot)?)))
}

/// The model's fused energy-and-force path, when it has one ([`EnergyModel::fused_force_matching`]).
fn fused<M: EnergyModel + ?Sized>(
    model: &M,
    structures: &[&Structure],
    w: &FmWeights,
) -> Option<Result<(Sums, Option<Vec<f64>>)>> {
    let mut data = Vec::with_capacity(structures.len());
    for (k, s) in structures.iter().enumerate() {
        let energy = match (w.energy > 0.0, s.energy) {
            (true, None) => {
                return Some(Err(TrainError::MissingLabel {
                    what: "energy",
                    index: k,
                }))
            }
            (_, e) => e.unwrap_or(0.0),
        };
        let forces = match (w.forces > 0.0, &s.forces) {
            (true, None) => {
                return Some(Err(TrainError::MissingLabel {
                    what: "forces",
                    index: k,
                }))
            }
            (_, Some(f)) => f.clone(),
            (false, None) => vec![Vec3::zeros(); s.n_atoms()],
        };
        data.push(LabeledFrame {
            frame: s.frame(),
            energy,
            forces,
        });
    }
    let weights = LossWeights {
        energy: w.energy,
        forces: w.forces,
    };
    let out = model.fused_force_matching(&data, weights)?;
    Some(out.map(|l| {
        let d = structures.len();
        let n_comp = 3 * structures.iter().map(|s| s.n_atoms()).sum::<usize>();
        let mut sums = Sums::default();
        if w.energy > 0.0 {
            sums.e_sq = l.energy_rmse.powi(2) * d as f64;
            sums.n_e = d;
        }
        if w.forces > 0.0 {
            sums.f_sq = l.force_rmse.powi(2) * n_comp as f64;
            sums.n_f = n_comp;
        }
        (sums, Some(l.gradient))
    }))
}

/// Settings of a [`ForceMatching`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForceMatchingConfig {
    /// Loss weights.
    pub weights: FmWeights,
    /// Passes over the training set.
    pub epochs: usize,
    /// Structures per optimizer step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Optimizer, schedule (over epochs) and clipping.
    pub optimizer: OptimizerConfig,
    /// Seed of the per-epoch shuffling.
    pub seed: u64,
    /// Stop after this many epochs without a lower validation loss (`None`: never).
    pub patience: Option<usize>,
    /// At the end, restore the parameters of the epoch with the lowest validation
    /// loss (when there is validation data).
    pub restore_best: bool,
    /// Checkpoint written atomically after every epoch (`None`: none).
    pub checkpoint: Option<PathBuf>,
    /// Metrics file, rewritten after every epoch (`.csv`, otherwise JSON lines).
    pub metrics: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for ForceMatchingConfig {
    fn default() -> Self {
        ForceMatchingConfig {
            weights: FmWeights::default(),
            epochs: 100,
            batch_size: 16,
            optimizer: OptimizerConfig::default(),
            seed: 0,
            patience: None,
            restore_best: true,
            checkpoint: None,
            metrics: None,
            progress: false,
        }
    }
}

impl ForceMatchingConfig {
    /// Checks the settings and the data, and builds the trainer.
    pub fn build<M: EnergyModel>(
        &self,
        model: M,
        train: Dataset,
        validation: Dataset,
    ) -> Result<ForceMatching<M>> {
        let w = &self.weights;
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !(ok(w.energy) && ok(w.forces) && ok(w.virial)) || w.energy + w.forces + w.virial == 0.0
        {
            return Err(config_error(
                "force-matching weights",
                "must be non-negative, finite, and not all zero",
            ));
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(config_error(
                "force matching",
                "epochs and batch_size must be at least 1",
            ));
        }
        if train.is_empty() {
            return Err(config_error("training set", "is empty"));
        }
        for data in [&train, &validation] {
            for (k, s) in data.structures().iter().enumerate() {
                let missing = if w.energy > 0.0 && s.energy.is_none() {
                    Some("energy")
                } else if w.forces > 0.0 && s.forces.is_none() {
                    Some("forces")
                } else if w.virial > 0.0 && s.virial.is_none() {
                    Some("virial")
                } else {
                    None
                };
                if let Some(what) = missing {
                    return Err(TrainError::MissingLabel { what, index: k });
                }
            }
        }
        let optimizer = self.optimizer.build(model.n_parameters())?;
        Ok(ForceMatching {
            config: self.clone(),
            model,
            train,
            validation,
            state: FmState {
                epoch: 0,
                optimizer,
                history: Vec::new(),
                stopping: EarlyStopping::new(self.patience),
                stopped: false,
            },
        })
    }
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FmEpoch {
    /// Epoch number (from 1).
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (before each step).
    pub train_loss: f64,
    /// Training RMS energy error per atom.
    pub train_energy_rmse: Option<f64>,
    /// Training RMS force-component error.
    pub train_force_rmse: Option<f64>,
    /// Training RMS virial-component error per atom.
    pub train_virial_rmse: Option<f64>,
    /// Validation loss after the epoch.
    pub validation_loss: Option<f64>,
    /// Validation RMS energy error per atom.
    pub validation_energy_rmse: Option<f64>,
    /// Validation RMS force-component error.
    pub validation_force_rmse: Option<f64>,
    /// Validation RMS virial-component error per atom.
    pub validation_virial_rmse: Option<f64>,
    /// Learning rate of the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch (seconds).
    pub seconds: f64,
}

/// The resumable part of a trainer.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FmState {
    epoch: usize,
    optimizer: Optimizer,
    history: Vec<FmEpoch>,
    stopping: EarlyStopping,
    stopped: bool,
}

/// A force-matching trainer: epochs of seeded minibatch Adam on [`force_matching_loss`],
/// validation after each epoch, early stopping, a checkpoint after every epoch (atomic),
/// exact resume ([`ForceMatching::resume`]), metrics file and progress bar.
///
/// Resuming needs a model built the same way (architecture and normalization); the
/// checkpoint holds its parameters, the optimizer state and the history, and the
/// shuffling of epoch `e` depends only on the seed and `e`, so a resumed run reproduces
/// the uninterrupted one bit for bit.
#[derive(Debug)]
pub struct ForceMatching<M> {
    config: ForceMatchingConfig,
    model: M,
    train: Dataset,
    validation: Dataset,
    state: FmState,
}

#[derive(Serialize, Deserialize)]
struct FmCheckpoint {
    parameters: Vec<f64>,
    state: FmState,
}

const KIND: &str = "force-matching";

impl<M: EnergyModel> ForceMatching<M> {
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, consuming the trainer.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Replaces the parameters (e.g. when another trainer shares the model, as in
    /// [`crate::Interleaved`]); the optimizer state is kept.
    pub fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        Ok(self.model.set_parameters(parameters)?)
    }

    /// Metrics of the epochs run so far.
    pub fn history(&self) -> &[FmEpoch] {
        &self.state.history
    }

    /// Epochs completed.
    pub fn epoch(&self) -> usize {
        self.state.epoch
    }

    /// Whether training is over (all epochs run, or stopped early).
    pub fn finished(&self) -> bool {
        trainloop::finished(self)
    }

    /// The loss (without gradient) of the current model on `data`.
    pub fn evaluate(&self, data: &Dataset) -> Result<FmLoss> {
        if data.is_empty() {
            return Err(config_error("evaluation set", "is empty"));
        }
        let all: Vec<&Structure> = data.structures().iter().collect();
        let mut total = Sums::default();
        // Chunks bound the memory of large sets.
        for chunk in all.chunks(self.config.batch_size.max(64)) {
            total.add(&loss_sums(&self.model, chunk, &self.config.weights, false)?.0);
        }
        Ok(total.finish(&self.config.weights, None))
    }

    /// One epoch: seeded shuffle, one Adam step per batch, then validation; checkpoint
    /// and metrics if configured.
    pub fn run_epoch(&mut self) -> Result<&FmEpoch> {
        trainloop::step(self)
    }

    /// Runs the remaining epochs (all of them, or until early stopping), then restores
    /// the best validated parameters if so configured. Returns the history.
    pub fn train(&mut self) -> Result<&[FmEpoch]> {
        trainloop::train(self)?;
        if self.config.restore_best {
            if let Some((_, best)) = self.state.stopping.best() {
                let best = best.to_vec();
                self.model.set_parameters(&best)?;
            }
        }
        Ok(&self.state.history)
    }

    /// Writes a checkpoint (parameters, optimizer, history) atomically.
    pub fn save_checkpoint(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        save_checkpoint(
            path,
            KIND,
            &FmCheckpoint {
                parameters: self.model.parameters(),
                state: self.state.clone(),
            },
        )
    }

    /// Continues from a checkpoint of a run with the same settings and a model built
    /// the same way.
    pub fn resume(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let c: FmCheckpoint = load_checkpoint(path, KIND)?;
        restore_parameters(&mut self.model, &c.parameters, path)?;
        self.state = c.state;
        Ok(())
    }
}

impl<M: EnergyModel> TrainLoop for ForceMatching<M> {
    type Row = FmEpoch;
    const UNIT: &'static str = "epochs";

    fn settings(&self) -> LoopSettings<'_> {
        LoopSettings {
            planned: self.config.epochs,
            progress: self.config.progress,
            checkpoint: self.config.checkpoint.as_deref(),
            metrics: self.config.metrics.as_deref(),
        }
    }

    fn steps_done(&self) -> usize {
        self.state.epoch
    }

    fn stopped(&self) -> bool {
        self.state.stopped
    }

    fn advance(&mut self) -> Result<()> {
        let start = Instant::now();
        let e = self.state.epoch;
        let seed = self.config.seed ^ (e as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let batches = batch_indices(self.train.len(), self.config.batch_size, Some(seed))?;
        let mut sums = Sums::default();
        let mut lr = 0.0;
        for batch in batches {
            let structures: Vec<&Structure> =
                batch.iter().map(|&i| &self.train.structures()[i]).collect();
            let (s, g) = loss_sums(&self.model, &structures, &self.config.weights, true)?;
            sums.add(&s);
            let info = apply_gradient(
                &mut self.model,
                &mut self.state.optimizer,
                &g.expect("requested"),
                e,
                self.config.epochs,
            )?;
            lr = info.learning_rate;
        }
        let train = sums.finish(&self.config.weights, None);
        let val = if self.validation.is_empty() {
            None
        } else {
            Some(self.evaluate(&self.validation)?)
        };
        if let Some(v) = &val {
            if self.state.stopping.record(v.loss, &self.model.parameters()) {
                self.state.stopped = true;
            }
        }
        self.state.epoch += 1;
        self.state.history.push(FmEpoch {
            epoch: self.state.epoch,
            train_loss: train.loss,
            train_energy_rmse: train.energy_rmse,
            train_force_rmse: train.force_rmse,
            train_virial_rmse: train.virial_rmse,
            validation_loss: val.as_ref().map(|v| v.loss),
            validation_energy_rmse: val.as_ref().and_then(|v| v.energy_rmse),
            validation_force_rmse: val.as_ref().and_then(|v| v.force_rmse),
            validation_virial_rmse: val.as_ref().and_then(|v| v.virial_rmse),
            learning_rate: lr,
            seconds: start.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    fn rows(&self) -> &[FmEpoch] {
        &self.state.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(m: &FmEpoch) -> String {
        match (m.validation_force_rmse, m.train_force_rmse) {
            (Some(v), _) => format!("loss {:.3e}  val F rmse {v:.3e}", m.train_loss),
            (None, Some(t)) => format!("loss {:.3e}  F rmse {t:.3e}", m.train_loss),
            _ => format!("loss {:.3e}", m.train_loss),
        }
    }
}
