//! Helpers shared by the integration tests.
#![allow(dead_code)]

use thermograd_md::*;

/// An fcc Lennard-Jones system of `4 cells³` atoms (mass 1, species 0).
pub fn lj_state(cells: usize, density: f64, kt: f64, seed: u64) -> State {
    let (positions, simbox) = fcc_lattice(cells, density).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    if kt > 0.0 {
        state.thermalize(kt, seed).unwrap();
    }
    state
}

/// A force field with one LJ species.
pub fn lj_forcefield(cutoff: f64, truncation: Truncation, tail: bool) -> ForceField {
    let mut config = LennardJonesConfig::single(1.0, 1.0, cutoff);
    config.truncation = truncation;
    config.tail = tail;
    ForceField::new(PotentialSum::new().with(config.build().unwrap()), 0.3).unwrap()
}

/// Energy, forces and virial of `state` under `potential`.
pub fn evaluate(potential: impl Potential + 'static, state: &State) -> Evaluation {
    let mut ff = ForceField::new(PotentialSum::new().with(potential), 0.3).unwrap();
    let mut out = Evaluation::zeros(state.n_atoms());
    ff.evaluate(state, &mut out).unwrap();
    out
}

/// Checks forces and the full virial tensor against central finite differences of the
/// energy: `f = −∂E/∂r` and `W_ba = −∂E/∂ε_ab` under `r → (1 + ε) r`, `h → (1 + ε) h`.
pub fn check_gradients(ff: &mut ForceField, state: &State, tol: f64) {
    let mut out = Evaluation::zeros(state.n_atoms());
    ff.evaluate(state, &mut out).unwrap();
    let energy = |ff: &mut ForceField, s: &State| {
        let mut o = Evaluation::zeros(s.n_atoms());
        ff.evaluate(s, &mut o).unwrap();
        o.energy
    };
    let h = 1e-6;
    let scale = out.forces.iter().map(|f| f.norm()).fold(1.0f64, f64::max);
    for i in 0..state.n_atoms() {
        for a in 0..3 {
            let mut s = state.clone();
            s.positions[i][a] += h;
            let ep = energy(ff, &s);
            s.positions[i][a] -= 2.0 * h;
            let em = energy(ff, &s);
            let fd = -(ep - em) / (2.0 * h);
            assert!(
                (fd - out.forces[i][a]).abs() < tol * scale,
                "force {i},{a}: analytic {} vs FD {fd}",
                out.forces[i][a]
            );
        }
    }
    if state.simbox.is_periodic() {
        let wscale = out.virial.abs().max().max(1.0);
        for a in 0..3 {
            for b in 0..3 {
                let mut e = [0.0; 2];
                for (k, sign) in [1.0, -1.0].into_iter().enumerate() {
                    let mut mu = Mat3::identity();
                    mu[(a, b)] += sign * h;
                    let mut s = state.clone();
                    deform(&mut s, &mu).unwrap();
                    e[k] = energy(ff, &s);
                }
                let fd = -(e[0] - e[1]) / (2.0 * h);
                assert!(
                    (fd - out.virial[(b, a)]).abs() < tol * wscale,
                    "virial {b}{a}: analytic {} vs FD {fd}",
                    out.virial[(b, a)]
                );
            }
        }
    }
}
