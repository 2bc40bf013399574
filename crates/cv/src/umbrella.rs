//! Umbrella sampling: one Langevin run per window, windows in parallel, CV time series
//! kept for both mean-force estimation and MBAR.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_md::{
    FaultChecks, ForceField, Langevin, PotentialSum, RunConfig, Simulation, State, ThermostatConfig,
};

use crate::bias::{Bias, BiasEnergy, Harmonic};
use crate::cv::{periodic_difference, CollectiveVariable, CvValue};
use crate::error::{CvError, Result};
use crate::instantaneous::{instantaneous_mean_force, InstantaneousForceConfig};
use crate::mean_force::{
    restrained_mean_force, umbrella_integration, MeanForceTable, WindowSamples,
};

/// How [`UmbrellaRun::mean_forces`] turns windows into mean forces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum MeanForceMethod {
    /// [`umbrella_integration`]: `κ(ξ0 − ⟨ξ⟩)` at the window mean.
    #[default]
    UmbrellaIntegration,
    /// [`restrained_mean_force`]: `κ(ξ0 − ⟨ξ⟩)` at the restraint center.
    RestrainedMeanForce,
    /// [`instantaneous_mean_force`]: the conditional mean of the instantaneous collective
    /// force (see [`crate::InstantaneousForce`]) at the window mean, by a local quadratic
    /// fit; the driver evaluates the force on every sample with the state's masses.
    InstantaneousForce {
        /// Finite-difference step of the divergence term (length units).
        step: f64,
    },
}

/// What to run in every window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UmbrellaConfig {
    /// Restraint center of each window (CV units, one entry per component).
    pub centers: Vec<Vec<f64>>,
    /// Force constant per component (energy / CV unit²), the same in every window.
    pub kappa: Vec<f64>,
    /// Langevin time step, kT and friction time; window `k` uses seed
    /// `seed + k` (each window has its own stream).
    pub thermostat: ThermostatConfig,
    /// Equilibration, production and sampling stride of each window (`progress` is
    /// ignored per window; one bar counts finished windows).
    pub run: RunConfig,
    /// Neighbor-list skin (length units).
    pub skin: f64,
    /// Show a progress bar over windows.
    pub progress: bool,
    /// The mean-force estimator (default: umbrella integration).
    #[serde(default)]
    pub mean_force: MeanForceMethod,
    /// Physical checks run in every window (default: none); a violation ends the run
    /// with the window, the step and the cause.
    #[serde(default)]
    pub faults: FaultChecks,
}

/// Window centers on a regular grid: `lower..=upper` with `counts` points per component
/// (1-D or more); components vary slowest first.
pub fn grid_centers(lower: &[f64], upper: &[f64], counts: &[usize]) -> Result<Vec<Vec<f64>>> {
    if lower.len() != upper.len() || lower.len() != counts.len() || lower.is_empty() {
        return Err(CvError::InvalidDefinition {
            reason: "grid bounds and counts must have one entry per CV component".into(),
        });
    }
    if counts.contains(&0) {
        return Err(CvError::InvalidDefinition {
            reason: "every grid component needs at least one window".into(),
        });
    }
    let axes: Vec<Vec<f64>> = lower
        .iter()
        .zip(upper)
        .zip(counts)
        .map(|((&lo, &hi), &n)| {
            if n == 1 {
                vec![lo]
            } else {
                (0..n)
                    .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
                    .collect()
            }
        })
        .collect();
    let mut centers = vec![Vec::new()];
    for axis in &axes {
        centers = centers
            .into_iter()
            .flat_map(|prefix| {
                axis.iter().map(move |&x| {
                    let mut p = prefix.clone();
                    p.push(x);
                    p
                })
            })
            .collect();
    }
    Ok(centers)
}

/// The sampled windows of an umbrella run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UmbrellaRun {
    /// Each window's restraint and CV series.
    pub windows: Vec<WindowSamples>,
    /// kT of the runs (energy units).
    pub kt: f64,
    /// The mean-force estimator of [`UmbrellaRun::mean_forces`].
    pub method: MeanForceMethod,
    /// Instantaneous collective forces `forces[w][a][t]` (energy / CV unit) at the
    /// samples of window `w`, when `method` is [`MeanForceMethod::InstantaneousForce`];
    /// empty otherwise.
    pub forces: Vec<Vec<Vec<f64>>>,
}

impl UmbrellaRun {
    /// Mean forces by the configured method.
    pub fn mean_forces(&self) -> Result<MeanForceTable> {
        match self.method {
            MeanForceMethod::UmbrellaIntegration => umbrella_integration(&self.windows),
            MeanForceMethod::RestrainedMeanForce => restrained_mean_force(&self.windows),
            MeanForceMethod::InstantaneousForce { .. } => {
                instantaneous_mean_force(&self.windows, &self.forces)
            }
        }
    }

