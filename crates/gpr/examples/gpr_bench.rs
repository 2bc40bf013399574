//! Timings for `cargo xtask bench gpr`, on the machine-readable side.
//!
//! `gpr_bench values DIR N D M SEED` — the data set of `../shared/peers/gpr_sklearn.py`
//! (value observations only, which is all scikit-learn can condition on): `N` points
//! `x ~ U[0, span]^D` with `y = sin(x₁)` + `0.1 x₁²` (1-D) or `sin(x₁) cos(x₂)` (2-D) plus
//! noise of s.d. 0.01, centred to mean 0 (scikit-learn's prior mean is 0, this crate's is
//! the mean of the values: centring makes both the same model). Kernel: squared
//! exponential with unit variance and length scale 1, noise variance 1e-4 (scikit-learn
//! `RBF(1.0)`, `alpha = 1e-4`, `optimizer = None`). Fits once, predicts mean and standard
//! deviation at `M` test points, writes `x.bin`, `y.bin`, `xt.bin`, `mean.bin`, `std.bin`
//! (little-endian f64) to `DIR` so the peer can run on the same numbers and be compared,
//! and prints `RESULT {json}` with `fit_s`, `predict_s` and the RMSE against the truth.
//!
//! `gpr_bench chol N REPS` — the Cholesky factorisation ([`Cholesky::factor`], faer) of
//! the matrix of `chol_numpy.py`, `(B + Bᵀ)/2 + N·I` with `B ~ U[0, 1)`: prints
//! `RESULT {json}` with the median time and GFLOP/s (`N³/3` flops).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use thermograd_gpr::linalg::Cholesky;
use thermograd_gpr::{GaussianProcess, GpConfig, Observations, SquaredExponential};

fn write(path: &Path, data: &[f64]) {
    let mut bytes = Vec::with_capacity(8 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&bytes))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn truth(x: &[f64]) -> f64 {
    if x.len() == 1 {
        x[0].sin() + 0.1 * x[0] * x[0]
    } else {
        x[0].sin() * x[1].cos()
    }
}

fn values(dir: &Path, n: usize, d: usize, m: usize, seed: u64) {
    assert!(d == 1 || d == 2, "D must be 1 or 2");
    let span = if d == 1 { 10.0 } else { std::f64::consts::TAU };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * d).map(|_| rng.gen::<f64>() * span).collect();
    let mut y: Vec<f64> = x
        .chunks(d)
        .map(|p| {
            let z: f64 = StandardNormal.sample(&mut rng);
            truth(p) + 0.01 * z
        })
        .collect();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    y.iter_mut().for_each(|v| *v -= y_mean);
    let xt: Vec<f64> = (0..m * d).map(|_| rng.gen::<f64>() * span).collect();
    std::fs::create_dir_all(dir).expect("create DIR");
    write(&dir.join("x.bin"), &x);
    write(&dir.join("y.bin"), &y);
    write(&dir.join("xt.bin"), &xt);

    let mut obs = Observations::new(d).expect("dimension");
    for (p, v) in x.chunks(d).zip(&y) {
        obs.push_value(p, *v, 1e-4).expect("finite data");
    }
    let kernel = SquaredExponential::new(1.0, &vec![1.0; d]).expect("kernel");
    let t = Instant::now();
    let gp = GaussianProcess::fit(Box::new(kernel), obs, &GpConfig::default()).expect("fit");
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let pred = gp.predict(&xt).expect("predict");
    let predict_s = t.elapsed().as_secs_f64();
    write(&dir.join("mean.bin"), &pred.mean);
    write(&dir.join("std.bin"), &pred.std);
    let rmse = (xt
        .chunks(d)
        .zip(&pred.mean)
        .map(|(p, mu)| (mu + y_mean - truth(p)).powi(2))
        .sum::<f64>()
        / m as f64)
        .sqrt();
    println!(
        "RESULT {{\"code\": \"thermograd\", \"n\": {n}, \"dim\": {d}, \"m\": {m}, \
         \"threads\": {}, \"fit_s\": {fit_s:.6}, \"predict_s\": {predict_s:.6}, \"rmse\": {rmse:.6e}, \
         \"jitter\": {:e}}}",
        rayon::current_num_threads(),
        gp.jitter()
    );
}

fn chol(n: usize, reps: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let b: Vec<f64> = (0..n * n).map(|_| rng.gen::<f64>()).collect();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let mut a = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..n {
                a[j * n + i] =
                    0.5 * (b[j * n + i] + b[i * n + j]) + if i == j { n as f64 } else { 0.0 };
            }
        }
        let t = Instant::now();
        let ch = Cholesky::factor(a, n).expect("SPD");
        times.push(t.elapsed().as_secs_f64());
        assert!(ch.l_at(n - 1, n - 1) > 0.0);
    }
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    let flops = (n as f64).powi(3) / 3.0;
    println!(
        "RESULT {{\"code\": \"thermograd\", \"op\": \"cholesky\", \"n\": {n}, \"threads\": {}, \
         \"t_med\": {med:.6}, \"t_min\": {:.6}, \"gflops_med\": {:.3}}}",
        rayon::current_num_threads(),
        times[0],
        flops / med / 1e9
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, default: usize| {
        args.get(i)
            .map(|s| s.parse().expect("integer argument"))
            .unwrap_or(default)
    };
    match args.get(1).map(String::as_str) {
        Some("values") => values(
            Path::new(args.get(2).expect("DIR")),
            num(3, 2000),
            num(4, 2),
            num(5, 1000),
            num(6, 0) as u64,
        ),
        Some("chol") => chol(num(2, 4000), num(3, 3)),
        _ => eprintln!("usage: gpr_bench values DIR N D M SEED | chol N REPS"),
    }
}
