//! Physical faults (issue #11): overlapping atoms, an exploding temperature, a box that
//! collapses under the barostat, a thermostat without friction. Each is an error that
//! carries the step and the cause; where a check fires during a run, a second run shows
//! that the step before was still within bounds, so the step reported is the first bad
//! one.

mod common;

use common::*;
use thermograd_md::*;

fn nve(state: State, dt: f64) -> Simulation {
    let ff = lj_forcefield(2.5, Truncation::EnergyShifted, false);
    Simulation::new(state, ff, Box::new(VelocityVerlet::new(dt).unwrap())).unwrap()
}

fn min_distance(state: &State) -> f64 {
    let n = state.n_atoms();
    let mut best = f64::INFINITY;
    for i in 0..n {
        for j in i + 1..n {
            let d = state
                .simbox
                .min_image(state.positions[j] - state.positions[i]);
            best = best.min(d.norm());
        }
    }
    best
}

#[test]
fn overlapping_atoms_at_the_start_are_reported_at_step_zero() {
    let mut state = lj_state(2, 0.8, 1.0, 1);
    state.positions[7] = state.positions[3] + Vec3::new(0.05, 0.0, 0.0);
    let checks = FaultChecks {
        min_distance: Some(0.7),
        ..FaultChecks::default()
    };
    let err = nve(state, 0.005).with_fault_checks(checks).unwrap_err();
    let message = err.to_string();
    match err {
        MdError::Fault {
            step: 0,
            cause: Fault::Overlap { i, j, distance, .. },
        } => {
            assert_eq!((i.min(j), i.max(j)), (3, 7));
            assert!((distance - 0.05).abs() < 1e-12, "{distance}");
        }
        other => panic!("expected an overlap at step 0, got {other:?}"),
    }
    assert!(
        message.contains("step 0") && message.contains("atoms"),
        "{message}"
    );
}

#[test]
fn coincident_atoms_without_checks_are_a_non_finite_energy_at_step_zero() {
    let mut state = lj_state(2, 0.8, 1.0, 1);
    state.positions[7] = state.positions[3];
    let ff = lj_forcefield(2.5, Truncation::EnergyShifted, false);
    match Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.005).unwrap())) {
        Err(MdError::NonFiniteEnergy { step: 0, .. }) => {}
        other => panic!("expected a non-finite energy at step 0, got {other:?}"),
    }
}

#[test]
fn an_atom_thrown_out_of_the_cell_stops_the_run_naming_the_step() {
    // Two atoms 0.05 apart: a finite energy at step 0, but a force of about 4e18 that
    // throws them some 1e13 box lengths away in the first step. Without fault checks the
    // neighbor list is the first to notice; the error still names the step.
    let simbox = SimBox::cubic(10.0).unwrap();
    let state = State::new(
        vec![Vec3::new(5.0, 5.0, 5.0), Vec3::new(5.05, 5.0, 5.0)],
        vec![1.0, 1.0],
        vec![0, 0],
        simbox,
    )
    .unwrap();
    let mut sim = nve(state, 0.005);
    let err = sim.run(10).unwrap_err();
    let message = err.to_string();
    match err {
        MdError::Fault {
            step: 1,
            cause: Fault::AtomEscaped { atom, cells },
        } => {
            assert!(atom < 2);
            assert!(cells > 1e10, "{cells}");
        }
        other => panic!("expected an escaped atom at step 1, got {other:?}"),
    }
    assert!(message.contains("step 1"), "{message}");
}

#[test]
fn atoms_driven_into_each_other_are_caught_at_the_first_overlapping_step() {
    // Two atoms fired at each other at a speed far above thermal: they reach each
    // other's repulsive core within a few dozen steps.
    let simbox = SimBox::cubic(10.0).unwrap();
    let mut state = State::new(
        vec![Vec3::new(3.0, 5.0, 5.0), Vec3::new(5.0, 5.0, 5.0)],
        vec![1.0, 1.0],
        vec![0, 0],
        simbox,
    )
    .unwrap();
    state.velocities[0] = Vec3::new(20.0, 0.0, 0.0);
    state.velocities[1] = Vec3::new(-20.0, 0.0, 0.0);
    let checks = FaultChecks {
        min_distance: Some(0.8),
        ..FaultChecks::default()
    };
    let mut sim = nve(state.clone(), 0.001).with_fault_checks(checks).unwrap();
    let step = match sim.run(1000) {
        Err(MdError::Fault {
            step,
            cause: Fault::Overlap { distance, .. },
        }) => {
            assert!(distance < 0.8);
            step
        }
        other => panic!("expected an overlap, got {other:?}"),
    };
    assert!(step > 1, "{step}");
    let mut replay = nve(state, 0.001);
    replay.run(step - 1).unwrap();
    assert!(min_distance(replay.state()) >= 0.8);
    replay.run(1).unwrap();
    assert!(min_distance(replay.state()) < 0.8);
}

