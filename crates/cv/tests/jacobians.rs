//! Every CV's Jacobian and strain derivative against central finite differences, in
//! orthorhombic and triclinic boxes, with atoms straddling the periodic boundary.

use proptest::prelude::*;
use thermograd_cv::{
    periodic_difference, Angle, CenterOfMassDistance, CollectiveVariable, Coordination, CvValue,
    Dihedral, Distance, DistanceComponents, LinearCombination, RationalSwitch, Stack,
};
use thermograd_geometry::{Mat3, SimBox, Vec3};

const H: f64 = 1e-6;

fn eval(cv: &dyn CollectiveVariable, r: &[Vec3], b: &SimBox) -> CvValue {
    let mut v = CvValue::default();
    cv.evaluate(r, b, &mut v).expect("regular configuration");
    v
}

/// Checks ∂ξ/∂r for every listed atom and the strain derivative by central differences.
fn check(cv: &dyn CollectiveVariable, r: &[Vec3], b: &SimBox) -> Result<(), TestCaseError> {
    let v = eval(cv, r, b);
    let tol = |x: f64| 2e-6 * (1.0 + x.abs());
    for (k, &atom) in v.atoms.iter().enumerate() {
        for axis in 0..3 {
            let mut plus = r.to_vec();
            let mut minus = r.to_vec();
            plus[atom][axis] += H;
            minus[atom][axis] -= H;
            let (vp, vm) = (eval(cv, &plus, b), eval(cv, &minus, b));
            for c in 0..v.dim() {
                let fd = periodic_difference(vp.values[c], vm.values[c], cv.period(c)) / (2.0 * H);
                let an = v.gradient(c, k)[axis];
                prop_assert!(
                    (fd - an).abs() < tol(an),
                    "{} component {c} atom {atom} axis {axis}: fd {fd} vs analytic {an}",
                    cv.name()
                );
            }
        }
    }
    // Homogeneous deformation r → (I + ε) r of positions and box together.
    for a in 0..3 {
        for c2 in 0..3 {
            let mut eps = Mat3::zeros();
            eps[(a, c2)] = H;
            let deform = |sign: f64| {
                let mu = Mat3::identity() + eps * sign;
                let rb = b.deformed(&mu).unwrap();
                let rr: Vec<Vec3> = r.iter().map(|x| mu * x).collect();
                eval(cv, &rr, &rb)
            };
            let (vp, vm) = (deform(1.0), deform(-1.0));
            for comp in 0..v.dim() {
                let fd = periodic_difference(vp.values[comp], vm.values[comp], cv.period(comp))
                    / (2.0 * H);
                let an = v.strain[comp][(a, c2)];
                prop_assert!(
                    (fd - an).abs() < tol(an),
                    "{} strain ({a},{c2}): fd {fd} vs analytic {an}",
                    cv.name()
                );
            }
        }
    }
    Ok(())
}

fn boxes() -> impl Strategy<Value = SimBox> {
    prop_oneof![
        (5.0f64..8.0, 5.0f64..8.0, 5.0f64..8.0)
            .prop_map(|(a, b, c)| SimBox::orthorhombic([a, b, c]).unwrap()),
        (
            6.0f64..8.0,
            6.0f64..8.0,
            6.0f64..8.0,
            65.0f64..115.0,
            65.0f64..115.0,
            65.0f64..115.0
        )
            .prop_filter_map("valid cell", |(a, b, c, al, be, ga)| {
                SimBox::from_lengths_angles([a, b, c], [al, be, ga]).ok()
            }),
    ]
}

