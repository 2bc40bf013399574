//! Morse, soft sphere, WCA, tabulated pairs, restraints and the bonded prior: forces and
//! the full virial against finite differences of the energy (orthorhombic, triclinic
//! and open boxes), plus closed-form checks.

mod support;

use std::f64::consts::PI;

use support::*;
use thermograd_md::*;

fn morse_params(r0: f64) -> MorseParams {
    MorseParams {
        depth: 0.8,
        stiffness: 2.0,
        r0,
    }
}

#[test]
fn morse_closed_form_and_gradients() {
    let p = morse_params(1.1);
    let morse = MorseConfig::single(p, 2.5).build().unwrap();
    // Minimum −D at r₀, zero at r₀ − ln 2 / a.
    let (u, f) = morse.energy_and_force(0, 0, 1.1 * 1.1);
    assert!((u + 0.8).abs() < 1e-14 && f.abs() < 1e-14);
    let r = 1.1 - 2f64.ln() / 2.0;
    assert!(morse.energy_and_force(0, 0, r * r).0.abs() < 1e-14);

    // Two species with their own parameters, shifted, in a triclinic box whose cutoff
    // exceeds half the cell (several images per neighbour).
    let config = MorseConfig {
        pairs: vec![
            SpeciesPair {
                a: 0,
                b: 0,
                params: morse_params(1.1),
            },
            SpeciesPair {
                a: 0,
                b: 1,
                params: morse_params(1.2),
            },
            SpeciesPair {
                a: 1,
                b: 1,
                params: morse_params(1.0),
            },
        ],
        cutoff: 2.2,
        shift: true,
    };
    let state = sheared_crystal(2, 0.8, 0.08, 2, 1);
    assert_fd(
        &mut forcefield(config.build().unwrap()),
        &state,
        1e-7,
        "morse",
    );
}

#[test]
fn soft_sphere_and_wca_gradients() {
    for n in [12, 7] {
        let mut config = SoftSphereConfig::single(1.0, 1.0, n, 2.0);
        config.shift = true;
        let ss = config.build().unwrap();
        let (u, f) = ss.energy_and_force(0, 0, 1.5 * 1.5);
        let want = 1.5f64.powi(-(n as i32)) - 2f64.powi(-(n as i32));
        assert!((u - want).abs() < 1e-14);
        assert!((f - n as f64 * 1.5f64.powi(-(n as i32)) / 2.25).abs() < 1e-14);
        let state = sheared_crystal(2, 0.9, 0.08, 1, 2);
        assert_fd(
            &mut forcefield(ss),
            &state,
            1e-7,
            &format!("soft sphere n={n}"),
        );
    }

    let wca = WcaConfig {
        pairs: vec![
            SpeciesPair {
                a: 0,
                b: 0,
                params: LjParams {
                    sigma: 1.0,
                    epsilon: 1.0,
                },
            },
            SpeciesPair {
                a: 0,
                b: 1,
                params: LjParams {
                    sigma: 1.1,
                    epsilon: 0.7,
                },
            },
            SpeciesPair {
                a: 1,
                b: 1,
                params: LjParams {
                    sigma: 1.2,
                    epsilon: 1.5,
                },
            },
        ],
    }
    .build()
    .unwrap();
    // Energy and force vanish continuously at 2^{1/6} σ.
    let rc = 2f64.powf(1.0 / 6.0) * 1.2;
    let (u, f) = wca.energy_and_force(1, 1, (rc * (1.0 - 1e-9)).powi(2));
    assert!(u.abs() < 1e-7 && f.abs() < 1e-6, "{u} {f}");
    assert_eq!(Potential::cutoff(&wca), Some(rc));
    let state = sheared_crystal(2, 0.95, 0.1, 2, 3);
    let out = eval(&mut forcefield(wca.clone()), &state);
    assert!(out.energy > 0.0);
    assert_fd(&mut forcefield(wca), &state, 1e-7, "wca");
}

#[test]
fn tabulated_lj_matches_analytic_lj() {
    let lj = |r: f64| 4.0 * (r.powi(-12) - r.powi(-6));
    let r: Vec<f64> = (0..=190).map(|k| 0.8 + 0.01 * k as f64).collect();
    let u: Vec<f64> = r.iter().map(|&r| lj(r)).collect();
    let table = TabulatedPairConfig::single(r, u, 2.5).build().unwrap();
    let exact = LennardJonesConfig::single(1.0, 1.0, 2.5).build().unwrap();

    let state = sheared_crystal(2, 0.8442, 0.05, 1, 4);
    let e_table = eval(&mut forcefield(table.clone()), &state);
    let e_exact = eval(&mut forcefield(exact), &state);
    let n = state.n_atoms() as f64;
    println!(
        "tabulated LJ: {} vs analytic {} per atom",
        e_table.energy / n,
        e_exact.energy / n
    );
    assert!(((e_table.energy - e_exact.energy) / n).abs() < 1e-4);
    for (a, b) in e_table.forces.iter().zip(&e_exact.forces) {
        assert!((a - b).norm() < 1e-2);
    }
    // The force is the spline's own derivative, so FD agreement is exact up to FD error.
    assert_fd(&mut forcefield(table), &state, 1e-7, "tabulated");
}

