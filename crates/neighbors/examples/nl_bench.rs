//! Verlet-list build time on the LAMMPS `bench/in.lj` system, for `cargo xtask bench
//! neighbors`: an fcc crystal of `N = 4 n³` atoms at ρ* = 0.8442 (LAMMPS `lattice fcc
//! 0.8442`), cutoff 2.5 plus skin 0.3, half list.
//!
//! `cargo run --release -p thermograd-neighbors --example nl_bench -- N REPS THREADS`
//!
//! Prints one line `RESULT {json}` with the median build time `build_s` over `REPS`
//! rebuilds (after one untimed build) and `pairs`, the number of stored pairs within
//! 2.8, which equals LAMMPS' `Total # of neighbors` for `run 0` on the same lattice.

use std::time::Instant;

use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{ListKind, NeighborList, NeighborListConfig};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|s| s.parse().expect("integer argument"))
        .unwrap_or(default)
}

/// fcc lattice in LAMMPS' order-independent sense: the same set of points.
fn fcc(cells: usize, density: f64) -> (Vec<Vec3>, f64) {
    let a = (4.0 / density).cbrt();
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut positions = Vec::with_capacity(4 * cells.pow(3));
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                for b in &basis {
                    positions.push(Vec3::new(
                        (i as f64 + b[0]) * a,
                        (j as f64 + b[1]) * a,
                        (k as f64 + b[2]) * a,
                    ));
                }
            }
        }
    }
    (positions, cells as f64 * a)
}

fn main() {
    let n_atoms = arg(1, 32_000);
    let reps = arg(2, 5).max(1);
    let threads = arg(3, 1);
    let cells = ((n_atoms / 4) as f64).cbrt().round() as usize;
    assert_eq!(4 * cells.pow(3), n_atoms, "N must be 4 n³ (4000, 32000, …)");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let (positions, length) = fcc(cells, 0.8442);
        let simbox = SimBox::cubic(length).expect("box");
        let config = NeighborListConfig {
            cutoff: 2.5,
            skin: 0.3,
            kind: ListKind::Half,
        };
        let mut list = NeighborList::new(config).expect("config");
        list.rebuild(&positions, &simbox).expect("build");
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            list.rebuild(&positions, &simbox).expect("build");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "RESULT {{\"code\": \"thermograd\", \"N\": {n_atoms}, \"threads\": {threads}, \
             \"build_s\": {:.6e}, \"build_min_s\": {:.6e}, \"pairs\": {}}}",
            times[times.len() / 2],
            times[0],
            list.n_entries()
        );
    });
}
