//! Behler–Parrinello benchmarks: energy + forces of a 4,000-atom Lennard-Jones-like
//! liquid (atoms per second) with the networks in f64 and in f32, its descriptor part
//! alone, and one force-matching step (loss, exact gradient, Adam update) on a batch of
//! frames.

mod common;

use common::{liquid, perturbed};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use thermograd_nn::{
    Activation, Adam, AdamConfig, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Dtype,
    LabeledFrame, LossWeights, SymmetryFunctions, Trainable,
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
    let reference = liquid(4, 100);
    // Eight frames: the reference liquid under small distinct perturbations, labelled
    // by a second model.
    let teacher = BehlerParrinelloConfig {
        hidden: vec![16],
        ..model().config().clone()
    }
    .build(2)
    .unwrap();
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
    let mut m = model();
    let mut adam = Adam::new(AdamConfig::default(), m.n_parameters()).unwrap();
    let weights = LossWeights {
        energy: 1.0,
        forces: 1.0,
    };
    let atoms: usize = data.iter().map(|d| d.forces.len()).sum();
    let mut group = c.benchmark_group("bp");
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