    /// Reduced bias energies for MBAR: `u_kn[k][n] = w_k(ξ_n)/kT` for every sample `n`
    /// of every window (samples ordered by window), and the samples per window. The
    /// unbiased potential is common to all states and cancels.
    pub fn reduced_bias_energies(&self) -> (Vec<Vec<f64>>, Vec<usize>) {
        let n_k: Vec<usize> = self.windows.iter().map(|w| w.series[0].len()).collect();
        let u_kn = self
            .windows
            .iter()
            .map(|k| {
                self.windows
                    .iter()
                    .flat_map(|w| (0..w.series[0].len()).map(move |t| (w, t)))
                    .map(|(w, t)| {
                        let mut u = 0.0;
                        for c in 0..k.center.len() {
                            let d = periodic_difference(w.series[c][t], k.center[c], k.periods[c]);
                            u += 0.5 * k.kappa[c] * d * d;
                        }
                        u / self.kt
                    })
                    .collect()
            })
            .collect();
        (u_kn, n_k)
    }
}

/// One window sampled by [`run_umbrella_windows`]: its index in
/// [`UmbrellaConfig::centers`], its samples and, for
/// [`MeanForceMethod::InstantaneousForce`], the instantaneous collective forces
/// `forces[a][t]` (energy / CV unit; empty for the other methods).
///
/// Serializable, so that windows run in other processes can be sent back and combined
/// by [`UmbrellaRun::from_windows`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowRun {
    /// Index of the window in [`UmbrellaConfig::centers`].
    pub index: usize,
    /// The restraint and the CV series sampled under it.
    pub samples: WindowSamples,
    /// Instantaneous collective forces per component and sample (energy / CV unit);
    /// empty unless the method is [`MeanForceMethod::InstantaneousForce`].
    pub forces: Vec<Vec<f64>>,
}

/// Runs every window of `config`. `system(k)` returns the starting state and the
/// unbiased potential for window `k` (a state already near the window's center
/// shortens equilibration); the harmonic bias on `cv` is added to it. Windows run in
/// parallel on rayon's pool; each is reproducible from its seed.
///
/// Equal to [`run_umbrella_windows`] over all indices followed by
/// [`UmbrellaRun::from_windows`], which is how windows are split across processes.
pub fn run_umbrella(
    config: &UmbrellaConfig,
    cv: Arc<dyn CollectiveVariable>,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
) -> Result<UmbrellaRun> {
    let all: Vec<usize> = (0..config.centers.len()).collect();
    let windows = run_umbrella_windows(config, cv, system, &all)?;
    UmbrellaRun::from_windows(config, windows)
}

fn validate(config: &UmbrellaConfig) -> Result<()> {
    if config.centers.is_empty() {
        return Err(CvError::InvalidDefinition {
            reason: "umbrella sampling needs at least one window".into(),
        });
    }
    if let MeanForceMethod::InstantaneousForce { step } = config.mean_force {
        if !(step.is_finite() && step > 0.0) {
            return Err(CvError::InvalidDefinition {
                reason: format!("finite-difference step must be positive, got {step}"),
            });
        }
    }
    Ok(())
}

