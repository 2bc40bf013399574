//! Optimisation shared by the trainers: Adam/AdamW ([`thermograd_nn::Adam`]) with a
//! learning-rate schedule and gradient-norm clipping; early stopping on a validation
//! loss.

use serde::{Deserialize, Serialize};
use thermograd_nn::{Adam, AdamConfig};

use crate::error::{config_error, Result, TrainError};

/// How the learning rate moves from the initial rate `η₀` ([`AdamConfig::learning_rate`])
/// to a final rate `η_f` over `E` epochs (or updates).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `η₀` throughout.
    #[default]
    Constant,
    /// Half a cosine, `η_f + (η₀ − η_f)(1 + cos(π e/(E − 1)))/2` (Loshchilov & Hutter
    /// 2017, without restarts).
    Cosine {
        /// Final rate.
        final_learning_rate: f64,
    },
    /// Geometric decay `η₀ (η_f/η₀)^{e/(E − 1)}`.
    Exponential {
        /// Final rate.
        final_learning_rate: f64,
    },
}

impl Schedule {
    /// The rate at epoch `epoch` of `total`, starting from `initial`.
    pub fn rate(&self, initial: f64, epoch: usize, total: usize) -> f64 {
        let t = (epoch as f64 / total.saturating_sub(1).max(1) as f64).min(1.0);
        match *self {
            Schedule::Constant => initial,
            Schedule::Cosine {
                final_learning_rate: f,
            } => f + (initial - f) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            Schedule::Exponential {
                final_learning_rate: f,
            } => initial * (f / initial).powf(t),
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Cosine {
                final_learning_rate: f,
            }
            | Schedule::Exponential {
                final_learning_rate: f,
            } => {
                if f.is_finite() && f > 0.0 {
                    Ok(())
                } else {
                    Err(config_error("schedule", "final_learning_rate must be > 0"))
                }
            }
        }
    }
}

/// Settings of an [`Optimizer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizerConfig {
    /// Adam hyperparameters; `weight_decay > 0` makes it AdamW.
    pub adam: AdamConfig,
    /// Learning-rate schedule over the epochs (or updates).
    pub schedule: Schedule,
    /// Rescale the gradient to at most this Euclidean norm (`None`: no clipping).
    pub clip_norm: Option<f64>,
}

impl OptimizerConfig {
    /// Checks the settings and builds the optimizer for `n_parameters` parameters.
    pub fn build(&self, n_parameters: usize) -> Result<Optimizer> {
        self.schedule.validate()?;
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(config_error("clip_norm", format!("{c} (must be > 0)")));
            }
        }
        Ok(Optimizer {
            config: *self,
            adam: Adam::new(self.adam, n_parameters)?,
        })
    }
}

/// Adam with a schedule and clipping; plain serializable state, so checkpoints resume
/// bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    config: OptimizerConfig,
    adam: Adam,
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Euclidean norm of the gradient before clipping.
    pub gradient_norm: f64,
    /// Learning rate used.
    pub learning_rate: f64,
}

impl Optimizer {
    /// The settings.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.adam.steps()
    }

    /// One step on `parameters` along `gradient` at epoch `epoch` of `total`. A
    /// non-finite gradient is an error and changes nothing.
    pub fn step(
        &mut self,
        parameters: &mut [f64],
        gradient: &[f64],
        epoch: usize,
        total: usize,
    ) -> Result<StepInfo> {
        let norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
        if !norm.is_finite() {
            return Err(TrainError::NonFinite { what: "gradient" });
        }
        let lr = self
            .config
            .schedule
            .rate(self.config.adam.learning_rate, epoch, total);
        self.adam.config.learning_rate = lr;
        match self.config.clip_norm {
            Some(c) if norm > c => {
                let s = c / norm;
                let clipped: Vec<f64> = gradient.iter().map(|g| g * s).collect();
                self.adam.step(parameters, &clipped)?;
            }
            _ => self.adam.step(parameters, gradient)?,
        }
        Ok(StepInfo {
            gradient_norm: norm,
            learning_rate: lr,
        })
    }
}

/// Early stopping: remembers the best validation loss and its parameters, and says when
/// `patience` epochs passed without improvement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (`None`: never stop).
    pub patience: Option<usize>,
    best: Option<(f64, Vec<f64>)>,
    stale: usize,
}

impl EarlyStopping {
    /// A tracker with the given patience.
    pub fn new(patience: Option<usize>) -> Self {
        EarlyStopping {
            patience,
            best: None,
            stale: 0,
        }
    }

    /// Records an epoch's validation loss and parameters; returns whether to stop.
    pub fn record(&mut self, loss: f64, parameters: &[f64]) -> bool {
        let better = self.best.as_ref().is_none_or(|(b, _)| loss < *b);
        if better && loss.is_finite() {
            self.best = Some((loss, parameters.to_vec()));
            self.stale = 0;
        } else {
            self.stale += 1;
        }
        self.patience.is_some_and(|p| self.stale >= p)
    }

    /// The best loss and its parameters so far.
    pub fn best(&self) -> Option<(f64, &[f64])> {
        self.best.as_ref().map(|(l, p)| (*l, p.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_hit_their_ends() {
        let c = Schedule::Cosine {
            final_learning_rate: 1e-4,
        };
        assert_eq!(c.rate(1e-2, 0, 11), 1e-2);
        assert!((c.rate(1e-2, 10, 11) - 1e-4).abs() < 1e-18);
        assert!((c.rate(1e-2, 5, 11) - 0.5 * (1e-2 + 1e-4)).abs() < 1e-15);
        let e = Schedule::Exponential {
            final_learning_rate: 1e-4,
        };
        assert!((e.rate(1e-2, 5, 11) - 1e-3).abs() < 1e-15);
        assert_eq!(Schedule::Constant.rate(0.3, 7, 11), 0.3);
    }

    #[test]
    fn clipping_bounds_the_first_step() {
        // Adam's first step is lr·sign(g) whatever the scale, so clipping shows in the
        // second step, where the moments mix a clipped and an unclipped gradient.
        let cfg = OptimizerConfig {
            clip_norm: Some(1.0),
            ..Default::default()
        };
        let mut a = cfg.build(1).unwrap();
        let mut b = OptimizerConfig::default().build(1).unwrap();
        let (mut pa, mut pb) = (vec![0.0], vec![0.0]);
        for g in [100.0, -1.0] {
            let info = a.step(&mut pa, &[g], 0, 1).unwrap();
            assert_eq!(info.gradient_norm, f64::abs(g));
            b.step(&mut pb, &[g], 0, 1).unwrap();
        }
        assert_ne!(pa, pb);
        assert!(a.step(&mut pa, &[f64::NAN], 0, 1).is_err());
    }

    #[test]
    fn early_stopping_keeps_the_best() {
        let mut s = EarlyStopping::new(Some(2));
        assert!(!s.record(3.0, &[1.0]));
        assert!(!s.record(2.0, &[2.0]));
        assert!(!s.record(2.5, &[3.0]));
        assert!(s.record(2.1, &[4.0]));
        assert_eq!(s.best(), Some((2.0, &[2.0][..])));
    }
}
