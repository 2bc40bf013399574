//! The error type of `thermograd-cv`.

use thermograd_geometry::GeometryError;
use thermograd_md::MdError;

/// Everything that can go wrong when building or evaluating collective variables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CvError {
    /// An atom index outside the configuration.
    #[error("atom index {index} is out of range for {n_atoms} atoms")]
    AtomOutOfRange {
        /// The index.
        index: usize,
        /// Number of atoms in the configuration.
        n_atoms: usize,
    },
    /// A CV definition that makes no sense (repeated atoms, empty group, bad parameter).
    #[error("invalid collective variable: {reason}")]
    InvalidDefinition {
        /// What is wrong.
        reason: String,
    },
    /// The CV's gradient is undefined at this configuration (e.g. two atoms on top of
    /// each other for a distance, collinear atoms for an angle or dihedral).
    #[error("{cv} is singular here: {reason}")]
    Singular {
        /// Which CV.
        cv: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A position or parameter that must be finite is not.
    #[error("{what} is not finite")]
    NonFinite {
        /// What was not finite.
        what: &'static str,
    },
    /// Array lengths that must agree do not.
    #[error("{what}: expected length {expected}, got {got}")]
    LengthMismatch {
        /// Which array.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A simulation run for a window failed.
    #[error("umbrella window {window}: {source}")]
    Simulation {
        /// Window index.
        window: usize,
        /// The simulation's error.
        #[source]
        source: MdError,
    },
    /// A metadynamics walker's simulation failed.
    #[error("metadynamics walker {replica}: {source}")]
    Walker {
        /// Replica index.
        replica: usize,
        /// The simulation's error.
        #[source]
        source: MdError,
    },
    /// An error from the geometry crate.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
}

/// Result alias of this crate.
pub type Result<T, E = CvError> = std::result::Result<T, E>;
