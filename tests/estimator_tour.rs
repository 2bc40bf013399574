//! The estimator tour (examples/estimator_tour.rs) in quick mode: every estimate agrees
//! with its closed-form answer, and the error bars each estimator reports match the
//! spread of its estimates over independent data sets.

#[allow(dead_code)]
#[path = "../examples/estimator_tour.rs"]
mod estimator_tour;

#[test]
fn estimator_tour_matches_closed_forms_and_its_error_bars_are_honest() {
    let dir = tempfile::tempdir().unwrap();
    let s = estimator_tour::run(true, dir.path()).unwrap();
    eprintln!("{s:#?}");
    for f in [
        "summary.md",
        "mbar.csv",
        "replicates.csv",
        "free_energies.svg",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // g = 19 for φ = 0.9; 20,000 steps hold about 1,000 independent samples.
    assert!((s.g_estimate / s.g_exact - 1.0).abs() < 0.2, "{s:?}");
    // 60 repeats estimate a standard deviation to about ±9 %; allow ±35 %.
    for (name, h) in [
        ("EXP forward", s.exp_forward),
        ("EXP reverse", s.exp_reverse),
        ("BAR", s.bar),
        ("MBAR", s.mbar_span),
    ] {
        assert!((0.65..1.35).contains(&h.ratio()), "{name}: {h:?}");
        assert!(h.bias.abs() < h.empirical_sd, "{name}: {h:?}");
    }
    assert!(s.mbar_z.iter().all(|z| z.abs() < 3.5), "{:?}", s.mbar_z);
    assert!(s.max_expectation_z < 3.5, "{s:?}");
    for (k, (estimate, expected)) in s.ess.iter().enumerate() {
        assert!(
            (estimate / expected - 1.0).abs() < 0.2,
            "state {k}: {estimate} vs {expected}"
        );
    }
    assert!((s.ess[0].0 - 1.0).abs() < 1e-12);
}
