//! Test systems with analytic free energies (see shared/references.md).
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal};

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// 1-D harmonic oscillator u(x) = K/2 (x − O)², reduced units; f = −½ ln(2π/K).
#[derive(Clone, Copy, Debug)]
pub struct Harmonic {
    pub k: f64,
    pub o: f64,
}

impl Harmonic {
    pub fn u(&self, x: f64) -> f64 {
        0.5 * self.k * (x - self.o) * (x - self.o)
    }
    pub fn f(&self) -> f64 {
        -0.5 * (2.0 * std::f64::consts::PI / self.k).ln()
    }
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<f64> {
        let d = Normal::new(self.o, 1.0 / self.k.sqrt()).unwrap();
        (0..n).map(|_| d.sample(rng)).collect()
    }
}

/// Samples of all states concatenated, and u_kn of those samples in `states`.
pub fn harmonic_u_kn(
    sampled: &[Harmonic],
    n_k: &[usize],
    states: &[Harmonic],
    rng: &mut impl Rng,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let xs: Vec<f64> = sampled
        .iter()
        .zip(n_k)
        .flat_map(|(s, &n)| s.sample(n, rng))
        .collect();
    let u_kn = states
        .iter()
        .map(|s| xs.iter().map(|&x| s.u(x)).collect())
        .collect();
    (xs, u_kn)
}

/// Forward and reverse works between two harmonic oscillators.
pub fn harmonic_works(
    a: Harmonic,
    b: Harmonic,
    n_f: usize,
    n_r: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let mut r = rng(seed);
    let w_f = a
        .sample(n_f, &mut r)
        .iter()
        .map(|&x| b.u(x) - a.u(x))
        .collect();
    let w_r = b
        .sample(n_r, &mut r)
        .iter()
        .map(|&x| a.u(x) - b.u(x))
        .collect();
    (w_f, w_r)
}

/// Exponential distribution u(x) = λx on x ≥ 0; f = ln λ.
pub fn exponential_samples(lambda: f64, n: usize, rng: &mut impl Rng) -> Vec<f64> {
    let d = Exp::new(lambda).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

pub fn gaussian(mu: f64, sigma: f64, n: usize, rng: &mut impl Rng) -> Vec<f64> {
    let d = Normal::new(mu, sigma).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

/// AR(1) series x_t = φ x_{t−1} + √(1−φ²) ε_t started in equilibrium; unit variance,
/// statistical inefficiency g = (1 + φ)/(1 − φ).
pub fn ar1(phi: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut r = rng(seed);
    let d = Normal::new(0.0, 1.0).unwrap();
    let s = (1.0 - phi * phi).sqrt();
    let mut x = d.sample(&mut r);
    (0..n)
        .map(|_| {
            let out = x;
            x = phi * x + s * d.sample(&mut r);
            out
        })
        .collect()
}

pub fn assert_z(what: &str, estimate: f64, exact: f64, sigma: f64) {
    assert!(
        sigma > 0.0 && sigma.is_finite(),
        "{what}: bad sigma {sigma}"
    );
    let z = (estimate - exact) / sigma;
    assert!(
        z.abs() < 4.0,
        "{what}: estimate {estimate} exact {exact} sigma {sigma} z {z}"
    );
}
