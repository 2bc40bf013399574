//! Binning of atoms and their periodic images: the engine behind both list types.
//!
//! Periodic boundaries are handled with ghost atoms, as in LAMMPS: every real atom is
//! wrapped into the primary cell, and every periodic image that lies within the list
//! cutoff of the cell (a padding of `cutoff / w_k` in fractional coordinate `k`, where
//! `w_k` is the perpendicular width) is added as a ghost that remembers its source atom
//! and image shift. Pairs are then searched without any periodic logic, which makes
//! triclinic cells and cells smaller than twice the cutoff exact with no special cases.
//!
//! Bins are parallelepipeds in fractional coordinates, at least half a cutoff thick in
//! every perpendicular direction, so all neighbours of an atom lie in the 5×5×5 bins
//! around its own: two points closer than `r` differ by at most `r / w_k` in fractional
//! coordinate `k`. Half-cutoff bins test about 15.6·r³ candidate volume per atom instead
//! of the 27·r³ of cutoff-sized bins with a 27-bin stencil.

use rayon::prelude::*;
use thermograd_geometry::{Mat3, SimBox};

use crate::{
    check_cutoff, check_positions, shift_is_positive, ListKind, NeighborError, Pair, Result, Vec3,
};

/// Real atoms (first `n_real` entries, wrapped into the cell) followed by ghost images.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extended {
    /// Current position of each entry.
    pub positions: Vec<Vec3>,
    /// The real atom each entry is an image of.
    pub source: Vec<u32>,
    /// `positions[k] = x[source[k]] + translation[k]` for the caller's positions `x`;
    /// `translation[k] = h · lattice_shift[k]` for the current cell `h`.
    pub translation: Vec<Vec3>,
    /// Integer lattice shift of each entry relative to the caller's (unwrapped) position.
    pub lattice_shift: Vec<[i32; 3]>,
    /// Image shift of each entry relative to its wrapped source (zero for real atoms).
    pub image: Vec<[i32; 3]>,
    pub n_real: usize,
}

