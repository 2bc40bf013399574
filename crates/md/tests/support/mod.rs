//! Helpers for the tests of potentials, minimisation and observables.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_md::*;

/// A force field over one potential with a 0.3 skin.
pub fn forcefield(potential: impl Potential + 'static) -> ForceField {
    ForceField::new(PotentialSum::new().with(potential), 0.3).unwrap()
}

/// Energy, forces and virial of `state`.
pub fn eval(ff: &mut ForceField, state: &State) -> Evaluation {
    let mut out = Evaluation::zeros(state.n_atoms());
    ff.evaluate(state, &mut out).unwrap();
    out
}

/// The largest deviation of forces and of the virial from central finite differences of
/// the energy, each relative to the largest force / virial entry (at least 1):
/// `f_i = −∂E/∂r_i`, and `W_ba = −∂E/∂ε_ab` under `r → (1 + ε) r`, `h → (1 + ε) h`
/// (for `W = Σ x ⊗ f`; the transpose only matters for terms that exert a torque). In an
/// open box only the positions are deformed.
pub fn fd_errors(ff: &mut ForceField, state: &State) -> (f64, f64) {
    let out = eval(ff, state);
    let energy = |ff: &mut ForceField, s: &State| eval(ff, s).energy;
    let h = 1e-5;
    let fscale = out.forces.iter().map(|f| f.norm()).fold(1.0f64, f64::max);
    let mut ferr = 0.0f64;
    for i in 0..state.n_atoms() {
        for a in 0..3 {
            let mut s = state.clone();
            s.positions[i][a] += h;
            let ep = energy(ff, &s);
            s.positions[i][a] -= 2.0 * h;
            let em = energy(ff, &s);
            let fd = -(ep - em) / (2.0 * h);
            ferr = ferr.max((fd - out.forces[i][a]).abs() / fscale);
        }
    }
    let wscale = out.virial.abs().max().max(1.0);
    let mut werr = 0.0f64;
    for a in 0..3 {
        for b in 0..3 {
            let mut e = [0.0; 2];
            for (k, sign) in [1.0, -1.0].into_iter().enumerate() {
                let mut mu = Mat3::identity();
                mu[(a, b)] += sign * h;
                let mut s = state.clone();
                if s.simbox.is_periodic() {
                    deform(&mut s, &mu).unwrap();
                } else {
                    for r in &mut s.positions {
                        *r = mu * *r;
                    }
                }
                e[k] = energy(ff, &s);
            }
            let fd = -(e[0] - e[1]) / (2.0 * h);
            werr = werr.max((fd - out.virial[(b, a)]).abs() / wscale);
        }
    }
    (ferr, werr)
}

/// Asserts [`fd_errors`] below `tol` and returns them.
pub fn assert_fd(ff: &mut ForceField, state: &State, tol: f64, what: &str) -> (f64, f64) {
    let (f, w) = fd_errors(ff, state);
    println!("{what}: FD force error {f:.2e}, virial error {w:.2e}");
    assert!(f < tol, "{what}: force vs FD relative error {f:.3e}");
    assert!(w < tol, "{what}: virial vs FD relative error {w:.3e}");
    (f, w)
}

/// An fcc crystal of `cells³` cubic cells at `density`, sheared into a triclinic box and
/// perturbed by uniform displacements of up to `jitter` per component; species alternate
/// through `0..n_species`.
pub fn sheared_crystal(
    cells: usize,
    density: f64,
    jitter: f64,
    n_species: u32,
    seed: u64,
) -> State {
    let (positions, simbox) = fcc_lattice(cells, density).unwrap();
    let n = positions.len();
    let species = (0..n).map(|k| k as u32 % n_species).collect();
    let mut state = State::new(positions, vec![1.0; n], species, simbox).unwrap();
    let mu = Mat3::new(1.0, 0.21, -0.13, 0.0, 1.0, 0.17, 0.0, 0.0, 1.0);
    deform(&mut state, &mu).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for r in &mut state.positions {
        for c in 0..3 {
            r[c] += jitter * (2.0 * rng.gen::<f64>() - 1.0);
        }
    }
    state
}

/// Uniformly random positions in `simbox` (periodic), fractional coordinates uniform.
pub fn random_positions(n: usize, simbox: &SimBox, rng: &mut ChaCha8Rng) -> Vec<Vec3> {
    (0..n)
        .map(|_| {
            let s = Vec3::new(rng.gen(), rng.gen(), rng.gen());
            simbox.to_cartesian(&s).unwrap()
        })
        .collect()
}
