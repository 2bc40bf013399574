//! Exponential averaging (EXP), Zwanzig 1954, in both directions.

use crate::error::{check_finite, Result};
use crate::estimate::FreeEnergyEstimate;
use crate::logexp::{pairwise_sum, pairwise_sum_map};

/// ln ⟨e^{−w}⟩ over the samples and its asymptotic standard error,
/// σ(x)/(⟨x⟩√n) with x = e^{−w} (population σ, as pymbar's `exp`).
fn log_mean_exp_neg(w: &[f64]) -> (f64, f64) {
    let n = w.len() as f64;
    let max_arg = w.iter().map(|v| -v).fold(f64::NEG_INFINITY, f64::max);
    // x = e^{-w - max} ∈ (0, 1]: its mean and spread are free of overflow. One exp per
    // sample, then a two-pass variance over the stored values.
    let x: Vec<f64> = w.iter().map(|v| (-v - max_arg).exp()).collect();
    let sum_x = pairwise_sum(&x);
    let mean_x = sum_x / n;
    let var_x = pairwise_sum_map(&x, |v| (v - mean_x) * (v - mean_x)) / n;
    let lse = max_arg + sum_x.ln();
    (lse - n.ln(), var_x.sqrt() / (mean_x * n.sqrt()))
}

/// Forward EXP (Zwanzig): f₁ − f₀ = −ln ⟨e^{−w}⟩₀ from forward works
/// wᵢ = u₁(xᵢ) − u₀(xᵢ) on samples xᵢ of state 0 (reduced units, kT).
///
/// The standard error is the asymptotic (delta-method) one for independent samples;
/// it is only meaningful when the variance of e^{−w} is finite (for harmonic
/// oscillators, when the target is not much broader than the reference).
///
/// ```
/// use thermograd_estimators::exp_forward;
/// let est = exp_forward(&[1.0, 1.0, 1.0]).unwrap();
/// assert!((est.delta_f - 1.0).abs() < 1e-12);
/// ```
pub fn exp_forward(w_f: &[f64]) -> Result<FreeEnergyEstimate> {
    check_finite("w_f", w_f)?;
    let (ln_mean, std_err) = log_mean_exp_neg(w_f);
    Ok(FreeEnergyEstimate {
        delta_f: -ln_mean,
        std_err,
    })
}

/// Reverse EXP: f₁ − f₀ = ln ⟨e^{−w}⟩₁ from reverse works wᵢ = u₀(xᵢ) − u₁(xᵢ) on samples
/// xᵢ of state 1 (reduced units, kT). Same sign convention as [`exp_forward`]: the result is
/// always f₁ − f₀.
pub fn exp_reverse(w_r: &[f64]) -> Result<FreeEnergyEstimate> {
    check_finite("w_r", w_r)?;
    let (ln_mean, std_err) = log_mean_exp_neg(w_r);
    Ok(FreeEnergyEstimate {
        delta_f: ln_mean,
        std_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EstimatorError;

    #[test]
    fn two_values_match_hand_computation() {
        // w = {0, ln 3}: ⟨e^{−w}⟩ = (1 + 1/3)/2 = 2/3.
        let est = exp_forward(&[0.0, 3f64.ln()]).unwrap();
        assert!((est.delta_f - (1.5f64).ln()).abs() < 1e-14);
        // x = {1, 1/3}: mean 2/3, population σ 1/3 → σ/(mean √2) = 1/(2√2).
        assert!((est.std_err - 1.0 / (2.0 * 2f64.sqrt())).abs() < 1e-14);
        let rev = exp_reverse(&[0.0, 3f64.ln()]).unwrap();
        assert!((rev.delta_f + (1.5f64).ln()).abs() < 1e-14);
    }

    #[test]
    fn huge_works_do_not_overflow() {
        let est = exp_forward(&[5000.0, 5000.0]).unwrap();
        assert!((est.delta_f - 5000.0).abs() < 1e-9);
        assert_eq!(est.std_err, 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            exp_forward(&[]),
            Err(EstimatorError::EmptyInput { what: "w_f" })
        ));
        assert!(matches!(
            exp_reverse(&[1.0, f64::NAN]),
            Err(EstimatorError::NonFinite {
                what: "w_r",
                index: 1
            })
        ));
    }
}