impl Extended {
    /// Wraps real atoms and adds every image within `reach` of the cell.
    ///
    /// Errors: [`NeighborError::AtomTooFar`] for an atom more than 2^30 cell lengths
    /// outside the cell; [`NeighborError::CellTooThin`] when the images within `reach`
    /// would be more than [`MAX_IMAGES_PER_ATOM`] per atom or 2^32 in all.
    pub fn build(positions: &[Vec3], simbox: &SimBox, reach: f64) -> Result<Self> {
        let n = positions.len();
        let mut ext = Extended {
            positions: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            translation: Vec::with_capacity(n),
            lattice_shift: Vec::with_capacity(n),
            image: Vec::with_capacity(n),
            n_real: n,
        };
        let (Some(h), Some(widths)) = (simbox.cell(), simbox.perpendicular_widths()) else {
            ext.positions.extend_from_slice(positions);
            ext.source.extend((0..n).map(|k| k as u32));
            ext.translation.resize(n, Vec3::zeros());
            ext.lattice_shift.resize(n, [0; 3]);
            ext.image.resize(n, [0; 3]);
            return Ok(ext);
        };
        let inverse = h.try_inverse().expect("periodic cell is invertible");
        let pad = widths.map(|w| reach / w);
        // Atoms spread over the cell give about n·Π(1 + 2·pad) entries with their images.
        // A cell far thinner than the reach (a box in the wrong units, a damaged
        // checkpoint) would ask for millions per atom: refuse before making them rather
        // than exhaust the memory.
        let per_atom = pad.iter().map(|p| 1.0 + 2.0 * p).product::<f64>();
        let entries = n as f64 * per_atom;
        if !(per_atom <= MAX_IMAGES_PER_ATOM && entries <= u32::MAX as f64) {
            return Err(NeighborError::CellTooThin {
                width: widths.min(),
                reach,
                entries,
            });
        }
        let mut fractional = Vec::with_capacity(n);
        for (k, x) in positions.iter().enumerate() {
            let s = inverse * x;
            // Lattice shifts are i32; wrapping an atom from further away than 2^30 cells
            // could overflow them (and means the simulation has blown up anyway).
            if !s.iter().all(|v| v.is_finite()) {
                return Err(NeighborError::NonFinitePosition { atom: k });
            }
            let cells = s.amax();
            if cells > MAX_CELLS_AWAY {
                return Err(NeighborError::AtomTooFar { atom: k, cells });
            }
            let mut m = s.map(f64::floor);
            let mut sw = s - m;
            for a in 0..3 {
                // Rounding can leave s − floor(s) equal to 1; move it to 0 of the next cell.
                if sw[a] >= 1.0 {
                    sw[a] = 0.0;
                    m[a] += 1.0;
                }
            }
            let t = -(h * m);
            ext.positions.push(x + t);
            ext.source.push(k as u32);
            ext.translation.push(t);
            ext.lattice_shift
                .push([-m[0] as i32, -m[1] as i32, -m[2] as i32]);
            ext.image.push([0; 3]);
            fractional.push(sw);
        }
        let n_max = pad.map(|p| p.ceil() as i32);
        // Per axis, the shifts that keep the image within the padded cell; most atoms
        // have only the zero shift on every axis, so the product loop is usually empty.
        let mut axis_shifts: [Vec<i32>; 3] = Default::default();
        for (k, &sw) in fractional.iter().enumerate() {
            for a in 0..3 {
                axis_shifts[a].clear();
                axis_shifts[a].extend(
                    (-n_max[a]..=n_max[a]).filter(|&i| {
                        sw[a] + i as f64 >= -pad[a] && sw[a] + (i as f64) < 1.0 + pad[a]
                    }),
                );
            }
            if axis_shifts.iter().all(|s| s.len() == 1) {
                continue;
            }
            for &i in &axis_shifts[0] {
                for &j in &axis_shifts[1] {
                    for &l in &axis_shifts[2] {
                        if (i, j, l) == (0, 0, 0) {
                            continue;
                        }
                        let shift = Vec3::new(i as f64, j as f64, l as f64);
                        let lattice = h * shift;
                        ext.positions.push(ext.positions[k] + lattice);
                        ext.source.push(k as u32);
                        ext.translation.push(ext.translation[k] + lattice);
                        let base = ext.lattice_shift[k];
                        ext.lattice_shift
                            .push([base[0] + i, base[1] + j, base[2] + l]);
                        ext.image.push([i, j, l]);
                    }
                }
            }
        }
        if ext.positions.len() > u32::MAX as usize {
            return Err(NeighborError::TooManyAtoms {
                count: ext.positions.len(),
            });
        }
        // Recompute every entry exactly as `refresh` will on later steps, so positions
        // (and hence forces) do not depend on whether a list was just built or carried
        // over: `(x + t) + L` and `x + (t + L)` differ in the last bit, which would break
        // bit-for-bit checkpoint restarts.
        ext.refresh(positions);
        Ok(ext)
    }

    /// Recomputes the lattice translations for a new cell `h` (same lattice shifts).
    pub fn set_cell(&mut self, h: &Mat3) {
        for (t, n) in self.translation.iter_mut().zip(&self.lattice_shift) {
            *t = h * Vec3::new(n[0] as f64, n[1] as f64, n[2] as f64);
        }
    }

    /// The largest distance any entry's lattice translation moves when the cell changes
    /// by `delta` (= max_k |delta · shift_k|).
    pub fn max_translation_change(&self, delta: &Mat3) -> f64 {
        self.lattice_shift
            .iter()
            .map(|n| (delta * Vec3::new(n[0] as f64, n[1] as f64, n[2] as f64)).norm_squared())
            .fold(0.0, f64::max)
            .sqrt()
    }

    /// Recomputes every entry from the caller's current positions.
    pub fn refresh(&mut self, positions: &[Vec3]) {
        self.positions
            .par_iter_mut()
            .zip(self.source.par_iter())
            .zip(self.translation.par_iter())
            .with_min_len(4096)
            .for_each(|((p, &s), t)| *p = positions[s as usize] + t);
    }
}

/// How many bins one cutoff spans: bins are `reach / SUBDIVISION` thick and the stencil
/// reaches `SUBDIVISION` bins in each direction.
const SUBDIVISION: usize = 2;

/// The most periodic images (with the atom itself) per atom an [`Extended`] set is built
/// with, about `Π(1 + 2·reach/width)` over the cell's three widths: 2^16 allows a one-atom
/// cell 1/16 of the reach wide in every direction, and keeps a damaged 32-atom box from
/// asking for gigabytes.
const MAX_IMAGES_PER_ATOM: f64 = 65536.0;

