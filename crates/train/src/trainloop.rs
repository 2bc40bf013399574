//! The loop the potential trainers share ([`crate::ForceMatching`], [`crate::DiffTRe`],
//! [`crate::RelativeEntropy`]): one step (an epoch or an update) appends a metrics row,
//! then the checkpoint and the metrics file are rewritten, so that an interrupted run
//! loses at most the step in flight; `train` repeats steps under a progress bar.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_metrics;
use crate::error::{Result, TrainError};
use crate::model::EnergyModel;
use crate::optim::{Optimizer, StepInfo};
use crate::reweight::StatepointState;

/// How long a trainer runs and what it writes after each step.
pub(crate) struct LoopSettings<'a> {
    /// Steps planned (epochs or updates).
    pub planned: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Checkpoint rewritten after every step.
    pub checkpoint: Option<&'a Path>,
    /// Metrics file rewritten after every step.
    pub metrics: Option<&'a Path>,
}

/// A trainer driven by [`step`] and [`train`].
pub(crate) trait TrainLoop {
    /// Metrics of one step.
    type Row: Serialize;
    /// What a step is called on the progress bar (plural).
    const UNIT: &'static str;

    /// Length of the run and outputs.
    fn settings(&self) -> LoopSettings<'_>;
    /// Steps done so far.
    fn steps_done(&self) -> usize;
    /// Whether the trainer stopped before the planned steps (early stopping).
    fn stopped(&self) -> bool {
        false
    }
    /// Does one step and appends its row to the history.
    fn advance(&mut self) -> Result<()>;
    /// Rows of the steps done so far.
    fn rows(&self) -> &[Self::Row];
    /// Writes a checkpoint atomically.
    fn write_checkpoint(&self, path: &Path) -> Result<()>;
    /// Progress-bar message after a step.
    fn message(row: &Self::Row) -> String;
}

/// Whether training is over: all planned steps done, or stopped early.
pub(crate) fn finished<T: TrainLoop>(t: &T) -> bool {
    t.stopped() || t.steps_done() >= t.settings().planned
}

/// One step, then the checkpoint and the metrics file if configured; returns its row.
pub(crate) fn step<T: TrainLoop>(t: &mut T) -> Result<&T::Row> {
    t.advance()?;
    let settings = t.settings();
    if let Some(path) = settings.checkpoint {
        t.write_checkpoint(path)?;
    }
    if let Some(path) = settings.metrics {
        write_metrics(path, t.rows())?;
    }
    Ok(t.rows().last().expect("just pushed"))
}

/// Runs the remaining steps under a progress bar (hidden unless configured).
pub(crate) fn train<T: TrainLoop>(t: &mut T) -> Result<()> {
    let settings = t.settings();
    let bar = if settings.progress {
        let bar = ProgressBar::new(settings.planned as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} {}  {{msg}}  eta {{eta}}",
                T::UNIT
            ))
            .expect("valid template"),
        );
        bar.set_position(t.steps_done() as u64);
        bar
    } else {
        ProgressBar::hidden()
    };
    while !finished(t) {
        let row = step(t)?;
        bar.set_message(T::message(row));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// One optimizer step of `model`'s parameters along `gradient` at step `step` of `total`.
pub(crate) fn apply_gradient<M: EnergyModel + ?Sized>(
    model: &mut M,
    optimizer: &mut Optimizer,
    gradient: &[f64],
    step: usize,
    total: usize,
) -> Result<StepInfo> {
    let mut p = model.parameters();
    let info = optimizer.step(&mut p, gradient, step, total)?;
    model.set_parameters(&p)?;
    Ok(info)
}

/// Sets `model`'s parameters from a checkpoint read from `path`, checking their count.
pub(crate) fn restore_parameters<M: EnergyModel + ?Sized>(
    model: &mut M,
    parameters: &[f64],
    path: &Path,
) -> Result<()> {
    if parameters.len() != model.n_parameters() {
        return Err(TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!(
                "{} parameters, the model has {}",
                parameters.len(),
                model.n_parameters()
            ),
        });
    }
    Ok(model.set_parameters(parameters)?)
}

/// Checkpoint of the trainers that sample states ([`crate::DiffTRe`],
/// [`crate::RelativeEntropy`]); `R` is the metrics row of one update.
#[derive(Serialize, Deserialize)]
pub(crate) struct SamplingCheckpoint<R> {
    pub parameters: Vec<f64>,
    pub optimizer: Optimizer,
    pub update: usize,
    pub history: Vec<R>,
    pub statepoint: StatepointState,
}
