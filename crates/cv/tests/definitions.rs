//! Reference values, closed forms and bad input.

use std::f64::consts::PI;

use thermograd_cv::{
    mass_metric, Angle, CollectiveVariable, Coordination, CvError, CvValue, Dihedral, Distance,
    DistanceComponents, RationalSwitch,
};
use thermograd_geometry::{SimBox, Vec3};

#[test]
fn rational_switch_matches_plumed_reference_values() {
    // shared/references.md: n = 6, m = 12, r0 = 1.
    let s = RationalSwitch::new(0.0, 1.0, 6, 12).unwrap();
    let (v, d) = s.value_and_derivative(0.5);
    assert!((v - 0.984615384615).abs() < 1e-11);
    assert!((d + 0.181775147929).abs() < 1e-11);
    let (v, d) = s.value_and_derivative(1.5);
    assert!((v - 0.080706179067).abs() < 1e-11);
    assert!((d + 0.296770766909).abs() < 1e-11);
    // With m = 2n the function is 1/(1 + x⁶).
    for r in [0.3, 0.9, 1.0, 1.2, 2.0] {
        let want = 1.0 / (1.0 + f64::powi(r, 6));
        assert!((s.value_and_derivative(r).0 - want).abs() < 1e-9);
    }
    // The limit at x = 1: s = n/m, slope n(n − m)/(2m).
    let (v, d) = s.value_and_derivative(1.0);
    assert!((v - 0.5).abs() < 1e-12);
    assert!((d + 1.5).abs() < 1e-12);
    // Continuous across the limit band.
    let left = s.value_and_derivative(1.0 - 2e-6).0;
    let right = s.value_and_derivative(1.0 + 2e-6).0;
    assert!((left - right).abs() < 1e-5);
    // d0 shifts the function; inside d0 it is exactly 1.
    let shifted = RationalSwitch::new(0.2, 1.0, 6, 12).unwrap();
    assert_eq!(shifted.value_and_derivative(0.1), (1.0, 0.0));
    assert!((shifted.value_and_derivative(0.7).0 - 0.984615384615).abs() < 1e-11);
}

#[test]
fn stretched_switch_reaches_zero_at_d_max() {
    let s = RationalSwitch::new(0.1, 0.5, 6, 12).unwrap().stretched();
    let d_max = s.d_max().unwrap();
    // d_max = d0 + r0 (1e-5)^(1/(n − m)).
    assert!((d_max - (0.1 + 0.5 * 1e-5f64.powf(-1.0 / 6.0))).abs() < 1e-12);
    assert_eq!(s.value_and_derivative(d_max), (0.0, 0.0));
    assert_eq!(s.value_and_derivative(d_max + 1.0), (0.0, 0.0));
    assert!((s.value_and_derivative(d_max * (1.0 - 1e-12)).0).abs() < 1e-9);
    assert!((s.value_and_derivative(0.1).0 - 1.0).abs() < 1e-12);
}

#[test]
fn closed_form_values() {
    let b = SimBox::cubic(10.0).unwrap();
    let r = [
        Vec3::new(1.0, 0.0, 0.0),
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(0.0, 1.0, 0.0),
        Vec3::new(0.0, 1.0, 1.0),
    ];
    let mut v = CvValue::default();
    Angle::new(0, 1, 2)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    assert!((v.values[0] - PI / 2.0).abs() < 1e-12);
    Dihedral::new(0, 1, 2, 3)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    // IUPAC sign: looking along j→k (+y, away from the viewer), the near bond points to
    // +x and the far bond to +z; turning +x onto +z is counterclockwise in that view,
    // so the dihedral is −90°.
    assert!((v.values[0] + PI / 2.0).abs() < 1e-12);
    // Trans and cis.
    let trans = [r[0], r[1], r[2], Vec3::new(-1.0, 1.0, 0.0)];
    Dihedral::new(0, 1, 2, 3)
        .unwrap()
        .evaluate(&trans, &b, &mut v)
        .unwrap();
    assert!((v.values[0].abs() - PI).abs() < 1e-12);
    let cis = [r[0], r[1], r[2], Vec3::new(1.0, 1.0, 0.0)];
    Dihedral::new(0, 1, 2, 3)
        .unwrap()
        .evaluate(&cis, &b, &mut v)
        .unwrap();
    assert!(v.values[0].abs() < 1e-12);
    DistanceComponents::new(0, 3)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    assert_eq!(v.values, vec![-1.0, 1.0, 1.0]);
}

