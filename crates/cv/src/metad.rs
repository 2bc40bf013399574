//! Well-tempered metadynamics runs: Langevin walkers that deposit Gaussian hills on a CV
//! and the free-energy estimate their bias implies.
//!
//! Each walker runs BAOAB Langevin dynamics ([`thermograd_md::Langevin`]) on the system's
//! potential plus a [`Metadynamics`] bias on the CV, and every `pace` steps deposits a
//! hill at the current ξ with the well-tempered height `w·exp(−V(ξ)/((γ − 1)kT))`
//! (Barducci, Bussi & Parrinello, PRL 100, 020603 (2008)). The bias then converges to
//! `V(ξ) → −(1 − 1/γ) A(ξ) + const`, so the estimate is
//!
//! ```text
//! A(ξ) = −γ/(γ − 1) · V(ξ) + const.
//! ```
//!
//! A deposit changes the bias between force evaluations; the new hill acts from the
//! next step on (as in PLUMED).
//!
//! The bias is the exact sum over hills or, with [`crate::BiasStorage::Grid`], a cubic
//! Hermite interpolant on a grid whose cost per step does not grow with the number of
//! hills (see [`Metadynamics`]); each walker reports how many of its evaluations fell
//! off that grid ([`MetadynamicsWalker::outside_grid`]).
//!
//! **Error estimate.** `replicas` independent walkers (seeds `seed + r`, each with its
//! own bias) give independent estimates `A_r`. Each is aligned so that the free energy
//! of the whole reporting grid, `−kT ln Σ_j exp(−A_r(ξ_j)/kT)`, is zero (a constant
//! dominated by the well-sampled low-A points, unlike the noisy minimum); the reported
//! profile is their mean and its error the standard error across walkers,
//! `sd_r(A_r(ξ))/√R`. This is the statistical error only: it does not include the
//! systematic errors of metadynamics, which the caller controls: the hill width σ (the
//! bias is a sum of Gaussians, so features of A narrower than σ are not resolved), the
//! deposition rate (the limit above assumes the walker's distribution follows the bias
//! adiabatically: small hills, a pace longer than the CV's relaxation time) and the run
//! length (every walker must have crossed between all relevant regions many times).
//! Near a wall the estimate is biased within a few σ of it (hills deposited at the wall
//! spill over), so place the grid inside.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_md::{
    FaultChecks, ForceField, Langevin, PotentialSum, Simulation, State, ThermostatConfig,
};

use crate::bias::{Bias, BiasEnergy, Metadynamics, MetadynamicsConfig};
use crate::cv::{CollectiveVariable, CvValue};
use crate::error::{CvError, Result};

/// What every walker runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadynamicsRunConfig {
    /// Hills (σ, initial height, bias factor γ), the bias storage (exact sum or
    /// Hermite grid, laid out with the CV's periods) and the reporting grid; its `kt`
    /// must equal the thermostat's.
    pub metadynamics: MetadynamicsConfig,
    /// Langevin time step, kT and friction time; walker `r` uses seed `seed + r`.
    pub thermostat: ThermostatConfig,
    /// Steps before the first hill.
    pub equilibration_steps: u64,
    /// Steps with hill deposition.
    pub steps: u64,
    /// A hill every `pace` steps (≥ 1).
    pub pace: u64,
    /// The CV and the bias are recorded every `stride` steps (≥ 1).
    pub stride: u64,
    /// A free-energy snapshot every `snapshot_every` hills (0: none besides the final
    /// estimate).
    pub snapshot_every: u64,
    /// Independent walkers (≥ 1); with two or more, the estimate has error bars.
    pub replicas: usize,
    /// Neighbor-list skin (length units).
    pub skin: f64,
    /// Show a progress bar over all walkers' steps.
    pub progress: bool,
    /// Physical checks run in every walker (default: none); a violation ends the run
    /// with the walker, the step and the cause.
    #[serde(default)]
    pub faults: FaultChecks,
}

/// One deposited hill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HillRecord {
    /// Simulation time of the deposit (time units).
    pub time: f64,
    /// Center ξ (CV units, one entry per component).
    pub center: Vec<f64>,
    /// Height (energy units).
    pub height: f64,
}

