//! Writes the harmonic-oscillator data sets of `../shared/peers/est_pymbar.py` as raw
//! little-endian f64 files, so that `peer_compare` and pymbar run on identical numbers
//! (`cargo xtask bench estimators`).
//!
//! States `U_i(x) = k_i |x|²/2` in `D = 3` dimensions at kT = 1, sampled exactly:
//! `x ~ N(0, 1/k_i)`. Exact free-energy differences: `Δf(i→j) = (D/2) ln(k_j/k_i)`.
//!
//! `cargo run --release -p thermograd-estimators --example est_data -- DIR N_BAR K N_K SEED`
//!
//! Writes to `DIR`: `w_f.bin`, `w_r.bin` (`N_BAR` work values each, states `k = 1 → 2`)
//! and `u_kn.bin` (`K × (K·N_K)` reduced energies, row-major, `k` log-spaced from 1 to
//! 16, `N_K` samples per state), and prints the exact answers as `EXACT bar=… mbar=…`
//! (`mbar` is `Δf(0 → K−1)`).

use std::io::Write;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const D: usize = 3;

fn write(path: &std::path::Path, data: &[f64]) {
    let mut bytes = Vec::with_capacity(8 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&bytes))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// `|x|²` for `x ~ N(0, 1/k)` in `D` dimensions.
fn sample_x2(rng: &mut ChaCha8Rng, k: f64, n: usize) -> Vec<f64> {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let num = |i: usize, default: usize| {
        args.get(i)
            .map(|s| s.parse().expect("integer argument"))
            .unwrap_or(default)
    };
    let (n_bar, k_states, n_k, seed) = (num(2, 1_000_000), num(3, 20), num(4, 10_000), num(5, 1));
    assert!(k_states >= 2, "K must be at least 2");
    std::fs::create_dir_all(&dir).expect("create DIR");
    let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
    let (k0, k1) = (1.0, 2.0);
    let x0 = sample_x2(&mut rng, k0, n_bar);
    let x1 = sample_x2(&mut rng, k1, n_bar);
    let w_f: Vec<f64> = x0.iter().map(|x| 0.5 * (k1 - k0) * x).collect();
    let w_r: Vec<f64> = x1.iter().map(|x| 0.5 * (k0 - k1) * x).collect();
    write(&dir.join("w_f.bin"), &w_f);
    write(&dir.join("w_r.bin"), &w_r);
    let ks: Vec<f64> = (0..k_states)
        .map(|i| 16f64.powf(i as f64 / (k_states - 1) as f64))
        .collect();
    let x2: Vec<f64> = ks
        .iter()
        .flat_map(|&k| sample_x2(&mut rng, k, n_k))
        .collect();
    let u_kn: Vec<f64> = ks
        .iter()
        .flat_map(|&k| x2.iter().map(move |x| 0.5 * k * x))
        .collect();
    write(&dir.join("u_kn.bin"), &u_kn);
    let half_d = 0.5 * D as f64;
    println!(
        "EXACT bar={:.17e} mbar={:.17e}",
        half_d * (k1 / k0).ln(),
        half_d * (ks[k_states - 1] / ks[0]).ln()
    );
}
