//! MBAR against analytic answers, and its failure modes.
// The expected values are typed in from references.md on purpose, and index loops
// over states read more clearly here than zipped iterators.
#![allow(clippy::approx_constant, clippy::needless_range_loop)]

mod common;

use common::*;
use thermograd_estimators::*;

/// The references.md system: O = (0,1,2,3,4), K = (1,2,4,8,16).
fn reference_states() -> Vec<Harmonic> {
    [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 8.0), (4.0, 16.0)]
        .iter()
        .map(|&(o, k)| Harmonic { k, o })
        .collect()
}

#[test]
fn harmonic_oscillators_match_analytic_free_energies_and_expectations() {
    let states = reference_states();
    let n_k = [1000, 1000, 1000, 1000, 1000];
    let mut r = rng(101);
    let (xs, u_kn) = harmonic_u_kn(&states, &n_k, &states, &mut r);
    let mbar = Mbar::new(&u_kn, &n_k, &MbarConfig::default()).unwrap();
    let report = mbar.convergence();
    assert!(
        report.converged && report.gradient_norm <= 1e-10,
        "{report:?}"
    );
    let d = mbar.free_energy_differences().unwrap();
    // Exact values from references.md, typed in, not computed by the code under test.
    let exact = [0.0, 0.346573590, 0.693147181, 1.039720771, 1.386294361];
    for k in 1..5 {
        assert_z(
            &format!("f_{k}"),
            d.delta_f[0][k],
            exact[k],
            d.std_err[0][k],
        );
    }
    // Differences are antisymmetric, errors symmetric with a zero diagonal.
    for i in 0..5 {
        assert_eq!(d.std_err[i][i], 0.0);
        for j in 0..5 {
            assert!((d.delta_f[i][j] + d.delta_f[j][i]).abs() < 1e-12);
            assert!((d.std_err[i][j] - d.std_err[j][i]).abs() < 1e-12);
        }
    }
    // ⟨x⟩_k = O_k and ⟨(x − O_k)²⟩_k = 1/K_k.
    let mean_x = mbar.expectations(&xs).unwrap();
    for (k, s) in states.iter().enumerate() {
        assert_z(&format!("<x>_{k}"), mean_x[k].mean, s.o, mean_x[k].std_err);
    }
    let x2: Vec<f64> = xs.iter().map(|x| x * x).collect();
    let mean_x2 = mbar.expectations(&x2).unwrap();
    for (k, s) in states.iter().enumerate() {
        assert_z(
            &format!("<x^2>_{k}"),
            mean_x2[k].mean,
            s.o * s.o + 1.0 / s.k,
            mean_x2[k].std_err,
        );
    }
    // Kish ESS per state cannot exceed N and each sampled state keeps most of its own samples.
    for (k, ess) in mbar.kish_ess().iter().enumerate() {
        assert!(*ess <= 5000.0 && *ess > 500.0, "ESS_{k} = {ess}");
    }
}

#[test]
fn unsampled_and_perturbed_states_are_estimated_by_reweighting() {
    let sampled = [Harmonic { k: 1.0, o: 0.0 }, Harmonic { k: 2.0, o: 0.5 }];
    let unsampled = Harmonic { k: 1.5, o: 0.25 };
    let all = [sampled[0], unsampled, sampled[1]];
    let n_k = [2000, 0, 2000];
    let mut r = rng(55);
    let (xs, u_kn) = harmonic_u_kn(&sampled, &[2000, 2000], &all, &mut r);
    let mbar = Mbar::new(&u_kn, &n_k, &MbarConfig::default()).unwrap();
    let d = mbar.free_energy_differences().unwrap();
    assert_z(
        "unsampled",
        d.delta_f[0][1],
        0.5 * 1.5f64.ln(),
        d.std_err[0][1],
    );
    assert_z(
        "sampled",
        d.delta_f[0][2],
        0.5 * 2.0f64.ln(),
        d.std_err[0][2],
    );

    // Perturbed states: the unsampled one again (same answer) and K = 1.2.
    let pert = Harmonic { k: 1.2, o: 0.0 };
    let u_ln: Vec<Vec<f64>> = [unsampled, pert]
        .iter()
        .map(|s| xs.iter().map(|&x| s.u(x)).collect())
        .collect();
    let p = mbar.perturbed_free_energies(&u_ln).unwrap();
    let exact = 0.5 * (1.2f64 / 1.5).ln();
    assert_z("perturbed", p.delta_f[0][1], exact, p.std_err[0][1]);
    let f = mbar.free_energies();
    // f of the perturbed copy of state 1 equals the MBAR f of the unsampled state 1.
    let f_pert0 = f[1] + 0.0;
    let f_from_pert = p.delta_f[0][1] + f_pert0;
    assert!((f_from_pert - f_pert0 - p.delta_f[0][1]).abs() < 1e-12);
}

