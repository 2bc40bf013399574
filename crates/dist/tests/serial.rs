//! The distributed drivers on one process: they reproduce the plain drivers, restart
//! from checkpoints, and replica exchange samples the right distributions.

mod common;

use common::{dimer, distance, ladder, oscillator_potential, oscillator_state, umbrella_config};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use thermograd_cv::{run_umbrella, MeanForceMethod};
use thermograd_dist::{
    run_replica_exchange, run_umbrella_distributed, window_checkpoint_path, DistError,
    ReplicaExchangeConfig, Serial,
};
use thermograd_estimators::{statistical_inefficiency, StatisticalInefficiencyConfig};

#[test]
fn serial_umbrella_equals_run_umbrella() {
    let config = umbrella_config(MeanForceMethod::InstantaneousForce { step: 1e-4 });
    let plain = run_umbrella(&config, distance(), &dimer).unwrap();
    let dist = run_umbrella_distributed(&Serial, &config, distance(), &dimer, None)
        .unwrap()
        .unwrap();
    assert_eq!(dist, plain);
}

#[test]
fn umbrella_resumes_from_window_checkpoints() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = umbrella_config(MeanForceMethod::UmbrellaIntegration);
    let plain = run_umbrella(&config, distance(), &dimer).unwrap();
    let first = run_umbrella_distributed(&Serial, &config, distance(), &dimer, Some(dir.path()))
        .unwrap()
        .unwrap();
    assert_eq!(first, plain);
    for k in 0..5 {
        assert!(window_checkpoint_path(dir.path(), k).exists());
    }
    // As if the job had been killed after some windows: only window 3 is missing. The
    // rerun must read the others (a system that fails for them proves it) and run 3.
    std::fs::remove_file(window_checkpoint_path(dir.path(), 3)).unwrap();
    let only_three = |k: usize| {
        assert_eq!(k, 3, "window {k} was run again instead of read");
        dimer(k)
    };
    let resumed =
        run_umbrella_distributed(&Serial, &config, distance(), &only_three, Some(dir.path()))
            .unwrap()
            .unwrap();
    assert_eq!(resumed, plain);

    // A corrupted window is an error, not a silently different result.
    let path = window_checkpoint_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let corrupted =
        run_umbrella_distributed(&Serial, &config, distance(), &dimer, Some(dir.path()));
    assert!(
        matches!(corrupted, Err(DistError::Checkpoint { .. })),
        "{corrupted:?}"
    );
    std::fs::remove_file(&path).unwrap();

    // Checkpoints of another job (different seed) are refused.
    let mut other = config.clone();
    other.thermostat.seed += 1;
    let refused = run_umbrella_distributed(&Serial, &other, distance(), &dimer, Some(dir.path()));
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("different umbrella config"), "{message}");
}

#[test]
fn a_failing_window_is_an_error() {
    let config = umbrella_config(MeanForceMethod::UmbrellaIntegration);
    let broken = |k: usize| {
        if k == 2 {
            Err(thermograd_md::MdError::InvalidParameter {
                name: "test",
                value: 2.0,
                reason: "window 2 cannot start",
            })
        } else {
            dimer(k)
        }
    };
    let result = run_umbrella_distributed(&Serial, &config, distance(), &broken, None);
    assert!(matches!(result, Err(DistError::Cv(_))), "{result:?}");
}

/// Mean acceptance of a swap between independent Boltzmann samples of the 3-D
/// oscillator at `kt_a < kt_b`: its energy is Gamma(3/2, kT) distributed, and at
/// equilibrium the configurations at two temperatures are independent. Monte Carlo
/// with an RNG unrelated to the simulation's.
fn expected_acceptance(kt_a: f64, kt_b: f64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (ga, gb) = (
        Gamma::new(1.5, kt_a).unwrap(),
        Gamma::new(1.5, kt_b).unwrap(),
    );
    let n = 200_000;
    let sum: f64 = (0..n)
        .map(|_| {
            let (ua, ub) = (ga.sample(&mut rng), gb.sample(&mut rng));
            ((1.0 / kt_a - 1.0 / kt_b) * (ua - ub)).exp().min(1.0)
        })
        .sum();
    sum / n as f64
}

#[test]
fn replica_exchange_samples_each_temperature_and_accepts_at_the_predicted_rate() {
    let config = ladder(2000);
    let run =
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).unwrap();
    for (t, energies) in run.energies.iter().enumerate() {
        assert_eq!(energies.len(), 2000);
        let n = energies.len() as f64;
        let mean = energies.iter().sum::<f64>() / n;
        let var = energies.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let g =
            statistical_inefficiency(energies, &StatisticalInefficiencyConfig::default()).unwrap();
        let err = (var * g / n).sqrt();
        let exact = 1.5 * config.kts[t];
        let z = (mean - exact) / err;
        assert!(z.abs() < 4.0, "T{t}: <U> = {mean} ± {err}, exact {exact}");
    }
    for (t, stats) in run.exchanges.iter().enumerate() {
        assert_eq!(stats.attempted, 1000);
        let p = expected_acceptance(config.kts[t], config.kts[t + 1]);
        // Binomial error, doubled for the correlation between successive attempts.
        let err = 2.0 * (p * (1.0 - p) / stats.attempted as f64).sqrt();
        let rate = stats.rate();
        assert!(
            ((rate - p) / err).abs() < 4.0,
            "pair {t}: rate {rate}, expected {p} ± {err}"
        );
    }
    // Configurations travel along the ladder: each temperature sees several replicas.
    for at in &run.replica_at {
        let mut seen = at.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 4);
    }
}

#[test]
fn replica_exchange_rejects_bad_ladders() {
    let bad = |config: ReplicaExchangeConfig| {
        run_replica_exchange(&Serial, &config, &oscillator_state, &oscillator_potential).is_err()
    };
    assert!(bad(ReplicaExchangeConfig {
        kts: vec![1.0],
        ..ladder(10)
    }));
    assert!(bad(ReplicaExchangeConfig {
        kts: vec![1.0, 1.0, 2.0],
        ..ladder(10)
    }));
    assert!(bad(ReplicaExchangeConfig {
        kts: vec![-1.0, 1.0],
        ..ladder(10)
    }));
    assert!(bad(ReplicaExchangeConfig {
        exchange_every: 0,
        ..ladder(10)
    }));
}
