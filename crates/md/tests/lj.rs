//! Lennard-Jones: reference lattice sums, tail corrections, mixing, truncation schemes,
//! and forces/virial against finite differences.

mod common;

use common::*;
use proptest::prelude::*;
use thermograd_md::*;

/// LAMMPS bench/in.lj step 0 (shared/references.md).
#[test]
fn fcc_lattice_sums_match_lammps() {
    for (cells, cutoff, u_ref, p_ref) in [
        (5, 2.5, -6.7733681, -6.2353173),
        (6, 3.0, -6.9361631, -6.5094483),
        // A 2×2×2 cell (box 3.36 < 2 × cutoff): several images of each neighbour.
        (2, 2.5, -6.7733681, -6.2353173),
    ] {
        let state = lj_state(cells, 0.8442, 0.0, 0);
        let n = state.n_atoms() as f64;
        let out = evaluate(
            LennardJonesConfig::single(1.0, 1.0, cutoff)
                .build()
                .unwrap(),
            &state,
        );
        let volume = state.simbox.volume().unwrap();
        assert!(
            (out.energy / n - u_ref).abs() < 1e-7,
            "u {}",
            out.energy / n
        );
        let p_conf = out.virial.trace() / (3.0 * volume);
        assert!((p_conf - p_ref).abs() < 1e-7, "p {p_conf}");
        if cutoff == 2.5 {
            assert!((out.virial.trace() / n - (-22.1581993)).abs() < 1e-6);
        }
        // A perfect cubic crystal has an isotropic virial.
        assert!((out.virial[(0, 1)]).abs() < 1e-8 * n);
        assert!((out.virial[(0, 0)] - out.virial[(2, 2)]).abs() < 1e-8 * n);
        // Every atom of a perfect crystal is in equilibrium.
        assert!(out.forces.iter().all(|f| f.norm() < 1e-10));
    }
}

/// LAMMPS' total pressure at step 0 of in.lj (32000 atoms, T = 1.44, kinetic part
/// (3N − 3)T/(3V)): −5.0197073.
#[test]
fn in_lj_step_zero_total_pressure() {
    let state = lj_state(20, 0.8442, 1.44, 87287);
    let mut ff = lj_forcefield(2.5, Truncation::Plain, false);
    let sim = Simulation::new(
        state,
        ff_take(&mut ff),
        Box::new(VelocityVerlet::new(0.005).unwrap()),
    )
    .unwrap();
    let s = sim.sample();
    assert!((s.temperature - 1.44).abs() < 1e-12);
    assert!(
        (s.pressure.unwrap() - (-5.0197073)).abs() < 1e-6,
        "{:?}",
        s.pressure
    );
}

fn ff_take(ff: &mut ForceField) -> ForceField {
    std::mem::replace(ff, lj_forcefield(2.5, Truncation::Plain, false))
}

/// references.md: r_c = 2.5, ρ = 0.8442 → U_tail/N = −0.45201, P_tail = −0.76213.
#[test]
fn tail_corrections_match_references() {
    let state = lj_state(5, 0.8442, 0.0, 0);
    let n = state.n_atoms();
    let volume = state.simbox.volume().unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
    let (u, p) = lj.tail_correction(&[n], volume);
    assert!((u / n as f64 - (-0.45201)).abs() < 5e-6, "{}", u / n as f64);
    assert!((p - (-0.76213)).abs() < 5e-6, "{p}");

    let mut with_tail = LennardJonesConfig::single(1.0, 1.0, 2.5);
    with_tail.tail = true;
    let a = evaluate(with_tail.build().unwrap(), &state);
    let b = evaluate(lj, &state);
    assert!((a.energy - b.energy - u).abs() < 1e-9);
    let dp = (a.virial.trace() - b.virial.trace()) / (3.0 * volume);
    assert!((dp - p).abs() < 1e-12);
    assert_eq!(a.forces, b.forces);

    // Two species that are really one (same σ, ε) give the same correction.
    let mut two = LennardJonesConfig::single(1.0, 1.0, 2.5);
    two.species.push(LjParams {
        sigma: 1.0,
        epsilon: 1.0,
    });
    let (u2, p2) = two
        .build()
        .unwrap()
        .tail_correction(&[n / 2, n - n / 2], volume);
    assert!((u2 - u).abs() < 1e-9 && (p2 - p).abs() < 1e-12);
}

