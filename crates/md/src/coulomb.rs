//! Electrostatics: Ewald summation for periodic boxes and the damped shifted-force (DSF)
//! pair form.
//!
//! Charges are per species (`charges[s]` for species `s`, in units of the elementary
//! charge or any unit); the Coulomb constant `k_e = 1/(4πε₀)` is the caller's
//! (138.935458 kJ mol⁻¹ nm e⁻² in the GROMACS unit set, 1 in Gaussian reduced units), so
//! a pair energy is `k_e q_i q_j / r`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, Vec3};

use crate::error::check_positive;
use crate::pair::{pair_sum, PairPotential};
use crate::pairs::check_species;
use crate::{Configuration, Evaluation, MdError, Potential, Result};

/// `2/√π`.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// The complementary error function `erfc(x) = 1 − erf(x)`, to about 1e-15 relative for
/// `x ≤ 3` and 1e-13 beyond (a positive-term series of `erf` below 2.5, a continued
/// fraction above).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        // erf(x) = (2/√π) e^{−x²} Σ_n 2ⁿ x^{2n+1} / (1·3·5···(2n+1)), all terms positive.
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut k = 1.0;
        loop {
            k += 2.0;
            term *= 2.0 * x2 / k;
            sum += term;
            if term <= 1e-17 * sum {
                break;
            }
        }
        1.0 - TWO_OVER_SQRT_PI * (-x2).exp() * sum
    } else {
        // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by the modified
        // Lentz algorithm.
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for n in 1..500 {
            let a = n as f64 / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / (f * PI.sqrt())
    }
}

// ---------------------------------------------------------------------------------------
// Ewald

/// Configuration of [`Ewald`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EwaldConfig {
    /// Charge of each species (charge units).
    pub charges: Vec<f64>,
    /// Coulomb constant `k_e` (energy·length/charge²).
    pub coulomb_constant: f64,
    /// Real-space cutoff `r_c` (length units).
    pub cutoff: f64,
    /// Target relative accuracy `δ` (e.g. 1e-6): sets the splitting parameter
    /// `α = √(−ln δ)/r_c` (so `erfc(α r_c) ≈ δ`) and the reciprocal cutoff
    /// `k_max = 2α√(−ln δ)` (so `exp(−k_max²/4α²) = δ`), unless given below.
    pub tolerance: f64,
    /// Explicit splitting parameter `α` (1/length), overriding the tolerance.
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Explicit reciprocal cutoff `k_max` (1/length), overriding the tolerance.
    #[serde(default)]
    pub k_max: Option<f64>,
}

impl EwaldConfig {
    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<Ewald> {
        check_positive("coulomb_constant", self.coulomb_constant)?;
        check_positive("cutoff", self.cutoff)?;
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            return Err(MdError::InvalidParameter {
                name: "tolerance",
                value: self.tolerance,
                reason: "must lie in (0, 1)",
            });
        }
        if self.charges.is_empty() {
            return Err(MdError::Mismatch {
                what: "Ewald species charges",
                expected: 1,
                got: 0,
            });
        }
        for &q in &self.charges {
            if !q.is_finite() {
                return Err(MdError::InvalidParameter {
                    name: "charge",
                    value: q,
                    reason: "must be finite",
                });
            }
        }
        let log = -self.tolerance.ln();
        let alpha = match self.alpha {
            Some(a) => {
                check_positive("alpha", a)?;
                a
            }
            None => log.sqrt() / self.cutoff,
        };
        let k_max = match self.k_max {
            Some(k) => {
                check_positive("k_max", k)?;
                k
            }
            None => 2.0 * alpha * log.sqrt(),
        };
        Ok(Ewald {
            config: self.clone(),
            alpha,
            k_max,
        })
    }
}

/// Ewald summation (Ewald 1921; Allen & Tildesley §6.2) of the Coulomb energy of a
/// periodic, possibly triclinic, box:
///
/// - real space `½ Σ_{i,j,n}' k_e q_i q_j erfc(α r)/r` over a neighbor list (every image
///   within the cutoff);
/// - reciprocal space `(k_e/2V) Σ_{k≠0} (4π/k²) e^{−k²/4α²} |S(k)|²`,
///   `S(k) = Σ_j q_j e^{i k·r_j}`, over `k = 2π h⁻ᵀ m` (integer `m`) with `|k| ≤ k_max`;
/// - self energy `−k_e (α/√π) Σ q_i²`;
/// - for a non-neutral system, the uniform neutralising background `−k_e π Q²/(2Vα²)`.
///
/// Tin-foil boundary conditions (no surface dipole term). The reciprocal virial is
/// `Σ_k E_k [δ_ab − 2 k_a k_b (1/k² + 1/4α²)]`; the background adds `E_bg δ_ab`.
#[derive(Clone, Debug)]
pub struct Ewald {
    config: EwaldConfig,
    alpha: f64,
    k_max: f64,
}

