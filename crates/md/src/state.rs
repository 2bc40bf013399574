//! The simulation state: explicit, serializable data.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox, Vec3};

use crate::error::check_positive;
use crate::{MdError, Result};

/// Positions, velocities, masses, species, box, step and time of a system.
///
/// Units are those of the caller (nm, ps, u in the GROMACS set; σ, τ, m in reduced LJ
/// units). Positions need not be wrapped into the box: potentials and neighbor lists
/// handle periodic images, and unwrapped positions keep displacements meaningful for
/// diffusion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Positions (length).
    pub positions: Vec<Vec3>,
    /// Velocities (length/time).
    pub velocities: Vec<Vec3>,
    /// Masses (mass).
    pub masses: Vec<f64>,
    /// Species index of each atom.
    pub species: Vec<u32>,
    /// The box (serialized as an externally tagged record, so that non-self-describing
    /// formats such as bincode can hold it).
    #[serde(with = "box_serde")]
    pub simbox: SimBox,
    /// Number of steps taken.
    pub step: u64,
    /// Simulated time (time).
    pub time: f64,
}

impl State {
    /// A state at rest. Checks lengths, finite positions and positive masses.
    pub fn new(
        positions: Vec<Vec3>,
        masses: Vec<f64>,
        species: Vec<u32>,
        simbox: SimBox,
    ) -> Result<Self> {
        let n = positions.len();
        let velocities = vec![Vec3::zeros(); n];
        let state = State {
            positions,
            velocities,
            masses,
            species,
            simbox,
            step: 0,
            time: 0.0,
        };
        state.validate()?;
        Ok(state)
    }

    /// Checks array lengths, finite positions and velocities and positive masses.
    pub fn validate(&self) -> Result<()> {
        let n = self.positions.len();
        for (what, got) in [
            ("velocities length", self.velocities.len()),
            ("masses length", self.masses.len()),
            ("species length", self.species.len()),
        ] {
            if got != n {
                return Err(MdError::Mismatch {
                    what,
                    expected: n,
                    got,
                });
            }
        }
        for (what, v) in [
            ("position", &self.positions),
            ("velocity", &self.velocities),
        ] {
            if let Some(atom) = v.iter().position(|r| !r.iter().all(|x| x.is_finite())) {
                return Err(MdError::NonFinite { what, atom });
            }
        }
        for &m in &self.masses {
            check_positive("mass", m)?;
        }
        Ok(())
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.positions.len()
    }

    /// Kinetic energy `Σ ½ m v²` (energy).
    pub fn kinetic_energy(&self) -> f64 {
        0.5 * self
            .velocities
            .iter()
            .zip(&self.masses)
            .map(|(v, m)| m * v.norm_squared())
            .sum::<f64>()
    }

    /// Kinetic tensor `Σ m v ⊗ v` (energy), the kinetic part of `P·V`.
    pub fn kinetic_tensor(&self) -> Mat3 {
        let mut k = Mat3::zeros();
        for (v, m) in self.velocities.iter().zip(&self.masses) {
            k += *m * v * v.transpose();
        }
        k
    }

    /// Total momentum (mass·length/time).
    pub fn momentum(&self) -> Vec3 {
        self.velocities
            .iter()
            .zip(&self.masses)
            .map(|(v, m)| *m * v)
            .sum()
    }

    /// Removes the centre-of-mass velocity.
    pub fn remove_com_velocity(&mut self) {
        let total_mass: f64 = self.masses.iter().sum();
        if total_mass > 0.0 {
            let vcm = self.momentum() / total_mass;
            for v in &mut self.velocities {
                *v -= vcm;
            }
        }
    }

