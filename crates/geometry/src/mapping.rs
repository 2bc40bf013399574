//! Linear coarse-grain mappings of positions and forces (Noid et al., J. Chem. Phys. 128,
//! 244114, 2008; the mapping step of chemtrain's force matching, eq. 12–18).

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, GeometryError, Result};
use crate::{SimBox, Vec3};

/// One coarse-grained site: the atoms it involves, the position weights `c_Ii` and the
/// force weights `d_Ii` of each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bead {
    /// Indices of the fine-grained atoms involved.
    pub atoms: Vec<usize>,
    /// Position weights c_Ii (one per atom); they must sum to one.
    pub position_weights: Vec<f64>,
    /// Force weights d_Ii (one per atom).
    pub force_weights: Vec<f64>,
}

/// A linear map from `n_atoms` fine-grained positions to bead positions,
/// `R_I = Σ_i c_Ii r_i`, with the matching force map `F_I = Σ_i d_Ii f_i`.
///
/// Validation enforces the conditions under which force matching with mapped forces is
/// thermodynamically consistent (Noid et al. 2008): position weights of each bead sum to
/// one (so the map commutes with translations), and `Σ_i d_Ii c_Ji = δ_IJ` for every pair
/// of beads. The center-of-mass map with `d_Ii = 1` (the total force on a bead's atoms)
/// satisfies both.
///
/// Periodic images inside a bead are honoured: each atom is first placed at the minimum
/// image relative to the bead's first atom, so a molecule split across the boundary maps
/// to its true center, which is then wrapped into the box. This requires every bead to
/// span less than half the box (true for any molecule in a sensible box).
///
/// ```
/// use thermograd_geometry::{LinearMap, SimBox, Vec3};
/// // Two diatomic molecules with unequal masses, one split across the boundary.
/// let map = LinearMap::center_of_mass(4, &[vec![0, 1], vec![2, 3]], &[1.0, 3.0, 1.0, 3.0])?;
/// let b = SimBox::cubic(10.0)?;
/// let r = [Vec3::new(9.5, 0.0, 0.0), Vec3::new(0.5, 0.0, 0.0),
///          Vec3::new(2.0, 2.0, 2.0), Vec3::new(3.0, 2.0, 2.0)];
/// let beads = map.map_positions(&r, &b)?;
/// assert!((beads[0] - Vec3::new(0.25, 0.0, 0.0)).norm() < 1e-12);
/// let forces = map.map_forces(&[Vec3::x(), Vec3::y(), Vec3::z(), Vec3::z()])?;
/// assert_eq!(forces[1], Vec3::new(0.0, 0.0, 2.0));
/// # Ok::<(), thermograd_geometry::GeometryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearMap {
    n_atoms: usize,
    beads: Vec<Bead>,
}

impl LinearMap {
    /// A general linear map over `n_atoms` atoms, validated as described on the type.
    pub fn new(n_atoms: usize, beads: Vec<Bead>) -> Result<Self> {
        let mut coefficient = vec![Vec::<(usize, f64)>::new(); n_atoms];
        for (index, bead) in beads.iter().enumerate() {
            let invalid = |reason: String| GeometryError::InvalidMap {
                bead: index,
                reason,
            };
            if bead.atoms.is_empty() {
                return Err(invalid("no atoms".into()));
            }
            if bead.position_weights.len() != bead.atoms.len()
                || bead.force_weights.len() != bead.atoms.len()
            {
                return Err(invalid(format!(
                    "{} atoms but {} position weights and {} force weights",
                    bead.atoms.len(),
                    bead.position_weights.len(),
                    bead.force_weights.len()
                )));
            }
            let mut seen = std::collections::HashSet::new();
            for (&atom, &c) in bead.atoms.iter().zip(&bead.position_weights) {
                if atom >= n_atoms {
                    return Err(GeometryError::AtomOutOfRange {
                        index: atom,
                        n_atoms,
                    });
                }
                if !seen.insert(atom) {
                    return Err(invalid(format!("atom {atom} listed twice")));
                }
                check_finite("position weight", c)?;
                coefficient[atom].push((index, c));
            }
            for &d in &bead.force_weights {
                check_finite("force weight", d)?;
            }
            let total: f64 = bead.position_weights.iter().sum();
            if (total - 1.0).abs() > 1e-10 {
                return Err(invalid(format!(
                    "position weights sum to {total}, not 1 (the map must commute with translations)"
                )));
            }
        }
        // Consistency: Σ_i d_Ii c_Ji = δ_IJ.
        for (i_bead, bead) in beads.iter().enumerate() {
            let mut overlap = vec![0.0; beads.len()];
            for (&atom, &d) in bead.atoms.iter().zip(&bead.force_weights) {
                for &(j_bead, c) in &coefficient[atom] {
                    overlap[j_bead] += d * c;
                }
            }
            for (j_bead, &value) in overlap.iter().enumerate() {
                let expected = if i_bead == j_bead { 1.0 } else { 0.0 };
                if (value - expected).abs() > 1e-10 {
                    return Err(GeometryError::InvalidMap {
                        bead: i_bead,
                        reason: format!(
                            "force weights give Σ d·c = {value} against bead {j_bead}, expected {expected}"
                        ),
                    });
                }
            }
        }
        Ok(LinearMap { n_atoms, beads })
    }

