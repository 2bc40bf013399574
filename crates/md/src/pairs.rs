//! More pair potentials on the shared [`pair_sum`] loop: Morse, soft-sphere repulsion,
//! Weeks–Chandler–Andersen, and tabulated potentials interpolated by natural cubic
//! splines.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::check_positive;
use crate::pair::{pair_sum, PairPotential};
use crate::{Configuration, Evaluation, MdError, Potential, Result};

/// Parameters of one species pair, `(a, b)` in either order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeciesPair<P> {
    /// First species.
    pub a: u32,
    /// Second species.
    pub b: u32,
    /// Parameters of the pair.
    pub params: P,
}

/// A dense symmetric `n_species × n_species` table built from a list in which every
/// unordered pair appears exactly once.
#[derive(Clone, Debug)]
pub(crate) struct PairTable<T> {
    n_species: usize,
    entries: Vec<T>,
}

impl<T: Clone> PairTable<T> {
    pub(crate) fn build<P>(
        what: &'static str,
        pairs: &[SpeciesPair<P>],
        mut make: impl FnMut(&P) -> Result<T>,
    ) -> Result<Self> {
        let n_species = pairs
            .iter()
            .map(|p| p.a.max(p.b) as usize + 1)
            .max()
            .ok_or(MdError::Mismatch {
                what,
                expected: 1,
                got: 0,
            })?;
        let mut entries: Vec<Option<T>> = vec![None; n_species * n_species];
        for p in pairs {
            let (a, b) = (p.a as usize, p.b as usize);
            if entries[a * n_species + b].is_some() {
                return Err(MdError::Mismatch {
                    what,
                    expected: n_species * (n_species + 1) / 2,
                    got: pairs.len(),
                });
            }
            let t = make(&p.params)?;
            entries[a * n_species + b] = Some(t.clone());
            entries[b * n_species + a] = Some(t);
        }
        let given = entries.iter().filter(|e| e.is_some()).count();
        let entries: Option<Vec<T>> = entries.into_iter().collect();
        let entries = entries.ok_or(MdError::Mismatch {
            what,
            expected: n_species * n_species,
            got: given,
        })?;
        Ok(PairTable { n_species, entries })
    }

    #[inline(always)]
    pub(crate) fn get(&self, a: u32, b: u32) -> &T {
        &self.entries[a as usize * self.n_species + b as usize]
    }

    pub(crate) fn n_species(&self) -> usize {
        self.n_species
    }

    pub(crate) fn entries(&self) -> &[T] {
        &self.entries
    }
}

