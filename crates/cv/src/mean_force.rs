//! Mean forces dA/dξ from umbrella windows: the gradient data that Gaussian-process
//! free-energy reconstruction consumes.
//!
//! Each window biases the CV with `w(ξ) = ½ Σ_c κ_c (ξ_c − ξ0_c)²`. In the biased
//! ensemble `⟨∂(A + w)/∂ξ⟩ = 0` exactly, so `⟨∂A/∂ξ_c⟩_biased = κ_c (ξ0_c − ⟨ξ_c⟩)`.
//! Where that average is attributed decides the method:
//!
//! - [`umbrella_integration`] attributes it to the window mean `⟨ξ⟩`, which is exact to
//!   second order in the window width (umbrella integration, Kästner & Thiel, J. Chem.
//!   Phys. 123, 144104, 2005, evaluated at the mean): the leading error is
//!   `A'''(⟨ξ⟩) σ²/2`, which matters only where the free energy is steep and strongly
//!   curved (a repulsive wall), so use stiffer windows there;
//! - [`restrained_mean_force`] attributes it to the restraint center `ξ0` (first order;
//!   exact in the limit of a stiff restraint);
//! - [`umbrella_integration_profile`] is the full one-dimensional umbrella integration
//!   on a grid: each window's Gaussian estimate `kT(ξ − ⟨ξ⟩)/σ² − κ(ξ − ξ0)`, combined
//!   with weights `N_i P_i(ξ) / Σ_j N_j P_j(ξ)`, with the error of Kästner & Thiel,
//!   J. Chem. Phys. 124, 234106 (2006).
//!
//! Uncertainties use the statistical inefficiency g of each CV series
//! (thermograd-estimators), so correlated samples count as `N/g` independent ones.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use thermograd_estimators::{statistical_inefficiency, StatisticalInefficiencyConfig};

use crate::cv::periodic_difference;
use crate::error::{CvError, Result};

/// One umbrella window: its harmonic restraint and the CV time series sampled under it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSamples {
    /// Restraint center ξ0, one entry per CV component (CV units).
    pub center: Vec<f64>,
    /// Force constants κ, one per component (energy / CV unit²).
    pub kappa: Vec<f64>,
    /// Period of each component, `None` if not periodic.
    pub periods: Vec<Option<f64>>,
    /// The sampled CV values: `series[c][t]` is component `c` at sample `t`.
    pub series: Vec<Vec<f64>>,
}

/// Mean and spread of one CV component in one window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentStats {
    /// Window mean ⟨ξ⟩ (CV units; for periodic CVs, the image nearest the center).
    pub mean: f64,
    /// Variance σ² of the samples (CV units²).
    pub variance: f64,
    /// Statistical inefficiency g of the series.
    pub inefficiency: f64,
    /// Number of samples.
    pub n_samples: usize,
}

impl ComponentStats {
    /// Variance of the mean, σ² g / N.
    pub fn variance_of_mean(&self) -> f64 {
        self.variance * self.inefficiency / self.n_samples as f64
    }
}

/// A table of mean forces: CV points, gradient of A, and the variance of each gradient
/// component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanForceTable {
    /// CV coordinates of each point (CV units).
    pub points: Vec<Vec<f64>>,
    /// dA/dξ at each point (energy / CV unit).
    pub gradients: Vec<Vec<f64>>,
    /// Variance of each gradient component ((energy / CV unit)²).
    pub variances: Vec<Vec<f64>>,
}

impl MeanForceTable {
    /// CSV text with one header line `x1..xd,g1..gd,v1..vd`: the input format of
    /// `thermograd fes gpr`.
    pub fn to_csv(&self) -> String {
        let dim = self.points.first().map_or(0, Vec::len);
        let mut out = String::new();
        let header: Vec<String> = ["x", "g", "v"]
            .iter()
            .flat_map(|p| (1..=dim).map(move |c| format!("{p}{c}")))
            .collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for ((x, g), v) in self.points.iter().zip(&self.gradients).zip(&self.variances) {
            let row: Vec<String> = x
                .iter()
                .chain(g)
                .chain(v)
                .map(|value| format!("{value:.10e}"))
                .collect();
            let _ = writeln!(out, "{}", row.join(","));
        }
        out
    }
}

/// Per-component statistics of one window (mean taken relative to the center for
/// periodic components).
pub fn window_stats(window: &WindowSamples) -> Result<Vec<ComponentStats>> {
    validate(window)?;
    window
        .series
        .iter()
        .enumerate()
        .map(|(c, series)| {
            let center = window.center[c];
            let rel: Vec<f64> = series
                .iter()
                .map(|&x| periodic_difference(x, center, window.periods[c]))
                .collect();
            let n = rel.len() as f64;
            let mean_rel = rel.iter().sum::<f64>() / n;
            let variance = rel.iter().map(|x| (x - mean_rel).powi(2)).sum::<f64>() / (n - 1.0);
            // A constant series can leave rounding-level variance; test the samples.
            if series.iter().all(|&x| x == series[0]) || variance <= 0.0 {
                return Err(CvError::InvalidDefinition {
                    reason: format!("window at {center}: CV component {c} never changes"),
                });
            }
            let inefficiency =
                statistical_inefficiency(&rel, &StatisticalInefficiencyConfig::default()).map_err(
                    |e| CvError::InvalidDefinition {
                        reason: format!("window at {center}: {e}"),
                    },
                )?;
            Ok(ComponentStats {
                mean: center + mean_rel,
                variance,
                inefficiency,
                n_samples: rel.len(),
            })
        })
        .collect()
}

