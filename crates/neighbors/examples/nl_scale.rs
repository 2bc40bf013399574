//! Verlet-list build at a given number of atoms, for `cargo xtask scale`: a perturbed
//! fcc crystal of exactly `N` atoms at ρ* = 0.8442 (lattice constant (4/ρ*)^⅓, the
//! LAMMPS `bench/in.lj` density), cutoff 2.5 plus skin 0.3, half list.
//!
//! `cargo run --release -p thermograd-neighbors --example nl_scale -- N AMP THREADS [REPS]`
//!
//! `N` must be 4·n₁·n₂·n₃ with every nᵢ ≥ 4 (so that each box width is at least twice
//! the list reach); the orthorhombic box of n₁×n₂×n₃ conventional cells closest to a
//! cube is used, which makes every power of ten from 10³ on possible (10³ = 4·5·5·10).
//! Each coordinate is displaced by a uniform random amount in `[−AMP, AMP]` (seed 11),
//! so the positions are not a perfect lattice but, for small enough `AMP`, no pair
//! crosses the 2.8 reach: the number of stored pairs is then that of the perfect lattice,
//! which `cargo xtask scale` knows independently.
//!
//! Prints one line `RESULT {json}` with the median build time `build_s` over `REPS`
//! rebuilds (default 3, after one untimed build), `atoms_per_s = N / build_s`, `pairs`,
//! the number of stored pairs, and this process's memory from `/proc/self/status`
//! (KiB; `null` elsewhere): resident before the first build (`rss_before_kib`), resident
//! and peak after it (`rss_first_kib`, `hwm_first_kib`) and after the rebuilds
//! (`rss_end_kib`, `hwm_end_kib`).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{ListKind, NeighborList, NeighborListConfig};

const DENSITY: f64 = 0.8442;
const CUTOFF: f64 = 2.5;
const SKIN: f64 = 0.3;

fn arg<T: std::str::FromStr>(i: usize, name: &str, default: Option<T>) -> T {
    match std::env::args().nth(i) {
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse `{s}`")),
        None => default.unwrap_or_else(|| panic!("missing argument {name}")),
    }
}

/// The factorisation `c = n₁·n₂·n₃` (n₁ ≤ n₂ ≤ n₃, all ≥ `min`) with the smallest
/// aspect ratio n₃/n₁, if any.
fn cells(c: usize, min: usize) -> Option<[usize; 3]> {
    let mut best: Option<[usize; 3]> = None;
    for n1 in (min..).take_while(|n| n * n * n <= c) {
        if c % n1 != 0 {
            continue;
        }
        let rest = c / n1;
        for n2 in (n1..).take_while(|n| n * n <= rest) {
            if rest % n2 != 0 {
                continue;
            }
            let n3 = rest / n2;
            let better = best.is_none_or(|b| n3 * b[0] < b[2] * n1);
            if better {
                best = Some([n1, n2, n3]);
            }
        }
    }
    best
}

/// `VmRSS` and `VmHWM` (KiB) of this process from `/proc/self/status`, as JSON numbers,
/// or `null` where that file does not exist: where the memory of a build goes.
fn memory() -> (String, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .map_or("null".to_owned(), str::to_owned)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let n_atoms: usize = arg(1, "N", None);
    let amp: f64 = arg(2, "AMP", None);
    let threads: usize = arg(3, "THREADS", Some(1));
    let reps: usize = arg::<usize>(4, "REPS", Some(3)).max(1);
    let a = (4.0 / DENSITY).cbrt();
    let min_cells = (2.0 * (CUTOFF + SKIN) / a).ceil() as usize;
    assert!(n_atoms % 4 == 0, "N = {n_atoms} is not a multiple of 4");
    let n = cells(n_atoms / 4, min_cells)
        .unwrap_or_else(|| panic!("N = {n_atoms} is not 4·n₁·n₂·n₃ with every nᵢ ≥ {min_cells}"));
    assert!(
        (0.0..0.1).contains(&amp),
        "AMP = {amp} must lie in [0, 0.1)"
    );
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut positions = Vec::with_capacity(n_atoms);
    for i in 0..n[0] {
        for j in 0..n[1] {
            for k in 0..n[2] {
                for b in &basis {
                    let site = Vec3::new(i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]) * a;
                    let shake = Vec3::from_fn(|_, _| rng.gen_range(-amp..=amp));
                    positions.push(site + shake);
                }
            }
        }
    }
    let simbox =
        SimBox::orthorhombic([n[0] as f64 * a, n[1] as f64 * a, n[2] as f64 * a]).expect("box");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let config = NeighborListConfig {
            cutoff: CUTOFF,
            skin: SKIN,
            kind: ListKind::Half,
        };
        let (rss_before, _) = memory();
        let mut list = NeighborList::new(config).expect("config");
        list.rebuild(&positions, &simbox).expect("build");
        let (rss_first, hwm_first) = memory();
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            list.rebuild(&positions, &simbox).expect("build");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let build = times[times.len() / 2];
        let (rss_end, hwm_end) = memory();
        println!(
            "RESULT {{\"code\": \"thermograd\", \"N\": {n_atoms}, \"threads\": {threads}, \
             \"cells\": [{}, {}, {}], \"amp\": {amp:e}, \"build_s\": {build:.6e}, \
             \"atoms_per_s\": {:.6e}, \"pairs\": {}, \"rss_before_kib\": {rss_before}, \
             \"rss_first_kib\": {rss_first}, \"hwm_first_kib\": {hwm_first}, \
             \"rss_end_kib\": {rss_end}, \"hwm_end_kib\": {hwm_end}}}",
            n[0],
            n[1],
            n[2],
            n_atoms as f64 / build,
            list.n_entries()
        );
    });
}