#[test]
fn mixing_rules_and_overrides() {
    let mut config = LennardJonesConfig::single(1.0, 1.0, 3.0);
    config.species.push(LjParams {
        sigma: 2.0,
        epsilon: 4.0,
    });
    let lb = config.build().unwrap().pair_params(0, 1);
    assert!((lb.sigma - 1.5).abs() < 1e-15 && (lb.epsilon - 2.0).abs() < 1e-15);
    config.mixing = Mixing::Geometric;
    let g = config.build().unwrap().pair_params(1, 0);
    assert!((g.sigma - 2f64.sqrt()).abs() < 1e-15);
    config.pairs.push(LjPairParams {
        a: 1,
        b: 0,
        params: LjParams {
            sigma: 1.1,
            epsilon: 0.3,
        },
    });
    let lj = config.build().unwrap();
    assert_eq!(
        lj.pair_params(0, 1),
        LjParams {
            sigma: 1.1,
            epsilon: 0.3
        }
    );
    // Minimum of the overridden pair at 2^(1/6) σ with depth −ε.
    let rmin = 2f64.powf(1.0 / 6.0) * 1.1;
    assert!((lj.pair_energy(0, 1, rmin) + 0.3).abs() < 1e-12);
}

#[test]
fn truncation_schemes_at_the_cutoff() {
    let rc = 2.5;
    let build = |t| {
        let mut c = LennardJonesConfig::single(1.0, 1.0, rc);
        c.truncation = t;
        c.build().unwrap()
    };
    let u = |r: f64| 4.0 * (r.powi(-12) - r.powi(-6));
    let plain = build(Truncation::Plain);
    let shifted = build(Truncation::EnergyShifted);
    let fshift = build(Truncation::ForceShifted);
    let r = rc - 1e-9;
    assert!((plain.pair_energy(0, 0, r) - u(rc)).abs() < 1e-9);
    assert!(shifted.pair_energy(0, 0, r).abs() < 1e-9);
    assert!(fshift.pair_energy(0, 0, r).abs() < 1e-15);
    // Force-shifted: the force also vanishes at the cutoff.
    let (_, fpair) = fshift.energy_and_force(0, 0, r * r);
    assert!(fpair.abs() < 1e-9);
    assert_eq!(plain.pair_energy(0, 0, rc), 0.0);
    // Tail corrections with a shifted potential are rejected, not silently wrong.
    let mut c = LennardJonesConfig::single(1.0, 1.0, rc);
    c.truncation = Truncation::EnergyShifted;
    c.tail = true;
    assert!(matches!(
        c.build(),
        Err(MdError::InvalidParameter { name: "tail", .. })
    ));
    assert!(LennardJonesConfig::single(1.0, -1.0, rc).build().is_err());
    assert!(LennardJonesConfig::single(1.0, 1.0, f64::NAN)
        .build()
        .is_err());
}

#[test]
fn unknown_species_is_an_error() {
    let mut state = lj_state(2, 0.8, 0.0, 0);
    state.species[3] = 2;
    let mut ff = lj_forcefield(2.5, Truncation::Plain, false);
    let mut out = Evaluation::zeros(state.n_atoms());
    assert!(matches!(
        ff.evaluate(&state, &mut out),
        Err(MdError::UnknownSpecies {
            atom: 3,
            species: 2,
            ..
        })
    ));
}

/// Strategy: `n` atoms, two species, in a small skewed cell (images matter) with no
/// pair closer than 0.75.
fn configurations() -> impl Strategy<Value = State> {
    (
        prop::collection::vec((0.0..1.0f64, 0.0..1.0f64, 0.0..1.0f64, 0..2u32), 4..9),
        2.6..3.4f64,
        -0.4..0.4f64,
        0.0..1.0f64,
    )
        .prop_filter_map("atoms too close", |(atoms, l, skew, kt)| {
            let cell = Mat3::new(l, skew, 0.2, 0.0, l * 1.05, skew * 0.5, 0.0, 0.0, l * 0.95);
            let simbox = SimBox::triclinic(cell).ok()?;
            let positions: Vec<Vec3> = atoms
                .iter()
                .map(|&(a, b, c, _)| cell * Vec3::new(a, b, c))
                .collect();
            let species = atoms.iter().map(|a| a.3).collect();
            let n = positions.len();
            let mut state = State::new(positions, vec![1.0; n], species, simbox).ok()?;
            ForceField::check_overlaps(&state, 0.75).ok()?;
            state.thermalize(kt + 0.1, 1).ok()?;
            Some(state)
        })
}

