//! Structural and dynamical observables accumulated during a run: species-resolved
//! radial distribution functions, angular distribution functions, mean-square
//! displacement and self-diffusion, heat capacity from energy fluctuations.
//!
//! [`Rdf`], [`Adf`] and [`Msd`] are [`Observer`]s; several observers run together in one
//! [`Observers`].

use std::collections::VecDeque;
use std::f64::consts::PI;

use serde::{Deserialize, Serialize};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{CellList, ListKind};

use crate::error::check_positive;
use crate::stats::series_stats;
use crate::{MdError, Observer, Result, Simulation, State};

/// Several observers called in turn on every sampled step.
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl std::fmt::Debug for Observers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({} observers)", self.0.len())
    }
}

impl Observer for Observers<'_> {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        for o in &mut self.0 {
            o.observe(sim)?;
        }
        Ok(())
    }
}

fn check_bins(n_bins: usize) -> Result<()> {
    if n_bins == 0 {
        return Err(MdError::InvalidParameter {
            name: "n_bins",
            value: 0.0,
            reason: "need at least one bin",
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// RDF

/// Configuration of [`Rdf`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RdfConfig {
    /// Largest distance (length units). Any value works: every periodic image within it
    /// is counted (for `r_max` beyond half the box, `g(r)` includes several images).
    pub r_max: f64,
    /// Number of bins in `[0, r_max)`.
    pub n_bins: usize,
    /// Number of species; `g_ab` is accumulated for every pair `a ≤ b`.
    pub n_species: usize,
}

impl RdfConfig {
    /// Validates the parameters and builds an empty accumulator.
    pub fn build(&self) -> Result<Rdf> {
        check_positive("r_max", self.r_max)?;
        check_bins(self.n_bins)?;
        if self.n_species == 0 {
            return Err(MdError::InvalidParameter {
                name: "n_species",
                value: 0.0,
                reason: "need at least one species",
            });
        }
        let ns = self.n_species;
        Ok(Rdf {
            config: *self,
            counts: vec![vec![0.0; self.n_bins]; ns * ns],
            norm: vec![0.0; ns * ns],
            frames: 0,
        })
    }
}

/// Species-resolved radial distribution functions `g_ab(r)` of periodic configurations.
///
/// Each frame adds the pair counts `n_ab(r)` (ordered pairs `i ∈ a`, `j ∈ b`, `j ≠ i`, all
/// images) and the ideal-gas expectation `N_a (N_b − δ_ab)/V` of that frame, so that
/// `g_ab(r_k) = Σ_frames n_ab(k) / (Σ_frames N_a(N_b − δ_ab)/V · ΔV_k)` with the exact
/// shell volume `ΔV_k = (4π/3)(r_{k+1}³ − r_k³)`. `V` is the cell volume `det h`, correct
/// for triclinic cells and for boxes that change (NPT). An ideal gas gives `g = 1`.
#[derive(Clone, Debug)]
pub struct Rdf {
    config: RdfConfig,
    /// Ordered pair counts per (a, b) and bin.
    counts: Vec<Vec<f64>>,
    /// Σ_frames N_a (N_b − δ_ab) / V per (a, b).
    norm: Vec<f64>,
    frames: usize,
}

/// A radial distribution function on bin centres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RdfCurve {
    /// Bin centres (length units).
    pub r: Vec<f64>,
    /// `g(r)` at the bin centres (dimensionless).
    pub g: Vec<f64>,
}

impl Rdf {
    /// Adds one configuration.
    pub fn accumulate(
        &mut self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
    ) -> Result<()> {
        let volume = simbox.volume().ok_or(MdError::NeedsPeriodicBox {
            what: "the radial distribution function",
        })?;
        if species.len() != positions.len() {
            return Err(MdError::Mismatch {
                what: "species array length",
                expected: positions.len(),
                got: species.len(),
            });
        }
        let ns = self.config.n_species;
        let mut n_of = vec![0usize; ns];
        for (atom, &s) in species.iter().enumerate() {
            match n_of.get_mut(s as usize) {
                Some(c) => *c += 1,
                None => {
                    return Err(MdError::UnknownSpecies {
                        atom,
                        species: s,
                        n_species: ns,
                    })
                }
            }
        }
        let cells = CellList::new(positions, simbox, self.config.r_max)?;
        let inv_dr = self.config.n_bins as f64 / self.config.r_max;
        let n_bins = self.config.n_bins;
        cells.for_each_pair(ListKind::Half, |p| {
            let bin = (p.r2.sqrt() * inv_dr) as usize;
            if bin < n_bins {
                let (a, b) = (species[p.i] as usize, species[p.j] as usize);
                // A half-list pair is two ordered pairs: (i, j) in g_ab and (j, i) in g_ba.
                self.counts[a * ns + b][bin] += 1.0;
                self.counts[b * ns + a][bin] += 1.0;
            }
        });
        for a in 0..ns {
            for b in 0..ns {
                let nb = n_of[b] as f64 - if a == b { 1.0 } else { 0.0 };
                self.norm[a * ns + b] += n_of[a] as f64 * nb.max(0.0) / volume;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames accumulated.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// `g_ab(r)` (symmetric in `a`, `b`); zero everywhere if no pair of that kind exists.
    pub fn curve(&self, a: u32, b: u32) -> Result<RdfCurve> {
        let ns = self.config.n_species;
        if a as usize >= ns || b as usize >= ns {
            return Err(MdError::UnknownSpecies {
                atom: 0,
                species: a.max(b),
                n_species: ns,
            });
        }
        let idx = a as usize * ns + b as usize;
        let dr = self.config.r_max / self.config.n_bins as f64;
        let norm = self.norm[idx];
        let (r, g) = (0..self.config.n_bins)
            .map(|k| {
                let (r0, r1) = (k as f64 * dr, (k + 1) as f64 * dr);
                let shell = 4.0 / 3.0 * PI * (r1.powi(3) - r0.powi(3));
                let g = if norm > 0.0 {
                    self.counts[idx][k] / (norm * shell)
                } else {
                    0.0
                };
                (0.5 * (r0 + r1), g)
            })
            .unzip();
        Ok(RdfCurve { r, g })
    }
}

impl Observer for Rdf {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        let s = sim.state();
        self.accumulate(&s.positions, &s.species, &s.simbox)
    }
}

// ---------------------------------------------------------------------------------------
// ADF

/// Configuration of [`Adf`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdfConfig {
    /// Neighbours of the central atom are those closer than this (length units).
    pub cutoff: f64,
    /// Number of bins in `θ ∈ [0, π]`.
    pub n_bins: usize,
    /// Only central atoms of this species (`None`: all).
    pub center_species: Option<u32>,
    /// Only neighbours of this species (`None`: all).
    pub neighbor_species: Option<u32>,
}

impl AdfConfig {
    /// Validates the parameters and builds an empty accumulator.
    pub fn build(&self) -> Result<Adf> {
        check_positive("cutoff", self.cutoff)?;
        check_bins(self.n_bins)?;
        Ok(Adf {
            config: *self,
            counts: vec![0.0; self.n_bins],
            triplets: 0.0,
            frames: 0,
        })
    }
}

/// Angular distribution function: the distribution of the angle `θ_jik` at a central atom
/// `i` between two of its neighbours `j ≠ k` (both closer than the cutoff; periodic
/// images count as distinct neighbours).
#[derive(Clone, Debug)]
pub struct Adf {
    config: AdfConfig,
    counts: Vec<f64>,
    triplets: f64,
    frames: usize,
}

/// An angular distribution on bin centres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdfCurve {
    /// Bin centres (radians).
    pub theta: Vec<f64>,
    /// Probability density of `θ` (1/radian), integrating to 1 over `[0, π]`.
    pub density: Vec<f64>,
}

impl Adf {
    /// Adds one configuration.
    pub fn accumulate(
        &mut self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
    ) -> Result<()> {
        if species.len() != positions.len() {
            return Err(MdError::Mismatch {
                what: "species array length",
                expected: positions.len(),
                got: species.len(),
            });
        }
        let n = positions.len();
        let mut neighbors: Vec<Vec<Vec3>> = vec![Vec::new(); n];
        let c = self.config;
        let keep_center = |i: usize| c.center_species.is_none_or(|s| species[i] == s);
        let keep_neighbor = |j: usize| c.neighbor_species.is_none_or(|s| species[j] == s);
        let mut add = |i: usize, j: usize, d: Vec3| {
            if keep_center(i) && keep_neighbor(j) {
                neighbors[i].push(d);
            }
        };
        if simbox.is_periodic() {
            let cells = CellList::new(positions, simbox, c.cutoff)?;
            cells.for_each_pair(ListKind::Full, |p| add(p.i, p.j, p.d));
        } else {
            let cut2 = c.cutoff * c.cutoff;
            for i in 0..n {
                for j in 0..n {
                    let d = positions[j] - positions[i];
                    if i != j && d.norm_squared() < cut2 {
                        add(i, j, d);
                    }
                }
            }
        }
        let dtheta = PI / c.n_bins as f64;
        for list in &neighbors {
            for (a, u) in list.iter().enumerate() {
                for v in &list[a + 1..] {
                    let theta = u.cross(v).norm().atan2(u.dot(v));
                    let bin = ((theta / dtheta) as usize).min(c.n_bins - 1);
                    self.counts[bin] += 1.0;
                    self.triplets += 1.0;
                }
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames accumulated.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Mean number of angles per frame.
    pub fn angles_per_frame(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.triplets / self.frames as f64
        }
    }

    /// The normalised distribution (zero if no angle was seen).
    pub fn curve(&self) -> AdfCurve {
        let nb = self.config.n_bins;
        let dtheta = PI / nb as f64;
        let (theta, density) = (0..nb)
            .map(|k| {
                let d = if self.triplets > 0.0 {
                    self.counts[k] / (self.triplets * dtheta)
                } else {
                    0.0
                };
                ((k as f64 + 0.5) * dtheta, d)
            })
            .unzip();
        AdfCurve { theta, density }
    }
}

impl Observer for Adf {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        let s = sim.state();
        self.accumulate(&s.positions, &s.species, &s.simbox)
    }
}

// ---------------------------------------------------------------------------------------
// MSD and diffusion

/// Mean-square displacement with every sampled frame as a time origin (on the fly, over
/// a window of the last `max_lag` frames).
///
/// Positions must be **unwrapped** (continuous in time), as [`State`] keeps them: the
/// integrators never wrap positions into the box. Frames are assumed evenly spaced in
/// time (a fixed sampling stride).
#[derive(Clone, Debug)]
pub struct Msd {
    max_lag: usize,
    species: Option<u32>,
    window: VecDeque<(f64, Vec<Vec3>)>,
    sum: Vec<f64>,
    count: Vec<u64>,
    lag_time: Vec<f64>,
}

/// A mean-square displacement curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MsdCurve {
    /// Lag times (time units), starting at 0.
    pub time: Vec<f64>,
    /// `⟨|r(t₀ + t) − r(t₀)|²⟩` averaged over atoms and time origins (length²).
    pub msd: Vec<f64>,
    /// Number of time origins behind each point.
    pub origins: Vec<u64>,
}

impl Msd {
    /// Tracks lags up to `max_lag` sampled frames, over atoms of `species` (or all).
    pub fn new(max_lag: usize, species: Option<u32>) -> Result<Self> {
        if max_lag == 0 {
            return Err(MdError::InvalidParameter {
                name: "max_lag",
                value: 0.0,
                reason: "need at least one lag",
            });
        }
        Ok(Msd {
            max_lag,
            species,
            window: VecDeque::with_capacity(max_lag + 1),
            sum: vec![0.0; max_lag + 1],
            count: vec![0; max_lag + 1],
            lag_time: vec![0.0; max_lag + 1],
        })
    }

    /// Adds the positions of a frame at time `time` (time units).
    pub fn accumulate(&mut self, time: f64, positions: &[Vec3], species: &[u32]) -> Result<()> {
        let selected: Vec<Vec3> = match self.species {
            None => positions.to_vec(),
            Some(s) => positions
                .iter()
                .zip(species)
                .filter(|(_, &t)| t == s)
                .map(|(r, _)| *r)
                .collect(),
        };
        if let Some((_, first)) = self.window.front() {
            if first.len() != selected.len() {
                return Err(MdError::Mismatch {
                    what: "atoms tracked by the MSD",
                    expected: first.len(),
                    got: selected.len(),
                });
            }
        }
        if self.window.len() > self.max_lag {
            self.window.pop_front();
        }
        self.window.push_back((time, selected));
        let (t_now, now) = self.window.back().expect("just pushed");
        let n = now.len().max(1) as f64;
        for (lag, (t0, origin)) in self.window.iter().rev().enumerate() {
            let d2: f64 = now
                .iter()
                .zip(origin)
                .map(|(a, b)| (a - b).norm_squared())
                .sum();
            self.sum[lag] += d2 / n;
            self.count[lag] += 1;
            self.lag_time[lag] = t_now - t0;
        }
        Ok(())
    }

    /// The curve over the lags seen so far.
    pub fn curve(&self) -> MsdCurve {
        let lags = self.count.iter().take_while(|&&c| c > 0).count();
        MsdCurve {
            time: self.lag_time[..lags].to_vec(),
            msd: (0..lags)
                .map(|k| self.sum[k] / self.count[k] as f64)
                .collect(),
            origins: self.count[..lags].to_vec(),
        }
    }
}

impl Observer for Msd {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        let s: &State = sim.state();
        self.accumulate(s.time, &s.positions, &s.species)
    }
}

/// A self-diffusion coefficient from the Einstein relation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffusionFit {
    /// `D = slope / (2d)` (length²/time).
    pub coefficient: f64,
    /// Slope of the MSD against time over the fitted window (length²/time).
    pub slope: f64,
    /// Intercept of the fit (length²).
    pub intercept: f64,
    /// Points in the fit.
    pub points: usize,
}

