//! Ewald summation and the damped shifted-force Coulomb form: the NaCl Madelung constant
//! (cubic and primitive triclinic cells), forces and virial against finite differences,
//! DSF against Ewald.

mod support;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::*;
use thermograd_md::*;

/// Madelung constant of rock salt per ion pair, in units of k_e e²/d with d the
/// nearest-neighbour distance (Kittel; 1.747564595).
const MADELUNG_NACL: f64 = 1.747_564_595;

fn ewald(cutoff: f64, tolerance: f64) -> Ewald {
    EwaldConfig {
        charges: vec![1.0, -1.0],
        coulomb_constant: 1.0,
        cutoff,
        tolerance,
        alpha: None,
        k_max: None,
    }
    .build()
    .unwrap()
}

/// Rock salt with nearest-neighbour distance 1 (cubic cell edge 2), `cells³` conventional
/// cells of 8 ions; species 0 = Na⁺, 1 = Cl⁻.
fn rock_salt(cells: usize) -> State {
    let mut positions = Vec::new();
    let mut species = Vec::new();
    for i in 0..2 * cells {
        for j in 0..2 * cells {
            for k in 0..2 * cells {
                positions.push(Vec3::new(i as f64, j as f64, k as f64));
                species.push(((i + j + k) % 2) as u32);
            }
        }
    }
    let n = positions.len();
    State::new(
        positions,
        vec![1.0; n],
        species,
        SimBox::cubic(2.0 * cells as f64).unwrap(),
    )
    .unwrap()
}

#[test]
fn ewald_gives_the_madelung_constant_of_rock_salt() {
    // Conventional cubic cells, with a real-space cutoff beyond half the box (several
    // images per pair).
    for (cells, cutoff) in [(1, 1.9), (2, 1.9), (2, 3.5)] {
        let state = rock_salt(cells);
        let out = eval(&mut forcefield(ewald(cutoff, 1e-10)), &state);
        let per_pair = out.energy / (state.n_atoms() as f64 / 2.0);
        println!("cubic {cells}³, r_c = {cutoff}: E per ion pair = {per_pair:.10}");
        assert!((per_pair + MADELUNG_NACL).abs() < 1e-7, "{per_pair}");
        assert!(out.forces.iter().all(|f| f.norm() < 1e-8));
        // A cubic crystal in equilibrium: isotropic virial W = E/3 per axis (E ∝ 1/L).
        for a in 0..3 {
            assert!((out.virial[(a, a)] - out.energy / 3.0).abs() < 1e-7 * out.energy.abs());
        }
    }
    // The primitive (rhombohedral) cell of two ions, a triclinic box.
    let h = Mat3::new(0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0);
    let simbox = SimBox::triclinic(h).unwrap();
    let state = State::new(
        vec![Vec3::zeros(), Vec3::new(1.0, 0.0, 0.0)],
        vec![1.0; 2],
        vec![0, 1],
        simbox,
    )
    .unwrap();
    let out = eval(&mut forcefield(ewald(2.5, 1e-10)), &state);
    println!(
        "primitive triclinic cell: E per ion pair = {:.10}",
        out.energy
    );
    assert!((out.energy + MADELUNG_NACL).abs() < 1e-7, "{}", out.energy);
}

#[test]
fn ewald_does_not_depend_on_the_splitting() {
    let state = sheared_crystal(2, 0.3, 0.3, 2, 11);
    let energies: Vec<f64> = [(2.0, 1e-10), (3.0, 1e-10), (4.5, 1e-12)]
        .iter()
        .map(|&(rc, tol)| eval(&mut forcefield(ewald(rc, tol)), &state).energy)
        .collect();
    println!("Ewald energies for three splittings: {energies:?}");
    for e in &energies[1..] {
        assert!((e - energies[0]).abs() < 1e-7 * energies[0].abs());
    }
}

