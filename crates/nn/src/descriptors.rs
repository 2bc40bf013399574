//! Atom-centred symmetry functions (Behler & Parrinello 2007; Behler 2011) with
//! analytic derivatives, and the full neighbourhoods they are evaluated on.
//!
//! The descriptors have no trainable parameters, so their Jacobian stays outside the
//! tape: it is applied on the fly in `f64` — to `∂E/∂G` for forces and virial, and to
//! a direction `v` for the tangents of force matching — without ever being stored.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_neighbors::{CellList, ListKind, NeighborList};

use crate::error::config_error;
use crate::{Matrix, NnError, Result};

/// A radial function `G2 = Σ_j exp(−η (r_ij − r_s)²) f_c(r_ij)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Radial {
    /// Width parameter η (1/length²), ≥ 0.
    pub eta: f64,
    /// Centre r_s (length units).
    pub rs: f64,
}

/// An angular function: `G4 = 2^{1−ζ} Σ_{j<k} (1 + λ cos θ_ijk)^ζ
/// exp(−η (r_ij² + r_ik² + r_jk²)) f_c(r_ij) f_c(r_ik) f_c(r_jk)`, or `G5` without the
/// `r_jk` terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Angular {
    /// Width parameter η (1/length²), ≥ 0.
    pub eta: f64,
    /// Angular resolution ζ ≥ 1.
    pub zeta: f64,
    /// +1 or −1 (where in angle the function peaks).
    pub lambda: f64,
}

/// Which angular family to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AngularKind {
    /// G4: includes the `j–k` distance (cut off at `r_jk < r_c`).
    G4,
    /// G5: only the two arms `i–j`, `i–k`.
    G5,
}

/// A set of symmetry functions with the cosine cutoff
/// `f_c(r) = ½ (cos(π r / r_c) + 1)` for `r < r_c`.
///
/// Columns of the descriptor matrix: first one radial block per neighbour species
/// (`n_species × radial.len()`), then one angular block per unordered neighbour
/// species pair `(b ≤ c)` (`n_species (n_species + 1) / 2 × angular.len()`). Every
/// central species uses the same layout (its own network reads it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymmetryFunctions {
    /// Cutoff radius r_c (length units).
    pub cutoff: f64,
    /// Number of species (species indices are `0..n_species`).
    pub n_species: usize,
    /// Radial functions.
    pub radial: Vec<Radial>,
    /// Angular functions.
    pub angular: Vec<Angular>,
    /// G4 or G5.
    pub angular_kind: AngularKind,
}

impl SymmetryFunctions {
    /// A common default: `n_radial` shifted Gaussians with centres evenly spaced on
    /// `[0.5, r_c − 0.5]·(r_c / r_c)` … more precisely `r_s = r_c·k/n_radial` for
    /// `k = 0..n_radial` with `η = (n_radial / r_c)²`, and angular functions for
    /// `ζ ∈ {1, 4}`, `λ = ±1`, `η = 1/r_c²`.
    pub fn standard(cutoff: f64, n_species: usize, n_radial: usize, kind: AngularKind) -> Self {
        let eta = (n_radial as f64 / cutoff).powi(2);
        let radial = (0..n_radial)
            .map(|k| Radial {
                eta,
                rs: cutoff * k as f64 / n_radial as f64,
            })
            .collect();
        let mut angular = Vec::new();
        for zeta in [1.0, 4.0] {
            for lambda in [1.0, -1.0] {
                angular.push(Angular {
                    eta: 1.0 / (cutoff * cutoff),
                    zeta,
                    lambda,
                });
            }
        }
        SymmetryFunctions {
            cutoff,
            n_species,
            radial,
            angular,
            angular_kind: kind,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.cutoff.is_finite() && self.cutoff > 0.0) {
            return Err(config_error("cutoff", "must be positive and finite"));
        }
        if self.n_species == 0 {
            return Err(config_error("n_species", "need at least one species"));
        }
        if self.radial.is_empty() && self.angular.is_empty() {
            return Err(config_error("symmetry functions", "need at least one"));
        }
        for r in &self.radial {
            if !(r.eta.is_finite() && r.eta >= 0.0 && r.rs.is_finite()) {
                return Err(config_error("radial", "η must be ≥ 0 and r_s finite"));
            }
        }
        for a in &self.angular {
            if !(a.eta.is_finite() && a.eta >= 0.0 && a.zeta.is_finite() && a.zeta >= 1.0)
                || (a.lambda != 1.0 && a.lambda != -1.0)
            {
                return Err(config_error("angular", "need η ≥ 0, ζ ≥ 1, λ = ±1"));
            }
        }
        if self.checked_dim().is_none() {
            return Err(config_error(
                "n_species",
                format!("{} species give too many descriptors", self.n_species),
            ));
        }
        Ok(())
    }