/// Fits `MSD(t) = 2 d D t + c` by least squares over lag times in `[t_min, t_max]` (time
/// units), the linear (diffusive) regime, with `d = dimensions` (3 for bulk diffusion).
/// Needs at least two points in the window.
pub fn diffusion_coefficient(
    curve: &MsdCurve,
    t_min: f64,
    t_max: f64,
    dimensions: usize,
) -> Result<DiffusionFit> {
    if dimensions == 0 {
        return Err(MdError::InvalidParameter {
            name: "dimensions",
            value: 0.0,
            reason: "must be at least 1",
        });
    }
    let (t, y): (Vec<f64>, Vec<f64>) = curve
        .time
        .iter()
        .zip(&curve.msd)
        .filter(|(&t, _)| t >= t_min && t <= t_max)
        .map(|(&t, &y)| (t, y))
        .unzip();
    if t.len() < 2 {
        return Err(MdError::Mismatch {
            what: "MSD points in the fit window (at least 2)",
            expected: 2,
            got: t.len(),
        });
    }
    let n = t.len() as f64;
    let mt = t.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = t.iter().zip(&y).map(|(a, b)| (a - mt) * (b - my)).sum();
    let sxx: f64 = t.iter().map(|a| (a - mt).powi(2)).sum();
    if sxx <= 0.0 {
        return Err(MdError::InvalidParameter {
            name: "t_max",
            value: t_max,
            reason: "the fit window holds a single lag time",
        });
    }
    let slope = sxy / sxx;
    Ok(DiffusionFit {
        coefficient: slope / (2.0 * dimensions as f64),
        slope,
        intercept: my - slope * mt,
        points: t.len(),
    })
}

