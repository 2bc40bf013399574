//! Builds one Verlet list for a random liquid at ρ* = 0.8442 (cutoff 2.5, skin 0.3) and
//! prints the time and pair count; for profiling: `cargo run --release -p
//! thermograd-neighbors --example build_once -- N`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{ListKind, NeighborList, NeighborListConfig};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let length = (n as f64 / 0.8442).cbrt();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let positions: Vec<Vec3> = (0..n)
        .map(|_| Vec3::new(rng.gen(), rng.gen(), rng.gen()) * length)
        .collect();
    let simbox = SimBox::cubic(length).expect("valid box");
    let config = NeighborListConfig {
        cutoff: 2.5,
        skin: 0.3,
        kind: ListKind::Half,
    };
    let mut list = NeighborList::new(config).expect("valid config");
    let start = std::time::Instant::now();
    list.rebuild(&positions, &simbox).expect("finite positions");
    println!(
        "N = {n}: {} entries in {:.1} ms",
        list.n_entries(),
        start.elapsed().as_secs_f64() * 1e3
    );
}
