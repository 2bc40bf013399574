//! The projected-process (inducing-point) GP on many gradient observations, for
//! `cargo xtask scale`: `N` noisy gradients (σ = 1 per component, declared) of the
//! Müller–Brown surface ×0.1, drawn uniformly over the region within 12 kT of its
//! minimum, fitted with a squared-exponential kernel of fixed hyperparameters
//! (variance 40, length scales 0.36 and 0.30, those of the crate's sparse-GP tests) and
//! `M` inducing points chosen by farthest-point sampling.
//!
//! `cargo run --release -p thermograd-gpr --example gp_scale -- N [M] [THREADS] [SEED]`
//!
//! Prints one line `RESULT {json}` with `fit_s` (fit plus the free-energy surface with
//! its standard deviation on an 82×76 grid), `obs_per_s = N / fit_s`, and the accuracy
//! of the reconstructed surface against the exact one over the grid points within
//! 10 kT of the minimum: `rmse` (kT, after the best constant shift, since gradients do
//! not fix the constant) and `z_rms`, the root mean square of the standardised errors.

// The closed-form surfaces, samplers and metrics of the crate's own tests.
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{metrics, muller_brown, muller_brown_data};
use thermograd_gpr::{Grid, Inducing, SparseConfig, SparseGp, SquaredExponential};

fn arg(i: usize, name: &str, default: Option<usize>) -> usize {
    match std::env::args().nth(i) {
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse `{s}`")),
        None => default.unwrap_or_else(|| panic!("missing argument {name}")),
    }
}

fn main() {
    let n = arg(1, "N", None);
    let m = arg(2, "M", Some(400));
    let threads = arg(3, "THREADS", Some(1));
    let seed = arg(4, "SEED", Some(1)) as u64;
    let obs = muller_brown_data(n, 12.0, 1.0, seed);
    let grid = Grid::parse("-1.5:1.2:82,-0.5:2:76").expect("grid");
    let truth: Vec<f64> = grid
        .points()
        .chunks(2)
        .map(|p| muller_brown(p[0], p[1], 0.1).0)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let t = Instant::now();
        let kernel = SquaredExponential::new(40.0, &[0.36, 0.30]).expect("kernel");
        let config = SparseConfig {
            inducing: Inducing::FarthestPoint(m),
            noise_floor: 0.0,
            jitter: 1e-8,
        };
        let gp = SparseGp::fit(Box::new(kernel), &obs, &config).expect("sparse fit");
        let fes = gp.free_energy_on_grid(&grid, true).expect("surface");
        let secs = t.elapsed().as_secs_f64();
        let q = metrics(&fes, &truth, 10.0);
        println!(
            "RESULT {{\"code\": \"thermograd\", \"N\": {n}, \"M\": {}, \"threads\": {threads}, \
             \"fit_s\": {secs:.6e}, \"obs_per_s\": {:.6e}, \"rmse\": {:.6e}, \
             \"rmse_at_min\": {:.6e}, \"z_rms\": {:.6e}, \"grid_points\": {}}}",
            gp.n_inducing(),
            n as f64 / secs,
            q.rmse,
            q.rmse_at_min,
            q.z_rms,
            q.n
        );
    });
}
