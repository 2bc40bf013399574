//! EXP, BAR and ESS against analytic answers.

mod common;

use common::*;
use proptest::prelude::*;
use thermograd_estimators::*;

const H0: Harmonic = Harmonic { k: 1.0, o: 0.0 };

#[test]
fn bar_harmonic_oscillators_match_analytic() {
    for (seed, k1, o1) in [(1, 2.0, 0.0), (2, 4.0, 0.5), (3, 16.0, 1.0)] {
        let h1 = Harmonic { k: k1, o: o1 };
        let (w_f, w_r) = harmonic_works(H0, h1, 3000, 2000, seed);
        let est = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
        // ΔF = ½ ln(K₁/K₀), independent of the offsets.
        assert_z(
            "BAR harmonic",
            est.delta_f,
            0.5 * (k1 / 1.0f64).ln(),
            est.std_err,
        );
        assert!((h1.f() - H0.f() - 0.5 * k1.ln()).abs() < 1e-12);
    }
}

#[test]
fn exp_forward_and_reverse_agree_with_analytic_and_each_other() {
    // K 1 → 1.5: both directions have finite variance (2K₂ > K₁ and 2K₁ > K₂).
    let h1 = Harmonic { k: 1.5, o: 0.0 };
    let exact = 0.5 * 1.5f64.ln();
    let (w_f, w_r) = harmonic_works(H0, h1, 5000, 5000, 11);
    let f = exp_forward(&w_f).unwrap();
    let r = exp_reverse(&w_r).unwrap();
    assert_z("EXP forward", f.delta_f, exact, f.std_err);
    assert_z("EXP reverse", r.delta_f, exact, r.std_err);
    assert_z(
        "EXP forward - reverse",
        f.delta_f - r.delta_f,
        0.0,
        (f.std_err.powi(2) + r.std_err.powi(2)).sqrt(),
    );
}

#[test]
fn exponential_distributions_match_ln_lambda_ratio() {
    // u_k = λ_k x on x ≥ 0: f = ln λ.
    let (l0, l1) = (1.0, 2.5);
    let mut r = rng(5);
    let x0 = exponential_samples(l0, 4000, &mut r);
    let x1 = exponential_samples(l1, 4000, &mut r);
    let w_f: Vec<f64> = x0.iter().map(|x| (l1 - l0) * x).collect();
    let w_r: Vec<f64> = x1.iter().map(|x| (l0 - l1) * x).collect();
    let exact = (l1 / l0).ln();
    let b = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
    assert_z("BAR exponential", b.delta_f, exact, b.std_err);
    let f = exp_forward(&w_f).unwrap();
    assert_z("EXP exponential", f.delta_f, exact, f.std_err);
}

#[test]
fn crooks_gaussian_work_gives_mu_minus_half_sigma_squared() {
    let (mu, sigma) = (3.0, 1.2);
    let mut r = rng(9);
    let w_f = gaussian(mu, sigma, 5000, &mut r);
    let w_r = gaussian(-mu + sigma * sigma, sigma, 3000, &mut r);
    let exact = mu - 0.5 * sigma * sigma;
    let b = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
    assert_z("BAR Crooks", b.delta_f, exact, b.std_err);
    let f = exp_forward(&w_f).unwrap();
    assert_z("EXP forward Crooks", f.delta_f, exact, f.std_err);
    let rv = exp_reverse(&w_r).unwrap();
    assert_z("EXP reverse Crooks", rv.delta_f, exact, rv.std_err);
}

#[test]
fn bar_is_exact_for_large_offsets_and_works() {
    // Adding a constant c to u₁ shifts ΔF by exactly c, even for c = 10⁴ kT.
    let h1 = Harmonic { k: 2.0, o: 0.3 };
    let (w_f, w_r) = harmonic_works(H0, h1, 500, 500, 4);
    let base = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
    let c = 1.0e4;
    let wf: Vec<f64> = w_f.iter().map(|w| w + c).collect();
    let wr: Vec<f64> = w_r.iter().map(|w| w - c).collect();
    let shifted = bar(&wf, &wr, &BarConfig::default()).unwrap();
    assert!((shifted.delta_f - base.delta_f - c).abs() < 1e-8);
    assert!((shifted.std_err - base.std_err).abs() < 1e-8);
}

