//! The Lennard-Jones potential with per-species-pair parameters.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

use crate::error::check_positive;
use crate::pair::{pair_sum_masked, PairPotential};
use crate::{Configuration, Evaluation, MdError, Potential, Result};

/// How the potential is modified at the cutoff `r_c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Truncation {
    /// `u(r)` for `r < r_c`, 0 beyond: the energy jumps by `u(r_c)` at the cutoff.
    Plain,
    /// `u(r) − u(r_c)`: continuous energy, forces unchanged.
    EnergyShifted,
    /// `u(r) − u(r_c) − (r − r_c) u'(r_c)`: continuous energy and force.
    ForceShifted,
}

/// Rule for parameters of unlike pairs that are not given explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mixing {
    /// `σ_ab = (σ_a + σ_b)/2`, `ε_ab = √(ε_a ε_b)`.
    LorentzBerthelot,
    /// `σ_ab = √(σ_a σ_b)`, `ε_ab = √(ε_a ε_b)` (OPLS).
    Geometric,
}

/// σ and ε of one species or pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LjParams {
    /// Distance at which `u = 0` (length units).
    pub sigma: f64,
    /// Well depth (energy units).
    pub epsilon: f64,
}

/// Explicit parameters for one unlike (or like) pair, overriding the mixing rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LjPairParams {
    /// First species.
    pub a: u32,
    /// Second species.
    pub b: u32,
    /// Parameters of the pair.
    pub params: LjParams,
}

/// Configuration of [`LennardJones`]: `u(r) = 4ε[(σ/r)¹² − (σ/r)⁶]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LennardJonesConfig {
    /// Parameters per species, indexed by species.
    pub species: Vec<LjParams>,
    /// Explicit pair parameters; other pairs follow `mixing`.
    #[serde(default)]
    pub pairs: Vec<LjPairParams>,
    /// Mixing rule for unlike pairs.
    pub mixing: Mixing,
    /// Cutoff (length units), the same for all pairs.
    pub cutoff: f64,
    /// Treatment at the cutoff.
    pub truncation: Truncation,
    /// Add the analytic long-range corrections to energy and virial (assumes `g(r) = 1`
    /// beyond the cutoff; only with [`Truncation::Plain`], periodic boxes only).
    pub tail: bool,
}