    /// The center-of-mass map: bead `I` sits at the center of mass of `groups[I]`, and its
    /// force is the total force on those atoms. Groups must not share atoms; `masses`
    /// (mass units) has one positive entry per atom.
    pub fn center_of_mass(n_atoms: usize, groups: &[Vec<usize>], masses: &[f64]) -> Result<Self> {
        if masses.len() != n_atoms {
            return Err(GeometryError::LengthMismatch {
                what: "masses",
                expected: n_atoms,
                got: masses.len(),
            });
        }
        let mut beads = Vec::with_capacity(groups.len());
        for (index, group) in groups.iter().enumerate() {
            let mut total = 0.0;
            for &atom in group {
                let m = *masses.get(atom).ok_or(GeometryError::AtomOutOfRange {
                    index: atom,
                    n_atoms,
                })?;
                check_finite("mass", m)?;
                if m <= 0.0 {
                    return Err(GeometryError::InvalidMap {
                        bead: index,
                        reason: format!("atom {atom} has non-positive mass {m}"),
                    });
                }
                total += m;
            }
            beads.push(Bead {
                atoms: group.clone(),
                position_weights: group.iter().map(|&a| masses[a] / total).collect(),
                force_weights: vec![1.0; group.len()],
            });
        }
        Self::new(n_atoms, beads)
    }

    /// Number of fine-grained atoms the map reads.
    pub fn n_atoms(&self) -> usize {
        self.n_atoms
    }

    /// Number of beads it produces.
    pub fn n_beads(&self) -> usize {
        self.beads.len()
    }

    /// The beads.
    pub fn beads(&self) -> &[Bead] {
        &self.beads
    }

    /// Bead positions `R_I = Σ_i c_Ii r_i`, each atom taken at its minimum image relative
    /// to the bead's first atom; results are wrapped into the box.
    pub fn map_positions(&self, positions: &[Vec3], simbox: &SimBox) -> Result<Vec<Vec3>> {
        self.check_len("positions", positions.len())?;
        Ok(self
            .beads
            .iter()
            .map(|bead| {
                let anchor = positions[bead.atoms[0]];
                let center = bead
                    .atoms
                    .iter()
                    .zip(&bead.position_weights)
                    .fold(Vec3::zeros(), |acc, (&atom, &c)| {
                        acc + simbox.displacement(&anchor, &positions[atom]) * c
                    });
                simbox.wrap(&(anchor + center))
            })
            .collect())
    }

    /// Bead forces `F_I = Σ_i d_Ii f_i`.
    pub fn map_forces(&self, forces: &[Vec3]) -> Result<Vec<Vec3>> {
        self.check_len("forces", forces.len())?;
        Ok(self
            .beads
            .iter()
            .map(|bead| {
                bead.atoms
                    .iter()
                    .zip(&bead.force_weights)
                    .fold(Vec3::zeros(), |acc, (&atom, &d)| acc + forces[atom] * d)
            })
            .collect())
    }

    fn check_len(&self, what: &'static str, got: usize) -> Result<()> {
        if got == self.n_atoms {
            Ok(())
        } else {
            Err(GeometryError::LengthMismatch {
                what,
                expected: self.n_atoms,
                got,
            })
        }
    }
}
