//! Umbrella sampling of two particles in 3-D with a known pair potential U(r): the PMF
//! along their distance is exactly W(r) = U(r) − 2kT ln r + const (the r² Jacobian of
//! the radial coordinate), so the mean force is W'(r) = U'(r) − 2kT/r.

use std::sync::Arc;

use thermograd_cv::{grid_centers, run_umbrella, Distance, UmbrellaConfig};
use thermograd_estimators::{Mbar, MbarConfig};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, PotentialSum, RunConfig, State, ThermostatConfig};

const KT: f64 = 1.0;
const STIFF: f64 = 2.0;
const R0: f64 = 1.3;

/// U(r) = STIFF (r − R0)² between atoms 0 and 1, in open space.
#[derive(Debug)]
struct Spring;

impl thermograd_md::Potential for Spring {
    fn cutoff(&self) -> Option<f64> {
        None
    }
    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
        let d = c.positions[1] - c.positions[0];
        let r = d.norm();
        out.energy += STIFF * (r - R0).powi(2);
        let f = d * (2.0 * STIFF * (r - R0) / r); // force on 0 = −∂U/∂r0
        out.forces[0] += f;
        out.forces[1] -= f;
        out.virial += d * (-f).transpose();
        Ok(())
    }
}

fn mean_force(r: f64) -> f64 {
    2.0 * STIFF * (r - R0) - 2.0 * KT / r
}

fn curvature(r: f64) -> f64 {
    2.0 * STIFF + 2.0 * KT / (r * r)
}

#[test]
fn umbrella_integration_reproduces_the_radial_mean_force() {
    let kappa = 60.0;
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.9], &[1.5], &[7]).unwrap(),
        kappa: vec![kappa],
        thermostat: ThermostatConfig {
            dt: 0.01,
            kt: KT,
            tau: 0.2,
            seed: 11,
        },
        run: RunConfig {
            equilibration_steps: 1000,
            production_steps: 40_000,
            stride: 10,
            progress: false,
        },
        skin: 0.3,
        progress: false,
    };
    let centers = config.centers.clone();
    let system = move |k: usize| {
        let r = centers[k][0];
        let state = State::new(
            vec![Vec3::zeros(), Vec3::new(r, 0.0, 0.0)],
            vec![1.0, 1.0],
            vec![0, 0],
            SimBox::open(),
        )?;
        Ok((state, PotentialSum::new().with(Spring)))
    };
    let run = run_umbrella(&config, Arc::new(Distance::new(0, 1).unwrap()), &system).unwrap();
    let table = run.mean_forces().unwrap();
    let (mut chi2, mut chi2_no_jacobian) = (0.0, 0.0);
    for ((x, g), v) in table
        .points
        .iter()
        .zip(&table.gradients)
        .zip(&table.variances)
    {
        // The point ⟨r⟩ is itself noisy: var(g − W'(⟨r⟩)) = ((κ + W'')/κ)² var(g).
        let sigma = v[0].sqrt() * (kappa + curvature(x[0])) / kappa;
        let z = (g[0] - mean_force(x[0])) / sigma;
        assert!(
            z.abs() < 4.0,
            "window at {:.3}: g = {:.3}, exact {:.3}, z = {z:.2}",
            x[0],
            g[0],
            mean_force(x[0])
        );
        chi2 += z * z;
        chi2_no_jacobian += ((g[0] - 2.0 * STIFF * (x[0] - R0)) / sigma).powi(2);
    }
    let n = table.points.len() as f64;
    assert!(chi2 / n < 4.0, "chi2/n = {}", chi2 / n);
    // Without the −2kT/r term the data are clearly inconsistent: the test can tell.
    assert!(
        chi2_no_jacobian / n > 25.0,
        "chi2/n without Jacobian = {}",
        chi2_no_jacobian / n
    );
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