    /// Draws Maxwell–Boltzmann velocities at `kt` (energy) with a seeded generator,
    /// removes the centre-of-mass velocity and rescales so that the temperature with
    /// `3N − 3` degrees of freedom is exactly `kt` (as LAMMPS' `velocity … create`).
    pub fn thermalize(&mut self, kt: f64, seed: u64) -> Result<()> {
        check_positive("kT", kt)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for (v, m) in self.velocities.iter_mut().zip(&self.masses) {
            let s = (kt / m).sqrt();
            *v = Vec3::from_fn(|_, _| {
                let z: f64 = StandardNormal.sample(&mut rng);
                s * z
            });
        }
        self.remove_com_velocity();
        let dof = (3 * self.n_atoms()).saturating_sub(3).max(1) as f64;
        let t = 2.0 * self.kinetic_energy() / dof;
        if t > 0.0 {
            let f = (kt / t).sqrt();
            for v in &mut self.velocities {
                *v *= f;
            }
        }
        Ok(())
    }

    /// Number density `N/V` (length⁻³), if the box is periodic.
    pub fn density(&self) -> Option<f64> {
        self.simbox.volume().map(|v| self.n_atoms() as f64 / v)
    }
}

/// A face-centred cubic crystal of `cells³` conventional cubic cells (4 atoms each) at
/// number density `density` (length⁻³), in a cubic box; atoms are ordered cell by cell
/// (LAMMPS `lattice fcc`).
pub fn fcc_lattice(cells: usize, density: f64) -> Result<(Vec<Vec3>, SimBox)> {
    check_positive("density", density)?;
    if cells == 0 {
        return Err(MdError::InvalidParameter {
            name: "cells",
            value: 0.0,
            reason: "need at least one unit cell",
        });
    }
    let a = (4.0 / density).cbrt();
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut r = Vec::with_capacity(4 * cells.pow(3));
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                for b in basis {
                    r.push(Vec3::new(i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]) * a);
                }
            }
        }
    }
    Ok((r, SimBox::cubic(cells as f64 * a)?))
}

/// Number of degrees of freedom `3N − removed` (at least 1).
pub fn degrees_of_freedom(n_atoms: usize, removed: usize) -> usize {
    (3 * n_atoms).saturating_sub(removed).max(1)
}

/// Temperature `kT = 2K / n_dof` (energy).
pub fn temperature(kinetic_energy: f64, dof: usize) -> f64 {
    2.0 * kinetic_energy / dof as f64
}

/// Scalar pressure `(tr(Σ m v⊗v) + tr W) / (3V)` (energy/volume).
pub fn pressure(kinetic_tensor: &Mat3, virial: &Mat3, volume: f64) -> f64 {
    (kinetic_tensor.trace() + virial.trace()) / (3.0 * volume)
}

/// Pressure tensor `(Σ m v⊗v + W) / V` (energy/volume).
pub fn pressure_tensor(kinetic_tensor: &Mat3, virial: &Mat3, volume: f64) -> Mat3 {
    (kinetic_tensor + virial) / volume
}

/// A serde form of [`SimBox`] that works with bincode: an externally tagged enum,
/// re-validated through the constructors on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum BoxRecord {
    Open,
    Orthorhombic([f64; 3]),
    Triclinic(Mat3),
}

impl From<&SimBox> for BoxRecord {
    fn from(b: &SimBox) -> Self {
        match (b.kind(), b.cell()) {
            (thermograd_geometry::BoxKind::Orthorhombic, Some(h)) => {
                BoxRecord::Orthorhombic([h[(0, 0)], h[(1, 1)], h[(2, 2)]])
            }
            (_, Some(h)) => BoxRecord::Triclinic(*h),
            (_, None) => BoxRecord::Open,
        }
    }
}

impl BoxRecord {
    pub(crate) fn to_box(&self) -> Result<SimBox> {
        Ok(match self {
            BoxRecord::Open => SimBox::open(),
            BoxRecord::Orthorhombic(l) => SimBox::orthorhombic(*l)?,
            BoxRecord::Triclinic(h) => SimBox::triclinic(*h)?,
        })
    }
}

pub(crate) mod box_serde {
    use super::BoxRecord;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use thermograd_geometry::SimBox;

    pub fn serialize<S: Serializer>(b: &SimBox, s: S) -> Result<S::Ok, S::Error> {
        BoxRecord::from(b).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SimBox, D::Error> {
        BoxRecord::deserialize(d)?
            .to_box()
            .map_err(serde::de::Error::custom)
    }
}
