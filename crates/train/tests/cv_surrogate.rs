//! CV-surrogate training: error statistics against analytic distributions, the
//! evaluation arithmetic, labelling, randomised configurations, and the trainer
//! (learning a distance, loss decreasing, determinism, early stopping).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal, Uniform};
use thermograd_cv::{CollectiveVariable, Coordination, CvValue, Distance, RationalSwitch};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_nn::{Activation, CvSample, CvSurrogate, CvSurrogateConfig, Trainable};
use thermograd_train::cv::*;

fn draw(dist: impl Distribution<f64>, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| dist.sample(&mut rng)).collect()
}

#[test]
fn moments_of_a_bernoulli_sample() {
    // {0, 0, 0, 1} has the moments of Bernoulli(1/4): skewness (1 − 2p)/√(p q) = 2/√3,
    // excess kurtosis (1 − 6 p q)/(p q) = −2/3.
    let s = error_statistics(&[0.0, 0.0, 1.0, 0.0]).unwrap();
    assert_eq!(s.n, 4);
    assert!((s.mean - 0.25).abs() < 1e-15);
    assert!((s.std - 0.5).abs() < 1e-15); // √(3/16 · 4/3)
    assert!((s.rms - 0.5).abs() < 1e-15);
    assert!((s.skewness - 2.0 / 3f64.sqrt()).abs() < 1e-12);
    assert!((s.excess_kurtosis + 2.0 / 3.0).abs() < 1e-12);
    assert!(s.normality.is_none(), "too few values for the K² test");
    assert!(error_statistics(&[1.0]).is_err());
    assert!(error_statistics(&[1.0, f64::NAN]).is_err());
}

#[test]
fn moments_of_large_samples_match_their_distributions() {
    let n = 20_000;
    let nf = n as f64;
    // Normal: skewness 0 (sd √(6/n)), excess kurtosis 0 (sd √(24/n)).
    let s = error_statistics(&draw(Normal::new(1.5, 2.0).unwrap(), n, 1)).unwrap();
    assert!((s.mean - 1.5).abs() < 4.0 * 2.0 / nf.sqrt());
    assert!((s.std - 2.0).abs() < 4.0 * 2.0 / (2.0 * nf).sqrt());
    assert!(s.skewness.abs() < 4.0 * (6.0 / nf).sqrt(), "{s:?}");
    assert!(s.excess_kurtosis.abs() < 4.0 * (24.0 / nf).sqrt(), "{s:?}");
    assert!(s.normality.unwrap().p_value > 1e-4, "{s:?}");
    // Uniform: skewness 0, excess kurtosis −6/5; clearly not normal.
    let s = error_statistics(&draw(Uniform::new(-1.0, 1.0), n, 2)).unwrap();
    assert!(s.skewness.abs() < 0.05);
    assert!((s.excess_kurtosis + 1.2).abs() < 0.05, "{s:?}");
    let t = s.normality.unwrap();
    assert!(t.p_value < 1e-12 && t.kurtosis_z < -10.0, "{t:?}");
    // Exponential: skewness 2, excess kurtosis 6.
    let s = error_statistics(&draw(Exp::new(1.0).unwrap(), n, 3)).unwrap();
    assert!((s.skewness - 2.0).abs() < 0.25, "{s:?}");
    assert!((s.excess_kurtosis - 6.0).abs() < 2.0, "{s:?}");
    let t = s.normality.unwrap();
    assert!(t.p_value < 1e-12 && t.skewness_z > 10.0, "{t:?}");
}

#[test]
fn normality_deviates_are_standard_normal_for_normal_data() {
    // Under normality Z1 and Z2 are ≈ N(0, 1) and K² ≈ χ²(2) (mean 2, P(p < 0.05) =
    // 0.05), for samples as small as n = 30.
    let reps = 2000;
    let (mut z1, mut z2, mut k2, mut rejected) = (vec![], vec![], vec![], 0usize);
    for r in 0..reps {
        let s = error_statistics(&draw(Normal::new(0.0, 1.0).unwrap(), 30, 100 + r)).unwrap();
        let t = s.normality.unwrap();
        z1.push(t.skewness_z);
        z2.push(t.kurtosis_z);
        k2.push(t.k2);
        rejected += usize::from(t.p_value < 0.05);
    }
    let m = reps as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64]| {
        let mu = mean(v);
        v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
    };
    for z in [&z1, &z2] {
        assert!(mean(z).abs() < 4.0 / m.sqrt(), "mean {}", mean(z));
        // The variance of a sample variance of N(0, 1) data is 2/(m − 1).
        assert!(
            (var(z) - 1.0).abs() < 4.0 * (2.0 / m).sqrt(),
            "var {}",
            var(z)
        );
    }
    // χ²(2) has variance 4.
    assert!(
        (mean(&k2) - 2.0).abs() < 4.0 * (4.0 / m).sqrt(),
        "{}",
        mean(&k2)
    );
    let rate = rejected as f64 / m;
    assert!(
        (rate - 0.05).abs() < 4.0 * (0.05 * 0.95 / m).sqrt(),
        "{rate}"
    );
    assert!(dagostino_pearson(0.1, 0.2, 19).is_none());
}

