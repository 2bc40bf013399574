//! Cross-crate validation: the fcc Lennard-Jones lattice sum from references.md, through
//! three different cells and three different pair searches.

use thermograd::geometry::{Mat3, SimBox, Vec3};
use thermograd::neighbors::{
    brute_force_pairs, CellList, ListKind, NeighborList, NeighborListConfig,
};

fn lj(r2: f64) -> f64 {
    let inv6 = 1.0 / (r2 * r2 * r2);
    4.0 * (inv6 * inv6 - inv6)
}

fn fcc(cells: usize, a: f64) -> Vec<Vec3> {
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut r = Vec::new();
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                for b in basis {
                    r.push(Vec3::new(i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]) * a);
                }
            }
        }
    }
    r
}

fn verlet_energy(positions: &[Vec3], simbox: &SimBox, cutoff: f64) -> f64 {
    let mut list = NeighborList::new(NeighborListConfig {
        cutoff,
        skin: 0.3,
        kind: ListKind::Half,
    })
    .unwrap();
    list.update(positions, simbox).unwrap();
    let mut e = 0.0;
    list.for_each_pair(|p| e += lj(p.r2));
    e / positions.len() as f64
}

/// LAMMPS bench/in.lj, step 0 (shared/references.md): −6.7733681 per atom at cutoff 2.5,
/// −6.9361631 at cutoff 3.0; the pair virial Σ r·f / N is −22.1581993 at 2.5.
#[test]
fn fcc_lattice_sum_matches_lammps_in_every_cell() {
    let a = (4.0 / 0.8442f64).cbrt();
    assert!((a - 1.6795962).abs() < 1e-7);
    for (cutoff, reference) in [(2.5, -6.7733681), (3.0, -6.9361631)] {
        // Conventional cubic cell, 4·5³ atoms (cutoff below half the box).
        let cubic = SimBox::cubic(5.0 * a).unwrap();
        let e = verlet_energy(&fcc(5, a), &cubic, cutoff);
        assert!((e - reference).abs() < 5e-7, "cubic: {e}");

        // The same crystal in a 2×2×2 cubic cell: box 3.36 < 2·cutoff, many images.
        let small = SimBox::cubic(2.0 * a).unwrap();
        let e = verlet_energy(&fcc(2, a), &small, cutoff);
        assert!((e - reference).abs() < 5e-7, "small cubic: {e}");

        // One atom in the primitive rhombohedral cell: only self-image pairs.
        let primitive = SimBox::triclinic(Mat3::from_columns(&[
            Vec3::new(0.0, 0.5, 0.5) * a,
            Vec3::new(0.5, 0.0, 0.5) * a,
            Vec3::new(0.5, 0.5, 0.0) * a,
        ]))
        .unwrap();
        let e = verlet_energy(&[Vec3::new(0.3, -0.2, 0.1)], &primitive, cutoff);
        assert!((e - reference).abs() < 5e-7, "primitive: {e}");

        let pos = fcc(2, a);
        let cells: f64 = CellList::new(&pos, &small, cutoff)
            .unwrap()
            .pairs(ListKind::Half)
            .iter()
            .map(|p| lj(p.r2))
            .sum();
        let brute: f64 = brute_force_pairs(&pos, &small, cutoff, ListKind::Half)
            .unwrap()
            .iter()
            .map(|p| lj(p.r2))
            .sum();
        assert!((cells / pos.len() as f64 - reference).abs() < 5e-7);
        assert!((brute / pos.len() as f64 - reference).abs() < 5e-7);
    }
}

#[test]
fn fcc_pair_virial_matches_lammps() {
    let a = (4.0 / 0.8442f64).cbrt();
    let pos = fcc(4, a);
    let simbox = SimBox::cubic(4.0 * a).unwrap();
    let mut list = NeighborList::new(NeighborListConfig {
        cutoff: 2.5,
        skin: 0.3,
        kind: ListKind::Half,
    })
    .unwrap();
    list.update(&pos, &simbox).unwrap();
    // r·f for LJ is 48 r⁻¹² − 24 r⁻⁶.
    let mut w = 0.0;
    list.for_each_pair(|p| {
        let inv6 = 1.0 / (p.r2 * p.r2 * p.r2);
        w += 48.0 * inv6 * inv6 - 24.0 * inv6;
    });
    assert!((w / pos.len() as f64 - (-22.1581993)).abs() < 5e-6);
}
