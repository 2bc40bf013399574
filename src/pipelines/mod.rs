//! End-to-end pipelines that combine the component crates into complete experiments.
//!
//! - [`ion_pair`]: the free energy of an ion pair in a Lennard-Jones solvent along the
//!   ion–ion distance, with neural-network surrogates of the distance and of the
//!   cation's coordination number (Pathirage et al., arXiv:2510.01396, at laptop
//!   scale): MD sampling, surrogate training and evaluation, umbrella sampling with the
//!   analytic and the learned CV, Gaussian-process and MBAR profiles, CSV files, SVG
//!   plots and a summary table. `thermograd demo ion-pair` and the `ion_pair_fes`
//!   example run it.
//!
//! A pipeline is a plain config struct with a `run` method returning a report; it
//! re-implements nothing, it only composes the crates' public APIs (read its source as
//! a guide to combining them).

pub mod ion_pair;
mod plot;

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Result with [`PipelineError`].
pub type Result<T> = std::result::Result<T, PipelineError>;

/// What can go wrong in a pipeline: the component crates' errors, file output, and
/// settings that do not fit together.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Simulation.
    #[error(transparent)]
    Md(#[from] crate::md::MdError),
    /// Collective variables and umbrella sampling.
    #[error(transparent)]
    Cv(#[from] crate::cv::CvError),
    /// Networks.
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    /// Training.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Gaussian-process regression.
    #[error(transparent)]
    Gpr(#[from] crate::gpr::GprError),
    /// Estimators (MBAR).
    #[error(transparent)]
    Estimators(#[from] crate::estimators::EstimatorError),
    /// Geometry.
    #[error(transparent)]
    Geometry(#[from] crate::geometry::GeometryError),
    /// Writing an output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A setting is invalid or inconsistent with another.
    #[error("invalid {what}: {reason}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The data do not support an analysis step (e.g. no profile feature found).
    #[error("{what}: {reason}")]
    Analysis {
        /// The step.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

pub(crate) fn config_error(what: &'static str, reason: impl Into<String>) -> PipelineError {
    PipelineError::Config {
        what,
        reason: reason.into(),
    }
}

/// Writes `text` to `path` through a temporary file and a rename, so an interrupted
/// run never leaves a half-written output behind.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let io = |source| PipelineError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