fn small_surrogate(seed: u64) -> CvSurrogate {
    CvSurrogateConfig {
        hidden: vec![16, 16],
        activation: Activation::Tanh,
        ..CvSurrogateConfig::new("distance", vec![0, 1], 1)
    }
    .build(seed)
    .unwrap()
}

#[test]
fn evaluation_reports_the_errors_it_is_given() {
    // References = the surrogate's own predictions minus known offsets, so the
    // evaluation must report exactly those offsets.
    let cv = small_surrogate(3);
    let b = SimBox::cubic(4.0).unwrap();
    let configs = RandomConfigurationsConfig::new(2, 0.5, 9)
        .generate(&b, 8)
        .unwrap();
    let offsets = [0.1, -0.2, 0.3, 0.0, -0.1, 0.2, 0.05, -0.05];
    let grad_offset = |s: usize, k: usize| Vec3::new(0.01 * s as f64, -0.02 * k as f64, 0.03);
    let samples: Vec<CvSample> = configs
        .iter()
        .enumerate()
        .map(|(s, p)| {
            let mut v = CvValue::default();
            cv.evaluate(p, &b, &mut v).unwrap();
            CvSample {
                positions: p.clone(),
                simbox: b.clone(),
                values: vec![v.values[0] - offsets[s]],
                gradients: (0..2).map(|k| v.gradients[k] - grad_offset(s, k)).collect(),
            }
        })
        .collect();
    let e = evaluate_surrogate(&cv, &samples).unwrap();
    let n = offsets.len() as f64;
    let rmse = (offsets.iter().map(|o| o * o).sum::<f64>() / n).sqrt();
    assert!((e.value_rmse - rmse).abs() < 1e-12);
    assert!((e.value_mae - offsets.iter().map(|o| o.abs()).sum::<f64>() / n).abs() < 1e-12);
    assert!((e.value_max_error - 0.3).abs() < 1e-12);
    let refs: Vec<f64> = samples.iter().map(|s| s.values[0]).collect();
    let range = refs.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - refs.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!((e.value_range - range).abs() < 1e-12);
    assert!((e.relative_rmse - rmse / range).abs() < 1e-12);
    let want: Vec<f64> = (0..8)
        .flat_map(|s| {
            (0..2).flat_map(move |k| {
                let g = grad_offset(s, k);
                [g.x, g.y, g.z]
            })
        })
        .collect();
    assert_eq!(e.jacobian_errors.len(), want.len());
    for (a, b) in e.jacobian_errors.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12);
    }
    let stats = e.jacobian_stats.unwrap();
    assert!((stats.mean - want.iter().sum::<f64>() / want.len() as f64).abs() < 1e-12);
}

#[test]
fn labels_map_reference_gradients_onto_the_surrogate_atoms() {
    let b = SimBox::cubic(5.0).unwrap();
    let configs = RandomConfigurationsConfig::new(6, 0.8, 4)
        .generate(&b, 3)
        .unwrap();
    // A coordination of atom 2 by 0, 4, 5, labelled for a surrogate over [2, 0, 1, 4, 5].
    let cv =
        Coordination::between(&[2], &[0, 4, 5], RationalSwitch::with_r0(1.2).unwrap()).unwrap();
    let atoms = [2, 0, 1, 4, 5];
    let samples = label_configurations(&cv, &atoms, &configs, &b).unwrap();
    for (p, s) in configs.iter().zip(&samples) {
        let mut v = CvValue::default();
        cv.evaluate(p, &b, &mut v).unwrap();
        assert_eq!(s.values, v.values);
        for (slot, &atom) in atoms.iter().enumerate() {
            let want = v
                .atoms
                .iter()
                .position(|&a| a == atom)
                .map_or(Vec3::zeros(), |k| v.gradient(0, k));
            assert_eq!(s.gradients[slot], want);
        }
    }
    // An atom with a gradient missing from the surrogate's list is an error.
    assert!(label_configurations(&cv, &[2, 0, 4], &configs, &b).is_err());
}

#[test]
fn random_configurations_respect_their_constraints() {
    let b = SimBox::orthorhombic([5.0, 6.0, 7.0]).unwrap();
    let config = RandomConfigurationsConfig {
        pair: Some(PairPlacement {
            i: 3,
            j: 0,
            min: 0.9,
            max: 2.5,
        }),
        ..RandomConfigurationsConfig::new(60, 0.9, 5)
    };
    let configs = config.generate(&b, 200).unwrap();
    assert_eq!(configs, config.generate(&b, 200).unwrap(), "deterministic");
    let mut pair = Vec::new();
    for p in &configs {
        assert_eq!(p.len(), 60);
        for (a, ra) in p.iter().enumerate() {
            let f = b.to_fractional(ra).unwrap();
            assert!(
                (0.0..1.0).contains(&f.x) && (0.0..1.0).contains(&f.y) && (0.0..1.0).contains(&f.z)
            );
            for (c, rc) in p.iter().enumerate().skip(a + 1) {
                if (a, c) != (0, 3) {
                    assert!(b.distance(ra, rc) >= 0.9 - 1e-12);
                }
            }
        }
        pair.push(b.distance(&p[3], &p[0]));
    }
    // The pair distance is uniform on [0.9, 2.5]: mean 1.7, sd 1.6/√12.
    assert!(pair
        .iter()
        .all(|&r| (0.9 - 1e-12..=2.5 + 1e-12).contains(&r)));
    let mean = pair.iter().sum::<f64>() / pair.len() as f64;
    assert!((mean - 1.7).abs() < 4.0 * 1.6 / 12f64.sqrt() / (pair.len() as f64).sqrt());
    // Too dense for the separation: an error, not a hang.
    let jammed = RandomConfigurationsConfig {
        max_attempts: 200,
        ..RandomConfigurationsConfig::new(200, 1.5, 1)
    };
    assert!(jammed.generate(&b, 1).is_err());
    assert!(config.generate(&SimBox::open(), 1).is_err());
}