/// How far outside the cell (in cell lengths) an atom may be and still be wrapped.
const MAX_CELLS_AWAY: f64 = (1u64 << 30) as f64;

/// Atoms sorted into bins, each at least `reach / SUBDIVISION` thick in every direction.
#[derive(Clone, Debug)]
struct Bins {
    counts: [usize; 3],
    /// Maps a position to bin coordinates in units of bins: `u = scale · x + offset`.
    scale: Mat3,
    offset: Vec3,
    /// `start[b]..start[b + 1]` indexes `members` for bin `b`.
    start: Vec<u32>,
    members: Vec<u32>,
    bin_of_real: Vec<u32>,
    /// Per slot of `members`, stored in bin order (structure of arrays) so the pair
    /// search reads memory sequentially and the distance test vectorizes: coordinates,
    /// and `2·source + (image shift is positive)`, which turns the half-list rule
    /// "source > i, or source = i with a positive shift" into `key > 2·i`.
    slot_x: Vec<f64>,
    slot_y: Vec<f64>,
    slot_z: Vec<f64>,
    slot_key: Vec<u64>,
    /// Bin of each slot.
    slot_bin: Vec<u32>,
}

impl Bins {
    fn build(ext: &Extended, simbox: &SimBox, reach: f64) -> Self {
        // Work in coordinates where the region holding all entries is [lo, hi) per axis
        // and a distance `reach` spans at most `min_width[k]` in axis k.
        let (to_frame, lo, hi, min_width) = match (simbox.cell(), simbox.perpendicular_widths()) {
            (Some(h), Some(widths)) => {
                let pad = widths.map(|w| reach / w);
                (
                    h.try_inverse().expect("periodic cell is invertible"),
                    -pad,
                    pad.add_scalar(1.0),
                    pad,
                )
            }
            _ => {
                let mut lo = Vec3::repeat(f64::INFINITY);
                let mut hi = Vec3::repeat(f64::NEG_INFINITY);
                for p in &ext.positions {
                    lo = lo.inf(p);
                    hi = hi.sup(p);
                }
                if ext.positions.is_empty() {
                    lo = Vec3::zeros();
                    hi = Vec3::zeros();
                }
                (
                    Mat3::identity(),
                    lo,
                    hi.add_scalar(1e-9 * reach),
                    Vec3::repeat(reach),
                )
            }
        };
        let extent = hi - lo;
        let mut counts = [0usize; 3];
        for k in 0..3 {
            counts[k] = ((SUBDIVISION as f64 * extent[k] / min_width[k]).floor() as usize).max(1);
        }
        // Dilute systems would get far more bins than atoms; coarser bins stay correct.
        // Saturating arithmetic: in a huge box (10⁷ cutoffs per edge) the counts multiply
        // past usize.
        let cap = (8 * ext.positions.len()).max(64);
        while counts.iter().fold(1usize, |p, &c| p.saturating_mul(c)) > cap {
            for c in &mut counts {
                *c = (c.saturating_mul(4) / 5).max(1);
            }
        }
        let per_unit = Vec3::new(
            counts[0] as f64 / extent[0].max(f64::MIN_POSITIVE),
            counts[1] as f64 / extent[1].max(f64::MIN_POSITIVE),
            counts[2] as f64 / extent[2].max(f64::MIN_POSITIVE),
        );
        let scale = Mat3::from_diagonal(&per_unit) * to_frame;
        let offset = -lo.component_mul(&per_unit);
        let mut bins = Bins {
            counts,
            scale,
            offset,
            start: Vec::new(),
            members: Vec::new(),
            bin_of_real: Vec::with_capacity(ext.n_real),
            slot_x: Vec::new(),
            slot_y: Vec::new(),
            slot_z: Vec::new(),
            slot_key: Vec::new(),
            slot_bin: Vec::new(),
        };
        let n_bins: usize = counts.iter().product();
        let bin_of: Vec<u32> = ext
            .positions
            .iter()
            .map(|p| bins.bin_index(p) as u32)
            .collect();
        let mut start = vec![0u32; n_bins + 1];
        for &b in &bin_of {
            start[b as usize + 1] += 1;
        }
        for b in 0..n_bins {
            start[b + 1] += start[b];
        }
        let mut fill = start.clone();
        let mut members = vec![0u32; bin_of.len()];
        for (k, &b) in bin_of.iter().enumerate() {
            members[fill[b as usize] as usize] = k as u32;
            fill[b as usize] += 1;
        }
        bins.bin_of_real = bin_of[..ext.n_real].to_vec();
        bins.slot_x = members
            .iter()
            .map(|&k| ext.positions[k as usize].x)
            .collect();
        bins.slot_y = members
            .iter()
            .map(|&k| ext.positions[k as usize].y)
            .collect();
        bins.slot_z = members
            .iter()
            .map(|&k| ext.positions[k as usize].z)
            .collect();
        bins.slot_key = members
            .iter()
            .map(|&k| {
                let k = k as usize;
                2 * ext.source[k] as u64 + shift_is_positive(ext.image[k]) as u64
            })
            .collect();
        bins.slot_bin = members.iter().map(|&k| bin_of[k as usize]).collect();
        bins.start = start;
        bins.members = members;
        bins
    }

