//! Periodic geometry for molecular simulation.
//!
//! - [`SimBox`]: open, orthorhombic and triclinic boxes, with fractional coordinates,
//!   wrapping, perpendicular widths, affine deformation (for barostats) and an exact
//!   minimum image for every cell, however skewed.
//! - [`LinearMap`]: coarse-grain mappings of positions and forces (center of mass or any
//!   consistent linear map), honouring periodic images inside a bead.
//!
//! Lengths are in whatever unit the caller uses (nm in files and the CLI; σ in reduced
//! Lennard-Jones units). Bad input (non-finite numbers, non-positive volume, left-handed
//! cells) is a [`GeometryError`].
//!
//! ```
//! use thermograd_geometry::{SimBox, Vec3};
//! let b = SimBox::orthorhombic([4.0, 5.0, 6.0])?;
//! let d = b.displacement(&Vec3::new(0.5, 0.5, 0.5), &Vec3::new(3.5, 0.5, 0.5));
//! assert_eq!(d, Vec3::new(-1.0, 0.0, 0.0));
//! assert_eq!(b.max_single_image_cutoff(), 2.0);
//! # Ok::<(), thermograd_geometry::GeometryError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod mapping;
mod simbox;

pub use error::{GeometryError, Result};
pub use mapping::{Bead, LinearMap};
pub use simbox::{scale_positions, BoxKind, SimBox};

/// A 3-vector of `f64` (positions, displacements, forces).
pub type Vec3 = nalgebra::Vector3<f64>;
/// A 3×3 matrix of `f64` (cells, virials, deformations).
pub type Mat3 = nalgebra::Matrix3<f64>;