fn validate(window: &WindowSamples) -> Result<()> {
    let dim = window.center.len();
    for (what, got) in [
        ("kappa", window.kappa.len()),
        ("periods", window.periods.len()),
        ("series", window.series.len()),
    ] {
        if got != dim {
            return Err(CvError::LengthMismatch {
                what,
                expected: dim,
                got,
            });
        }
    }
    if dim == 0 {
        return Err(CvError::InvalidDefinition {
            reason: "a window needs at least one CV component".into(),
        });
    }
    let n = window.series[0].len();
    for s in &window.series {
        if s.len() != n {
            return Err(CvError::LengthMismatch {
                what: "CV series",
                expected: n,
                got: s.len(),
            });
        }
        if s.iter().any(|x| !x.is_finite()) {
            return Err(CvError::NonFinite { what: "CV sample" });
        }
    }
    if n < 4 {
        return Err(CvError::InvalidDefinition {
            reason: format!("a window needs at least 4 samples, got {n}"),
        });
    }
    for (&k, &c) in window.kappa.iter().zip(&window.center) {
        if !(k.is_finite() && k > 0.0 && c.is_finite()) {
            return Err(CvError::InvalidDefinition {
                reason: format!("window center {c} / force constant {k} must be finite, κ > 0"),
            });
        }
    }
    Ok(())
}

fn mean_force_table(windows: &[WindowSamples], at_center: bool) -> Result<MeanForceTable> {
    let mut table = MeanForceTable::default();
    for window in windows {
        let stats = window_stats(window)?;
        let mut point = Vec::with_capacity(stats.len());
        let mut gradient = Vec::with_capacity(stats.len());
        let mut variance = Vec::with_capacity(stats.len());
        for (c, s) in stats.iter().enumerate() {
            let kappa = window.kappa[c];
            point.push(if at_center { window.center[c] } else { s.mean });
            gradient.push(kappa * periodic_difference(window.center[c], s.mean, window.periods[c]));
            variance.push(kappa * kappa * s.variance_of_mean());
        }
        table.points.push(point);
        table.gradients.push(gradient);
        table.variances.push(variance);
    }
    Ok(table)
}

/// Umbrella integration at each window's mean: point ⟨ξ⟩, gradient `κ(ξ0 − ⟨ξ⟩)`,
/// variance `κ² σ² g / N` per component.
pub fn umbrella_integration(windows: &[WindowSamples]) -> Result<MeanForceTable> {
    mean_force_table(windows, false)
}

/// Restrained mean force at each restraint center: point ξ0, gradient `κ(ξ0 − ⟨ξ⟩)`,
/// variance `κ² σ² g / N` per component.
pub fn restrained_mean_force(windows: &[WindowSamples]) -> Result<MeanForceTable> {
    mean_force_table(windows, true)
}

/// Full one-dimensional umbrella integration on `grid` at temperature `kt` (energy
/// units): returns dA/dξ and its variance at each grid point.
pub fn umbrella_integration_profile(
    windows: &[WindowSamples],
    kt: f64,
    grid: &[f64],
) -> Result<MeanForceTable> {
    if !(kt.is_finite() && kt > 0.0) {
        return Err(CvError::InvalidDefinition {
            reason: format!("kT must be positive, got {kt}"),
        });
    }
    if windows.is_empty() {
        return Err(CvError::InvalidDefinition {
            reason: "umbrella integration needs at least one window".into(),
        });
    }
    let mut per_window = Vec::with_capacity(windows.len());
    for w in windows {
        if w.center.len() != 1 {
            return Err(CvError::InvalidDefinition {
                reason: "the umbrella-integration profile is one-dimensional".into(),
            });
        }
        per_window.push((w, window_stats(w)?[0]));
    }
    let mut table = MeanForceTable::default();
    for &x in grid {
        // log of N_i P_i(x), with P_i the Gaussian of window i.
        let logs: Vec<f64> = per_window
            .iter()
            .map(|(w, s)| {
                let d = periodic_difference(x, s.mean, w.periods[0]);
                (s.n_samples as f64).ln()
                    - 0.5 * (2.0 * std::f64::consts::PI * s.variance).ln()
                    - d * d / (2.0 * s.variance)
            })
            .collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        let (mut gradient, mut variance) = (0.0, 0.0);
        for ((w, s), weight) in per_window.iter().zip(&weights) {
            let p = weight / total;
            let d = periodic_difference(x, s.mean, w.periods[0]);
            let dc = periodic_difference(x, w.center[0], w.periods[0]);
            gradient += p * (kt * d / s.variance - w.kappa[0] * dc);
            let g_over_n = s.inefficiency / s.n_samples as f64;
            let var_i =
                kt * kt * g_over_n * (1.0 / s.variance + 2.0 * d * d / (s.variance * s.variance));
            variance += p * p * var_i;
        }
        table.points.push(vec![x]);
        table.gradients.push(vec![gradient]);
        table.variances.push(vec![variance]);
    }
    Ok(table)
}
