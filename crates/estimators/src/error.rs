//! The crate's error type.

/// Everything that can go wrong in `thermograd-estimators`.
///
/// Bad input is always reported through one of these variants; the estimators never
/// panic on user data and never return a silent NaN.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EstimatorError {
    /// An input array that must hold at least one value is empty.
    #[error("{what} is empty")]
    EmptyInput {
        /// Which input (e.g. `"w_f"`, `"u_kn"`).
        what: &'static str,
    },
    /// Two inputs whose sizes must agree do not.
    #[error("{what}: expected length {expected}, found {found}")]
    LengthMismatch {
        /// Which input has the wrong size.
        what: &'static str,
        /// The size implied by the other inputs.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// An input value is NaN or infinite where a finite value is required.
    #[error("{what}[{index}] is not finite")]
    NonFinite {
        /// Which input holds the bad value.
        what: &'static str,
        /// Position of the first bad value (row-major flat index for matrices).
        index: usize,
    },
    /// Too few samples for the requested analysis.
    #[error("{what}: need at least {needed} samples, found {found}")]
    TooFewSamples {
        /// Which input is too short.
        what: &'static str,
        /// Minimum number of samples.
        needed: usize,
        /// Number of samples found.
        found: usize,
    },
    /// The sampled states do not overlap in configuration space: the estimate would be
    /// determined by numerical noise, not by data.
    #[error(
        "no overlap between {what}: overlap {overlap:.3e} is below the threshold {threshold:.3e}"
    )]
    NoOverlap {
        /// Which states (e.g. `"forward and reverse work"`, `"sampled states"`).
        what: &'static str,
        /// The measured overlap (BAR: 1 − λ₂ of the 2×2 overlap matrix; MBAR: 1 − λ₂ of the
        /// overlap matrix of the sampled states).
        overlap: f64,
        /// The configured minimum (`min_overlap` of the estimator's config).
        threshold: f64,
    },
    /// An iterative solver stopped before meeting its tolerance.
    #[error("solver did not converge after {iterations} iterations (residual {residual:.3e})")]
    NotConverged {
        /// Iterations performed.
        iterations: usize,
        /// Final residual (the solver's convergence measure).
        residual: f64,
    },
    /// A series has zero variance, so its correlation time is undefined.
    #[error("{what} has zero variance")]
    ZeroVariance {
        /// Which series.
        what: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {field} = {value} ({reason})")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Its value, as a number.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A dense linear-algebra kernel failed (eigen- or Cholesky decomposition).
    #[error("linear algebra failed in {operation}")]
    LinearAlgebra {
        /// The operation that failed.
        operation: &'static str,
    },
}

/// Shorthand for `Result<T, EstimatorError>`.
pub type Result<T> = std::result::Result<T, EstimatorError>;

/// Returns `EmptyInput` for an empty slice and `NonFinite` for the first non-finite value.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(EstimatorError::EmptyInput { what });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(EstimatorError::NonFinite { what, index }),
        None => Ok(()),
    }
}
