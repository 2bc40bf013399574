//! Free-energy estimators with calibrated uncertainties, and time-series analysis.
//!
//! `thermograd-estimators` takes plain numbers — reduced energies u = βU and reduced
//! works, in units of kT — and returns free energies, expectations and their
//! uncertainties. It knows nothing about atoms or simulations, and is meant to be usable
//! alone by anyone who would otherwise call pymbar. It is loud when it fails: bad input,
//! states that do not overlap and solvers that do not converge are errors
//! ([`EstimatorError`]), never panics or silent NaNs. Sums are log-sum-exp stable
//! throughout.
//!
//! # Contents
//!
//! - Effective sample sizes of importance weights: [`kish_ess`] (Σw)²/Σw² and
//!   [`entropy_ess`] exp(−Σ w ln w) (chemtrain eq. 11), from log-weights.
//! - Two-state estimators returning [`FreeEnergyEstimate`] `{ delta_f, std_err }`:
//!   [`exp_forward`] / [`exp_reverse`] (Zwanzig), [`bar`] (Bennett, with the asymptotic
//!   variance of Shirts et al. 2003) and [`bar_bootstrap`].
//! - [`Mbar`]: K states, N samples, unsampled states allowed; a Newton solver with line
//!   search and self-consistent fallback that reports how it converged
//!   ([`ConvergenceReport`]); [`FreeEnergyDifferences`] with the full asymptotic
//!   covariance; [`Expectation`]s; the [`Overlap`] matrix and spectrum; Kish ESS per
//!   state; perturbed states; bootstrap errors; free-energy profiles along a CV
//!   ([`Mbar::pmf`], [`umbrella_pmf`]).
//! - Time series: [`statistical_inefficiency`], [`integrated_autocorrelation_time`],
//!   [`detect_equilibration`], [`decorrelated_indices`], [`block_average`],
//!   [`block_analysis`].
//!
//! Sign conventions: f = −ln Z; forward works are w_F = u₁ − u₀ on samples of state 0,
//! reverse works w_R = u₀ − u₁ on samples of state 1; every two-state result is f₁ − f₀.
//!
//! # Example
//!
//! Two 1-D harmonic oscillators u_k(x) = K_k x²/2 with K = (1, 4): the exact
//! f₁ − f₀ = ½ ln 4.
//!
//! ```
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use rand_distr::{Distribution, Normal};
//! use thermograd_estimators::{bar, BarConfig, Mbar, MbarConfig};
//!
//! let (k0, k1): (f64, f64) = (1.0, 4.0);
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let x0: Vec<f64> = (0..2000).map(|_| Normal::new(0.0, 1.0 / k0.sqrt()).unwrap().sample(&mut rng)).collect();
//! let x1: Vec<f64> = (0..2000).map(|_| Normal::new(0.0, 1.0 / k1.sqrt()).unwrap().sample(&mut rng)).collect();
//! let u = |k: f64, x: f64| 0.5 * k * x * x;
//!
//! let w_f: Vec<f64> = x0.iter().map(|&x| u(k1, x) - u(k0, x)).collect();
//! let w_r: Vec<f64> = x1.iter().map(|&x| u(k0, x) - u(k1, x)).collect();
//! let est = bar(&w_f, &w_r, &BarConfig::default())?;
//! let exact = 0.5 * (k1 / k0).ln();
//! assert!((est.delta_f - exact).abs() < 4.0 * est.std_err);
//!
//! // The same data through MBAR: samples of state 0 first, then of state 1.
//! let xs: Vec<f64> = x0.iter().chain(&x1).copied().collect();
//! let u_kn: Vec<Vec<f64>> = [k0, k1].iter().map(|&k| xs.iter().map(|&x| u(k, x)).collect()).collect();
//! let mbar = Mbar::new(&u_kn, &[2000, 2000], &MbarConfig::default())?;
//! let diffs = mbar.free_energy_differences()?;
//! assert!((diffs.delta_f[0][1] - est.delta_f).abs() < 1e-8);
//! println!("{:?}", mbar.convergence());
//! # Ok::<(), thermograd_estimators::EstimatorError>(())
//! ```
//!
//! # Features
//!
//! No optional features. Dense linear algebra uses `faer`.

#![deny(missing_docs)]

mod bar;
mod error;
mod ess;
mod estimate;
mod linalg;
mod logexp;
mod mbar;
mod pmf;
mod timeseries;
mod zwanzig;

pub use bar::{bar, bar_bootstrap, BarConfig, BarUncertainty};
pub use error::{EstimatorError, Result};
pub use ess::{entropy_ess, kish_ess};
pub use estimate::{BootstrapConfig, FreeEnergyEstimate};
pub use mbar::{
    ConvergenceReport, Expectation, FreeEnergyDifferences, Mbar, MbarConfig, Overlap, SolverMethod,
};
pub use pmf::{umbrella_pmf, Pmf, UmbrellaWindow};
pub use timeseries::{
    block_analysis, block_average, decorrelated_indices, detect_equilibration,
    integrated_autocorrelation_time, statistical_inefficiency, BlockAverage, Equilibration,
    EquilibrationConfig, StatisticalInefficiencyConfig,
};
pub use zwanzig::{exp_forward, exp_reverse};
