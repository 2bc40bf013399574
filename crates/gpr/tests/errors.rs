//! Bad input is an error, never a panic or a silently wrong number.

use thermograd_gpr::*;

#[test]
fn nan_gradient() {
    let mut obs = Observations::new(2).unwrap();
    obs.push_gradient(&[0.0, 0.0], &[1.0, 1.0], GradientNoise::None)
        .unwrap();
    let err = obs
        .push_gradient(&[1.0, 0.0], &[f64::NAN, 1.0], GradientNoise::None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            GprError::NonFinite {
                what: "gradient",
                index: 1
            }
        ),
        "{err}"
    );
    let err = Observations::from_gradients(1, &[0.0, 1.0, 2.0], &[0.0, f64::INFINITY, 1.0], None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            GprError::NonFinite {
                what: "gradient",
                index: 1
            }
        ),
        "{err}"
    );
    let err = Observations::from_gradients(1, &[0.0, 1.0], &[0.0, 1.0], Some(&[1.0, f64::NAN]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            GprError::NonFinite {
                what: "noise",
                index: 1
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("index 1"));
}

#[test]
fn duplicated_points_without_noise() {
    let obs = Observations::from_gradients(1, &[0.0, 0.5, 0.0], &[1.0, 2.0, 1.1], None).unwrap();
    let k = || Box::new(SquaredExponential::new(1.0, &[1.0]).unwrap());
    let err = GaussianProcess::fit(k(), obs.clone(), &GpConfig::default()).unwrap_err();
    assert!(
        matches!(err, GprError::DuplicatePoints { i: 0, j: 2 }),
        "{err}"
    );
    // With a noise floor, or with per-observation noise, repeated points are averaged.
    let cfg = GpConfig {
        noise_floor: 0.01,
        ..GpConfig::default()
    };
    let gp = GaussianProcess::fit(k(), obs, &cfg).unwrap();
    let g = gp.predict_gradient(&[0.0]).unwrap();
    assert!((g.mean[0] - 1.05).abs() < 0.01, "{}", g.mean[0]);
    // Duplicate values, too.
    let mut v = Observations::new(1).unwrap();
    v.push_value(&[0.2], 1.0, 0.0).unwrap();
    v.push_value(&[0.2], 1.0, 0.0).unwrap();
    let err = GaussianProcess::fit(k(), v, &GpConfig::default()).unwrap_err();
    assert!(
        matches!(err, GprError::DuplicatePoints { i: 0, j: 1 }),
        "{err}"
    );
}

/// A "kernel" that is not positive definite: the negated squared exponential.
#[derive(Debug, Clone)]
struct Negated(SquaredExponential);

impl Kernel for Negated {
    fn n_params(&self) -> usize {
        self.0.n_params()
    }
    fn param_names(&self) -> Vec<String> {
        self.0.param_names()
    }
    fn log_params(&self) -> Vec<f64> {
        self.0.log_params()
    }
    fn set_log_params(&mut self, p: &[f64]) -> Result<()> {
        self.0.set_log_params(p)
    }
    fn input_dim(&self) -> Option<usize> {
        self.0.input_dim()
    }
    fn eval(&self, r: &[f64], param_derivs: bool, out: &mut KernelEval) {
        self.0.eval(r, param_derivs, out);
        out.value = -out.value;
        out.grad
            .iter_mut()
            .chain(out.hess.iter_mut())
            .for_each(|v| *v = -*v);
    }
    fn boxed_clone(&self) -> Box<dyn Kernel> {
        Box::new(self.clone())
    }
}

#[test]
fn not_positive_definite_after_jitter() {
    let obs = Observations::from_gradients(1, &[0.0, 1.0, 2.0], &[1.0, 0.0, -1.0], None).unwrap();
    let k = Box::new(Negated(SquaredExponential::new(1.0, &[1.0]).unwrap()));
    let err = GaussianProcess::fit(k, obs, &GpConfig::default()).unwrap_err();
    assert!(matches!(err, GprError::NotPositiveDefinite { .. }), "{err}");
    // Nearly coincident noise-free points are rescued by a little jitter…
    let obs = Observations::from_gradients(1, &[0.0, 1e-9, 1.0], &[1.0, 1.0, 0.0], None).unwrap();
    let k = || Box::new(SquaredExponential::new(1.0, &[1.0]).unwrap());
    match GaussianProcess::fit(k(), obs.clone(), &GpConfig::default()) {
        Ok(gp) => assert!(gp.jitter() > 0.0),
        Err(e) => panic!("{e}"),
    }
    // …but not if no jitter is allowed.
    let cfg = GpConfig {
        max_jitter: 0.0,
        ..GpConfig::default()
    };
    let err = GaussianProcess::fit(k(), obs, &cfg).unwrap_err();
    assert!(
        matches!(err, GprError::NotPositiveDefinite { jitter } if jitter == 0.0),
        "{err}"
    );
}

#[test]
fn mismatches_and_empty_input() {
    let k1 = || Box::new(SquaredExponential::new(1.0, &[1.0]).unwrap());
    let obs2 = Observations::from_gradients(2, &[0.0, 0.0], &[1.0, 1.0], None).unwrap();
    assert!(matches!(
        GaussianProcess::fit(k1(), obs2, &GpConfig::default()),
        Err(GprError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        GaussianProcess::fit(k1(), Observations::new(1).unwrap(), &GpConfig::default()),
        Err(GprError::Empty { .. })
    ));
    let obs = Observations::from_gradients(1, &[0.0, 1.0], &[1.0, 1.0], Some(&[0.1, 0.1])).unwrap();
    let gp = GaussianProcess::fit(k1(), obs.clone(), &GpConfig::default()).unwrap();
    assert!(matches!(
        gp.free_energy_on_grid(&Grid::parse("0:1:3,0:1:3").unwrap(), false),
        Err(GprError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        gp.predict(&[f64::NAN]),
        Err(GprError::NonFinite { .. })
    ));
    let bad_floor = GpConfig {
        noise_floor: -1.0,
        ..GpConfig::default()
    };
    assert!(GaussianProcess::fit(k1(), obs.clone(), &bad_floor).is_err());
    let mut k = SquaredExponential::new(1.0, &[1.0]).unwrap();
    let zero = HyperConfig {
        restarts: 0,
        ..HyperConfig::default()
    };
    assert!(fit_hyperparameters(&mut k, &obs, &zero).is_err());
    // The sparse approximation needs positive noise on every observation.
    let noiseless = Observations::from_gradients(1, &[0.0, 1.0], &[1.0, 1.0], None).unwrap();
    let cfg = SparseConfig {
        inducing: Inducing::FarthestPoint(2),
        noise_floor: 0.0,
        jitter: 1e-8,
    };
    assert!(matches!(
        SparseGp::fit(k1(), &noiseless, &cfg),
        Err(GprError::InvalidNoise { index: 0 })
    ));
    let cfg = SparseConfig {
        inducing: Inducing::Points(vec![]),
        noise_floor: 0.1,
        jitter: 1e-8,
    };
    assert!(matches!(
        SparseGp::fit(k1(), &obs, &cfg),
        Err(GprError::Empty { .. })
    ));
}