impl Ewald {
    /// The configuration it was built from.
    pub fn config(&self) -> &EwaldConfig {
        &self.config
    }

    /// The splitting parameter `α` (1/length).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The reciprocal-space cutoff `k_max` (1/length).
    pub fn k_max(&self) -> f64 {
        self.k_max
    }

    /// Energy of the real-space part alone, for diagnostics.
    fn real_space(&self) -> EwaldReal<'_> {
        EwaldReal { ewald: self }
    }

    fn reciprocal(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        let cell = config.simbox.cell().ok_or(MdError::NeedsPeriodicBox {
            what: "Ewald summation",
        })?;
        let volume = cell.determinant();
        let ke = self.config.coulomb_constant;
        let alpha = self.alpha;
        let q: Vec<f64> = config
            .species
            .iter()
            .map(|&s| self.config.charges[s as usize])
            .collect();
        // Reciprocal lattice vectors b_i (columns of 2π h⁻ᵀ), so k = Σ m_i b_i and
        // m_i = a_i·k/2π, hence |m_i| ≤ |a_i| k_max / 2π.
        let recip = 2.0
            * PI
            * cell
                .try_inverse()
                .expect("a valid cell is invertible")
                .transpose();
        let m_max: Vec<i64> = (0..3)
            .map(|i| (cell.column(i).norm() * self.k_max / (2.0 * PI)).floor() as i64)
            .collect();
        let k2_max = self.k_max * self.k_max;
        let n = config.positions.len();
        let mut energy = 0.0;
        let mut virial = Mat3::zeros();
        let mut cos_kr = vec![0.0; n];
        let mut sin_kr = vec![0.0; n];
        // Half of k-space: k and −k contribute equally; take m > 0 lexicographically and
        // double.
        for m0 in 0..=m_max[0] {
            for m1 in -m_max[1]..=m_max[1] {
                for m2 in -m_max[2]..=m_max[2] {
                    if m0 == 0 && (m1 < 0 || (m1 == 0 && m2 <= 0)) {
                        continue;
                    }
                    let k = recip * Vec3::new(m0 as f64, m1 as f64, m2 as f64);
                    let k2 = k.norm_squared();
                    if k2 > k2_max {
                        continue;
                    }
                    let (mut s_re, mut s_im) = (0.0, 0.0);
                    for (j, r) in config.positions.iter().enumerate() {
                        let (s, c) = k.dot(r).sin_cos();
                        cos_kr[j] = c;
                        sin_kr[j] = s;
                        s_re += q[j] * c;
                        s_im += q[j] * s;
                    }
                    // Both k and −k: factor 2 on (k_e/2V)(4π/k²).
                    let a =
                        2.0 * ke * 2.0 * PI / (volume * k2) * (-k2 / (4.0 * alpha * alpha)).exp();
                    let e_k = a * (s_re * s_re + s_im * s_im);
                    energy += e_k;
                    // F_j = a · 2 q_j k (sin(k·r_j) S_re − cos(k·r_j) S_im).
                    for j in 0..n {
                        let g = 2.0 * a * q[j] * (sin_kr[j] * s_re - cos_kr[j] * s_im);
                        out.forces[j] += g * k;
                    }
                    let c = 2.0 * (1.0 / k2 + 1.0 / (4.0 * alpha * alpha));
                    virial += e_k * (Mat3::identity() - c * k * k.transpose());
                }
            }
        }
        let total_charge: f64 = q.iter().sum();
        let q2: f64 = q.iter().map(|q| q * q).sum();
        let e_self = -ke * alpha / PI.sqrt() * q2;
        let e_background = -ke * PI * total_charge * total_charge / (2.0 * volume * alpha * alpha);
        out.energy += energy + e_self + e_background;
        out.virial += virial + e_background * Mat3::identity();
        Ok(())
    }
}

/// The real-space pair term of [`Ewald`], `k_e q_a q_b erfc(α r)/r`.
struct EwaldReal<'a> {
    ewald: &'a Ewald,
}

impl PairPotential for EwaldReal<'_> {
    fn pair_cutoff(&self) -> f64 {
        self.ewald.config.cutoff
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let c = &self.ewald.config;
        let qq = c.coulomb_constant * c.charges[a as usize] * c.charges[b as usize];
        let alpha = self.ewald.alpha;
        let r = r2.sqrt();
        let e = qq * erfc(alpha * r) / r;
        // −u'(r)/r = [qq erfc(αr)/r + qq (2α/√π) e^{−α²r²}] / r².
        let f = (e + qq * alpha * TWO_OVER_SQRT_PI * (-alpha * alpha * r2).exp()) / r2;
        (e, f)
    }
}

impl Potential for Ewald {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.config.charges.len())?;
        if !config.simbox.is_periodic() {
            return Err(MdError::NeedsPeriodicBox {
                what: "Ewald summation",
            });
        }
        pair_sum(&self.real_space(), config, out)?;
        self.reciprocal(config, out)
    }

    fn name(&self) -> &str {
        "ewald"
    }
}