/// Checks that every atom's species has parameters.
pub(crate) fn check_species(config: &Configuration<'_>, n_species: usize) -> Result<()> {
    let n = config.positions.len();
    if config.species.len() != n {
        return Err(MdError::Mismatch {
            what: "species array length",
            expected: n,
            got: config.species.len(),
        });
    }
    if let Some(atom) = config.species.iter().position(|&s| s as usize >= n_species) {
        return Err(MdError::UnknownSpecies {
            atom,
            species: config.species[atom],
            n_species,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Morse

/// Parameters of a Morse pair, `u(r) = D [1 − e^{−a(r − r₀)}]² − D`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MorseParams {
    /// Well depth `D` (energy units).
    pub depth: f64,
    /// Stiffness `a` (1/length units).
    pub stiffness: f64,
    /// Equilibrium distance `r₀` (length units).
    pub r0: f64,
}

/// Configuration of [`Morse`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MorseConfig {
    /// Parameters of every unordered species pair (each exactly once).
    pub pairs: Vec<SpeciesPair<MorseParams>>,
    /// Cutoff (length units).
    pub cutoff: f64,
    /// Shift the energy so that it vanishes at the cutoff.
    pub shift: bool,
}

impl MorseConfig {
    /// One species (species 0) with the given parameters, no shift.
    pub fn single(params: MorseParams, cutoff: f64) -> Self {
        MorseConfig {
            pairs: vec![SpeciesPair { a: 0, b: 0, params }],
            cutoff,
            shift: false,
        }
    }

    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<Morse> {
        check_positive("cutoff", self.cutoff)?;
        let rc = self.cutoff;
        let shift = self.shift;
        let table = PairTable::build("Morse species pairs", &self.pairs, |p: &MorseParams| {
            check_positive("depth", p.depth)?;
            check_positive("stiffness", p.stiffness)?;
            check_positive("r0", p.r0)?;
            let e = (-p.stiffness * (rc - p.r0)).exp();
            let u_rc = p.depth * ((1.0 - e) * (1.0 - e) - 1.0);
            Ok((*p, if shift { u_rc } else { 0.0 }))
        })?;
        Ok(Morse {
            config: self.clone(),
            table,
        })
    }
}

/// The Morse potential (Morse 1929), `u(r) = D [(1 − e^{−a(r − r₀)})² − 1]`, minimum `−D`
/// at `r₀`, optionally shifted to zero at the cutoff.
#[derive(Clone, Debug)]
pub struct Morse {
    config: MorseConfig,
    table: PairTable<(MorseParams, f64)>,
}

impl Morse {
    /// The configuration it was built from.
    pub fn config(&self) -> &MorseConfig {
        &self.config
    }
}

impl PairPotential for Morse {
    fn pair_cutoff(&self) -> f64 {
        self.config.cutoff
    }

    fn species_dependent(&self) -> bool {
        self.table.n_species() > 1
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let (p, shift) = self.table.get(a, b);
        let r = r2.sqrt();
        let e = (-p.stiffness * (r - p.r0)).exp();
        let u = p.depth * ((1.0 - e) * (1.0 - e) - 1.0) - shift;
        // u'(r) = 2 D a e (1 − e).
        let du = 2.0 * p.depth * p.stiffness * e * (1.0 - e);
        (u, -du / r)
    }
}

impl Potential for Morse {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.table.n_species())?;
        pair_sum(self, config, out)
    }

    fn name(&self) -> &str {
        "morse"
    }
}

// ---------------------------------------------------------------------------------------
// Soft sphere

/// Parameters of a soft-sphere pair, `u(r) = ε (σ/r)ⁿ`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftSphereParams {
    /// Length scale `σ` (length units).
    pub sigma: f64,
    /// Energy scale `ε` (energy units).
    pub epsilon: f64,
}

/// Configuration of [`SoftSphere`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftSphereConfig {
    /// Parameters of every unordered species pair (each exactly once).
    pub pairs: Vec<SpeciesPair<SoftSphereParams>>,
    /// The exponent `n` (≥ 1).
    pub exponent: u32,
    /// Cutoff (length units).
    pub cutoff: f64,
    /// Shift the energy so that it vanishes at the cutoff.
    pub shift: bool,
}

impl SoftSphereConfig {
    /// One species with `σ`, `ε` (length, energy units), exponent `n`, no shift.
    pub fn single(sigma: f64, epsilon: f64, exponent: u32, cutoff: f64) -> Self {
        SoftSphereConfig {
            pairs: vec![SpeciesPair {
                a: 0,
                b: 0,
                params: SoftSphereParams { sigma, epsilon },
            }],
            exponent,
            cutoff,
            shift: false,
        }
    }

    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<SoftSphere> {
        check_positive("cutoff", self.cutoff)?;
        if self.exponent == 0 || self.exponent > 64 {
            return Err(MdError::InvalidParameter {
                name: "exponent",
                value: self.exponent as f64,
                reason: "must be between 1 and 64",
            });
        }
        let (n, rc, shift) = (self.exponent as i32, self.cutoff, self.shift);
        let table = PairTable::build(
            "soft-sphere species pairs",
            &self.pairs,
            |p: &SoftSphereParams| {
                check_positive("sigma", p.sigma)?;
                check_positive("epsilon", p.epsilon)?;
                // u = c r⁻ⁿ with c = ε σⁿ.
                let c = p.epsilon * p.sigma.powi(n);
                Ok((c, if shift { c * rc.powi(-n) } else { 0.0 }))
            },
        )?;
        Ok(SoftSphere {
            config: self.clone(),
            table,
        })
    }
}

