//! Well-tempered metadynamics of two particles with a double-well pair potential
//! U(r) = h[((r − c)/a)² − 1]² in open space: along their distance the free energy is
//! exactly A(r) = U(r) − 2kT ln r + const, with minima near c ± a and a barrier near c.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermograd_cv::{
    run_metadynamics, Bias, BiasEnergy, BiasGridConfig, BiasStorage, CollectiveVariable, CvError,
    Dihedral, Distance, Metadynamics, MetadynamicsConfig, MetadynamicsRun, MetadynamicsRunConfig,
};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{
    Configuration, Evaluation, ForceField, PotentialSum, Simulation, State, ThermostatConfig,
    VelocityVerlet,
};

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
            storage: BiasStorage::Exact,
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
        faults: Default::default(),
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

/// The same run with the bias on a Hermite grid of spacing σ/2 that covers every
/// distance the walkers reach (U > 40 kT beyond it).
fn on_grid(mut config: MetadynamicsRunConfig) -> MetadynamicsRunConfig {
    config.metadynamics.storage = BiasStorage::Grid(BiasGridConfig {
        lower: vec![0.5],
        upper: vec![2.6],
        intervals: vec![84],
        cutoff: 6.25,
    });
    config
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
/// bars of independent walkers; without the −2kT ln r term it is rejected. The bias
/// stored on a Hermite grid passes the same test, and its estimate agrees with the
/// exact-sum run's within their combined errors.
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
    let nu = (replicas - 1) as f64;
    let chi2_max = 2.0 * nu / (nu - 2.0);
    let exact_sum = run(&config(steps, replicas, 17));
    let grid = run(&on_grid(config(steps, replicas, 17)));
    for (name, result) in [("exact sum", &exact_sum), ("grid", &grid)] {
        let (good, worst) = chi2(result, exact);
        assert!(
            good < chi2_max,
            "{name}: chi2/n = {good} (limit {chi2_max})"
        );
        assert!(worst < t_max, "{name}: worst |t| = {worst} (limit {t_max})");
        let (bad, _) = chi2(result, |r| pair(r).0);
        assert!(
            bad > 10.0 * chi2_max,
            "{name}: chi2/n without the Jacobian = {bad}: the test cannot tell"
        );
        // The time series of the estimate ends at the final estimate.
        let walker = &result.walkers[0];
        let last = walker.snapshots.last().unwrap();
        assert_eq!(last.hills, walker.hills.len());
        assert_eq!(last.free_energy, walker.free_energy);
    }
    // The grid covered every step.
    assert!(grid.walkers.iter().all(|w| w.outside_grid == 0));
    assert!(exact_sum.walkers.iter().all(|w| w.outside_grid == 0));
    // The same seeds and the same start: the first hill is the same.
    assert_eq!(grid.walkers[0].hills[0], exact_sum.walkers[0].hills[0]);
    // Grid against an independent exact-sum run (other seeds: with the same seeds the
    // two runs follow the same trajectory for the first ~10⁴ steps): the difference of
    // two independent means, aligned alike, against their combined standard error, with
    // the limits above.
    let independent = run(&config(steps, replicas, 17 + replicas as u64));
    let (e, g) = (&independent, &grid);
    let (se, sg) = (e.std_err.as_ref().unwrap(), g.std_err.as_ref().unwrap());
    let align = |f: &[f64]| -> Vec<f64> {
        let z: f64 = f.iter().map(|x| (-x / KT).exp()).sum();
        f.iter().map(|x| x + KT * z.ln()).collect()
    };
    let (fe, fg) = (align(&e.free_energy), align(&g.free_energy));
    let mut sum = 0.0;
    for j in 0..fe.len() {
        let err = (se[j].powi(2) + sg[j].powi(2)).sqrt();
        let z = (fg[j] - fe[j]) / err;
        assert!(
            z.abs() < t_max,
            "node {j}: grid {} vs exact sum {} (error {err})",
            fg[j],
            fe[j]
        );
        sum += z * z;
    }
    let chi2_n = sum / fe.len() as f64;
    assert!(chi2_n < chi2_max, "grid vs exact sum: chi2/n = {chi2_n}");
}

// ---------------------------------------------------------------------------------
// Bias storage on a cubic Hermite grid.

