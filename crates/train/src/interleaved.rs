//! Interleaved training (chemtrain §4.3, listing 5, `InterleaveTrainers`; §5.2): force
//! matching epochs (eq. 16–18) alternate with DiffTRe updates (eq. 7–11) on one model,
//! so that the potential fits reference forces and reproduces macroscopic targets at
//! once. The schedule is `cycles` repetitions of `fm_epochs` force-matching epochs
//! followed by `difftre_updates` DiffTRe updates.
//!
//! The two sub-trainers ([`ForceMatching`], [`DiffTRe`]) share the parameter vector:
//! before a step of one of them, the parameters the other one left are copied in. Each
//! keeps **its own optimizer** (Adam moments and learning-rate schedule): the two losses
//! have different scales and noise, and one Adam state fed alternately with gradients
//! of both would mix their second moments. Force matching's schedule runs over its
//! `cycles × fm_epochs` epochs, DiffTRe's over its `cycles × difftre_updates` updates.
//!
//! A checkpoint (one file, written atomically) after every step — so also after every
//! phase — holds the position in the schedule, the combined history and both
//! sub-trainers' checkpoints; [`Interleaved::resume`] reproduces the uninterrupted run
//! bit for bit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thermograd_md::{Potential, State};

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::data::Dataset;
use crate::difftre::{DiffTRe, DiffTReCheckpoint, DiffTReConfig, DiffTReUpdate, Target};
use crate::error::{config_error, Result, TrainError};
use crate::fm::{FmEpoch, ForceMatching, ForceMatchingConfig};
use crate::fsutil::{io_error, read_bytes};
use crate::model::EnergyModel;
use crate::trainloop::{self, LoopSettings, TrainLoop};

/// Settings of an [`Interleaved`] trainer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterleavedConfig {
    /// Force matching: its `epochs` is replaced by `cycles × fm_epochs`; it must not
    /// have its own checkpoint, metrics or progress bar (the interleaved trainer's
    /// cover both). Early stopping (`patience`, `restore_best`) does not apply: the
    /// validation loss is recorded but the schedule runs to its end.
    pub force_matching: ForceMatchingConfig,
    /// DiffTRe: its `updates` is replaced by `cycles × difftre_updates`; no checkpoint,
    /// metrics or progress bar of its own either.
    pub difftre: DiffTReConfig,
    /// Repetitions of the pattern.
    pub cycles: usize,
    /// Force-matching epochs per cycle (may be 0).
    pub fm_epochs: usize,
    /// DiffTRe updates per cycle (may be 0).
    pub difftre_updates: usize,
    /// Checkpoint written atomically after every step.
    pub checkpoint: Option<PathBuf>,
    /// Combined metrics, rewritten after every step (`.csv`, otherwise JSON lines).
    pub metrics: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What a DiffTRe sub-trainer needs besides its settings.
#[derive(Debug)]
pub struct DiffTReSetup {
    /// Where its simulations start.
    pub initial: State,
    /// A fixed potential added to the model in its simulations (`None`: none).
    pub prior: Option<Arc<dyn Potential>>,
    /// Its targets.
    pub targets: Vec<Target>,
}

impl InterleavedConfig {
    /// Checks the settings and builds both sub-trainers on `model`: force matching on
    /// `train` (validated on `validation`, which may be empty) and DiffTRe from
    /// `difftre`.
    pub fn build<M: EnergyModel + Clone + 'static>(
        &self,
        model: M,
        train: Dataset,
        validation: Dataset,
        difftre: DiffTReSetup,
    ) -> Result<Interleaved<M>> {
        if self.cycles == 0 || self.fm_epochs + self.difftre_updates == 0 {
            return Err(config_error(
                "interleaved schedule",
                "need at least one cycle with at least one step",
            ));
        }
        let f = &self.force_matching;
        let d = &self.difftre;
        if f.checkpoint.is_some() || f.metrics.is_some() || f.progress {
            return Err(config_error(
                "force_matching",
                "checkpoint, metrics and progress belong to the interleaved settings",
            ));
        }
        if d.checkpoint.is_some() || d.metrics.is_some() || d.progress {
            return Err(config_error(
                "difftre",
                "checkpoint, metrics and progress belong to the interleaved settings",
            ));
        }
        // A sub-trainer without steps still gets a valid plan of one.
        let fm = ForceMatchingConfig {
            epochs: (self.cycles * self.fm_epochs).max(1),
            ..f.clone()
        }
        .build(model.clone(), train, validation)?;
        let difftre = DiffTReConfig {
            updates: (self.cycles * self.difftre_updates).max(1),
            ..d.clone()
        }
        .build(model, difftre.initial, difftre.prior, difftre.targets)?;
        Ok(Interleaved {
            config: self.clone(),
            fm,
            difftre,
            step: 0,
            history: Vec::new(),
        })
    }
}

