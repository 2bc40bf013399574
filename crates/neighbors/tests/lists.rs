//! Cell list = Verlet list = brute force, in every kind of box.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_neighbors::{
    brute_force_pairs, sort_pairs, CellList, ListKind, NeighborError, NeighborList,
    NeighborListConfig, Pair,
};

fn assert_same(mut got: Vec<Pair>, mut want: Vec<Pair>, what: &str) {
    sort_pairs(&mut got);
    sort_pairs(&mut want);
    assert_eq!(got.len(), want.len(), "{what}: pair counts differ");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.i, g.j), (w.i, w.j), "{what}: pair indices differ");
        assert!(
            (g.d - w.d).norm() < 1e-9,
            "{what}: displacement {} vs {}",
            g.d,
            w.d
        );
        assert!((g.r2 - g.d.norm_squared()).abs() < 1e-9);
    }
}

fn random_positions(rng: &mut ChaCha8Rng, simbox: &SimBox, n: usize) -> Vec<Vec3> {
    (0..n)
        .map(|_| {
            // Spread over several cells so wrapping is exercised.
            let s = Vec3::new(
                rng.gen_range(-1.5..2.5),
                rng.gen_range(-1.5..2.5),
                rng.gen_range(-1.5..2.5),
            );
            match simbox.cell() {
                Some(h) => h * s,
                None => s * 4.0,
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Shape {
    Open,
    Ortho([f64; 3]),
    Tri(Mat3),
}

fn shape() -> impl Strategy<Value = Shape> {
    let len = || 1.0f64..7.0;
    prop_oneof![
        Just(Shape::Open),
        (len(), len(), len()).prop_map(|(a, b, c)| Shape::Ortho([a, b, c])),
        (
            len(),
            len(),
            len(),
            -1.5f64..1.5,
            -1.5f64..1.5,
            -1.5f64..1.5
        )
            .prop_map(|(lx, ly, lz, xy, xz, yz)| Shape::Tri(Mat3::new(
                lx,
                xy * lx,
                xz * lx,
                0.0,
                ly,
                yz * ly,
                0.0,
                0.0,
                lz
            ))),
    ]
}

fn build_box(shape: &Shape) -> SimBox {
    match shape {
        Shape::Open => SimBox::open(),
        Shape::Ortho(l) => SimBox::orthorhombic(*l).unwrap(),
        Shape::Tri(h) => SimBox::triclinic(*h).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// Random boxes (including cells smaller than twice the cutoff, where several images
    /// of a neighbour and of an atom itself interact), densities and cutoffs.
    #[test]
    fn cell_list_and_verlet_list_equal_brute_force(
        shape in shape(), n in 1usize..40, cutoff in 0.3f64..3.0, skin in 0.0f64..0.5,
        seed in any::<u64>(), full in any::<bool>()
    ) {
        let simbox = build_box(&shape);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let positions = random_positions(&mut rng, &simbox, n);
        let kind = if full { ListKind::Full } else { ListKind::Half };
        let reference = brute_force_pairs(&positions, &simbox, cutoff, kind).unwrap();

        let cells = CellList::new(&positions, &simbox, cutoff).unwrap();
        assert_same(cells.pairs(kind), reference.clone(), "cell list");

        let mut list = NeighborList::new(NeighborListConfig { cutoff, skin, kind }).unwrap();
        prop_assert!(list.update(&positions, &simbox).unwrap());
        assert_same(list.pairs_within_cutoff(), reference, "verlet list");

        // Small moves keep the list; large moves rebuild it; both stay exact.
        for step in 0..4 {
            let amplitude = if step < 2 { 0.2 * skin } else { 1.5 };
            let moved: Vec<Vec3> = positions
                .iter()
                .map(|r| r + Vec3::new(
                    rng.gen_range(-amplitude..=amplitude) / 3f64.sqrt(),
                    rng.gen_range(-amplitude..=amplitude) / 3f64.sqrt(),
                    rng.gen_range(-amplitude..=amplitude) / 3f64.sqrt(),
                ))
                .collect();
            let rebuilt = list.update(&moved, &simbox).unwrap();
            if step < 2 {
                prop_assert!(!rebuilt || skin == 0.0);
            }
            let reference = brute_force_pairs(&moved, &simbox, cutoff, kind).unwrap();
            assert_same(list.pairs_within_cutoff(), reference, "verlet list after moves");
        }
    }

    #[test]
    fn full_list_is_the_half_list_from_both_sides(
        shape in shape(), n in 1usize..30, cutoff in 0.3f64..3.0, seed in any::<u64>()
    ) {
        let simbox = build_box(&shape);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let positions = random_positions(&mut rng, &simbox, n);
        let cells = CellList::new(&positions, &simbox, cutoff).unwrap();
        let half = cells.pairs(ListKind::Half);
        let mut mirrored = half.clone();
        mirrored.extend(half.iter().map(|p| Pair { i: p.j, j: p.i, d: -p.d, r2: p.r2 }));
        assert_same(cells.pairs(ListKind::Full), mirrored, "full vs mirrored half");
    }
}

#[test]
fn a_lone_atom_in_a_tiny_box_sees_its_own_images() {
    // Cubic box of side 1, cutoff 1.5: the 6 face images (|L| = 1) and 12 edge images
    // (|L| = √2 ≈ 1.414) are within the cutoff; corner images (√3 ≈ 1.73) are not.
    let simbox = SimBox::cubic(1.0).unwrap();
    let positions = [Vec3::new(0.3, 0.6, 0.9)];
    let full = CellList::new(&positions, &simbox, 1.5)
        .unwrap()
        .pairs(ListKind::Full);
    assert_eq!(full.len(), 18);
    let half = CellList::new(&positions, &simbox, 1.5)
        .unwrap()
        .pairs(ListKind::Half);
    assert_eq!(half.len(), 9);
}

#[test]
fn box_change_triggers_a_rebuild() {
    let simbox = SimBox::cubic(5.0).unwrap();
    let positions = vec![Vec3::new(0.5, 0.5, 0.5), Vec3::new(4.0, 0.5, 0.5)];
    let config = NeighborListConfig {
        cutoff: 1.2,
        skin: 0.3,
        kind: ListKind::Half,
    };
    let mut list = NeighborList::new(config).unwrap();
    assert!(list.update(&positions, &simbox).unwrap());
    assert!(!list.update(&positions, &simbox).unwrap());
    assert_eq!(list.pairs_within_cutoff().len(), 0);
    let smaller = simbox.scaled(0.7).unwrap();
    let scaled: Vec<Vec3> = positions.iter().map(|r| r * 0.7).collect();
    assert!(list.update(&scaled, &smaller).unwrap());
    // Now at 0.35 and 2.8 in a 3.5 box: 1.05 apart through the boundary.
    assert_eq!(list.pairs_within_cutoff().len(), 1);
    assert_eq!(list.builds(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// A box deformed a little at every step, with positions scaled along (a barostat):
    /// the list must stay equal to brute force while rebuilding only when the skin is used up.
    #[test]
    fn slowly_deforming_box_keeps_the_list_exact(
        shape in shape(), n in 2usize..40, cutoff in 0.5f64..2.5, seed in any::<u64>()
    ) {
        let mut simbox = build_box(&shape);
        prop_assume!(simbox.is_periodic());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut positions = random_positions(&mut rng, &simbox, n);
        let config = NeighborListConfig { cutoff, skin: 0.4, kind: ListKind::Half };
        let mut list = NeighborList::new(config).unwrap();
        for _ in 0..30 {
            let mu = Mat3::new(
                1.0 + rng.gen_range(-0.004..0.004), rng.gen_range(-0.003..0.003), 0.0,
                0.0, 1.0 + rng.gen_range(-0.004..0.004), rng.gen_range(-0.003..0.003),
                0.0, 0.0, 1.0 + rng.gen_range(-0.004..0.004),
            );
            simbox = simbox.deformed(&mu).unwrap();
            thermograd_geometry::scale_positions(&mut positions, &mu);
            for r in &mut positions {
                *r += Vec3::new(rng.gen_range(-0.01..0.01), rng.gen_range(-0.01..0.01), 0.0);
            }
            list.update(&positions, &simbox).unwrap();
            let reference = brute_force_pairs(&positions, &simbox, cutoff, ListKind::Half).unwrap();
            assert_same(list.pairs_within_cutoff(), reference, "deforming box");
        }
        prop_assert!(list.builds() < 30, "rebuilt at every step");
    }
}

#[test]
fn bad_input_is_an_error() {
    let simbox = SimBox::cubic(5.0).unwrap();
    let nan = vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(f64::NAN, 0.0, 0.0)];
    assert_eq!(
        CellList::new(&nan, &simbox, 1.0).unwrap_err(),
        NeighborError::NonFinitePosition { atom: 1 }
    );
    assert!(matches!(
        brute_force_pairs(&nan, &simbox, 1.0, ListKind::Half),
        Err(NeighborError::NonFinitePosition { atom: 1 })
    ));
    for cutoff in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            NeighborList::new(NeighborListConfig {
                cutoff,
                skin: 0.1,
                kind: ListKind::Half
            }),
            Err(NeighborError::InvalidCutoff { .. })
        ));
    }
    assert!(matches!(
        NeighborList::new(NeighborListConfig {
            cutoff: 1.0,
            skin: -0.1,
            kind: ListKind::Half
        }),
        Err(NeighborError::InvalidSkin { .. })
    ));
    // A NaN appearing between rebuilds is caught by the displacement check.
    let good = vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(1.0, 0.0, 0.0)];
    let config = NeighborListConfig {
        cutoff: 1.5,
        skin: 0.3,
        kind: ListKind::Full,
    };
    let mut list = NeighborList::new(config).unwrap();
    list.update(&good, &simbox).unwrap();
    assert_eq!(
        list.update(&nan, &simbox).unwrap_err(),
        NeighborError::NonFinitePosition { atom: 1 }
    );
}

#[test]
fn atoms_far_outside_the_cell_are_an_error_not_an_overflow() {
    // Found by fuzzing checkpoints: an atom 10⁷⁷ cell lengths away overflowed the 32-bit
    // lattice shift of its periodic images.
    let simbox = SimBox::cubic(5.0).unwrap();
    let far = vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(0.0, 5e77, 0.0)];
    match CellList::new(&far, &simbox, 1.0).unwrap_err() {
        NeighborError::AtomTooFar { atom: 1, cells } => assert!(cells > 1e76, "{cells}"),
        other => panic!("unexpected error {other}"),
    }
    let mut list = NeighborList::new(NeighborListConfig {
        cutoff: 1.0,
        skin: 0.2,
        kind: ListKind::Half,
    })
    .unwrap();
    assert!(matches!(
        list.update(&far, &simbox),
        Err(NeighborError::AtomTooFar { atom: 1, .. })
    ));
    // A thousand cells away is still fine: wrapped like any other atom.
    let wrapped = vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(0.0, 5000.5, 0.0)];
    assert_eq!(
        CellList::new(&wrapped, &simbox, 1.0)
            .unwrap()
            .pairs(ListKind::Half)
            .len(),
        1
    );
}

