//! Coarse-grain maps: periodic images, consistency conditions, bad input.

use thermograd_geometry::{Bead, GeometryError, LinearMap, SimBox, Vec3};

#[test]
fn center_of_mass_across_a_triclinic_boundary() {
    let b = SimBox::from_lengths_angles([4.0, 4.0, 4.0], [90.0, 90.0, 60.0]).unwrap();
    let masses = [12.0, 1.0, 1.0];
    let map = LinearMap::center_of_mass(3, &[vec![0, 1, 2]], &masses).unwrap();
    // A molecule built around a center, then one atom moved by a lattice vector.
    let center = Vec3::new(0.1, 0.1, 0.1);
    let offsets = [
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(0.5, 0.2, 0.0),
        Vec3::new(-0.3, 0.4, 0.1),
    ];
    let mut r: Vec<Vec3> = offsets.iter().map(|o| center + o).collect();
    let true_com = r
        .iter()
        .zip(&masses)
        .fold(Vec3::zeros(), |acc, (x, m)| acc + x * *m)
        / 14.0;
    let lattice = b.cell().unwrap().column(1).into_owned();
    r[2] += lattice;
    let got = map.map_positions(&r, &b).unwrap()[0];
    assert!(b.distance(&got, &true_com) < 1e-12);
    // The result is wrapped into the cell.
    let s = b.to_fractional(&got).unwrap();
    assert!(s.iter().all(|x| (0.0..1.0).contains(x)));
}

#[test]
fn mapped_forces_are_bead_totals_and_consistent() {
    let map =
        LinearMap::center_of_mass(5, &[vec![0, 1], vec![2, 3, 4]], &[1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap();
    let f: Vec<Vec3> = (0..5)
        .map(|k| Vec3::new(k as f64, 1.0, -(k as f64)))
        .collect();
    let mapped = map.map_forces(&f).unwrap();
    assert_eq!(mapped[0], Vec3::new(1.0, 2.0, -1.0));
    assert_eq!(mapped[1], Vec3::new(9.0, 3.0, -9.0));
}

#[test]
fn map_commutes_with_translation_in_open_space() {
    let beads = vec![
        Bead {
            atoms: vec![0, 1],
            position_weights: vec![0.25, 0.75],
            force_weights: vec![1.0, 1.0],
        },
        Bead {
            atoms: vec![2],
            position_weights: vec![1.0],
            force_weights: vec![1.0],
        },
    ];
    let map = LinearMap::new(3, beads).unwrap();
    let b = SimBox::open();
    let r = [
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(4.0, 0.0, 0.0),
        Vec3::new(1.0, 2.0, 3.0),
    ];
    let shift = Vec3::new(-3.0, 5.0, 0.5);
    let moved: Vec<Vec3> = r.iter().map(|x| x + shift).collect();
    let a = map.map_positions(&r, &b).unwrap();
    let c = map.map_positions(&moved, &b).unwrap();
    assert_eq!(a[0], Vec3::new(3.0, 0.0, 0.0));
    for (x, y) in a.iter().zip(&c) {
        assert!((y - x - shift).norm() < 1e-12);
    }
}

#[test]
fn inconsistent_maps_are_rejected() {
    let bead = |atoms: Vec<usize>, c: Vec<f64>, d: Vec<f64>| Bead {
        atoms,
        position_weights: c,
        force_weights: d,
    };
    // Position weights not summing to one.
    assert!(matches!(
        LinearMap::new(2, vec![bead(vec![0, 1], vec![0.5, 0.6], vec![1.0, 1.0])]),
        Err(GeometryError::InvalidMap { bead: 0, .. })
    ));
    // Force weights violating Σ d·c = 1.
    assert!(matches!(
        LinearMap::new(2, vec![bead(vec![0, 1], vec![0.5, 0.5], vec![0.5, 0.5])]),
        Err(GeometryError::InvalidMap { .. })
    ));
    // A shared atom with naive force weights makes Σ d_I c_J nonzero for I ≠ J.
    assert!(matches!(
        LinearMap::new(
            3,
            vec![
                bead(vec![0, 1], vec![0.5, 0.5], vec![1.0, 1.0]),
                bead(vec![1, 2], vec![0.5, 0.5], vec![1.0, 1.0]),
            ]
        ),
        Err(GeometryError::InvalidMap { .. })
    ));
    assert!(matches!(
        LinearMap::new(2, vec![bead(vec![0, 5], vec![0.5, 0.5], vec![1.0, 1.0])]),
        Err(GeometryError::AtomOutOfRange { index: 5, .. })
    ));
    assert!(matches!(
        LinearMap::center_of_mass(2, &[vec![0, 1]], &[1.0, 0.0]),
        Err(GeometryError::InvalidMap { .. })
    ));
    assert!(matches!(
        LinearMap::center_of_mass(2, &[vec![0, 1]], &[1.0]),
        Err(GeometryError::LengthMismatch { .. })
    ));
    let map = LinearMap::center_of_mass(2, &[vec![0, 1]], &[1.0, 1.0]).unwrap();
    assert!(matches!(
        map.map_forces(&[Vec3::zeros()]),
        Err(GeometryError::LengthMismatch {
            expected: 2,
            got: 1,
            ..
        })
    ));
}
