//! MBAR on many samples, for `cargo xtask scale`: `K` one-dimensional harmonic
//! oscillators `u_k(x) = k_k x²/2` (reduced units, kT = 1) with force constants
//! log-spaced from 1 to 16, `N_TOTAL / K` exact samples from each, and every sample's
//! reduced energy in every state (a `K × N_TOTAL` matrix).
//!
//! `cargo run --release -p thermograd-estimators --example mbar_scale -- N_TOTAL [K] [SEED]`
//!
//! The exact free energies are `f_k = −½ ln(2π/k_k)`, so `Δf(0→k) = ½ ln(k_k/k_0)`.
//! Prints one line `RESULT {json}` with `solve_s` (`Mbar::new` plus the asymptotic
//! errors of all differences), `samples_per_s = N_TOTAL / solve_s`, the solver's
//! iterations, and `max_abs_z`, the largest `|Δf(0→k) − exact| / σ(0→k)` over `k`: a
//! correct estimator with calibrated errors keeps it below about 4. The estimator runs
//! on one thread (the crate's linear algebra is sequential on purpose).

// The analytic harmonic oscillators of the crate's own tests, not a second copy.
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{harmonic_u_kn, rng, Harmonic};
use thermograd_estimators::{Mbar, MbarConfig};

fn arg(i: usize, name: &str, default: Option<usize>) -> usize {
    match std::env::args().nth(i) {
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse `{s}`")),
        None => default.unwrap_or_else(|| panic!("missing argument {name}")),
    }
}

fn main() {
    let n_total = arg(1, "N_TOTAL", None);
    let k_states = arg(2, "K", Some(10));
    let seed = arg(3, "SEED", Some(1)) as u64;
    assert!(k_states >= 2, "K must be at least 2");
    assert!(
        n_total >= k_states && n_total % k_states == 0,
        "N_TOTAL = {n_total} must be a positive multiple of K = {k_states}"
    );
    let states: Vec<Harmonic> = (0..k_states)
        .map(|i| Harmonic {
            k: 16f64.powf(i as f64 / (k_states - 1) as f64),
            o: 0.0,
        })
        .collect();
    let n_k = vec![n_total / k_states; k_states];
    let mut r = rng(seed);
    let (_, u_kn) = harmonic_u_kn(&states, &n_k, &states, &mut r);
    let t = Instant::now();
    let mbar = Mbar::new(&u_kn, &n_k, &MbarConfig::default()).expect("MBAR converges");
    let d = mbar.free_energy_differences().expect("uncertainties");
    let secs = t.elapsed().as_secs_f64();
    let report = mbar.convergence();
    let mut max_z: f64 = 0.0;
    let mut max_err: f64 = 0.0;
    for k in 1..k_states {
        let exact = states[k].f() - states[0].f();
        let err = (d.delta_f[0][k] - exact).abs();
        max_err = max_err.max(err);
        max_z = max_z.max(err / d.std_err[0][k]);
    }
    println!(
        "RESULT {{\"code\": \"thermograd\", \"N\": {n_total}, \"K\": {k_states}, \
             \"threads\": 1, \"solve_s\": {secs:.6e}, \"samples_per_s\": {:.6e}, \
             \"iterations\": {}, \"max_abs_err\": {max_err:.6e}, \"max_abs_z\": {max_z:.6e}, \
             \"std_err_0_last\": {:.6e}}}",
        n_total as f64 / secs,
        report.iterations,
        d.std_err[0][k_states - 1]
    );
}
