//! Well-tempered metadynamics of two particles with a double-well pair potential
//! U(r) = h[((r − c)/a)² − 1]² in open space: along their distance the free energy is
//! exactly A(r) = U(r) − 2kT ln r + const, with minima near c ± a and a barrier near c.

use std::sync::Arc;

use thermograd_cv::{
    run_metadynamics, CvError, Distance, MetadynamicsConfig, MetadynamicsRun, MetadynamicsRunConfig,
};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, PotentialSum, State, ThermostatConfig};

const KT: f64 = 1.0;
const H: f64 = 2.5;
const C: f64 = 1.5;
const A: f64 = 0.4;

#[derive(Debug)]
struct DoubleWell;

fn pair(r: f64) -> (f64, f64) {
    let x = (r - C) / A;
    (H * (x * x - 1.0).powi(2), 4.0 * H * x * (x * x - 1.0) / A)
}

fn exact(r: f64) -> f64 {
    pair(r).0 - 2.0 * KT * r.ln()
}

impl thermograd_md::Potential for DoubleWell {
    fn cutoff(&self) -> Option<f64> {
        None
    }
    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
        let d = c.positions[1] - c.positions[0];
        let r = d.norm();
        let (u, du) = pair(r);
        out.energy += u;
        let f = d * (du / r); // force on atom 0
        out.forces[0] += f;
        out.forces[1] -= f;
        out.virial += d * (-f).transpose();
        Ok(())
    }
}

fn config(steps: u64, replicas: usize, seed: u64) -> MetadynamicsRunConfig {
    MetadynamicsRunConfig {
        metadynamics: MetadynamicsConfig {
            lower: vec![0.95],
            upper: vec![2.05],
            bins: vec![23],
            sigma: vec![0.05],
            height: 0.1,
            bias_factor: 6.0,
            kt: KT,
        },
        thermostat: ThermostatConfig {
            dt: 0.005,
            kt: KT,
            tau: 0.1,
            seed,
        },
        equilibration_steps: 1000,
        steps,
        pace: 100,
        stride: 50,
        snapshot_every: 50,
        replicas,
        skin: 0.3,
        progress: false,
    }
}

fn system(_: usize) -> thermograd_md::Result<(State, PotentialSum)> {
    let state = State::new(
        vec![Vec3::zeros(), Vec3::new(C - A, 0.0, 0.0)],
        vec![1.0, 1.0],
        vec![0, 0],
        SimBox::open(),
    )?;
    Ok((state, PotentialSum::new().with(DoubleWell)))
}

fn run(config: &MetadynamicsRunConfig) -> MetadynamicsRun {
    run_metadynamics(config, Arc::new(Distance::new(0, 1).unwrap()), &system).unwrap()
}

/// χ²/n of the walkers' mean against `reference` (aligned like the estimate: the free
/// energy of the whole grid is zero), with the walkers' standard errors.
fn chi2(run: &MetadynamicsRun, reference: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut want: Vec<f64> = run.grid.iter().map(|x| reference(x[0])).collect();
    let mut got = run.free_energy.clone();
    for f in [&mut want, &mut got] {
        let z: f64 = f.iter().map(|x| (-x / KT).exp()).sum();
        let offset = -KT * z.ln();
        f.iter_mut().for_each(|x| *x -= offset);
    }
    let err = run.std_err.as_ref().unwrap();
    let (mut sum, mut worst) = (0.0, 0.0f64);
    for j in 0..want.len() {
        let z = (got[j] - want[j]) / err[j];
        sum += z * z;
        worst = worst.max(z.abs());
    }
    (sum / want.len() as f64, worst)
}

