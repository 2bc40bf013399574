//! Gaussian-process reconstruction of free-energy surfaces from gradient (mean-force)
//! observations, with uncertainty.
//!
//! Given noisy estimates `g_i ≈ ∇A(x_i)` of the gradient of a free energy `A` over
//! collective variables `x ∈ ℝᵈ` (e.g. from umbrella integration or restrained mean
//! forces), and optionally some values `A(y_j)`, this crate conditions a Gaussian process
//! prior `A ~ GP(0, k)` on them jointly — gradient observations enter through the
//! derivatives of the kernel — and reports the posterior mean and standard deviation of
//! `A` and `∇A` (Stecher, Bernstein & Csányi, JCTC 10, 4079 (2014); Mones, Bernstein &
//! Csányi, JCTC 12, 5100 (2016)). It knows nothing about atoms: it takes numbers.
//!
//! **The free constant.** Gradients determine `A` only up to a constant. The GP prior has
//! mean zero (for gradient-only data), which fixes the posterior's constant; surfaces on a
//! grid ([`FreeEnergySurface`]) are reported relative to their grid minimum `x₀`, and
//! their `std` is the posterior standard deviation of `A(x) − A(x₀)`. With value
//! observations the prior mean is the mean of the observed values.
//!
//! Principal types:
//! - [`Observations`]: gradients with per-observation noise (isotropic, diagonal or full
//!   `d×d` covariance) and optional values.
//! - [`Kernel`]: stationary covariances with analytic derivatives —
//!   [`SquaredExponential`] (per-dimension length scales), [`Matern52`], [`Periodic`]
//!   (angles, no seam at ±π).
//! - [`GaussianProcess`]: the exact posterior (faer Cholesky of the joint
//!   `(n·d)×(n·d)` system, assembled in parallel with rayon).
//! - [`fit_hyperparameters`]: signal variance, length scales and a gradient noise floor
//!   by maximising the log marginal likelihood (analytic gradient, L-BFGS, restarts).
//! - [`SparseGp`]: a projected-process approximation with inducing points for data sets
//!   too large for the exact solve.
//! - [`Grid`], [`FreeEnergySurface`]: regular grids (`lo:hi:n,…`) and surfaces on them.
//!
//! Units: CV coordinates in any unit, gradients in energy per CV unit, energies in the
//! same energy unit (e.g. kJ/mol or kT); the crate never converts.
//!
//! # Example
//!
//! A 1-D double well `A(x) = (x² − 1)²` reconstructed from noisy gradients:
//!
//! ```
//! use thermograd_gpr::{
//!     fit_hyperparameters, GaussianProcess, GpConfig, GradientNoise, Grid, HyperConfig,
//!     Observations, SquaredExponential,
//! };
//!
//! # fn main() -> Result<(), thermograd_gpr::GprError> {
//! let mut obs = Observations::new(1)?;
//! for i in 0..40 {
//!     let x = -1.6 + 3.2 * i as f64 / 39.0;
//!     let noise = 0.05 * ((i * 7) % 5) as f64 - 0.1; // stand-in for sampling noise
//!     let g = 4.0 * x * (x * x - 1.0) + noise;
//!     obs.push_gradient(&[x], &[g], GradientNoise::Isotropic(0.01))?;
//! }
//! let mut kernel = SquaredExponential::new(1.0, &[0.5])?;
//! let fit = fit_hyperparameters(&mut kernel, &obs, &HyperConfig::default())?;
//! let config = GpConfig { noise_floor: fit.noise_floor, ..GpConfig::default() };
//! let gp = GaussianProcess::fit(Box::new(kernel), obs, &config)?;
//! let fes = gp.free_energy_on_grid(&Grid::parse("-1.5:1.5:61")?, true)?;
//! // Barrier at x = 0 (index 30) relative to the minimum: exactly 1.
//! assert!((fes.free_energy[30] - 1.0).abs() < 0.1);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! No optional features. Dense linear algebra is faer's, parallelised on rayon's global
//! pool.
#![deny(missing_docs)]
// Index loops mirror the component formulas (k_ab, u_a u_b, …) they implement.
#![allow(clippy::needless_range_loop)]

mod data;
mod error;
mod gp;
mod grid;
mod hyper;
mod kernel;
mod lbfgs;
pub mod linalg;
mod posterior;
mod sparse;

pub use data::{GradientNoise, Observations};
pub use error::{GprError, Result};
pub use gp::{GaussianProcess, GpConfig, Prediction};
pub use grid::{Axis, FreeEnergySurface, Grid};
pub use hyper::{
    data_scales, fit_hyperparameters, log_marginal_likelihood_and_gradient, HyperConfig, HyperFit,
};
pub use kernel::{
    DataScales, Kernel, KernelConfig, KernelEval, KernelKind, Matern52, ParamRange, Periodic,
    SquaredExponential,
};
pub use sparse::{Inducing, SparseConfig, SparseGp};
