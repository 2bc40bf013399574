//! Smoke tests of the training examples in their quick mode: they run end to end, write
//! their outputs, and the trained models move the RDF toward its target.

#[allow(dead_code)]
#[path = "../examples/difftre_rdf.rs"]
mod difftre_rdf;

#[allow(dead_code)]
#[path = "../examples/coarse_grain.rs"]
mod coarse_grain;

fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("thermograd-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn difftre_rdf_example_runs_in_quick_mode() {
    let guard = tmp("difftre-example");
    let dir = guard.path();
    let s = difftre_rdf::run(true, dir).unwrap();
    eprintln!("{s:?}");
    for f in ["rdf.csv", "metrics.csv", "model.tgnn", "checkpoint.bin"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    assert_eq!(s.updates, 6);
    assert!(s.trained_mse < s.prior_mse, "{s:?}");
}

#[test]
fn coarse_grain_example_runs_in_quick_mode() {
    let guard = tmp("cg-example");
    let dir = guard.path();
    let s = coarse_grain::run(true, dir).unwrap();
    eprintln!("{s:?}");
    for f in [
        "fg.extxyz",
        "cg.extxyz",
        "rdf.csv",
        "fm_model.tgnn",
        "re_model.tgnn",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // Mapped forces are mostly noise around the mean force, so the held-out error stays
    // near the force spread; training must still lower the loss.
    assert!(s.fm_loss.1 < s.fm_loss.0, "{s:?}");
    assert!(s.fm_force_rmse.0.is_finite() && s.fm_force_rmse.1 > 0.0);
    assert!(s.fm_mse.is_finite() && s.re_mse.is_finite());
}
