//! Bennett acceptance ratio (BAR), Bennett 1976; asymptotic variance of
//! Shirts, Bair, Hooker & Pande, Phys. Rev. Lett. 91, 140601 (2003).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, EstimatorError, Result};
use crate::estimate::{sample_std, BootstrapConfig, FreeEnergyEstimate};
use crate::logexp::{fermi_sums, FermiSums};

/// Numerical options of [`bar`]. All fields have defaults ([`BarConfig::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BarConfig {
    /// Absolute tolerance on ΔF (kT) for the root finder. Default 1e-12.
    pub tolerance: f64,
    /// Maximum root-finder iterations before [`EstimatorError::NotConverged`]. Default 200.
    pub max_iterations: usize,
    /// Minimum overlap 1 − λ₂ of the two-state overlap matrix (pymbar's scalar overlap);
    /// below it [`bar`] returns [`EstimatorError::NoOverlap`]. Default 1e-10; 0 disables.
    pub min_overlap: f64,
    /// Which asymptotic variance `std_err` reports. Default [`BarUncertainty::Bennett`].
    pub uncertainty: BarUncertainty,
}

/// The asymptotic variance formula of [`bar`]. Both are consistent and agree to O(1/N²);
/// they differ on finite samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BarUncertainty {
    /// Shirts et al. 2003 eq. 8: ⟨f²⟩_F/(N_F⟨f⟩_F²) + ⟨f²⟩_R/(N_R⟨f⟩_R²) − 1/N_F − 1/N_R
    /// (pymbar's default `uncertainty_method="BAR"`).
    Bennett,
    /// The two-state MBAR covariance, 1/Σₙ p₀(n)p₁(n) − 1/N_F − 1/N_R over all samples
    /// (pymbar's `uncertainty_method="MBAR"`); equals [`crate::Mbar`]'s error for the same data.
    Mbar,
}

impl Default for BarConfig {
    fn default() -> Self {
        Self {
            tolerance: 1e-12,
            max_iterations: 200,
            min_overlap: 1e-10,
            uncertainty: BarUncertainty::Bennett,
        }
    }
}

