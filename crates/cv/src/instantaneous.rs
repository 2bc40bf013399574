//! The instantaneous collective force: a per-configuration estimator whose conditional
//! average at fixed ξ is the mean force ∇_ξ A.
//!
//! For a CV ξ: ℝ³ᴺ → ℝᵈ the free energy is `A(ξ) = −kT ln ∫ e^{−U/kT} δ(ξ(r) − ξ) dr`
//! (configurational, the quantity that umbrella integration and MBAR estimate; no
//! Fixman or metric term). For any vector fields `b_a` with `b_a·∇ξ_c = δ_ac`,
//!
//! ```text
//! ∂A/∂ξ_a = ⟨ b_a·∇U − kT ∇·b_a ⟩_ξ
//! ```
//!
//! (den Otter, J. Chem. Phys. 112, 7283 (2000); Ciccotti, Kapral & Vanden-Eijnden,
//! ChemPhysChem 6, 1809 (2005)): integrate `d/dξ δ(ξ(r) − ξ) = −b·∇δ(ξ(r) − ξ)` by parts.
//! This module uses the mass-metric projection
//!
//! ```text
//! b_a = Σ_c M⁻¹ ∇ξ_c (Z⁻¹)_ca,   Z_ab = Σ_i m_i⁻¹ ∇_i ξ_a · ∇_i ξ_b
//! ```
//!
//! (with unit masses, `b = ∇ξ/|∇ξ|²` for a 1-D CV). The first term is the projected
//! force; the second, the divergence (curvature) correction, is computed by central
//! finite differences of `b` over the CV's atoms with a step `h` (6 CV evaluations per
//! atom; error O(h²)), so every [`CollectiveVariable`] with an exact Jacobian works
//! without second derivatives. For the distance between two atoms it is exact and
//! deterministic: `b·∇U = U'(r)` and `∇·b = 2/r`, so `F = U'(r) − 2kT/r`, whatever the
//! masses.
//!
//! Where it applies:
//! - positions are canonical at kT, and any bias in the sampling is a function of ξ alone
//!   (umbrella windows, metadynamics, walls on ξ): then the distribution at fixed ξ is
//!   the unbiased one and the forces of the bias can be removed exactly, since
//!   `b_a·∇w(ξ) = ∂w/∂ξ_a`;
//! - ξ is twice differentiable and `Z` is invertible on the sampled configurations (no
//!   vanishing gradient, independent components);
//! - no holonomic constraints act on the CV's atoms (with constraints the estimator
//!   needs the constrained-dynamics correction of den Otter & Briels, J. Chem. Phys.
//!   109, 4139 (1998)).
//!
//! In an umbrella window, [`instantaneous_mean_force`] estimates `∇A` at the window
//! mean from the conditional average `E[F | ξ] = ∇A(ξ)` by a local quadratic fit, without
//! assuming a Gaussian window or using κ.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use thermograd_geometry::{SimBox, Vec3};

use crate::cv::{periodic_difference, CollectiveVariable, CvValue};
use crate::error::{CvError, Result};
use crate::mean_force::{window_stats, MeanForceTable, WindowSamples};
use crate::metric::mass_metric;

/// Parameters of [`InstantaneousForce`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstantaneousForceConfig {
    /// Temperature as kT (energy units).
    pub kt: f64,
    /// Mass of every atom of the system (mass units); they weight the projection.
    pub masses: Vec<f64>,
    /// Finite-difference step of the divergence term (length units); 1e-4 suits CVs
    /// whose gradients vary on scales ≳ 0.01 length units (distances and angles in nm,
    /// Å or σ).
    pub step: f64,
}

