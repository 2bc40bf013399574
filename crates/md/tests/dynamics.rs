//! Integrators and ensembles: energy conservation, target temperatures and canonical
//! kinetic-energy fluctuations, conserved quantities, checkpoints, failure modes.

mod common;

use common::*;
use thermograd_md::stats::{series_stats, slope};
use thermograd_md::*;

fn thermostat(dt: f64, kt: f64, tau: f64, seed: u64) -> ThermostatConfig {
    ThermostatConfig { dt, kt, tau, seed }
}

fn run_and_record(sim: &mut Simulation, equil: u64, prod: u64, stride: u64) -> Vec<Sample> {
    let mut rec = SampleRecorder::default();
    sim.run_protocol(
        &RunConfig {
            equilibration_steps: equil,
            production_steps: prod,
            stride,
            progress: false,
        },
        &mut rec,
    )
    .unwrap();
    rec.samples
}

/// Velocity Verlet conserves energy with bounded O(dt²) fluctuations and no drift.
#[test]
fn nve_conserves_energy_with_dt_squared_fluctuations() {
    let mut rms = Vec::new();
    for dt in [0.005, 0.0025] {
        let state = lj_state(4, 0.8442, 1.44, 11);
        let ff = lj_forcefield(2.5, Truncation::ForceShifted, false);
        let mut sim =
            Simulation::new(state, ff, Box::new(VelocityVerlet::new(dt).unwrap())).unwrap();
        // Melt the crystal, then watch the same simulated time at both step sizes.
        sim.run((0.5 / dt) as u64).unwrap();
        let samples = run_and_record(&mut sim, 0, (5.0 / dt) as u64, 1);
        let e: Vec<f64> = samples.iter().map(|s| s.conserved_energy).collect();
        let t: Vec<f64> = samples.iter().map(|s| s.time).collect();
        let stats = series_stats(&e);
        rms.push(stats.variance.sqrt());
        // Relative drift over the run from a linear fit: far below the fluctuations.
        let drift = slope(&t, &e) * 5.0;
        assert!(
            drift.abs() < 2e-4 * stats.mean.abs(),
            "dt {dt}: drift {drift}"
        );
        assert!(stats.variance.sqrt() < 5e-4 * stats.mean.abs());
        // Momentum stays zero.
        assert!(sim.state().momentum().norm() < 1e-9);
    }
    let ratio = rms[0] / rms[1];
    assert!(
        (3.0..5.0).contains(&ratio),
        "fluctuation ratio {ratio} (expect ≈ 4)"
    );
}

/// Checks ⟨kT⟩ = target and var(K) = N_f kT²/2 (canonical), with |z| < 4 tolerances
/// from the autocorrelation-corrected errors.
fn assert_canonical_kinetic_energy(samples: &[Sample], kt: f64, dof: usize, label: &str) {
    let t: Vec<f64> = samples.iter().map(|s| s.temperature).collect();
    let st = series_stats(&t);
    let z = (st.mean - kt) / st.std_err;
    assert!(
        z.abs() < 4.0,
        "{label}: <T> {} ± {} vs {kt}",
        st.mean,
        st.std_err
    );
    // var(T) = 2 kT² / N_f; the relative error of a variance from n_eff samples is
    // about √(2/n_eff).
    let expected = 2.0 * kt * kt / dof as f64;
    let n_eff = st.n as f64 / st.inefficiency;
    let rel = st.variance / expected - 1.0;
    assert!(
        rel.abs() < 4.0 * (2.0 / n_eff).sqrt(),
        "{label}: var(T) {} vs {expected} (n_eff {n_eff})",
        st.variance
    );
}

#[test]
fn langevin_baoab_equipartition() {
    let kt = 1.2;
    let state = lj_state(3, 0.8, 0.5, 2);
    let ff = lj_forcefield(2.5, Truncation::EnergyShifted, false);
    let integrator = Langevin::new(thermostat(0.005, kt, 0.5, 42)).unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(integrator)).unwrap();
    let dof = sim.degrees_of_freedom();
    assert_eq!(dof, 3 * 108);
    let samples = run_and_record(&mut sim, 1000, 20000, 5);
    assert_canonical_kinetic_energy(&samples, kt, dof, "langevin");
}

