//! Observations: gradients (mean forces) and, optionally, values of the free energy.

use serde::{Deserialize, Serialize};

use crate::error::{GprError, Result};

/// Noise of one gradient observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GradientNoise<'a> {
    /// Noise-free (only the GP's noise floor and jitter apply).
    None,
    /// The same variance for every component (energy²/CV unit²).
    Isotropic(f64),
    /// One variance per component, length `d`.
    Diagonal(&'a [f64]),
    /// Full symmetric positive semi-definite `d×d` covariance, row-major.
    Full(&'a [f64]),
}

/// Data to condition the GP on: gradient observations `g_i ≈ ∇A(x_i)` with `d×d` noise
/// covariances, and optional value observations `v_j ≈ A(y_j)` with variances.
///
/// Points are in CV units, gradients in energy per CV unit, values in energy. Gradient
/// observation `i` occupies rows `i·d … i·d+d−1` of the GP's system; value observations
/// follow all gradient rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    dim: usize,
    grad_points: Vec<f64>,
    gradients: Vec<f64>,
    grad_noise: Vec<f64>,
    value_points: Vec<f64>,
    values: Vec<f64>,
    value_noise: Vec<f64>,
}

fn check_finite(what: &'static str, index: usize, xs: &[f64]) -> Result<()> {
    if xs.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(GprError::NonFinite { what, index })
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(GprError::DimensionMismatch {
            what,
            expected,
            got,
        })
    }
}

/// Is the symmetric `d×d` block positive semi-definite? (Cholesky with a relative
/// tolerance; blocks are tiny.)
fn is_psd(block: &[f64], d: usize) -> bool {
    let scale = (0..d).map(|a| block[a * d + a].abs()).fold(0.0, f64::max);
    if scale == 0.0 {
        return block.iter().all(|&v| v == 0.0);
    }
    let tol = 1e-12 * scale;
    for a in 0..d {
        for b in 0..a {
            if (block[a * d + b] - block[b * d + a]).abs() > tol * 1e3 {
                return false;
            }
        }
    }
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut s = block[j * d + j] + tol;
        for k in 0..j {
            s -= l[j * d + k] * l[j * d + k];
        }
        if s < 0.0 {
            return false;
        }
        let ljj = s.sqrt();
        l[j * d + j] = ljj;
        for i in (j + 1)..d {
            let mut s = block[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = if ljj > 0.0 { s / ljj } else { 0.0 };
        }
    }
    true
}

