//! Short-range pair potentials: the [`PairPotential`] role and the shared, parallel pair
//! loop over a half neighbor list.

use std::ops::Range;

use rayon::prelude::*;
use thermograd_geometry::{Mat3, Vec3};
use thermograd_neighbors::{brute_force_pairs, ListKind, NeighborList};

use crate::{Configuration, Evaluation, MdError, Result};

/// A spherically symmetric pair interaction `u_ab(r)` with a cutoff, between atoms of
/// species `a` and `b`.
///
/// Implementations provide the energy and the scalar `−u'(r)/r` as functions of `r²`;
/// [`pair_sum`] turns them into energy, forces and virial over a neighbor list. A pair
/// potential implements [`crate::Potential`] by calling [`pair_sum`]:
///
/// ```
/// use thermograd_md::{pair_sum, Configuration, Evaluation, PairPotential, Potential, Result};
///
/// /// Harmonic repulsion u(r) = ½ k (r − r_c)² for r < r_c.
/// #[derive(Debug)]
/// struct SoftDisk { k: f64, rc: f64 }
///
/// impl PairPotential for SoftDisk {
///     fn pair_cutoff(&self) -> f64 { self.rc }
///     fn energy_and_force(&self, _a: u32, _b: u32, r2: f64) -> (f64, f64) {
///         let r = r2.sqrt();
///         (0.5 * self.k * (r - self.rc).powi(2), -self.k * (r - self.rc) / r)
///     }
/// }
///
/// impl Potential for SoftDisk {
///     fn cutoff(&self) -> Option<f64> { Some(self.rc) }
///     fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
///         pair_sum(self, c, out)
///     }
/// }
///
/// use thermograd_geometry::{SimBox, Vec3};
/// let positions = [Vec3::zeros(), Vec3::new(0.5, 0.0, 0.0)];
/// let simbox = SimBox::open();
/// let c = Configuration { positions: &positions, species: &[0, 0], simbox: &simbox, neighbors: None };
/// let mut out = Evaluation::zeros(2);
/// SoftDisk { k: 4.0, rc: 1.0 }.add_to(&c, &mut out)?;
/// assert!((out.energy - 0.5).abs() < 1e-12);
/// assert!((out.forces[1].x - 2.0).abs() < 1e-12); // pushed away along +x
/// # Ok::<(), thermograd_md::MdError>(())
/// ```
pub trait PairPotential: Send + Sync {
    /// The cutoff beyond which `u = 0` (length units).
    fn pair_cutoff(&self) -> f64;

    /// Whether `u` depends on the species; `false` skips the species look-up in the loop.
    fn species_dependent(&self) -> bool {
        true
    }

    /// `(u(r), −u'(r)/r)` for species `a`, `b` at squared distance `r2 < cutoff²`
    /// (energy and energy/length² units).
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64);
}

/// Adds the energy, forces and virial of a pair potential over `config`'s half neighbor
/// list (or, without one, the O(N²) brute-force pair search) to `out`.
///
/// Forces are accumulated on real atoms and ghost images separately (one buffer per
/// thread, rows split evenly by neighbour count), the virial is taken as
/// `Σ_k x_k ⊗ F_k` over all entries before ghost forces are folded onto their source
/// atoms (LAMMPS' "fdotr"), and only then are ghost forces added to real atoms.
pub fn pair_sum<P: PairPotential + ?Sized>(
    pot: &P,
    config: &Configuration<'_>,
    out: &mut Evaluation,
) -> Result<()> {
    pair_sum_impl(pot, config, out, false)
}

/// [`pair_sum`] for potentials whose `energy_and_force` is finite for every `r2 > 0`,
/// also beyond the cutoff: every listed entry is evaluated and the result is masked
/// with `r2 < cutoff²`, so the loop has no branch that the 70/30 split of entries
/// inside and outside the cutoff would make the processor mispredict.
pub(crate) fn pair_sum_masked<P: PairPotential + ?Sized>(
    pot: &P,
    config: &Configuration<'_>,
    out: &mut Evaluation,
) -> Result<()> {
    pair_sum_impl(pot, config, out, true)
}