/// Which sub-trainer ran a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterleavedPhase {
    /// A force-matching epoch.
    ForceMatching,
    /// A DiffTRe update.
    #[serde(rename = "difftre")]
    DiffTRe,
}

/// Metrics of one step of an [`Interleaved`] run; the sub-trainers' full rows are in
/// [`Interleaved::fm_history`] and [`Interleaved::difftre_history`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterleavedStep {
    /// Step number (from 1).
    pub step: usize,
    /// Cycle number (from 1).
    pub cycle: usize,
    /// Which sub-trainer ran.
    pub phase: InterleavedPhase,
    /// The sub-trainer's epoch or update number (from 1).
    pub index: usize,
    /// Force-matching training loss of the epoch, or the DiffTRe loss before the
    /// update.
    pub loss: f64,
    /// Force-matching validation loss after the epoch (`None` for DiffTRe steps or
    /// without validation data).
    pub validation_loss: Option<f64>,
    /// Wall time of the step (seconds).
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct InterleavedCheckpoint {
    step: usize,
    history: Vec<InterleavedStep>,
    /// The force-matching trainer's own checkpoint file, verbatim.
    force_matching: Vec<u8>,
    difftre: DiffTReCheckpoint,
}

const KIND: &str = "interleaved";

/// Force matching and DiffTRe alternating on one model; see the module docs.
#[derive(Debug)]
pub struct Interleaved<M> {
    config: InterleavedConfig,
    fm: ForceMatching<M>,
    difftre: DiffTRe<M>,
    step: usize,
    history: Vec<InterleavedStep>,
}

