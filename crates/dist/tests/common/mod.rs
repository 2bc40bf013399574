//! Small systems shared by the single-process and the MPI tests.

#![allow(dead_code)]

use std::sync::Arc;

use thermograd_cv::{grid_centers, CollectiveVariable, Distance, MeanForceMethod, UmbrellaConfig};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{HarmonicRestraints, PotentialSum, RunConfig, State, ThermostatConfig};

use thermograd_dist::ReplicaExchangeConfig;

/// Two atoms, each restrained (k = 5) to its own point 1.2 apart (reduced units).
pub fn dimer(_window: usize) -> thermograd_md::Result<(State, PotentialSum)> {
    let targets = [Vec3::zeros(), Vec3::new(1.2, 0.0, 0.0)];
    let state = State::new(targets.to_vec(), vec![1.0, 1.0], vec![0, 0], SimBox::open())?;
    let potential = PotentialSum::new().with(HarmonicRestraints::all_atoms(&targets, 5.0)?);
    Ok((state, potential))
}

/// Five windows along the dimer's distance.
pub fn umbrella_config(method: MeanForceMethod) -> UmbrellaConfig {
    UmbrellaConfig {
        centers: grid_centers(&[0.9], &[1.5], &[5]).unwrap(),
        kappa: vec![20.0],
        thermostat: ThermostatConfig {
            dt: 0.01,
            kt: 1.0,
            tau: 0.5,
            seed: 11,
        },
        run: RunConfig {
            equilibration_steps: 100,
            production_steps: 500,
            stride: 5,
            progress: false,
        },
        skin: 0.3,
        progress: false,
        mean_force: method,
        faults: Default::default(),
    }
}

/// The dimer's distance CV.
pub fn distance() -> Arc<dyn CollectiveVariable> {
    Arc::new(Distance::new(0, 1).unwrap())
}

/// Force constant of the oscillator of [`oscillator_state`] (energy / length²).
pub const OSCILLATOR_K: f64 = 1.0;

/// One atom (mass 1) at rest away from the origin.
pub fn oscillator_state(_replica: usize) -> thermograd_md::Result<State> {
    State::new(
        vec![Vec3::new(0.5, 0.0, 0.0)],
        vec![1.0],
        vec![0],
        SimBox::open(),
    )
}

/// `U = ½ k |r|²`: a 3-D harmonic oscillator, `⟨U⟩ = 3/2 kT` exactly.
pub fn oscillator_potential() -> thermograd_md::Result<PotentialSum> {
    Ok(PotentialSum::new().with(HarmonicRestraints::all_atoms(
        &[Vec3::zeros()],
        OSCILLATOR_K,
    )?))
}

/// A ladder of four temperatures over the oscillator.
pub fn ladder(production_cycles: u64) -> ReplicaExchangeConfig {
    ReplicaExchangeConfig {
        kts: vec![1.0, 1.4, 1.96, 2.744],
        dt: 0.05,
        tau: 1.0,
        exchange_every: 20,
        equilibration_cycles: 20,
        production_cycles,
        skin: 0.3,
        seed: 3,
    }
}
