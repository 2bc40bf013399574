//! Errors of the trainers.

use std::path::PathBuf;

use thiserror::Error;

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

/// What can go wrong while loading data or training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A model evaluation failed.
    #[error(transparent)]
    Nn(#[from] thermograd_nn::NnError),
    /// A simulation failed.
    #[error(transparent)]
    Md(#[from] thermograd_md::MdError),
    /// A collective variable failed.
    #[error(transparent)]
    Cv(#[from] thermograd_cv::CvError),
    /// An estimator failed.
    #[error(transparent)]
    Estimators(#[from] thermograd_estimators::EstimatorError),
    /// A geometric operation (box, coarse-grain map) failed.
    #[error(transparent)]
    Geometry(#[from] thermograd_geometry::GeometryError),
    /// A neighbor search failed.
    #[error(transparent)]
    Neighbors(#[from] thermograd_neighbors::NeighborError),
    /// A collective operation over ranks failed, or another rank's share of the work
    /// did (see that rank's error).
    #[error(transparent)]
    Dist(#[from] thermograd_dist::DistError),
    /// A structure lacks a label the trainer needs.
    #[error("structure #{index} has no {what}")]
    MissingLabel {
        /// The label (energy, forces, virial).
        what: &'static str,
        /// The structure's index in its dataset.
        index: usize,
    },
    /// A checkpoint cannot be used.
    #[error("{path}: not a usable checkpoint: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file's content is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the place (line, entry) where known.
        reason: String,
    },
    /// A setting or an argument is invalid.
    #[error("invalid {what}: {reason}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A value that must be finite is not.
    #[error("non-finite {what}")]
    NonFinite {
        /// The quantity.
        what: &'static str,
    },
}

/// A [`TrainError::Config`].
pub(crate) fn config_error(what: &'static str, reason: impl Into<String>) -> TrainError {
    TrainError::Config {
        what,
        reason: reason.into(),
    }
}