#[test]
fn empty_systems_have_no_pairs() {
    let simbox = SimBox::cubic(3.0).unwrap();
    assert!(CellList::new(&[], &simbox, 1.0)
        .unwrap()
        .pairs(ListKind::Half)
        .is_empty());
    let mut list = NeighborList::new(NeighborListConfig {
        cutoff: 1.0,
        skin: 0.2,
        kind: ListKind::Half,
    })
    .unwrap();
    list.update(&[], &SimBox::open()).unwrap();
    assert!(list.pairs_within_cutoff().is_empty());
}

#[test]
fn fcc_lattice_has_twelve_nearest_neighbours() {
    // fcc at ρ = 0.8442: lattice constant 1.6795962, nearest-neighbour distance a/√2.
    let a = 1.6795962;
    let cells = 4;
    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut positions = Vec::new();
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                for b in basis {
                    positions
                        .push(Vec3::new(i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]) * a);
                }
            }
        }
    }
    let simbox = SimBox::cubic(cells as f64 * a).unwrap();
    let cutoff = 0.5 * (a / 2f64.sqrt() + a); // between first and second shells
    let full = CellList::new(&positions, &simbox, cutoff)
        .unwrap()
        .pairs(ListKind::Full);
    assert_eq!(full.len(), 12 * positions.len());
}