#[inline(always)]
fn pair_sum_impl<P: PairPotential + ?Sized>(
    pot: &P,
    config: &Configuration<'_>,
    out: &mut Evaluation,
    masked: bool,
) -> Result<()> {
    let cutoff = pot.pair_cutoff();
    let n = config.positions.len();
    out.check_atoms(n)?;
    let Some(list) = config.neighbors else {
        return brute_force(pot, config, out);
    };
    if list.cutoff() < cutoff {
        return Err(MdError::CutoffTooLarge {
            cutoff,
            max: list.cutoff(),
        });
    }
    if list.n_atoms() != n || list.config().kind != ListKind::Half {
        return Err(MdError::Mismatch {
            what: "atoms in the half neighbor list",
            expected: n,
            got: list.n_atoms(),
        });
    }
    let pos = list.positions();
    let sources = list.sources();
    let n_ext = pos.len();
    let cut2 = cutoff * cutoff;
    let species = config.species;

    // Rows are visited in the list's spatial order, so that consecutive rows touch
    // mostly the same entries (cache reuse).
    let order = list.row_order();
    let rows = |range: Range<usize>, forces: &mut [Vec3]| -> f64 {
        let atoms = &order[range];
        let neighbors = |i: usize| list.neighbors(i);
        match (pot.species_dependent(), masked) {
            (true, false) => pair_rows::<false>(atoms, forces, neighbors, pos, cut2, |i, j, r2| {
                pot.energy_and_force(species[i], species[sources[j] as usize], r2)
            }),
            (true, true) => pair_rows::<true>(atoms, forces, neighbors, pos, cut2, |i, j, r2| {
                pot.energy_and_force(species[i], species[sources[j] as usize], r2)
            }),
            (false, false) => {
                pair_rows::<false>(atoms, forces, neighbors, pos, cut2, |_, _, r2| {
                    pot.energy_and_force(0, 0, r2)
                })
            }
            (false, true) => pair_rows::<true>(atoms, forces, neighbors, pos, cut2, |_, _, r2| {
                pot.energy_and_force(0, 0, r2)
            }),
        }
    };

    // One force buffer over all entries per part; rows are split evenly by neighbour
    // count. The buffers live in `out`'s scratch between calls.
    let threads = rayon::current_num_threads();
    let parts = if n < 1024 { 1 } else { threads };
    let key = (
        list as *const NeighborList as usize,
        list.builds(),
        n,
        parts,
    );
    if out.scratch.ranges_key != Some(key) {
        out.scratch.ranges = if parts == 1 {
            std::iter::once(0..n).collect()
        } else {
            balanced_ranges(n, parts, |k| list.neighbors(order[k] as usize).len())
        };
        out.scratch.ranges_key = Some(key);
    }
    let ranges = out.scratch.ranges.clone();
    let mut buffers = std::mem::take(&mut out.scratch.buffers);
    buffers.resize_with(ranges.len(), Vec::new);
    let part_energies: Vec<f64> = ranges
        .into_par_iter()
        .zip(buffers.par_iter_mut())
        .map(|(range, forces)| {
            forces.clear();
            forces.resize(n_ext, Vec3::zeros());
            rows(range, forces)
        })
        .collect();
    let energy: f64 = part_energies.iter().sum();

    // Fold the other parts into the first and take the virial Σ_k x_k ⊗ F_k, both in
    // parallel over fixed blocks of entries (a fixed order of summation, so the result
    // does not depend on scheduling).
    let (forces, others) = buffers.split_first_mut().expect("at least one part");
    let block_virials: Vec<[f64; 9]> = forces
        .par_chunks_mut(REDUCE_BLOCK)
        .zip(pos.par_chunks(REDUCE_BLOCK))
        .enumerate()
        .map(|(b, (block, x))| {
            let entries = b * REDUCE_BLOCK..b * REDUCE_BLOCK + block.len();
            for other in others.iter() {
                for (f, g) in block.iter_mut().zip(&other[entries.clone()]) {
                    *f += g;
                }
            }
            let mut w = [0.0f64; 9];
            for (x, f) in x.iter().zip(block.iter()) {
                for a in 0..3 {
                    for c in 0..3 {
                        w[3 * a + c] += x[a] * f[c];
                    }
                }
            }
            w
        })
        .collect();
    let mut w = [0.0f64; 9];
    for bw in &block_virials {
        for (a, b) in w.iter_mut().zip(bw) {
            *a += b;
        }
    }
    // Real atoms are the first n entries; ghosts fold onto their sources afterwards.
    out.forces
        .par_chunks_mut(REDUCE_BLOCK)
        .zip(forces[..n].par_chunks(REDUCE_BLOCK))
        .for_each(|(o, f)| {
            for (o, f) in o.iter_mut().zip(f) {
                *o += f;
            }
        });
    for (f, &s) in forces[n..].iter().zip(&sources[n..]) {
        out.forces[s as usize] += f;
    }
    out.scratch.buffers = buffers;
    out.virial += Mat3::from_row_slice(&w);
    out.energy += energy;
    Ok(())
}

/// Entries per block of the parallel reduction of per-thread force buffers.
const REDUCE_BLOCK: usize = 4096;

/// Entries per block of the branch-free loop: small enough for the block's scratch
/// arrays to stay in L1, large enough to cover a typical row (≈ 40 entries for
/// Lennard-Jones at liquid density) in one or two blocks.
const BLOCK: usize = 32;