/// The free-energy estimate of one walker at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergySnapshot {
    /// Simulation time (time units).
    pub time: f64,
    /// Hills deposited so far.
    pub hills: usize,
    /// `−γ/(γ − 1) V` on the grid (energy units), aligned as in the module docs.
    pub free_energy: Vec<f64>,
}

/// Everything one walker recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadynamicsWalker {
    /// The hills in deposition order.
    pub hills: Vec<HillRecord>,
    /// Times of the recorded samples (time units).
    pub times: Vec<f64>,
    /// The CV at each sample: `series[c][t]` (CV units).
    pub series: Vec<Vec<f64>>,
    /// The bias V(ξ) at each sample (energy units), before any hill deposited at that
    /// step.
    pub bias: Vec<f64>,
    /// Free-energy snapshots every `snapshot_every` hills.
    pub snapshots: Vec<FreeEnergySnapshot>,
    /// The final free-energy estimate on the grid (energy units), aligned as in the
    /// module docs.
    pub free_energy: Vec<f64>,
    /// Bias evaluations (forces, records and deposits) that fell off the bias grid and
    /// used the exact sum over hills ([`Metadynamics::outside_grid_evaluations`]); 0
    /// with exact storage.
    #[serde(default)]
    pub outside_grid: u64,
}

/// The result of [`run_metadynamics`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetadynamicsRun {
    /// The reporting grid's nodes (components vary slowest first; CV units).
    pub grid: Vec<Vec<f64>>,
    /// Every walker's record.
    pub walkers: Vec<MetadynamicsWalker>,
    /// Mean of the walkers' aligned estimates, shifted so its minimum is zero (energy
    /// units).
    pub free_energy: Vec<f64>,
    /// Standard error of the mean across walkers at each node (energy units); `None`
    /// with a single walker.
    pub std_err: Option<Vec<f64>>,
    /// kT (energy units).
    pub kt: f64,
    /// The bias factor γ.
    pub bias_factor: f64,
}

/// Shifts `f` so that `−kT ln Σ_j exp(−f_j/kT) = 0`.
fn align(f: &mut [f64], kt: f64) {
    let min = f.iter().copied().fold(f64::INFINITY, f64::min);
    let sum: f64 = f.iter().map(|x| (-(x - min) / kt).exp()).sum();
    let offset = min - kt * sum.ln();
    f.iter_mut().for_each(|x| *x -= offset);
}

fn estimate(meta: &Metadynamics, periods: &[Option<f64>], kt: f64) -> Vec<f64> {
    let (_, mut f) = meta.free_energy(periods);
    align(&mut f, kt);
    f
}

