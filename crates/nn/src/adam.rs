//! The Adam optimizer over flat parameter vectors.

use serde::{Deserialize, Serialize};

use crate::error::{check_len, config_error};
use crate::{NnError, Result};

/// Hyperparameters of [`Adam`] (Kingma & Ba 2015); `weight_decay` is decoupled (AdamW,
/// Loshchilov & Hutter 2019).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Decay of the first-moment estimate.
    pub beta1: f64,
    /// Decay of the second-moment estimate.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub epsilon: f64,
    /// Decoupled weight decay per step (0: none).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam state for one parameter vector: plain serializable data, so a training
/// checkpoint that stores it resumes bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Hyperparameters (the learning rate may be changed between steps by a schedule).
    pub config: AdamConfig,
    m: Vec<f64>,
    v: Vec<f64>,
    steps: u64,
}

impl Adam {
    /// Fresh state for `n_parameters` parameters.
    pub fn new(config: AdamConfig, n_parameters: usize) -> Result<Self> {
        let ok = |v: f64| v.is_finite();
        if !(ok(config.learning_rate)
            && config.learning_rate > 0.0
            && (0.0..1.0).contains(&config.beta1)
            && (0.0..1.0).contains(&config.beta2)
            && ok(config.epsilon)
            && config.epsilon > 0.0
            && ok(config.weight_decay)
            && config.weight_decay >= 0.0)
        {
            return Err(config_error(
                "adam",
                "need learning_rate > 0, 0 ≤ beta < 1, epsilon > 0, weight_decay ≥ 0",
            ));
        }
        Ok(Adam {
            config,
            m: vec![0.0; n_parameters],
            v: vec![0.0; n_parameters],
            steps: 0,
        })
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of `parameters` along `gradient` (the gradient of the loss to
    /// minimise). A non-finite gradient is an error and leaves everything unchanged.
    pub fn step(&mut self, parameters: &mut [f64], gradient: &[f64]) -> Result<()> {
        check_len("parameters", self.m.len(), parameters.len())?;
        check_len("gradient", self.m.len(), gradient.len())?;
        if !gradient.iter().all(|g| g.is_finite()) {
            return Err(NnError::NonFinite { what: "gradient" });
        }
        let c = self.config;
        self.steps += 1;
        let t = self.steps as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for ((p, &g), (m, v)) in parameters
            .iter_mut()
            .zip(gradient)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            *m = c.beta1 * *m + (1.0 - c.beta1) * g;
            *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
            let m_hat = *m / bias1;
            let v_hat = *v / bias2;
            *p -= c.learning_rate * (m_hat / (v_hat.sqrt() + c.epsilon) + c.weight_decay * *p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_quadratic() {
        // f(p) = Σ k_i (p_i − c_i)², minimum at c.
        let k = [1.0, 10.0, 0.1];
        let c = [1.0, -2.0, 0.5];
        let mut p = vec![0.0; 3];
        let mut adam = Adam::new(
            AdamConfig {
                learning_rate: 0.05,
                ..Default::default()
            },
            3,
        )
        .unwrap();
        for _ in 0..3000 {
            let g: Vec<f64> = (0..3).map(|i| 2.0 * k[i] * (p[i] - c[i])).collect();
            adam.step(&mut p, &g).unwrap();
        }
        for i in 0..3 {
            assert!((p[i] - c[i]).abs() < 1e-3, "{p:?}");
        }
    }

    #[test]
    fn first_step_has_the_learning_rate_as_size() {
        // Bias correction makes the first step exactly lr·sign(g) (up to epsilon).
        let mut adam = Adam::new(AdamConfig::default(), 2).unwrap();
        let mut p = vec![0.0, 0.0];
        adam.step(&mut p, &[3.0, -0.2]).unwrap();
        assert!((p[0] + 1e-3).abs() < 1e-9 && (p[1] - 1e-3).abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Adam::new(
            AdamConfig {
                beta1: 1.0,
                ..Default::default()
            },
            1
        )
        .is_err());
        let mut adam = Adam::new(AdamConfig::default(), 1).unwrap();
        let mut p = vec![1.0];
        assert!(adam.step(&mut p, &[f64::NAN]).is_err());
        assert!(adam.step(&mut p, &[1.0, 2.0]).is_err());
        assert_eq!(p, vec![1.0]);
    }
}
