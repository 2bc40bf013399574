//! Multi-state-point DiffTRe on one process: the gradient is the weighted sum of the
//! single-state DiffTRe gradients and matches finite differences of the summed loss,
//! training lowers the summed loss, and resume reproduces the uninterrupted run; the same
//! for multi-state-point relative entropy (`re_*` tests).

mod common;
mod re_statepoints;
mod statepoints;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use re_statepoints::{re_multi_config, re_points, re_single_config, reference};
use statepoints::{
    conditions, initial, multi_config, prior, single_config, spline, state_point, targets,
};
use thermograd_dist::Serial;
use thermograd_nn::Trainable;
use thermograd_train::{
    rank_checkpoint_path, MultiStateDiffTRe, MultiStateRelativeEntropy, SplinePair, StatePoint,
    TrainError,
};

fn points(n: usize) -> Vec<StatePoint> {
    (0..n).map(state_point).collect()
}

#[test]
fn gradient_is_the_weighted_sum_of_single_state_gradients_and_matches_finite_differences() {
    let comm = Serial;
    let mut multi = multi_config(2, 1, 20, 0.5, None)
        .build(&comm, spline(), points(2))
        .unwrap();
    multi.ensure_samples().unwrap();
    let mut singles: Vec<_> = (0..2)
        .map(|s| {
            single_config(s, 1, 20, 0.5)
                .build(spline(), initial(s), Some(prior()), targets(s))
                .unwrap()
        })
        .map(|mut single| {
            single.ensure_samples().unwrap();
            single
        })
        .collect();
    // Away from the sampling parameters, so that the weights are not uniform.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let p0: Vec<f64> = (0..multi.model().n_parameters())
        .map(|_| rng.gen_range(-0.1..0.1))
        .collect();
    multi.set_parameters(&p0).unwrap();
    let base = multi.loss().unwrap();
    let mut expected_loss = 0.0;
    let mut expected_gradient = vec![0.0; p0.len()];
    for (s, single) in singles.iter_mut().enumerate() {
        single.set_parameters(&p0).unwrap();
        let l = single.loss().unwrap();
        let weight = conditions(s).3;
        assert!(l.ess < 19.99, "state point {s}: ESS {} is uniform", l.ess);
        assert_eq!(base.states[s].loss, l.loss, "state point {s}");
        assert_eq!(base.states[s].target_losses, l.target_losses);
        assert_eq!(base.states[s].ess_fraction, l.ess / 20.0);
        expected_loss += weight * l.loss;
        for (e, g) in expected_gradient.iter_mut().zip(&l.gradient) {
            *e += weight * g;
        }
    }
    assert_eq!(base.loss, expected_loss);
    assert_eq!(base.gradient, expected_gradient);
    let scale = base.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    assert!(scale > 0.0);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..p0.len() {
        let mut p = p0.clone();
        p[k] += h;
        multi.set_parameters(&p).unwrap();
        let up = multi.loss().unwrap().loss;
        p[k] -= 2.0 * h;
        multi.set_parameters(&p).unwrap();
        let down = multi.loss().unwrap().loss;
        worst = worst.max(((up - down) / (2.0 * h) - base.gradient[k]).abs() / scale);
    }
    assert!(worst < 1e-6, "worst relative gradient error {worst:e}");
}

#[test]
fn training_lowers_the_summed_loss() {
    let comm = Serial;
    let mut trainer = multi_config(2, 10, 20, 0.6, None)
        .build(&comm, spline(), points(2))
        .unwrap();
    trainer.train().unwrap();
    let losses: Vec<f64> = trainer.history().iter().map(|u| u.loss).collect();
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    eprintln!("summed loss {first:.3e} → {last:.3e}: {losses:.3?}");
    assert!(last < 0.5 * first, "loss {first} → {last}");
    // Both state points' reports are there, and their weighted sum is the loss.
    for (u, reports) in trainer.history().iter().zip(trainer.reports()) {
        assert_eq!(reports.len(), 2);
        let sum: f64 = reports
            .iter()
            .enumerate()
            .map(|(s, r)| conditions(s).3 * r.loss)
            .sum();
        assert_eq!(u.loss, sum);
    }
}