/// Runs `config.replicas` independent well-tempered metadynamics walkers in parallel.
/// `system(r)` returns walker `r`'s starting state and potential (walls on the CV, e.g.
/// a [`Bias`] with a [`crate::FlatBottom`], belong there); the metadynamics bias on
/// `cv` is added to it. Each walker is reproducible from its seed.
pub fn run_metadynamics(
    config: &MetadynamicsRunConfig,
    cv: Arc<dyn CollectiveVariable>,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
) -> Result<MetadynamicsRun> {
    let invalid = |reason: String| Err(CvError::InvalidDefinition { reason });
    if config.pace == 0 || config.stride == 0 || config.replicas == 0 {
        return invalid(format!(
            "metadynamics needs pace ≥ 1, stride ≥ 1 and replicas ≥ 1 (got {}, {}, {})",
            config.pace, config.stride, config.replicas
        ));
    }
    let (kt, kt_meta) = (config.thermostat.kt, config.metadynamics.kt);
    if (kt - kt_meta).abs() > 1e-12 * kt.abs().max(kt_meta.abs()) {
        return invalid(format!(
            "metadynamics kT {kt_meta} differs from the thermostat's {kt}"
        ));
    }
    // Validates the hill parameters, the bias grid and the CV's dimension and periods
    // once, before any walker.
    let periods: Vec<Option<f64>> = (0..cv.dim()).map(|c| cv.period(c)).collect();
    if config.metadynamics.lower.len() != periods.len() {
        return invalid(format!(
            "metadynamics has {} components, the CV `{}` has {}",
            config.metadynamics.lower.len(),
            cv.name(),
            periods.len()
        ));
    }
    let meta = Metadynamics::with_periods(config.metadynamics.clone(), &periods)?;
    Bias::new(cv.clone(), Arc::new(meta))?;
    let total = (config.equilibration_steps + config.steps) * config.replicas as u64;
    let bar = if config.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("metadynamics {bar:30} {pos}/{len} steps [{eta}]")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let walkers = (0..config.replicas)
        .into_par_iter()
        .map(|r| run_walker(config, &cv, r, system, &periods, &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let meta = Metadynamics::with_periods(config.metadynamics.clone(), &periods)?;
    let (grid, _) = meta.free_energy(&periods);
    let n = walkers.len() as f64;
    let mut free_energy: Vec<f64> = (0..grid.len())
        .map(|j| walkers.iter().map(|w| w.free_energy[j]).sum::<f64>() / n)
        .collect();
    let std_err = (walkers.len() > 1).then(|| {
        (0..grid.len())
            .map(|j| {
                let mean = free_energy[j];
                let var = walkers
                    .iter()
                    .map(|w| (w.free_energy[j] - mean).powi(2))
                    .sum::<f64>()
                    / (n - 1.0);
                (var / n).sqrt()
            })
            .collect()
    });
    let min = free_energy.iter().copied().fold(f64::INFINITY, f64::min);
    free_energy.iter_mut().for_each(|x| *x -= min);
    Ok(MetadynamicsRun {
        grid,
        walkers,
        free_energy,
        std_err,
        kt,
        bias_factor: config.metadynamics.bias_factor,
    })
}

fn run_walker(
    config: &MetadynamicsRunConfig,
    cv: &Arc<dyn CollectiveVariable>,
    r: usize,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
    periods: &[Option<f64>],
    bar: &ProgressBar,
) -> Result<MetadynamicsWalker> {
    let md = |source| CvError::Walker { replica: r, source };
    let kt = config.thermostat.kt;
    let meta = Arc::new(Metadynamics::with_periods(
        config.metadynamics.clone(),
        periods,
    )?);
    let (state, mut potential) = system(r).map_err(md)?;
    potential.push(Box::new(Bias::new(cv.clone(), meta.clone())?));
    let forcefield = ForceField::new(potential, config.skin).map_err(md)?;
    let thermostat = ThermostatConfig {
        seed: config.thermostat.seed.wrapping_add(r as u64),
        ..config.thermostat
    };
    let integrator = Langevin::new(thermostat).map_err(md)?;
    let mut sim = Simulation::new(state, forcefield, Box::new(integrator))
        .and_then(|sim| sim.with_fault_checks(config.faults))
        .map_err(md)?;
    const TICK: u64 = 1000;
    for k in 0..config.equilibration_steps {
        sim.step().map_err(md)?;
        if (k + 1) % TICK == 0 {
            bar.inc(TICK);
        }
    }
    bar.inc(config.equilibration_steps % TICK);
    let dim = cv.dim();
    let mut walker = MetadynamicsWalker {
        hills: Vec::new(),
        times: Vec::new(),
        series: vec![Vec::new(); dim],
        bias: Vec::new(),
        snapshots: Vec::new(),
        free_energy: Vec::new(),
        outside_grid: 0,
    };
    let mut value = CvValue::default();
    let mut gradient = vec![0.0; dim];
    for step in 1..=config.steps {
        sim.step().map_err(md)?;
        let deposit = step % config.pace == 0;
        let record = step % config.stride == 0;
        if deposit || record {
            let state = sim.state();
            cv.evaluate(&state.positions, &state.simbox, &mut value)?;
            if record {
                walker.times.push(state.time);
                for (c, x) in value.values.iter().enumerate() {
                    walker.series[c].push(*x);
                }
                walker
                    .bias
                    .push(meta.energy(&value.values, periods, &mut gradient));
            }
            if deposit {
                let height = meta.deposit(&value.values, periods);
                walker.hills.push(HillRecord {
                    time: state.time,
                    center: value.values.clone(),
                    height,
                });
                let hills = walker.hills.len();
                if config.snapshot_every > 0 && hills as u64 % config.snapshot_every == 0 {
                    walker.snapshots.push(FreeEnergySnapshot {
                        time: state.time,
                        hills,
                        free_energy: estimate(&meta, periods, kt),
                    });
                }
            }
        }
        if step % TICK == 0 {
            bar.inc(TICK);
        }
    }
    bar.inc(config.steps % TICK);
    walker.free_energy = estimate(&meta, periods, kt);
    walker.outside_grid = meta.outside_grid_evaluations();
    Ok(walker)
}
