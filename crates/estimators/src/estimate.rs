//! Result and option types shared by the estimators.

use serde::{Deserialize, Serialize};

use crate::error::{EstimatorError, Result};

/// A free-energy difference with its standard error.
///
/// Units: reduced (kT). `delta_f` is f₁ − f₀, the free energy of the target state minus
/// that of the reference state, where f = −ln Z.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergyEstimate {
    /// Free-energy difference f₁ − f₀ (kT).
    pub delta_f: f64,
    /// Standard error of `delta_f` (kT): asymptotic (delta method) unless stated otherwise.
    pub std_err: f64,
}

/// Options for nonparametric bootstrap uncertainties.
///
/// Samples of each state are resampled with replacement (within their state, keeping
/// the per-state counts), the estimator is rerun, and the standard deviation over the
/// replicas is the standard error. Deterministic for a given `seed`
/// (ChaCha8 random numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of bootstrap replicas (at least 2).
    pub n_bootstrap: usize,
    /// Seed of the random-number generator.
    pub seed: u64,
}

impl BootstrapConfig {
    /// Builds a validated config.
    pub fn new(n_bootstrap: usize, seed: u64) -> Result<Self> {
        let c = Self { n_bootstrap, seed };
        c.validate()?;
        Ok(c)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.n_bootstrap < 2 {
            return Err(EstimatorError::InvalidConfig {
                field: "n_bootstrap",
                value: self.n_bootstrap as f64,
                reason: "need at least 2 bootstrap replicas",
            });
        }
        Ok(())
    }
}

/// Sample standard deviation (n − 1 denominator) of the replicas.
pub(crate) fn sample_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    (ss / (n - 1.0)).sqrt()
}