#[test]
fn exponential_distributions_give_ln_lambda() {
    let lambdas = [1.0, 2.0, 3.0];
    let n = 3000;
    let mut r = rng(77);
    let xs: Vec<f64> = lambdas
        .iter()
        .flat_map(|&l| exponential_samples(l, n, &mut r))
        .collect();
    let u_kn: Vec<Vec<f64>> = lambdas
        .iter()
        .map(|l| xs.iter().map(|x| l * x).collect())
        .collect();
    let mbar = Mbar::new(&u_kn, &[n, n, n], &MbarConfig::default()).unwrap();
    let d = mbar.free_energy_differences().unwrap();
    for k in 1..3 {
        assert_z(
            "exponential",
            d.delta_f[0][k],
            lambdas[k].ln(),
            d.std_err[0][k],
        );
    }
}

#[test]
fn identical_states_overlap_is_a_quarter_everywhere() {
    let h = Harmonic { k: 1.0, o: 0.0 };
    let mut r = rng(8);
    let (_, u_kn) = harmonic_u_kn(&[h; 4], &[50; 4], &[h; 4], &mut r);
    let mbar = Mbar::new(&u_kn, &[50; 4], &MbarConfig::default()).unwrap();
    let o = mbar.overlap().unwrap();
    for row in &o.matrix {
        for v in row {
            assert!((v - 0.25).abs() < 1e-12, "{v}");
        }
    }
    let expected = [1.0, 0.0, 0.0, 0.0];
    for (l, e) in o.eigenvalues.iter().zip(expected) {
        assert!((l - e).abs() < 1e-12, "{:?}", o.eigenvalues);
    }
    assert!((o.scalar - 1.0).abs() < 1e-12);
    for f in mbar.free_energies() {
        assert!(f.abs() < 1e-10);
    }
}

#[test]
fn bootstrap_errors_are_close_to_asymptotic_and_reproducible() {
    let states = [
        Harmonic { k: 1.0, o: 0.0 },
        Harmonic { k: 2.0, o: 0.5 },
        Harmonic { k: 4.0, o: 1.0 },
    ];
    let n_k = [300, 300, 300];
    let mut r = rng(12);
    let (_, u_kn) = harmonic_u_kn(&states, &n_k, &states, &mut r);
    let cfg = MbarConfig::default();
    let mbar = Mbar::new(&u_kn, &n_k, &cfg).unwrap();
    let asym = mbar.free_energy_differences().unwrap();
    let boot_cfg = BootstrapConfig::new(200, 99).unwrap();
    let boot = mbar.bootstrap(&boot_cfg, &cfg).unwrap();
    assert_eq!(boot, mbar.bootstrap(&boot_cfg, &cfg).unwrap());
    assert_eq!(boot.delta_f, asym.delta_f);
    for j in 1..3 {
        let ratio = boot.std_err[0][j] / asym.std_err[0][j];
        assert!((0.75..1.33).contains(&ratio), "state {j}: ratio {ratio}");
    }
}