#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let comm = Serial;
    // A threshold of 1 resamples at every update: the checkpoint must carry each state
    // point's MD state.
    let build = |checkpoint| -> MultiStateDiffTRe<'_, SplinePair> {
        multi_config(2, 3, 8, 1.0, checkpoint)
            .build(&comm, spline(), points(2))
            .unwrap()
    };
    let mut full = build(None);
    full.train().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("multi.ckpt");
    let mut first = build(Some(ckpt.clone()));
    first.update().unwrap();
    drop(first);
    assert!(rank_checkpoint_path(&ckpt, 0).exists());
    assert!(!ckpt.exists());
    let mut second = build(Some(ckpt.clone()));
    second.resume(&ckpt).unwrap();
    assert_eq!(second.updates_done(), 1);
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    assert_eq!(second.reports(), full.reports());
    for s in 0..2 {
        assert_eq!(second.free_energy_steps(s), full.free_energy_steps(s));
        assert_eq!(full.free_energy_steps(s).unwrap().len(), 2);
    }
    let strip = |t: &MultiStateDiffTRe<'_, SplinePair>| {
        t.history()
            .iter()
            .map(|u| (u.loss, u.state_losses.clone(), u.simulations, u.resampled))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&second), strip(&full));
    // A checkpoint of a different set of state points is refused.
    let mut other = multi_config(3, 3, 8, 1.0, None)
        .build(&comm, spline(), points(3))
        .unwrap();
    assert!(matches!(
        other.resume(&ckpt),
        Err(TrainError::Checkpoint { .. })
    ));
}

#[test]
fn bad_settings_are_errors() {
    let comm = Serial;
    let mismatched = multi_config(2, 1, 8, 0.5, None).build(&comm, spline(), points(1));
    assert!(matches!(mismatched, Err(TrainError::Config { .. })));
    let mut zero = multi_config(2, 1, 8, 0.5, None);
    for s in &mut zero.states {
        s.weight = 0.0;
    }
    assert!(zero.build(&comm, spline(), points(2)).is_err());
    let mut none = multi_config(2, 1, 8, 0.5, None);
    none.states.clear();
    assert!(none.build(&comm, spline(), Vec::new()).is_err());
    let mut no_targets = points(2);
    no_targets[1].targets.clear();
    assert!(multi_config(2, 1, 8, 0.5, None)
        .build(&comm, spline(), no_targets)
        .is_err());
}

// ---------------------------------------------------------------------------------------
// Multi-state relative entropy

#[test]
fn re_gradient_is_the_weighted_sum_of_single_state_gradients_and_matches_finite_differences() {
    let comm = Serial;
    let mut multi = re_multi_config(2, 1, 20, 0.5, None)
        .build(&comm, spline(), re_points(2))
        .unwrap();
    multi.ensure_samples().unwrap();
    let mut singles: Vec<_> = (0..2)
        .map(|s| {
            let mut single = re_single_config(s, 1, 20, 0.5)
                .build(spline(), reference(s), initial(s), Some(prior()))
                .unwrap();
            single.model_states().unwrap();
            single
        })
        .collect();
    // Away from the sampling parameters, so that the weights are not uniform.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let p0: Vec<f64> = (0..multi.model().n_parameters())
        .map(|_| rng.gen_range(-0.1..0.1))
        .collect();
    multi.set_parameters(&p0).unwrap();
    let base = multi.loss().unwrap();
    let mut expected_loss = 0.0;
    let mut expected_gradient = vec![0.0; p0.len()];
    for (s, single) in singles.iter_mut().enumerate() {
        single.set_parameters(&p0).unwrap();
        let l = single.loss().unwrap();
        let weight = conditions(s).3;
        assert!(l.ess < 19.99, "state point {s}: ESS {} is uniform", l.ess);
        assert_eq!(base.states[s].loss, l.loss, "state point {s}");
        assert_eq!(base.states[s].ess_fraction, l.ess / 20.0);
        assert_eq!(base.states[s].free_energy, l.free_energy);
        expected_loss += weight * l.loss;
        for (e, g) in expected_gradient.iter_mut().zip(&l.gradient) {
            *e += weight * g;
        }
    }
    assert_eq!(base.loss, expected_loss);
    assert_eq!(base.gradient, expected_gradient);
    let scale = base.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    assert!(scale > 0.0);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..p0.len() {
        let mut p = p0.clone();
        p[k] += h;
        multi.set_parameters(&p).unwrap();
        let up = multi.loss().unwrap().loss;
        p[k] -= 2.0 * h;
        multi.set_parameters(&p).unwrap();
        let down = multi.loss().unwrap().loss;
        worst = worst.max(((up - down) / (2.0 * h) - base.gradient[k]).abs() / scale);
    }
    assert!(worst < 1e-6, "worst relative gradient error {worst:e}");
    // An update evaluates each state point on its own reference minibatch, as the
    // single-state trainer does.
    multi.set_parameters(&p0).unwrap();
    multi.update().unwrap();
    for (s, single) in singles.iter_mut().enumerate() {
        single.set_parameters(&p0).unwrap();
        single.update().unwrap();
        let (m, o) = (&multi.reports()[0][s], &single.history()[0]);
        assert_eq!(m.loss, o.loss, "state point {s}");
        assert_eq!(m.ess_fraction, o.ess_fraction, "state point {s}");
        assert_eq!(m.resampled, o.resampled, "state point {s}");
    }
}

