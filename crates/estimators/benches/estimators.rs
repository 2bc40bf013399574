//! Criterion benches of the estimators on the harmonic-oscillator systems that
//! `shared/peers/est_pymbar.py` times with pymbar: BAR with 10⁶ samples per side, and
//! MBAR with K = 20 states × 10⁴ samples (3-D oscillators, spring constants log-spaced
//! from 1 to 16, kT = 1). Timed like pymbar: the solve plus the uncertainties.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::hint::black_box;
use thermograd_estimators::{bar, exp_forward, BarConfig, Mbar, MbarConfig};

const D: usize = 3;

/// |x|² of n samples of a D-dimensional oscillator with spring constant k.
fn sample_x2(k: f64, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n)
        .map(|_| {
            (0..D)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    z * z
                })
                .sum::<f64>()
                / k
        })
        .collect()
}

fn bench_two_state(c: &mut Criterion) {
    let n = 1_000_000;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (k0, k1) = (1.0, 2.0);
    let w_f: Vec<f64> = sample_x2(k0, n, &mut rng)
        .iter()
        .map(|x2| 0.5 * (k1 - k0) * x2)
        .collect();
    let w_r: Vec<f64> = sample_x2(k1, n, &mut rng)
        .iter()
        .map(|x2| 0.5 * (k0 - k1) * x2)
        .collect();
    let mut g = c.benchmark_group("bar");
    g.sample_size(20);
    g.bench_function("1000000", |b| {
        b.iter(|| bar(black_box(&w_f), black_box(&w_r), &BarConfig::default()).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("exp");
    g.sample_size(20);
    g.bench_function("1000000", |b| {
        b.iter(|| exp_forward(black_box(&w_f)).unwrap())
    });
    g.finish();
}

fn bench_mbar(c: &mut Criterion) {
    let (k_states, n_k) = (20, 10_000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let ks: Vec<f64> = (0..k_states)
        .map(|i| 16f64.powf(i as f64 / (k_states - 1) as f64))
        .collect();
    let x2: Vec<f64> = ks
        .iter()
        .flat_map(|&k| sample_x2(k, n_k, &mut rng))
        .collect();
    let u_kn: Vec<Vec<f64>> = ks
        .iter()
        .map(|&k| x2.iter().map(|v| 0.5 * k * v).collect())
        .collect();
    let counts = vec![n_k; k_states];
    let mut g = c.benchmark_group("mbar");
    g.sample_size(10);
    g.bench_function("20x10000", |b| {
        b.iter(|| {
            let m = Mbar::new(black_box(&u_kn), &counts, &MbarConfig::default()).unwrap();
            m.free_energy_differences().unwrap()
        })
    });
    g.bench_function("20x10000/solve", |b| {
        b.iter(|| Mbar::new(black_box(&u_kn), &counts, &MbarConfig::default()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_two_state, bench_mbar);
criterion_main!(benches);