#[test]
fn bar_and_exp_agree_with_two_state_mbar() {
    let h1 = Harmonic { k: 3.0, o: 0.5 };
    let mut r = rng(21);
    let (n0, n1) = (1500, 1000);
    let (_, u_kn) = harmonic_u_kn(&[H0, h1], &[n0, n1], &[H0, h1], &mut r);
    let w_f: Vec<f64> = (0..n0).map(|n| u_kn[1][n] - u_kn[0][n]).collect();
    let w_r: Vec<f64> = (n0..n0 + n1).map(|n| u_kn[0][n] - u_kn[1][n]).collect();
    let b = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
    let mbar_cfg = BarConfig {
        uncertainty: BarUncertainty::Mbar,
        ..BarConfig::default()
    };
    let bm = bar(&w_f, &w_r, &mbar_cfg).unwrap();
    assert_eq!(bm.delta_f, b.delta_f);
    let mbar = Mbar::new(&u_kn, &[n0, n1], &MbarConfig::default()).unwrap();
    let d = mbar.free_energy_differences().unwrap();
    assert!(
        (d.delta_f[0][1] - b.delta_f).abs() < 1e-9,
        "{} vs {}",
        d.delta_f[0][1],
        b.delta_f
    );
    assert!(
        ((d.std_err[0][1] - bm.std_err) / bm.std_err).abs() < 1e-6,
        "{} vs {}",
        d.std_err[0][1],
        bm.std_err
    );
    // Bennett's and the MBAR variance agree to O(1/N) relative.
    assert!(((b.std_err - bm.std_err) / bm.std_err).abs() < 1e-2);
    assert!((d.delta_f[1][0] + b.delta_f).abs() < 1e-9);

    // EXP is MBAR with the target state unsampled.
    let u_exp: Vec<Vec<f64>> = u_kn.iter().map(|row| row[..n0].to_vec()).collect();
    let e = exp_forward(&w_f).unwrap();
    let m = Mbar::new(&u_exp, &[n0, 0], &MbarConfig::default()).unwrap();
    let dm = m.free_energy_differences().unwrap();
    assert!((dm.delta_f[0][1] - e.delta_f).abs() < 1e-10);
    assert!(
        ((dm.std_err[0][1] - e.std_err) / e.std_err).abs() < 1e-6,
        "{} vs {}",
        dm.std_err[0][1],
        e.std_err
    );
}

#[test]
fn bootstrap_bar_error_is_close_to_asymptotic_and_reproducible() {
    let h1 = Harmonic { k: 2.0, o: 0.0 };
    let (w_f, w_r) = harmonic_works(H0, h1, 400, 400, 31);
    let cfg = BarConfig::default();
    let boot = BootstrapConfig::new(200, 17).unwrap();
    let a = bar(&w_f, &w_r, &cfg).unwrap();
    let b1 = bar_bootstrap(&w_f, &w_r, &cfg, &boot).unwrap();
    let b2 = bar_bootstrap(&w_f, &w_r, &cfg, &boot).unwrap();
    assert_eq!(b1, b2);
    assert_eq!(b1.delta_f, a.delta_f);
    // 200 replicas: the standard deviation is known to ~5%; allow 4σ plus asymptotics.
    let ratio = b1.std_err / a.std_err;
    assert!(
        (0.75..1.33).contains(&ratio),
        "bootstrap/asymptotic = {ratio}"
    );
}