// ---------------------------------------------------------------------------------------
// Heat capacity

/// A heat capacity with its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatCapacity {
    /// `C_V / k_B` (dimensionless: multiply by `k_B` for energy/temperature units).
    pub value: f64,
    /// Standard error of `value`, from the autocorrelation of `(E − ⟨E⟩)²`.
    pub std_err: f64,
    /// Mean energy `⟨E⟩` (energy units).
    pub mean_energy: f64,
}

/// Heat capacity of the canonical ensemble from total-energy fluctuations,
/// `C_V/k_B = (⟨E²⟩ − ⟨E⟩²)/(kT)²`, with `energies` the total (kinetic + potential)
/// energies of an NVT run at temperature `kt` (energy units). The error bar treats
/// `(E − ⟨E⟩)²` as a correlated series ([`crate::stats::series_stats`]).
pub fn heat_capacity(energies: &[f64], kt: f64) -> Result<HeatCapacity> {
    check_positive("kT", kt)?;
    if energies.len() < 2 {
        return Err(MdError::Mismatch {
            what: "energy samples (at least 2)",
            expected: 2,
            got: energies.len(),
        });
    }
    if let Some(k) = energies.iter().position(|e| !e.is_finite()) {
        return Err(MdError::NonFiniteEnergy {
            step: k as u64,
            energy: energies[k],
        });
    }
    let n = energies.len() as f64;
    let mean = energies.iter().sum::<f64>() / n;
    let sq: Vec<f64> = energies.iter().map(|e| (e - mean).powi(2)).collect();
    let stats = series_stats(&sq);
    // Bessel-corrected variance.
    let variance = stats.mean * n / (n - 1.0);
    let kt2 = kt * kt;
    Ok(HeatCapacity {
        value: variance / kt2,
        std_err: stats.std_err / kt2,
        mean_energy: mean,
    })
}
