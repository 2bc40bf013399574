//! Analytic collective variables with exact Jacobians.

use std::f64::consts::PI;

use thermograd_geometry::{SimBox, Vec3};

use crate::cv::{check_atoms, check_distinct, CollectiveVariable, CvValue};
use crate::error::{CvError, Result};
use crate::switching::RationalSwitch;

/// The minimum-image distance |r_j − r_i| between two atoms (length units).
#[derive(Clone, Debug, PartialEq)]
pub struct Distance {
    atoms: [usize; 2],
}

impl Distance {
    /// Distance between atoms `i` and `j` (distinct).
    pub fn new(i: usize, j: usize) -> Result<Self> {
        check_distinct(&[i, j], "distance")?;
        Ok(Distance { atoms: [i, j] })
    }
}

impl CollectiveVariable for Distance {
    fn name(&self) -> &str {
        "distance"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        let [i, j] = self.atoms;
        let d = simbox.displacement(&positions[i], &positions[j]);
        let r = d.norm();
        if r == 0.0 {
            return Err(CvError::Singular {
                cv: "distance",
                reason: "the two atoms coincide",
            });
        }
        out.reset(1, &self.atoms);
        let unit = d / r;
        out.values[0] = r;
        out.gradients[0] = -unit;
        out.gradients[1] = unit;
        out.strain[0] = unit * d.transpose();
        Ok(())
    }
}

/// The three Cartesian components of the minimum-image displacement r_j − r_i.
#[derive(Clone, Debug, PartialEq)]
pub struct DistanceComponents {
    atoms: [usize; 2],
}

impl DistanceComponents {
    /// Components of the displacement from atom `i` to atom `j` (distinct).
    pub fn new(i: usize, j: usize) -> Result<Self> {
        check_distinct(&[i, j], "distance components")?;
        Ok(DistanceComponents { atoms: [i, j] })
    }
}

impl CollectiveVariable for DistanceComponents {
    fn name(&self) -> &str {
        "distance_components"
    }
    fn dim(&self) -> usize {
        3
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        let [i, j] = self.atoms;
        let d = simbox.displacement(&positions[i], &positions[j]);
        out.reset(3, &self.atoms);
        for c in 0..3 {
            let mut e = Vec3::zeros();
            e[c] = 1.0;
            out.values[c] = d[c];
            out.gradients[2 * c] = -e;
            out.gradients[2 * c + 1] = e;
            out.strain[c] = e * d.transpose();
        }
        Ok(())
    }
}

/// The angle i–j–k at vertex `j`, in radians in [0, π] (not periodic).
#[derive(Clone, Debug, PartialEq)]
pub struct Angle {
    atoms: [usize; 3],
}

impl Angle {
    /// Angle between j→i and j→k (three distinct atoms).
    pub fn new(i: usize, j: usize, k: usize) -> Result<Self> {
        check_distinct(&[i, j, k], "angle")?;
        Ok(Angle { atoms: [i, j, k] })
    }
}

impl CollectiveVariable for Angle {
    fn name(&self) -> &str {
        "angle"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        let [i, j, k] = self.atoms;
        let u = simbox.displacement(&positions[j], &positions[i]);
        let v = simbox.displacement(&positions[j], &positions[k]);
        let cross = u.cross(&v).norm();
        let dot = u.dot(&v);
        // The gradient of an angle diverges at 0 and π (sin θ = 0).
        if cross <= 1e-12 * u.norm() * v.norm() {
            return Err(CvError::Singular {
                cv: "angle",
                reason: "the three atoms are collinear or two coincide",
            });
        }
        out.reset(1, &self.atoms);
        out.values[0] = cross.atan2(dot);
        let g_u = -(v - u * (dot / u.norm_squared())) / cross;
        let g_v = -(u - v * (dot / v.norm_squared())) / cross;
        out.gradients[0] = g_u;
        out.gradients[1] = -g_u - g_v;
        out.gradients[2] = g_v;
        out.strain[0] = g_u * u.transpose() + g_v * v.transpose();
        Ok(())
    }
}

/// The dihedral angle i–j–k–l in radians in (−π, π], periodic with period 2π (IUPAC sign
/// convention: positive for a clockwise rotation of the far bond seen along j→k).
#[derive(Clone, Debug, PartialEq)]
pub struct Dihedral {
    atoms: [usize; 4],
}