impl InstantaneousForceConfig {
    /// Validates the parameters.
    pub fn build(&self) -> Result<InstantaneousForce> {
        if !(self.kt.is_finite() && self.kt > 0.0) {
            return Err(CvError::InvalidDefinition {
                reason: format!("kT must be positive, got {}", self.kt),
            });
        }
        if !(self.step.is_finite() && self.step > 0.0) {
            return Err(CvError::InvalidDefinition {
                reason: format!("finite-difference step must be positive, got {}", self.step),
            });
        }
        if let Some(m) = self.masses.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            return Err(CvError::InvalidDefinition {
                reason: format!("masses must be positive, got {m}"),
            });
        }
        Ok(InstantaneousForce {
            config: self.clone(),
        })
    }
}

/// The instantaneous collective force `F_a = b_a·∇U − kT ∇·b_a` (energy / CV unit) of
/// the module documentation, for one configuration.
#[derive(Clone, Debug)]
pub struct InstantaneousForce {
    config: InstantaneousForceConfig,
}

impl InstantaneousForce {
    /// The configuration it was built from.
    pub fn config(&self) -> &InstantaneousForceConfig {
        &self.config
    }

    /// The projection fields `b` (component-major, one per listed atom; length / CV
    /// unit) at `positions`, with the CV's value left in `value`.
    fn projection(
        &self,
        cv: &dyn CollectiveVariable,
        positions: &[Vec3],
        simbox: &SimBox,
        value: &mut CvValue,
        b: &mut Vec<Vec3>,
    ) -> Result<()> {
        cv.evaluate(positions, simbox, value)?;
        let z = mass_metric(value, &self.config.masses)?;
        let z_inv: DMatrix<f64> = z
            .try_inverse()
            .filter(|m| m.iter().all(|x| x.is_finite()))
            .ok_or(CvError::Singular {
                cv: "instantaneous force",
                reason: "the mass-metric tensor of the CV is singular",
            })?;
        let (dim, n) = (value.dim(), value.atoms.len());
        b.clear();
        b.resize(dim * n, Vec3::zeros());
        for (k, &atom) in value.atoms.iter().enumerate() {
            let inv_m = 1.0 / self.config.masses[atom];
            for a in 0..dim {
                let mut v = Vec3::zeros();
                for c in 0..dim {
                    v += value.gradient(c, k) * z_inv[(c, a)];
                }
                b[a * n + k] = v * inv_m;
            }
        }
        Ok(())
    }

    /// The divergence `∇·b_a` of each component's projection field (1 / CV unit) by
    /// central differences, written into `out` (one entry per component).
    pub fn divergence(
        &self,
        cv: &dyn CollectiveVariable,
        positions: &[Vec3],
        simbox: &SimBox,
        out: &mut [f64],
    ) -> Result<()> {
        let dim = cv.dim();
        if out.len() != dim {
            return Err(CvError::LengthMismatch {
                what: "divergence output",
                expected: dim,
                got: out.len(),
            });
        }
        self.check_atoms(positions.len())?;
        out.iter_mut().for_each(|x| *x = 0.0);
        let h = self.config.step;
        let mut scratch = positions.to_vec();
        let mut value = CvValue::default();
        let (mut plus, mut minus) = (Vec::new(), Vec::new());
        let atoms = cv.atoms().to_vec();
        let n = atoms.len();
        for (k, &atom) in atoms.iter().enumerate() {
            for axis in 0..3 {
                let x0 = scratch[atom][axis];
                scratch[atom][axis] = x0 + h;
                self.projection(cv, &scratch, simbox, &mut value, &mut plus)?;
                scratch[atom][axis] = x0 - h;
                self.projection(cv, &scratch, simbox, &mut value, &mut minus)?;
                scratch[atom][axis] = x0;
                for (a, div) in out.iter_mut().enumerate() {
                    *div += (plus[a * n + k][axis] - minus[a * n + k][axis]) / (2.0 * h);
                }
            }
        }
        Ok(())
    }

