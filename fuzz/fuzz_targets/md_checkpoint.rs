//! `Simulation::load_checkpoint` on damaged checkpoints. The first byte picks the
//! integrator (each stores its own state) and whether the rest is the whole file or a
//! patch of a valid checkpoint whose checksum is then repaired, so that the decoding
//! behind the checksum is reached.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use thermograd_fuzz::{fnv1a, patch, scratch_file};
use thermograd_md::{
    fcc_lattice, Brownian, Csvr, ForceField, Integrator, Langevin, LennardJonesConfig,
    NoseHooverChain, PotentialSum, Simulation, State, ThermostatConfig, VelocityVerlet,
};

const INTEGRATORS: usize = 5;

fn simulation(which: usize) -> Simulation {
    let (positions, simbox) = fcc_lattice(2, 0.8).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.0, 5).unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 1.5).build().unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
    let thermostat = ThermostatConfig {
        dt: 0.005,
        kt: 1.0,
        tau: 0.1,
        seed: 9,
    };
    let integrator: Box<dyn Integrator> = match which {
        0 => Box::new(VelocityVerlet::new(0.005).unwrap()),
        1 => Box::new(Csvr::new(thermostat).unwrap()),
        2 => Box::new(Langevin::new(thermostat).unwrap()),
        3 => Box::new(NoseHooverChain::new(thermostat, 3).unwrap()),
        _ => Box::new(Brownian::new(thermostat).unwrap()),
    };
    Simulation::new(state, ff, integrator).unwrap()
}

/// The body (without the trailing checksum) of a valid checkpoint per integrator.
fn bodies() -> &'static Vec<Vec<u8>> {
    static BODIES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BODIES.get_or_init(|| {
        (0..INTEGRATORS)
            .map(|which| {
                let mut sim = simulation(which);
                sim.run(3).unwrap();
                let path = scratch_file("base.ckpt", b"");
                sim.save_checkpoint(&path).unwrap();
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.truncate(bytes.len() - 8);
                bytes
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let which = usize::from(mode >> 1) % INTEGRATORS;
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut body = patch(&bodies()[which], rest);
        let sum = fnv1a(&[&body]);
        body.extend_from_slice(&sum.to_le_bytes());
        body
    };
    let path = scratch_file("fuzz.ckpt", &file);
    let mut sim = simulation(which);
    let before = sim.state().clone();
    if sim.load_checkpoint(&path).is_err() {
        assert_eq!(sim.state(), &before, "a failed load changed the state");
    } else {
        // A loaded state must be usable.
        let _ = sim.run(1);
    }
});
