//! Bonded prior terms on a [`Topology`] (harmonic bonds, harmonic angles, cosine-series
//! dihedrals: the prior `U = Σ U^H(b) + Σ U^H(α) + Σ U^D(ω)` of chemtrain, eq. 24) and
//! external harmonic restraints to fixed points.

use serde::{Deserialize, Serialize};
use thermograd_geometry::{SimBox, Vec3};

use crate::error::{check_non_negative, check_positive};
use crate::{Configuration, Evaluation, MdError, Potential, Result};

/// A harmonic bond `U = ½ k (r − r₀)²` between two atoms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bond {
    /// The two atoms.
    pub atoms: [usize; 2],
    /// Force constant `k` (energy/length²).
    pub k: f64,
    /// Rest length `r₀` (length units).
    pub r0: f64,
}

/// A harmonic angle `U = ½ k (θ − θ₀)²`, `θ` the angle at the middle atom.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Angle {
    /// The three atoms; the angle is at `atoms[1]`.
    pub atoms: [usize; 3],
    /// Force constant `k` (energy/radian²).
    pub k: f64,
    /// Rest angle `θ₀` (radians).
    pub theta0: f64,
}

/// One term `k (1 + cos(n φ − δ))` of a cosine series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CosineTerm {
    /// Multiplicity `n` (≥ 1).
    pub multiplicity: u32,
    /// Amplitude `k` (energy units).
    pub k: f64,
    /// Phase `δ` (radians).
    pub phase: f64,
}

/// A proper dihedral with a cosine-series potential `U = Σ_n k_n (1 + cos(n φ − δ_n))`.
///
/// `φ` is the IUPAC torsion angle of atoms 1–2–3–4 in `(−π, π]`: with `b₁ = r₂ − r₁`,
/// `b₂ = r₃ − r₂`, `b₃ = r₄ − r₃`, `φ = atan2(|b₂| b₁·(b₂ × b₃), (b₁ × b₂)·(b₂ × b₃))`
/// (0 for cis, ±π for trans).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dihedral {
    /// The four atoms.
    pub atoms: [usize; 4],
    /// The terms of the series.
    pub terms: Vec<CosineTerm>,
}

/// Which atoms are bonded and how: the bonds, angles and dihedrals of a molecule (or a
/// coarse-grained model), each with its parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Harmonic bonds.
    pub bonds: Vec<Bond>,
    /// Harmonic angles.
    pub angles: Vec<Angle>,
    /// Cosine-series dihedrals.
    pub dihedrals: Vec<Dihedral>,
}