    /// The instantaneous force of each component into `out` (energy / CV unit).
    ///
    /// `forces` are the forces on every atom (energy / length units) of the sampled
    /// Hamiltonian; if that includes a bias `w(ξ)` on this CV (an umbrella window,
    /// metadynamics), `bias_gradient` holds `∂w/∂ξ_a` at this configuration and its
    /// contribution is removed exactly (`b_a·∇w = ∂w/∂ξ_a`); otherwise pass zeros.
    pub fn evaluate(
        &self,
        cv: &dyn CollectiveVariable,
        positions: &[Vec3],
        simbox: &SimBox,
        forces: &[Vec3],
        bias_gradient: &[f64],
        out: &mut [f64],
    ) -> Result<()> {
        let dim = cv.dim();
        for (what, expected, got) in [
            ("instantaneous force output", dim, out.len()),
            ("bias gradient", dim, bias_gradient.len()),
            ("forces", positions.len(), forces.len()),
        ] {
            if expected != got {
                return Err(CvError::LengthMismatch {
                    what,
                    expected,
                    got,
                });
            }
        }
        self.check_atoms(positions.len())?;
        let mut value = CvValue::default();
        let mut b = Vec::new();
        self.projection(cv, positions, simbox, &mut value, &mut b)?;
        let n = value.atoms.len();
        let mut divergence = vec![0.0; dim];
        self.divergence(cv, positions, simbox, &mut divergence)?;
        for a in 0..dim {
            // ∇U = −f, so b·∇U = −b·f; the bias part of f contributes −∂w/∂ξ_a.
            let projected: f64 = value
                .atoms
                .iter()
                .enumerate()
                .map(|(k, &atom)| -b[a * n + k].dot(&forces[atom]))
                .sum::<f64>()
                - bias_gradient[a];
            out[a] = projected - self.config.kt * divergence[a];
            if !out[a].is_finite() {
                return Err(CvError::NonFinite {
                    what: "instantaneous force",
                });
            }
        }
        Ok(())
    }

    fn check_atoms(&self, n_atoms: usize) -> Result<()> {
        if self.config.masses.len() != n_atoms {
            return Err(CvError::LengthMismatch {
                what: "masses",
                expected: n_atoms,
                got: self.config.masses.len(),
            });
        }
        Ok(())
    }
}

/// Blocks of the jackknife in [`instantaneous_mean_force`].
const JACKKNIFE_BLOCKS: usize = 20;

/// The value at `origin` of the least-squares quadratic in ξ (all linear and quadratic
/// monomials of the components, scaled by `scale`) fitted to `f` over `samples`; `None`
/// if the samples do not determine it.
fn quadratic_intercept(
    window: &WindowSamples,
    origin: &[f64],
    scale: &[f64],
    f: &[f64],
    samples: impl Iterator<Item = usize>,
) -> Option<f64> {
    let d = window.series.len();
    let p = 1 + d + d * (d + 1) / 2;
    let mut normal = DMatrix::<f64>::zeros(p, p);
    let mut rhs = DVector::<f64>::zeros(p);
    let mut row = vec![0.0; p];
    let mut u = vec![0.0; d];
    for t in samples {
        for c in 0..d {
            u[c] =
                periodic_difference(window.series[c][t], origin[c], window.periods[c]) / scale[c];
        }
        // Monomials 1, u_c, u_c u_e (c ≤ e).
        row[0] = 1.0;
        row[1..=d].copy_from_slice(&u);
        let mut k = 1 + d;
        for c in 0..d {
            for e in c..d {
                row[k] = u[c] * u[e];
                k += 1;
            }
        }
        for i in 0..p {
            rhs[i] += row[i] * f[t];
            for j in 0..=i {
                normal[(i, j)] += row[i] * row[j];
            }
        }
    }
    for i in 0..p {
        for j in 0..i {
            normal[(j, i)] = normal[(i, j)];
        }
    }
    let solution = normal.cholesky()?.solve(&rhs);
    solution[0].is_finite().then_some(solution[0])
}