fn two_species(truncation: Truncation) -> PotentialSum {
    let mut c = LennardJonesConfig::single(1.0, 1.0, 2.4);
    c.species.push(LjParams {
        sigma: 0.9,
        epsilon: 0.7,
    });
    c.truncation = truncation;
    PotentialSum::new().with(c.build().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lj_forces_and_virial_are_energy_derivatives(state in configurations(), t in 0..3usize) {
        let truncation = [Truncation::Plain, Truncation::EnergyShifted, Truncation::ForceShifted][t];
        let mut ff = ForceField::new(two_species(truncation), 0.3).unwrap();
        check_gradients(&mut ff, &state, 2e-6);
    }

    #[test]
    fn energy_is_invariant_under_translation_and_lattice_shifts(state in configurations()) {
        let base = evaluate_sum(two_species(Truncation::Plain), &state);
        let mut moved = state.clone();
        let cell = *state.simbox.cell().unwrap();
        for (k, x) in moved.positions.iter_mut().enumerate() {
            *x += Vec3::new(0.31, -0.17, 0.05) + cell.column(k % 3) * (k as f64 - 2.0);
        }
        let other = evaluate_sum(two_species(Truncation::Plain), &moved);
        prop_assert!((base.energy - other.energy).abs() < 1e-9 * base.energy.abs().max(1.0));
        for (a, b) in base.forces.iter().zip(&other.forces) {
            prop_assert!((a - b).norm() < 1e-8 * (1.0 + a.norm()));
        }
        prop_assert!((base.virial - other.virial).abs().max() < 1e-8 * (1.0 + base.virial.abs().max()));
    }
}

fn evaluate_sum(p: PotentialSum, state: &State) -> Evaluation {
    evaluate(p, state)
}

/// The parallel pair loop and the brute-force path (no neighbor list) agree.
#[test]
fn list_and_brute_force_agree() {
    let state = lj_state(3, 0.9, 1.0, 3);
    let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();
    let with_list = evaluate(lj.clone(), &state);
    let config = Configuration {
        positions: &state.positions,
        species: &state.species,
        simbox: &state.simbox,
        neighbors: None,
    };
    let mut brute = Evaluation::zeros(state.n_atoms());
    lj.add_to(&config, &mut brute).unwrap();
    assert!((with_list.energy - brute.energy).abs() < 1e-9);
    assert!((with_list.virial - brute.virial).abs().max() < 1e-8);
    for (a, b) in with_list.forces.iter().zip(&brute.forces) {
        assert!((a - b).norm() < 1e-9);
    }
}

/// Pool of 2 threads vs 1 thread: same numbers to rounding.
#[test]
fn threads_agree() {
    let state = lj_state(8, 0.8442, 1.0, 3);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            evaluate(
                LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap(),
                &state,
            )
        })
    };
    let (a, b) = (run(1), run(2));
    assert!((a.energy - b.energy).abs() < 1e-9 * a.energy.abs());
    assert!((a.virial - b.virial).abs().max() < 1e-9 * a.virial.abs().max());
    for (x, y) in a.forces.iter().zip(&b.forces) {
        assert!((x - y).norm() < 1e-10);
    }
}

/// The pair loop keeps its per-thread buffers in the `Evaluation` between calls: one
/// buffer reused across systems of different sizes and force fields (with 2 threads, so
/// the rows are split) gives exactly what a fresh buffer gives.
#[test]
fn a_reused_evaluation_gives_the_same_numbers_as_a_fresh_one() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        let mut reused = Evaluation::default();
        for (cells, seed) in [(8, 1), (6, 2), (8, 3), (7, 4)] {
            let state = lj_state(cells, 0.8442, 1.0, seed);
            let mut ff = lj_forcefield(2.5, Truncation::Plain, false);
            for _ in 0..2 {
                reused.reset(state.n_atoms());
                ff.evaluate(&state, &mut reused).unwrap();
                let mut fresh = Evaluation::zeros(state.n_atoms());
                ff.evaluate(&state, &mut fresh).unwrap();
                assert_eq!(reused, fresh);
                assert_eq!(reused.energy.to_bits(), fresh.energy.to_bits());
                assert!(reused.forces.iter().zip(&fresh.forces).all(|(a, b)| a == b));
                assert_eq!(reused.virial, fresh.virial);
            }
        }
    });
}