impl Topology {
    /// Checks parameters and atom indices (all below `n_atoms`, distinct within a term).
    pub fn validate(&self, n_atoms: usize) -> Result<()> {
        let check_atoms = |atoms: &[usize]| -> Result<()> {
            for (k, &a) in atoms.iter().enumerate() {
                if a >= n_atoms {
                    return Err(MdError::Mismatch {
                        what: "atom index in the topology (expected below the atom count)",
                        expected: n_atoms,
                        got: a,
                    });
                }
                if atoms[..k].contains(&a) {
                    return Err(MdError::InvalidParameter {
                        name: "bonded term atoms",
                        value: a as f64,
                        reason: "an atom appears twice in one term",
                    });
                }
            }
            Ok(())
        };
        for b in &self.bonds {
            check_atoms(&b.atoms)?;
            check_non_negative("bond k", b.k)?;
            check_non_negative("bond r0", b.r0)?;
        }
        for a in &self.angles {
            check_atoms(&a.atoms)?;
            check_non_negative("angle k", a.k)?;
            if !(0.0..=std::f64::consts::PI).contains(&a.theta0) {
                return Err(MdError::InvalidParameter {
                    name: "angle theta0",
                    value: a.theta0,
                    reason: "must lie in [0, π] radians",
                });
            }
        }
        for d in &self.dihedrals {
            check_atoms(&d.atoms)?;
            for t in &d.terms {
                if t.multiplicity == 0 {
                    return Err(MdError::InvalidParameter {
                        name: "dihedral multiplicity",
                        value: 0.0,
                        reason: "must be at least 1",
                    });
                }
                if !t.k.is_finite() || !t.phase.is_finite() {
                    return Err(MdError::InvalidParameter {
                        name: "dihedral term",
                        value: if t.k.is_finite() { t.phase } else { t.k },
                        reason: "must be finite",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Minimum-image displacement from atom `i` to atom `j`; fails if it is not unique
/// (longer than half the shortest lattice vector).
fn bond_vector(
    what: &'static str,
    simbox: &SimBox,
    positions: &[Vec3],
    i: usize,
    j: usize,
) -> Result<Vec3> {
    let d = simbox.min_image(positions[j] - positions[i]);
    let max = simbox.max_single_image_cutoff();
    if d.norm() >= max {
        return Err(MdError::AmbiguousImage {
            what,
            i,
            j,
            distance: d.norm(),
            max,
        });
    }
    Ok(d)
}

/// The bonded prior of a [`Topology`]: harmonic bonds, harmonic angles and cosine-series
/// dihedrals (chemtrain eq. 24).
///
/// In periodic boxes each term's atoms are joined by minimum-image vectors along the
/// chain (1→2, 2→3, 3→4); a link longer than half the shortest lattice vector is
/// [`MdError::AmbiguousImage`]. The virial is `Σ x_i ⊗ f_i` over each term's atoms at
/// those consistent image positions (translation invariant, so the origin does not
/// matter).
#[derive(Clone, Debug)]
pub struct BondedPrior {
    topology: Topology,
    n_atoms: usize,
}

impl BondedPrior {
    /// Validates the topology for a system of `n_atoms` atoms.
    pub fn new(topology: Topology, n_atoms: usize) -> Result<Self> {
        topology.validate(n_atoms)?;
        Ok(BondedPrior { topology, n_atoms })
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }
}

/// Adds forces `f[k]` on atoms at image positions `x[k]` to `out`.
fn scatter(out: &mut Evaluation, atoms: &[usize], x: &[Vec3], f: &[Vec3]) {
    for ((&a, x), f) in atoms.iter().zip(x).zip(f) {
        out.forces[a] += f;
        out.virial += x * f.transpose();
    }
}

/// Angle `θ` at the vertex between vectors `u` (vertex → first) and `v` (vertex →
/// third), with `∂θ/∂u` and `∂θ/∂v`.
pub(crate) fn angle_and_gradient(u: &Vec3, v: &Vec3) -> (f64, Vec3, Vec3) {
    let (nu, nv) = (u.norm(), v.norm());
    let cross = u.cross(v);
    let sin = cross.norm();
    let cos = u.dot(v);
    let theta = sin.atan2(cos);
    // ∂θ/∂u = −(v̂ − cosθ û)/(|u| sinθ), written with the unnormalised quantities to stay
    // finite; clamp sinθ away from 0 (the gradient direction is undefined there).
    let s = (sin / (nu * nv)).max(1e-12);
    let c = cos / (nu * nv);
    let du = -(v / nv - c * u / nu) / (nu * s);
    let dv = -(u / nu - c * v / nv) / (nv * s);
    (theta, du, dv)
}

/// Torsion angle `φ` of the chain `b1, b2, b3` (IUPAC) and its gradients with respect
/// to the four positions (Blondel & Karplus 1996).
pub(crate) fn dihedral_and_gradient(b1: &Vec3, b2: &Vec3, b3: &Vec3) -> (f64, [Vec3; 4]) {
    let m = b1.cross(b2);
    let n = b2.cross(b3);
    let nb2 = b2.norm();
    let phi = (nb2 * b1.dot(&n)).atan2(m.dot(&n));
    let m2 = m.norm_squared().max(1e-300);
    let n2 = n.norm_squared().max(1e-300);
    let g1 = -nb2 / m2 * m;
    let g4 = nb2 / n2 * n;
    let b2sq = nb2 * nb2;
    let p = b1.dot(b2) / b2sq;
    let q = b3.dot(b2) / b2sq;
    let g2 = -(1.0 + p) * g1 + q * g4;
    let g3 = p * g1 - (1.0 + q) * g4;
    (phi, [g1, g2, g3, g4])
}

impl Potential for BondedPrior {
    fn cutoff(&self) -> Option<f64> {
        None
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        let n = config.positions.len();
        if n != self.n_atoms || out.forces.len() != n {
            return Err(MdError::Mismatch {
                what: "atoms in the bonded prior's topology",
                expected: self.n_atoms,
                got: n,
            });
        }
        let (pos, sb) = (config.positions, config.simbox);
        for b in &self.topology.bonds {
            let [i, j] = b.atoms;
            let d = bond_vector("bond", sb, pos, i, j)?;
            let r = d.norm();
            let dr = r - b.r0;
            out.energy += 0.5 * b.k * dr * dr;
            // f_j = −k (r − r₀) d̂; at r = 0 the direction is undefined and the force 0
            // only if r₀ = 0.
            let fj = if r > 0.0 {
                -b.k * dr / r * d
            } else {
                Vec3::zeros()
            };
            let xi = pos[i];
            scatter(out, &b.atoms, &[xi, xi + d], &[-fj, fj]);
        }
        for a in &self.topology.angles {
            let [i, j, k] = a.atoms;
            let u = -bond_vector("angle", sb, pos, i, j)?;
            let v = bond_vector("angle", sb, pos, j, k)?;
            let (theta, du, dv) = angle_and_gradient(&u, &v);
            let dt = theta - a.theta0;
            out.energy += 0.5 * a.k * dt * dt;
            let g = a.k * dt; // ∂U/∂θ
                              // x_i = x_j + u, x_k = x_j + v.
            let fi = -g * du;
            let fk = -g * dv;
            let xj = pos[j];
            scatter(out, &a.atoms, &[xj + u, xj, xj + v], &[fi, -fi - fk, fk]);
        }
        for d in &self.topology.dihedrals {
            let [i, j, k, l] = d.atoms;
            let b1 = bond_vector("dihedral", sb, pos, i, j)?;
            let b2 = bond_vector("dihedral", sb, pos, j, k)?;
            let b3 = bond_vector("dihedral", sb, pos, k, l)?;
            let (phi, grad) = dihedral_and_gradient(&b1, &b2, &b3);
            let mut du_dphi = 0.0;
            for t in &d.terms {
                let n = t.multiplicity as f64;
                let arg = n * phi - t.phase;
                out.energy += t.k * (1.0 + arg.cos());
                du_dphi -= t.k * n * arg.sin();
            }
            let xi = pos[i];
            let x = [xi, xi + b1, xi + b1 + b2, xi + b1 + b2 + b3];
            let f = grad.map(|g| -du_dphi * g);
            scatter(out, &d.atoms, &x, &f);
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "bonded-prior"
    }
}

/// A harmonic restraint `U = ½ k |r_i − r₀|²` of one atom to a fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restraint {
    /// The atom.
    pub atom: usize,
    /// The fixed point `r₀` (length units).
    pub target: Vec3,
    /// Force constant `k` (energy/length²).
    pub k: f64,
}

/// External harmonic restraints of atoms to fixed points in space.
///
/// In a periodic box the displacement is the minimum image of `r_i − r₀`, so wrapped and
/// unwrapped positions give the same energy. The term is not translation invariant, so
/// its virial follows the convention of [`Potential`] for external terms:
/// `W = Σ_i x_i ⊗ f_i` with `x_i = r₀ + d_i` the image of atom `i` nearest its target.
/// This equals `−(∂E/∂ε)ᵀ` for the deformation `r → (1 + ε) r`, `h → (1 + ε) h` that
/// moves the atoms and the box but not the fixed points; unlike a pair virial it need not
/// be symmetric (the restraints exert a torque).
#[derive(Clone, Debug)]
pub struct HarmonicRestraints {
    restraints: Vec<Restraint>,
}

impl HarmonicRestraints {
    /// Validates the restraints (finite targets, non-negative force constants).
    pub fn new(restraints: Vec<Restraint>) -> Result<Self> {
        for r in &restraints {
            check_non_negative("restraint k", r.k)?;
            if !r.target.iter().all(|x| x.is_finite()) {
                return Err(MdError::InvalidParameter {
                    name: "restraint target",
                    value: f64::NAN,
                    reason: "must be finite",
                });
            }
        }
        Ok(HarmonicRestraints { restraints })
    }

    /// Every atom `i` restrained to `targets[i]` with force constant `k`.
    pub fn all_atoms(targets: &[Vec3], k: f64) -> Result<Self> {
        check_positive("restraint k", k)?;
        Self::new(
            targets
                .iter()
                .enumerate()
                .map(|(atom, &target)| Restraint { atom, target, k })
                .collect(),
        )
    }

    /// The restraints.
    pub fn restraints(&self) -> &[Restraint] {
        &self.restraints
    }
}

impl Potential for HarmonicRestraints {
    fn cutoff(&self) -> Option<f64> {
        None
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        let n = config.positions.len();
        for r in &self.restraints {
            if r.atom >= n {
                return Err(MdError::Mismatch {
                    what: "restrained atom index (expected below the atom count)",
                    expected: n,
                    got: r.atom,
                });
            }
            let d = config.simbox.min_image(config.positions[r.atom] - r.target);
            out.energy += 0.5 * r.k * d.norm_squared();
            let f = -r.k * d;
            out.forces[r.atom] += f;
            out.virial += (r.target + d) * f.transpose();
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "harmonic-restraints"
    }
}
