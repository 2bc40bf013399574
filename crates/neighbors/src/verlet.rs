//! Verlet neighbor lists with a skin.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox};

use crate::cells::{Candidates, CellList, Extended};
use crate::{check_cutoff, check_positions, ListKind, NeighborError, Pair, Result, Vec3};

/// Rows built by one parallel task: each atom with the end of its row within `list`, and
/// the neighbours of those atoms, concatenated in the task's atom order.
type ChunkRows = (Vec<(u32, u32)>, Vec<u32>);

/// Parameters of a [`NeighborList`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighborListConfig {
    /// Interaction cutoff (length units).
    pub cutoff: f64,
    /// Extra distance kept in the list so it stays valid while atoms move (length units);
    /// the list is rebuilt once the two atoms that moved most have together moved more
    /// than `skin`.
    pub skin: f64,
    /// Half or full list.
    pub kind: ListKind,
}

/// A Verlet list: for each atom, the neighbours within `cutoff + skin` at the last build.
///
/// Storage is compressed sparse rows over an *extended* set of entries: the real atoms
/// `0..n_atoms()` followed by periodic ghost images, each with its [`source`] atom.
/// A neighbour index `j` from [`neighbors`] points into [`positions`], so the
/// displacement is simply `positions()[j] − positions()[i]`; forces on `j` belong to atom
/// `source(j)`. [`NeighborList::update`] refreshes the entries from new positions every
/// step and rebuilds the list by itself when it must:
///
/// - the first time, when the number of atoms changed, or when the box switched
///   between open and periodic;
/// - when atom displacements since the last build, plus the distance that periodic
///   images moved because the cell changed (as under a barostat), could have brought a
///   pair from outside `cutoff + skin` to inside `cutoff` (see
///   [`NeighborList::needs_rebuild`]); with a fixed box this is
///   "the two largest displacements add up to more than `skin`" (no pair can have
///   closed in by more than that), which rebuilds no more often than the classic "some
///   atom moved more than `skin / 2`".
///
/// Storage grows as needed; nothing ever overflows.
///
/// [`source`]: NeighborList::source
/// [`neighbors`]: NeighborList::neighbors
/// [`positions`]: NeighborList::positions
#[derive(Clone, Debug)]
pub struct NeighborList {
    config: NeighborListConfig,
    ext: Extended,
    /// `rows[i] = (start, end)`: atom `i`'s neighbours are `neighbors[start..end]`.
    /// Rows are stored in `row_order`, not in atom order.
    rows: Vec<(usize, usize)>,
    /// Real atoms in the order their rows are stored (bin order: spatially local).
    row_order: Vec<u32>,
    neighbors: Vec<u32>,
    reference: Vec<Vec3>,
    /// The box at the last build: the reference for the rebuild criterion.
    reference_box: Option<SimBox>,
    /// The cell the ghost translations were last computed for.
    current_cell: Option<Mat3>,
    builds: usize,
}