#[test]
fn tabulated_pair_below_the_table_is_an_error() {
    let r: Vec<f64> = (0..=20).map(|k| 1.2 + 0.05 * k as f64).collect();
    let u: Vec<f64> = r.iter().map(|&r| (-r).exp()).collect();
    let table = TabulatedPairConfig::single(r, u, 2.0).build().unwrap();
    // fcc at density 0.8442: nearest neighbours at 1.19 < 1.2.
    let (positions, simbox) = fcc_lattice(2, 0.8442).unwrap();
    let n = positions.len();
    let state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    let mut ff = forcefield(table);
    let mut out = Evaluation::zeros(n);
    match ff.evaluate(&state, &mut out) {
        Err(MdError::OutsideTable { r, r_min }) => {
            assert!((r - 1.6795962 / 2f64.sqrt()).abs() < 1e-6 && r_min == 1.2)
        }
        other => panic!("expected OutsideTable, got {other:?}"),
    }
}

#[test]
fn restraints_energy_forces_and_asymmetric_virial() {
    // Triclinic periodic box: targets far from the atoms' unwrapped positions are reached
    // through the minimum image.
    let mut state = sheared_crystal(1, 0.5, 0.3, 1, 5);
    let h = *state.simbox.cell().unwrap();
    let targets: Vec<Vec3> = state
        .positions
        .iter()
        .enumerate()
        .map(|(k, r)| r + Vec3::new(0.3, -0.2, 0.1 * k as f64) + h * Vec3::new(1.0, -2.0, 0.0))
        .collect();
    let restraints = HarmonicRestraints::new(
        targets
            .iter()
            .enumerate()
            .map(|(atom, &target)| Restraint {
                atom,
                target,
                k: 1.0 + atom as f64,
            })
            .collect(),
    )
    .unwrap();
    let out = eval(&mut forcefield(restraints.clone()), &state);
    let want: f64 = (0..4)
        .map(|k| 0.5 * (1.0 + k as f64) * (0.13 + 0.01 * (k * k) as f64))
        .sum();
    assert!(
        (out.energy - want).abs() < 1e-12,
        "{} vs {want}",
        out.energy
    );
    // A torque: the virial is not symmetric, and the FD check (which compares W with
    // −(∂E/∂ε)ᵀ) must still hold.
    assert!((out.virial - out.virial.transpose()).norm() > 1e-3);
    assert_fd(
        &mut forcefield(restraints.clone()),
        &state,
        1e-7,
        "restraints triclinic",
    );

    // Open box.
    state.simbox = SimBox::open();
    let open = HarmonicRestraints::all_atoms(&[Vec3::new(1.0, 2.0, -1.0); 4], 3.0).unwrap();
    assert_fd(&mut forcefield(open), &state, 1e-7, "restraints open");
}

fn butane_like_topology() -> Topology {
    Topology {
        bonds: (0..5)
            .map(|i| Bond {
                atoms: [i, i + 1],
                k: 300.0 + 10.0 * i as f64,
                r0: 1.0,
            })
            .collect(),
        angles: (0..4)
            .map(|i| Angle {
                atoms: [i, i + 1, i + 2],
                k: 50.0,
                theta0: 1.9 + 0.05 * i as f64,
            })
            .collect(),
        dihedrals: (0..3)
            .map(|i| Dihedral {
                atoms: [i, i + 1, i + 2, i + 3],
                terms: vec![
                    CosineTerm {
                        multiplicity: 1,
                        k: 1.3,
                        phase: 0.2,
                    },
                    CosineTerm {
                        multiplicity: 2,
                        k: -0.7,
                        phase: PI,
                    },
                    CosineTerm {
                        multiplicity: 3,
                        k: 2.1,
                        phase: 0.0,
                    },
                ],
            })
            .collect(),
    }
}

fn chain_positions() -> Vec<Vec3> {
    vec![
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(1.05, 0.1, 0.0),
        Vec3::new(1.5, 1.0, 0.2),
        Vec3::new(2.6, 1.2, 0.9),
        Vec3::new(3.0, 2.1, 1.6),
        Vec3::new(4.1, 2.0, 2.3),
    ]
}