#[test]
fn an_exploding_temperature_names_the_step() {
    // dt = 0.05 is ten times the stable LJ time step: the energy is not conserved and
    // the kinetic temperature runs away.
    let state = lj_state(2, 0.8442, 1.44, 3);
    let checks = FaultChecks {
        max_kt: Some(20.0),
        ..FaultChecks::default()
    };
    let mut sim = nve(state.clone(), 0.05).with_fault_checks(checks).unwrap();
    let (step, kt) = match sim.run(2000) {
        Err(
            e @ MdError::Fault {
                cause: Fault::TemperatureExploded { .. },
                ..
            },
        ) => {
            let message = e.to_string();
            assert!(message.contains("temperature exploded"), "{message}");
            match e {
                MdError::Fault {
                    step,
                    cause: Fault::TemperatureExploded { kt, max_kt },
                } => {
                    assert_eq!(max_kt, 20.0);
                    (step, kt)
                }
                _ => unreachable!(),
            }
        }
        other => panic!("expected an exploding temperature, got {other:?}"),
    };
    assert!(kt > 20.0, "{kt}");
    let mut replay = nve(state, 0.05);
    replay.run(step - 1).unwrap();
    assert!(replay.sample().temperature <= 20.0);
    replay.run(1).unwrap();
    assert_eq!(replay.sample().temperature, kt);
}

fn npt(state: State, pressure: f64, compressibility: f64) -> Simulation {
    let ff = lj_forcefield(2.5, Truncation::EnergyShifted, false);
    let thermostat = Csvr::new(ThermostatConfig {
        dt: 0.005,
        kt: 1.0,
        tau: 0.1,
        seed: 4,
    })
    .unwrap();
    let barostat = StochasticCellRescaling::new(
        Box::new(thermostat),
        BarostatConfig {
            pressure,
            compressibility,
            tau: 1.0,
            kt: 1.0,
            stride: 5,
            seed: 5,
        },
    )
    .unwrap();
    Simulation::new(state, ff, Box::new(barostat)).unwrap()
}

#[test]
fn a_runaway_barostat_stops_at_its_first_step() {
    // A pressure of 10⁶ with β_T/τ_p = 10 asks for ln V to fall by ~10⁵ in one step.
    let mut sim = npt(lj_state(2, 0.5, 1.0, 2), 1e6, 10.0);
    match sim.run(100) {
        Err(
            e @ MdError::Fault {
                step: 5,
                cause: Fault::BoxCollapsed { .. },
            },
        ) => {
            let message = e.to_string();
            assert!(message.contains("step 5"), "{message}");
            assert!(message.contains("factor of 2"), "{message}");
        }
        other => panic!("expected the box to collapse at step 5, got {other:?}"),
    }
}

#[test]
fn a_box_squeezed_below_the_volume_limit_names_the_step() {
    // A high pressure on a dilute gas shrinks the box steadily.
    let state = lj_state(2, 0.3, 1.0, 2);
    let v0 = state.simbox.volume().unwrap();
    let limit = 0.8 * v0;
    let checks = FaultChecks {
        min_volume: Some(limit),
        ..FaultChecks::default()
    };
    let mut sim = npt(state.clone(), 20.0, 0.05)
        .with_fault_checks(checks)
        .unwrap();
    let step = match sim.run(5000) {
        Err(MdError::Fault {
            step,
            cause: Fault::BoxCollapsed {
                volume, limit: l, ..
            },
        }) => {
            assert_eq!(l, limit);
            assert!(volume < limit);
            step
        }
        other => panic!("expected the box to shrink past the limit, got {other:?}"),
    };
    assert_eq!(step % 5, 0, "the volume only changes on barostat steps");
    let mut replay = npt(state, 20.0, 0.05);
    replay.run(step - 1).unwrap();
    assert!(replay.state().simbox.volume().unwrap() >= limit);
}

#[test]
fn a_thermostat_without_friction_is_rejected() {
    // Zero friction is tau = ∞; zero tau would be infinite friction.
    for tau in [f64::INFINITY, 0.0, -1.0, f64::NAN] {
        let config = ThermostatConfig {
            dt: 0.005,
            kt: 1.0,
            tau,
            seed: 0,
        };
        match Langevin::new(config) {
            Err(e @ MdError::InvalidParameter { name: "tau", .. }) => {
                assert!(e.to_string().contains("tau"));
            }
            other => panic!("tau = {tau}: expected an error, got {other:?}"),
        }
    }
}

#[test]
fn fault_checks_reject_bad_limits() {
    let checks = FaultChecks {
        max_kt: Some(-1.0),
        ..FaultChecks::default()
    };
    assert!(matches!(
        nve(lj_state(2, 0.8, 1.0, 1), 0.005).with_fault_checks(checks),
        Err(MdError::InvalidParameter { name: "max_kt", .. })
    ));
}