#[test]
fn a_short_run_deposits_records_and_reports() {
    let cfg = config(5000, 2, 3);
    let result = run(&cfg);
    assert_eq!(result.walkers.len(), 2);
    assert_eq!(result.grid.len(), 23);
    for walker in &result.walkers {
        assert_eq!(walker.hills.len(), 50);
        assert_eq!(walker.times.len(), 100);
        assert_eq!(walker.series[0].len(), 100);
        assert_eq!(walker.bias.len(), 100);
        // One snapshot per 50 hills; the last one is the final estimate.
        assert_eq!(walker.snapshots.len(), 1);
        assert_eq!(walker.snapshots[0].hills, 50);
        assert_eq!(walker.snapshots[0].free_energy, walker.free_energy);
        // The first hill has the full height; well-tempered heights never exceed it.
        assert_eq!(walker.hills[0].height, 0.1);
        assert!(walker
            .hills
            .iter()
            .all(|h| h.height > 0.0 && h.height <= 0.1));
        assert!(walker.bias.iter().all(|v| *v >= 0.0));
        // The grid free energy of each aligned estimate is zero.
        let z: f64 = walker.free_energy.iter().map(|f| (-f / KT).exp()).sum();
        assert!(z.ln().abs() < 1e-12);
        // Hill times are the deposit steps after equilibration.
        let t0 = walker.hills[0].time;
        assert!((t0 - (1000.0 + 100.0) * 0.005).abs() < 1e-9, "{t0}");
    }
    assert_ne!(result.walkers[0].hills, result.walkers[1].hills);
    let err = result.std_err.as_ref().unwrap();
    assert!(err.iter().all(|e| e.is_finite() && *e >= 0.0));
    assert_eq!(
        result
            .free_energy
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        0.0
    );
    // Reproducible from the seeds.
    assert_eq!(run(&cfg), result);
    // One walker: no error bars.
    assert!(run(&config(1000, 1, 3)).std_err.is_none());
}

#[test]
fn bad_configurations_are_errors() {
    let cv = Arc::new(Distance::new(0, 1).unwrap());
    let mut cfg = config(100, 1, 1);
    cfg.thermostat.kt = 2.0;
    assert!(matches!(
        run_metadynamics(&cfg, cv.clone(), &system),
        Err(CvError::InvalidDefinition { .. })
    ));
    for edit in [
        |c: &mut MetadynamicsRunConfig| c.pace = 0,
        |c: &mut MetadynamicsRunConfig| c.stride = 0,
        |c: &mut MetadynamicsRunConfig| c.replicas = 0,
        |c: &mut MetadynamicsRunConfig| c.metadynamics.bias_factor = 1.0,
        |c: &mut MetadynamicsRunConfig| c.metadynamics.sigma = vec![0.1, 0.1],
    ] {
        let mut cfg = config(100, 1, 1);
        edit(&mut cfg);
        assert!(run_metadynamics(&cfg, cv.clone(), &system).is_err());
    }
    // A failing walker names itself.
    let broken = |r: usize| {
        if r == 1 {
            State::new(vec![Vec3::zeros()], vec![-1.0], vec![0], SimBox::open())
                .map(|s| (s, PotentialSum::new()))
        } else {
            system(r)
        }
    };
    assert!(matches!(
        run_metadynamics(&config(100, 2, 1), cv, &broken),
        Err(CvError::Walker { replica: 1, .. })
    ));
}

/// The free-energy estimate against the exact A(r) = U(r) − 2kT ln r, within the error
/// bars of independent walkers; without the −2kT ln r term it is rejected.
///
/// With R walkers, (estimate − exact)/std_err follows Student's t with ν = R − 1 degrees
/// of freedom if the error estimate is right, so each point must lie within the
/// two-sided 0.1% quantile of t_ν and χ²/n within twice its expectation ν/(ν − 2).
#[test]
fn well_tempered_estimate_matches_the_radial_free_energy() {
    let slow = std::env::var("THERMOGRAD_SLOW").is_ok_and(|v| v == "1");
    // t quantiles for a two-sided 0.1% tail (standard tables): ν = 3 and ν = 7.
    let (steps, replicas, t_max) = if slow {
        (400_000, 8, 5.408)
    } else {
        (60_000, 4, 12.924)
    };
    let result = run(&config(steps, replicas, 17));
    let nu = (replicas - 1) as f64;
    let chi2_max = 2.0 * nu / (nu - 2.0);
    let (good, worst) = chi2(&result, exact);
    assert!(good < chi2_max, "chi2/n = {good} (limit {chi2_max})");
    assert!(worst < t_max, "worst |t| = {worst} (limit {t_max})");
    let (bad, _) = chi2(&result, |r| pair(r).0);
    assert!(
        bad > 10.0 * chi2_max,
        "chi2/n without the Jacobian = {bad}: the test cannot tell"
    );
    // The time series of the estimate ends at the final estimate.
    let walker = &result.walkers[0];
    let last = walker.snapshots.last().unwrap();
    assert_eq!(last.hills, walker.hills.len());
    assert_eq!(last.free_energy, walker.free_energy);
}