    /// [`SymmetryFunctions::dim`], `None` on overflow (a damaged model file may claim
    /// 2³³ species).
    fn checked_dim(&self) -> Option<usize> {
        let s = self.n_species;
        let pairs = s.checked_mul(s.checked_add(1)?)? / 2;
        s.checked_mul(self.radial.len())?
            .checked_add(pairs.checked_mul(self.angular.len())?)
    }

    /// Number of descriptor columns.
    pub fn dim(&self) -> usize {
        let s = self.n_species;
        s * self.radial.len() + s * (s + 1) / 2 * self.angular.len()
    }

    fn pair_block(&self, b: usize, c: usize) -> usize {
        let (b, c) = if b <= c { (b, c) } else { (c, b) };
        // Index of (b, c), b ≤ c, in row-major upper-triangular order.
        b * self.n_species - b * (b + 1) / 2 + c
    }

    /// Descriptors of every atom (`n_atoms × dim`).
    pub fn compute(&self, hood: &Neighborhood, species: &[u32]) -> Result<Matrix> {
        let d = self.dim();
        let n = hood.n_atoms();
        let mut g = Matrix::zeros(n, d);
        let table = AngularTable::new(&self.angular);
        g.data
            .par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                let row = std::cell::RefCell::new(row);
                self.visit::<false>(
                    &table,
                    i,
                    hood,
                    species,
                    |col, value, _, _| row.borrow_mut()[col] += value,
                    |t, coeffs| {
                        let mut row = row.borrow_mut();
                        for (m, c) in coeffs.iter().enumerate() {
                            row[t.block + m] += c[0];
                        }
                    },
                );
            });
        Ok(g)
    }

    /// Descriptor tangents `t_i = Σ_k (∂G_i/∂r_k)·v_k` for a displacement direction
    /// `v` (one vector per atom).
    pub fn tangents(&self, hood: &Neighborhood, species: &[u32], v: &[Vec3]) -> Matrix {
        let d = self.dim();
        let mut t = Matrix::zeros(hood.n_atoms(), d);
        let table = AngularTable::new(&self.angular);
        t.data
            .par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                let vi = v[i];
                let dv: Vec<Vec3> = hood
                    .neighbors(i)
                    .iter()
                    .map(|nb| v[nb.j as usize] - vi)
                    .collect();
                let row = std::cell::RefCell::new(row);
                self.visit::<true>(
                    &table,
                    i,
                    hood,
                    species,
                    |col, _, entry, g| row.borrow_mut()[col] += g.dot(&dv[entry]),
                    |t, coeffs| {
                        let p: [f64; 3] = std::array::from_fn(|k| {
                            t.basis[k].0.dot(&dv[t.eu]) + t.basis[k].1.dot(&dv[t.ev])
                        });
                        let mut row = row.borrow_mut();
                        for (m, c) in coeffs.iter().enumerate() {
                            row[t.block + m] += c[1] * p[0] + c[2] * p[1] + c[3] * p[2];
                        }
                    },
                );
            });
        t
    }

    /// Forces `F_k = −Σ_i (∂E/∂G_i)·(∂G_i/∂r_k)` and virial `W = Σ_k x_k ⊗ F_k`
    /// (consistent images) for `de_dg = ∂E/∂G` (`n_atoms × dim`).
    pub fn forces(
        &self,
        hood: &Neighborhood,
        species: &[u32],
        de_dg: &Matrix,
    ) -> (Vec<Vec3>, Mat3) {
        let n = hood.n_atoms();
        let threads = rayon::current_num_threads().max(1);
        let chunk = n.div_ceil(threads).max(64);
        let starts: Vec<usize> = (0..n).step_by(chunk).collect();
        let table = AngularTable::new(&self.angular);
        let parts: Vec<(Vec<Vec3>, Mat3)> = starts
            .into_par_iter()
            .map(|start| {
                let mut f = vec![Vec3::zeros(); n];
                let mut w = Mat3::zeros();
                let mut fe: Vec<Vec3> = Vec::new();
                for i in start..(start + chunk).min(n) {
                    let lam = de_dg.row(i);
                    let nbs = hood.neighbors(i);
                    // Forces on each neighbour entry first; scattered (and the virial
                    // taken with each entry's own image) once per entry.
                    fe.clear();
                    fe.resize(nbs.len(), Vec3::zeros());
                    {
                        let fe = std::cell::RefCell::new(&mut fe);
                        self.visit::<true>(
                            &table,
                            i,
                            hood,
                            species,
                            |col, _, entry, g| fe.borrow_mut()[entry] -= lam[col] * g,
                            |t, coeffs| {
                                // Contract over the functions first: three scalars per
                                // triplet, then three vector updates per arm.
                                let mut s = [0.0; 3];
                                for (m, c) in coeffs.iter().enumerate() {
                                    let l = lam[t.block + m];
                                    s[0] += l * c[1];
                                    s[1] += l * c[2];
                                    s[2] += l * c[3];
                                }
                                let mut fe = fe.borrow_mut();
                                let b = &t.basis;
                                fe[t.eu] -= b[0].0 * s[0] + b[1].0 * s[1] + b[2].0 * s[2];
                                fe[t.ev] -= b[0].1 * s[0] + b[1].1 * s[1] + b[2].1 * s[2];
                            },
                        );
                    }
                    let mut fi = Vec3::zeros();
                    for (nb, fj) in nbs.iter().zip(&fe) {
                        f[nb.j as usize] += fj;
                        fi -= fj;
                        w += nb.d * fj.transpose();
                    }
                    f[i] += fi;
                }
                (f, w)
            })
            .collect();
        let mut parts = parts.into_iter();
        let (mut f, mut w) = parts
            .next()
            .unwrap_or_else(|| (vec![Vec3::zeros(); n], Mat3::zeros()));
        for (f2, w2) in parts {
            for (a, b) in f.iter_mut().zip(&f2) {
                *a += b;
            }
            w += w2;
        }
        (f, w)
    }

    /// Walks the terms of atom `i`'s descriptors.
    ///
    /// Radial terms: `radial(column, value, entry, ∂term/∂d)`, with `entry` indexing
    /// `hood.neighbors(i)` and `d` that entry's displacement from `i`. Angular terms,
    /// once per neighbour pair: `angular(triplet, coeffs)` with `coeffs[m] = [value, c1,
    /// c2, c3]` for function `m`, whose gradients with respect to the two arms are
    /// `Σ_k c_k basis[k].0` and `Σ_k c_k basis[k].1`. The centre's derivative is minus
    /// the sum. With `GRAD = false` the derivative parts are not computed.
    #[inline]
    fn visit<const GRAD: bool>(
        &self,
        table: &AngularTable,
        i: usize,
        hood: &Neighborhood,
        species: &[u32],
        mut radial: impl FnMut(usize, f64, usize, Vec3),
        mut angular: impl FnMut(&Triplet, &[[f64; 4]]),
    ) {
        let rc = self.cutoff;
        let nr = self.radial.len();
        let ang_base = self.n_species * nr;
        let nbs = hood.neighbors(i);
        let cuts: Vec<(f64, f64)> = nbs.iter().map(|nb| cutoff_fn(nb.r, rc)).collect();
        for (entry, (nb, &(fc, dfc))) in nbs.iter().zip(&cuts).enumerate() {
            let unit = nb.d / nb.r;
            let b = species[nb.j as usize] as usize;
            for (m, rf) in self.radial.iter().enumerate() {
                let x = nb.r - rf.rs;
                let e = (-rf.eta * x * x).exp();
                let value = e * fc;
                let dr = if GRAD {
                    e * (dfc - 2.0 * rf.eta * x * fc)
                } else {
                    0.0
                };
                radial(b * nr + m, value, entry, unit * dr);
            }
        }
        if self.angular.is_empty() {
            return;
        }
        let g4 = self.angular_kind == AngularKind::G4;
        let mut rads = vec![0.0; table.etas.len()];
        let mut coeffs = vec![[0.0; 4]; table.functions.len()];
        for (a, p) in nbs.iter().enumerate() {
            let (fu, dfu) = cuts[a];
            let uhat = p.d / p.r;
            let sb = species[p.j as usize] as usize;
            for (bq, (q, &(fv, dfv))) in nbs[a + 1..].iter().zip(&cuts[a + 1..]).enumerate() {
                let (u, v) = (p.d, q.d);
                let w = v - u;
                let rw2 = w.norm_squared();
                let (fw, dfw, rw) = if g4 {
                    if rw2 >= rc * rc {
                        continue;
                    }
                    let rw = rw2.sqrt();
                    let (fw, dfw) = cutoff_fn(rw, rc);
                    (fw, dfw, rw)
                } else {
                    (1.0, 0.0, 1.0)
                };
                let vhat = v / q.r;
                let cos = uhat.dot(&vhat);
                let fcut = fu * fv * fw;
                let r2sum = p.r * p.r + q.r * q.r + if g4 { rw2 } else { 0.0 };
                for (r, &eta) in rads.iter_mut().zip(&table.etas) {
                    *r = (-eta * r2sum).exp();
                }
                for (c, &(slot, zeta, lambda, norm, int)) in coeffs.iter_mut().zip(&table.functions)
                {
                    let base = 1.0 + lambda * cos;
                    if base <= 0.0 {
                        // (1 + λ cos θ)^ζ and, for ζ ≥ 1, its gradient vanish here.
                        *c = [0.0; 4];
                        continue;
                    }
                    let pw = match int {
                        Some(k) => base.powi(k - 1),
                        None => base.powf(zeta - 1.0),
                    };
                    let ang = pw * base;
                    let rad = rads[slot];
                    c[0] = norm * ang * rad * fcut;
                    if GRAD {
                        // ∂/∂cos θ, ∂/∂(r²-sum) and ∂/∂(cutoff product) of the term.
                        c[1] = norm * zeta * pw * lambda * rad * fcut;
                        c[2] = norm * (-2.0 * table.etas[slot]) * ang * rad * fcut;
                        c[3] = norm * ang * rad;
                    }
                }
                let basis = if GRAD {
                    let dcos_du = (vhat - uhat * cos) / p.r;
                    let dcos_dv = (uhat - vhat * cos) / q.r;
                    let mut dfc_du = uhat * (dfu * fv * fw);
                    let mut dfc_dv = vhat * (fu * dfv * fw);
                    if g4 && rw > 0.0 {
                        let what = w / rw;
                        dfc_du -= what * (fu * fv * dfw);
                        dfc_dv += what * (fu * fv * dfw);
                    }
                    // ∂(r²-sum)/∂u = 2(u − w·[G4]), ∂/∂v = 2(v + w·[G4]); the factor 2
                    // is in c2 (−2η).
                    let (gu_r, gv_r) = if g4 { (u - w, v + w) } else { (u, v) };
                    [(dcos_du, dcos_dv), (gu_r, gv_r), (dfc_du, dfc_dv)]
                } else {
                    [(Vec3::zeros(), Vec3::zeros()); 3]
                };
                let triplet = Triplet {
                    eu: a,
                    ev: a + 1 + bq,
                    block: ang_base
                        + self.pair_block(sb, species[q.j as usize] as usize) * self.angular.len(),
                    basis,
                };
                angular(&triplet, &coeffs);
            }
        }
    }
}

