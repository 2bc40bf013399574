//! SchNet benchmarks: energy + forces of a 4,000-atom Lennard-Jones-like liquid (atoms
//! per second), and one force-matching step (loss, exact gradient, Adam update) on a
//! batch of frames.

mod common;

use common::liquid;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use thermograd_nn::{SchNet, SchNetConfig};

/// 32 features, 16 Gaussians, 2 interactions, readout 32 → 16 → 1, r_c = 2.5σ.
fn model(seed: u64) -> SchNet {
    SchNetConfig {
        features: 32,
        n_rbf: 16,
        interactions: 2,
        readout_hidden: vec![16],
        ..SchNetConfig::standard(1, 2.5)
    }
    .build(seed)
    .unwrap()
}

fn energy_forces(c: &mut Criterion) {
    let frame = liquid(10, 200);
    let n = frame.positions.len();
    let m = model(1);
    let mut group = c.benchmark_group("schnet");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("energy_forces", n), &frame, |b, f| {
        b.iter(|| {
            m.evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap()
        })
    });
    group.finish();
}

fn force_matching_step(c: &mut Criterion) {
    common::force_matching_step(c, "schnet", &model(2), model(1));
}

criterion_group!(benches, energy_forces, force_matching_step);
criterion_main!(benches);