fn grid_config(
    lower: Vec<f64>,
    upper: Vec<f64>,
    intervals: Vec<usize>,
    sigma: Vec<f64>,
) -> MetadynamicsConfig {
    MetadynamicsConfig {
        lower: lower.clone(),
        upper: upper.clone(),
        bins: vec![5; lower.len()],
        sigma,
        height: 1.0,
        bias_factor: 5.0,
        kt: KT,
        storage: BiasStorage::Grid(BiasGridConfig {
            lower,
            upper,
            intervals,
            cutoff: 6.25,
        }),
    }
}

/// The exact sum of Gaussians (heights as deposited), written out independently of the
/// library: `Σ_k w_k exp(−Σ_c d_c²/2σ_c²)` with the short difference on periodic
/// components.
fn gaussian_sum(
    hills: &[(Vec<f64>, f64)],
    sigma: &[f64],
    periods: &[Option<f64>],
    x: &[f64],
) -> f64 {
    hills
        .iter()
        .map(|(center, w)| {
            let z2: f64 = (0..x.len())
                .map(|c| {
                    let mut d = x[c] - center[c];
                    if let Some(p) = periods[c] {
                        d -= p * (d / p).round();
                    }
                    (d / sigma[c]).powi(2)
                })
                .sum();
            w * (-0.5 * z2).exp()
        })
        .sum()
}

/// Deposits at `centers`, returning the hills with the heights the bias chose.
fn deposit_all(
    meta: &Metadynamics,
    periods: &[Option<f64>],
    centers: &[Vec<f64>],
) -> Vec<(Vec<f64>, f64)> {
    centers
        .iter()
        .map(|x| (x.clone(), meta.deposit(x, periods)))
        .collect()
}

