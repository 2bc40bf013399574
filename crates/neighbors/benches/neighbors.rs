//! Build and update of the Verlet list for a Lennard-Jones liquid at ρ* = 0.8442 with
//! cutoff 2.5 and skin 0.3 (the LAMMPS `in.lj` settings), at N = 10³, 10⁴, 10⁵.
//! Throughput is in pairs within cutoff + skin per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{ListKind, NeighborList, NeighborListConfig};

fn liquid(n: usize, seed: u64) -> (Vec<Vec3>, SimBox) {
    let length = (n as f64 / 0.8442).cbrt();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let positions = (0..n)
        .map(|_| Vec3::new(rng.gen(), rng.gen(), rng.gen()) * length)
        .collect();
    (positions, SimBox::cubic(length).expect("valid box"))
}

fn bench(c: &mut Criterion) {
    let config = NeighborListConfig {
        cutoff: 2.5,
        skin: 0.3,
        kind: ListKind::Half,
    };
    let mut group = c.benchmark_group("neighbors");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let (positions, simbox) = liquid(n, 7);
        let mut list = NeighborList::new(config).expect("valid config");
        list.rebuild(&positions, &simbox).expect("finite positions");
        group.throughput(Throughput::Elements(list.n_entries() as u64));
        group.bench_with_input(BenchmarkId::new("build", n), &n, |b, _| {
            b.iter(|| list.rebuild(&positions, &simbox).expect("finite positions"))
        });
        group.bench_with_input(BenchmarkId::new("update", n), &n, |b, _| {
            b.iter(|| list.update(&positions, &simbox).expect("finite positions"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