#[test]
fn a_cell_far_thinner_than_the_cutoff_is_an_error_not_endless_images() {
    // 32 atoms at a number density of 10⁹ (a box in the wrong units): the cell is 0.003
    // wide and a cutoff of 2.5 would need about 10¹¹ periodic images. Before this check
    // the list kept adding them until the memory ran out.
    let simbox = SimBox::cubic(0.0032).unwrap();
    let positions: Vec<Vec3> = (0..32)
        .map(|k| Vec3::new(k as f64, (k * 7 % 32) as f64, (k * 13 % 32) as f64) * 1e-4)
        .collect();
    match CellList::new(&positions, &simbox, 2.5).unwrap_err() {
        e @ NeighborError::CellTooThin {
            width,
            reach,
            entries,
        } => {
            assert!(
                (width - 0.0032).abs() < 1e-15 && reach == 2.5,
                "{width} {reach}"
            );
            assert!(entries > 1e11, "{entries}");
            assert!(e.to_string().contains("right units"), "{e}");
        }
        other => panic!("unexpected error {other}"),
    }
    // Found by fuzzing checkpoints: a box of 3.42 × 0.0016 × 0.0016 asks for "only"
    // 3·10⁸ entries for 32 atoms, within 2^32 but tens of gigabytes; every atom would need
    // 10⁷ images.
    let flat = SimBox::orthorhombic([3.42, 0.0016, 0.0016]).unwrap();
    match CellList::new(&positions, &flat, 1.8).unwrap_err() {
        NeighborError::CellTooThin { entries, .. } => {
            assert!(entries > 1e8 && entries < u32::MAX as f64, "{entries}")
        }
        other => panic!("unexpected error {other}"),
    }
    // A one-atom cell a tenth of the cutoff wide still works (21³ images).
    let tiny = SimBox::cubic(0.25).unwrap();
    let one = [Vec3::new(0.1, 0.1, 0.1)];
    let pairs = CellList::new(&one, &tiny, 2.5)
        .unwrap()
        .pairs(ListKind::Half);
    let reference = brute_force_pairs(&one, &tiny, 2.5, ListKind::Half).unwrap();
    assert_eq!(pairs.len(), reference.len());
    assert!(!pairs.is_empty());
    let mut list = NeighborList::new(NeighborListConfig {
        cutoff: 2.5,
        skin: 0.3,
        kind: ListKind::Half,
    })
    .unwrap();
    assert!(matches!(
        list.update(&positions, &simbox),
        Err(NeighborError::CellTooThin { .. })
    ));
}

#[test]
fn a_huge_box_does_not_overflow_the_bin_count() {
    // Found by fuzzing checkpoints (a box edge patched to 3·10⁹⁴): the bin counts per
    // axis multiplied past usize. A cubic box of 10⁷ with cutoff 2.5 already did.
    let positions = vec![
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(1.0, 0.0, 0.0),
        Vec3::new(5e6, 5e6, 5e6),
    ];
    for simbox in [
        SimBox::cubic(1e7).unwrap(),
        SimBox::orthorhombic([3e94, 3.42, 3.42]).unwrap(),
    ] {
        let cells = CellList::new(&positions[..2], &simbox, 2.5).unwrap();
        let pairs = cells.pairs(ListKind::Half);
        let reference = brute_force_pairs(&positions[..2], &simbox, 2.5, ListKind::Half).unwrap();
        assert_eq!(pairs.len(), reference.len(), "{simbox:?}");
    }
    let simbox = SimBox::cubic(1e7).unwrap();
    let cells = CellList::new(&positions, &simbox, 2.5).unwrap();
    assert_eq!(cells.pairs(ListKind::Half).len(), 1);
}
