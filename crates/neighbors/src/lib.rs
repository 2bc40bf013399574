//! Neighbor lists for molecular simulation.
//!
//! - [`CellList`]: a one-shot list of all pairs within a cutoff, built by binning atoms in
//!   fractional coordinates (linear in the number of atoms).
//! - [`NeighborList`]: a Verlet list with a skin, stored compactly (CSR over real atoms and
//!   their periodic "ghost" images, as LAMMPS does). It decides by itself when to rebuild
//!   (two atoms together moved more than the skin, or the box changed) and grows its storage as
//!   needed: there is no capacity to overflow.
//! - [`brute_force_pairs`]: the O(N²) reference the other two are tested against.
//!
//! All three work in open, orthorhombic and triclinic boxes, including small cells where
//! the cutoff exceeds half a perpendicular width: then an atom meets several images of
//! the same neighbour (and images of itself), and each appears as its own pair with its
//! own displacement vector. A pair stores the displacement **from `i` to `j`**
//! (`d = r_j + L − r_i` for the lattice vector `L` of that image) and its squared length.
//!
//! A [`ListKind::Half`] list holds each interaction once (reported as pairs with `i < j`,
//! or an atom and one of each pair of its own images `±L`); a [`ListKind::Full`] list holds
//! it from both sides.
//!
//! ```
//! use thermograd_geometry::{SimBox, Vec3};
//! use thermograd_neighbors::{brute_force_pairs, ListKind, NeighborList, NeighborListConfig};
//! let simbox = SimBox::from_lengths_angles([3.0, 3.0, 3.0], [80.0, 70.0, 60.0])?;
//! let positions: Vec<Vec3> = (0..20)
//!     .map(|k| Vec3::new(0.37 * k as f64, 0.61 * k as f64 % 2.0, 0.13 * k as f64))
//!     .collect();
//! let config = NeighborListConfig { cutoff: 2.5, skin: 0.3, kind: ListKind::Half };
//! let mut list = NeighborList::new(config)?;
//! list.update(&positions, &simbox)?;
//! let reference = brute_force_pairs(&positions, &simbox, 2.5, ListKind::Half)?;
//! assert_eq!(list.pairs_within_cutoff().len(), reference.len());
//! # Ok::<(), thermograd_neighbors::NeighborError>(())
//! ```
#![deny(missing_docs)]

mod brute;
mod cells;
mod error;
mod verlet;

pub use brute::brute_force_pairs;
pub use cells::CellList;
pub use error::{NeighborError, Result};
pub use verlet::{NeighborList, NeighborListConfig};

use serde::{Deserialize, Serialize};
use thermograd_geometry::Vec3;

/// Whether each interacting pair is listed once or from both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// Each interaction once (Newton's third law applied by the caller).
    Half,
    /// Each interaction from both atoms (no write conflicts in parallel loops).
    Full,
}

/// One interacting pair: atoms `i` and `j` (indices into the caller's position array), the
/// displacement `d` from `i` to the image of `j`, and `r2 = |d|²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    /// First atom.
    pub i: usize,
    /// Second atom (may equal `i` for a self-image in a small cell).
    pub j: usize,
    /// Displacement from `i` to the image of `j` (length units).
    pub d: Vec3,
    /// Squared distance (length² units).
    pub r2: f64,
}

impl Pair {
    /// The same interaction seen from the atom with the smaller index for half lists
    /// (`i ≤ j`; rows of a half list hold each pair in whichever atom's row comes first
    /// in bin order); full-list pairs are returned unchanged.
    pub(crate) fn oriented(self, kind: ListKind) -> Pair {
        if kind == ListKind::Half && self.j < self.i {
            Pair {
                i: self.j,
                j: self.i,
                d: -self.d,
                r2: self.r2,
            }
        } else {
            self
        }
    }
}

/// Sorts pairs into a canonical order (by `i`, `j`, then displacement), so lists built
/// by different methods can be compared element by element.
pub fn sort_pairs(pairs: &mut [Pair]) {
    pairs.sort_by(|a, b| {
        (a.i, a.j)
            .cmp(&(b.i, b.j))
            .then(a.d.x.total_cmp(&b.d.x))
            .then(a.d.y.total_cmp(&b.d.y))
            .then(a.d.z.total_cmp(&b.d.z))
    });
}

/// Whether an integer image shift is lexicographically positive; used to keep exactly one
/// of the two self-image pairs `(i, i, +L)` and `(i, i, −L)` in a half list.
pub(crate) fn shift_is_positive(shift: [i32; 3]) -> bool {
    shift.iter().find(|&&s| s != 0).is_some_and(|&s| s > 0)
}

pub(crate) fn check_positions(positions: &[Vec3]) -> Result<()> {
    if let Some(atom) = positions
        .iter()
        .position(|r| !(r.x.is_finite() && r.y.is_finite() && r.z.is_finite()))
    {
        return Err(NeighborError::NonFinitePosition { atom });
    }
    Ok(())
}

pub(crate) fn check_cutoff(cutoff: f64) -> Result<()> {
    if cutoff.is_finite() && cutoff > 0.0 {
        Ok(())
    } else {
        Err(NeighborError::InvalidCutoff { cutoff })
    }
}
