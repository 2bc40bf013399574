//! Runs EXP, BAR and MBAR on raw little-endian f64 files (as written by numpy's
//! `tofile`) and prints one JSON-like line per estimate with its wall time, so that
//! answers and timings can be compared with pymbar on identical data.
//!
//! Usage:
//!   peer_compare two-state W_F.bin W_R.bin REPS
//!   peer_compare mbar U_KN.bin K N_PER_STATE REPS
//!   peer_compare g SERIES.bin
//!   peer_compare extras U_KN.bin K N_PER_STATE OBSERVABLE.bin
//!
//! Times are the median over REPS runs of the estimator call including uncertainties
//! (MBAR: solve + all pairwise differences), excluding file reading.

use std::time::Instant;

use thermograd_estimators::{
    bar, exp_forward, statistical_inefficiency, BarConfig, Mbar, MbarConfig,
    StatisticalInefficiencyConfig,
};

fn read_f64(path: &str) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Median wall time (s) of `reps` calls and the last result.
fn timed<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f(); // warm-up
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        out = f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("two-state") => {
            let w_f = read_f64(&args[2]);
            let w_r = read_f64(&args[3]);
            let reps: usize = args[4].parse().expect("REPS");
            let (t, e) = timed(reps, || exp_forward(&w_f).expect("EXP"));
            println!(
                "EXP n={} delta_f={:.17e} std_err={:.17e} t_med={t:.6}",
                w_f.len(),
                e.delta_f,
                e.std_err
            );
            let (t, b) = timed(reps, || {
                bar(&w_f, &w_r, &BarConfig::default()).expect("BAR")
            });
            println!(
                "BAR n={} delta_f={:.17e} std_err={:.17e} t_med={t:.6}",
                w_f.len(),
                b.delta_f,
                b.std_err
            );
        }
        Some("mbar") => {
            let u = read_f64(&args[2]);
            let k: usize = args[3].parse().expect("K");
            let n_per: usize = args[4].parse().expect("N_PER_STATE");
            let reps: usize = args[5].parse().expect("REPS");
            let n = k * n_per;
            assert_eq!(u.len(), k * n, "u_kn size");
            let rows: Vec<&[f64]> = u.chunks_exact(n).collect();
            let n_k = vec![n_per; k];
            if std::env::var("PROFILE_SPLIT").is_ok() {
                let t0 = Instant::now();
                let m = Mbar::new(&rows, &n_k, &MbarConfig::default()).expect("MBAR");
                let t1 = Instant::now();
                let _ = m.free_energy_differences().expect("differences");
                let t2 = Instant::now();
                eprintln!("solve {:?} differences {:?}", t1 - t0, t2 - t1);
            }
            let (t, (m, d)) = timed(reps, || {
                let m = Mbar::new(&rows, &n_k, &MbarConfig::default()).expect("MBAR");
                let d = m.free_energy_differences().expect("differences");
                (m, d)
            });
            let f: Vec<String> = d.delta_f[0].iter().map(|v| format!("{v:.17e}")).collect();
            let s: Vec<String> = d.std_err[0].iter().map(|v| format!("{v:.17e}")).collect();
            println!(
                "MBAR K={k} n={n_per} t_med={t:.6} report={:?}",
                m.convergence()
            );
            println!("f_k {}", f.join(" "));
            println!("std_err {}", s.join(" "));
        }
        Some("extras") => {
            // Expectations of an observable, overlap spectrum and Kish ESS.
            let u = read_f64(&args[2]);
            let k: usize = args[3].parse().expect("K");
            let n_per: usize = args[4].parse().expect("N_PER_STATE");
            let a = read_f64(&args[5]);
            let n = k * n_per;
            let rows: Vec<&[f64]> = u.chunks_exact(n).collect();
            let m = Mbar::new(&rows, &vec![n_per; k], &MbarConfig::default()).expect("MBAR");
            let e = m.expectations(&a).expect("expectations");
            let fmt = |v: Vec<f64>| {
                v.iter()
                    .map(|x| format!("{x:.17e}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!("mean {}", fmt(e.iter().map(|x| x.mean).collect()));
            println!("dmean {}", fmt(e.iter().map(|x| x.std_err).collect()));
            let o = m.overlap().expect("overlap");
            println!("overlap_eig {}", fmt(o.eigenvalues.clone()));
            println!("overlap_01 {:.17e}", o.matrix[0][1]);
            println!("ess {}", fmt(m.kish_ess()));
        }
        Some("g") => {
            let a = read_f64(&args[2]);
            let cfg = StatisticalInefficiencyConfig::default();
            let (t, g) = timed(3, || statistical_inefficiency(&a, &cfg).expect("g"));
            println!("G n={} g={g:.17e} t_med={t:.6}", a.len());
        }
        _ => eprintln!("usage: peer_compare two-state W_F W_R REPS | mbar U_KN K N REPS"),
    }
}