/// One angular neighbour pair of a centre atom: its two entries, the first column of
/// its species-pair block, and the gradient basis of its terms.
struct Triplet {
    eu: usize,
    ev: usize,
    block: usize,
    basis: [(Vec3, Vec3); 3],
}

/// Per-function constants of the angular terms, computed once per evaluation.
struct AngularTable {
    /// Distinct η values.
    etas: Vec<f64>,
    /// Per function: index into `etas`, ζ, λ, 2^{1−ζ}, ζ as an integer if it is one.
    functions: Vec<(usize, f64, f64, f64, Option<i32>)>,
}

impl AngularTable {
    fn new(angular: &[Angular]) -> Self {
        let mut etas: Vec<f64> = Vec::new();
        let functions = angular
            .iter()
            .map(|a| {
                let slot = match etas.iter().position(|&e| e == a.eta) {
                    Some(k) => k,
                    None => {
                        etas.push(a.eta);
                        etas.len() - 1
                    }
                };
                let int = (a.zeta.fract() == 0.0 && a.zeta <= 64.0).then_some(a.zeta as i32);
                (slot, a.zeta, a.lambda, 2f64.powf(1.0 - a.zeta), int)
            })
            .collect();
        AngularTable { etas, functions }
    }
}

/// `(f_c(r), f_c'(r))` for the cosine cutoff.
#[inline]
fn cutoff_fn(r: f64, rc: f64) -> (f64, f64) {
    if r >= rc {
        return (0.0, 0.0);
    }
    let (sin, cos) = (std::f64::consts::PI * r / rc).sin_cos();
    (0.5 * (cos + 1.0), -0.5 * std::f64::consts::PI / rc * sin)
}