#[test]
fn re_training_lowers_the_summed_loss() {
    let comm = Serial;
    let mut trainer = re_multi_config(2, 12, 20, 0.6, None)
        .build(&comm, spline(), re_points(2))
        .unwrap();
    trainer.train().unwrap();
    let losses: Vec<f64> = trainer.history().iter().map(|u| u.loss).collect();
    let norms: Vec<f64> = trainer.history().iter().map(|u| u.gradient_norm).collect();
    eprintln!("summed loss {losses:.4?}\ngradient norms {norms:.3?}");
    let first = losses[0];
    let last = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    // L = 0 at the start (zero spline, ΔA = 0); learning the Lennard-Jones attraction
    // lowers it by several kT (about 10 with these settings).
    assert!(last < first - 2.0, "loss {first} → {last}");
    for (u, reports) in trainer.history().iter().zip(trainer.reports()) {
        assert_eq!(reports.len(), 2);
        let sum: f64 = reports
            .iter()
            .enumerate()
            .map(|(s, r)| conditions(s).3 * r.loss)
            .sum();
        assert_eq!(u.loss, sum);
    }
}

#[test]
fn re_resume_reproduces_the_uninterrupted_run() {
    let comm = Serial;
    let build = |checkpoint| -> MultiStateRelativeEntropy<'_, SplinePair> {
        re_multi_config(2, 3, 8, 1.0, checkpoint)
            .build(&comm, spline(), re_points(2))
            .unwrap()
    };
    let mut full = build(None);
    full.train().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("multi-re.ckpt");
    let mut first = build(Some(ckpt.clone()));
    first.update().unwrap();
    drop(first);
    assert!(rank_checkpoint_path(&ckpt, 0).exists());
    let mut second = build(Some(ckpt.clone()));
    second.resume(&ckpt).unwrap();
    assert_eq!(second.updates_done(), 1);
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    assert_eq!(second.reports(), full.reports());
    for s in 0..2 {
        assert_eq!(second.free_energy_steps(s), full.free_energy_steps(s));
        assert_eq!(full.free_energy_steps(s).unwrap().len(), 2);
    }
    // A checkpoint of a different set of state points is refused.
    let mut other = re_multi_config(3, 3, 8, 1.0, None)
        .build(&comm, spline(), re_points(3))
        .unwrap();
    assert!(matches!(
        other.resume(&ckpt),
        Err(TrainError::Checkpoint { .. })
    ));
}

#[test]
fn re_bad_settings_are_errors() {
    let comm = Serial;
    let mismatched = re_multi_config(2, 1, 8, 0.5, None).build(&comm, spline(), re_points(1));
    assert!(matches!(mismatched, Err(TrainError::Config { .. })));
    let mut zero = re_multi_config(2, 1, 8, 0.5, None);
    for s in &mut zero.states {
        s.weight = 0.0;
    }
    assert!(zero.build(&comm, spline(), re_points(2)).is_err());
    let mut no_batch = re_multi_config(2, 1, 8, 0.5, None);
    no_batch.states[1].reference_batch = Some(0);
    assert!(no_batch.build(&comm, spline(), re_points(2)).is_err());
    let mut empty = re_points(2);
    empty[0].reference = Default::default();
    assert!(re_multi_config(2, 1, 8, 0.5, None)
        .build(&comm, spline(), empty)
        .is_err());
}