/// Purely repulsive inverse-power potential `u(r) = ε (σ/r)ⁿ`, optionally shifted to zero
/// at the cutoff.
#[derive(Clone, Debug)]
pub struct SoftSphere {
    config: SoftSphereConfig,
    table: PairTable<(f64, f64)>,
}

impl SoftSphere {
    /// The configuration it was built from.
    pub fn config(&self) -> &SoftSphereConfig {
        &self.config
    }
}

impl PairPotential for SoftSphere {
    fn pair_cutoff(&self) -> f64 {
        self.config.cutoff
    }

    fn species_dependent(&self) -> bool {
        self.table.n_species() > 1
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let (c, shift) = *self.table.get(a, b);
        let n = self.config.exponent as i32;
        let u = c * r2.powi(-n / 2) * if n % 2 == 1 { r2.sqrt().recip() } else { 1.0 };
        // −u'/r = n u / r².
        (u - shift, n as f64 * u / r2)
    }
}

impl Potential for SoftSphere {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.table.n_species())?;
        pair_sum(self, config, out)
    }

    fn name(&self) -> &str {
        "soft-sphere"
    }
}

// ---------------------------------------------------------------------------------------
// WCA

/// Configuration of [`Wca`]: σ and ε of every unordered species pair (each exactly once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WcaConfig {
    /// `σ`, `ε` per species pair (length, energy units).
    pub pairs: Vec<SpeciesPair<crate::LjParams>>,
}