#[test]
fn csvr_canonical_and_effective_energy_conserved() {
    let kt = 1.0;
    let state = lj_state(3, 0.8, 1.5, 3);
    let ff = lj_forcefield(2.5, Truncation::ForceShifted, false);
    let mut sim = Simulation::new(
        state,
        ff,
        Box::new(Csvr::new(thermostat(0.004, kt, 0.1, 9)).unwrap()),
    )
    .unwrap();
    let dof = sim.degrees_of_freedom();
    assert_eq!(dof, 3 * 108 - 3);
    let samples = run_and_record(&mut sim, 1000, 20000, 5);
    assert_canonical_kinetic_energy(&samples, kt, dof, "csvr");
    let e: Vec<f64> = samples.iter().map(|s| s.conserved_energy).collect();
    let k: Vec<f64> = samples.iter().map(|s| s.kinetic_energy).collect();
    let spread = |v: &[f64]| series_stats(v).variance.sqrt();
    // The effective energy is flat compared with the thermal fluctuations of K.
    assert!(
        spread(&e) < 0.05 * spread(&k),
        "{} vs {}",
        spread(&e),
        spread(&k)
    );
}

#[test]
fn nose_hoover_chain_canonical_and_conserved() {
    let kt = 1.0;
    let state = lj_state(3, 0.8, 1.5, 4);
    let ff = lj_forcefield(2.5, Truncation::ForceShifted, false);
    let nhc = NoseHooverChain::new(thermostat(0.004, kt, 0.2, 0), 3).unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(nhc)).unwrap();
    let dof = sim.degrees_of_freedom();
    let samples = run_and_record(&mut sim, 1000, 25000, 5);
    assert_canonical_kinetic_energy(&samples, kt, dof, "nhc");
    let e: Vec<f64> = samples.iter().map(|s| s.conserved_energy).collect();
    let k: Vec<f64> = samples.iter().map(|s| s.kinetic_energy).collect();
    let spread = |v: &[f64]| series_stats(v).variance.sqrt();
    assert!(
        spread(&e) < 0.02 * spread(&k),
        "{} vs {}",
        spread(&e),
        spread(&k)
    );
}

/// Overdamped dynamics of a harmonic tether samples ⟨x²⟩ = kT/k per coordinate.
#[test]
fn brownian_samples_boltzmann_in_a_harmonic_well() {
    #[derive(Debug)]
    struct Tether;
    impl Potential for Tether {
        fn cutoff(&self) -> Option<f64> {
            None
        }
        fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
            for (r, f) in c.positions.iter().zip(&mut out.forces) {
                out.energy += 0.5 * 2.0 * r.norm_squared();
                *f -= 2.0 * r;
                out.virial -= 2.0 * r * r.transpose();
            }
            Ok(())
        }
    }
    let n = 50;
    let state = State::new(
        vec![Vec3::zeros(); n],
        vec![1.0; n],
        vec![0; n],
        SimBox::open(),
    )
    .unwrap();
    let ff = ForceField::new(PotentialSum::new().with(Tether), 0.0).unwrap();
    let kt = 0.7;
    let mut sim = Simulation::new(
        state,
        ff,
        Box::new(Brownian::new(thermostat(0.01, kt, 1.0, 5)).unwrap()),
    )
    .unwrap();
    let samples = run_and_record(&mut sim, 500, 10000, 10);
    // ⟨U⟩ = (3N/2) kT for a harmonic potential.
    let u: Vec<f64> = samples.iter().map(|s| s.potential_energy).collect();
    let st = series_stats(&u);
    // Euler–Maruyama with k dt/γ = 0.02 biases ⟨x²⟩ by a factor 1/(1 − k dt/(2γ)) ≈ 1.01.
    let exact = 1.5 * n as f64 * kt / (1.0 - 0.01);
    assert!(
        ((st.mean - exact) / st.std_err).abs() < 4.0,
        "{} ± {} vs {exact}",
        st.mean,
        st.std_err
    );
}

