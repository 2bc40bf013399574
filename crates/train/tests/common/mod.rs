//! Helpers shared by the trainer tests: Lennard-Jones reference data from the MD engine.
#![allow(dead_code)]

use thermograd_md::{
    fcc_lattice, ForceField, Langevin, LennardJonesConfig, PotentialSum, RunConfig, Simulation,
    State, ThermostatConfig, Truncation,
};
use thermograd_train::{Dataset, Structure};

/// Whether slow validation is requested (`THERMOGRAD_SLOW=1`).
pub fn slow() -> bool {
    std::env::var("THERMOGRAD_SLOW").is_ok_and(|v| v == "1")
}

/// An fcc start at `density` with `4 cells³` atoms, thermalised at `kt` (reduced units).
pub fn lj_state(cells: usize, density: f64, kt: f64, seed: u64) -> State {
    let (positions, simbox) = fcc_lattice(cells, density).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(kt, seed).unwrap();
    state
}

/// The Lennard-Jones potential of the tests: σ = ε = 1, cutoff 2.5, force-shifted.
pub fn lj() -> thermograd_md::LennardJones {
    let mut c = LennardJonesConfig::single(1.0, 1.0, 2.5);
    c.truncation = Truncation::ForceShifted;
    c.build().unwrap()
}

/// Labelled Lennard-Jones configurations from Langevin MD: energy, forces and virial of
/// every `stride`-th step after `equilibration` steps.
pub fn lj_dataset(
    state: State,
    kt: f64,
    equilibration: u64,
    frames: usize,
    stride: u64,
    seed: u64,
) -> Dataset {
    let ff = ForceField::new(PotentialSum::new().with(lj()), 0.3).unwrap();
    let integrator = Langevin::new(ThermostatConfig {
        dt: 0.005,
        kt,
        tau: 0.5,
        seed,
    })
    .unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(integrator)).unwrap();
    let mut out = Vec::new();
    let run = RunConfig {
        equilibration_steps: equilibration,
        production_steps: stride * frames as u64,
        stride,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        let e = sim.evaluation();
        let mut st = Structure::new(s.positions.clone(), s.species.clone(), s.simbox.clone());
        st.energy = Some(e.energy);
        st.forces = Some(e.forces.clone());
        st.virial = Some(e.virial);
        out.push(st);
        Ok(())
    })
    .unwrap();
    Dataset::new(out, Default::default()).unwrap()
}