impl BarConfig {
    /// Checks that the tolerance is positive and finite and the overlap threshold is in [0, 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance > 0.0 && self.tolerance.is_finite()) {
            return Err(EstimatorError::InvalidConfig {
                field: "tolerance",
                value: self.tolerance,
                reason: "must be positive and finite",
            });
        }
        if self.max_iterations == 0 {
            return Err(EstimatorError::InvalidConfig {
                field: "max_iterations",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        if !(0.0..1.0).contains(&self.min_overlap) {
            return Err(EstimatorError::InvalidConfig {
                field: "min_overlap",
                value: self.min_overlap,
                reason: "must lie in [0, 1)",
            });
        }
        Ok(())
    }
}

/// The two Fermi sums of BAR's implicit equation at a trial ΔF.
struct BarEval {
    fwd: FermiSums,
    rev: FermiSums,
}

impl BarEval {
    fn new(w_f: &[f64], w_r: &[f64], min_f: f64, min_r: f64, m: f64, delta_f: f64) -> Self {
        Self {
            fwd: fermi_sums(w_f, m - delta_f, min_f),
            rev: fermi_sums(w_r, delta_f - m, min_r),
        }
    }

    /// g(ΔF) = ln Σ_F f(M + w_F − ΔF) − ln Σ_R f(−M + w_R + ΔF); increasing in ΔF.
    fn residual(&self) -> f64 {
        self.fwd.ln_sum - self.rev.ln_sum
    }

    /// g'(ΔF) ∈ (0, 2].
    fn slope(&self) -> f64 {
        self.fwd.sd / self.fwd.s1 + self.rev.sd / self.rev.s1
    }

    /// Shirts et al. 2003 variance: ⟨f²⟩_F/(N_F⟨f⟩_F²) + ⟨f²⟩_R/(N_R⟨f⟩_R²) − 1/N_F − 1/N_R.
    fn variance(&self, n_f: f64, n_r: f64) -> f64 {
        let v = self.fwd.s2 / (self.fwd.s1 * self.fwd.s1)
            + self.rev.s2 / (self.rev.s1 * self.rev.s1)
            - 1.0 / n_f
            - 1.0 / n_r;
        // ⟨f²⟩ ≥ ⟨f⟩² (Jensen), so a negative value is rounding only.
        v.max(0.0)
    }

    /// Two-state MBAR variance 1/Σₙ p₀p₁ − 1/N_F − 1/N_R.
    fn mbar_variance(&self, n_f: f64, n_r: f64) -> f64 {
        let sum = self.fwd.sd * (-self.fwd.c).exp() + self.rev.sd * (-self.rev.c).exp();
        (1.0 / sum - 1.0 / n_f - 1.0 / n_r).max(0.0)
    }

    /// Scalar overlap 1 − λ₂ = (1/N_F + 1/N_R) Σₙ p₀(n) p₁(n) over all samples.
    fn overlap(&self, n_f: f64, n_r: f64) -> f64 {
        let sum = self.fwd.sd * (-self.fwd.c).exp() + self.rev.sd * (-self.rev.c).exp();
        (1.0 / n_f + 1.0 / n_r) * sum
    }
}

/// Bennett acceptance ratio estimate of f₁ − f₀ (kT) from forward works
/// w_F = u₁ − u₀ on samples of state 0 and reverse works w_R = u₀ − u₁ on samples of
/// state 1 (reduced energies).
///
/// Solves Σ_F f(M + w_F − ΔF) = Σ_R f(−M + w_R + ΔF), f(x) = 1/(1 + eˣ),
/// M = ln(N_F/N_R), with a safeguarded Newton iteration: the residual is increasing with
/// slope in (0, 2], every evaluation tightens a bracket around the root, and steps that
/// leave the bracket are replaced by bisection. Sums are log-scaled, so works of any
/// magnitude are safe. The standard error is the asymptotic one of Shirts et al. 2003
/// for independent samples (pymbar's default).
///
/// Errors: empty or non-finite input; [`EstimatorError::NoOverlap`] when the scalar overlap
/// is below `config.min_overlap`; [`EstimatorError::NotConverged`] if the root finder fails.
///
/// ```
/// use thermograd_estimators::{bar, BarConfig};
/// // Identical states: all works zero, ΔF = 0.
/// let est = bar(&[0.0; 10], &[0.0; 10], &BarConfig::default()).unwrap();
/// assert!(est.delta_f.abs() < 1e-12);
/// ```
pub fn bar(w_f: &[f64], w_r: &[f64], config: &BarConfig) -> Result<FreeEnergyEstimate> {
    config.validate()?;
    check_finite("w_f", w_f)?;
    check_finite("w_r", w_r)?;
    let (delta_f, eval) = solve(w_f, w_r, config, None)?;
    let (n_f, n_r) = (w_f.len() as f64, w_r.len() as f64);
    let overlap = eval.overlap(n_f, n_r);
    if overlap.is_nan() || overlap < config.min_overlap || overlap == 0.0 {
        return Err(EstimatorError::NoOverlap {
            what: "forward and reverse work distributions",
            overlap,
            threshold: config.min_overlap,
        });
    }
    let variance = match config.uncertainty {
        BarUncertainty::Bennett => eval.variance(n_f, n_r),
        BarUncertainty::Mbar => eval.mbar_variance(n_f, n_r),
    };
    Ok(FreeEnergyEstimate {
        delta_f,
        std_err: variance.sqrt(),
    })
}

/// Like [`bar`], but the standard error is the bootstrap one: forward and reverse works are
/// resampled with replacement `bootstrap.n_bootstrap` times (seeded), and `std_err` is the
/// standard deviation of the replica estimates. `delta_f` is the estimate on the full data.
pub fn bar_bootstrap(
    w_f: &[f64],
    w_r: &[f64],
    config: &BarConfig,
    bootstrap: &BootstrapConfig,
) -> Result<FreeEnergyEstimate> {
    bootstrap.validate()?;
    let full = bar(w_f, w_r, config)?;
    let mut rng = ChaCha8Rng::seed_from_u64(bootstrap.seed);
    let mut bf = vec![0.0; w_f.len()];
    let mut br = vec![0.0; w_r.len()];
    let mut replicas = Vec::with_capacity(bootstrap.n_bootstrap);
    for _ in 0..bootstrap.n_bootstrap {
        for v in bf.iter_mut() {
            *v = w_f[rng.gen_range(0..w_f.len())];
        }
        for v in br.iter_mut() {
            *v = w_r[rng.gen_range(0..w_r.len())];
        }
        // Replicas start from the full-data root, so they converge in a few steps.
        let (d, _) = solve(&bf, &br, config, Some(full.delta_f))?;
        replicas.push(d);
    }
    Ok(FreeEnergyEstimate {
        delta_f: full.delta_f,
        std_err: sample_std(&replicas),
    })
}

/// Safeguarded Newton on the BAR residual. Returns the root and the sums evaluated there.
fn solve(
    w_f: &[f64],
    w_r: &[f64],
    config: &BarConfig,
    start: Option<f64>,
) -> Result<(f64, BarEval)> {
    let (n_f, n_r) = (w_f.len() as f64, w_r.len() as f64);
    let m = (n_f / n_r).ln();
    let min_f = w_f.iter().copied().fold(f64::INFINITY, f64::min);
    let min_r = w_r.iter().copied().fold(f64::INFINITY, f64::min);
    // Gibbs–Bogoliubov bounds −⟨w_R⟩ ≤ ΔF ≤ ⟨w_F⟩: their midpoint is a cheap, exp-free start.
    let mean = |w: &[f64]| w.iter().sum::<f64>() / w.len() as f64;
    let mut x = start.unwrap_or_else(|| 0.5 * (mean(w_f) - mean(w_r)));
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut last_step = f64::INFINITY;
    for _ in 0..config.max_iterations {
        let eval = BarEval::new(w_f, w_r, min_f, min_r, m, x);
        let g = eval.residual();
        if g == 0.0 || last_step.abs() <= config.tolerance {
            return Ok((x, eval));
        }
        if g < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        if hi - lo <= config.tolerance {
            return Ok((x, eval));
        }
        let slope = eval.slope();
        let mut next = x - g / slope;
        let inside = next > lo && next < hi;
        if !next.is_finite() || !inside {
            next = if lo.is_finite() && hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                // The slope is at most 2, so the root is at least |g|/2 away.
                x - g.signum() * (0.5 * g.abs()).max(1.0)
            };
        }
        last_step = next - x;
        x = next;
    }
    let eval = BarEval::new(w_f, w_r, min_f, min_r, m, x);
    Err(EstimatorError::NotConverged {
        iterations: config.max_iterations,
        residual: eval.residual().abs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sample_equation_has_the_hand_solution() {
        // One forward work a and one reverse work b: f(a − ΔF) = f(b + ΔF) ⇒ ΔF = (a − b)/2.
        let est = bar(&[3.0], &[1.0], &BarConfig::default()).unwrap();
        assert!((est.delta_f - 1.0).abs() < 1e-12);
    }

    #[test]
    fn zero_overlap_is_reported() {
        let w = [100.0, 101.0, 102.0];
        let err = bar(&w, &w, &BarConfig::default()).unwrap_err();
        assert!(matches!(err, EstimatorError::NoOverlap { .. }), "{err}");
    }

    #[test]
    fn config_is_validated() {
        let cfg = BarConfig {
            tolerance: -1.0,
            ..BarConfig::default()
        };
        assert!(matches!(
            bar(&[0.0], &[0.0], &cfg),
            Err(EstimatorError::InvalidConfig {
                field: "tolerance",
                ..
            })
        ));
    }
}