/// Resuming from a checkpoint reproduces the uninterrupted run bit for bit.
#[test]
fn checkpoint_resume_is_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("thermograd-md-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.ckpt");
    let make = || {
        let state = lj_state(3, 0.8442, 1.44, 8);
        let ff = lj_forcefield(2.5, Truncation::Plain, true);
        let thermo = Csvr::new(thermostat(0.005, 1.0, 0.2, 77)).unwrap();
        let npt = StochasticCellRescaling::new(
            Box::new(thermo),
            BarostatConfig {
                pressure: 1.0,
                compressibility: 0.05,
                tau: 0.5,
                kt: 1.0,
                stride: 5,
                seed: 3,
            },
        )
        .unwrap();
        Simulation::new(state, ff, Box::new(npt)).unwrap()
    };
    let mut a = make();
    a.run(137).unwrap();
    a.save_checkpoint(&path).unwrap();
    assert!(!dir.join("run.ckpt.tmp").exists());
    a.run(163).unwrap();

    let mut b = make();
    b.run(3).unwrap(); // a different history, overwritten by the checkpoint
    b.load_checkpoint(&path).unwrap();
    assert_eq!(b.state().step, 137);
    b.run(163).unwrap();
    assert_eq!(a.state(), b.state());
    assert_eq!(a.evaluation(), b.evaluation());
    assert_eq!(a.sample(), b.sample());

    // A damaged file is a clear error, not a panic.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        b.load_checkpoint(&path),
        Err(MdError::CorruptCheckpoint { .. })
    ));
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(matches!(
        b.load_checkpoint(&path),
        Err(MdError::CorruptCheckpoint { .. })
    ));
    let missing = dir.join("missing.ckpt");
    assert!(matches!(
        b.load_checkpoint(&missing),
        Err(MdError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A simulation whose energy becomes non-finite stops with an error naming the step.
#[test]
fn non_finite_energy_names_the_step() {
    /// Constant force along x; the energy is NaN once atom 0 passes x = 1.
    #[derive(Debug)]
    struct Cliff;
    impl Potential for Cliff {
        fn cutoff(&self) -> Option<f64> {
            None
        }
        fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
            let x = c.positions[0].x;
            out.energy += if x > 1.0 { f64::NAN } else { -x };
            out.forces[0].x += 1.0;
            Ok(())
        }
    }
    let state = State::new(vec![Vec3::zeros()], vec![1.0], vec![0], SimBox::open()).unwrap();
    let ff = ForceField::new(PotentialSum::new().with(Cliff), 0.0).unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.1).unwrap())).unwrap();
    // x(t) = t²/2 passes 1 at t = √2, i.e. step 15 with dt = 0.1.
    match sim.run(100) {
        Err(MdError::NonFiniteEnergy { step, .. }) => assert_eq!(step, 15),
        other => panic!("expected NonFiniteEnergy, got {other:?}"),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut state = lj_state(2, 0.8, 0.0, 0);
    state.positions[5] = state.positions[2] + Vec3::new(1e-3, 0.0, 0.0);
    match ForceField::check_overlaps(&state, 0.5) {
        Err(MdError::AtomsOverlap { i, j, distance, .. }) => {
            assert_eq!((i.min(j), i.max(j)), (2, 5));
            assert!((distance - 1e-3).abs() < 1e-9);
        }
        other => panic!("expected AtomsOverlap, got {other:?}"),
    }
    state.positions[1].y = f64::NAN;
    assert!(matches!(
        state.validate(),
        Err(MdError::NonFinite {
            what: "position",
            atom: 1
        })
    ));
    let ff = lj_forcefield(2.5, Truncation::Plain, false);
    assert!(Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.005).unwrap())).is_err());
    assert!(VelocityVerlet::new(-1.0).is_err());
    assert!(Langevin::new(thermostat(0.005, 0.0, 1.0, 0)).is_err());
    assert!(State::new(vec![Vec3::zeros()], vec![1.0, 2.0], vec![0], SimBox::open()).is_err());
}
