//! Statistics of correlated time series: mean with an autocorrelation-aware error.

use serde::{Deserialize, Serialize};

/// Mean, standard error and statistical inefficiency of a correlated series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Number of samples.
    pub n: usize,
    /// Sample mean.
    pub mean: f64,
    /// Sample variance (1/(n−1) normalisation).
    pub variance: f64,
    /// Statistical inefficiency `g = 1 + 2τ` (≥ 1), in samples.
    pub inefficiency: f64,
    /// Standard error of the mean `√(variance · g / n)`.
    pub std_err: f64,
}

/// Statistical inefficiency `g = 1 + 2 Σ_{t≥1} (1 − t/N) C(t)` of a series, summing the
/// normalised autocorrelation `C(t)` until it first drops to zero (after `t = 3`), as in
/// Chodera et al., J. Chem. Theory Comput. 3, 26 (2007). Returns 1 for constant or very
/// short series.
pub fn statistical_inefficiency(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 3 {
        return 1.0;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let dx: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let var = dx.iter().map(|d| d * d).sum::<f64>() / n as f64;
    if var <= 0.0 || !var.is_finite() {
        return 1.0;
    }
    let mut g = 1.0;
    let mut t = 1;
    let mut increment = 1;
    while t < n - 1 {
        let c = dx[..n - t]
            .iter()
            .zip(&dx[t..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / ((n - t) as f64 * var);
        if c <= 0.0 && t > 3 {
            break;
        }
        g += 2.0 * c * (1.0 - t as f64 / n as f64) * increment as f64;
        t += increment;
        // Past a few hundred lags, sample the tail sparsely (each term then stands for
        // `increment` lags) so long series stay cheap.
        if t > 200 {
            increment += 1;
        }
    }
    g.max(1.0)
}

/// Mean and autocorrelation-corrected standard error of `x`.
pub fn series_stats(x: &[f64]) -> SeriesStats {
    let n = x.len();
    if n == 0 {
        return SeriesStats {
            n,
            mean: f64::NAN,
            variance: f64::NAN,
            inefficiency: 1.0,
            std_err: f64::NAN,
        };
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let variance = if n > 1 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let inefficiency = statistical_inefficiency(x);
    SeriesStats {
        n,
        mean,
        variance,
        inefficiency,
        std_err: (variance * inefficiency / n as f64).sqrt(),
    }
}

/// Least-squares slope of `y` against `x`.
pub fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return 0.0;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let sxy: f64 = x[..n]
        .iter()
        .zip(&y[..n])
        .map(|(a, b)| (a - mx) * (b - my))
        .sum();
    let sxx: f64 = x[..n].iter().map(|a| (a - mx).powi(2)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// AR(1) with coefficient φ has g = (1 + φ)/(1 − φ).
    #[test]
    fn ar1_inefficiency_matches_theory() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for phi in [0.0, 0.5, 0.9] {
            let mut x = 0.0;
            let series: Vec<f64> = (0..200_000)
                .map(|_| {
                    let e: f64 = StandardNormal.sample(&mut rng);
                    x = phi * x + e;
                    x
                })
                .collect();
            let g = statistical_inefficiency(&series);
            let exact = (1.0 + phi) / (1.0 - phi);
            assert!((g / exact - 1.0).abs() < 0.1, "phi {phi}: g {g} vs {exact}");
        }
    }

    #[test]
    fn slope_of_a_line() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [1.0, 3.0, 5.0, 7.0];
        assert!((slope(&x, &y) - 2.0).abs() < 1e-12);
    }
}
