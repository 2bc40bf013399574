//! RDF, ADF, MSD/diffusion and heat capacity against closed forms: ideal gas, the fcc
//! lattice, ballistic and Brownian free particles, harmonic oscillators.

mod support;

use std::f64::consts::PI;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use support::*;
use thermograd_md::*;

#[test]
fn ideal_gas_rdf_is_one_in_a_triclinic_box() {
    let simbox = SimBox::from_lengths_angles([9.0, 10.0, 11.0], [75.0, 100.0, 65.0]).unwrap();
    let n = 600;
    let species: Vec<u32> = (0..n).map(|k| u32::from(k % 3 == 0)).collect();
    let mut rdf = RdfConfig {
        r_max: 3.0,
        n_bins: 15,
        n_species: 2,
    }
    .build()
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    for _ in 0..20 {
        let positions = random_positions(n, &simbox, &mut rng);
        rdf.accumulate(&positions, &species, &simbox).unwrap();
    }
    let volume = simbox.volume().unwrap();
    let counts = [400.0, 200.0];
    for (a, b) in [(0u32, 0u32), (0, 1), (1, 1)] {
        let curve = rdf.curve(a, b).unwrap();
        let same = a == b;
        let pairs = counts[a as usize] * (counts[b as usize] - f64::from(same)) / volume;
        let dr = 3.0 / 15.0;
        let mut worst = 0.0f64;
        for (k, (&r, &g)) in curve.r.iter().zip(&curve.g).enumerate().skip(2) {
            let shell = 4.0 / 3.0 * PI * (((k + 1) as f64 * dr).powi(3) - (k as f64 * dr).powi(3));
            // Ordered pairs counted per bin; a like pair appears twice, so the number of
            // independent counts is halved.
            let expected = 20.0 * pairs * shell / if same { 2.0 } else { 1.0 };
            let z = (g - 1.0) * expected.sqrt();
            worst = worst.max(z.abs());
            assert!(z.abs() < 4.5, "g_{a}{b}({r}) = {g}, z = {z}");
        }
        println!("ideal gas g_{a}{b}: worst |z| = {worst:.2}");
    }
}

/// fcc in a triclinic box built from primitive vectors: only the lattice shells appear,
/// and integrating ρ g(r) 4πr² gives the coordination numbers 12, 6, 24, 12.
#[test]
fn fcc_rdf_peaks_and_coordination() {
    let a = 1.6795962; // ρ = 0.8442
    let cells = 4;
    let prim = Mat3::new(0.0, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.0) * a;
    let simbox = SimBox::triclinic(prim * cells as f64).unwrap();
    let mut positions = Vec::new();
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                positions.push(prim * Vec3::new(i as f64, j as f64, k as f64));
            }
        }
    }
    let n = positions.len();
    assert!((n as f64 / simbox.volume().unwrap() - 0.8442).abs() < 1e-6);
    let mut rdf = RdfConfig {
        r_max: 2.5,
        n_bins: 250,
        n_species: 1,
    }
    .build()
    .unwrap();
    rdf.accumulate(&positions, &vec![0; n], &simbox).unwrap();
    let curve = rdf.curve(0, 0).unwrap();
    let shells = [
        (a / 2f64.sqrt(), 12.0),
        (a, 6.0),
        (a * 1.5f64.sqrt(), 24.0),
        (a * 2f64.sqrt(), 12.0),
    ];
    let dr = 0.01;
    let rho = (n - 1) as f64 / simbox.volume().unwrap();
    for (k, (&r, &g)) in curve.r.iter().zip(&curve.g).enumerate() {
        let on_shell = shells.iter().find(|(d, _)| (d / dr) as usize == k);
        match on_shell {
            Some((d, z)) => {
                let shell =
                    4.0 / 3.0 * PI * (((k + 1) as f64 * dr).powi(3) - (k as f64 * dr).powi(3));
                let coordination = g * rho * shell;
                println!("fcc shell at {d:.4} (bin centre {r:.3}): {coordination:.6} neighbours");
                assert!((coordination - z).abs() < 1e-9, "{coordination} vs {z}");
            }
            None => assert_eq!(g, 0.0, "g({r}) = {g} off the lattice shells"),
        }
    }
}

#[test]
fn fcc_nearest_neighbour_angles() {
    let (positions, simbox) = fcc_lattice(3, 0.8442).unwrap();
    let n = positions.len();
    let mut adf = AdfConfig {
        cutoff: 1.4,
        n_bins: 180,
        center_species: None,
        neighbor_species: None,
    }
    .build()
    .unwrap();
    adf.accumulate(&positions, &vec![0; n], &simbox).unwrap();
    // 12 neighbours: 66 angles per atom, 24 at 60°, 12 at 90°, 24 at 120°, 6 at 180°.
    assert_eq!(adf.angles_per_frame(), 66.0 * n as f64);
    let curve = adf.curve();
    let dtheta = PI / 180.0;
    let fraction = |deg: f64| {
        curve
            .theta
            .iter()
            .zip(&curve.density)
            .filter(|(t, _)| (t.to_degrees() - deg).abs() < 1.0)
            .map(|(_, d)| d * dtheta)
            .sum::<f64>()
    };
    for (deg, count) in [(60.0, 24.0), (90.0, 12.0), (120.0, 24.0), (179.5, 6.0)] {
        assert!(
            (fraction(deg) - count / 66.0).abs() < 1e-12,
            "{deg}°: {}",
            fraction(deg)
        );
    }
    let total: f64 = curve.density.iter().map(|d| d * dtheta).sum();
    assert!((total - 1.0).abs() < 1e-12);
}

