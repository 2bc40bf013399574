//! Log-sum-exp and related numerically stable kernels (crate-internal).

/// ln Σ exp(xᵢ), exact for any finite or −∞ inputs; −∞ for an empty or all −∞ slice.
pub(crate) fn logsumexp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = pairwise_sum_map(x, |v| (v - max).exp());
    max + sum.ln()
}

/// Σ g(xᵢ) with blocked (pairwise-like) summation, so rounding error grows like
/// log(n) rather than n for long inputs.
pub(crate) fn pairwise_sum_map(x: &[f64], g: impl Fn(f64) -> f64 + Copy) -> f64 {
    const BLOCK: usize = 256;
    if x.len() <= BLOCK {
        let mut acc = [0.0f64; 4];
        let mut chunks = x.chunks_exact(4);
        for c in &mut chunks {
            acc[0] += g(c[0]);
            acc[1] += g(c[1]);
            acc[2] += g(c[2]);
            acc[3] += g(c[3]);
        }
        let rest: f64 = chunks.remainder().iter().map(|&v| g(v)).sum();
        return (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest;
    }
    let mid = x.len() / 2;
    pairwise_sum_map(&x[..mid], g) + pairwise_sum_map(&x[mid..], g)
}

/// Σ xᵢ with blocked summation.
pub(crate) fn pairwise_sum(x: &[f64]) -> f64 {
    pairwise_sum_map(x, |v| v)
}

/// Sums of the Fermi function f(x) = 1/(1 + eˣ) over xᵢ = aᵢ + shift, scaled to avoid
/// underflow: with c = max(0, min xᵢ), `s1 = Σ f eᶜ`, `s2 = Σ f² e²ᶜ`,
/// `sd = Σ f(1 − f) eᶜ`, and `ln_sum = ln Σ f = ln s1 − c`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FermiSums {
    pub(crate) ln_sum: f64,
    pub(crate) s1: f64,
    pub(crate) s2: f64,
    pub(crate) sd: f64,
    /// The scale c.
    pub(crate) c: f64,
}

/// Computes [`FermiSums`] for xᵢ = aᵢ + shift; `min_a` must be min aᵢ. One `exp` per element.
pub(crate) fn fermi_sums(a: &[f64], shift: f64, min_a: f64) -> FermiSums {
    let c = (min_a + shift).max(0.0);
    let ec = (-c).exp();
    let mut s1 = 0.0;
    let mut s2 = 0.0;
    let mut sd = 0.0;
    // Blocked accumulation keeps the rounding error small for 10⁶ terms.
    for block in a.chunks(1024) {
        let (mut b1, mut b2, mut bd) = (0.0, 0.0, 0.0);
        for &ai in block {
            let x = ai + shift;
            let (fs, omf) = if x > 0.0 {
                // t = e^{-(x - c)} ≤ 1; e^{-x} = t·e^{-c}.
                let t = (c - x).exp();
                let e = t * ec;
                let inv = 1.0 / (1.0 + e);
                (t * inv, inv)
            } else {
                // Only reached when c = 0, so the scaled f is f itself.
                let e = x.exp();
                let inv = 1.0 / (1.0 + e);
                (inv, e * inv)
            };
            b1 += fs;
            b2 += fs * fs;
            bd += fs * omf;
        }
        s1 += b1;
        s2 += b2;
        sd += bd;
    }
    FermiSums {
        ln_sum: s1.ln() - c,
        s1,
        s2,
        sd,
        c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsumexp_matches_naive_and_survives_large_values() {
        let x = [0.1, -2.0, 3.5];
        let naive = x.iter().map(|v: &f64| v.exp()).sum::<f64>().ln();
        assert!((logsumexp(&x) - naive).abs() < 1e-14);
        let big = [1000.0, 1000.0];
        assert!((logsumexp(&big) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(logsumexp(&[]), f64::NEG_INFINITY);
        assert_eq!(logsumexp(&[f64::NEG_INFINITY]), f64::NEG_INFINITY);
    }

    #[test]
    fn fermi_sums_match_direct_sums_and_scale_without_underflow() {
        let a = [-3.0, -0.5, 0.0, 0.7, 4.0];
        let s = fermi_sums(&a, 0.0, -3.0);
        let f = |x: f64| 1.0 / (1.0 + x.exp());
        let direct: f64 = a.iter().map(|&x| f(x)).sum();
        let direct2: f64 = a.iter().map(|&x| f(x) * f(x)).sum();
        let directd: f64 = a.iter().map(|&x| f(x) * (1.0 - f(x))).sum();
        assert!((s.ln_sum - direct.ln()).abs() < 1e-14);
        assert!((s.s2 - direct2).abs() < 1e-14);
        assert!((s.sd - directd).abs() < 1e-14);
        // All arguments near 2000: f underflows in f64 but the log-sum does not.
        let far = [2000.0, 2001.0];
        let s = fermi_sums(&far, 0.0, 2000.0);
        let expect = -2000.0 + (1.0 + (-1.0f64).exp()).ln();
        assert!((s.ln_sum - expect).abs() < 1e-12);
    }
}