impl WcaConfig {
    /// One species with `σ`, `ε` (length, energy units).
    pub fn single(sigma: f64, epsilon: f64) -> Self {
        WcaConfig {
            pairs: vec![SpeciesPair {
                a: 0,
                b: 0,
                params: crate::LjParams { sigma, epsilon },
            }],
        }
    }

    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<Wca> {
        let table = PairTable::build("WCA species pairs", &self.pairs, |p: &crate::LjParams| {
            check_positive("sigma", p.sigma)?;
            check_positive("epsilon", p.epsilon)?;
            let s6 = p.sigma.powi(6);
            let rc = 2f64.powf(1.0 / 6.0) * p.sigma;
            Ok(WcaPair {
                c12: 4.0 * p.epsilon * s6 * s6,
                c6: 4.0 * p.epsilon * s6,
                epsilon: p.epsilon,
                rc2: rc * rc,
            })
        })?;
        let cutoff = table
            .entries()
            .iter()
            .map(|p| p.rc2.sqrt())
            .fold(0.0, f64::max);
        Ok(Wca {
            config: self.clone(),
            table,
            cutoff,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct WcaPair {
    c12: f64,
    c6: f64,
    epsilon: f64,
    rc2: f64,
}

/// The Weeks–Chandler–Andersen repulsion (Weeks, Chandler & Andersen 1971): Lennard-Jones
/// cut at its minimum `r_c = 2^{1/6} σ` and shifted up by `ε`, so that energy and force
/// vanish continuously at `r_c`. The cutoff seen by the neighbor list is the largest
/// `r_c` over species pairs.
#[derive(Clone, Debug)]
pub struct Wca {
    config: WcaConfig,
    table: PairTable<WcaPair>,
    cutoff: f64,
}

impl Wca {
    /// The configuration it was built from.
    pub fn config(&self) -> &WcaConfig {
        &self.config
    }
}

impl PairPotential for Wca {
    fn pair_cutoff(&self) -> f64 {
        self.cutoff
    }

    fn species_dependent(&self) -> bool {
        self.table.n_species() > 1
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let p = self.table.get(a, b);
        if r2 >= p.rc2 {
            return (0.0, 0.0);
        }
        let ir2 = 1.0 / r2;
        let ir6 = ir2 * ir2 * ir2;
        (
            ir6 * (p.c12 * ir6 - p.c6) + p.epsilon,
            ir6 * (12.0 * p.c12 * ir6 - 6.0 * p.c6) * ir2,
        )
    }
}

impl Potential for Wca {
    fn cutoff(&self) -> Option<f64> {
        Some(self.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.table.n_species())?;
        pair_sum(self, config, out)
    }

    fn name(&self) -> &str {
        "wca"
    }
}

// ---------------------------------------------------------------------------------------
// Natural cubic spline and tabulated pair potential

/// A natural cubic spline through points `(x_k, y_k)` with strictly increasing `x`: twice
/// continuously differentiable, cubic on each interval, second derivative zero at both
/// ends. Its derivative is exact (the derivative of the interpolant, not a separate
/// interpolation), so forces taken from it are consistent with the energy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CubicSpline {
    x: Vec<f64>,
    y: Vec<f64>,
    /// Second derivatives at the knots.
    m: Vec<f64>,
}

impl CubicSpline {
    /// The natural spline through the points; needs at least 3 points, finite values and
    /// strictly increasing `x`.
    pub fn natural(x: Vec<f64>, y: Vec<f64>) -> Result<Self> {
        if x.len() != y.len() {
            return Err(MdError::Mismatch {
                what: "spline values per knot",
                expected: x.len(),
                got: y.len(),
            });
        }
        let n = x.len();
        if n < 3 {
            return Err(MdError::Mismatch {
                what: "spline knots (at least 3)",
                expected: 3,
                got: n,
            });
        }
        for (k, (&xk, &yk)) in x.iter().zip(&y).enumerate() {
            if !xk.is_finite() || !yk.is_finite() {
                return Err(MdError::InvalidParameter {
                    name: "spline knot",
                    value: if xk.is_finite() { yk } else { xk },
                    reason: "must be finite",
                });
            }
            if k > 0 && xk <= x[k - 1] {
                return Err(MdError::InvalidParameter {
                    name: "spline abscissa",
                    value: xk,
                    reason: "must be strictly increasing",
                });
            }
        }
        // Tridiagonal system for the interior second derivatives (Thomas algorithm; the
        // matrix is strictly diagonally dominant, so no pivoting is needed).
        let mut m = vec![0.0; n];
        let mut c_prime = vec![0.0; n];
        let mut d_prime = vec![0.0; n];
        for k in 1..n - 1 {
            let h0 = x[k] - x[k - 1];
            let h1 = x[k + 1] - x[k];
            let a = h0;
            let b = 2.0 * (h0 + h1);
            let c = h1;
            let d = 6.0 * ((y[k + 1] - y[k]) / h1 - (y[k] - y[k - 1]) / h0);
            let denom = b - a * c_prime[k - 1];
            c_prime[k] = c / denom;
            d_prime[k] = (d - a * d_prime[k - 1]) / denom;
        }
        for k in (1..n - 1).rev() {
            m[k] = d_prime[k] - c_prime[k] * m[k + 1];
        }
        Ok(CubicSpline { x, y, m })
    }

    /// The knots' abscissae.
    pub fn knots(&self) -> &[f64] {
        &self.x
    }

    /// Value and first derivative at `x`; outside the knots the end cubic is continued.
    #[inline]
    pub fn eval(&self, x: f64) -> (f64, f64) {
        let n = self.x.len();
        // Interval k with x_k ≤ x < x_{k+1}, clamped to the end intervals.
        let k = match self.x.partition_point(|&xk| xk <= x) {
            0 => 0,
            p if p >= n => n - 2,
            p => p - 1,
        };
        let h = self.x[k + 1] - self.x[k];
        let a = (self.x[k + 1] - x) / h;
        let b = (x - self.x[k]) / h;
        let (m0, m1) = (self.m[k], self.m[k + 1]);
        let y = a * self.y[k]
            + b * self.y[k + 1]
            + ((a * a * a - a) * m0 + (b * b * b - b) * m1) * h * h / 6.0;
        let dy = (self.y[k + 1] - self.y[k]) / h
            + ((1.0 - 3.0 * a * a) * m0 + (3.0 * b * b - 1.0) * m1) * h / 6.0;
        (y, dy)
    }
}

/// One tabulated species pair: `u(r_k)` at distances `r_k` (length, energy units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairTableData {
    /// Distances, strictly increasing (length units).
    pub r: Vec<f64>,
    /// Energies at those distances (energy units).
    pub u: Vec<f64>,
}

/// Configuration of [`TabulatedPair`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabulatedPairConfig {
    /// A table for every unordered species pair (each exactly once).
    pub pairs: Vec<SpeciesPair<PairTableData>>,
    /// Cutoff (length units); every table must reach it.
    pub cutoff: f64,
    /// Shift each table's energy so that it vanishes at the cutoff.
    pub shift: bool,
}

impl TabulatedPairConfig {
    /// One table for species 0.
    pub fn single(r: Vec<f64>, u: Vec<f64>, cutoff: f64) -> Self {
        TabulatedPairConfig {
            pairs: vec![SpeciesPair {
                a: 0,
                b: 0,
                params: PairTableData { r, u },
            }],
            cutoff,
            shift: false,
        }
    }

