//! faer's dense kernels in isolation, for comparing with numpy/OpenBLAS
//! (`../shared/peers/chol_numpy.py`) and for choosing block sizes: GFLOP/s by wall time
//! and by CPU time of this process (on a shared machine, CPU time is the less noisy
//! measure of single-thread speed).
//!
//! `cargo run --release -p thermograd-gpr --example faer_probe -- MODE N [K] [BS] [THREADS]`
//!
//! - `gemm N K`: `N×K` times `K×N` (`2 N² K` flops);
//! - `trsm N K`: `L⁻¹ B` for a lower-triangular `N×N` factor and `K` right-hand sides
//!   (`N² K` flops), one parallel faer solve;
//! - `trsmcols N K BS`: the same, as parallel blocks of `BS` columns each solved
//!   sequentially (what the GP's batched variance does);
//! - `chol N - BS`: Cholesky (`N³/3` flops) with faer's block size `BS` (default 128).
#![allow(clippy::needless_late_init)]

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{Mat, Par};

/// CPU seconds of this process (user + system), from /proc/self/stat.
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<f64> = s
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (f[10] + f[11]) * 0.01
}

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let mode = a[0].as_str();
    let n: usize = a[1].parse().unwrap();
    // `-` (or anything not a number) takes the default.
    let num = |i: usize, default: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let k = num(2, n);
    let bs = num(3, 128);
    let threads = num(4, 2);
    let par = if threads > 1 {
        Par::rayon(threads)
    } else {
        Par::Seq
    };
    let spd = |n: usize| {
        Mat::<f64>::from_fn(n, n, |i, j| {
            let x = ((i * 7919 + j * 104729) % 1000) as f64 / 1000.0;
            let y = ((j * 7919 + i * 104729) % 1000) as f64 / 1000.0;
            0.5 * (x + y) + if i == j { n as f64 } else { 0.0 }
        })
    };
    let mut ts = Vec::new();
    let mut cs: Vec<f64> = Vec::new();
    let flops;
    match mode {
        "gemm" => {
            let x = Mat::<f64>::from_fn(n, k, |i, j| ((i + 3 * j) % 17) as f64);
            let y = Mat::<f64>::from_fn(k, n, |i, j| ((2 * i + j) % 13) as f64);
            let mut c = Mat::<f64>::zeros(n, n);
            for _ in 0..4 {
                let t = Instant::now();
                let c0 = cpu();
                faer::linalg::matmul::matmul(
                    c.as_mut(),
                    faer::Accum::Replace,
                    x.as_ref(),
                    y.as_ref(),
                    1.0,
                    par,
                );
                ts.push(t.elapsed().as_secs_f64());
                cs.push(cpu() - c0);
            }
            flops = 2.0 * (n * n * k) as f64;
        }
        "trsm" => {
            let l0 = spd(n);
            let mut l = l0.clone();
            let mut buf = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
                n,
                par,
                Default::default(),
            ));
            llt::factor::cholesky_in_place(
                l.as_mut(),
                Default::default(),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .unwrap();
            let b0 = Mat::<f64>::from_fn(n, k, |i, j| ((i + 3 * j) % 17) as f64);
            for _ in 0..3 {
                let mut b = b0.clone();
                let t = Instant::now();
                let c0 = cpu();
                faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                    l.as_ref(),
                    b.as_mut(),
                    par,
                );
                ts.push(t.elapsed().as_secs_f64());
                cs.push(cpu() - c0);
            }
            flops = (n * n * k) as f64;
        }
        "trsmcols" => {
            use rayon::prelude::*;
            let l0 = spd(n);
            let mut l = l0.clone();
            let mut buf = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
                n,
                par,
                Default::default(),
            ));
            llt::factor::cholesky_in_place(
                l.as_mut(),
                Default::default(),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .unwrap();
            let b0: Vec<f64> = (0..n * k)
                .map(|t| ((t % n + 3 * (t / n)) % 17) as f64)
                .collect();
            for _ in 0..3 {
                let mut b = b0.clone();
                let t = Instant::now();
                let c0 = cpu();
                b.par_chunks_mut(n * bs).for_each(|blk| {
                    let c = blk.len() / n;
                    let bm = faer::MatMut::from_column_major_slice_mut(blk, n, c);
                    faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                        l.as_ref(),
                        bm,
                        Par::Seq,
                    );
                });
                ts.push(t.elapsed().as_secs_f64());
                cs.push(cpu() - c0);
            }
            flops = (n * n * k) as f64;
        }
        "chol" => {
            let a0 = spd(n);
            let params = llt::factor::LltParams {
                blocksize: bs,
                ..faer::Auto::<f64>::auto()
            };
            for _ in 0..3 {
                let mut l = a0.clone();
                let mut buf = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
                    n,
                    par,
                    params.into(),
                ));
                let t = Instant::now();
                let c0 = cpu();
                llt::factor::cholesky_in_place(
                    l.as_mut(),
                    Default::default(),
                    par,
                    MemStack::new(&mut buf),
                    params.into(),
                )
                .unwrap();
                ts.push(t.elapsed().as_secs_f64());
                cs.push(cpu() - c0);
            }
            flops = (n as f64).powi(3) / 3.0;
        }
        _ => panic!("MODE must be gemm, trsm, trsmcols or chol"),
    }
    let m = med(ts.clone());
    if !cs.is_empty() {
        let c = med(cs.clone());
        println!(
            "  cpu-time median {c:.3}s -> {:.1} GFLOP/s per CPU-second",
            flops / c / 1e9
        );
    }
    println!(
        "{mode} n={n} k={k} bs={bs} thr={threads}: median {m:.3}s {:.1} GFLOP/s  (all {:?})",
        flops / m / 1e9,
        ts.iter()
            .map(|t| (t * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
}
