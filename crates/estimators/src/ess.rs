//! Effective sample sizes of importance weights.
//!
//! Both functions take *log*-weights ln wᵢ (any additive constant; they need not be
//! normalised), so that weights spanning hundreds of orders of magnitude — the usual
//! case in reweighting — are handled exactly. Zero weights are written as `-inf`.

use crate::error::{EstimatorError, Result};
use crate::logexp::{logsumexp, pairwise_sum_map};

/// Validates log-weights and returns their log-normaliser ln Σ wᵢ.
fn log_normaliser(log_weights: &[f64]) -> Result<f64> {
    if log_weights.is_empty() {
        return Err(EstimatorError::EmptyInput {
            what: "log_weights",
        });
    }
    if let Some(index) = log_weights
        .iter()
        .position(|v| v.is_nan() || *v == f64::INFINITY)
    {
        return Err(EstimatorError::NonFinite {
            what: "log_weights",
            index,
        });
    }
    let lse = logsumexp(log_weights);
    if lse == f64::NEG_INFINITY {
        return Err(EstimatorError::EmptyInput {
            what: "log_weights (all weights are zero)",
        });
    }
    Ok(lse)
}

/// Kish's effective sample size (Σwᵢ)² / Σwᵢ² (Kish 1965), from log-weights ln wᵢ.
///
/// Lies in [1, n]; n for uniform weights, 1 when one weight dominates. This is the
/// form pymbar reports per state (`compute_effective_sample_number`).
///
/// ```
/// use thermograd_estimators::kish_ess;
/// let n_eff = kish_ess(&[0.0, 0.0, 0.0, 0.0]).unwrap();
/// assert!((n_eff - 4.0).abs() < 1e-12);
/// ```
pub fn kish_ess(log_weights: &[f64]) -> Result<f64> {
    let lse = log_normaliser(log_weights)?;
    // Σ (wᵢ/Σw)² = exp(logsumexp(2(ln wᵢ − lse))); each term ≤ 1, so no overflow.
    let sum_sq = pairwise_sum_map(log_weights, |lw| (2.0 * (lw - lse)).exp());
    Ok(1.0 / sum_sq)
}

/// Entropy form of the effective sample size, exp(−Σ w̃ᵢ ln w̃ᵢ) with normalised weights
/// w̃ᵢ = wᵢ/Σw (chemtrain eq. 11; Thaler & Zavadlav 2021, used by DiffTRe to decide
/// when to resample), from log-weights ln wᵢ.
///
/// Lies in [1, n]; n for uniform weights. It is the exponential of the Shannon
/// entropy of the normalised weights, so it is never larger than n and is at least the
/// Kish value.
///
/// ```
/// use thermograd_estimators::entropy_ess;
/// // Two equal weights and two zero weights: two effective samples.
/// let n_eff = entropy_ess(&[0.0, 0.0, f64::NEG_INFINITY, f64::NEG_INFINITY]).unwrap();
/// assert!((n_eff - 2.0).abs() < 1e-12);
/// ```
pub fn entropy_ess(log_weights: &[f64]) -> Result<f64> {
    let lse = log_normaliser(log_weights)?;
    let neg_entropy = pairwise_sum_map(log_weights, |lw| {
        if lw == f64::NEG_INFINITY {
            0.0
        } else {
            let ln_w = lw - lse;
            ln_w.exp() * ln_w
        }
    });
    Ok((-neg_entropy).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_weights_give_n_for_both_forms() {
        let lw = vec![-700.0; 10];
        assert!((kish_ess(&lw).unwrap() - 10.0).abs() < 1e-10);
        assert!((entropy_ess(&lw).unwrap() - 10.0).abs() < 1e-10);
    }

    #[test]
    fn one_dominant_weight_gives_one() {
        let lw = [0.0, -1000.0, -2000.0];
        assert!((kish_ess(&lw).unwrap() - 1.0).abs() < 1e-12);
        assert!((entropy_ess(&lw).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn two_point_weights_match_hand_computation() {
        // Weights 1 and 3: Kish = 16/10; entropy form = exp(−(¼ln¼ + ¾ln¾)).
        let lw = [0.0, 3f64.ln()];
        assert!((kish_ess(&lw).unwrap() - 1.6).abs() < 1e-12);
        let h: f64 = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((entropy_ess(&lw).unwrap() - h.exp()).abs() < 1e-12);
    }

    #[test]
    fn bad_log_weights_are_errors() {
        assert!(matches!(
            kish_ess(&[]),
            Err(EstimatorError::EmptyInput { .. })
        ));
        assert!(matches!(
            entropy_ess(&[0.0, f64::NAN]),
            Err(EstimatorError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            kish_ess(&[f64::INFINITY]),
            Err(EstimatorError::NonFinite { index: 0, .. })
        ));
        assert!(matches!(
            kish_ess(&[f64::NEG_INFINITY]),
            Err(EstimatorError::EmptyInput { .. })
        ));
    }
}