/// Mean forces from instantaneous collective forces sampled in umbrella windows.
///
/// For each window and component the gradient is the conditional mean
/// `E[F_a | ξ] = ∂A/∂ξ_a` at the window mean ⟨ξ⟩ (the table's point), from a local
/// least-squares fit of `F_a` by a quadratic in ξ − ⟨ξ⟩ (all linear and quadratic
/// monomials). The quadratic term removes the curvature bias `½ ∂³A : Σ` that a plain
/// window average of `F` would carry (Σ the window covariance); what remains is of
/// fourth order in the window width (`−A⁽⁵⁾σ⁴/8` in 1-D for a Gaussian window). No
/// Gaussian window or force constant is assumed.
///
/// The variance is that of the gradient at the reported point: a delete-one-block
/// jackknife over 20 consecutive blocks (fewer for short series) of the fitted value at
/// the full-data window mean. Blocks account for correlated samples and for slow, small
/// components of `F` (orientations entering the divergence term), which an
/// autocorrelation sum cut at its first zero crossing misses when the fast, restrained
/// fluctuation of ξ dominates the variance of `F`. Where `F` is a function of ξ alone
/// (two isolated atoms) the variance is tiny and the fourth-order bias can dominate.
///
/// `forces[w][a][t]` is component `a` of the instantaneous force at sample `t` of window
/// `w`, sampled at the same times as `windows[w].series`. Each window needs at least
/// `4·(1 + d + d(d + 1)/2)` samples (16 for a 1-D CV).
pub fn instantaneous_mean_force(
    windows: &[WindowSamples],
    forces: &[Vec<Vec<f64>>],
) -> Result<MeanForceTable> {
    if windows.len() != forces.len() {
        return Err(CvError::LengthMismatch {
            what: "instantaneous-force windows",
            expected: windows.len(),
            got: forces.len(),
        });
    }
    let mut table = MeanForceTable::default();
    for (window, f) in windows.iter().zip(forces) {
        let stats = window_stats(window)?;
        let d = stats.len();
        if f.len() != d {
            return Err(CvError::LengthMismatch {
                what: "instantaneous-force components",
                expected: d,
                got: f.len(),
            });
        }
        let n = stats[0].n_samples;
        for series in f {
            if series.len() != n {
                return Err(CvError::LengthMismatch {
                    what: "instantaneous-force samples",
                    expected: n,
                    got: series.len(),
                });
            }
            if series.iter().any(|x| !x.is_finite()) {
                return Err(CvError::NonFinite {
                    what: "instantaneous force",
                });
            }
        }
        let p = 1 + d + d * (d + 1) / 2;
        let blocks = JACKKNIFE_BLOCKS.min(n / (2 * p));
        if blocks < 2 {
            return Err(CvError::InvalidDefinition {
                reason: format!(
                    "window at {:?}: the instantaneous mean force needs at least {} samples, \
                     got {n}",
                    window.center,
                    4 * p
                ),
            });
        }
        let point: Vec<f64> = stats.iter().map(|s| s.mean).collect();
        let scale: Vec<f64> = stats.iter().map(|s| s.variance.sqrt()).collect();
        let size = n / blocks;
        // Block b holds samples [b·size, (b + 1)·size); the remainder joins the last.
        let block_of = |t: usize| (t / size).min(blocks - 1);
        let degenerate = || CvError::InvalidDefinition {
            reason: format!(
                "window at {:?}: the samples do not determine a local quadratic fit",
                window.center
            ),
        };
        let mut gradient = Vec::with_capacity(d);
        let mut variance = Vec::with_capacity(d);
        for series in f {
            let full =
                quadratic_intercept(window, &point, &scale, series, 0..n).ok_or_else(degenerate)?;
            let mut partial = Vec::with_capacity(blocks);
            for b in 0..blocks {
                let kept = (0..n).filter(move |&t| block_of(t) != b);
                partial.push(
                    quadratic_intercept(window, &point, &scale, series, kept)
                        .ok_or_else(degenerate)?,
                );
            }
            let nb = blocks as f64;
            let mean = partial.iter().sum::<f64>() / nb;
            let var = (nb - 1.0) / nb * partial.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
            gradient.push(full);
            variance.push(var);
        }
        table.points.push(point);
        table.gradients.push(gradient);
        table.variances.push(variance);
    }
    Ok(table)
}