impl<M: EnergyModel + Clone + 'static> Interleaved<M> {
    /// The model after the last step.
    pub fn model(&self) -> &M {
        match self.last_phase() {
            Some(InterleavedPhase::DiffTRe) => self.difftre.model(),
            _ => self.fm.model(),
        }
    }

    /// The model, consuming the trainer.
    pub fn into_model(self) -> M {
        match self.last_phase() {
            Some(InterleavedPhase::DiffTRe) => self.difftre.into_model(),
            _ => self.fm.into_model(),
        }
    }

    /// The combined metrics of the steps so far.
    pub fn history(&self) -> &[InterleavedStep] {
        &self.history
    }

    /// The force-matching epochs so far.
    pub fn fm_history(&self) -> &[FmEpoch] {
        self.fm.history()
    }

    /// The DiffTRe updates so far.
    pub fn difftre_history(&self) -> &[DiffTReUpdate] {
        self.difftre.history()
    }

    /// The force-matching sub-trainer (its model is current after a force-matching
    /// step; [`Interleaved::model`] always is).
    pub fn force_matching(&self) -> &ForceMatching<M> {
        &self.fm
    }

    /// The DiffTRe sub-trainer (its model is current after a DiffTRe step).
    pub fn difftre(&self) -> &DiffTRe<M> {
        &self.difftre
    }

    /// Steps done.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Steps planned: `cycles × (fm_epochs + difftre_updates)`.
    pub fn steps_planned(&self) -> usize {
        self.config.cycles * (self.config.fm_epochs + self.config.difftre_updates)
    }

    /// Which sub-trainer runs step `step` (from 0) of the schedule.
    fn phase_of(&self, step: usize) -> InterleavedPhase {
        let period = self.config.fm_epochs + self.config.difftre_updates;
        if step % period < self.config.fm_epochs {
            InterleavedPhase::ForceMatching
        } else {
            InterleavedPhase::DiffTRe
        }
    }

    fn last_phase(&self) -> Option<InterleavedPhase> {
        self.step.checked_sub(1).map(|s| self.phase_of(s))
    }

    /// One step (an epoch or an update, whichever is next in the schedule); checkpoint
    /// and metrics if configured.
    pub fn step(&mut self) -> Result<&InterleavedStep> {
        trainloop::step(self)
    }

    /// Runs the remaining steps.
    pub fn train(&mut self) -> Result<&[InterleavedStep]> {
        trainloop::train(self)?;
        Ok(&self.history)
    }

    /// Writes a checkpoint atomically. The force-matching trainer's checkpoint passes
    /// through `<path>.fm` (removed again) on its way into the one file.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let part = part_path(path);
        self.fm.save_checkpoint(&part)?;
        let force_matching = read_bytes(&part)?;
        std::fs::remove_file(&part).map_err(|e| io_error(&part, e))?;
        save_checkpoint(
            path,
            KIND,
            &InterleavedCheckpoint {
                step: self.step,
                history: self.history.clone(),
                force_matching,
                difftre: self.difftre.checkpoint_state(),
            },
        )
    }

    /// Continues from a checkpoint of a run with the same settings, data, targets and
    /// a model built the same way.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let c: InterleavedCheckpoint = load_checkpoint(path, KIND)?;
        if c.step > self.steps_planned() || c.history.len() != c.step {
            return Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                reason: format!("at step {} of {} planned", c.step, self.steps_planned()),
            });
        }
        let part = part_path(path);
        std::fs::write(&part, &c.force_matching).map_err(|e| io_error(&part, e))?;
        let restored = self.fm.resume(&part);
        std::fs::remove_file(&part).map_err(|e| io_error(&part, e))?;
        restored?;
        self.difftre.restore_state(c.difftre, path)?;
        self.step = c.step;
        self.history = c.history;
        Ok(())
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".fm");
    PathBuf::from(name)
}

impl<M: EnergyModel + Clone + 'static> TrainLoop for Interleaved<M> {
    type Row = InterleavedStep;
    const UNIT: &'static str = "steps";

    fn settings(&self) -> LoopSettings<'_> {
        LoopSettings {
            planned: self.steps_planned(),
            progress: self.config.progress,
            checkpoint: self.config.checkpoint.as_deref(),
            metrics: self.config.metrics.as_deref(),
        }
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    fn advance(&mut self) -> Result<()> {
        let start = Instant::now();
        let phase = self.phase_of(self.step);
        // The sub-trainer that ran last holds the current parameters.
        if let Some(last) = self.last_phase().filter(|&l| l != phase) {
            match last {
                InterleavedPhase::ForceMatching => {
                    self.difftre.set_parameters(&self.fm.model().parameters())?
                }
                InterleavedPhase::DiffTRe => {
                    self.fm.set_parameters(&self.difftre.model().parameters())?
                }
            }
        }
        let (index, loss, validation_loss) = match phase {
            InterleavedPhase::ForceMatching => {
                let e = self.fm.run_epoch()?;
                (e.epoch, e.train_loss, e.validation_loss)
            }
            InterleavedPhase::DiffTRe => {
                let u = self.difftre.update()?;
                (u.update, u.loss, None)
            }
        };
        let period = self.config.fm_epochs + self.config.difftre_updates;
        self.history.push(InterleavedStep {
            step: self.step + 1,
            cycle: self.step / period + 1,
            phase,
            index,
            loss,
            validation_loss,
            seconds: start.elapsed().as_secs_f64(),
        });
        self.step += 1;
        Ok(())
    }

    fn rows(&self) -> &[InterleavedStep] {
        &self.history
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        self.save_checkpoint(path)
    }

    fn message(s: &InterleavedStep) -> String {
        let name = match s.phase {
            InterleavedPhase::ForceMatching => "FM",
            InterleavedPhase::DiffTRe => "DiffTRe",
        };
        format!("cycle {}  {name} loss {:.3e}", s.cycle, s.loss)
    }
}