fn free_particles(n: usize, kt: f64, seed: u64) -> State {
    let simbox = SimBox::cubic(10.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let positions = random_positions(n, &simbox, &mut rng);
    let mut state = State::new(positions, vec![2.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(kt, seed).unwrap();
    state
}

#[test]
fn ballistic_msd_of_free_particles() {
    let state = free_particles(200, 1.0, 41);
    let v2: f64 = state
        .velocities
        .iter()
        .map(|v| v.norm_squared())
        .sum::<f64>()
        / 200.0;
    let ff = ForceField::new(PotentialSum::new(), 0.3).unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(VelocityVerlet::new(0.01).unwrap())).unwrap();
    let mut msd = Msd::new(10, None).unwrap();
    let run = RunConfig {
        equilibration_steps: 0,
        production_steps: 200,
        stride: 5,
        progress: false,
    };
    sim.run_protocol(&run, &mut msd).unwrap();
    let curve = msd.curve();
    assert_eq!(curve.time.len(), 11);
    for (t, m) in curve.time.iter().zip(&curve.msd) {
        assert!(
            (m - v2 * t * t).abs() < 1e-9 * (1.0 + v2 * t * t),
            "{t}: {m}"
        );
    }
}

/// Overdamped Brownian and underdamped Langevin free particles: D = kT/(mγ).
#[test]
fn brownian_and_langevin_diffusion_coefficients() {
    let (kt, mass, tau) = (1.5, 2.0, 0.2);
    let d_exact = kt * tau / mass; // kT/(mγ), γ = 1/τ
    for langevin in [false, true] {
        let state = free_particles(500, kt, 42);
        let config = ThermostatConfig {
            dt: 0.01,
            kt,
            tau,
            seed: 43,
        };
        let integrator: Box<dyn Integrator> = if langevin {
            Box::new(Langevin::new(config).unwrap())
        } else {
            Box::new(Brownian::new(config).unwrap())
        };
        let ff = ForceField::new(PotentialSum::new(), 0.3).unwrap();
        let mut sim = Simulation::new(state, ff, integrator).unwrap();
        let mut msd = Msd::new(40, None).unwrap();
        let mut rdf = RdfConfig {
            r_max: 2.0,
            n_bins: 10,
            n_species: 1,
        }
        .build()
        .unwrap();
        let run = RunConfig {
            equilibration_steps: 0,
            production_steps: 4000,
            stride: 10,
            progress: false,
        };
        sim.run_protocol(&run, &mut Observers(vec![&mut msd, &mut rdf]))
            .unwrap();
        // Fit the diffusive regime, t ≫ τ.
        let fit = diffusion_coefficient(&msd.curve(), 1.0, 4.0, 3).unwrap();
        println!(
            "{}: D = {:.5} (exact {d_exact}), {} points",
            if langevin { "Langevin" } else { "Brownian" },
            fit.coefficient,
            fit.points
        );
        assert!(
            (fit.coefficient / d_exact - 1.0).abs() < 0.05,
            "{}",
            fit.coefficient
        );
        if langevin {
            // MSD = 6D[t − τ(1 − e^{−t/τ})]: the linear fit's intercept is −6Dτ.
            assert!((fit.intercept / (-6.0 * d_exact * tau) - 1.0).abs() < 0.5);
        }
        // The particles stay an ideal gas (observers ran side by side).
        assert_eq!(rdf.frames(), 400);
        let g = rdf.curve(0, 0).unwrap().g;
        assert!(g[5..].iter().all(|g| (g - 1.0).abs() < 0.1), "{g:?}");
    }
}

/// N three-dimensional harmonic oscillators in NVT: C_V = 3N k_B (kinetic and potential
/// 3N/2 each).
#[test]
fn heat_capacity_of_harmonic_oscillators() {
    let n = 20;
    let kt = 0.8;
    let targets: Vec<Vec3> = (0..n).map(|k| Vec3::new(k as f64, 0.0, 0.0)).collect();
    let restraints = HarmonicRestraints::all_atoms(&targets, 1.0).unwrap();
    let mut state = State::new(targets.clone(), vec![1.0; n], vec![0; n], SimBox::open()).unwrap();
    state.thermalize(kt, 51).unwrap();
    let mut sim = Simulation::new(
        state,
        forcefield(restraints),
        Box::new(
            Langevin::new(ThermostatConfig {
                dt: 0.05,
                kt,
                tau: 0.5,
                seed: 52,
            })
            .unwrap(),
        ),
    )
    .unwrap();
    let mut samples = SampleRecorder::default();
    let run = RunConfig {
        equilibration_steps: 1000,
        production_steps: 200_000,
        stride: 20,
        progress: false,
    };
    sim.run_protocol(&run, &mut samples).unwrap();
    let energies: Vec<f64> = samples
        .samples
        .iter()
        .map(|s| s.kinetic_energy + s.potential_energy)
        .collect();
    let cv = heat_capacity(&energies, kt).unwrap();
    let exact = 3.0 * n as f64;
    let z = (cv.value - exact) / cv.std_err;
    println!(
        "harmonic C_V/k_B = {:.2} ± {:.2} (exact {exact}), z = {z:.2}",
        cv.value, cv.std_err
    );
    assert!(z.abs() < 4.0);
    assert!(heat_capacity(&[1.0], kt).is_err());
}
