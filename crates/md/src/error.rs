//! The error type of `thermograd-md`.

use std::path::PathBuf;

use thermograd_geometry::GeometryError;
use thermograd_neighbors::NeighborError;

/// Everything that can go wrong when setting up or running a simulation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MdError {
    /// A configuration parameter is out of its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What is expected instead.
        reason: &'static str,
    },
    /// Two inputs disagree in length or content.
    #[error("mismatched input: {what} (expected {expected}, got {got})")]
    Mismatch {
        /// What is mismatched.
        what: &'static str,
        /// Expected length or count.
        expected: usize,
        /// Actual length or count.
        got: usize,
    },
    /// A species index has no parameters.
    #[error("atom {atom} has species {species} but only {n_species} species are parameterised")]
    UnknownSpecies {
        /// Index of the atom.
        atom: usize,
        /// Its species.
        species: u32,
        /// Number of species with parameters.
        n_species: usize,
    },
    /// The energy (or a force) became NaN or infinite.
    #[error("energy became non-finite ({energy}) at step {step}")]
    NonFiniteEnergy {
        /// Step at which it happened.
        step: u64,
        /// The energy that was computed.
        energy: f64,
    },
    /// A running simulation became unphysical; `cause` says how.
    #[error("simulation stopped at step {step}: {cause}")]
    Fault {
        /// The step at which the fault was detected.
        step: u64,
        /// What went wrong.
        cause: Fault,
    },
    /// A position or velocity is NaN or infinite.
    #[error("{what} of atom {atom} is not finite")]
    NonFinite {
        /// "position" or "velocity".
        what: &'static str,
        /// Index of the atom.
        atom: usize,
    },
    /// Two atoms are closer than allowed.
    #[error("atoms {i} and {j} overlap (distance {distance:.3e} < {min_distance:.3e})")]
    AtomsOverlap {
        /// First atom.
        i: usize,
        /// Second atom.
        j: usize,
        /// Their distance (length units).
        distance: f64,
        /// The smallest distance allowed (length units).
        min_distance: f64,
    },
    /// A cutoff exceeds what the method or box supports.
    #[error("cutoff {cutoff} exceeds the largest allowed value {max}")]
    CutoffTooLarge {
        /// The requested cutoff (length units).
        cutoff: f64,
        /// The largest allowed cutoff (length units).
        max: f64,
    },
    /// The method needs a periodic box.
    #[error("{what} needs a periodic box")]
    NeedsPeriodicBox {
        /// The method.
        what: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint file could not be decoded.
    #[error("corrupt checkpoint {path}: {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A valid checkpoint of a different system than the simulation resuming from it.
    #[error("checkpoint {path} is of a different system: {what}")]
    CheckpointMismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// Saved integrator state could not be decoded.
    #[error("cannot decode the saved state of {what}: {reason}")]
    Decode {
        /// Whose state.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A trajectory file could not be parsed.
    #[error("cannot parse {path} at line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A potential defined in another crate (a collective-variable bias, a neural
    /// network) failed; `source` is that crate's own error.
    #[error("potential `{name}` failed: {source}")]
    Potential {
        /// The potential's name.
        name: String,
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An error from the geometry crate.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// An error from the neighbor-list crate.
    #[error(transparent)]
    Neighbors(#[from] NeighborError),
    /// An iterative method (an energy minimiser, a parameter choice) did not converge.
    #[error("{what} did not converge in {iterations} iterations (residual {residual:.3e} > tolerance {tolerance:.3e})")]
    NotConverged {
        /// The method.
        what: &'static str,
        /// Iterations done.
        iterations: u64,
        /// The residual reached (for minimisers, the largest force in energy/length units).
        residual: f64,
        /// The tolerance asked for.
        tolerance: f64,
    },
    /// A pair distance falls below the first point of a tabulated potential.
    #[error("pair distance {r} is below the first point {r_min} of the table")]
    OutsideTable {
        /// The shortest offending distance (length units).
        r: f64,
        /// The first tabulated distance (length units).
        r_min: f64,
    },
    /// A bonded term spans more than half the shortest lattice vector, so its
    /// minimum image is ambiguous.
    #[error(
        "{what} between atoms {i} and {j} spans {distance}, beyond the single-image limit {max}"
    )]
    AmbiguousImage {
        /// The kind of term ("bond", "angle", "dihedral", "restraint").
        what: &'static str,
        /// First atom.
        i: usize,
        /// Second atom.
        j: usize,
        /// The minimum-image distance (length units).
        distance: f64,
        /// Half the shortest lattice vector (length units).
        max: f64,
    },
}

/// The physical faults a running simulation detects (see
/// [`crate::FaultChecks`]); carried by [`MdError::Fault`] with the step.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// Two atoms (or an atom and a periodic image) came closer than allowed.
    #[error("atoms {i} and {j} overlap (distance {distance:.3e} < {min_distance:.3e})")]
    Overlap {
        /// First atom.
        i: usize,
        /// Second atom.
        j: usize,
        /// Their distance (length units).
        distance: f64,
        /// The smallest distance allowed (length units).
        min_distance: f64,
    },
    /// The instantaneous temperature ran away.
    #[error("temperature exploded: kT = {kt:.4e} > {max_kt:.4e} (time step too large, or overlapping atoms?)")]
    TemperatureExploded {
        /// Instantaneous `kT` (energy units).
        kt: f64,
        /// The largest `kT` allowed (energy units).
        max_kt: f64,
    },
    /// The box shrank (or grew) out of control under the barostat.
    #[error("the box collapsed: volume {volume:.4e} (limit {limit:.4e}); {reason}")]
    BoxCollapsed {
        /// The volume reached (length³).
        volume: f64,
        /// The bound it crossed (length³).
        limit: f64,
        /// Which bound.
        reason: &'static str,
    },
    /// An atom flew so far out of the periodic cell in one step that the neighbor list
    /// cannot wrap it back: the run blew up.
    #[error(
        "atom {atom} flew {cells:.3e} cell lengths out of the periodic cell (time step too \
         large, or overlapping atoms?)"
    )]
    AtomEscaped {
        /// Index of the atom.
        atom: usize,
        /// How far outside the cell it is, in cell lengths.
        cells: f64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = MdError> = std::result::Result<T, E>;

pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(MdError::InvalidParameter {
            name,
            value,
            reason: "must be positive and finite",
        })
    }
}

pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(MdError::InvalidParameter {
            name,
            value,
            reason: "must be non-negative and finite",
        })
    }
}
