//! Umbrella sampling of small systems whose free energy is known in closed form.
//!
//! - Two particles in 3-D with a pair potential U(r): the PMF along their distance is
//!   exactly W(r) = U(r) − 2kT ln r + const (the r² Jacobian of the radial coordinate),
//!   so the mean force is W'(r) = U'(r) − 2kT/r.
//! - Three particles in a chain 0–1–2 with independent pair potentials on 0–1 and 1–2
//!   and none on 0–2: the two bond vectors are independent, so along (r₀₁, r₁₂) the free
//!   energy is A = Σ_b [U_b(r_b) − 2kT ln r_b] + const (a 2-D grid of windows).
//! - Three particles with harmonic bonds and a harmonic angle potential U_θ(θ) at the
//!   middle atom: along θ, A(θ) = U_θ(θ) − kT ln sin θ + const (the solid-angle
//!   Jacobian).

use std::sync::Arc;

use thermograd_cv::{
    grid_centers, run_umbrella, umbrella_integration, Angle, CollectiveVariable, Distance,
    MeanForceMethod, MeanForceTable, Stack, UmbrellaConfig,
};
use thermograd_estimators::{Mbar, MbarConfig};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{
    BondedPrior, Configuration, Evaluation, PotentialSum, RunConfig, State, ThermostatConfig,
    Topology,
};

const KT: f64 = 1.0;
const STIFF: f64 = 2.0;
const R0: f64 = 1.3;

/// U(r) = stiff (r − r0)² between atoms i and j (minimum image).
#[derive(Debug)]
struct Spring {
    i: usize,
    j: usize,
    stiff: f64,
    r0: f64,
}

impl thermograd_md::Potential for Spring {
    fn cutoff(&self) -> Option<f64> {
        None
    }
    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
        let d = c
            .simbox
            .displacement(&c.positions[self.i], &c.positions[self.j]);
        let r = d.norm();
        out.energy += self.stiff * (r - self.r0).powi(2);
        let f = d * (2.0 * self.stiff * (r - self.r0) / r); // force on i = −∂U/∂r_i
        out.forces[self.i] += f;
        out.forces[self.j] -= f;
        out.virial += d * (-f).transpose();
        Ok(())
    }
}

/// W'(r) for a spring `stiff (r − r0)²` with the radial Jacobian.
fn radial_mean_force(r: f64, stiff: f64, r0: f64) -> f64 {
    2.0 * stiff * (r - r0) - 2.0 * KT / r
}

/// W''(r) of the same.
fn radial_curvature(r: f64, stiff: f64) -> f64 {
    2.0 * stiff + 2.0 * KT / (r * r)
}

fn sampling(production_steps: u64, seed: u64) -> (ThermostatConfig, RunConfig) {
    (
        ThermostatConfig {
            dt: 0.01,
            kt: KT,
            tau: 0.2,
            seed,
        },
        RunConfig {
            equilibration_steps: 1000,
            production_steps,
            stride: 10,
            progress: false,
        },
    )
}

/// Compares a mean-force table with the exact gradient, one component at a time.
///
/// The table's point ⟨ξ⟩ is itself noisy, so `g − A'(⟨ξ⟩)` has the standard deviation
/// `sqrt(v)·(κ + A'')/κ` for umbrella integration (and less for averaged instantaneous
/// forces, whose noise partly cancels that of the point); `scale` gives that factor.
/// Returns χ²/n of the data against the exact gradient and against `wrong`, a gradient
/// that lacks the Jacobian term, so a test can show that it tells them apart.
fn chi2(
    table: &MeanForceTable,
    exact: impl Fn(&[f64], usize) -> f64,
    wrong: impl Fn(&[f64], usize) -> f64,
    scale: impl Fn(&[f64], usize) -> f64,
) -> (f64, f64) {
    let (mut good, mut bad, mut n) = (0.0, 0.0, 0.0);
    for ((x, g), v) in table
        .points
        .iter()
        .zip(&table.gradients)
        .zip(&table.variances)
    {
        for c in 0..x.len() {
            let sigma = v[c].sqrt() * scale(x, c);
            let z = (g[c] - exact(x, c)) / sigma;
            assert!(
                z.abs() < 4.0,
                "at {x:?} component {c}: g = {:.4}, exact {:.4}, z = {z:.2}",
                g[c],
                exact(x, c)
            );
            good += z * z;
            bad += ((g[c] - wrong(x, c)) / sigma).powi(2);
            n += 1.0;
        }
    }
    (good / n, bad / n)
}