#[test]
fn kish_ess_fraction_matches_gaussian_limit() {
    // Weights e^{−Δu} from K₁ = 1 to K₂: Kish fraction → √(K₁(2K₂ − K₁))/K₂ (references.md).
    let mut r = rng(3);
    let n = 100_000;
    let x = H0.sample(n, &mut r);
    for (k2, expected) in [(2.0, 0.866025), (4.0, 0.661438)] {
        let lw: Vec<f64> = x.iter().map(|x| -(k2 - 1.0) * x * x / 2.0).collect();
        let frac = kish_ess(&lw).unwrap() / n as f64;
        assert!(
            (frac - expected).abs() < 0.015,
            "K2 = {k2}: {frac} vs {expected}"
        );
        // Entropy form → exp(−KL(p₂‖p₁)) = exp(−½(K₁/K₂ − 1 − ln(K₁/K₂))) for Gaussians.
        let kl = 0.5 * (1.0 / k2 - 1.0 - (1.0 / k2).ln());
        let efrac = entropy_ess(&lw).unwrap() / n as f64;
        assert!(
            (efrac - (-kl).exp()).abs() < 0.015,
            "K2 = {k2}: {efrac} vs {}",
            (-kl).exp()
        );
    }
}

#[test]
fn bad_input_gives_specific_errors() {
    let cfg = BarConfig::default();
    assert!(matches!(
        bar(&[], &[1.0], &cfg),
        Err(EstimatorError::EmptyInput { what: "w_f" })
    ));
    assert!(matches!(
        bar(&[1.0], &[], &cfg),
        Err(EstimatorError::EmptyInput { what: "w_r" })
    ));
    assert!(matches!(
        bar(&[1.0, f64::NAN], &[1.0], &cfg),
        Err(EstimatorError::NonFinite {
            what: "w_f",
            index: 1
        })
    ));
    assert!(matches!(
        bar(&[1.0], &[f64::INFINITY], &cfg),
        Err(EstimatorError::NonFinite {
            what: "w_r",
            index: 0
        })
    ));
    // Forward works all ≫ −(reverse works): the two distributions never meet.
    let w_f = [60.0, 61.0, 62.0, 63.0];
    let w_r = [60.0, 59.0, 61.0];
    assert!(matches!(
        bar(&w_f, &w_r, &cfg),
        Err(EstimatorError::NoOverlap { .. })
    ));
    assert!(matches!(
        exp_forward(&[]),
        Err(EstimatorError::EmptyInput { .. })
    ));
    assert!(matches!(
        BootstrapConfig::new(1, 0),
        Err(EstimatorError::InvalidConfig {
            field: "n_bootstrap",
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bar_is_antisymmetric(
        w_f in prop::collection::vec(-8.0f64..8.0, 1..40),
        w_r in prop::collection::vec(-8.0f64..8.0, 1..40),
    ) {
        let cfg = BarConfig::default();
        let a = bar(&w_f, &w_r, &cfg).unwrap();
        let b = bar(&w_r, &w_f, &cfg).unwrap();
        prop_assert!((a.delta_f + b.delta_f).abs() < 1e-9 * (1.0 + a.delta_f.abs()));
        prop_assert!((a.std_err - b.std_err).abs() < 1e-9 * (1.0 + a.std_err));
    }

    #[test]
    fn ess_forms_are_ordered_and_bounded(lw in prop::collection::vec(-50.0f64..50.0, 1..60)) {
        let n = lw.len() as f64;
        let kish = kish_ess(&lw).unwrap();
        let ent = entropy_ess(&lw).unwrap();
        // Rényi entropies decrease with order: 1 ≤ exp(H₂) ≤ exp(H₁) ≤ n.
        prop_assert!(kish >= 1.0 - 1e-12 && kish <= ent * (1.0 + 1e-12));
        prop_assert!(ent <= n * (1.0 + 1e-12));
        // Invariant under a common shift of the log-weights.
        let shifted: Vec<f64> = lw.iter().map(|v| v + 700.0).collect();
        prop_assert!((kish_ess(&shifted).unwrap() - kish).abs() < 1e-9 * kish);
    }
}
