//! SchNet benchmarks: energy + forces of a 4,000-atom Lennard-Jones-like liquid (atoms
//! per second), and one force-matching step (loss, exact gradient, Adam update) on a
//! batch of frames.

mod common;

use common::{liquid, perturbed};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use thermograd_nn::{Adam, AdamConfig, LabeledFrame, LossWeights, SchNet, SchNetConfig, Trainable};

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
    let reference = liquid(4, 100);
    let teacher = model(2);
    let data: Vec<LabeledFrame> = perturbed(&reference, 8)
        .into_iter()
        .map(|f| {
            let e = teacher
                .evaluate(&f.positions, &f.species, &f.simbox, None)
                .unwrap();
            LabeledFrame {
                frame: f,
                energy: e.energy,
                forces: e.forces,
            }
        })
        .collect();
    let mut m = model(1);
    let mut adam = Adam::new(AdamConfig::default(), m.n_parameters()).unwrap();
    let weights = LossWeights {
        energy: 1.0,
        forces: 1.0,
    };
    let atoms: usize = data.iter().map(|d| d.forces.len()).sum();
    let mut group = c.benchmark_group("schnet");
    group.sample_size(10);
    group.throughput(Throughput::Elements(atoms as u64));
    group.bench_function(BenchmarkId::new("force_matching_step", atoms), |b| {
        b.iter(|| {
            let out = m.force_matching(&data, weights).unwrap();
            let mut p = m.parameters();
            adam.step(&mut p, &out.gradient).unwrap();
            m.set_parameters(&p).unwrap();
            out.loss
        })
    });
    group.finish();
}

criterion_group!(benches, energy_forces, force_matching_step);
criterion_main!(benches);
