//! Sampling states from a model by MD (chemtrain §4.2.2, `ensemble.sampling`):
//! Langevin dynamics (BAOAB) with the model plus an optional fixed prior (Δ-learning,
//! chemtrain eq. 23), NVT or NPT (stochastic cell rescaling), equilibration, then
//! decorrelated snapshots every `stride` steps.

use std::fmt::Debug;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thermograd_geometry::Mat3;
use thermograd_md::{
    BarostatConfig, Configuration, Evaluation, ForceField, Integrator, Langevin, Potential,
    PotentialSum, RunConfig, Simulation, State, StochasticCellRescaling, ThermostatConfig,
};
use thermograd_nn::Frame;

use crate::error::{config_error, Result};

/// A potential shared between simulations (the fixed prior of every resampling run).
#[derive(Clone, Debug)]
pub struct SharedPotential(pub Arc<dyn Potential>);

impl Potential for SharedPotential {
    fn cutoff(&self) -> Option<f64> {
        self.0.cutoff()
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        self.0.add_to(config, out)
    }

    fn name(&self) -> &str {
        self.0.name()
    }
}

/// Isotropic pressure coupling of a [`Sampler`] (stochastic cell rescaling, Bernetti &
/// Bussi 2020).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PressureCoupling {
    /// Target pressure (energy/volume units).
    pub pressure: f64,
    /// Isothermal compressibility (volume/energy units).
    pub compressibility: f64,
    /// Relaxation time (time units).
    pub tau: f64,
    /// Apply every `stride` steps.
    pub stride: u64,
}

/// Settings of a [`Sampler`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// `k_B T` (energy units).
    pub kt: f64,
    /// Time step (time units).
    pub dt: f64,
    /// Langevin friction time `1/γ` (time units).
    pub friction_time: f64,
    /// Steps discarded before the first snapshot of each run.
    pub equilibration_steps: u64,
    /// Snapshots per run.
    pub samples: usize,
    /// Steps between snapshots.
    pub stride: u64,
    /// Verlet-list skin (length units).
    pub skin: f64,
    /// Base seed; run `k` uses a seed derived from it and `k`.
    pub seed: u64,
    /// NPT instead of NVT (`None`: constant volume).
    pub pressure: Option<PressureCoupling>,
}

impl SamplerConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !(pos(self.kt) && pos(self.dt) && pos(self.friction_time)) {
            return Err(config_error(
                "sampler",
                "kt, dt and friction_time must be > 0",
            ));
        }
        if self.samples == 0 || self.stride == 0 {
            return Err(config_error(
                "sampler",
                "samples and stride must be at least 1",
            ));
        }
        if !(self.skin.is_finite() && self.skin >= 0.0) {
            return Err(config_error("sampler", "skin must be ≥ 0"));
        }
        Ok(())
    }
}

/// One sampled state: the configuration and the total (prior + model) energy and
/// virial at the moment it was sampled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The configuration.
    pub frame: Frame,
    /// Total potential energy (energy units).
    pub energy: f64,
    /// Total virial `Σ r_ij ⊗ f_ij` (energy units).
    pub virial: Mat3,
}

/// Runs MD with a model (plus the prior) and returns snapshots; each run continues from
/// the last state of the previous one (as chemtrain does), with a fresh thermostat seed
/// derived from the base seed and the run index, so a run depends only on its starting
/// state, its index and the model: that is what makes trainer checkpoints exact.
#[derive(Debug)]
pub struct Sampler {
    config: SamplerConfig,
    prior: Option<SharedPotential>,
    state: State,
    runs: u64,
}

/// The resumable part of a [`Sampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerState {
    /// The state the next run starts from.
    pub state: State,
    /// Runs done.
    pub runs: u64,
}

impl Sampler {
    /// A sampler starting from `initial` (positions, velocities, masses, box), with an
    /// optional fixed `prior` added to every model.
    pub fn new(
        config: SamplerConfig,
        initial: State,
        prior: Option<Arc<dyn Potential>>,
    ) -> Result<Self> {
        config.validate()?;
        initial.validate()?;
        Ok(Sampler {
            config,
            prior: prior.map(SharedPotential),
            state: initial,
            runs: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// The state the next run starts from.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The prior, if any.
    pub fn prior(&self) -> Option<&SharedPotential> {
        self.prior.as_ref()
    }

    /// Runs done.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The resumable state.
    pub fn save(&self) -> SamplerState {
        SamplerState {
            state: self.state.clone(),
            runs: self.runs,
        }
    }

    /// Restores what [`Sampler::save`] returned.
    pub fn restore(&mut self, saved: SamplerState) -> Result<()> {
        saved.state.validate()?;
        self.state = saved.state;
        self.runs = saved.runs;
        Ok(())
    }

    /// One run with `model` (plus the prior): equilibration, then `samples`
    /// snapshots every `stride` steps.
    pub fn sample(&mut self, model: Box<dyn Potential>) -> Result<Vec<Snapshot>> {
        let c = self.config;
        let seed = c.seed ^ (self.runs + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut sum = PotentialSum::new();
        if let Some(p) = &self.prior {
            sum = sum.with(p.clone());
        }
        sum.push(model);
        let forcefield = ForceField::new(sum, c.skin)?;
        let thermostat = ThermostatConfig {
            dt: c.dt,
            kt: c.kt,
            tau: c.friction_time,
            seed,
        };
        let mut integrator: Box<dyn Integrator> = Box::new(Langevin::new(thermostat)?);
        if let Some(p) = c.pressure {
            integrator = Box::new(StochasticCellRescaling::new(
                integrator,
                BarostatConfig {
                    pressure: p.pressure,
                    compressibility: p.compressibility,
                    tau: p.tau,
                    kt: c.kt,
                    stride: p.stride,
                    seed: seed.rotate_left(17),
                },
            )?);
        }
        let mut sim = Simulation::new(self.state.clone(), forcefield, integrator)?;
        let mut snapshots = Vec::with_capacity(c.samples);
        let run = RunConfig {
            equilibration_steps: c.equilibration_steps,
            production_steps: c.stride * c.samples as u64,
            stride: c.stride,
            progress: false,
        };
        sim.run_protocol(&run, &mut |sim: &Simulation| {
            let s = sim.state();
            let e = sim.evaluation();
            snapshots.push(Snapshot {
                frame: Frame {
                    positions: s.positions.clone(),
                    species: s.species.clone(),
                    simbox: s.simbox.clone(),
                },
                energy: e.energy,
                virial: e.virial,
            });
            Ok(())
        })?;
        self.state = sim.state().clone();
        self.runs += 1;
        Ok(snapshots)
    }
}
