//! Unit conversion at the file boundary.
//!
//! The trainers are unit-consistent, not unit-specific: they use whatever coherent set the
//! data arrive in. Files, however, come in many conventions (ASE writes Å and eV,
//! GROMACS nm and kJ/mol, chemtrain's NumPy files nm and kJ/mol), so readers and writers
//! take a [`UnitConversion`] from the file's units to the internal ones. Positions and box
//! vectors scale with the length factor, energies and virials with the energy factor, and
//! forces with their ratio.

use serde::{Deserialize, Serialize};

use crate::error::{config_error, Result};

/// A length unit of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LengthUnit {
    /// Nanometre (GROMACS, OpenMM, chemtrain).
    Nm,
    /// Ångström (ASE, LAMMPS `metal`/`real`).
    Angstrom,
    /// Bohr radius, 0.0529177210903 nm (CODATA 2018).
    Bohr,
}

impl LengthUnit {
    /// The unit in nanometres.
    pub fn in_nm(self) -> f64 {
        match self {
            LengthUnit::Nm => 1.0,
            LengthUnit::Angstrom => 0.1,
            LengthUnit::Bohr => 0.052_917_721_090_3,
        }
    }
}

/// An energy unit of a file (molar energies are per mole of the system's particles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergyUnit {
    /// kJ/mol (GROMACS, OpenMM, chemtrain).
    KjPerMol,
    /// kcal/mol (thermochemical calorie, 4.184 kJ).
    KcalPerMol,
    /// Electronvolt per particle, 96.485332 kJ/mol (ASE).
    Ev,
    /// Hartree per particle, 2625.4996 kJ/mol.
    Hartree,
}

impl EnergyUnit {
    /// The unit in kJ/mol.
    pub fn in_kj_per_mol(self) -> f64 {
        match self {
            EnergyUnit::KjPerMol => 1.0,
            EnergyUnit::KcalPerMol => 4.184,
            // e·N_A/1000 with CODATA 2018 exact constants.
            EnergyUnit::Ev => 96.485_332_123_310_02,
            EnergyUnit::Hartree => 2_625.499_639_479_95,
        }
    }
}

/// A pair of length and energy units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitSet {
    /// Length unit.
    pub length: LengthUnit,
    /// Energy unit.
    pub energy: EnergyUnit,
}

impl UnitSet {
    /// nm and kJ/mol, the workspace's default for files.
    pub const GROMACS: UnitSet = UnitSet {
        length: LengthUnit::Nm,
        energy: EnergyUnit::KjPerMol,
    };
    /// Å and eV (ASE).
    pub const ASE: UnitSet = UnitSet {
        length: LengthUnit::Angstrom,
        energy: EnergyUnit::Ev,
    };
}

/// Factors that take values in a file's units to the internal ones: `internal = factor ·
/// file` for lengths (`length`) and energies (`energy`); forces scale by
/// `energy / length`, virials by `energy`.
///
/// ```
/// use thermograd_train::{UnitConversion, UnitSet};
/// let c = UnitConversion::between(UnitSet::ASE, UnitSet::GROMACS);
/// assert!((c.length - 0.1).abs() < 1e-15);
/// assert!((c.force() - 964.8533212331002).abs() < 1e-9); // eV/Å → kJ/mol/nm
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitConversion {
    /// Multiplies lengths (positions, box vectors).
    pub length: f64,
    /// Multiplies energies and virials.
    pub energy: f64,
}

impl Default for UnitConversion {
    fn default() -> Self {
        UnitConversion::IDENTITY
    }
}

impl UnitConversion {
    /// No conversion (reduced units, or a file already in the internal units).
    pub const IDENTITY: UnitConversion = UnitConversion {
        length: 1.0,
        energy: 1.0,
    };

    /// The conversion from `file` units to `internal` units.
    pub fn between(file: UnitSet, internal: UnitSet) -> Self {
        UnitConversion {
            length: file.length.in_nm() / internal.length.in_nm(),
            energy: file.energy.in_kj_per_mol() / internal.energy.in_kj_per_mol(),
        }
    }

    /// Checks that both factors are finite and positive.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("length factor", self.length),
            ("energy factor", self.energy),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(config_error("unit conversion", format!("{what} {v}")));
            }
        }
        Ok(())
    }

    /// The factor for forces (energy/length).
    pub fn force(&self) -> f64 {
        self.energy / self.length
    }

    /// The reverse conversion (internal → file).
    pub fn inverse(&self) -> Self {
        UnitConversion {
            length: 1.0 / self.length,
            energy: 1.0 / self.energy,
        }
    }

    /// Whether this is exactly the identity (then no arithmetic touches the data, so
    /// round trips are bit for bit).
    pub fn is_identity(&self) -> bool {
        self.length == 1.0 && self.energy == 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_compose_and_invert() {
        let a = UnitConversion::between(UnitSet::ASE, UnitSet::GROMACS);
        let b = UnitConversion::between(UnitSet::GROMACS, UnitSet::ASE);
        assert!((a.length * b.length - 1.0).abs() < 1e-15);
        assert!((a.energy * b.energy - 1.0).abs() < 1e-15);
        assert_eq!(a.inverse().length, 1.0 / a.length);
        // 1 kcal/mol/Å = 41.84 kJ/mol/nm.
        let kcal = UnitSet {
            length: LengthUnit::Angstrom,
            energy: EnergyUnit::KcalPerMol,
        };
        let c = UnitConversion::between(kcal, UnitSet::GROMACS);
        assert!((c.force() - 41.84).abs() < 1e-12);
        assert!(UnitConversion {
            length: 0.0,
            energy: 1.0
        }
        .validate()
        .is_err());
    }
}