    /// Fits the splines and builds the potential.
    pub fn build(&self) -> Result<TabulatedPair> {
        check_positive("cutoff", self.cutoff)?;
        let rc = self.cutoff;
        let shift = self.shift;
        let table = PairTable::build(
            "tabulated species pairs",
            &self.pairs,
            |t: &PairTableData| {
                let spline = CubicSpline::natural(t.r.clone(), t.u.clone())?;
                let last = *t.r.last().expect("a spline has knots");
                if last < rc {
                    return Err(MdError::CutoffTooLarge {
                        cutoff: rc,
                        max: last,
                    });
                }
                if t.r[0] <= 0.0 {
                    return Err(MdError::InvalidParameter {
                        name: "first table distance",
                        value: t.r[0],
                        reason: "must be positive",
                    });
                }
                let u_rc = if shift { spline.eval(rc).0 } else { 0.0 };
                Ok((spline, u_rc))
            },
        )?;
        Ok(TabulatedPair {
            config: self.clone(),
            table,
        })
    }
}

/// A pair potential interpolated from tables by natural cubic splines
/// ([`CubicSpline`]); the force is the spline's exact derivative. A pair closer than its
/// table's first point is an error ([`MdError::OutsideTable`]), not an extrapolation.
#[derive(Clone, Debug)]
pub struct TabulatedPair {
    config: TabulatedPairConfig,
    table: PairTable<(CubicSpline, f64)>,
}

impl TabulatedPair {
    /// The configuration it was built from.
    pub fn config(&self) -> &TabulatedPairConfig {
        &self.config
    }

    /// Pair energy and derivative `(u(r), u'(r))` of species `a`, `b` (energy,
    /// energy/length units); 0 at and beyond the cutoff.
    pub fn pair_energy(&self, a: u32, b: u32, r: f64) -> (f64, f64) {
        if r >= self.config.cutoff {
            return (0.0, 0.0);
        }
        let (s, shift) = self.table.get(a, b);
        let (u, du) = s.eval(r);
        (u - shift, du)
    }
}

/// The pair loop's view of a [`TabulatedPair`]: records the shortest distance that fell
/// below a table (as the bits of a positive `f64`, whose order matches the numbers').
struct TableCheck<'a> {
    pot: &'a TabulatedPair,
    shortest_below: AtomicU64,
}