#[test]
fn hard_problem_converges_by_newton_with_a_report() {
    // Exponential states spanning λ = 1 … 10⁶: free energies spread over 14 kT and
    // poor neighbour overlap, where plain self-consistent iteration crawls.
    let lambdas: Vec<f64> = (0..13).map(|i| 10f64.powf(i as f64 * 0.5)).collect();
    let n = 200;
    let mut r = rng(4);
    let xs: Vec<f64> = lambdas
        .iter()
        .flat_map(|&l| exponential_samples(l, n, &mut r))
        .collect();
    let u_kn: Vec<Vec<f64>> = lambdas
        .iter()
        .map(|l| xs.iter().map(|x| l * x).collect())
        .collect();
    let mbar = Mbar::new(&u_kn, &vec![n; lambdas.len()], &MbarConfig::default()).unwrap();
    let rep = mbar.convergence();
    assert!(rep.converged);
    assert_eq!(rep.method, SolverMethod::Newton);
    assert!(rep.newton_steps < 50, "{rep:?}");
    let d = mbar.free_energy_differences().unwrap();
    let last = lambdas.len() - 1;
    assert_z(
        "f_last",
        d.delta_f[0][last],
        lambdas[last].ln(),
        d.std_err[0][last],
    );
}

#[test]
fn umbrella_pmf_of_a_double_well_matches_the_potential() {
    // U(x) = h(x² − 1)² + c x at kT = 1; windows with κ = 12 every 0.25 on [−1.75, 1.75].
    let (h, c) = (2.0, 0.5);
    let u = |x: f64| h * (x * x - 1.0).powi(2) + c * x;
    let windows: Vec<UmbrellaWindow> = (0..15)
        .map(|i| UmbrellaWindow {
            center: -1.75 + 0.25 * i as f64,
            spring_constant: 12.0,
        })
        .collect();
    let n = 800;
    let mut r = rng(2024);
    // Inverse-CDF sampling of exp(−U − b) on a fine grid.
    let grid: Vec<f64> = (0..=60_000)
        .map(|i| -3.0 + 6.0 * i as f64 / 60_000.0)
        .collect();
    let mut xs = Vec::new();
    for w in &windows {
        let dens: Vec<f64> = grid.iter().map(|&x| (-(u(x) + w.bias(x))).exp()).collect();
        let mut cdf = vec![0.0; grid.len()];
        for i in 1..grid.len() {
            cdf[i] = cdf[i - 1] + 0.5 * (dens[i] + dens[i - 1]);
        }
        let total = cdf[grid.len() - 1];
        for _ in 0..n {
            let target = rand::Rng::gen::<f64>(&mut r) * total;
            let i = cdf
                .partition_point(|&v| v < target)
                .clamp(1, grid.len() - 1);
            let frac = (target - cdf[i - 1]) / (cdf[i] - cdf[i - 1]);
            xs.push(grid[i - 1] + frac * (grid[i] - grid[i - 1]));
        }
    }
    let edges: Vec<f64> = (0..=14).map(|i| -1.75 + 0.25 * i as f64).collect();
    let pmf = umbrella_pmf(
        &xs,
        &vec![n; windows.len()],
        &windows,
        &edges,
        &MbarConfig::default(),
    )
    .unwrap();
    // Exact bin free energies −ln ∫_bin e^{−U} dx by Simpson's rule.
    let bin_f = |a: f64, b: f64| {
        let m = 2000;
        let hstep = (b - a) / m as f64;
        let s: f64 = (0..=m)
            .map(|i| {
                let wgt = if i == 0 || i == m {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                wgt * (-u(a + i as f64 * hstep)).exp()
            })
            .sum();
        -(s * hstep / 3.0).ln()
    };
    let exact: Vec<f64> = edges.windows(2).map(|e| bin_f(e[0], e[1])).collect();
    let r0 = pmf.reference_bin;
    for i in 0..exact.len() {
        assert!(pmf.counts[i] > 0);
        if i == r0 {
            assert_eq!(pmf.f[i], 0.0);
            continue;
        }
        assert_z(
            &format!("bin {i}"),
            pmf.f[i],
            exact[i] - exact[r0],
            pmf.std_err[i],
        );
    }
}

#[test]
fn disconnected_states_report_no_overlap() {
    let a = Harmonic { k: 1.0, o: 0.0 };
    let b = Harmonic { k: 1.0, o: 100.0 };
    let mut r = rng(1);
    let (_, u_kn) = harmonic_u_kn(&[a, b], &[100, 100], &[a, b], &mut r);
    let err = Mbar::new(&u_kn, &[100, 100], &MbarConfig::default()).unwrap_err();
    assert!(matches!(err, EstimatorError::NoOverlap { .. }), "{err}");
}

#[test]
fn iteration_limit_is_a_loud_error() {
    let states = reference_states();
    let mut r = rng(3);
    let (_, u_kn) = harmonic_u_kn(&states, &[100; 5], &states, &mut r);
    let cfg = MbarConfig {
        max_iterations: 1,
        ..MbarConfig::default()
    };
    let err = Mbar::new(&u_kn, &[100; 5], &cfg).unwrap_err();
    assert!(
        matches!(err, EstimatorError::NotConverged { iterations: 1, .. }),
        "{err}"
    );
}

#[test]
fn warm_start_converges_immediately() {
    let states = reference_states();
    let mut r = rng(33);
    let (_, u_kn) = harmonic_u_kn(&states, &[200; 5], &states, &mut r);
    let m = Mbar::new(&u_kn, &[200; 5], &MbarConfig::default()).unwrap();
    let cfg = MbarConfig {
        initial_f_k: Some(m.free_energies()),
        ..MbarConfig::default()
    };
    let warm = Mbar::new(&u_kn, &[200; 5], &cfg).unwrap();
    assert!(
        warm.convergence().iterations <= 2,
        "{:?}",
        warm.convergence()
    );
    for (a, b) in warm.free_energies().iter().zip(m.free_energies()) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn bad_input_gives_specific_errors() {
    let cfg = MbarConfig::default();
    let empty: Vec<Vec<f64>> = vec![];
    assert!(matches!(
        Mbar::new(&empty, &[], &cfg),
        Err(EstimatorError::EmptyInput { what: "u_kn" })
    ));
    let u = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
    assert!(matches!(
        Mbar::new(&u, &[1], &cfg),
        Err(EstimatorError::LengthMismatch {
            what: "n_k",
            expected: 2,
            found: 1
        })
    ));
    assert!(matches!(
        Mbar::new(&u, &[1, 2], &cfg),
        Err(EstimatorError::LengthMismatch {
            what: "u_kn row",
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        Mbar::new(&u, &[0, 0], &cfg),
        Err(EstimatorError::EmptyInput { what: "n_k" })
    ));
    let nan = vec![vec![0.0, 1.0], vec![f64::NAN, 0.0]];
    assert!(matches!(
        Mbar::new(&nan, &[1, 1], &cfg),
        Err(EstimatorError::NonFinite {
            what: "u_kn",
            index: 2
        })
    ));
    // +inf is allowed in other states, not in the state that drew the sample.
    let inf_own = vec![vec![f64::INFINITY, 1.0], vec![0.5, 0.0]];
    assert!(matches!(
        Mbar::new(&inf_own, &[1, 1], &cfg),
        Err(EstimatorError::NonFinite {
            what: "u_kn",
            index: 0
        })
    ));
    let inf_other = vec![vec![0.0, 1.0, 0.5], vec![f64::INFINITY, 0.2, 0.0]];
    let ok = Mbar::new(&inf_other, &[2, 1], &cfg);
    assert!(ok.is_ok(), "{ok:?}");
    let m = Mbar::new(&u, &[1, 1], &cfg).unwrap();
    assert!(matches!(
        m.expectations(&[1.0]),
        Err(EstimatorError::LengthMismatch { what: "a_n", .. })
    ));
    assert!(matches!(
        m.pmf(&[0.0, 0.0], &[0.1, 0.2], &[1.0, 0.0]),
        Err(EstimatorError::InvalidConfig {
            field: "bin_edges",
            ..
        })
    ));
    let bad_cfg = MbarConfig {
        tolerance: 0.0,
        ..MbarConfig::default()
    };
    assert!(matches!(
        Mbar::new(&u, &[1, 1], &bad_cfg),
        Err(EstimatorError::InvalidConfig { .. })
    ));
}
