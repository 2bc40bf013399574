//! The LAMMPS `bench/in.lj` system: fcc start at ρ* = 0.8442, T* = 1.44, cutoff 2.5,
//! skin 0.3, NVE with dt = 0.005. Reports time per MD step; atom-steps/s is
//! `N / (time per step)`. Set `RAYON_NUM_THREADS` to choose 1 or 2 threads.
//!
//! `cargo bench -p thermograd-md --bench lj_fluid`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use thermograd_md::*;

fn lj_system(cells: usize) -> Simulation {
    let (positions, simbox) = fcc_lattice(cells, 0.8442).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.44, 87287).unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
    let mut sim =
        Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.005).unwrap())).unwrap();
    // Melt the crystal first so the benchmark sees the liquid (and its list rebuilds).
    sim.run(100).unwrap();
    sim
}

fn bench(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    let mut group = c.benchmark_group("lj_fluid");
    group.sample_size(10);
    for cells in [10usize, 20] {
        let n = 4 * cells.pow(3);
        let mut sim = lj_system(cells);
        // 100 steps per iteration, so neighbor-list rebuilds are amortised as in a run.
        group.throughput(Throughput::Elements(100 * n as u64));
        group.bench_function(format!("step100/{n}/threads{threads}"), |b| {
            b.iter(|| sim.run(100).unwrap())
        });
        let state = sim.state().clone();
        let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
        let mut ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
        let mut out = Evaluation::zeros(n);
        ff.evaluate(&state, &mut out).unwrap();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("forces/{n}/threads{threads}"), |b| {
            b.iter_batched_ref(
                || (),
                |_| ff.evaluate(&state, &mut out).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