#[test]
fn ewald_forces_and_virial_match_finite_differences() {
    // Neutral, triclinic; and a non-neutral orthorhombic one (neutralising background).
    let state = sheared_crystal(2, 0.3, 0.3, 2, 12);
    assert_eq!(state.simbox.kind(), thermograd_geometry::BoxKind::Triclinic);
    assert_fd(
        &mut forcefield(ewald(3.0, 1e-10)),
        &state,
        1e-6,
        "ewald triclinic",
    );

    let mut charged = rock_salt(1);
    charged.species[0] = 1;
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for r in &mut charged.positions {
        *r += Vec3::new(rng.gen(), rng.gen(), rng.gen()) * 0.3;
    }
    let e = EwaldConfig {
        charges: vec![0.7, -1.2],
        coulomb_constant: 2.0,
        cutoff: 1.8,
        tolerance: 1e-10,
        alpha: None,
        k_max: None,
    }
    .build()
    .unwrap();
    assert_fd(
        &mut forcefield(e),
        &charged,
        1e-6,
        "ewald charged orthorhombic",
    );
}

#[test]
fn ewald_needs_a_periodic_box() {
    let state = State::new(
        vec![Vec3::zeros(), Vec3::new(1.0, 0.0, 0.0)],
        vec![1.0; 2],
        vec![0, 1],
        SimBox::open(),
    )
    .unwrap();
    let mut out = Evaluation::zeros(2);
    assert!(matches!(
        forcefield(ewald(2.0, 1e-6)).evaluate(&state, &mut out),
        Err(MdError::NeedsPeriodicBox { .. })
    ));
}

fn dsf(cutoff: f64, alpha: f64) -> DampedShiftedForce {
    DsfConfig {
        charges: vec![1.0, -1.0],
        coulomb_constant: 1.0,
        cutoff,
        alpha,
    }
    .build()
    .unwrap()
}

#[test]
fn dsf_gradients_and_continuity() {
    let pot = dsf(2.5, 0.6);
    // Energy and force vanish at the cutoff.
    let r2 = (2.5f64 * (1.0 - 1e-9)).powi(2);
    let (u, f) = pot.energy_and_force(0, 1, r2);
    assert!(u.abs() < 1e-8 && f.abs() < 1e-8, "{u} {f}");
    let state = sheared_crystal(2, 0.3, 0.3, 2, 14);
    assert_fd(&mut forcefield(pot), &state, 1e-7, "dsf triclinic");
}

/// Rock salt (4³ conventional cells, 512 ions, d = 1) with every ion displaced at random
/// by up to ±0.3 per component: a disordered neutral system with the charge ordering of
/// an ionic condensed phase. The random displacements are uncorrelated dipoles whose
/// field beyond `R_c` DSF drops, so the force error falls off like `(d/R_c)^{3/2}`:
/// about 10% at `R_c = 3.9` and 4–5% at `R_c = 5.5` (α = 0.3).
#[test]
fn dsf_agrees_with_ewald_on_a_disordered_ionic_system() {
    let mut state = rock_salt(4);
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for r in &mut state.positions {
        *r += Vec3::new(rng.gen(), rng.gen(), rng.gen()).map(|x| 0.6 * x - 0.3);
    }
    let n = state.n_atoms() as f64;
    let reference = eval(&mut forcefield(ewald(3.9, 1e-8)), &state);
    let errors = |cutoff: f64| {
        let approx = eval(&mut forcefield(dsf(cutoff, 0.3)), &state);
        let de = (approx.energy - reference.energy) / reference.energy.abs();
        let num: f64 = approx
            .forces
            .iter()
            .zip(&reference.forces)
            .map(|(a, b)| (a - b).norm_squared())
            .sum();
        let den: f64 = reference.forces.iter().map(|f| f.norm_squared()).sum();
        let force_err = (num / den).sqrt();
        println!(
            "DSF (R_c = {cutoff}, α = 0.3) vs Ewald: energy per ion {:.6} vs {:.6} \
             (relative {de:.2e}), relative RMS force error {force_err:.2e}",
            approx.energy / n,
            reference.energy / n
        );
        (de.abs(), force_err)
    };
    let (de_short, f_short) = errors(3.9);
    let (de_long, f_long) = errors(5.5);
    assert!(de_long < 2.5e-2, "relative energy error {de_long}");
    assert!(f_long < 8e-2, "relative RMS force error {f_long}");
    assert!(de_long < de_short && f_long < f_short);
}