impl LennardJonesConfig {
    /// One species with `σ`, `ε` (length, energy units), plain truncation, no tail.
    pub fn single(sigma: f64, epsilon: f64, cutoff: f64) -> Self {
        LennardJonesConfig {
            species: vec![LjParams { sigma, epsilon }],
            pairs: Vec::new(),
            mixing: Mixing::LorentzBerthelot,
            cutoff,
            truncation: Truncation::Plain,
            tail: false,
        }
    }

    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<LennardJones> {
        check_positive("cutoff", self.cutoff)?;
        if self.species.is_empty() {
            return Err(MdError::Mismatch {
                what: "Lennard-Jones species",
                expected: 1,
                got: 0,
            });
        }
        if self.tail && self.truncation != Truncation::Plain {
            return Err(MdError::InvalidParameter {
                name: "tail",
                value: 1.0,
                reason: "long-range corrections apply to the plain truncated potential only",
            });
        }
        for p in &self.species {
            check_positive("sigma", p.sigma)?;
            check_positive("epsilon", p.epsilon)?;
        }
        let ns = self.species.len();
        let mut table = Vec::with_capacity(ns * ns);
        for a in 0..ns {
            for b in 0..ns {
                let (pa, pb) = (self.species[a], self.species[b]);
                let sigma = match self.mixing {
                    Mixing::LorentzBerthelot => 0.5 * (pa.sigma + pb.sigma),
                    Mixing::Geometric => (pa.sigma * pb.sigma).sqrt(),
                };
                let epsilon = (pa.epsilon * pb.epsilon).sqrt();
                table.push(LjParams { sigma, epsilon });
            }
        }
        for p in &self.pairs {
            let (a, b) = (p.a as usize, p.b as usize);
            if a >= ns || b >= ns {
                return Err(MdError::Mismatch {
                    what: "species in Lennard-Jones pair parameters",
                    expected: ns,
                    got: a.max(b) + 1,
                });
            }
            check_positive("sigma", p.params.sigma)?;
            check_positive("epsilon", p.params.epsilon)?;
            table[a * ns + b] = p.params;
            table[b * ns + a] = p.params;
        }
        let rc = self.cutoff;
        let coefficients = table
            .iter()
            .map(|p| PairCoefficients::new(p, rc, self.truncation))
            .collect();
        Ok(LennardJones {
            config: self.clone(),
            n_species: ns,
            table,
            coefficients,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct PairCoefficients {
    /// `4εσ¹²`, `4εσ⁶`.
    c12: f64,
    c6: f64,
    /// Energy shift `u(r_c)` (0 when plain).
    e_shift: f64,
    /// `−u'(r_c)` for force shifting (0 otherwise).
    f_shift: f64,
    /// `−u'(r_c)·r_c` … the linear-in-r energy term is `f_shift·(r − r_c)`.
    rc: f64,
}

impl PairCoefficients {
    fn new(p: &LjParams, rc: f64, truncation: Truncation) -> Self {
        let s6 = p.sigma.powi(6);
        let c6 = 4.0 * p.epsilon * s6;
        let c12 = c6 * s6;
        let ir6 = rc.powi(-6);
        let u_rc = ir6 * (c12 * ir6 - c6);
        let f_rc = ir6 * (12.0 * c12 * ir6 - 6.0 * c6) / rc;
        let (e_shift, f_shift) = match truncation {
            Truncation::Plain => (0.0, 0.0),
            Truncation::EnergyShifted => (u_rc, 0.0),
            Truncation::ForceShifted => (u_rc, f_rc),
        };
        PairCoefficients {
            c12,
            c6,
            e_shift,
            f_shift,
            rc,
        }
    }
}

/// The Lennard-Jones potential, `u(r) = 4ε[(σ/r)¹² − (σ/r)⁶]` per species pair, with
/// the truncation of [`LennardJonesConfig`].
///
/// Long-range corrections (`tail`), for a cutoff `r_c` and species counts `N_a`:
/// `U_tail = (2π/V) Σ_ab N_a N_b ∫_{r_c}^∞ u_ab r² dr` and
/// `W_tail = P_tail V · I` with `P_tail = −(2π/3V²) Σ_ab N_a N_b ∫_{r_c}^∞ r u'_ab r² dr`
/// (Allen & Tildesley, §2.8). They add no forces.
#[derive(Clone, Debug)]
pub struct LennardJones {
    config: LennardJonesConfig,
    n_species: usize,
    table: Vec<LjParams>,
    coefficients: Vec<PairCoefficients>,
}

impl LennardJones {
    /// The configuration it was built from.
    pub fn config(&self) -> &LennardJonesConfig {
        &self.config
    }

    /// Effective σ, ε of the pair `(a, b)` after mixing and overrides.
    pub fn pair_params(&self, a: u32, b: u32) -> LjParams {
        self.table[a as usize * self.n_species + b as usize]
    }

    /// Pair energy `u(r)` including the truncation scheme (energy units); 0 beyond
    /// the cutoff.
    pub fn pair_energy(&self, a: u32, b: u32, r: f64) -> f64 {
        if r >= self.config.cutoff {
            return 0.0;
        }
        self.energy_and_force(a, b, r * r).0
    }

    /// Long-range corrections `(U_tail, P_tail)` for `counts[a]` atoms of species `a` in
    /// volume `volume` (energy, energy/volume units), whether or not `tail` is set.
    pub fn tail_correction(&self, counts: &[usize], volume: f64) -> (f64, f64) {
        let rc = self.config.cutoff;
        let (mut u, mut p) = (0.0, 0.0);
        for (a, &na) in counts.iter().enumerate() {
            for (b, &nb) in counts.iter().enumerate() {
                let LjParams { sigma, epsilon } = self.table[a * self.n_species + b];
                let x3 = (sigma / rc).powi(3);
                let x9 = x3 * x3 * x3;
                let s3 = sigma.powi(3);
                let nn = na as f64 * nb as f64;
                // ∫ u r² dr = 4εσ³[x⁹/9 − x³/3]; ∫ r u' r² dr = 4εσ³[−(4/3)x⁹ + 2x³].
                u += nn * 4.0 * epsilon * s3 * (x9 / 9.0 - x3 / 3.0);
                p += nn * 4.0 * epsilon * s3 * (-(4.0 / 3.0) * x9 + 2.0 * x3);
            }
        }
        (
            2.0 * PI * u / volume,
            -2.0 * PI * p / (3.0 * volume * volume),
        )
    }
}

impl PairPotential for LennardJones {
    fn pair_cutoff(&self) -> f64 {
        self.config.cutoff
    }

    fn species_dependent(&self) -> bool {
        self.n_species > 1
    }

    #[inline(always)]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let c = &self.coefficients[a as usize * self.n_species + b as usize];
        let ir2 = 1.0 / r2;
        let ir6 = ir2 * ir2 * ir2;
        let e = ir6 * (c.c12 * ir6 - c.c6) - c.e_shift;
        let fpair = ir6 * (12.0 * c.c12 * ir6 - 6.0 * c.c6) * ir2;
        if self.config.truncation == Truncation::ForceShifted {
            let r = r2.sqrt();
            (e + c.f_shift * (r - c.rc), fpair - c.f_shift / r)
        } else {
            (e, fpair)
        }
    }
}

/// The one-species fast path of [`LennardJones`]; finite for every `r² > 0`.
struct SingleSpecies<const FORCE_SHIFTED: bool>(PairCoefficients);

impl<const FORCE_SHIFTED: bool> PairPotential for SingleSpecies<FORCE_SHIFTED> {
    fn pair_cutoff(&self) -> f64 {
        self.0.rc
    }

    fn species_dependent(&self) -> bool {
        false
    }

    #[inline(always)]
    fn energy_and_force(&self, _: u32, _: u32, r2: f64) -> (f64, f64) {
        let c = &self.0;
        let ir2 = 1.0 / r2;
        let ir6 = ir2 * ir2 * ir2;
        let e = ir6 * (c.c12 * ir6 - c.c6) - c.e_shift;
        let fpair = ir6 * (12.0 * c.c12 * ir6 - 6.0 * c.c6) * ir2;
        if FORCE_SHIFTED {
            let r = r2.sqrt();
            (e + c.f_shift * (r - c.rc), fpair - c.f_shift / r)
        } else {
            (e, fpair)
        }
    }
}

impl Potential for LennardJones {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        let n = config.positions.len();
        if config.species.len() != n {
            return Err(MdError::Mismatch {
                what: "species array length",
                expected: n,
                got: config.species.len(),
            });
        }
        let mut counts = vec![0usize; self.n_species];
        for (atom, &s) in config.species.iter().enumerate() {
            match counts.get_mut(s as usize) {
                Some(c) => *c += 1,
                None => {
                    return Err(MdError::UnknownSpecies {
                        atom,
                        species: s,
                        n_species: self.n_species,
                    })
                }
            }
        }
        if self.n_species == 1 {
            // One species: constants in registers, no table look-up in the pair loop.
            let c = self.coefficients[0];
            if self.config.truncation == Truncation::ForceShifted {
                pair_sum_masked(&SingleSpecies::<true>(c), config, out)?;
            } else {
                pair_sum_masked(&SingleSpecies::<false>(c), config, out)?;
            }
        } else {
            // Finite for every r² > 0, so the branch-free loop applies.
            pair_sum_masked(self, config, out)?;
        }
        if self.config.tail {
            let volume = config.simbox.volume().ok_or(MdError::NeedsPeriodicBox {
                what: "Lennard-Jones long-range corrections",
            })?;
            let (u, p) = self.tail_correction(&counts, volume);
            out.energy += u;
            for k in 0..3 {
                out.virial[(k, k)] += p * volume;
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "lennard-jones"
    }
}
