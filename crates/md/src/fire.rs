//! FIRE energy minimisation (Bitzek, Koskinen, Gähler, Moseler & Gumbsch, Phys. Rev. Lett.
//! 97, 170201 (2006)).

use serde::{Deserialize, Serialize};
use thermograd_geometry::Vec3;

use crate::error::check_positive;
use crate::{Evaluation, ForceField, MdError, Result, State};

/// Parameters of [`Fire`]. [`FireConfig::new`] takes the physical ones (time step, force
/// tolerance) and fills the numeric knobs with the values of Bitzek et al. (2006).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FireConfig {
    /// Initial MD time step (time units).
    pub dt: f64,
    /// Largest time step (time units); the paper suggests about 10 `dt`.
    pub dt_max: f64,
    /// Converged when the largest atomic force `max_i |F_i|` is below this (energy/length).
    pub force_tolerance: f64,
    /// Give up after this many steps with [`MdError::NotConverged`].
    pub max_steps: u64,
    /// No atom moves farther than this in one step (length units): keeps the first
    /// steps from a strained start from blowing up (as ASE's `maxstep`).
    pub max_displacement: f64,
    /// Steps with `P = F·v > 0` before the time step may grow (`N_min`, 5).
    pub n_min: u32,
    /// Time-step growth factor (`f_inc`, 1.1).
    pub f_inc: f64,
    /// Time-step shrink factor after an uphill step (`f_dec`, 0.5).
    pub f_dec: f64,
    /// Initial and reset mixing parameter (`α_start`, 0.1).
    pub alpha_start: f64,
    /// Mixing decay factor (`f_α`, 0.99).
    pub f_alpha: f64,
}

impl FireConfig {
    /// The paper's parameters with time step `dt` (time units, `dt_max = 10 dt`), force
    /// tolerance `force_tolerance` (energy/length), at most 100 000 steps and a largest
    /// displacement of 0.1 length units per step.
    pub fn new(dt: f64, force_tolerance: f64) -> Self {
        FireConfig {
            dt,
            dt_max: 10.0 * dt,
            force_tolerance,
            max_steps: 100_000,
            max_displacement: 0.1,
            n_min: 5,
            f_inc: 1.1,
            f_dec: 0.5,
            alpha_start: 0.1,
            f_alpha: 0.99,
        }
    }

    /// Validates the parameters and builds the minimiser.
    pub fn build(&self) -> Result<Fire> {
        check_positive("dt", self.dt)?;
        check_positive("dt_max", self.dt_max)?;
        check_positive("force_tolerance", self.force_tolerance)?;
        check_positive("max_displacement", self.max_displacement)?;
        if self.dt_max < self.dt {
            return Err(MdError::InvalidParameter {
                name: "dt_max",
                value: self.dt_max,
                reason: "must be at least dt",
            });
        }
        if self.f_inc < 1.0 || !self.f_inc.is_finite() {
            return Err(MdError::InvalidParameter {
                name: "f_inc",
                value: self.f_inc,
                reason: "must be at least 1",
            });
        }
        for (name, value) in [
            ("f_dec", self.f_dec),
            ("alpha_start", self.alpha_start),
            ("f_alpha", self.f_alpha),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(MdError::InvalidParameter {
                    name,
                    value,
                    reason: "must lie in (0, 1)",
                });
            }
        }
        Ok(Fire { config: *self })
    }
}

/// Outcome of a converged minimisation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Minimization {
    /// Steps taken.
    pub steps: u64,
    /// Potential energy at the end (energy units).
    pub energy: f64,
    /// Largest atomic force at the end (energy/length units).
    pub max_force: f64,
}

