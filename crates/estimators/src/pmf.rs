//! Free-energy profiles (potentials of mean force) along a collective variable from
//! biased simulations, by MBAR reweighting into histogram bins (Shirts & Chodera 2008
//! §IV; pymbar's `FES` with the histogram method).

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, EstimatorError, Result};
use crate::linalg::error_of_differences;
use crate::logexp::logsumexp;
use crate::mbar::{Mbar, MbarConfig};

/// A harmonic umbrella bias in reduced units, b(x) = ½ κ (x − x₀)².
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UmbrellaWindow {
    /// Window centre x₀ (CV units).
    pub center: f64,
    /// Spring constant κ (kT per CV unit squared).
    pub spring_constant: f64,
}

impl UmbrellaWindow {
    /// Reduced bias at `x` (kT).
    pub fn bias(&self, x: f64) -> f64 {
        0.5 * self.spring_constant * (x - self.center) * (x - self.center)
    }
}

/// A free-energy profile on histogram bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pmf {
    /// Bin centres (CV units).
    pub bin_centers: Vec<f64>,
    /// Free energy of each bin, −ln P(bin), relative to `reference_bin` (kT). This is the
    /// integral over the bin, not a density: divide P by the bin width to get one.
    /// Empty bins hold `+inf`.
    pub f: Vec<f64>,
    /// Standard error of `f[i] − f[reference_bin]` (kT); `+inf` for empty bins.
    pub std_err: Vec<f64>,
    /// Number of samples in each bin.
    pub counts: Vec<usize>,
    /// The bin with the lowest free energy, which is the zero.
    pub reference_bin: usize,
}

impl Mbar {
    /// Profile along a CV in the target state with reduced energies `u_n` (length N, same
    /// sample order as `u_kn`; all zeros for the unbiased state of umbrella sampling):
    /// samples with CV value `x_n` are assigned to bins with strictly increasing
    /// `bin_edges` (B + 1 edges, half-open bins [eᵢ, eᵢ₊₁), the last one closed); samples
    /// outside are ignored. Uncertainties follow from the asymptotic covariance with each
    /// bin treated as an auxiliary state.
    pub fn pmf(&self, u_n: &[f64], x_n: &[f64], bin_edges: &[f64]) -> Result<Pmf> {
        let n = self.n_samples();
        for (what, v) in [("u_n", u_n), ("x_n", x_n)] {
            if v.len() != n {
                return Err(EstimatorError::LengthMismatch {
                    what,
                    expected: n,
                    found: v.len(),
                });
            }
        }
        check_finite("u_n", u_n)?;
        check_finite("x_n", x_n)?;
        check_finite("bin_edges", bin_edges)?;
        if bin_edges.len() < 2 {
            return Err(EstimatorError::TooFewSamples {
                what: "bin_edges",
                needed: 2,
                found: bin_edges.len(),
            });
        }
        if let Some(i) = bin_edges.windows(2).position(|w| w[1] <= w[0]) {
            return Err(EstimatorError::InvalidConfig {
                field: "bin_edges",
                value: bin_edges[i + 1],
                reason: "bin edges must be strictly increasing",
            });
        }
        let n_bins = bin_edges.len() - 1;
        let last = bin_edges[n_bins];
        let bin_of = |x: f64| -> Option<usize> {
            if x < bin_edges[0] || x > last {
                None
            } else if x == last {
                Some(n_bins - 1)
            } else {
                Some(bin_edges.partition_point(|&e| e <= x) - 1)
            }
        };
        let bins: Vec<Option<usize>> = x_n.iter().map(|&x| bin_of(x)).collect();
        let mut counts = vec![0usize; n_bins];
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_bins];
        for (i, b) in bins.iter().enumerate() {
            if let Some(b) = *b {
                counts[b] += 1;
                members[b].push(i);
            }
        }
        let occupied: Vec<usize> = (0..n_bins).filter(|&b| counts[b] > 0).collect();
        if occupied.is_empty() {
            return Err(EstimatorError::EmptyInput {
                what: "samples inside the bins",
            });
        }
        let lw_target: Vec<f64> = u_n
            .iter()
            .zip(self.ln_denom_slice())
            .map(|(u, d)| -u - d)
            .collect();
        let mut f_bin = vec![f64::INFINITY; n_bins];
        let mut extra = vec![0.0; occupied.len() * n];
        for (col, &b) in occupied.iter().enumerate() {
            let lw: Vec<f64> = members[b].iter().map(|&i| lw_target[i]).collect();
            let lse = logsumexp(&lw);
            f_bin[b] = -lse;
            for (&i, l) in members[b].iter().zip(&lw) {
                extra[col * n + i] = (l - lse).exp();
            }
        }
        let reference_bin = occupied
            .iter()
            .copied()
            .min_by(|&a, &b| f_bin[a].total_cmp(&f_bin[b]))
            .unwrap_or(occupied[0]);
        let theta = self.augmented_theta(&extra, occupied.len())?;
        let k = self.n_states();
        let m = occupied.len();
        let sub = Mat::from_fn(m, m, |i, j| theta[(k + i, k + j)]);
        let errs = error_of_differences(&sub);
        let ref_col = occupied
            .iter()
            .position(|&b| b == reference_bin)
            .unwrap_or(0);
        let mut std_err = vec![f64::INFINITY; n_bins];
        for (col, &b) in occupied.iter().enumerate() {
            std_err[b] = errs[ref_col][col];
        }
        let f_ref = f_bin[reference_bin];
        Ok(Pmf {
            bin_centers: bin_edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect(),
            f: f_bin.iter().map(|f| f - f_ref).collect(),
            std_err,
            counts,
            reference_bin,
        })
    }
}

/// Profile along a CV from harmonic umbrella windows: `x_n` holds the CV values of all
/// samples ordered by window (`n_k[k]` from window k), the biased reduced energies are
/// uₖₙ = bₖ(xₙ), and the profile is reweighted to the unbiased state (u = 0) into the bins
/// given by `bin_edges` (see [`Mbar::pmf`]).
pub fn umbrella_pmf(
    x_n: &[f64],
    n_k: &[usize],
    windows: &[UmbrellaWindow],
    bin_edges: &[f64],
    config: &MbarConfig,
) -> Result<Pmf> {
    if windows.is_empty() {
        return Err(EstimatorError::EmptyInput { what: "windows" });
    }
    if n_k.len() != windows.len() {
        return Err(EstimatorError::LengthMismatch {
            what: "n_k",
            expected: windows.len(),
            found: n_k.len(),
        });
    }
    let total: usize = n_k.iter().sum();
    if x_n.len() != total {
        return Err(EstimatorError::LengthMismatch {
            what: "x_n",
            expected: total,
            found: x_n.len(),
        });
    }
    check_finite("x_n", x_n)?;
    for w in windows {
        if !(w.spring_constant >= 0.0 && w.spring_constant.is_finite() && w.center.is_finite()) {
            return Err(EstimatorError::InvalidConfig {
                field: "spring_constant",
                value: w.spring_constant,
                reason: "umbrella windows need a finite centre and a finite, non-negative spring constant",
            });
        }
    }
    let u_kn: Vec<Vec<f64>> = windows
        .iter()
        .map(|w| x_n.iter().map(|&x| w.bias(x)).collect())
        .collect();
    let mbar = Mbar::new(&u_kn, n_k, config)?;
    mbar.pmf(&vec![0.0; total], x_n, bin_edges)
}