#[test]
fn coordination_counts_neighbours_with_the_switch() {
    let b = SimBox::cubic(20.0).unwrap();
    let s = RationalSwitch::new(0.0, 1.0, 6, 12).unwrap();
    // A central atom with neighbours at 0.5 and 1.5 and one far away.
    let r = [
        Vec3::new(5.0, 5.0, 5.0),
        Vec3::new(5.5, 5.0, 5.0),
        Vec3::new(5.0, 6.5, 5.0),
        Vec3::new(15.0, 15.0, 15.0),
    ];
    let mut v = CvValue::default();
    Coordination::between(&[0], &[1, 2, 3], s)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    let far = 1.0 / (1.0 + (3f64.sqrt() * 10.0).powi(6));
    assert!((v.values[0] - (0.984615384615 + 0.080706179067 + far)).abs() < 1e-10);
}

#[test]
fn metric_of_a_distance_is_the_inverse_reduced_mass() {
    let b = SimBox::open();
    let r = [Vec3::new(0.0, 0.0, 0.0), Vec3::new(0.3, 0.4, 1.2)];
    let mut v = CvValue::default();
    Distance::new(0, 1)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    let z = mass_metric(&v, &[2.0, 3.0]).unwrap();
    assert!((z[(0, 0)] - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
    // Components: Z = (1/m_i + 1/m_j) I.
    DistanceComponents::new(0, 1)
        .unwrap()
        .evaluate(&r, &b, &mut v)
        .unwrap();
    let z = mass_metric(&v, &[2.0, 3.0]).unwrap();
    for a in 0..3 {
        for c in 0..3 {
            let want = if a == c { 0.5 + 1.0 / 3.0 } else { 0.0 };
            assert!((z[(a, c)] - want).abs() < 1e-12);
        }
    }
    assert!(matches!(
        mass_metric(&v, &[2.0]),
        Err(CvError::AtomOutOfRange { .. })
    ));
    assert!(matches!(
        mass_metric(&v, &[2.0, 0.0]),
        Err(CvError::InvalidDefinition { .. })
    ));
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        Distance::new(1, 1),
        Err(CvError::InvalidDefinition { .. })
    ));
    assert!(matches!(
        Dihedral::new(0, 1, 2, 0),
        Err(CvError::InvalidDefinition { .. })
    ));
    assert!(matches!(
        RationalSwitch::new(0.0, 0.0, 6, 12),
        Err(CvError::InvalidDefinition { .. })
    ));
    assert!(matches!(
        RationalSwitch::new(0.0, 1.0, 12, 6),
        Err(CvError::InvalidDefinition { .. })
    ));
    assert!(matches!(
        RationalSwitch::new(f64::NAN, 1.0, 6, 12),
        Err(CvError::NonFinite { .. })
    ));
    let s = RationalSwitch::with_r0(1.0).unwrap();
    assert!(matches!(
        Coordination::between(&[], &[1], s),
        Err(CvError::InvalidDefinition { .. })
    ));
    let b = SimBox::cubic(5.0).unwrap();
    let mut v = CvValue::default();
    let r = [Vec3::zeros(), Vec3::zeros()];
    assert!(matches!(
        Distance::new(0, 1).unwrap().evaluate(&r, &b, &mut v),
        Err(CvError::Singular { .. })
    ));
    assert!(matches!(
        Distance::new(0, 2).unwrap().evaluate(&r, &b, &mut v),
        Err(CvError::AtomOutOfRange {
            index: 2,
            n_atoms: 2
        })
    ));
    let nan = [Vec3::zeros(), Vec3::new(f64::NAN, 0.0, 0.0)];
    assert!(matches!(
        Distance::new(0, 1).unwrap().evaluate(&nan, &b, &mut v),
        Err(CvError::NonFinite { .. })
    ));
    let line = [Vec3::zeros(), Vec3::x(), Vec3::x() * 2.0];
    assert!(matches!(
        Angle::new(0, 1, 2).unwrap().evaluate(&line, &b, &mut v),
        Err(CvError::Singular { .. })
    ));
}
