//! The ion-pair pipeline (`thermograd::pipelines::ion_pair`) in its quick form through
//! the library API: surrogate accuracy within the bounds of the issue, profiles with a
//! contact minimum at the LJ contact distance, GP and MBAR profiles that agree within
//! their error bars, reproducibility with a seed, and settings that do not fit
//! rejected before any work.

use thermograd::pipelines::ion_pair::{IonPairConfig, IonPairReport};

fn without_timings(mut r: IonPairReport) -> IonPairReport {
    r.timings.clear();
    r
}

#[test]
fn quick_pipeline_learns_the_cvs_and_reconstructs_the_profile() {
    let report = IonPairConfig::quick(1).run(None).unwrap();
    println!("{}", report.summary_table());
    assert_eq!(report.n_particles, 108);
    assert!(report.files.is_empty(), "no output directory was given");

    // Held-out value RMSE: ≤ 2 % of the sampled range for the distance, ≤ 5 % for the
    // coordination number (simulation data); the Jacobian errors are small against the
    // reference Jacobians' own scale.
    for (cv, bound) in [("distance", 0.02), ("coordination", 0.05)] {
        let s = report.surrogate(cv, "simulation").unwrap();
        assert!(s.n_test > 0 && s.n_train > s.n_test);
        assert!(
            s.relative_rmse < bound,
            "{cv}: RMSE {} is {:.2} % of the range",
            s.value_rmse,
            100.0 * s.relative_rmse
        );
        assert!(
            s.jacobian.rms < 0.5 * s.jacobian_reference_rms,
            "{cv}: {s:?}"
        );
        // The distance depends on two atoms whose gradients are opposite, so the mean
        // Jacobian error vanishes identically; the coordination's nearly.
        assert!(s.jacobian.mean.abs() < 0.1 * s.jacobian.std, "{cv}: {s:?}");
    }
    assert!(report.surrogate("distance", "randomised").is_some());

    // Four profiles on the same distance range, each with a contact minimum near the
    // LJ contact distance and a barrier beyond it.
    assert_eq!(report.profiles.len(), 4);
    for p in &report.profiles {
        let f = p
            .features
            .unwrap_or_else(|| panic!("{}: no features", p.method));
        assert!(
            (0.95..1.2).contains(&f.contact.position),
            "{}: contact at {}",
            p.method,
            f.contact.position
        );
        assert!(
            f.barrier.position > f.contact.position + 0.2,
            "{}",
            p.method
        );
        assert!(f.barrier.free_energy > 0.5, "{}: {:?}", p.method, f.barrier);
        assert!(p
            .free_energy
            .iter()
            .filter(|v| v.is_finite())
            .all(|&v| v >= 0.0));
        assert!(p.std.iter().filter(|v| v.is_finite()).all(|&v| v >= 0.0));
    }

    // GP (from mean forces) and MBAR (from the same windows) agree within their error
    // bars at most points, for both umbrella runs.
    for a in [report.gp_vs_mbar_analytic, report.gp_vs_mbar_surrogate] {
        assert!(a.n_points >= 20, "{a:?}");
        assert!(a.within_2_sigma >= 0.7, "{a:?}");
    }
    assert!(report.surrogate_vs_analytic.within_2_sigma >= 0.7);
}

#[test]
fn quick_pipeline_is_reproducible_with_a_seed() {
    // Smaller still: reproducibility does not need statistics.
    let mut config = IonPairConfig::quick(5);
    config.sampling.production_steps = 400;
    config.surrogates.distance_trainer.epochs = 8;
    config.surrogates.coordination_trainer.epochs = 8;
    config.surrogates.random_configurations = 16;
    config.umbrella.windows = 8;
    config.umbrella.production_steps = 400;
    let a = without_timings(config.run(None).unwrap());
    let b = without_timings(config.run(None).unwrap());
    assert_eq!(a, b);
    let c = without_timings(
        IonPairConfig {
            seed: 6,
            ..config.clone()
        }
        .run(None)
        .unwrap(),
    );
    assert_ne!(a.profiles, c.profiles);
}

#[test]
fn settings_that_do_not_fit_are_rejected() {
    let ok = IonPairConfig::quick(1);
    assert!(ok.validate().is_ok());
    let mut bad = ok.clone();
    bad.system.coulomb_cutoff = 4.0; // beyond half the 5.13 σ box
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.umbrella.r_max = 2.7;
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.umbrella.r_min = 3.0;
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.surrogates.coordination_nearest = 500;
    assert!(bad.validate().is_err());
    let mut bad = ok.clone();
    bad.sampling.test_fraction = 1.0;
    assert!(bad.run(None).is_err());
    let mut bad = ok;
    bad.system.kt = -1.0;
    assert!(bad.validate().is_err());
}