impl Dihedral {
    /// Dihedral of four distinct atoms.
    pub fn new(i: usize, j: usize, k: usize, l: usize) -> Result<Self> {
        check_distinct(&[i, j, k, l], "dihedral")?;
        Ok(Dihedral {
            atoms: [i, j, k, l],
        })
    }
}

impl CollectiveVariable for Dihedral {
    fn name(&self) -> &str {
        "dihedral"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn period(&self, _component: usize) -> Option<f64> {
        Some(2.0 * PI)
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        let [i, j, k, l] = self.atoms;
        let b1 = simbox.displacement(&positions[i], &positions[j]);
        let b2 = simbox.displacement(&positions[j], &positions[k]);
        let b3 = simbox.displacement(&positions[k], &positions[l]);
        let m = b1.cross(&b2);
        let n = b2.cross(&b3);
        let (m2, n2, b2_len) = (m.norm_squared(), n.norm_squared(), b2.norm());
        if m2 <= 1e-24 * (b1.norm_squared() * b2.norm_squared())
            || n2 <= 1e-24 * (b2.norm_squared() * b3.norm_squared())
        {
            return Err(CvError::Singular {
                cv: "dihedral",
                reason: "three consecutive atoms are collinear",
            });
        }
        out.reset(1, &self.atoms);
        out.values[0] = (b2_len * b1.dot(&n)).atan2(m.dot(&n));
        // Blondel & Karplus, J. Comput. Chem. 17, 1132 (1996): no division by sin φ.
        let g_i = -m * (b2_len / m2);
        let g_l = n * (b2_len / n2);
        let p = b1.dot(&b2) / (m2 * b2_len);
        let q = b3.dot(&b2) / (n2 * b2_len);
        let g_j = m * (b2_len / m2) + m * p + n * q;
        let g_k = -n * (b2_len / n2) - m * p - n * q;
        out.gradients.copy_from_slice(&[g_i, g_j, g_k, g_l]);
        // Positions relative to atom i along the minimum-image chain.
        let (rj, rk) = (b1, b1 + b2);
        let rl = rk + b3;
        out.strain[0] = g_j * rj.transpose() + g_k * rk.transpose() + g_l * rl.transpose();
        Ok(())
    }
}

/// Coordination number Σ s(r_ab) with PLUMED's rational switching function.
///
/// With two groups, the sum runs over every `a ∈ A`, `b ∈ B` with `a ≠ b` (PLUMED's
/// `COORDINATION GROUPA=… GROUPB=…`); with one group, over unordered pairs `a < b` within
/// it. Minimum-image distances, so the cutoff of the switching function should stay below
/// the box's single-image limit (a stretched switch makes that exact).
#[derive(Clone, Debug, PartialEq)]
pub struct Coordination {
    atoms: Vec<usize>,
    /// (slot in `atoms` of a, slot of b) for every pair summed.
    pairs: Vec<(usize, usize)>,
    switch: RationalSwitch,
}

impl Coordination {
    /// Coordination of group `a` by group `b` (both non-empty, each without repeats).
    pub fn between(a: &[usize], b: &[usize], switch: RationalSwitch) -> Result<Self> {
        if a.is_empty() || b.is_empty() {
            return Err(CvError::InvalidDefinition {
                reason: "coordination groups must not be empty".into(),
            });
        }
        check_distinct(a, "coordination group A")?;
        check_distinct(b, "coordination group B")?;
        let mut atoms = a.to_vec();
        atoms.extend(b.iter().filter(|x| !a.contains(x)));
        let slot = |atom: usize| atoms.iter().position(|&x| x == atom).expect("listed");
        let mut pairs = Vec::with_capacity(a.len() * b.len());
        for &x in a {
            for &y in b {
                if x != y {
                    pairs.push((slot(x), slot(y)));
                }
            }
        }
        Ok(Coordination {
            atoms,
            pairs,
            switch,
        })
    }

