//! Inputs shared by the network benchmarks.

use thermograd_md::{
    fcc_lattice, ForceField, LennardJonesConfig, PotentialSum, Simulation, State, VelocityVerlet,
};
use thermograd_nn::Frame;

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