#[test]
fn bonded_prior_gradients_across_periodic_boundaries() {
    let prior = BondedPrior::new(butane_like_topology(), 6).unwrap();
    let positions = chain_positions();
    // Open box.
    let open = State::new(positions.clone(), vec![1.0; 6], vec![0; 6], SimBox::open()).unwrap();
    let e_open = eval(&mut forcefield(prior.clone()), &open).energy;
    assert_fd(&mut forcefield(prior.clone()), &open, 1e-7, "bonded open");

    // A triclinic box in which the chain crosses the faces: wrapped positions give the
    // same energy and gradients as the unwrapped chain.
    let simbox = SimBox::from_lengths_angles([3.5, 3.2, 3.8], [80.0, 95.0, 70.0]).unwrap();
    let wrapped: Vec<Vec3> = positions.iter().map(|r| simbox.wrap(r)).collect();
    assert!(wrapped
        .iter()
        .zip(&positions)
        .any(|(a, b)| (a - b).norm() > 1.0));
    let periodic = State::new(wrapped, vec![1.0; 6], vec![0; 6], simbox).unwrap();
    let out = eval(&mut forcefield(prior.clone()), &periodic);
    assert!((out.energy - e_open).abs() < 1e-10 * e_open.abs().max(1.0));
    assert_fd(
        &mut forcefield(prior.clone()),
        &periodic,
        1e-7,
        "bonded triclinic",
    );
    // Translation invariance: forces sum to zero; rotation invariance: symmetric virial.
    let total: Vec3 = out.forces.iter().sum();
    assert!(total.norm() < 1e-10);
    assert!((out.virial - out.virial.transpose()).norm() < 1e-9);

    // A bond longer than half the shortest lattice vector is ambiguous.
    let small = SimBox::cubic(1.8).unwrap();
    let bad = State::new(chain_positions(), vec![1.0; 6], vec![0; 6], small).unwrap();
    let mut out = Evaluation::zeros(6);
    assert!(matches!(
        forcefield(prior).evaluate(&bad, &mut out),
        Err(MdError::AmbiguousImage { .. })
    ));
}

#[test]
fn dihedral_and_angle_values() {
    // One dihedral term k(1 + cos φ): E = k(1 + cos φ) tells φ. Atoms 1 along +x, 4 along
    // +y of the 2→3 axis (+z): IUPAC φ = +90°, so a phase of +90° gives E = 2k.
    let pos = vec![
        Vec3::new(1.0, 0.0, 0.0),
        Vec3::zeros(),
        Vec3::new(0.0, 0.0, 1.0),
        Vec3::new(0.0, 1.0, 1.0),
    ];
    let energy = |phase: f64, pos: &[Vec3]| {
        let topo = Topology {
            dihedrals: vec![Dihedral {
                atoms: [0, 1, 2, 3],
                terms: vec![CosineTerm {
                    multiplicity: 1,
                    k: 1.0,
                    phase,
                }],
            }],
            ..Topology::default()
        };
        let state = State::new(pos.to_vec(), vec![1.0; 4], vec![0; 4], SimBox::open()).unwrap();
        eval(&mut forcefield(BondedPrior::new(topo, 4).unwrap()), &state).energy
    };
    assert!((energy(PI / 2.0, &pos) - 2.0).abs() < 1e-12);
    assert!((energy(-PI / 2.0, &pos) - 0.0).abs() < 1e-12);
    // Cis (φ = 0): 1 + cos(0) = 2.
    let mut cis = pos.clone();
    cis[3] = Vec3::new(1.0, 0.0, 1.0);
    assert!((energy(0.0, &cis) - 2.0).abs() < 1e-12);

    // A right angle with θ₀ = 90°: zero energy; θ₀ = 60°: ½ k (π/6)².
    let angle = |theta0: f64| {
        let topo = Topology {
            angles: vec![Angle {
                atoms: [0, 1, 2],
                k: 2.0,
                theta0,
            }],
            ..Topology::default()
        };
        let state =
            State::new(pos[..3].to_vec(), vec![1.0; 3], vec![0; 3], SimBox::open()).unwrap();
        eval(&mut forcefield(BondedPrior::new(topo, 3).unwrap()), &state).energy
    };
    assert!(angle(PI / 2.0).abs() < 1e-14);
    assert!((angle(PI / 3.0) - (PI / 6.0).powi(2)).abs() < 1e-12);
}

#[test]
fn invalid_topologies_are_errors() {
    let mut t = butane_like_topology();
    assert!(BondedPrior::new(t.clone(), 5).is_err());
    t.bonds[0].atoms = [1, 1];
    assert!(BondedPrior::new(t.clone(), 6).is_err());
    let mut t = butane_like_topology();
    t.dihedrals[0].terms[0].multiplicity = 0;
    assert!(BondedPrior::new(t, 6).is_err());
}