/// The hot loop: the rows of real atoms `atoms` of a half list, forces into `forces`
/// (indexed by entry).
///
/// With `MASKED`, each row is processed in blocks of [`BLOCK`] entries in three passes:
/// gather the displacements into small arrays, evaluate `u` for every entry and zero
/// the result beyond the cutoff (a loop without branches over contiguous arrays, which
/// the compiler vectorizes), then scatter the forces. Without `MASKED`, `u` is called
/// only for entries within the cutoff.
#[inline(always)]
fn pair_rows<'a, const MASKED: bool>(
    atoms: &[u32],
    forces: &mut [Vec3],
    neighbors: impl Fn(usize) -> &'a [u32],
    pos: &[Vec3],
    cut2: f64,
    u: impl Fn(usize, usize, f64) -> (f64, f64),
) -> f64 {
    let mut energy = 0.0;
    if MASKED {
        let mut dx = [0.0f64; BLOCK];
        let mut dy = [0.0f64; BLOCK];
        let mut dz = [0.0f64; BLOCK];
        let mut fk = [0.0f64; BLOCK];
        let mut ek = [0.0f64; BLOCK];
        for &i in atoms {
            let i = i as usize;
            let xi = pos[i];
            let mut fi = Vec3::zeros();
            for block in neighbors(i).chunks(BLOCK) {
                let m = block.len();
                for (k, &j) in block.iter().enumerate() {
                    let d = pos[j as usize] - xi;
                    dx[k] = d.x;
                    dy[k] = d.y;
                    dz[k] = d.z;
                }
                // Slices of exactly `m` elements and zipped iterators: no bounds checks,
                // so the loop vectorizes.
                let (dx, dy, dz) = (&dx[..m], &dy[..m], &dz[..m]);
                let (fk, ek) = (&mut fk[..m], &mut ek[..m]);
                for (((((&x, &y), &z), &j), f_out), e_out) in dx
                    .iter()
                    .zip(dy)
                    .zip(dz)
                    .zip(block)
                    .zip(fk.iter_mut())
                    .zip(ek.iter_mut())
                {
                    let r2 = x * x + y * y + z * z;
                    let (e, f) = u(i, j as usize, r2);
                    let inside = r2 < cut2;
                    *e_out = if inside { e } else { 0.0 };
                    *f_out = if inside { f } else { 0.0 };
                }
                for (((((&j, &x), &y), &z), &f), &e) in
                    block.iter().zip(dx).zip(dy).zip(dz).zip(&*fk).zip(&*ek)
                {
                    energy += e;
                    let fd = Vec3::new(x * f, y * f, z * f);
                    fi -= fd;
                    forces[j as usize] += fd;
                }
            }
            forces[i] += fi;
        }
        return energy;
    }
    for &i in atoms {
        let i = i as usize;
        let xi = pos[i];
        let mut fi = Vec3::zeros();
        for &j in neighbors(i) {
            let j = j as usize;
            let d = pos[j] - xi;
            let r2 = d.norm_squared();
            if r2 < cut2 {
                let (e, fpair) = u(i, j, r2);
                energy += e;
                let fd = d * fpair;
                fi -= fd;
                forces[j] += fd;
            }
        }
        forces[i] += fi;
    }
    energy
}

/// Splits `0..n` into at most `parts` contiguous ranges of about equal total `weight`.
pub(crate) fn balanced_ranges(
    n: usize,
    parts: usize,
    weight: impl Fn(usize) -> usize,
) -> Vec<Range<usize>> {
    let total: usize = (0..n).map(&weight).sum::<usize>().max(1);
    let mut ranges = Vec::with_capacity(parts);
    let mut start = 0;
    let mut acc = 0;
    for i in 0..n {
        acc += weight(i);
        if acc * parts >= total * (ranges.len() + 1) && ranges.len() + 1 < parts {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    ranges.push(start..n);
    ranges
}

fn brute_force<P: PairPotential + ?Sized>(
    pot: &P,
    config: &Configuration<'_>,
    out: &mut Evaluation,
) -> Result<()> {
    let cutoff = pot.pair_cutoff();
    let pairs = brute_force_pairs(config.positions, config.simbox, cutoff, ListKind::Half)?;
    for p in pairs {
        let (e, fpair) = pot.energy_and_force(config.species[p.i], config.species[p.j], p.r2);
        out.energy += e;
        let fd = p.d * fpair;
        out.forces[p.i] -= fd;
        out.forces[p.j] += fd;
        out.virial += fd * p.d.transpose();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_ranges_cover_everything() {
        for n in [0, 1, 5, 100] {
            for parts in [1, 2, 3, 8] {
                let r = balanced_ranges(n, parts, |i| i % 7 + 1);
                assert!(r.len() <= parts.max(1));
                let mut next = 0;
                for range in &r {
                    assert_eq!(range.start, next);
                    next = range.end;
                }
                assert_eq!(next, n);
            }
        }
    }
}