    fn coords(&self, p: &Vec3) -> [usize; 3] {
        let u = self.scale * p + self.offset;
        let mut c = [0usize; 3];
        for k in 0..3 {
            c[k] = (u[k].floor().max(0.0) as usize).min(self.counts[k] - 1);
        }
        c
    }

    fn bin_index(&self, p: &Vec3) -> usize {
        let [a, b, c] = self.coords(p);
        (a * self.counts[1] + b) * self.counts[2] + c
    }

    /// Calls `f(slots)` for every run of contiguous slots of `members` in the stencil of
    /// bins around bin `bin`.
    #[inline]
    fn for_each_candidate_run(&self, bin: usize, mut f: impl FnMut(std::ops::Range<usize>)) {
        let [na, nb, nc] = self.counts;
        let (a, b, c) = (bin / (nb * nc), (bin / nc) % nb, bin % nc);
        let r = SUBDIVISION;
        for ia in a.saturating_sub(r)..=(a + r).min(na - 1) {
            for ib in b.saturating_sub(r)..=(b + r).min(nb - 1) {
                let row = (ia * nb + ib) * nc;
                let lo = row + c.saturating_sub(r);
                let hi = row + (c + r).min(nc - 1);
                // Bins along the last axis are contiguous in `members`.
                let first = self.start[lo] as usize;
                let last = self.start[hi + 1] as usize;
                f(first..last);
            }
        }
    }
}

/// A one-shot list of all pairs within a cutoff, found by binning.
///
/// Build cost is linear in the number of atoms. Use [`crate::NeighborList`] in a
/// simulation loop; use this when positions change completely between calls.
#[derive(Clone, Debug)]
pub struct CellList {
    cutoff: f64,
    ext: Extended,
    bins: Bins,
}

impl CellList {
    /// Bins `positions` (length units) in `simbox` for pairs closer than `cutoff`.
    pub fn new(positions: &[Vec3], simbox: &SimBox, cutoff: f64) -> Result<Self> {
        check_cutoff(cutoff)?;
        check_positions(positions)?;
        let ext = Extended::build(positions, simbox, cutoff)?;
        let bins = Bins::build(&ext, simbox, cutoff);
        Ok(CellList { cutoff, ext, bins })
    }

    /// The cutoff the list was built for.
    pub fn cutoff(&self) -> f64 {
        self.cutoff
    }

    /// Number of real atoms.
    pub fn n_atoms(&self) -> usize {
        self.ext.n_real
    }

    /// Number of periodic ghost images created.
    pub fn n_ghosts(&self) -> usize {
        self.ext.positions.len() - self.ext.n_real
    }

    /// Calls `f` with every pair within the cutoff.
    pub fn for_each_pair(&self, kind: ListKind, mut f: impl FnMut(Pair)) {
        let cut2 = self.cutoff * self.cutoff;
        for i in 0..self.ext.n_real {
            self.neighbors_of(i, kind, cut2, |j, d, r2| {
                f(Pair {
                    i,
                    j: self.ext.source[j] as usize,
                    d,
                    r2,
                })
            });
        }
    }

    /// All pairs within the cutoff.
    pub fn pairs(&self, kind: ListKind) -> Vec<Pair> {
        let mut pairs = Vec::new();
        self.for_each_pair(kind, |p| pairs.push(p));
        pairs
    }