    /// Coordination within one group (unordered pairs).
    pub fn within(group: &[usize], switch: RationalSwitch) -> Result<Self> {
        if group.len() < 2 {
            return Err(CvError::InvalidDefinition {
                reason: "coordination within a group needs at least two atoms".into(),
            });
        }
        check_distinct(group, "coordination group")?;
        let mut pairs = Vec::new();
        for x in 0..group.len() {
            for y in x + 1..group.len() {
                pairs.push((x, y));
            }
        }
        Ok(Coordination {
            atoms: group.to_vec(),
            pairs,
            switch,
        })
    }
}

impl CollectiveVariable for Coordination {
    fn name(&self) -> &str {
        "coordination"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        out.reset(1, &self.atoms);
        let mut value = 0.0;
        for &(sa, sb) in &self.pairs {
            let d = simbox.displacement(&positions[self.atoms[sa]], &positions[self.atoms[sb]]);
            let r = d.norm();
            let (s, ds) = self.switch.value_and_derivative(r);
            value += s;
            if ds != 0.0 && r > 0.0 {
                let g = d * (ds / r);
                out.gradients[sb] += g;
                out.gradients[sa] -= g;
                out.strain[0] += g * d.transpose();
            }
        }
        out.values[0] = value;
        Ok(())
    }
}

/// A group of atoms with mass weights, placed at its center of mass with periodic images
/// resolved relative to its first atom.
#[derive(Clone, Debug, PartialEq)]
struct Group {
    atoms: Vec<usize>,
    weights: Vec<f64>,
}

impl Group {
    fn new(atoms: &[usize], masses: &[f64], name: &str) -> Result<Self> {
        if atoms.is_empty() || atoms.len() != masses.len() {
            return Err(CvError::InvalidDefinition {
                reason: format!(
                    "{name}: {} atoms and {} masses (need as many masses as atoms, at least one)",
                    atoms.len(),
                    masses.len()
                ),
            });
        }
        check_distinct(atoms, name)?;
        if masses.iter().any(|&m| !(m.is_finite() && m > 0.0)) {
            return Err(CvError::InvalidDefinition {
                reason: format!("{name}: masses must be positive and finite"),
            });
        }
        let total: f64 = masses.iter().sum();
        Ok(Group {
            atoms: atoms.to_vec(),
            weights: masses.iter().map(|m| m / total).collect(),
        })
    }

