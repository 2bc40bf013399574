//! The error type of `thermograd-nn`.

use std::path::PathBuf;

use thermograd_cv::CvError;
use thermograd_geometry::GeometryError;
use thermograd_md::MdError;
use thermograd_neighbors::NeighborError;

/// Everything that can go wrong when building, evaluating, training or loading a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// A configuration value is out of its valid range.
    #[error("invalid configuration `{what}`: {reason}")]
    InvalidConfig {
        /// Which setting.
        what: &'static str,
        /// What is expected instead.
        reason: String,
    },
    /// Two inputs disagree in size.
    #[error("mismatched input: {what} (expected {expected}, got {got})")]
    Mismatch {
        /// What is mismatched.
        what: &'static str,
        /// Expected length or count.
        expected: usize,
        /// Actual length or count.
        got: usize,
    },
    /// An atom has a species the model has no network for.
    #[error("atom {atom} has species {species} but the model knows {n_species} species")]
    UnknownSpecies {
        /// Index of the atom.
        atom: usize,
        /// Its species.
        species: u32,
        /// Number of species of the model.
        n_species: usize,
    },
    /// An input or a result is NaN or infinite.
    #[error("{what} is not finite")]
    NonFinite {
        /// What was not finite.
        what: &'static str,
    },
    /// Two atoms are at the same place, where a descriptor is not differentiable.
    #[error("atoms {i} and {j} coincide")]
    CoincidentAtoms {
        /// First atom.
        i: usize,
        /// Second atom.
        j: usize,
    },
    /// The requested compute device is not available in this build.
    #[error("device {device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for.
        device: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// The tensor engine (dfdx) failed, e.g. to allocate memory.
    #[error("tensor engine error: {0}")]
    Engine(String),
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A parameter file is not a thermograd model file, or is truncated or corrupt.
    #[error("corrupt model file: {reason}")]
    CorruptFile {
        /// What was wrong.
        reason: String,
    },
    /// A parameter file was written by an unsupported format version.
    #[error("model file format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A parameter file holds a different kind of model or architecture than expected.
    #[error("model file holds architecture {found}, expected {expected}")]
    WrongArchitecture {
        /// What the caller expected.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A parameter file holds parameters of a different precision than expected.
    #[error("model file holds {found} parameters, expected {expected}")]
    WrongDtype {
        /// Precision the caller expected.
        expected: String,
        /// Precision in the file.
        found: String,
    },
    /// A model file could not be used; `source` says why (it is never another `File`).
    /// [`NnError::cause`] looks through this wrapper.
    #[error("model file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<NnError>,
    },
    /// An error from the geometry crate.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// An error from the neighbor-list crate.
    #[error(transparent)]
    Neighbors(#[from] NeighborError),
    /// An error from the MD crate.
    #[error(transparent)]
    Md(#[from] MdError),
    /// An error from the collective-variable crate.
    #[error(transparent)]
    Cv(#[from] CvError),
}

/// Result alias of this crate.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

impl From<dfdx::tensor::CpuError> for NnError {
    fn from(e: dfdx::tensor::CpuError) -> Self {
        NnError::Engine(e.to_string())
    }
}

impl NnError {
    /// Attaches the file `path` to an error met while decoding or checking it; an
    /// [`NnError::Io`] (which names its file already) and an error that already names a
    /// file are returned unchanged.
    pub fn in_file(self, path: &std::path::Path) -> NnError {
        match self {
            e @ (NnError::Io { .. } | NnError::File { .. }) => e,
            e => NnError::File {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    /// The error behind an [`NnError::File`] wrapper, or `self`: lets callers match on
    /// what was wrong (`CorruptFile`, `WrongArchitecture`, …) whether or not a file was
    /// named.
    pub fn cause(&self) -> &NnError {
        match self {
            NnError::File { source, .. } => source,
            e => e,
        }
    }

    /// Wraps this error as an [`MdError::Potential`] named `name`, for [`thermograd_md::Potential`]
    /// implementations.
    pub fn into_md(self, name: &str) -> MdError {
        match self {
            NnError::Md(e) => e,
            e => MdError::Potential {
                name: name.to_string(),
                source: Box::new(e),
            },
        }
    }

    /// Wraps this error as a [`CvError`] for [`thermograd_cv::CollectiveVariable`]
    /// implementations.
    pub fn into_cv(self) -> CvError {
        match self {
            NnError::Cv(e) => e,
            NnError::Geometry(e) => CvError::Geometry(e),
            NnError::NonFinite { what } => CvError::NonFinite { what },
            NnError::Mismatch {
                what,
                expected,
                got,
            } => CvError::LengthMismatch {
                what,
                expected,
                got,
            },
            e => CvError::InvalidDefinition {
                reason: e.to_string(),
            },
        }
    }
}

pub(crate) fn config_error(what: &'static str, reason: impl Into<String>) -> NnError {
    NnError::InvalidConfig {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(NnError::Mismatch {
            what,
            expected,
            got,
        })
    }
}