/// The FIRE minimiser ("fast inertial relaxation engine", Bitzek et al. 2006): velocity
/// Verlet steps with the velocity mixed towards the force direction,
/// `v ← (1 − α) v + α |v| F̂`; the time step grows (and `α` decays) after `N_min` downhill
/// steps, and an uphill step (`F·v ≤ 0`) zeroes the velocities, halves the time step and
/// resets `α`. The box is held fixed; the norms `|v|`, `|F|` are over all `3N`
/// components, and each atom's acceleration is `F_i/m_i`.
#[derive(Clone, Copy, Debug)]
pub struct Fire {
    config: FireConfig,
}

impl Fire {
    /// The configuration.
    pub fn config(&self) -> &FireConfig {
        &self.config
    }

    /// Minimises the potential energy of `state` in place (positions only; velocities are
    /// zero on return) until the largest atomic force is below the tolerance. Fails with
    /// [`MdError::NotConverged`] (giving the largest force reached) after `max_steps`
    /// steps; the state then holds the last positions.
    pub fn minimize(&self, state: &mut State, ff: &mut ForceField) -> Result<Minimization> {
        state.validate()?;
        let c = &self.config;
        let n = state.n_atoms();
        let mut eval = Evaluation::zeros(n);
        ff.evaluate(state, &mut eval)?;
        for v in &mut state.velocities {
            *v = Vec3::zeros();
        }
        let mut dt = c.dt;
        let mut alpha = c.alpha_start;
        let mut downhill = 0u32;
        let mut steps = 0u64;
        loop {
            let max_force = max_norm(&eval.forces);
            if max_force < c.force_tolerance {
                for v in &mut state.velocities {
                    *v = Vec3::zeros();
                }
                return Ok(Minimization {
                    steps,
                    energy: eval.energy,
                    max_force,
                });
            }
            if steps >= c.max_steps {
                for v in &mut state.velocities {
                    *v = Vec3::zeros();
                }
                return Err(MdError::NotConverged {
                    what: "FIRE minimisation",
                    iterations: steps,
                    residual: max_force,
                    tolerance: c.force_tolerance,
                });
            }
            // The FIRE velocity modification, then the downhill/uphill test.
            let power: f64 = eval
                .forces
                .iter()
                .zip(&state.velocities)
                .map(|(f, v)| f.dot(v))
                .sum();
            if power > 0.0 {
                let v_norm = norm(&state.velocities);
                let f_norm = norm(&eval.forces);
                let mix = alpha * v_norm / f_norm;
                for (v, f) in state.velocities.iter_mut().zip(&eval.forces) {
                    *v = (1.0 - alpha) * *v + mix * f;
                }
                downhill += 1;
                if downhill > c.n_min {
                    dt = (dt * c.f_inc).min(c.dt_max);
                    alpha *= c.f_alpha;
                }
            } else {
                downhill = 0;
                dt *= c.f_dec;
                alpha = c.alpha_start;
                for v in &mut state.velocities {
                    *v = Vec3::zeros();
                }
            }
            // Velocity Verlet with the displacement capped.
            for ((v, f), m) in state
                .velocities
                .iter_mut()
                .zip(&eval.forces)
                .zip(&state.masses)
            {
                *v += (0.5 * dt / m) * f;
            }
            let largest = state
                .velocities
                .iter()
                .map(|v| v.norm() * dt)
                .fold(0.0, f64::max);
            let scale = if largest > c.max_displacement {
                c.max_displacement / largest
            } else {
                1.0
            };
            for (x, v) in state.positions.iter_mut().zip(&state.velocities) {
                *x += (scale * dt) * v;
            }
            ff.evaluate(state, &mut eval)?;
            for ((v, f), m) in state
                .velocities
                .iter_mut()
                .zip(&eval.forces)
                .zip(&state.masses)
            {
                *v += (0.5 * dt / m) * f;
            }
            steps += 1;
        }
    }
}

fn norm(v: &[Vec3]) -> f64 {
    v.iter().map(|x| x.norm_squared()).sum::<f64>().sqrt()
}

fn max_norm(v: &[Vec3]) -> f64 {
    v.iter().map(|x| x.norm()).fold(0.0, f64::max)
}