    fn center(&self, positions: &[Vec3], simbox: &SimBox) -> Vec3 {
        let anchor = positions[self.atoms[0]];
        let offset = self
            .atoms
            .iter()
            .zip(&self.weights)
            .fold(Vec3::zeros(), |acc, (&a, &w)| {
                acc + simbox.displacement(&anchor, &positions[a]) * w
            });
        anchor + offset
    }
}

/// Distance between the centers of mass of two disjoint groups (length units).
#[derive(Clone, Debug, PartialEq)]
pub struct CenterOfMassDistance {
    a: Group,
    b: Group,
    atoms: Vec<usize>,
}

impl CenterOfMassDistance {
    /// Groups `a` and `b` with their atoms' masses (mass units); the groups must not
    /// share atoms.
    pub fn new(a: &[usize], masses_a: &[f64], b: &[usize], masses_b: &[f64]) -> Result<Self> {
        let a = Group::new(a, masses_a, "center-of-mass group A")?;
        let b = Group::new(b, masses_b, "center-of-mass group B")?;
        let mut atoms = a.atoms.clone();
        atoms.extend_from_slice(&b.atoms);
        check_distinct(&atoms, "center-of-mass groups A and B together")?;
        Ok(CenterOfMassDistance { a, b, atoms })
    }
}

impl CollectiveVariable for CenterOfMassDistance {
    fn name(&self) -> &str {
        "com_distance"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        let d = simbox.displacement(
            &self.a.center(positions, simbox),
            &self.b.center(positions, simbox),
        );
        let r = d.norm();
        if r == 0.0 {
            return Err(CvError::Singular {
                cv: "com_distance",
                reason: "the two centers of mass coincide",
            });
        }
        out.reset(1, &self.atoms);
        let unit = d / r;
        out.values[0] = r;
        let n_a = self.a.atoms.len();
        for (k, w) in self.a.weights.iter().enumerate() {
            out.gradients[k] = -unit * *w;
        }
        for (k, w) in self.b.weights.iter().enumerate() {
            out.gradients[n_a + k] = unit * *w;
        }
        out.strain[0] = unit * d.transpose();
        Ok(())
    }
}

/// `ξ = Σ_k c_k ξ_k` of one-dimensional CVs (treated as non-periodic).
#[derive(Debug)]
pub struct LinearCombination {
    terms: Vec<(f64, Box<dyn CollectiveVariable>)>,
    atoms: Vec<usize>,
}

impl LinearCombination {
    /// Combines one-dimensional CVs with finite coefficients.
    pub fn new(terms: Vec<(f64, Box<dyn CollectiveVariable>)>) -> Result<Self> {
        if terms.is_empty() {
            return Err(CvError::InvalidDefinition {
                reason: "a linear combination needs at least one term".into(),
            });
        }
        let mut atoms = Vec::new();
        for (c, cv) in &terms {
            if !c.is_finite() {
                return Err(CvError::NonFinite {
                    what: "linear-combination coefficient",
                });
            }
            if cv.dim() != 1 {
                return Err(CvError::InvalidDefinition {
                    reason: format!("term `{}` has {} components, not 1", cv.name(), cv.dim()),
                });
            }
            for &a in cv.atoms() {
                if !atoms.contains(&a) {
                    atoms.push(a);
                }
            }
        }
        Ok(LinearCombination { terms, atoms })
    }
}

impl CollectiveVariable for LinearCombination {
    fn name(&self) -> &str {
        "linear_combination"
    }
    fn dim(&self) -> usize {
        1
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        out.reset(1, &self.atoms);
        let mut part = CvValue::default();
        for (c, cv) in &self.terms {
            cv.evaluate(positions, simbox, &mut part)?;
            out.values[0] += c * part.values[0];
            out.strain[0] += part.strain[0] * *c;
            for (k, atom) in part.atoms.iter().enumerate() {
                let slot = self
                    .atoms
                    .iter()
                    .position(|a| a == atom)
                    .expect("atoms of every term are listed");
                out.gradients[slot] += part.gradients[k] * *c;
            }
        }
        Ok(())
    }
}

/// Several CVs stacked into one multi-dimensional CV: the components of every term, in
/// order. Two distances, or the φ/ψ dihedrals of a Ramachandran plot, become one 2-D CV
/// for a 2-D umbrella grid or metadynamics. Each component keeps its term's period.
#[derive(Debug)]
pub struct Stack {
    terms: Vec<Box<dyn CollectiveVariable>>,
    atoms: Vec<usize>,
    /// `(term, component within the term)` of every stacked component.
    components: Vec<(usize, usize)>,
}

impl Stack {
    /// Stacks the terms (at least one).
    pub fn new(terms: Vec<Box<dyn CollectiveVariable>>) -> Result<Self> {
        if terms.is_empty() {
            return Err(CvError::InvalidDefinition {
                reason: "a stack needs at least one CV".into(),
            });
        }
        let mut atoms = Vec::new();
        let mut components = Vec::new();
        for (t, cv) in terms.iter().enumerate() {
            for &a in cv.atoms() {
                if !atoms.contains(&a) {
                    atoms.push(a);
                }
            }
            components.extend((0..cv.dim()).map(|c| (t, c)));
        }
        Ok(Stack {
            terms,
            atoms,
            components,
        })
    }
}

impl CollectiveVariable for Stack {
    fn name(&self) -> &str {
        "stack"
    }
    fn dim(&self) -> usize {
        self.components.len()
    }
    fn atoms(&self) -> &[usize] {
        &self.atoms
    }
    fn period(&self, component: usize) -> Option<f64> {
        let (t, c) = self.components[component];
        self.terms[t].period(c)
    }
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()> {
        check_atoms(&self.atoms, positions)?;
        out.reset(self.dim(), &self.atoms);
        let n = self.atoms.len();
        let mut part = CvValue::default();
        let mut offset = 0;
        for cv in &self.terms {
            cv.evaluate(positions, simbox, &mut part)?;
            for c in 0..part.dim() {
                out.values[offset + c] = part.values[c];
                out.strain[offset + c] = part.strain[c];
                for (k, atom) in part.atoms.iter().enumerate() {
                    let slot = self
                        .atoms
                        .iter()
                        .position(|a| a == atom)
                        .expect("atoms of every term are listed");
                    out.gradients[(offset + c) * n + slot] += part.gradient(c, k);
                }
            }
            offset += part.dim();
        }
        Ok(())
    }
}