/// One neighbour of an atom: its (real) index, the displacement from the atom to the
/// neighbour's image, and its length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NeighborEntry {
    /// The neighbour (a real atom; periodic images of it, or of the centre itself,
    /// appear as separate entries).
    pub j: u32,
    /// Displacement from the centre to this image (length units).
    pub d: Vec3,
    /// |d| (length units).
    pub r: f64,
}

/// Full neighbourhoods within a cutoff (every neighbour image of every atom, both
/// directions), in compressed rows.
#[derive(Clone, Debug, Default)]
pub struct Neighborhood {
    offsets: Vec<usize>,
    entries: Vec<NeighborEntry>,
}

impl Neighborhood {
    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Neighbours of atom `i`.
    pub fn neighbors(&self, i: usize) -> &[NeighborEntry] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Total number of entries (twice the number of pairs).
    pub fn n_entries(&self) -> usize {
        self.entries.len()
    }

    fn from_pairs(n: usize, pairs: &[(usize, usize, Vec3)], both: bool) -> Result<Self> {
        let mut counts = vec![0usize; n + 1];
        for &(i, j, d) in pairs {
            if d.norm_squared() == 0.0 {
                return Err(NnError::CoincidentAtoms { i, j });
            }
            counts[i + 1] += 1;
            if both {
                counts[j + 1] += 1;
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut entries = vec![
            NeighborEntry {
                j: 0,
                d: Vec3::zeros(),
                r: 0.0
            };
            counts[n]
        ];
        for &(i, j, d) in pairs {
            let r = d.norm();
            entries[fill[i]] = NeighborEntry { j: j as u32, d, r };
            fill[i] += 1;
            if both {
                entries[fill[j]] = NeighborEntry {
                    j: i as u32,
                    d: -d,
                    r,
                };
                fill[j] += 1;
            }
        }
        Ok(Neighborhood {
            offsets: counts,
            entries,
        })
    }

    /// Neighbourhoods within `cutoff` found by binning (exact for every box, including
    /// cells smaller than twice the cutoff).
    pub fn build(positions: &[Vec3], simbox: &SimBox, cutoff: f64) -> Result<Self> {
        let cells = CellList::new(positions, simbox, cutoff)?;
        let mut pairs = Vec::new();
        cells.for_each_pair(ListKind::Half, |p| pairs.push((p.i, p.j, p.d)));
        Self::from_pairs(positions.len(), &pairs, true)
    }

    /// Neighbourhoods within `cutoff` from an up-to-date Verlet list (half or full)
    /// whose cutoff is at least `cutoff`.
    pub fn from_list(list: &NeighborList, cutoff: f64) -> Result<Self> {
        if list.cutoff() < cutoff {
            return Err(NnError::InvalidConfig {
                what: "neighbor list cutoff",
                reason: format!("{} is below the model cutoff {cutoff}", list.cutoff()),
            });
        }
        let pos = list.positions();
        let cut2 = cutoff * cutoff;
        let mut pairs = Vec::new();
        for i in 0..list.n_atoms() {
            for &j in list.neighbors(i) {
                let d = pos[j as usize] - pos[i];
                if d.norm_squared() < cut2 {
                    pairs.push((i, list.source(j as usize), d));
                }
            }
        }
        let both = list.config().kind == ListKind::Half;
        Self::from_pairs(list.n_atoms(), &pairs, both)
    }
}
