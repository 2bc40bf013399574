//! Inputs shared by the network benchmarks.

use criterion::{BenchmarkId, Criterion, Throughput};
use thermograd_md::{
    fcc_lattice, ForceField, LennardJonesConfig, PotentialSum, Simulation, State, VelocityVerlet,
};
use thermograd_nn::{
    Adam, AdamConfig, BehlerParrinello, CommitteePotential, Frame, LabeledFrame, LossAndGradient,
    LossWeights, Result, SchNet, Trainable,
};

/// A liquid: an fcc crystal at ρ = 0.8442 melted by a short LJ run at T = 1.44.
pub fn liquid(cells: usize, steps: u64) -> Frame {
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

/// `count` copies of `reference` under small distinct deterministic perturbations.
pub fn perturbed(reference: &Frame, count: usize) -> Vec<Frame> {
    (0..count)
        .map(|k| {
            let mut f = reference.clone();
            for (i, r) in f.positions.iter_mut().enumerate() {
                let phase = (i * 7 + k * 13) as f64;
                r.x += 0.02 * phase.sin();
                r.y += 0.02 * phase.cos();
            }
            f
        })
        .collect()
}

/// A model with a force-matching loss, for [`force_matching_step`].
pub trait ForceMatching: CommitteePotential + Trainable {
    /// Loss and exact parameter gradient over `data`.
    fn loss(&self, data: &[LabeledFrame], weights: LossWeights) -> Result<LossAndGradient>;
}

impl ForceMatching for BehlerParrinello {
    fn loss(&self, data: &[LabeledFrame], weights: LossWeights) -> Result<LossAndGradient> {
        self.force_matching(data, weights)
    }
}

impl ForceMatching for SchNet {
    fn loss(&self, data: &[LabeledFrame], weights: LossWeights) -> Result<LossAndGradient> {
        self.force_matching(data, weights)
    }
}

/// Benchmarks one force-matching step of `model` (loss, exact gradient, Adam update) as
/// `<group>/force_matching_step/<atoms>`: eight frames, the 256-atom liquid under small
/// distinct perturbations, labelled by `teacher`.
pub fn force_matching_step<M: ForceMatching>(
    c: &mut Criterion,
    group: &str,
    teacher: &M,
    mut model: M,
) {
    let reference = liquid(4, 100);
    let data: Vec<LabeledFrame> = perturbed(&reference, 8)
        .into_iter()
        .map(|f| {
            let e = teacher
                .evaluate_one(&f.positions, &f.species, &f.simbox, None)
                .unwrap();
            LabeledFrame {
                frame: f,
                energy: e.energy,
                forces: e.forces,
            }
        })
        .collect();
    let mut adam = Adam::new(AdamConfig::default(), model.n_parameters()).unwrap();
    let weights = LossWeights {
        energy: 1.0,
        forces: 1.0,
    };
    let atoms: usize = data.iter().map(|d| d.forces.len()).sum();
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    group.throughput(Throughput::Elements(atoms as u64));
    group.bench_function(BenchmarkId::new("force_matching_step", atoms), |b| {
        b.iter(|| {
            let out = model.loss(&data, weights).unwrap();
            let mut p = model.parameters();
            adam.step(&mut p, &out.gradient).unwrap();
            model.set_parameters(&p).unwrap();
            out.loss
        })
    });
    group.finish();
}