    /// Calls `f(j, d, r2)` for every extended entry `j` within `sqrt(cut2)` of real atom
    /// `i` that `kind` keeps.
    #[inline]
    pub(crate) fn neighbors_of(
        &self,
        i: usize,
        kind: ListKind,
        cut2: f64,
        mut f: impl FnMut(usize, Vec3, f64),
    ) {
        let ri = self.ext.positions[i];
        let bins = &self.bins;
        bins.for_each_candidate_run(bins.bin_of_real[i] as usize, |run| {
            for slot in run {
                let source = (bins.slot_key[slot] / 2) as usize;
                let keep = match kind {
                    ListKind::Full => true,
                    ListKind::Half => bins.slot_key[slot] > 2 * i as u64,
                };
                let d = Vec3::new(
                    bins.slot_x[slot] - ri.x,
                    bins.slot_y[slot] - ri.y,
                    bins.slot_z[slot] - ri.z,
                );
                let r2 = d.norm_squared();
                // The atom itself is the only entry at distance zero with source i and a
                // zero shift; `keep` already rejects it for half lists, `r2 > 0` for full
                // lists.
                if keep && r2 < cut2 && (r2 > 0.0 || source != i) {
                    f(bins.members[slot] as usize, d, r2);
                }
            }
        });
    }

    /// Appends to `out` every extended entry within `sqrt(cut2)` of the real atom in
    /// slot `slot` (see [`CellList::real_slots`]) that `kind` keeps, in slot order; the
    /// same entries as [`CellList::neighbors_of`].
    ///
    /// The loop has no data-dependent branch: every candidate is written past the kept
    /// ones and the count advances only when it is kept (about a quarter of the
    /// candidates are), which avoids a mispredicted branch per candidate. The atom's own
    /// data are read from its slot, next to the previous atom's in bin order.
    #[inline]
    pub(crate) fn row_into(&self, slot: usize, kind: ListKind, cut2: f64, out: &mut Vec<u32>) {
        let bins = &self.bins;
        let i = bins.members[slot] as usize;
        let ri = Vec3::new(bins.slot_x[slot], bins.slot_y[slot], bins.slot_z[slot]);
        let key_i = 2 * i as u64;
        bins.for_each_candidate_run(bins.slot_bin[slot] as usize, |run| {
            let len = out.len();
            out.resize(len + run.len(), 0);
            let (xs, ys, zs) = (
                &bins.slot_x[run.clone()],
                &bins.slot_y[run.clone()],
                &bins.slot_z[run.clone()],
            );
            let keys = &bins.slot_key[run.clone()];
            let members = &bins.members[run.clone()];
            let dest = &mut out[len..];
            let mut kept = 0;
            for k in 0..members.len() {
                let (dx, dy, dz) = (xs[k] - ri.x, ys[k] - ri.y, zs[k] - ri.z);
                let r2 = dx * dx + dy * dy + dz * dz;
                let keep = match kind {
                    ListKind::Half => (r2 < cut2) & (keys[k] > key_i),
                    ListKind::Full => (r2 < cut2) & ((r2 > 0.0) | (keys[k] / 2 != i as u64)),
                };
                dest[kept] = members[k];
                kept += keep as usize;
            }
            out.truncate(len + kept);
        });
    }

    /// Slots (positions in bin order) of the real atoms, in bin order.
    pub(crate) fn real_slots(&self) -> Vec<u32> {
        let n_real = self.ext.n_real as u32;
        (0..self.bins.members.len() as u32)
            .filter(|&s| self.bins.members[s as usize] < n_real)
            .collect()
    }

    /// The real atom or ghost in slot `slot`.
    pub(crate) fn slot_member(&self, slot: u32) -> u32 {
        self.bins.members[slot as usize]
    }

    /// Real atoms in bin order, so consecutive atoms share neighbouring bins.
    #[allow(dead_code)]
    pub(crate) fn spatial_order(&self) -> Vec<u32> {
        let n_real = self.ext.n_real as u32;
        self.bins
            .members
            .iter()
            .copied()
            .filter(|&k| k < n_real)
            .collect()
    }

    pub(crate) fn into_extended(self) -> Extended {
        self.ext
    }
}
