//! The error type of `thermograd-dist`.

use thermograd_cv::CvError;
use thermograd_md::MdError;

/// Everything that can go wrong when distributing work over processes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// MPI was initialised before in this process (it can be only once).
    #[error("MPI is already initialised in this process")]
    AlreadyInitialized,
    /// A message does not fit MPI's `int` element counts.
    #[error("a message of {bytes} bytes exceeds MPI's limit of {max} elements")]
    MessageTooLarge {
        /// Size of the message (bytes).
        bytes: usize,
        /// The largest count MPI accepts.
        max: usize,
    },
    /// Ranks disagree on the length of a collective operation's buffer.
    #[error("{what}: rank {rank} has length {got}, expected {expected}")]
    LengthMismatch {
        /// Which operation.
        what: &'static str,
        /// The rank with the odd length.
        rank: usize,
        /// The length on the root.
        expected: usize,
        /// The length on `rank`.
        got: usize,
    },
    /// A received message could not be decoded.
    #[error("cannot decode {what} received from rank {rank}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The sending rank.
        rank: usize,
        /// The decoder's message.
        reason: String,
    },
    /// A configuration that makes no sense.
    #[error("invalid {name}: {reason}")]
    InvalidConfig {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A checkpoint that does not belong to this job.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A rank's own work failed; the error is reported on that rank.
    #[error("rank {rank} failed: {message}")]
    RemoteFailure {
        /// The rank that failed.
        rank: usize,
        /// Its error message.
        message: String,
    },
    /// An error from collective-variable code (umbrella windows).
    #[error(transparent)]
    Cv(#[from] CvError),
    /// An error from molecular dynamics (replicas).
    #[error(transparent)]
    Md(#[from] MdError),
}

/// `Result` with [`DistError`].
pub type Result<T, E = DistError> = std::result::Result<T, E>;