/// Runs the windows of `config` whose indices are in `indices` (in parallel on rayon's
/// pool) and returns them in the order of `indices`. Window `k` depends only on `k`
/// (its center, its state `system(k)` and its seed `seed + k`), not on which other
/// windows run or where, so a job can split the indices among processes and combine
/// the pieces with [`UmbrellaRun::from_windows`] into exactly the result of
/// [`run_umbrella`]. The progress bar (if enabled) counts the windows of this call.
pub fn run_umbrella_windows(
    config: &UmbrellaConfig,
    cv: Arc<dyn CollectiveVariable>,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
    indices: &[usize],
) -> Result<Vec<WindowRun>> {
    validate(config)?;
    if let Some(&k) = indices.iter().find(|&&k| k >= config.centers.len()) {
        return Err(CvError::InvalidDefinition {
            reason: format!(
                "window index {k} is out of range ({} windows)",
                config.centers.len()
            ),
        });
    }
    let periods: Vec<Option<f64>> = (0..cv.dim()).map(|c| cv.period(c)).collect();
    let biases = indices
        .iter()
        .map(|&k| {
            let energy: Arc<dyn BiasEnergy> = Arc::new(Harmonic::new(
                config.centers[k].clone(),
                config.kappa.clone(),
            )?);
            Ok((k, Bias::new(cv.clone(), energy)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let bar = if config.progress {
        let bar = ProgressBar::new(indices.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "umbrella windows {bar:30} {pos}/{len} [{elapsed} < {eta}]",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let windows = biases
        .into_par_iter()
        .map(|(k, bias)| {
            let window =
                run_window(config, &cv, k, bias, system, &periods).map(|(samples, forces)| {
                    WindowRun {
                        index: k,
                        samples,
                        forces,
                    }
                });
            bar.inc(1);
            window
        })
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    Ok(windows)
}

impl UmbrellaRun {
    /// Assembles the run of `config` from its windows, which must be every window
    /// `0..centers.len()` exactly once, in any order (e.g. the pieces of several
    /// [`run_umbrella_windows`] calls). Windows are put in index order, so the result
    /// does not depend on how the work was split.
    pub fn from_windows(config: &UmbrellaConfig, windows: Vec<WindowRun>) -> Result<UmbrellaRun> {
        validate(config)?;
        let n = config.centers.len();
        let mut slots: Vec<Option<WindowRun>> = vec![None; n];
        for window in windows {
            let k = window.index;
            if k >= n {
                return Err(CvError::InvalidDefinition {
                    reason: format!("window index {k} is out of range ({n} windows)"),
                });
            }
            if slots[k].replace(window).is_some() {
                return Err(CvError::InvalidDefinition {
                    reason: format!("window {k} given twice"),
                });
            }
        }
        let mut samples = Vec::with_capacity(n);
        let mut forces = Vec::with_capacity(n);
        for (k, slot) in slots.into_iter().enumerate() {
            let window = slot.ok_or_else(|| CvError::InvalidDefinition {
                reason: format!("window {k} is missing"),
            })?;
            samples.push(window.samples);
            forces.push(window.forces);
        }
        let forces = match config.mean_force {
            MeanForceMethod::InstantaneousForce { .. } => forces,
            _ => Vec::new(),
        };
        Ok(UmbrellaRun {
            windows: samples,
            kt: config.thermostat.kt,
            method: config.mean_force,
            forces,
        })
    }
}

fn run_window(
    config: &UmbrellaConfig,
    cv: &Arc<dyn CollectiveVariable>,
    k: usize,
    bias: Bias,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
    periods: &[Option<f64>],
) -> Result<(WindowSamples, Vec<Vec<f64>>)> {
    let md = |source| CvError::Simulation { window: k, source };
    let (state, mut potential) = system(k).map_err(md)?;
    let estimator = match config.mean_force {
        MeanForceMethod::InstantaneousForce { step } => Some(
            InstantaneousForceConfig {
                kt: config.thermostat.kt,
                masses: state.masses.clone(),
                step,
            }
            .build()?,
        ),
        _ => None,
    };
    potential.push(Box::new(bias));
    let forcefield = ForceField::new(potential, config.skin).map_err(md)?;
    let thermostat = ThermostatConfig {
        seed: config.thermostat.seed.wrapping_add(k as u64),
        ..config.thermostat
    };
    let integrator = Langevin::new(thermostat).map_err(md)?;
    let mut sim = Simulation::new(state, forcefield, Box::new(integrator))
        .and_then(|sim| sim.with_fault_checks(config.faults))
        .map_err(md)?;
    let dim = cv.dim();
    let mut series = vec![Vec::new(); dim];
    let mut forces = vec![Vec::new(); if estimator.is_some() { dim } else { 0 }];
    let (mut bias_gradient, mut force) = (vec![0.0; dim], vec![0.0; dim]);
    let center = &config.centers[k];
    let mut value = CvValue::default();
    let mut cv_error = None;
    let run = RunConfig {
        progress: false,
        ..config.run
    };
    sim.run_protocol(&run, &mut |s: &Simulation| {
        let state = s.state();
        let sampled = cv
            .evaluate(&state.positions, &state.simbox, &mut value)
            .and_then(|()| {
                for (c, x) in value.values.iter().enumerate() {
                    series[c].push(*x);
                }
                let Some(estimator) = &estimator else {
                    return Ok(());
                };
                // The sampled forces include the window's bias κ(ξ − ξ0).
                for c in 0..dim {
                    bias_gradient[c] = config.kappa[c]
                        * periodic_difference(value.values[c], center[c], periods[c]);
                }
                estimator.evaluate(
                    cv.as_ref(),
                    &state.positions,
                    &state.simbox,
                    &s.evaluation().forces,
                    &bias_gradient,
                    &mut force,
                )?;
                for (c, f) in force.iter().enumerate() {
                    forces[c].push(*f);
                }
                Ok(())
            });
        if let Err(e) = sampled {
            cv_error.get_or_insert(e);
        }
        Ok(())
    })
    .map_err(md)?;
    if let Some(e) = cv_error {
        return Err(e);
    }
    Ok((
        WindowSamples {
            center: config.centers[k].clone(),
            kappa: config.kappa.clone(),
            periods: periods.to_vec(),
            series,
        },
        forces,
    ))
}
