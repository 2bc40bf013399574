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
//!
//! Half lists need about half of that. The half rule compares atoms by their rank in bin
//! order, so for an atom inside the cell the bins before its own in the stencil hold only
//! atoms it does not keep, and are skipped whole (LAMMPS' half stencil, with ghosts and
//! small cells handled by the same rule).

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
            n_real: n,
            ..Extended::default()
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
        // Room for the expected images plus a margin, so the vectors rarely regrow.
        let capacity = (entries * 1.05) as usize + 64;
        ext.positions.reserve(capacity);
        ext.source.reserve(capacity);
        ext.translation.reserve(capacity);
        ext.lattice_shift.reserve(capacity);
        ext.image.reserve(capacity);
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
        // Per axis, the range of shifts that keep the image within the padded cell; most
        // atoms have only the zero shift on every axis, so the product loop is usually
        // empty.
        let mut axis_shifts = [(0i32, 0i32); 3];
        for (k, &sw) in fractional.iter().enumerate() {
            let mut only_self = true;
            for a in 0..3 {
                let inside =
                    |i: i32| sw[a] + i as f64 >= -pad[a] && sw[a] + (i as f64) < 1.0 + pad[a];
                let first = (-n_max[a]..=0).find(|&i| inside(i)).unwrap_or(0);
                let last = (0..=n_max[a]).rev().find(|&i| inside(i)).unwrap_or(0);
                axis_shifts[a] = (first, last);
                only_self &= first == 0 && last == 0;
            }
            if only_self {
                continue;
            }
            let [(i0, i1), (j0, j1), (l0, l1)] = axis_shifts;
            for i in i0..=i1 {
                for j in j0..=j1 {
                    for l in l0..=l1 {
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
            .with_min_len(REFRESH_TASK)
            .for_each(|((p, &s), t)| *p = positions[s as usize] + t);
    }
}

/// Entries per parallel task of [`Extended::refresh`]: copying is so cheap that waking a
/// second thread costs more than the copy below tens of thousands of entries.
const REFRESH_TASK: usize = 2048;

/// Candidates per block of [`CellList::rows_of_bins`] (a power of two).
const ROW_BLOCK: usize = 64;

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
    /// and `2·rank(source) + (image shift is positive)`, where `rank` numbers the real
    /// atoms in bin order. That turns the half-list rule "rank(source) > rank(i), or
    /// source = i with a positive shift" into `key > 2·rank(i)`; ranking in bin order
    /// rather than by index means that for an atom inside the cell every bin before its
    /// own holds only smaller keys, so half of the stencil can be skipped (see
    /// `bin_max_key`).
    slot_x: Vec<f64>,
    slot_y: Vec<f64>,
    slot_z: Vec<f64>,
    slot_key: Vec<u64>,
    /// The largest key in each bin (0 for an empty bin): a bin whose largest key is at
    /// most `2·rank(i)` holds nothing for atom `i`'s half-list row.
    bin_max_key: Vec<u64>,
    /// Bin-order rank of each real atom.
    rank_of_real: Vec<u32>,
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
            bin_max_key: Vec::new(),
            rank_of_real: Vec::new(),
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
        let mut rank_of_real = vec![0u32; ext.n_real];
        let mut rank = 0;
        for &k in &members {
            if (k as usize) < ext.n_real {
                rank_of_real[k as usize] = rank;
                rank += 1;
            }
        }
        bins.slot_key = members
            .iter()
            .map(|&k| {
                let k = k as usize;
                let source = ext.source[k] as usize;
                2 * rank_of_real[source] as u64 + shift_is_positive(ext.image[k]) as u64
            })
            .collect();
        bins.bin_max_key = (0..n_bins)
            .map(|b| {
                bins.slot_key[start[b] as usize..start[b + 1] as usize]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        bins.rank_of_real = rank_of_real;
        bins.start = start;
        bins.members = members;
        bins
    }

    fn coords(&self, p: &Vec3) -> [usize; 3] {
        let u = self.scale * p + self.offset;
        let mut c = [0usize; 3];
        for k in 0..3 {
            // `as` truncates toward zero and saturates (negative and NaN → 0), which for
            // the clamped result equals `floor` without its library call.
            c[k] = (u[k] as usize).min(self.counts[k] - 1);
        }
        c
    }

    fn bin_index(&self, p: &Vec3) -> usize {
        let [a, b, c] = self.coords(p);
        (a * self.counts[1] + b) * self.counts[2] + c
    }

    /// Calls `f(slots)` for every run of contiguous slots of `members` in the stencil of
    /// bins around bin `bin`, leaving out the bins whose keys are all at most `min_key`
    /// (pass `None` to keep every bin).
    #[inline]
    fn for_each_candidate_run(
        &self,
        bin: usize,
        min_key: Option<u64>,
        mut f: impl FnMut(std::ops::Range<usize>),
    ) {
        let [na, nb, nc] = self.counts;
        let (a, b, c) = (bin / (nb * nc), (bin / nc) % nb, bin % nc);
        let r = SUBDIVISION;
        for ia in a.saturating_sub(r)..=(a + r).min(na - 1) {
            for ib in b.saturating_sub(r)..=(b + r).min(nb - 1) {
                let row = (ia * nb + ib) * nc;
                let mut lo = row + c.saturating_sub(r);
                let mut hi = row + (c + r).min(nc - 1) + 1;
                if let Some(min_key) = min_key {
                    while lo < hi && self.bin_max_key[lo] <= min_key {
                        lo += 1;
                    }
                    while lo < hi && self.bin_max_key[hi - 1] <= min_key {
                        hi -= 1;
                    }
                    if lo == hi {
                        continue;
                    }
                }
                // Bins along the last axis are contiguous in `members`.
                let first = self.start[lo] as usize;
                let last = self.start[hi] as usize;
                f(first..last);
            }
        }
    }
}

/// The candidates of one bin's stencil, gathered into contiguous arrays by
/// [`CellList::rows_of_bins`] (kept between bins to reuse the memory).
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    key: Vec<u64>,
    member: Vec<u32>,
}

impl Candidates {
    fn clear(&mut self) {
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.key.clear();
        self.member.clear();
    }

    fn extend(&mut self, bins: &Bins, run: std::ops::Range<usize>) {
        self.x.extend_from_slice(&bins.slot_x[run.clone()]);
        self.y.extend_from_slice(&bins.slot_y[run.clone()]);
        self.z.extend_from_slice(&bins.slot_z[run.clone()]);
        self.key.extend_from_slice(&bins.slot_key[run.clone()]);
        self.member.extend_from_slice(&bins.members[run]);
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

    /// Calls `f` with every pair within the cutoff; pairs of a half list have `i ≤ j`.
    pub fn for_each_pair(&self, kind: ListKind, mut f: impl FnMut(Pair)) {
        let cut2 = self.cutoff * self.cutoff;
        for i in 0..self.ext.n_real {
            self.neighbors_of(i, kind, cut2, |j, d, r2| {
                f(Pair {
                    i,
                    j: self.ext.source[j] as usize,
                    d,
                    r2,
                }
                .oriented(kind))
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
        let rank = bins.rank_of_real[i] as u64;
        let min_key = (kind == ListKind::Half).then_some(2 * rank);
        bins.for_each_candidate_run(bins.bin_of_real[i] as usize, min_key, |run| {
            for slot in run {
                let same_source = bins.slot_key[slot] / 2 == rank;
                let keep = match kind {
                    ListKind::Full => true,
                    ListKind::Half => bins.slot_key[slot] > 2 * rank,
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
                if keep && r2 < cut2 && (r2 > 0.0 || !same_source) {
                    f(bins.members[slot] as usize, d, r2);
                }
            }
        });
    }

    /// Number of bins.
    pub(crate) fn n_bins(&self) -> usize {
        self.bins.start.len() - 1
    }

    /// The rows of the real atoms in bins `bins`, in slot order: for each such atom,
    /// appends to `out` every extended entry within `sqrt(cut2)` that `kind` keeps (the
    /// same entries as [`CellList::neighbors_of`]) and then calls
    /// `row_done(atom, out.len())`.
    ///
    /// The candidates of a bin's stencil are gathered once into `scratch` (contiguous
    /// arrays) and shared by the two or three atoms of the bin. Each atom then tests
    /// them in blocks of [`ROW_BLOCK`]: one loop without branches computes the keep
    /// flags (it vectorizes), a second compacts the kept entries into a small array by
    /// writing every candidate and advancing only past the kept ones, which avoids a
    /// mispredicted branch per candidate.
    pub(crate) fn rows_of_bins(
        &self,
        bins: std::ops::Range<usize>,
        kind: ListKind,
        cut2: f64,
        scratch: &mut Candidates,
        out: &mut Vec<u32>,
        mut row_done: impl FnMut(u32, usize),
    ) {
        let b = &self.bins;
        let n_real = self.ext.n_real as u32;
        let mut keep = [false; ROW_BLOCK];
        let mut kept = [0u32; ROW_BLOCK];
        for bin in bins {
            let own = b.start[bin] as usize..b.start[bin + 1] as usize;
            // Real atoms sit in rank order within a bin, so the first one has the
            // smallest key: bins it can skip, every atom of this bin can.
            let Some(first_real) = own.clone().find(|&s| b.members[s] < n_real) else {
                continue;
            };
            let min_key = (kind == ListKind::Half).then_some(b.slot_key[first_real]);
            scratch.clear();
            b.for_each_candidate_run(bin, min_key, |run| scratch.extend(b, run));
            for slot in own.filter(|&s| b.members[s] < n_real) {
                let (xi, yi, zi) = (b.slot_x[slot], b.slot_y[slot], b.slot_z[slot]);
                let key_i = b.slot_key[slot];
                let rank = key_i / 2;
                let m = scratch.member.len();
                let mut start = 0;
                while start < m {
                    let block = start..(start + ROW_BLOCK).min(m);
                    start = block.end;
                    let keep = &mut keep[..block.len()];
                    let candidates = scratch.x[block.clone()]
                        .iter()
                        .zip(&scratch.y[block.clone()])
                        .zip(&scratch.z[block.clone()])
                        .zip(&scratch.key[block.clone()]);
                    for (flag, (((&x, &y), &z), &key)) in keep.iter_mut().zip(candidates) {
                        let (dx, dy, dz) = (x - xi, y - yi, z - zi);
                        let r2 = dx * dx + dy * dy + dz * dz;
                        *flag = match kind {
                            ListKind::Half => (r2 < cut2) & (key > key_i),
                            ListKind::Full => (r2 < cut2) & ((r2 > 0.0) | (key / 2 != rank)),
                        };
                    }
                    let mut count = 0;
                    for (&flag, &member) in keep.iter().zip(&scratch.member[block]) {
                        // `count` ≤ the candidates seen so far < ROW_BLOCK: the mask only
                        // lets the compiler drop the bounds check.
                        kept[count & (ROW_BLOCK - 1)] = member;
                        count += flag as usize;
                    }
                    out.extend_from_slice(&kept[..count]);
                }
                row_done(b.members[slot], out.len());
            }
        }
    }

    pub(crate) fn into_extended(self) -> Extended {
        self.ext
    }
}
