//! Bias forces and virials against finite differences of the bias energy.

use std::sync::Arc;

use thermograd_cv::{
    Angle, Bias, BiasEnergy, CollectiveVariable, Coordination, Dihedral, Distance, FlatBottom,
    Harmonic, Metadynamics, MetadynamicsConfig, Moving, RationalSwitch,
};
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential};

fn energy(p: &dyn Potential, r: &[Vec3], b: &SimBox) -> f64 {
    let species = vec![0; r.len()];
    let config = Configuration {
        positions: r,
        species: &species,
        simbox: b,
        neighbors: None,
    };
    let mut out = Evaluation::zeros(r.len());
    p.add_to(&config, &mut out).unwrap();
    out.energy
}

fn check(p: &dyn Potential, r: &[Vec3], b: &SimBox) {
    let species = vec![0; r.len()];
    let config = Configuration {
        positions: r,
        species: &species,
        simbox: b,
        neighbors: None,
    };
    let mut out = Evaluation::zeros(r.len());
    p.add_to(&config, &mut out).unwrap();
    assert!(out.energy > 1e-3, "test configuration should feel the bias");
    let h = 1e-6;
    for i in 0..r.len() {
        for a in 0..3 {
            let (mut rp, mut rm) = (r.to_vec(), r.to_vec());
            rp[i][a] += h;
            rm[i][a] -= h;
            let fd = -(energy(p, &rp, b) - energy(p, &rm, b)) / (2.0 * h);
            let an = out.forces[i][a];
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + an.abs()),
                "force {i},{a}: {fd} vs {an}"
            );
        }
    }
    for a in 0..3 {
        for c in 0..3 {
            let mut eps = Mat3::zeros();
            eps[(a, c)] = h;
            let e = |s: f64| {
                let mu = Mat3::identity() + eps * s;
                let rr: Vec<Vec3> = r.iter().map(|x| mu * x).collect();
                energy(p, &rr, &b.deformed(&mu).unwrap())
            };
            let fd = -(e(1.0) - e(-1.0)) / (2.0 * h);
            let an = out.virial[(a, c)];
            assert!(
                (fd - an).abs() < 1e-6 * (1.0 + an.abs()),
                "virial {a},{c}: {fd} vs {an}"
            );
        }
    }
}

/// Four atoms straddling the boundary of a triclinic box.
fn setup() -> (Vec<Vec3>, SimBox) {
    let b = SimBox::from_lengths_angles([6.0, 6.5, 7.0], [80.0, 95.0, 70.0]).unwrap();
    let r = vec![
        b.wrap(&Vec3::new(-0.4, 0.2, 0.1)),
        b.wrap(&Vec3::new(0.5, -0.3, 0.2)),
        b.wrap(&Vec3::new(0.9, 0.6, -0.4)),
        b.wrap(&Vec3::new(1.6, 0.4, 0.5)),
    ];
    (r, b)
}

fn bias(cv: impl CollectiveVariable + 'static, e: impl BiasEnergy + 'static) -> Bias {
    Bias::new(Arc::new(cv), Arc::new(e)).unwrap()
}

#[test]
fn harmonic_restraint_on_a_periodic_dihedral() {
    let (r, b) = setup();
    // A center far across the ±π seam exercises the periodic difference.
    check(
        &bias(
            Dihedral::new(0, 1, 2, 3).unwrap(),
            Harmonic::new(vec![3.0], vec![7.0]).unwrap(),
        ),
        &r,
        &b,
    );
    check(
        &bias(
            Distance::new(0, 3).unwrap(),
            Harmonic::new(vec![0.5], vec![40.0]).unwrap(),
        ),
        &r,
        &b,
    );
}

#[test]
fn flat_bottom_wall_outside_the_flat_region() {
    let (r, b) = setup();
    let wall = FlatBottom::new(vec![0.0], vec![1.0], vec![25.0]).unwrap();
    check(&bias(Distance::new(0, 3).unwrap(), wall), &r, &b);
    let inside = FlatBottom::new(vec![0.0], vec![10.0], vec![25.0]).unwrap();
    assert_eq!(
        energy(&bias(Distance::new(0, 3).unwrap(), inside), &r, &b),
        0.0
    );
}

#[test]
fn moving_restraint_follows_its_schedule() {
    let (r, b) = setup();
    let moving = Arc::new(Moving::new(vec![2.0], vec![-0.5], vec![10.0]).unwrap());
    let cv = Arc::new(
        Coordination::between(&[0], &[1, 2, 3], RationalSwitch::with_r0(1.0).unwrap()).unwrap(),
    );
    let p = Bias::new(cv, moving.clone()).unwrap();
    moving.set_time(1.5);
    assert!((moving.center()[0] - 1.25).abs() < 1e-15);
    check(&p, &r, &b);
}

#[test]
fn metadynamics_hills_are_well_tempered_and_conservative() {
    let (r, b) = setup();
    let cv = Arc::new(Angle::new(0, 1, 2).unwrap());
    let meta = Arc::new(
        Metadynamics::new(MetadynamicsConfig {
            lower: vec![0.0],
            upper: vec![std::f64::consts::PI],
            bins: vec![50],
            sigma: vec![0.2],
            height: 1.0,
            bias_factor: 5.0,
            kt: 1.0,
            storage: Default::default(),
        })
        .unwrap(),
    );
    let p = Bias::new(cv.clone(), meta.clone()).unwrap();
    let first = meta.deposit(&[1.0], &[None]);
    let second = meta.deposit(&[1.0], &[None]);
    assert_eq!(first, 1.0);
    // Second hill on top of the first: height w·exp(−V/(kΔT)) with V = 1, kΔT = 4.
    assert!((second - (-0.25f64).exp()).abs() < 1e-12);
    meta.deposit(&[1.3], &[None]);
    check(&p, &r, &b);
    let (nodes, f) = meta.free_energy(&[None]);
    assert_eq!(nodes.len(), 50);
    // The free energy estimate is lowest where the hills were deposited.
    let argmin = f
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert!((nodes[argmin][0] - 1.1).abs() < 0.2);
}

#[test]
fn bias_dimension_must_match_the_cv() {
    let cv: Arc<dyn CollectiveVariable> = Arc::new(Distance::new(0, 1).unwrap());
    assert!(Bias::new(
        cv,
        Arc::new(Harmonic::new(vec![1.0, 2.0], vec![1.0, 1.0]).unwrap())
    )
    .is_err());
    assert!(Harmonic::new(vec![1.0], vec![-1.0]).is_err());
    assert!(FlatBottom::new(vec![2.0], vec![1.0], vec![1.0]).is_err());
}