impl Observations {
    /// An empty set for CV dimension `dim` (≥ 1).
    pub fn new(dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(GprError::Empty {
                what: "CV dimension",
            });
        }
        Ok(Self {
            dim,
            grad_points: Vec::new(),
            gradients: Vec::new(),
            grad_noise: Vec::new(),
            value_points: Vec::new(),
            values: Vec::new(),
            value_noise: Vec::new(),
        })
    }

    /// Gradient observations from flat row-major arrays: `points` and `gradients` are
    /// `n×dim`; `variances`, if given, is `n×dim` per-component variances.
    pub fn from_gradients(
        dim: usize,
        points: &[f64],
        gradients: &[f64],
        variances: Option<&[f64]>,
    ) -> Result<Self> {
        let mut obs = Self::new(dim)?;
        if points.len() % dim != 0 {
            return Err(GprError::DimensionMismatch {
                what: "points (length not a multiple of the dimension)",
                expected: (points.len() / dim + 1) * dim,
                got: points.len(),
            });
        }
        let n = points.len() / dim;
        check_len("gradients", n * dim, gradients.len())?;
        if let Some(v) = variances {
            check_len("gradient variances", n * dim, v.len())?;
        }
        obs.reserve(n);
        for i in 0..n {
            let r = i * dim..(i + 1) * dim;
            let noise = match variances {
                Some(v) => GradientNoise::Diagonal(&v[r.clone()]),
                None => GradientNoise::None,
            };
            obs.push_gradient(&points[r.clone()], &gradients[r], noise)?;
        }
        Ok(obs)
    }

    fn reserve(&mut self, n: usize) {
        let d = self.dim;
        self.grad_points.reserve(n * d);
        self.gradients.reserve(n * d);
        self.grad_noise.reserve(n * d * d);
    }

    /// Adds one gradient observation `g ≈ ∇A(x)`; errors on wrong lengths, non-finite
    /// numbers, or a noise block that is not symmetric positive semi-definite.
    pub fn push_gradient(&mut self, x: &[f64], g: &[f64], noise: GradientNoise<'_>) -> Result<()> {
        let d = self.dim;
        let index = self.n_gradients();
        check_len("gradient point", d, x.len())?;
        check_len("gradient", d, g.len())?;
        check_finite("point", index, x)?;
        check_finite("gradient", index, g)?;
        let mut block = vec![0.0; d * d];
        match noise {
            GradientNoise::None => {}
            GradientNoise::Isotropic(v) => {
                check_finite("noise", index, &[v])?;
                if v < 0.0 {
                    return Err(GprError::InvalidNoise { index });
                }
                for a in 0..d {
                    block[a * d + a] = v;
                }
            }
            GradientNoise::Diagonal(v) => {
                check_len("gradient variances", d, v.len())?;
                check_finite("noise", index, v)?;
                if v.iter().any(|&s| s < 0.0) {
                    return Err(GprError::InvalidNoise { index });
                }
                for a in 0..d {
                    block[a * d + a] = v[a];
                }
            }
            GradientNoise::Full(c) => {
                check_len("gradient covariance", d * d, c.len())?;
                check_finite("noise", index, c)?;
                if !is_psd(c, d) {
                    return Err(GprError::InvalidNoise { index });
                }
                // Symmetrise exactly.
                for a in 0..d {
                    for b in 0..d {
                        block[a * d + b] = 0.5 * (c[a * d + b] + c[b * d + a]);
                    }
                }
            }
        }
        self.grad_points.extend_from_slice(x);
        self.gradients.extend_from_slice(g);
        self.grad_noise.extend_from_slice(&block);
        Ok(())
    }

    /// Adds one value observation `v ≈ A(x)` with noise `variance` (energy², ≥ 0).
    pub fn push_value(&mut self, x: &[f64], value: f64, variance: f64) -> Result<()> {
        let index = self.n_values();
        check_len("value point", self.dim, x.len())?;
        check_finite("point", index, x)?;
        check_finite("value", index, &[value])?;
        check_finite("noise", index, &[variance])?;
        if variance < 0.0 {
            return Err(GprError::InvalidNoise { index });
        }
        self.value_points.extend_from_slice(x);
        self.values.push(value);
        self.value_noise.push(variance);
        Ok(())
    }

    /// CV dimension `d`.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of gradient observations.
    pub fn n_gradients(&self) -> usize {
        self.grad_points.len() / self.dim
    }
    /// Number of value observations.
    pub fn n_values(&self) -> usize {
        self.values.len()
    }
    /// Number of scalar rows in the GP system: `n_gradients·d + n_values`.
    pub fn n_rows(&self) -> usize {
        self.gradients.len() + self.values.len()
    }
    /// True if there is nothing to condition on.
    pub fn is_empty(&self) -> bool {
        self.n_rows() == 0
    }
    /// Gradient observation points, `n×d` row-major.
    pub fn gradient_points(&self) -> &[f64] {
        &self.grad_points
    }
    /// Observed gradients, `n×d` row-major.
    pub fn gradients(&self) -> &[f64] {
        &self.gradients
    }
    /// Gradient noise covariances, `n×d×d`.
    pub fn gradient_noise(&self) -> &[f64] {
        &self.grad_noise
    }
    /// Value observation points, `m×d` row-major.
    pub fn value_points(&self) -> &[f64] {
        &self.value_points
    }
    /// Observed values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// Value noise variances.
    pub fn value_noise(&self) -> &[f64] {
        &self.value_noise
    }

    /// The observations whose indices are listed (gradient indices, then value indices).
    pub fn subset(&self, gradient_idx: &[usize], value_idx: &[usize]) -> Self {
        let d = self.dim;
        let mut out = Self::new(d).expect("dim ≥ 1");
        for &i in gradient_idx {
            out.grad_points
                .extend_from_slice(&self.grad_points[i * d..(i + 1) * d]);
            out.gradients
                .extend_from_slice(&self.gradients[i * d..(i + 1) * d]);
            out.grad_noise
                .extend_from_slice(&self.grad_noise[i * d * d..(i + 1) * d * d]);
        }
        for &j in value_idx {
            out.value_points
                .extend_from_slice(&self.value_points[j * d..(j + 1) * d]);
            out.values.push(self.values[j]);
            out.value_noise.push(self.value_noise[j]);
        }
        out
    }

    /// Per-dimension extent of all observation points (CV units).
    pub fn ranges(&self) -> Vec<f64> {
        let d = self.dim;
        (0..d)
            .map(|a| {
                let it = self
                    .grad_points
                    .iter()
                    .skip(a)
                    .step_by(d)
                    .chain(self.value_points.iter().skip(a).step_by(d));
                let (lo, hi) = it.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
                if hi >= lo {
                    hi - lo
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let mut o = Observations::new(2).unwrap();
        assert!(Observations::new(0).is_err());
        o.push_gradient(&[0.0, 1.0], &[1.0, 2.0], GradientNoise::Isotropic(0.5))
            .unwrap();
        match o.push_gradient(&[0.0, 1.0], &[f64::NAN, 2.0], GradientNoise::None) {
            Err(GprError::NonFinite { what, index }) => {
                assert_eq!((what, index), ("gradient", 1));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            o.push_gradient(&[0.0], &[1.0, 2.0], GradientNoise::None),
            Err(GprError::DimensionMismatch { .. })
        ));
        // Not PSD: eigenvalues 3 and −1.
        assert!(matches!(
            o.push_gradient(
                &[0.0, 0.0],
                &[1.0, 1.0],
                GradientNoise::Full(&[1.0, 2.0, 2.0, 1.0])
            ),
            Err(GprError::InvalidNoise { index: 1 })
        ));
        // Not symmetric.
        assert!(o
            .push_gradient(
                &[0.0, 0.0],
                &[1.0, 1.0],
                GradientNoise::Full(&[1.0, 0.5, 0.0, 1.0])
            )
            .is_err());
        o.push_gradient(
            &[0.0, 0.0],
            &[1.0, 1.0],
            GradientNoise::Full(&[1.0, 0.5, 0.5, 1.0]),
        )
        .unwrap();
        assert!(o.push_value(&[0.0, 0.0], 1.0, -1.0).is_err());
        assert!(o.push_value(&[0.0, f64::INFINITY], 1.0, 1.0).is_err());
        o.push_value(&[0.0, 0.0], 1.0, 0.0).unwrap();
        assert_eq!(o.n_rows(), 5);
        assert_eq!(o.ranges(), vec![0.0, 1.0]);
        assert!(Observations::from_gradients(2, &[0.0; 3], &[0.0; 3], None).is_err());
    }
}