// ---------------------------------------------------------------------------------------
// Damped shifted force

/// Configuration of [`DampedShiftedForce`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DsfConfig {
    /// Charge of each species (charge units).
    pub charges: Vec<f64>,
    /// Coulomb constant `k_e` (energy·length/charge²).
    pub coulomb_constant: f64,
    /// Cutoff `R_c` (length units).
    pub cutoff: f64,
    /// Damping parameter `α` (1/length); Fennell & Gezelter recommend about 0.2 Å⁻¹ for
    /// `R_c` of 9–12 Å (`α R_c ≈ 2`).
    pub alpha: f64,
}

impl DsfConfig {
    /// Validates the parameters and builds the potential.
    pub fn build(&self) -> Result<DampedShiftedForce> {
        check_positive("coulomb_constant", self.coulomb_constant)?;
        check_positive("cutoff", self.cutoff)?;
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(MdError::InvalidParameter {
                name: "alpha",
                value: self.alpha,
                reason: "must be non-negative and finite",
            });
        }
        if self.charges.is_empty() {
            return Err(MdError::Mismatch {
                what: "DSF species charges",
                expected: 1,
                got: 0,
            });
        }
        let (a, rc) = (self.alpha, self.cutoff);
        let erfc_rc = erfc(a * rc) / rc;
        let force_rc = erfc_rc / rc + a * TWO_OVER_SQRT_PI * (-a * a * rc * rc).exp() / rc;
        Ok(DampedShiftedForce {
            config: self.clone(),
            erfc_rc,
            force_rc,
        })
    }
}

/// The damped shifted-force Coulomb potential (Fennell & Gezelter, J. Chem. Phys. 124,
/// 234104 (2006), eqs. 19–20):
///
/// `u(r) = k_e q_i q_j [erfc(αr)/r − erfc(αR_c)/R_c + (r − R_c)(erfc(αR_c)/R_c² +
/// (2α/√π) e^{−α²R_c²}/R_c)]` for `r < R_c`, so that energy and force vanish at `R_c`,
/// plus the self term `−k_e (erfc(αR_c)/(2R_c) + α/√π) Σ q_i²` (no force, no virial).
/// Works in open and periodic boxes.
#[derive(Clone, Debug)]
pub struct DampedShiftedForce {
    config: DsfConfig,
    /// `erfc(αR_c)/R_c`.
    erfc_rc: f64,
    /// `erfc(αR_c)/R_c² + (2α/√π) e^{−α²R_c²}/R_c`.
    force_rc: f64,
}

impl DampedShiftedForce {
    /// The configuration it was built from.
    pub fn config(&self) -> &DsfConfig {
        &self.config
    }
}

impl PairPotential for DampedShiftedForce {
    fn pair_cutoff(&self) -> f64 {
        self.config.cutoff
    }

    #[inline]
    fn energy_and_force(&self, a: u32, b: u32, r2: f64) -> (f64, f64) {
        let c = &self.config;
        let qq = c.coulomb_constant * c.charges[a as usize] * c.charges[b as usize];
        let alpha = c.alpha;
        let r = r2.sqrt();
        let erfc_r = erfc(alpha * r) / r;
        let e = qq * (erfc_r - self.erfc_rc + (r - c.cutoff) * self.force_rc);
        let f_mag = erfc_r / r + alpha * TWO_OVER_SQRT_PI * (-alpha * alpha * r2).exp() / r;
        (e, qq * (f_mag - self.force_rc) / r)
    }
}

impl Potential for DampedShiftedForce {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        check_species(config, self.config.charges.len())?;
        pair_sum(self, config, out)?;
        let q2: f64 = config
            .species
            .iter()
            .map(|&s| self.config.charges[s as usize].powi(2))
            .sum();
        let c = &self.config;
        out.energy -= c.coulomb_constant * (0.5 * self.erfc_rc + c.alpha / PI.sqrt()) * q2;
        Ok(())
    }

    fn name(&self) -> &str {
        "damped-shifted-force"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_tabulated_values() {
        // Abramowitz & Stegun / standard tables.
        for (x, want) in [
            (0.0, 1.0),
            (0.1, 0.887537083981715),
            (0.5, 0.479500122186953),
            (1.0, 0.157299207050285),
            (2.0, 4.67773498104727e-3),
            (2.5, 4.06952017444959e-4),
            (3.0, 2.20904969985854e-5),
            (4.0, 1.54172579002800e-8),
            (5.0, 1.53745979442803e-12),
            (-1.0, 1.842700792949715),
        ] {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn erfc_is_smooth_across_the_method_switch() {
        let h = 1e-6;
        let below = erfc(2.5 - h);
        let above = erfc(2.5 + h);
        let slope = -TWO_OVER_SQRT_PI * (-6.25f64).exp();
        assert!(((above - below) / (2.0 * h) - slope).abs() < 1e-8);
    }
}
