//! Behler–Parrinello benchmarks: energy + forces of a 4,000-atom Lennard-Jones-like
//! liquid (atoms per second), its descriptor part alone, and one force-matching step
//! (loss, exact gradient, Adam update) on a batch of frames.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use thermograd_md::{
    fcc_lattice, ForceField, LennardJonesConfig, PotentialSum, Simulation, State, VelocityVerlet,
};
use thermograd_nn::{
    Activation, Adam, AdamConfig, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Frame,
    LabeledFrame, LossWeights, SymmetryFunctions, Trainable,
};

/// A liquid: an fcc crystal at ρ = 0.8442 melted by a short LJ run at T = 1.44.
fn liquid(cells: usize, steps: u64) -> Frame {
    let (positions, simbox) = fcc_lattice(cells, 0.8442).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.44, 1).unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
    let mut sim =
        Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.005).unwrap())).unwrap();
    sim.run(steps).unwrap();
    let s = sim.state();
    Frame {
        positions: s.positions.clone(),
        species: s.species.clone(),
        simbox: s.simbox.clone(),
    }
}

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
    let mut group = c.benchmark_group("bp");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_with_input(BenchmarkId::new("energy_forces", n), &frame, |b, f| {
        b.iter(|| {
            m.evaluate(&f.positions, &f.species, &f.simbox, None)
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
    let data: Vec<LabeledFrame> = (0..8)
        .map(|k| {
            let mut f = reference.clone();
            for (i, r) in f.positions.iter_mut().enumerate() {
                let phase = (i * 7 + k * 13) as f64;
                r.x += 0.02 * phase.sin();
                r.y += 0.02 * phase.cos();
            }
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