fn dimer(centers: &[Vec<f64>], masses: [f64; 2]) -> impl Fn(usize) -> DimerSystem + Sync + '_ {
    move |k: usize| {
        let r = centers[k][0];
        let state = State::new(
            vec![Vec3::zeros(), Vec3::new(r, 0.0, 0.0)],
            masses.to_vec(),
            vec![0, 0],
            SimBox::open(),
        )?;
        Ok((
            state,
            PotentialSum::new().with(Spring {
                i: 0,
                j: 1,
                stiff: STIFF,
                r0: R0,
            }),
        ))
    }
}

type DimerSystem = thermograd_md::Result<(State, PotentialSum)>;

/// The sharpest check of `E[F | ξ] = ∇A(ξ)`: in every window, the residuals
/// `F_t − ∂A/∂ξ_c(ξ_t)` of the instantaneous forces average to zero within their
/// standard error (statistical inefficiency from thermograd-estimators), with no
/// curvature bias from the window width. Returns χ²/n against the exact gradient and
/// against `wrong`.
fn residual_chi2(
    run: &thermograd_cv::UmbrellaRun,
    exact: impl Fn(&[f64], usize) -> f64,
    wrong: impl Fn(&[f64], usize) -> f64,
) -> (f64, f64) {
    use thermograd_estimators::{statistical_inefficiency, StatisticalInefficiencyConfig};
    let mean_and_error = |r: &[f64]| {
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let g = statistical_inefficiency(r, &StatisticalInefficiencyConfig::default()).unwrap();
        (mean, (var * g / n).sqrt())
    };
    let (mut good, mut bad, mut n) = (0.0, 0.0, 0.0);
    for (window, forces) in run.windows.iter().zip(&run.forces) {
        let dim = window.series.len();
        for (c, force) in forces.iter().enumerate() {
            let residuals = |grad: &dyn Fn(&[f64], usize) -> f64| -> Vec<f64> {
                force
                    .iter()
                    .enumerate()
                    .map(|(t, f)| {
                        let x: Vec<f64> = (0..dim).map(|d| window.series[d][t]).collect();
                        f - grad(&x, c)
                    })
                    .collect()
            };
            let (mean, err) = mean_and_error(&residuals(&exact));
            let z = mean / err;
            assert!(
                z.abs() < 4.0,
                "window {:?} component {c}: residual {mean:.4} ± {err:.4}",
                window.center
            );
            good += z * z;
            let (mean, err) = mean_and_error(&residuals(&wrong));
            bad += (mean / err).powi(2);
            n += 1.0;
        }
    }
    (good / n, bad / n)
}