/// The largest deviation of the gradient from central differences of the energy at
/// `points`, relative to the largest gradient component seen.
fn gradient_error(meta: &Metadynamics, periods: &[Option<f64>], points: &[Vec<f64>]) -> f64 {
    let dim = periods.len();
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    let mut g = vec![0.0; dim];
    let mut scratch = vec![0.0; dim];
    for x in points {
        meta.energy(x, periods, &mut g);
        for c in 0..dim {
            let eps = 1e-6;
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[c] += eps;
            xm[c] -= eps;
            let fd = (meta.energy(&xp, periods, &mut scratch)
                - meta.energy(&xm, periods, &mut scratch))
                / (2.0 * eps);
            worst = worst.max((g[c] - fd).abs());
            scale = scale.max(g[c].abs());
        }
    }
    assert!(scale > 0.1, "no gradient to check: {scale}");
    worst / scale
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

#[test]
fn grid_gradient_is_the_derivative_of_the_grid_energy_in_1d() {
    // Non-periodic, with hills near both edges.
    let periods = [None];
    let meta = Metadynamics::new(grid_config(vec![0.0], vec![2.0], vec![40], vec![0.1])).unwrap();
    deposit_all(
        &meta,
        &periods,
        &[vec![0.05], vec![0.3], vec![0.37], vec![1.0], vec![1.96]],
    );
    let points: Vec<Vec<f64>> = (0..400).map(|k| vec![1e-5 + k as f64 * 0.005]).collect();
    let err = gradient_error(&meta, &periods, &points);
    assert!(err < 1e-6, "relative gradient error {err}");
    assert_eq!(meta.outside_grid_evaluations(), 0);

    // Periodic over (−π, π], hills on both sides of the seam.
    let pi = std::f64::consts::PI;
    let periods = [Some(2.0 * pi)];
    let meta = Metadynamics::with_periods(
        grid_config(vec![-pi], vec![pi], vec![64], vec![0.3]),
        &periods,
    )
    .unwrap();
    let hills = deposit_all(&meta, &periods, &[vec![3.0], vec![-3.1], vec![0.2]]);
    let mut points: Vec<Vec<f64>> = (0..300).map(|k| vec![-pi + k as f64 * 0.021]).collect();
    points.extend([pi - 1e-7, pi, -pi, -pi + 1e-7, pi + 0.05].map(|x| vec![x]));
    let err = gradient_error(&meta, &periods, &points);
    assert!(err < 1e-6, "relative gradient error across the seam {err}");
    // One period later it is the same point.
    let mut g = [0.0];
    let mut g_shifted = [0.0];
    for x in [-pi + 0.013, 0.5, pi - 0.02] {
        let v = meta.energy(&[x], &periods, &mut g);
        let v_shifted = meta.energy(&[x + 2.0 * pi], &periods, &mut g_shifted);
        assert!((v - v_shifted).abs() < 1e-12 && (g[0] - g_shifted[0]).abs() < 1e-10);
    }
    // Across the seam, hills on the other side count (the grid wraps): agreement with
    // the exact sum to the interpolation bound (h/σ)⁴ Σw/128 (see the next tests).
    let h = 2.0 * pi / 64.0;
    let bound = (h / 0.3f64).powi(4) * hills.iter().map(|h| h.1).sum::<f64>() / 128.0;
    for x in [pi - 0.01, -pi + 0.01, pi] {
        let want = gaussian_sum(&hills, &[0.3], &periods, &[x]);
        let got = meta.energy(&[x], &periods, &mut g);
        assert!(want > 0.5, "{want}");
        assert!((got - want).abs() < bound, "at {x}: {got} vs {want}");
    }
    assert_eq!(meta.outside_grid_evaluations(), 0);
}

#[test]
fn grid_gradient_is_the_derivative_of_the_grid_energy_in_2d() {
    // Component 0 non-periodic, component 1 periodic over (−π, π].
    let pi = std::f64::consts::PI;
    let periods = [None, Some(2.0 * pi)];
    let sigma = vec![0.08, 0.3];
    let meta = Metadynamics::with_periods(
        grid_config(vec![0.0, -pi], vec![1.0, pi], vec![25, 48], sigma.clone()),
        &periods,
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut centers: Vec<Vec<f64>> = (0..20)
        .map(|_| vec![uniform(&mut rng, 0.1, 0.9), uniform(&mut rng, -pi, pi)])
        .collect();
    centers.extend([vec![0.5, 3.05], vec![0.55, -3.1]]);
    let hills = deposit_all(&meta, &periods, &centers);
    let mut points: Vec<Vec<f64>> = (0..300)
        .map(|_| vec![uniform(&mut rng, 0.0, 1.0), uniform(&mut rng, -pi, pi)])
        .collect();
    points.extend((0..40).map(|k| vec![0.4 + 0.005 * k as f64, pi - 2e-3 + 1e-4 * k as f64]));
    let err = gradient_error(&meta, &periods, &points);
    assert!(err < 1e-6, "relative gradient error {err}");
    // Near the seam the wrapped grid agrees with the exact sum (the interpolation
    // bound per component, doubled for the mixed terms of the tensor product).
    let total: f64 = hills.iter().map(|h| h.1).sum();
    let bound = 2.0 * total / 128.0 * ((0.04f64 / 0.08).powi(4) + (2.0 * pi / 48.0 / 0.3).powi(4));
    let mut g = [0.0; 2];
    for x in [[0.52, pi - 0.01], [0.52, -pi + 0.01], [0.52, pi]] {
        let want = gaussian_sum(&hills, &sigma, &periods, &x);
        let got = meta.energy(&x, &periods, &mut g);
        assert!(want > 0.3, "{want}");
        assert!(
            (got - want).abs() < bound,
            "at {x:?}: {got} vs {want} (bound {bound})"
        );
    }
}

/// Largest |V_grid − V_exact| and |∇V_grid − ∇V_exact| over points of the grid, for a
/// 1-D grid of spacing `h`, and the sum of the hill heights.
fn grid_errors_1d(h: f64, sigma: f64) -> (f64, f64, f64) {
    let periods = [None];
    let intervals = (2.0 / h).round() as usize;
    let meta = Metadynamics::new(grid_config(
        vec![0.0],
        vec![2.0],
        vec![intervals],
        vec![sigma],
    ))
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let centers: Vec<Vec<f64>> = (0..30).map(|_| vec![uniform(&mut rng, 0.4, 1.6)]).collect();
    let hills = deposit_all(&meta, &periods, &centers);
    let (mut value_err, mut gradient_err) = (0.0f64, 0.0f64);
    let mut g = [0.0];
    for k in 0..=2000 {
        let x = 2.0 * k as f64 / 2000.0;
        let v = meta.energy(&[x], &periods, &mut g);
        value_err = value_err.max((v - gaussian_sum(&hills, &[sigma], &periods, &[x])).abs());
        let eps = 1e-6;
        let exact_gradient = (gaussian_sum(&hills, &[sigma], &periods, &[x + eps])
            - gaussian_sum(&hills, &[sigma], &periods, &[x - eps]))
            / (2.0 * eps);
        gradient_err = gradient_err.max((g[0] - exact_gradient).abs());
    }
    (value_err, gradient_err, hills.iter().map(|h| h.1).sum())
}

/// The grid energy approximates the exact sum within the cubic Hermite error bound
/// `h⁴ max|V''''|/384 = (h/σ)⁴ w/128` per hill (the interpolation is linear, so the
/// bounds of the hills add), and converges at fourth order in the spacing (third for
/// the gradient).
#[test]
fn grid_energy_approximates_the_exact_sum() {
    let sigma = 0.1;
    let (v_half, g_half, total) = grid_errors_1d(sigma / 2.0, sigma);
    let (v_quarter, g_quarter, _) = grid_errors_1d(sigma / 4.0, sigma);
    let truncation = total * (-0.5f64 * 6.25 * 6.25).exp();
    let bound = |h: f64| total * (h / sigma).powi(4) / 128.0 + truncation;
    assert!(
        v_half < bound(sigma / 2.0),
        "{v_half} vs {}",
        bound(sigma / 2.0)
    );
    assert!(
        v_quarter < bound(sigma / 4.0),
        "{v_quarter} vs {}",
        bound(sigma / 4.0)
    );
    // Orders of convergence: ideally 16 and 8.
    assert!(v_half / v_quarter > 12.0, "{v_half} / {v_quarter}");
    assert!(g_half / g_quarter > 6.0, "{g_half} / {g_quarter}");
    // At h = σ/2 the force error is a small fraction of the force scale w/σ per hill.
    assert!(g_half < 0.01 * total / sigma, "{g_half}");
}

#[test]
fn off_the_grid_the_bias_is_the_exact_sum_and_is_counted() {
    let periods = [None];
    let sigma = [0.1];
    let meta = Metadynamics::new(grid_config(vec![0.0], vec![1.0], vec![20], vec![0.1])).unwrap();
    // The third hill lies off the grid: its height uses the exact sum there.
    let hills = deposit_all(&meta, &periods, &[vec![0.9], vec![0.95], vec![1.08]]);
    assert_eq!(meta.outside_grid_evaluations(), 1);
    let kdt = 4.0 * KT;
    let expected = (-gaussian_sum(&hills[..2], &sigma, &periods, &[1.08]) / kdt).exp();
    assert!(
        (hills[2].1 - expected).abs() < 1e-14,
        "{} vs {expected}",
        hills[2].1
    );
    let mut g = [0.0];
    for (k, x) in [1.05, 1.2, -0.1].into_iter().enumerate() {
        let v = meta.energy(&[x], &periods, &mut g);
        let want = gaussian_sum(&hills, &sigma, &periods, &[x]);
        assert!((v - want).abs() < 1e-14 * (1.0 + want), "{v} vs {want}");
        assert_eq!(meta.outside_grid_evaluations(), 2 + k as u64);
    }
    // Inside the grid nothing is counted; `value` never counts.
    meta.energy(&[0.5], &periods, &mut g);
    meta.value(&[1.5], &periods);
    assert_eq!(meta.outside_grid_evaluations(), 4);
    // The hill deposited off the grid still reaches into it, to within truncation and
    // interpolation errors.
    let want = gaussian_sum(&hills, &sigma, &periods, &[0.99]);
    let v = meta.energy(&[0.99], &periods, &mut g);
    assert!(
        (v - want).abs() < 3.0 * (0.5f64).powi(4) / 128.0,
        "{v} vs {want}"
    );
}

/// The well-tempered height uses the bias the dynamics feels: on a coarse grid
/// (spacing σ) the interpolant differs visibly from the exact sum, and the height
/// follows the interpolant.
#[test]
fn well_tempered_height_uses_the_grid_bias() {
    let periods = [None];
    let sigma = [0.1];
    let meta = Metadynamics::new(grid_config(vec![0.0], vec![1.0], vec![10], vec![0.1])).unwrap();
    let first = deposit_all(&meta, &periods, &[vec![0.5]]);
    assert_eq!(first[0].1, 1.0);
    let x = [0.5 + 0.55 * sigma[0]];
    let on_grid = meta.value(&x, &periods);
    let exact = gaussian_sum(&first, &sigma, &periods, &x);
    assert!(
        (on_grid - exact).abs() > 1e-3,
        "{on_grid} vs {exact}: the test cannot tell"
    );
    let height = meta.deposit(&x, &periods);
    let kdt = 4.0 * KT;
    assert!((height - (-on_grid / kdt).exp()).abs() < 1e-14);
    assert!((height - (-exact / kdt).exp()).abs() > 1e-4);
}

#[test]
fn bad_bias_grids_are_errors() {
    let pi = std::f64::consts::PI;
    let good = grid_config(vec![-pi], vec![pi], vec![36], vec![0.2]);
    let with = |edit: fn(&mut BiasGridConfig)| {
        let mut config = good.clone();
        if let BiasStorage::Grid(grid) = &mut config.storage {
            edit(grid);
        }
        config
    };
    let periodic = [Some(2.0 * pi)];
    assert!(Metadynamics::with_periods(good.clone(), &periodic).is_ok());
    for bad in [
        with(|g| g.upper = vec![3.0]),      // does not span the period
        with(|g| g.intervals = vec![1]),    // too few intervals
        with(|g| g.cutoff = 0.0),           // no cutoff
        with(|g| g.lower = vec![0.0, 1.0]), // wrong dimension
    ] {
        assert!(
            matches!(
                Metadynamics::with_periods(bad, &periodic),
                Err(CvError::InvalidDefinition { .. })
            ),
            "accepted a bad grid"
        );
    }
    // Five components are more than a grid supports.
    let five = grid_config(vec![0.0; 5], vec![1.0; 5], vec![4; 5], vec![0.2; 5]);
    assert!(Metadynamics::new(five).is_err());
    // A grid laid out without periods does not fit a periodic CV (a dihedral) ...
    let dihedral: Arc<dyn CollectiveVariable> = Arc::new(Dihedral::new(0, 1, 2, 3).unwrap());
    let flat = Arc::new(Metadynamics::new(good.clone()).unwrap());
    assert!(matches!(
        Bias::new(dihedral.clone(), flat),
        Err(CvError::InvalidDefinition { .. })
    ));
    // ... one laid out with them does, and exact storage fits either.
    let wrapped = Arc::new(Metadynamics::with_periods(good.clone(), &periodic).unwrap());
    assert!(Bias::new(dihedral.clone(), wrapped).is_ok());
    let exact = MetadynamicsConfig {
        storage: BiasStorage::Exact,
        ..good
    };
    assert!(Bias::new(dihedral, Arc::new(Metadynamics::new(exact).unwrap())).is_ok());
}

/// Constant-energy dynamics under a grid bias conserves energy: the total energy's
/// excursion is the integrator's, shrinking as dt² (a force that were not the
/// gradient of the reported energy would add an error that does not).
#[test]
fn nve_dynamics_with_a_grid_bias_conserves_energy() {
    let periods = [None];
    let sigma = 0.05;
    let meta = Arc::new(
        Metadynamics::new(grid_config(vec![0.5], vec![2.6], vec![84], vec![sigma])).unwrap(),
    );
    // A coarse imprint of the well: hills every σ over both minima.
    for k in 0..24 {
        meta.deposit(&[1.0 + 0.05 * k as f64], &periods);
    }
    let excursion = |dt: f64| {
        let (mut state, potential) = system(0).unwrap();
        state.velocities[1] = Vec3::new(4.0, 0.0, 0.0);
        let potential = potential
            .with(Bias::new(Arc::new(Distance::new(0, 1).unwrap()), meta.clone()).unwrap());
        let forcefield = ForceField::new(potential, 0.3).unwrap();
        let mut sim = Simulation::new(
            state,
            forcefield,
            Box::new(VelocityVerlet::new(dt).unwrap()),
        )
        .unwrap();
        let e0 = sim.sample().conserved_energy;
        let steps = (4.0 / dt).round() as u64;
        let mut worst = 0.0f64;
        let mut r = Vec::new();
        for _ in 0..steps {
            sim.step().unwrap();
            worst = worst.max((sim.sample().conserved_energy - e0).abs());
            let s = sim.state();
            r.push((s.positions[1] - s.positions[0]).norm());
        }
        (worst, r)
    };
    let (coarse, r) = excursion(0.002);
    let (fine, _) = excursion(0.001);
    // The trajectory crosses the biased region.
    let (r_min, r_max) = r
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(r_min < 1.1 && r_max > 1.9, "[{r_min}, {r_max}]");
    assert!(coarse < 1e-2, "energy excursion {coarse}");
    let ratio = coarse / fine;
    assert!(
        (3.0..5.0).contains(&ratio),
        "excursion ratio {ratio} (dt² gives 4)"
    );
    assert_eq!(meta.outside_grid_evaluations(), 0);
}

/// After many hills the grid still agrees with the exact sum of the same hills within
/// the interpolation bound, in 1-D and 2-D. The time per evaluation of both storages
/// is printed (`--nocapture`), never asserted: 10³ hills by default, 10⁴ with
/// `THERMOGRAD_SLOW=1`.
#[test]
fn grid_matches_the_exact_sum_after_many_hills() {
    let slow = std::env::var("THERMOGRAD_SLOW").is_ok_and(|v| v == "1");
    let hills = if slow { 10_000 } else { 1_000 };
    for dim in [1, 2] {
        let sigma = vec![0.1; dim];
        let periods = vec![None; dim];
        let grid = Metadynamics::new(grid_config(
            vec![0.0; dim],
            vec![2.0; dim],
            vec![40; dim],
            sigma.clone(),
        ))
        .unwrap();
        let exact = Metadynamics::new(MetadynamicsConfig {
            storage: BiasStorage::Exact,
            ..grid.config().clone()
        })
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let centers: Vec<Vec<f64>> = (0..hills)
            .map(|_| (0..dim).map(|_| uniform(&mut rng, 0.2, 1.8)).collect())
            .collect();
        let deposited = deposit_all(&grid, &periods, &centers);
        deposit_all(&exact, &periods, &centers);
        let total: f64 = deposited.iter().map(|h| h.1).sum();
        let bound = 2.0 * dim as f64 * total * 0.5f64.powi(4) / 128.0;
        let points: Vec<Vec<f64>> = (0..200)
            .map(|_| (0..dim).map(|_| uniform(&mut rng, 0.0, 2.0)).collect())
            .collect();
        let mut g = vec![0.0; dim];
        let mut worst = 0.0f64;
        for x in &points {
            let want = gaussian_sum(&deposited, &sigma, &periods, x);
            worst = worst.max((grid.energy(x, &periods, &mut g) - want).abs());
        }
        assert!(worst < bound, "{dim}-D: error {worst} vs bound {bound}");
        assert_eq!(grid.outside_grid_evaluations(), 0);
        let mut time = |meta: &Metadynamics, repeats: usize| {
            let start = std::time::Instant::now();
            let mut sum = 0.0;
            for _ in 0..repeats {
                for x in &points {
                    sum += meta.energy(x, &periods, &mut g);
                }
            }
            assert!(sum.is_finite());
            start.elapsed().as_secs_f64() / (repeats * points.len()) as f64
        };
        let (t_grid, t_exact) = (time(&grid, 200), time(&exact, 2));
        eprintln!(
            "{dim}-D, {hills} hills: grid {:.3} µs, exact sum {:.3} µs per evaluation \
             (max grid error {worst:.2e}; sum of heights {:.1})",
            t_grid * 1e6,
            t_exact * 1e6,
            total
        );
    }
}

/// Configurations and results serialized before the storage option existed still load
/// (as exact storage), and a grid configuration survives a round trip.
#[test]
fn configurations_without_storage_still_load() {
    let old = r#"{"lower":[0.0],"upper":[1.0],"bins":[11],"sigma":[0.1],"height":0.5,
                  "bias_factor":8.0,"kt":2.5}"#;
    let config: MetadynamicsConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config.storage, BiasStorage::Exact);
    assert_eq!(config.sigma, vec![0.1]);
    let grid = grid_config(vec![0.0], vec![1.0], vec![20], vec![0.1]);
    let text = serde_json::to_string(&grid).unwrap();
    assert_eq!(
        serde_json::from_str::<MetadynamicsConfig>(&text).unwrap(),
        grid
    );
    // The cutoff has a default.
    let text = text.replace(r#","cutoff":6.25"#, "");
    assert!(!text.contains("cutoff"));
    assert_eq!(
        serde_json::from_str::<MetadynamicsConfig>(&text).unwrap(),
        grid
    );
    // A walker's record without the off-grid count.
    let walker = r#"{"hills":[],"times":[],"series":[[]],"bias":[],"snapshots":[],
                     "free_energy":[0.0]}"#;
    let walker: thermograd_cv::MetadynamicsWalker = serde_json::from_str(walker).unwrap();
    assert_eq!(walker.outside_grid, 0);
}
