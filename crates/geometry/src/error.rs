//! The error type of `thermograd-geometry`.

/// Everything that can go wrong when building boxes or mappings from user input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryError {
    /// A number that must be finite was NaN or infinite.
    #[error("{what} is not finite ({value})")]
    NonFinite {
        /// Which input was bad.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A box length that must be positive was zero or negative.
    #[error("box length {axis} must be positive, got {value}")]
    NonPositiveLength {
        /// Axis name (`a`, `b`, `c`).
        axis: &'static str,
        /// The offending length.
        value: f64,
    },
    /// The cell matrix has zero or negative volume (degenerate or left-handed).
    #[error("cell volume must be positive (a right-handed, non-degenerate cell), got {volume}")]
    NonPositiveVolume {
        /// The signed volume det(h).
        volume: f64,
    },
    /// A cell whose perpendicular widths are not positive and finite in floating point
    /// (edges so long that their products overflow).
    #[error(
        "the cell's perpendicular widths {widths:?} are not positive and finite: its edges \
         are too long to compute with"
    )]
    UnrepresentableCell {
        /// The widths as computed (length units).
        widths: [f64; 3],
    },
    /// Cell angles that do not describe a real parallelepiped.
    #[error(
        "cell angles alpha={alpha}, beta={beta}, gamma={gamma} (degrees) do not form a valid cell"
    )]
    InvalidAngles {
        /// Angle between b and c, degrees.
        alpha: f64,
        /// Angle between a and c, degrees.
        beta: f64,
        /// Angle between a and b, degrees.
        gamma: f64,
    },
    /// An operation that needs a periodic cell was asked of an open box.
    #[error("{operation} needs a periodic box, but the box is open")]
    NotPeriodic {
        /// The operation requested.
        operation: &'static str,
    },
    /// A cutoff larger than the box allows for the requested treatment.
    #[error("cutoff {cutoff} exceeds the largest cutoff {max} this box supports here")]
    CutoffTooLarge {
        /// Requested cutoff, length units.
        cutoff: f64,
        /// Largest supported cutoff, length units.
        max: f64,
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
    /// An atom index outside `0..n_atoms`.
    #[error("atom index {index} is out of range for {n_atoms} atoms")]
    AtomOutOfRange {
        /// The index.
        index: usize,
        /// Number of atoms.
        n_atoms: usize,
    },
    /// A coarse-grain map that violates a consistency condition.
    #[error("invalid coarse-grain map: bead {bead}: {reason}")]
    InvalidMap {
        /// Bead index.
        bead: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = GeometryError> = std::result::Result<T, E>;

/// Returns an error when `value` is NaN or infinite.
pub(crate) fn check_finite(what: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(GeometryError::NonFinite { what, value })
    }
}