#[test]
fn umbrella_integration_reproduces_the_radial_mean_force() {
    let kappa = 60.0;
    let (thermostat, run) = sampling(40_000, 11);
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.9], &[1.5], &[7]).unwrap(),
        kappa: vec![kappa],
        thermostat,
        run,
        skin: 0.3,
        progress: false,
        mean_force: MeanForceMethod::UmbrellaIntegration,
        faults: Default::default(),
    };
    let system = dimer(&config.centers, [1.0, 1.0]);
    let run = run_umbrella(&config, Arc::new(Distance::new(0, 1).unwrap()), &system).unwrap();
    let table = run.mean_forces().unwrap();
    let (good, bad) = chi2(
        &table,
        |x, _| radial_mean_force(x[0], STIFF, R0),
        |x, _| 2.0 * STIFF * (x[0] - R0),
        |x, _| (kappa + radial_curvature(x[0], STIFF)) / kappa,
    );
    assert!(good < 4.0, "chi2/n = {good}");
    // Without the −2kT/r term the data are clearly inconsistent: the test can tell.
    assert!(bad > 25.0, "chi2/n without Jacobian = {bad}");
    // MBAR on the same windows, reweighted to the unbiased state, must reproduce the
    // PMF: bin free energies −ln ∫_bin r² exp(−U/kT) dr, relative to the lowest bin.
    let (u_kn, n_k) = run.reduced_bias_energies();
    assert_eq!(u_kn.len(), 7);
    assert_eq!(n_k.iter().sum::<usize>(), u_kn[0].len());
    let x_n: Vec<f64> = run
        .windows
        .iter()
        .flat_map(|w| w.series[0].iter().copied())
        .collect();
    let mbar = Mbar::new(&u_kn, &n_k, &MbarConfig::default()).unwrap();
    let edges: Vec<f64> = (0..=12).map(|i| 0.9 + 0.05 * i as f64).collect();
    let pmf = mbar.pmf(&vec![0.0; x_n.len()], &x_n, &edges).unwrap();
    let exact: Vec<f64> = edges
        .windows(2)
        .map(|e| {
            // Simpson's rule on a fine grid inside the bin.
            let m = 200;
            let h = (e[1] - e[0]) / m as f64;
            let p = |r: f64| r * r * (-STIFF * (r - R0).powi(2) / KT).exp();
            let mut sum = p(e[0]) + p(e[1]);
            for i in 1..m {
                sum += p(e[0] + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            -(sum * h / 3.0).ln()
        })
        .collect();
    let reference = pmf.reference_bin;
    for b in 0..exact.len() {
        if b == reference {
            continue;
        }
        let want = exact[b] - exact[reference];
        let z = (pmf.f[b] - want) / pmf.std_err[b];
        assert!(
            z.abs() < 4.0,
            "bin {b}: MBAR {:.4} ± {:.4}, exact {want:.4}",
            pmf.f[b],
            pmf.std_err[b]
        );
    }
}

#[test]
fn instantaneous_force_of_a_dimer_is_the_radial_mean_force() {
    let kappa = 150.0;
    let (thermostat, run) = sampling(10_000, 12);
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.9], &[1.5], &[4]).unwrap(),
        kappa: vec![kappa],
        thermostat,
        run,
        skin: 0.3,
        progress: false,
        mean_force: MeanForceMethod::InstantaneousForce { step: 1e-4 },
        faults: Default::default(),
    };
    // Unequal masses: the mass-weighted projection must not change the result.
    let system = dimer(&config.centers, [1.0, 3.0]);
    let run = run_umbrella(&config, Arc::new(Distance::new(0, 1).unwrap()), &system).unwrap();
    // For two isolated particles the estimator is exact sample by sample:
    // F = U'(r) − 2kT/r, with the window's bias removed from the sampled forces.
    assert_eq!(run.forces.len(), 4);
    for (window, forces) in run.windows.iter().zip(&run.forces) {
        assert_eq!(forces[0].len(), window.series[0].len());
        for (r, f) in window.series[0].iter().zip(&forces[0]) {
            let exact = radial_mean_force(*r, STIFF, R0);
            assert!((f - exact).abs() < 1e-6, "r = {r}: F = {f}, exact {exact}");
        }
    }
    // The local quadratic fit removes the curvature bias W'''σ²/2 of a plain window
    // average. F is a function of r alone here, so the error bars are tiny (from the
    // cubic misfit, ∝ σ³) and must still cover the fourth-order bias −W⁽⁵⁾σ⁴/8 =
    // 6kTσ⁴/r⁵ (∝ σ⁴): stiff windows keep it below them.
    let table = run.mean_forces().unwrap();
    let (good, bad) = chi2(
        &table,
        |x, _| radial_mean_force(x[0], STIFF, R0),
        |x, _| 2.0 * STIFF * (x[0] - R0),
        |_, _| 1.0,
    );
    assert!(good < 4.0, "chi2/n = {good}");
    assert!(bad > 25.0, "chi2/n without Jacobian = {bad}");
}

/// Two independent springs in a chain, (r₀₁, r₁₂) on a 3 × 3 grid of windows.
#[test]
fn two_dimensional_windows_reproduce_the_gradient_of_a_chain() {
    let (stiff, rest) = ([2.0, 3.5], [1.2, 1.0]);
    let kappa = 60.0;
    let (thermostat, run) = sampling(20_000, 13);
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.9, 0.8], &[1.4, 1.2], &[3, 3]).unwrap(),
        kappa: vec![kappa, kappa],
        thermostat,
        run,
        skin: 0.3,
        progress: false,
        mean_force: MeanForceMethod::InstantaneousForce { step: 1e-4 },
        faults: Default::default(),
    };
    assert_eq!(config.centers.len(), 9);
    let centers = config.centers.clone();
    let system = move |k: usize| {
        let [r1, r2] = [centers[k][0], centers[k][1]];
        let state = State::new(
            vec![
                Vec3::zeros(),
                Vec3::new(r1, 0.0, 0.0),
                Vec3::new(r1 + r2 * 0.6, r2 * 0.8, 0.0),
            ],
            vec![1.0, 2.0, 3.0],
            vec![0; 3],
            SimBox::open(),
        )?;
        let potential = PotentialSum::new()
            .with(Spring {
                i: 0,
                j: 1,
                stiff: stiff[0],
                r0: rest[0],
            })
            .with(Spring {
                i: 1,
                j: 2,
                stiff: stiff[1],
                r0: rest[1],
            });
        Ok((state, potential))
    };
    let cv: Arc<dyn CollectiveVariable> = Arc::new(
        Stack::new(vec![
            Box::new(Distance::new(0, 1).unwrap()),
            Box::new(Distance::new(1, 2).unwrap()),
        ])
        .unwrap(),
    );
    let run = run_umbrella(&config, cv, &system).unwrap();
    let exact = |x: &[f64], c: usize| radial_mean_force(x[c], stiff[c], rest[c]);
    let wrong = |x: &[f64], c: usize| 2.0 * stiff[c] * (x[c] - rest[c]);
    // Umbrella integration on the windows, component by component.
    let ui = umbrella_integration(&run.windows).unwrap();
    let (good, bad) = chi2(&ui, exact, wrong, |x, c| {
        (kappa + radial_curvature(x[c], stiff[c])) / kappa
    });
    assert!(good < 4.0, "umbrella integration chi2/n = {good}");
    assert!(bad > 25.0, "umbrella integration without Jacobian: {bad}");
    // The instantaneous force on the same samples. The metric couples the two distances
    // through the shared atom, so the divergence term fluctuates with the bond angle;
    // only its average is 2/r.
    let spread = run.forces[0][0]
        .iter()
        .zip(&run.windows[0].series[0])
        .map(|(f, r)| (f - exact(&[*r, 0.0], 0)).abs())
        .fold(0.0, f64::max);
    assert!(
        spread > 0.1,
        "instantaneous forces should fluctuate: {spread}"
    );
    let table = run.mean_forces().unwrap();
    let (good, bad) = chi2(&table, exact, wrong, |_, _| 1.0);
    assert!(good < 4.0, "instantaneous force chi2/n = {good}");
    assert!(bad > 25.0, "instantaneous force without Jacobian: {bad}");
    let (good, bad) = residual_chi2(&run, exact, wrong);
    assert!(good < 4.0, "instantaneous force residual chi2/n = {good}");
    assert!(
        bad > 25.0,
        "instantaneous force residual without Jacobian: {bad}"
    );
}