/// `n` atoms within a small cluster placed at a random spot, then wrapped: clusters
/// often straddle the boundary, so minimum images matter.
fn cluster(n: usize) -> impl Strategy<Value = (SimBox, Vec<Vec3>)> {
    (
        boxes(),
        prop::collection::vec((-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0), n),
        (0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
    )
        .prop_filter_map("single image", |(b, offsets, s)| {
            if b.max_single_image_cutoff() < 2.5 {
                return None;
            }
            let center = b.to_cartesian(&Vec3::new(s.0, s.1, s.2)).unwrap();
            let r = offsets
                .iter()
                .map(|o| b.wrap(&(center + Vec3::new(o.0, o.1, o.2))))
                .collect();
            Some((b, r))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn distance((b, r) in cluster(2)) {
        prop_assume!(b.distance(&r[0], &r[1]) > 0.05);
        check(&Distance::new(0, 1).unwrap(), &r, &b)?;
        check(&DistanceComponents::new(1, 0).unwrap(), &r, &b)?;
    }

    #[test]
    fn angle((b, r) in cluster(3)) {
        let u = b.displacement(&r[1], &r[0]);
        let v = b.displacement(&r[1], &r[2]);
        prop_assume!(u.norm() > 0.1 && v.norm() > 0.1);
        prop_assume!(u.cross(&v).norm() > 0.05 * u.norm() * v.norm());
        check(&Angle::new(0, 1, 2).unwrap(), &r, &b)?;
    }

    #[test]
    fn dihedral((b, r) in cluster(4)) {
        let b1 = b.displacement(&r[0], &r[1]);
        let b2 = b.displacement(&r[1], &r[2]);
        let b3 = b.displacement(&r[2], &r[3]);
        prop_assume!(b1.norm() > 0.1 && b2.norm() > 0.1 && b3.norm() > 0.1);
        prop_assume!(b1.cross(&b2).norm() > 0.05 * b1.norm() * b2.norm());
        prop_assume!(b2.cross(&b3).norm() > 0.05 * b2.norm() * b3.norm());
        check(&Dihedral::new(0, 1, 2, 3).unwrap(), &r, &b)?;
    }

    #[test]
    fn coordination((b, r) in cluster(7), d0 in 0.0f64..0.3, stretched in any::<bool>()) {
        let mut s = RationalSwitch::new(d0, 0.8, 6, 12).unwrap();
        if stretched {
            s = s.stretched();
        }
        check(&Coordination::between(&[0, 1], &[1, 2, 3, 4, 5, 6], s).unwrap(), &r, &b)?;
        check(&Coordination::within(&[0, 2, 4, 6], s).unwrap(), &r, &b)?;
    }

    #[test]
    fn center_of_mass_distance((b, r) in cluster(5)) {
        let cv = CenterOfMassDistance::new(&[0, 1], &[1.0, 3.0], &[2, 3, 4], &[2.0, 1.0, 5.0]).unwrap();
        prop_assume!(eval(&cv, &r, &b).values[0] > 0.05);
        check(&cv, &r, &b)?;
    }

    #[test]
    fn linear_combination((b, r) in cluster(4)) {
        prop_assume!(b.distance(&r[0], &r[1]) > 0.05 && b.distance(&r[2], &r[3]) > 0.05);
        let cv = LinearCombination::new(vec![
            (1.5, Box::new(Distance::new(0, 1).unwrap()) as Box<dyn CollectiveVariable>),
            (-0.5, Box::new(Distance::new(1, 2).unwrap())),
            (2.0, Box::new(Distance::new(2, 3).unwrap())),
        ]).unwrap();
        prop_assume!(b.distance(&r[1], &r[2]) > 0.05);
        check(&cv, &r, &b)?;
    }

    #[test]
    fn stack((b, r) in cluster(4)) {
        let b1 = b.displacement(&r[0], &r[1]);
        let b2 = b.displacement(&r[1], &r[2]);
        let b3 = b.displacement(&r[2], &r[3]);
        prop_assume!(b1.norm() > 0.1 && b2.norm() > 0.1 && b3.norm() > 0.1);
        prop_assume!(b1.cross(&b2).norm() > 0.05 * b1.norm() * b2.norm());
        prop_assume!(b2.cross(&b3).norm() > 0.05 * b2.norm() * b3.norm());
        let cv = Stack::new(vec![
            Box::new(Distance::new(2, 1).unwrap()) as Box<dyn CollectiveVariable>,
            Box::new(Dihedral::new(0, 1, 2, 3).unwrap()),
            Box::new(DistanceComponents::new(3, 0).unwrap()),
        ]).unwrap();
        prop_assert_eq!(cv.dim(), 5);
        prop_assert_eq!(cv.period(0), None);
        prop_assert_eq!(cv.period(1), Some(2.0 * std::f64::consts::PI));
        let parts = eval(&Dihedral::new(0, 1, 2, 3).unwrap(), &r, &b);
        prop_assert_eq!(eval(&cv, &r, &b).values[1], parts.values[0]);
        check(&cv, &r, &b)?;
    }
}
