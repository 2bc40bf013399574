//! The error type of `thermograd-neighbors`.

use thermograd_geometry::GeometryError;

/// Everything that can go wrong when building a neighbor list.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NeighborError {
    /// The cutoff is not a positive finite number.
    #[error("cutoff must be positive and finite, got {cutoff}")]
    InvalidCutoff {
        /// The offending cutoff.
        cutoff: f64,
    },
    /// The skin is negative or not finite.
    #[error("skin must be non-negative and finite, got {skin}")]
    InvalidSkin {
        /// The offending skin.
        skin: f64,
    },
    /// A position contains NaN or infinity.
    #[error("position of atom {atom} is not finite")]
    NonFinitePosition {
        /// Index of the atom.
        atom: usize,
    },
    /// An atom lies so many cell lengths outside the periodic cell that its lattice shift
    /// does not fit the list's 32-bit integers (a simulation that blew up).
    #[error(
        "atom {atom} lies {cells:e} cell lengths outside the periodic cell \
         (at most 2^30 are supported)"
    )]
    AtomTooFar {
        /// Index of the atom.
        atom: usize,
        /// Its largest distance from the cell along a cell vector, in cell lengths.
        cells: f64,
    },
    /// The cell is so thin next to the list's reach (cutoff plus skin) that its atoms
    /// and their periodic images would be more than 2^16 per atom or 2^32 in all.
    #[error(
        "the cell is {width:e} wide where the list reaches {reach}: about {entries:.3e} \
         atoms and periodic images, more than the list allows (2^16 per atom, 2^32 in \
         all); is the box in the right units?"
    )]
    CellTooThin {
        /// The smallest perpendicular width of the cell (length units).
        width: f64,
        /// Cutoff plus skin (length units).
        reach: f64,
        /// The estimated number of atoms and images.
        entries: f64,
    },
    /// More atoms and images than a 32-bit index can address.
    #[error("{count} atoms and periodic images exceed the 2^32 the list can index")]
    TooManyAtoms {
        /// How many entries were needed.
        count: usize,
    },
    /// An error from the geometry crate.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
}

/// Result alias of this crate.
pub type Result<T, E = NeighborError> = std::result::Result<T, E>;