/// An angle with harmonic bonds: the instantaneous force fluctuates at fixed θ (bond
/// lengths and masses enter the divergence term), and only its conditional average is
/// A'(θ) = k_θ(θ − θ0) − kT cot θ.
#[test]
fn instantaneous_force_along_an_angle_has_the_sine_jacobian() {
    let (k_theta, theta0) = (4.0, 1.6);
    let kappa = 40.0;
    let (thermostat, run) = sampling(20_000, 14);
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.7], &[2.5], &[5]).unwrap(),
        kappa: vec![kappa],
        thermostat: ThermostatConfig {
            dt: 0.005,
            ..thermostat
        },
        run,
        skin: 0.3,
        progress: false,
        mean_force: MeanForceMethod::InstantaneousForce { step: 1e-4 },
        faults: Default::default(),
    };
    let centers = config.centers.clone();
    let system = move |k: usize| {
        let t: f64 = centers[k][0];
        let state = State::new(
            vec![
                Vec3::new(1.0, 0.0, 0.0),
                Vec3::zeros(),
                Vec3::new(t.cos(), t.sin(), 0.0),
            ],
            vec![1.0, 2.0, 0.5],
            vec![0; 3],
            SimBox::open(),
        )?;
        let topology = Topology {
            bonds: vec![
                thermograd_md::Bond {
                    atoms: [0, 1],
                    k: 100.0,
                    r0: 1.0,
                },
                thermograd_md::Bond {
                    atoms: [1, 2],
                    k: 100.0,
                    r0: 1.0,
                },
            ],
            angles: vec![thermograd_md::Angle {
                atoms: [0, 1, 2],
                k: k_theta,
                theta0,
            }],
            dihedrals: vec![],
        };
        Ok((
            state,
            PotentialSum::new().with(BondedPrior::new(topology, 3)?),
        ))
    };
    let run = run_umbrella(&config, Arc::new(Angle::new(0, 1, 2).unwrap()), &system).unwrap();
    let exact = |x: &[f64], _: usize| k_theta * (x[0] - theta0) - KT / x[0].tan();
    let wrong = |x: &[f64], _: usize| k_theta * (x[0] - theta0);
    let table = run.mean_forces().unwrap();
    let (good, bad) = chi2(&table, exact, wrong, |_, _| 1.0);
    assert!(good < 4.0, "instantaneous force chi2/n = {good}");
    assert!(bad > 25.0, "instantaneous force without Jacobian: {bad}");
    let (good, bad) = residual_chi2(&run, exact, wrong);
    assert!(good < 4.0, "instantaneous force residual chi2/n = {good}");
    assert!(
        bad > 25.0,
        "instantaneous force residual without Jacobian: {bad}"
    );
    let ui = umbrella_integration(&run.windows).unwrap();
    let (good, _) = chi2(&ui, exact, wrong, |x, _| {
        (kappa + k_theta + KT / x[0].sin().powi(2)) / kappa
    });
    assert!(good < 4.0, "umbrella integration chi2/n = {good}");
}