impl PairPotential for TableCheck<'_> {
    fn pair_cutoff(&self) -> f64 {
        self.pot.config.cutoff
    }

    fn species_dependent(&self) -> bool {
        self.pot.table.n_species() > 1
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let (s, shift) = self.pot.table.get(a, b);
        let r = r2.sqrt();
        if r < s.knots()[0] {
            self.shortest_below
                .fetch_min(r.to_bits(), Ordering::Relaxed);
            return (0.0, 0.0);
        }
        let (u, du) = s.eval(r);
        (u - shift, -du / r)
    }
}

impl Potential for TabulatedPair {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.table.n_species())?;
        let check = TableCheck {
            pot: self,
            shortest_below: AtomicU64::new(f64::INFINITY.to_bits()),
        };
        pair_sum(&check, config, out)?;
        let shortest = f64::from_bits(check.shortest_below.into_inner());
        if shortest.is_finite() {
            let r_min = self
                .table
                .entries()
                .iter()
                .map(|(s, _)| s.knots()[0])
                .fold(f64::INFINITY, f64::min);
            return Err(MdError::OutsideTable { r: shortest, r_min });
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "tabulated-pair"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spline_reproduces_a_cubic_between_linear_ends() {
        // A natural spline through points of a straight line is that line.
        let x: Vec<f64> = (0..8).map(|k| 0.5 + 0.3 * k as f64).collect();
        let y: Vec<f64> = x.iter().map(|x| 2.0 - 3.0 * x).collect();
        let s = CubicSpline::natural(x, y).unwrap();
        for t in [0.5, 0.77, 1.3, 2.6] {
            let (u, du) = s.eval(t);
            assert!((u - (2.0 - 3.0 * t)).abs() < 1e-12);
            assert!((du + 3.0).abs() < 1e-12);
        }
    }

    #[test]
    fn spline_interpolates_and_derivative_is_consistent() {
        let x: Vec<f64> = (0..40).map(|k| 0.8 + 0.05 * k as f64).collect();
        let y: Vec<f64> = x.iter().map(|x| (3.0 * x).sin() / x).collect();
        let s = CubicSpline::natural(x.clone(), y.clone()).unwrap();
        for (xk, yk) in x.iter().zip(&y) {
            assert!((s.eval(*xk).0 - yk).abs() < 1e-12);
        }
        let h = 1e-6;
        for t in [0.83, 1.0, 1.234, 2.5] {
            let fd = (s.eval(t + h).0 - s.eval(t - h).0) / (2.0 * h);
            assert!((fd - s.eval(t).1).abs() < 1e-7);
        }
        // Away from the ends (where the natural end condition costs accuracy) the error
        // is of order h⁴.
        for t in [1.234, 1.5, 2.0] {
            assert!((s.eval(t).0 - (3.0 * t).sin() / t).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(CubicSpline::natural(vec![1.0, 2.0], vec![0.0, 0.0]).is_err());
        assert!(CubicSpline::natural(vec![1.0, 1.0, 2.0], vec![0.0; 3]).is_err());
        assert!(CubicSpline::natural(vec![1.0, 2.0, 3.0], vec![0.0, f64::NAN, 0.0]).is_err());
        let cfg = TabulatedPairConfig::single(vec![0.5, 1.0, 1.5], vec![1.0, 0.0, 0.0], 2.0);
        assert!(matches!(cfg.build(), Err(MdError::CutoffTooLarge { .. })));
    }

    #[test]
    fn incomplete_species_tables_are_errors() {
        let p = MorseParams {
            depth: 1.0,
            stiffness: 1.0,
            r0: 1.0,
        };
        let cfg = MorseConfig {
            pairs: vec![
                SpeciesPair {
                    a: 0,
                    b: 0,
                    params: p,
                },
                SpeciesPair {
                    a: 1,
                    b: 1,
                    params: p,
                },
            ],
            cutoff: 2.0,
            shift: false,
        };
        assert!(matches!(cfg.build(), Err(MdError::Mismatch { .. })));
    }
}
