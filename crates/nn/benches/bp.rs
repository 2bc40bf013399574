//! Behler–Parrinello benchmarks: energy + forces of a 4,000-atom Lennard-Jones-like
//! liquid (atoms per second) with the networks in f64 and in f32, its descriptor part
//! alone, and one force-matching step (loss, exact gradient, Adam update) on a batch of
//! frames.

mod common;

use common::liquid;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use thermograd_nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Dtype, SymmetryFunctions,
};

/// 8 radial + 4 angular (G4) symmetry functions, r_c = 2.5σ, two hidden layers of 30
/// (JAX-MD's default `mlp_sizes`), tanh.
fn model() -> BehlerParrinello {
    BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(2.5, 1, 8, AngularKind::G4),
        hidden: vec![30, 30],
        activation: Activation::Tanh,
    }
    .build(1)
    .unwrap()
}

fn energy_forces(c: &mut Criterion) {
    let frame = liquid(10, 200);
    let n = frame.positions.len();
    let m = model();
    let m32 = model().with_precision(Dtype::F32).unwrap();
    let mut group = c.benchmark_group("bp");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("energy_forces", n), &frame, |b, f| {
        b.iter(|| {
            m.evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap()
        })
    });
    group.bench_with_input(BenchmarkId::new("energy_forces_f32", n), &frame, |b, f| {
        b.iter(|| {
            m32.evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap()
        })
    });
    group.bench_with_input(BenchmarkId::new("descriptors", n), &frame, |b, f| {
        b.iter(|| m.descriptors(&f.positions, &f.species, &f.simbox).unwrap())
    });
    group.finish();
}

fn force_matching_step(c: &mut Criterion) {
    // The labels come from a second, smaller network.
    let teacher = BehlerParrinelloConfig {
        hidden: vec![16],
        ..model().config().clone()
    }
    .build(2)
    .unwrap();
    common::force_matching_step(c, "bp", &teacher, model());
}

criterion_group!(benches, energy_forces, force_matching_step);
criterion_main!(benches);
