//! Criterion benches: `fit_predict_2d/{1000,5000}` (fixed hyperparameters, then mean and
//! std on a 100×100 grid from noisy Müller–Brown ×0.1 gradients; 5,000 points is the
//! issue's 10,000×10,000 system), `cholesky/4000` (compare with
//! `shared/peers/chol_numpy.py`), and `lml_gradient_2d/500` (one step of the
//! hyperparameter fit).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use thermograd_gpr::linalg::Cholesky;
use thermograd_gpr::{
    log_marginal_likelihood_and_gradient, GaussianProcess, GpConfig, GradientNoise, Grid,
    Observations, SquaredExponential,
};

fn muller_brown(x: f64, y: f64) -> (f64, [f64; 2]) {
    let a = [-200.0, -100.0, -170.0, 15.0];
    let sa = [-1.0, -1.0, -6.5, 0.7];
    let b = [0.0, 0.0, 11.0, 0.6];
    let c = [-10.0, -10.0, -6.5, 0.7];
    let x0 = [1.0, 0.0, -0.5, -1.0];
    let y0 = [0.0, 0.5, 1.5, 1.0];
    let (mut v, mut g) = (0.0, [0.0; 2]);
    for k in 0..4 {
        let (dx, dy) = (x - x0[k], y - y0[k]);
        let e = a[k] * (sa[k] * dx * dx + b[k] * dx * dy + c[k] * dy * dy).exp();
        v += e;
        g[0] += e * (2.0 * sa[k] * dx + b[k] * dy);
        g[1] += e * (b[k] * dx + 2.0 * c[k] * dy);
    }
    (0.1 * v, [0.1 * g[0], 0.1 * g[1]])
}

fn data(n: usize) -> Observations {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut obs = Observations::new(2).unwrap();
    while obs.n_gradients() < n {
        let (x, y) = (rng.gen_range(-1.5..1.2), rng.gen_range(-0.5..2.0));
        let (v, g) = muller_brown(x, y);
        if v > -14.67 + 12.0 {
            continue;
        }
        let nx: f64 = StandardNormal.sample(&mut rng);
        let ny: f64 = StandardNormal.sample(&mut rng);
        obs.push_gradient(
            &[x, y],
            &[g[0] + nx, g[1] + ny],
            GradientNoise::Isotropic(1.0),
        )
        .unwrap();
    }
    obs
}

fn fit_predict(c: &mut Criterion) {
    let mut group = c.benchmark_group("fit_predict_2d");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let grid = Grid::parse("-1.5:1.2:100,-0.5:2:100").unwrap();
    let kernel = SquaredExponential::new(40.0, &[0.36, 0.30]).unwrap();
    for n in [1000usize, 5000] {
        let obs = data(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &obs, |b, obs| {
            b.iter(|| {
                let gp = GaussianProcess::fit(
                    Box::new(kernel.clone()),
                    obs.clone(),
                    &GpConfig::default(),
                )
                .unwrap();
                black_box(gp.free_energy_on_grid(&grid, true).unwrap())
            })
        });
    }
    group.finish();
}

fn cholesky(c: &mut Criterion) {
    let mut group = c.benchmark_group("cholesky");
    group.sample_size(10);
    let n = 4000;
    // Same matrix as chol_numpy.py: (B + Bᵀ)/2 + n I, B ~ U[0, 1).
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let b: Vec<f64> = (0..n * n).map(|_| rng.gen::<f64>()).collect();
    let mut a = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            a[j * n + i] =
                0.5 * (b[j * n + i] + b[i * n + j]) + if i == j { n as f64 } else { 0.0 };
        }
    }
    group.bench_function(BenchmarkId::from_parameter(n), |bch| {
        bch.iter_batched(
            || a.clone(),
            |m| black_box(Cholesky::factor(m, n).unwrap()),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn lml_gradient(c: &mut Criterion) {
    let obs = data(500);
    let kernel = SquaredExponential::new(40.0, &[0.36, 0.30]).unwrap();
    c.bench_function("lml_gradient_2d/500", |b| {
        b.iter(|| {
            black_box(log_marginal_likelihood_and_gradient(&kernel, &obs, 0.01, 1e-6).unwrap())
        })
    });
}

criterion_group!(benches, cholesky, lml_gradient, fit_predict);
criterion_main!(benches);
