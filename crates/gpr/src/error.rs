//! The crate's error type.

/// Everything that can go wrong in `thermograd-gpr`.
///
/// Bad input (non-finite numbers, mismatched dimensions, duplicated noise-free points,
/// a Gram matrix that stays indefinite after the allowed jitter) is reported here; it
/// never panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GprError {
    /// A number in the input is NaN or infinite.
    #[error("non-finite {what} at index {index}")]
    NonFinite {
        /// Which input (`"point"`, `"gradient"`, `"value"`, `"noise"`, …).
        what: &'static str,
        /// Index of the offending observation (or parameter).
        index: usize,
    },
    /// Two observations share the same location and both are noise-free, so the Gram
    /// matrix is exactly singular.
    #[error("observations {i} and {j} are at the same point and both have zero noise")]
    DuplicatePoints {
        /// First observation index.
        i: usize,
        /// Second observation index.
        j: usize,
    },
    /// The covariance matrix is not positive definite even after adding `jitter` to
    /// its diagonal (`jitter` is the largest value tried, absolute, in squared target units).
    #[error("covariance matrix not positive definite after adding jitter {jitter:e}")]
    NotPositiveDefinite {
        /// Largest diagonal jitter that was tried.
        jitter: f64,
    },
    /// Lengths or dimensions that must agree do not.
    #[error("dimension mismatch in {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// What was being checked.
        what: &'static str,
        /// Expected length or dimension.
        expected: usize,
        /// Length or dimension found.
        got: usize,
    },
    /// No observations (or an empty grid, or zero inducing points).
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A parameter is outside its allowed range (e.g. a non-positive length scale).
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A noise covariance block is not symmetric positive semi-definite.
    #[error("noise covariance of observation {index} is not symmetric positive semi-definite")]
    InvalidNoise {
        /// Observation index.
        index: usize,
    },
    /// A grid specification string could not be parsed.
    #[error("invalid grid specification {spec:?}: {reason}")]
    InvalidGrid {
        /// The offending specification (one dimension's part, or the whole string).
        spec: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Hyperparameter optimisation found no finite log marginal likelihood from any start.
    #[error("hyperparameter optimisation failed: no start gave a finite log marginal likelihood")]
    OptimizationFailed,
}

/// Shorthand for results in this crate.
pub type Result<T, E = GprError> = std::result::Result<T, E>;