fn distance_samples(count: usize, seed: u64) -> Vec<CvSample> {
    let b = SimBox::cubic(4.0).unwrap();
    let configs = RandomConfigurationsConfig {
        pair: Some(PairPlacement {
            i: 0,
            j: 1,
            min: 0.8,
            max: 1.8,
        }),
        ..RandomConfigurationsConfig::new(3, 0.0, seed)
    }
    .generate(&b, count)
    .unwrap();
    label_configurations(&Distance::new(0, 1).unwrap(), &[0, 1], &configs, &b).unwrap()
}

#[test]
fn learns_a_distance_and_is_reproducible() {
    let samples = distance_samples(240, 7);
    let test = distance_samples(60, 8);
    let trainer = CvTrainerConfig {
        epochs: 150,
        batch_size: 16,
        learning_rate: 5e-3,
        final_learning_rate: 2e-4,
        validation_fraction: 0.2,
        seed: 3,
        ..CvTrainerConfig::default()
    }
    .build()
    .unwrap();
    let mut cv = small_surrogate(1);
    let before = evaluate_surrogate(&cv, &test).unwrap();
    let report = trainer.train(&mut cv, &samples).unwrap();
    let after = evaluate_surrogate(&cv, &test).unwrap();
    println!(
        "value rmse {} → {} ({} of the range), jacobian rmse {} → {}",
        before.value_rmse,
        after.value_rmse,
        after.relative_rmse,
        before.jacobian_rmse,
        after.jacobian_rmse
    );
    // The split is disjoint and complete.
    assert_eq!(report.validation_indices.len(), 48);
    let mut all = report.train_indices.clone();
    all.extend(&report.validation_indices);
    all.sort_unstable();
    assert_eq!(all, (0..240).collect::<Vec<_>>());
    // The loss went down, and the surrogate reproduces the distance on held-out data.
    let h = &report.history.epochs;
    assert_eq!(h.len(), 150);
    assert!(h.last().unwrap().train_loss < 0.05 * h[0].train_loss);
    assert!(after.relative_rmse < 0.02, "{}", after.relative_rmse);
    assert!(after.jacobian_rmse < 0.2 * before.jacobian_rmse);
    // The kept parameters are the best validation epoch's.
    let best = h
        .iter()
        .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss))
        .unwrap();
    assert_eq!(report.best_epoch, best.epoch);
    // Same seed, same result, bit for bit; another seed differs.
    let mut again = small_surrogate(1);
    let report2 = trainer.train(&mut again, &samples).unwrap();
    assert_eq!(again.parameters(), cv.parameters());
    assert_eq!(report2, report);
    let other = CvTrainerConfig {
        seed: 4,
        ..trainer.config().clone()
    }
    .build()
    .unwrap();
    let mut third = small_surrogate(1);
    other.train(&mut third, &samples).unwrap();
    assert_ne!(third.parameters(), cv.parameters());
    // The history is one CSV row per epoch.
    assert_eq!(report.history.to_csv().lines().count(), 151);
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epoch() {
    // A learning rate far too large makes the validation loss stall or diverge, so a
    // patience of 3 epochs stops the run early.
    let samples = distance_samples(64, 11);
    let trainer = CvTrainerConfig {
        epochs: 200,
        batch_size: 8,
        learning_rate: 0.5,
        schedule: LearningRateSchedule::Constant,
        patience: Some(3),
        validation_fraction: 0.25,
        ..CvTrainerConfig::default()
    }
    .build()
    .unwrap();
    let mut cv = small_surrogate(2);
    let report = trainer.train(&mut cv, &samples).unwrap();
    let h = &report.history.epochs;
    assert!(report.stopped_early && h.len() < 200, "{} epochs", h.len());
    assert_eq!(h.len(), report.best_epoch + 4);
    let validation: Vec<CvSample> = report
        .validation_indices
        .iter()
        .map(|&i| samples[i].clone())
        .collect();
    let e = evaluate_surrogate(&cv, &validation).unwrap();
    let loss = e.value_rmse.powi(2) + e.jacobian_rmse.powi(2);
    assert!((loss - h[report.best_epoch].validation_loss).abs() < 1e-9 * loss.max(1.0));
}