impl NeighborList {
    /// An empty list; the first [`NeighborList::update`] builds it.
    pub fn new(config: NeighborListConfig) -> Result<Self> {
        check_cutoff(config.cutoff)?;
        if !(config.skin.is_finite() && config.skin >= 0.0) {
            return Err(NeighborError::InvalidSkin { skin: config.skin });
        }
        Ok(NeighborList {
            config,
            ext: Extended::default(),
            rows: Vec::new(),
            row_order: Vec::new(),
            neighbors: Vec::new(),
            reference: Vec::new(),
            reference_box: None,
            current_cell: None,
            builds: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NeighborListConfig {
        &self.config
    }

    /// Interaction cutoff (length units).
    pub fn cutoff(&self) -> f64 {
        self.config.cutoff
    }

    /// Number of real atoms.
    pub fn n_atoms(&self) -> usize {
        self.ext.n_real
    }

    /// How many times the list has been built.
    pub fn builds(&self) -> usize {
        self.builds
    }

    /// Brings the list up to date with `positions` in `simbox`, rebuilding when needed.
    /// Returns whether it rebuilt. Non-finite positions are an error.
    pub fn update(&mut self, positions: &[Vec3], simbox: &SimBox) -> Result<bool> {
        if self.needs_rebuild(positions, simbox)? {
            self.rebuild(positions, simbox)?;
            Ok(true)
        } else {
            if let Some(h) = simbox.cell() {
                if self.current_cell.as_ref() != Some(h) {
                    self.ext.set_cell(h);
                    self.current_cell = Some(*h);
                }
            }
            self.ext.refresh(positions);
            Ok(false)
        }
    }

    /// Whether [`NeighborList::update`] would rebuild for these positions and box.
    ///
    /// A stored pair's distance can have changed since the build by at most
    /// `|Δx|₁ + |Δx|₂ + 2·max_k|Δh·S_k|`, where `|Δx|₁ ≥ |Δx|₂` are the two largest atom
    /// displacements, `Δh` the change of the cell matrix and `S_k` the integer lattice
    /// shift of each stored entry. The list stays exact while that bound is within the
    /// skin, so a box that changes slightly every step (a barostat) does not force a
    /// rebuild every step.
    pub fn needs_rebuild(&self, positions: &[Vec3], simbox: &SimBox) -> Result<bool> {
        let previous = match &self.reference_box {
            Some(b) if self.builds > 0 && positions.len() == self.reference.len() => b,
            _ => {
                check_positions(positions)?;
                return Ok(true);
            }
        };
        let box_drift = match (previous.cell(), simbox.cell()) {
            (None, None) => 0.0,
            (Some(old), Some(new)) if old == new => 0.0,
            (Some(old), Some(new)) => self.ext.max_translation_change(&(new - old)),
            _ => {
                check_positions(positions)?;
                return Ok(true);
            }
        };
        // The two largest squared displacements: a pair's distance changes by at most the
        // sum of its two atoms' displacements. (The two largest of a set do not depend on
        // the order of the parallel reduction.)
        fn top_two((first, second): (f64, f64), r2: f64) -> (f64, f64) {
            if r2 > first {
                (r2, first)
            } else if r2 > second {
                (first, r2)
            } else {
                (first, second)
            }
        }
        let (first, second, finite) = positions
            .par_iter()
            .zip(self.reference.par_iter())
            .with_min_len(1024)
            .fold(
                || (0.0f64, 0.0f64, true),
                |(a, b, ok), (x, x0)| {
                    let r2 = (x - x0).norm_squared();
                    let (a, b) = top_two((a, b), r2);
                    (a, b, ok && r2.is_finite())
                },
            )
            .reduce(
                || (0.0, 0.0, true),
                |(a, b, ok), (c, d, ok2)| {
                    let (a, b) = top_two(top_two((a, b), c), d);
                    (a, b, ok && ok2)
                },
            );
        if !finite {
            // NaN fails every comparison, so find the atom explicitly.
            let atom = positions
                .iter()
                .zip(&self.reference)
                .position(|(x, x0)| !(x - x0).norm_squared().is_finite())
                .unwrap_or(0);
            return Err(NeighborError::NonFinitePosition { atom });
        }
        Ok(first.sqrt() + second.sqrt() + 2.0 * box_drift > self.config.skin)
    }

    /// Rebuilds the list from scratch (binning, in parallel over atoms).
    pub fn rebuild(&mut self, positions: &[Vec3], simbox: &SimBox) -> Result<()> {
        let reach = self.config.cutoff + self.config.skin;
        let cells = CellList::new(positions, simbox, reach)?;
        let kind = self.config.kind;
        let reach2 = reach * reach;
        let n = positions.len();
        // Atoms are visited bin by bin (the atoms of a bin share one gathered stencil,
        // and consecutive bins overlap, which keeps the search in cache); their rows are
        // stored in that order.
        let n_bins = cells.n_bins();
        let chunk = (n_bins / (8 * rayon::current_num_threads()).max(1)).clamp(16, 1024);
        let parts: Vec<ChunkRows> = (0..n_bins.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let bins = c * chunk..((c + 1) * chunk).min(n_bins);
                let mut rows = Vec::new();
                let mut list = Vec::with_capacity(bins.len() * 3 * 48);
                let mut scratch = Candidates::default();
                cells.rows_of_bins(bins, kind, reach2, &mut scratch, &mut list, |i, end| {
                    rows.push((i, end as u32))
                });
                (rows, list)
            })
            .collect();
        self.rows.clear();
        self.rows.resize(n, (0, 0));
        self.neighbors.clear();
        self.neighbors
            .reserve(parts.iter().map(|(_, list)| list.len()).sum());
        let mut order = Vec::with_capacity(n);
        for (rows, list) in &parts {
            let base = self.neighbors.len();
            let mut start = base;
            for &(i, end) in rows {
                let end = base + end as usize;
                self.rows[i as usize] = (start, end);
                start = end;
                order.push(i);
            }
            self.neighbors.extend_from_slice(list);
        }
        self.row_order = order;
        self.ext = cells.into_extended();
        self.reference.clear();
        self.reference.extend_from_slice(positions);
        self.reference_box = Some(simbox.clone());
        self.current_cell = simbox.cell().copied();
        self.builds += 1;
        Ok(())
    }

    /// Positions of all entries: real atoms (wrapped into the cell at the last build, then
    /// moved with the caller's positions) followed by ghosts.
    pub fn positions(&self) -> &[Vec3] {
        &self.ext.positions
    }

    /// The real atom that entry `k` is an image of (`k` itself for `k < n_atoms()`).
    #[inline]
    pub fn source(&self, k: usize) -> usize {
        self.ext.source[k] as usize
    }

    /// Sources of all entries.
    pub fn sources(&self) -> &[u32] {
        &self.ext.source
    }

    /// Neighbour entries of real atom `i` within `cutoff + skin` at the last build.
    ///
    /// In a half list each interaction sits in the row of exactly one of its two atoms:
    /// the one that comes first in the bin order of the last build (not necessarily the
    /// one with the smaller index).
    #[inline]
    pub fn neighbors(&self, i: usize) -> &[u32] {
        let (start, end) = self.rows[i];
        &self.neighbors[start..end]
    }

    /// Real atoms in the order their rows are stored: spatially sorted (by bin) at the
    /// last build, so that consecutive atoms share most of their neighbours. Loops over
    /// all rows run faster in this order than in atom order.
    pub fn row_order(&self) -> &[u32] {
        &self.row_order
    }

    /// Total number of stored neighbour entries.
    pub fn n_entries(&self) -> usize {
        self.neighbors.len()
    }

    /// Calls `f` with every pair currently within the cutoff (not the skin), with real
    /// atom indices; pairs of a half list have `i ≤ j`.
    pub fn for_each_pair(&self, mut f: impl FnMut(Pair)) {
        let cut2 = self.config.cutoff * self.config.cutoff;
        for i in 0..self.ext.n_real {
            let ri = self.ext.positions[i];
            for &j in self.neighbors(i) {
                let d = self.ext.positions[j as usize] - ri;
                let r2 = d.norm_squared();
                if r2 < cut2 {
                    f(Pair {
                        i,
                        j: self.ext.source[j as usize] as usize,
                        d,
                        r2,
                    }
                    .oriented(self.config.kind));
                }
            }
        }
    }

    /// Every pair currently within the cutoff.
    pub fn pairs_within_cutoff(&self) -> Vec<Pair> {
        let mut pairs = Vec::new();
        self.for_each_pair(|p| pairs.push(p));
        pairs
    }
}
