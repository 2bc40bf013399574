//! Splitting umbrella windows into pieces (as a multi-process job does) and assembling
//! them gives exactly the single-call run.

use std::sync::Arc;

use thermograd_cv::{
    grid_centers, run_umbrella, run_umbrella_windows, CollectiveVariable, Distance,
    MeanForceMethod, UmbrellaConfig, UmbrellaRun,
};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{HarmonicRestraints, PotentialSum, RunConfig, State, ThermostatConfig};

/// Two atoms, each restrained to its own point 1.2 apart (reduced units).
fn dimer(_window: usize) -> thermograd_md::Result<(State, PotentialSum)> {
    let targets = [Vec3::zeros(), Vec3::new(1.2, 0.0, 0.0)];
    let state = State::new(targets.to_vec(), vec![1.0, 1.0], vec![0, 0], SimBox::open())?;
    let potential = PotentialSum::new().with(HarmonicRestraints::all_atoms(&targets, 5.0)?);
    Ok((state, potential))
}

fn config(method: MeanForceMethod) -> UmbrellaConfig {
    UmbrellaConfig {
        centers: grid_centers(&[0.9], &[1.5], &[4]).unwrap(),
        kappa: vec![20.0],
        thermostat: ThermostatConfig {
            dt: 0.01,
            kt: 1.0,
            tau: 0.5,
            seed: 7,
        },
        run: RunConfig {
            equilibration_steps: 100,
            production_steps: 400,
            stride: 5,
            progress: false,
        },
        skin: 0.3,
        progress: false,
        mean_force: method,
        faults: Default::default(),
    }
}

fn distance() -> Arc<dyn CollectiveVariable> {
    Arc::new(Distance::new(0, 1).unwrap())
}

#[test]
fn windows_run_in_pieces_assemble_to_the_whole_run() {
    for method in [
        MeanForceMethod::UmbrellaIntegration,
        MeanForceMethod::InstantaneousForce { step: 1e-4 },
    ] {
        let config = config(method);
        let whole = run_umbrella(&config, distance(), &dimer).unwrap();
        // Two "ranks", round-robin, and the pieces handed in out of order.
        let mut pieces = run_umbrella_windows(&config, distance(), &dimer, &[3, 1]).unwrap();
        assert_eq!(
            pieces.iter().map(|w| w.index).collect::<Vec<_>>(),
            vec![3, 1]
        );
        pieces.extend(run_umbrella_windows(&config, distance(), &dimer, &[0, 2]).unwrap());
        let assembled = UmbrellaRun::from_windows(&config, pieces).unwrap();
        assert_eq!(assembled, whole);
        assert_eq!(whole.windows.len(), 4);
        assert_eq!(whole.windows[0].series[0].len(), 80);
        assert_eq!(
            whole.forces.len(),
            if matches!(method, MeanForceMethod::InstantaneousForce { .. }) {
                4
            } else {
                0
            }
        );
        // Different windows really sample different places (the split is not trivial).
        assert_ne!(whole.windows[0].series, whole.windows[3].series);
    }
}

#[test]
fn missing_duplicate_or_out_of_range_windows_are_errors() {
    let config = config(MeanForceMethod::UmbrellaIntegration);
    assert!(run_umbrella_windows(&config, distance(), &dimer, &[4]).is_err());
    let some = run_umbrella_windows(&config, distance(), &dimer, &[0, 1, 2]).unwrap();
    let missing = UmbrellaRun::from_windows(&config, some.clone());
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("window 3 is missing"));
    let mut twice = some.clone();
    twice.push(some[1].clone());
    let duplicate = UmbrellaRun::from_windows(&config, twice);
    assert!(duplicate
        .unwrap_err()
        .to_string()
        .contains("window 1 given twice"));
    let mut far = some;
    far[0].index = 9;
    assert!(UmbrellaRun::from_windows(&config, far).is_err());
}
