//! The rational switching function of PLUMED's COORDINATION.

use serde::{Deserialize, Serialize};

use crate::error::{CvError, Result};

/// PLUMED's RATIONAL switching function
/// `s(r) = [1 − x^n] / [1 − x^m]` with `x = (r − d0) / r0`, and `s = 1` for `r ≤ d0`.
///
/// At `x = 1` the ratio is 0/0; its limit `n/m` (slope `n(n − m)/(2m)` in x) is used
/// within a tiny band around it. By default this is the plain function of the PLUMED
/// manual, which never reaches zero. [`RationalSwitch::stretched`] gives the form that
/// PLUMED's short syntax uses: shifted and scaled so that it is exactly 0 at
/// `d_max = d0 + r0·(1e-5)^{1/(n−m)}` and beyond, and still 1 at `d0`.
///
/// ```
/// use thermograd_cv::RationalSwitch;
/// let s = RationalSwitch::new(0.0, 1.0, 6, 12)?;
/// let (value, slope) = s.value_and_derivative(0.5);
/// assert!((value - 0.984615384615).abs() < 1e-12);
/// assert!((slope + 0.181775147929).abs() < 1e-12);
/// # Ok::<(), thermograd_cv::CvError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RationalSwitch {
    d0: f64,
    r0: f64,
    n: i32,
    m: i32,
    /// `(d_max, stretch, shift)` when stretched.
    stretch: Option<(f64, f64, f64)>,
}

/// Half-width of the band around x = 1 where the limit expansion replaces the ratio.
const LIMIT_BAND: f64 = 1e-6;

impl RationalSwitch {
    /// The plain rational switch. Distances in length units; `r0 > 0`, `d0 ≥ 0`,
    /// `0 < n < m`.
    pub fn new(d0: f64, r0: f64, n: i32, m: i32) -> Result<Self> {
        if !(d0.is_finite() && r0.is_finite()) {
            return Err(CvError::NonFinite {
                what: "switching-function parameter",
            });
        }
        if r0 <= 0.0 || d0 < 0.0 || n <= 0 || m <= n {
            return Err(CvError::InvalidDefinition {
                reason: format!("rational switch needs r0 > 0, d0 ≥ 0, 0 < n < m; got d0={d0}, r0={r0}, n={n}, m={m}"),
            });
        }
        Ok(RationalSwitch {
            d0,
            r0,
            n,
            m,
            stretch: None,
        })
    }

    /// PLUMED's default `n = 6, m = 12` with `d0 = 0`.
    pub fn with_r0(r0: f64) -> Result<Self> {
        Self::new(0.0, r0, 6, 12)
    }

    /// The stretched form (PLUMED short syntax): zero at and beyond `d_max`.
    pub fn stretched(self) -> Self {
        let d_max = self.d0 + self.r0 * 1e-5f64.powf(1.0 / f64::from(self.n - self.m));
        let plain = RationalSwitch {
            stretch: None,
            ..self
        };
        let at_max = plain.value_and_derivative(d_max).0;
        let stretch = 1.0 / (1.0 - at_max);
        RationalSwitch {
            stretch: Some((d_max, stretch, -at_max * stretch)),
            ..self
        }
    }

    /// The distance past which the function is exactly zero, if stretched.
    pub fn d_max(&self) -> Option<f64> {
        self.stretch.map(|(d_max, _, _)| d_max)
    }

    /// `s(r)` and `ds/dr` at distance `r`.
    pub fn value_and_derivative(&self, r: f64) -> (f64, f64) {
        if let Some((d_max, stretch, shift)) = self.stretch {
            if r >= d_max {
                return (0.0, 0.0);
            }
            let (s, ds) = self.plain(r);
            return (s * stretch + shift, ds * stretch);
        }
        self.plain(r)
    }

    fn plain(&self, r: f64) -> (f64, f64) {
        if r <= self.d0 {
            return (1.0, 0.0);
        }
        let x = (r - self.d0) / self.r0;
        let (n, m) = (f64::from(self.n), f64::from(self.m));
        if (x - 1.0).abs() < LIMIT_BAND {
            let slope = n * (n - m) / (2.0 * m);
            return (n / m + slope * (x - 1.0), slope / self.r0);
        }
        let xn = x.powi(self.n);
        let xm = x.powi(self.m);
        let num = 1.0 - xn;
        let den = 1.0 - xm;
        let s = num / den;
        // d/dx [(1 − xⁿ)/(1 − xᵐ)] = [−n xⁿ⁻¹ (1 − xᵐ) + m xᵐ⁻¹ (1 − xⁿ)] / (1 − xᵐ)²
        let ds_dx = (-n * x.powi(self.n - 1) * den + m * x.powi(self.m - 1) * num) / (den * den);
        (s, ds_dx / self.r0)
    }
}
