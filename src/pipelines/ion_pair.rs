//! Ion-pair free energy through learned collective variables, end to end: the
//! experiment of Pathirage et al. ("Neural network surrogates for free energy
//! computation of complex chemical systems", arXiv:2510.01396) at laptop scale.
//!
//! **System** (reduced Lennard-Jones units, σ = ε = m = k_B = 1): a cation (charge +q,
//! atom 0) and an anion (−q, atom 1) in a few hundred LJ solvent particles in a cubic
//! periodic box. All particles have LJ cores (σ = 1, energy-shifted at `lj_cutoff`);
//! the ions attract the solvent with a deeper well `ion_solvent_epsilon`, which gives
//! them tight solvation shells. The pair is neutral (±q), so no background charge is
//! needed. The ions interact through the damped shifted-force Coulomb potential
//! (Fennell & Gezelter 2006, [`crate::md::DampedShiftedForce`]) with `k_e = 1`,
//! evaluated only between the two charged atoms (the solvent is uncharged), so its
//! cutoff may reach half the box without enlarging the neighbor list of the LJ
//! solvent.
//!
//! **Stages** (each with a progress bar):
//! 1. melt the fcc start and equilibrate with Langevin dynamics (BAOAB);
//! 2. sample configurations with harmonic restraints on the ion–ion distance spread
//!    over the range of interest (one window per restraint, in parallel); the last
//!    `test_fraction` of each window's frames is held out as the test set;
//! 3. train two [`CvSurrogate`]s with [`CvTrainer`]: the ion–ion distance (Cartesian
//!    minimum-image displacement features) and the coordination number of the cation
//!    by the solvent with PLUMED's rational switching function (sorted-distance
//!    features, [`CvFeatures::SortedDistances`]); optionally also on randomised
//!    configurations ([`RandomConfigurationsConfig`]), as the paper compares;
//! 4. evaluate them on the held-out frames against the analytic CVs: value RMSE and
//!    the Jacobian error distribution ([`evaluate_surrogate`]);
//! 5. umbrella sampling along the distance twice ([`run_umbrella`]): with the analytic
//!    [`Distance`] and with the distance surrogate, whose autodiff Jacobian drives the
//!    bias forces;
//! 6. for both runs: umbrella-integration mean forces → Gaussian-process free-energy
//!    profile with uncertainty ([`crate::gpr`]), and an MBAR profile from the same
//!    windows ([`umbrella_pmf`]) as the reference. The GP's prior mean is the free
//!    energy of the bare pair, `u_ion–ion(r) − 2kT ln r`, known in closed form, so
//!    that the stationary kernel models only the solvent-induced part and not the
//!    steep repulsive wall, which a single length scale cannot follow;
//! 7. write CSV files of every curve, SVG plots and the surrogate model files, and
//!    return an [`IonPairReport`] whose [`IonPairReport::summary_table`] lists the
//!    contact minimum, barrier and solvent-separated minimum of each profile.
//!
//! The distance profiles are free energies of the distance itself, `−kT ln p(r)`, so
//! they include the `−2kT ln r` of the radial Jacobian (it comes from the sampling).
//! Free energies are in units of kT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::plot::{self, Curve, HistogramPanel, ParityPanel, Points};
use super::{config_error, write_atomic, PipelineError, Result};
use crate::cv::{
    grid_centers, run_umbrella, Bias, BiasEnergy, CollectiveVariable, Coordination, Distance,
    Harmonic, MeanForceMethod, MeanForceTable, RationalSwitch, UmbrellaConfig, UmbrellaRun,
    WindowSamples,
};
use crate::estimators::{
    decorrelated_indices, statistical_inefficiency, umbrella_pmf, MbarConfig, Pmf,
    StatisticalInefficiencyConfig, UmbrellaWindow,
};
use crate::geometry::{SimBox, Vec3};
use crate::gpr::{
    fit_hyperparameters, Axis, GaussianProcess, GpConfig, GradientNoise, Grid, HyperConfig,
    Observations, SquaredExponential,
};
use crate::md::{
    fcc_lattice, Configuration, DampedShiftedForce, DsfConfig, Evaluation, ForceField, Langevin,
    LennardJonesConfig, LjPairParams, LjParams, Mixing, PairPotential, Potential, PotentialSum,
    RunConfig, Simulation, State, ThermostatConfig, Truncation,
};
use crate::nn::{Activation, CvFeatures, CvSample, CvSurrogate, CvSurrogateConfig, ModelFile};
use crate::train::cv::{
    evaluate_surrogate, label_configurations, CvTrainer, CvTrainerConfig, CvTrainingReport,
    ErrorStatistics, PairPlacement, RandomConfigurationsConfig, SurrogateEvaluation,
};

/// Configurations: the positions of every atom, one entry per frame.
type Frames = Vec<Vec<Vec3>>;

/// Index of the cation.
pub const CATION: usize = 0;
/// Index of the anion.
pub const ANION: usize = 1;

/// The physical model and the dynamics (reduced LJ units).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IonPairSystem {
    /// Conventional fcc cells per box edge of the starting lattice: `4 cells³`
    /// particles in all (4 → 256: two ions and 254 solvent particles).
    pub fcc_cells: usize,
    /// Number density (σ⁻³).
    pub density: f64,
    /// Temperature as kT (ε).
    pub kt: f64,
    /// Ion charge q (cation +q, anion −q) in units where `k_e = 1`, so that the bare
    /// Coulomb energy of the pair is `−q²/r` (ε).
    pub ion_charge: f64,
    /// LJ well depth between an ion and a solvent particle (ε); all other pairs have ε
    /// = 1, and every σ is 1.
    pub ion_solvent_epsilon: f64,
    /// LJ cutoff (σ); energy-shifted.
    pub lj_cutoff: f64,
    /// Cutoff of the damped shifted-force Coulomb term (σ); at most half the box.
    pub coulomb_cutoff: f64,
    /// Damping α of the shifted-force Coulomb term (σ⁻¹; 0 is the undamped
    /// shifted-force form).
    pub coulomb_alpha: f64,
    /// Time step (τ = σ√(m/ε)).
    pub dt: f64,
    /// Langevin friction time 1/γ (τ).
    pub friction_time: f64,
    /// Neighbor-list skin (σ).
    pub skin: f64,
}

/// Restrained sampling of training configurations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingSettings {
    /// Number of restraint centers, evenly spread over the umbrella range extended by
    /// `margin` on both sides.
    pub windows: usize,
    /// Extension of the sampled distance range beyond the umbrella range (σ).
    pub margin: f64,
    /// Restraint force constant (ε/σ²).
    pub kappa: f64,
    /// Steps before collecting.
    pub equilibration_steps: u64,
    /// Steps of collection.
    pub production_steps: u64,
    /// Steps between collected frames.
    pub stride: u64,
    /// Fraction of each window's frames (its last ones) held out as the test set.
    pub test_fraction: f64,
}

/// The two surrogates and their training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurrogateSettings {
    /// Hidden widths of both networks (the paper: [64, 128, 64, 32]).
    pub hidden: Vec<usize>,
    /// Hidden activation. The paper used ReLU; a smooth one gives continuous bias
    /// forces in the surrogate umbrella run.
    pub activation: Activation,
    /// Rational switching function of the coordination number: `d0` (σ).
    pub switch_d0: f64,
    /// `r0` (σ).
    pub switch_r0: f64,
    /// Exponent n.
    pub switch_n: i32,
    /// Exponent m.
    pub switch_m: i32,
    /// Nearest solvent distances fed to the coordination network.
    pub coordination_nearest: usize,
    /// Trainer of the distance surrogate.
    pub distance_trainer: CvTrainerConfig,
    /// Trainer of the coordination surrogate.
    pub coordination_trainer: CvTrainerConfig,
    /// Randomised configurations to train a second pair of surrogates on (0: skip).
    pub random_configurations: usize,
    /// Minimum separation of randomised configurations (σ).
    pub random_min_distance: f64,
}

/// Umbrella sampling along the ion–ion distance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UmbrellaSettings {
    /// First window center (σ).
    pub r_min: f64,
    /// Last window center (σ).
    pub r_max: f64,
    /// Number of windows.
    pub windows: usize,
    /// Force constant (ε/σ²).
    pub kappa: f64,
    /// Steps per window before sampling.
    pub equilibration_steps: u64,
    /// Production steps per window.
    pub production_steps: u64,
    /// Steps between CV samples.
    pub stride: u64,
}

/// Profiles and their features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSettings {
    /// Points of the GP profile grid (spanning the window means).
    pub grid_points: usize,
    /// Width of the MBAR histogram bins (σ).
    pub mbar_bin_width: f64,
    /// Distance interval searched for the contact minimum (σ).
    pub contact_search: [f64; 2],
    /// Distance interval searched for the solvent-separated minimum (σ); the barrier is
    /// the maximum between the two minima.
    pub solvent_separated_search: [f64; 2],
}

/// Everything the pipeline needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IonPairConfig {
    /// The model.
    pub system: IonPairSystem,
    /// Equilibration steps from the lattice (the first quarter at 2.5 kT to melt it).
    pub equilibration_steps: u64,
    /// Sampling of training data.
    pub sampling: SamplingSettings,
    /// Surrogates.
    pub surrogates: SurrogateSettings,
    /// Umbrella sampling.
    pub umbrella: UmbrellaSettings,
    /// Analysis.
    pub analysis: AnalysisSettings,
    /// Master seed; every stochastic stage derives its own.
    pub seed: u64,
    /// Show progress bars and stage headers on stderr (the trainers' own `progress`
    /// settings apply only when this is on).
    pub progress: bool,
}

impl IonPairConfig {
    /// The default experiment: 256 particles, 24 umbrella windows, surrogates with the
    /// paper's widths, also trained on randomised data. A few minutes on two cores
    /// in release mode (2.3 min measured on a shared two-core machine).
    pub fn standard(seed: u64) -> Self {
        IonPairConfig {
            system: IonPairSystem {
                fcc_cells: 4,
                density: 0.8,
                kt: 1.0,
                ion_charge: 3.0,
                ion_solvent_epsilon: 2.0,
                lj_cutoff: 2.5,
                coulomb_cutoff: 3.3,
                coulomb_alpha: 0.0,
                dt: 0.005,
                friction_time: 0.5,
                skin: 0.3,
            },
            equilibration_steps: 4000,
            sampling: SamplingSettings {
                windows: 16,
                margin: 0.1,
                kappa: 50.0,
                equilibration_steps: 1000,
                production_steps: 8000,
                stride: 100,
                test_fraction: 0.2,
            },
            surrogates: SurrogateSettings {
                hidden: crate::nn::DEFAULT_HIDDEN.to_vec(),
                activation: Activation::Silu,
                switch_d0: 1.0,
                switch_r0: 0.5,
                switch_n: 6,
                switch_m: 12,
                coordination_nearest: 40,
                distance_trainer: CvTrainerConfig {
                    epochs: 150,
                    batch_size: 32,
                    learning_rate: 2e-3,
                    final_learning_rate: 5e-5,
                    jacobian_weight: 1.0,
                    validation_fraction: 0.1,
                    progress: true,
                    ..CvTrainerConfig::default()
                },
                coordination_trainer: CvTrainerConfig {
                    epochs: 150,
                    batch_size: 32,
                    learning_rate: 2e-3,
                    final_learning_rate: 5e-5,
                    jacobian_weight: 30.0,
                    validation_fraction: 0.1,
                    progress: true,
                    ..CvTrainerConfig::default()
                },
                random_configurations: 800,
                random_min_distance: 0.85,
            },
            umbrella: UmbrellaSettings {
                r_min: 0.9,
                r_max: 2.8,
                windows: 24,
                kappa: 80.0,
                equilibration_steps: 1000,
                production_steps: 24_000,
                stride: 10,
            },
            analysis: AnalysisSettings {
                grid_points: 121,
                mbar_bin_width: 0.05,
                contact_search: [0.9, 1.3],
                solvent_separated_search: [1.65, 2.4],
            },
            seed,
            progress: true,
        }
    }

    /// The same pipeline, small enough for the test suite (a few seconds of MD per
    /// stage, small networks, short training); its numbers are noisy.
    pub fn quick(seed: u64) -> Self {
        let standard = Self::standard(seed);
        IonPairConfig {
            system: IonPairSystem {
                fcc_cells: 3,
                density: 0.8,
                coulomb_cutoff: 2.5,
                ..standard.system
            },
            equilibration_steps: 600,
            sampling: SamplingSettings {
                windows: 8,
                equilibration_steps: 200,
                production_steps: 1200,
                stride: 40,
                ..standard.sampling
            },
            surrogates: SurrogateSettings {
                hidden: vec![24, 24],
                activation: Activation::Silu,
                coordination_nearest: 24,
                distance_trainer: CvTrainerConfig {
                    epochs: 100,
                    batch_size: 16,
                    learning_rate: 5e-3,
                    final_learning_rate: 2e-4,
                    progress: false,
                    ..standard.surrogates.distance_trainer
                },
                coordination_trainer: CvTrainerConfig {
                    epochs: 60,
                    batch_size: 16,
                    learning_rate: 5e-3,
                    final_learning_rate: 2e-4,
                    progress: false,
                    ..standard.surrogates.coordination_trainer
                },
                random_configurations: 96,
                ..standard.surrogates
            },
            umbrella: UmbrellaSettings {
                r_min: 0.9,
                r_max: 2.4,
                windows: 12,
                kappa: 60.0,
                equilibration_steps: 200,
                production_steps: 3000,
                stride: 10,
            },
            analysis: AnalysisSettings {
                grid_points: 60,
                mbar_bin_width: 0.05,
                contact_search: [0.9, 1.3],
                solvent_separated_search: [1.65, 2.3],
            },
            progress: false,
            ..standard
        }
    }

    /// Checks the settings against each other (before any work is done).
    pub fn validate(&self) -> Result<()> {
        let s = &self.system;
        let positive = [
            ("density", s.density),
            ("kt", s.kt),
            ("lj_cutoff", s.lj_cutoff),
            ("coulomb_cutoff", s.coulomb_cutoff),
            ("dt", s.dt),
            ("friction_time", s.friction_time),
            ("ion_solvent_epsilon", s.ion_solvent_epsilon),
            ("sampling kappa", self.sampling.kappa),
            ("umbrella kappa", self.umbrella.kappa),
            ("mbar_bin_width", self.analysis.mbar_bin_width),
        ];
        for (what, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(config_error(what, format!("must be positive, got {v}")));
            }
        }
        if s.fcc_cells < 2 {
            return Err(config_error("fcc_cells", "need at least 2 (32 particles)"));
        }
        let (_, simbox) = fcc_lattice(s.fcc_cells, s.density)?;
        let max = simbox.max_single_image_cutoff();
        if s.coulomb_cutoff > max {
            return Err(config_error(
                "coulomb_cutoff",
                format!(
                    "{} exceeds half the box width {max:.3}: the pair term uses the minimum image",
                    s.coulomb_cutoff
                ),
            ));
        }
        let u = &self.umbrella;
        if !(u.r_min > 0.0 && u.r_max > u.r_min && u.windows >= 3) {
            return Err(config_error(
                "umbrella",
                "need 0 < r_min < r_max and at least 3 windows",
            ));
        }
        if u.r_max + self.sampling.margin > max {
            return Err(config_error(
                "umbrella r_max",
                format!("the sampled distances must stay below half the box width {max:.3}"),
            ));
        }
        if self.sampling.windows < 2 || self.sampling.stride == 0 || u.stride == 0 {
            return Err(config_error(
                "sampling",
                "need at least 2 sampling windows and strides ≥ 1",
            ));
        }
        if !(0.0 < self.sampling.test_fraction && self.sampling.test_fraction < 1.0) {
            return Err(config_error("test_fraction", "must be in (0, 1)"));
        }
        let frames = self.sampling.production_steps / self.sampling.stride;
        if frames < 5 {
            return Err(config_error(
                "sampling",
                "need at least 5 frames per window (production_steps / stride)",
            ));
        }
        let n_solvent = 4 * s.fcc_cells.pow(3) - 2;
        let k = self.surrogates.coordination_nearest;
        if k == 0 || k > n_solvent {
            return Err(config_error(
                "coordination_nearest",
                format!("must be between 1 and the {n_solvent} solvent particles"),
            ));
        }
        let a = &self.analysis;
        if a.grid_points < 10 || a.contact_search[1] >= a.solvent_separated_search[0] {
            return Err(config_error(
                "analysis",
                "need ≥ 10 grid points and a contact search interval below the solvent-separated one",
            ));
        }
        self.switch()?;
        self.surrogates.distance_trainer.build()?;
        self.surrogates.coordination_trainer.build()?;
        Ok(())
    }

    fn switch(&self) -> Result<RationalSwitch> {
        let s = &self.surrogates;
        Ok(RationalSwitch::new(
            s.switch_d0,
            s.switch_r0,
            s.switch_n,
            s.switch_m,
        )?)
    }

    /// Runs the pipeline; with `out` the outputs are written there (created if
    /// missing).
    pub fn run(&self, out: Option<&Path>) -> Result<IonPairReport> {
        self.validate()?;
        if let Some(dir) = out {
            std::fs::create_dir_all(dir).map_err(|source| PipelineError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Runner::new(self)?.run(out)
    }
}

/// The ion pair's unbiased potential: LJ for all pairs plus shifted-force Coulomb
/// between the ions.
#[derive(Clone, Debug)]
struct Model {
    system: IonPairSystem,
}

impl Model {
    fn potential(&self) -> crate::md::Result<PotentialSum> {
        let (lj, dsf) = self.pair_terms()?;
        let coulomb = ChargedPair {
            dsf,
            cutoff: self.system.coulomb_cutoff,
        };
        Ok(PotentialSum::new().with(lj).with(coulomb))
    }

    fn direct_pair(&self) -> crate::md::Result<DirectPair> {
        let (lj, dsf) = self.pair_terms()?;
        Ok(DirectPair {
            lj,
            dsf,
            lj_cutoff: self.system.lj_cutoff,
            coulomb_cutoff: self.system.coulomb_cutoff,
            kt: self.system.kt,
        })
    }

    fn pair_terms(&self) -> crate::md::Result<(crate::md::LennardJones, DampedShiftedForce)> {
        let s = &self.system;
        let unit = LjParams {
            sigma: 1.0,
            epsilon: 1.0,
        };
        let ion_solvent = LjParams {
            sigma: 1.0,
            epsilon: s.ion_solvent_epsilon,
        };
        let lj = LennardJonesConfig {
            species: vec![unit; 3],
            pairs: vec![
                LjPairParams {
                    a: 0,
                    b: 1,
                    params: ion_solvent,
                },
                LjPairParams {
                    a: 0,
                    b: 2,
                    params: ion_solvent,
                },
            ],
            mixing: Mixing::LorentzBerthelot,
            cutoff: s.lj_cutoff,
            truncation: Truncation::EnergyShifted,
            tail: false,
        }
        .build()?;
        let dsf = DsfConfig {
            charges: vec![0.0, s.ion_charge, -s.ion_charge],
            coulomb_constant: 1.0,
            cutoff: s.coulomb_cutoff,
            alpha: s.coulomb_alpha,
        }
        .build()?;
        Ok((lj, dsf))
    }

    fn thermostat(&self, seed: u64) -> ThermostatConfig {
        ThermostatConfig {
            dt: self.system.dt,
            kt: self.system.kt,
            tau: self.system.friction_time,
            seed,
        }
    }

    /// The fcc start: the cation on site 0, the anion on its nearest site.
    fn initial_state(&self, seed: u64) -> Result<State> {
        let s = &self.system;
        let (mut positions, simbox) = fcc_lattice(s.fcc_cells, s.density)?;
        let n = positions.len();
        let nearest = (1..n)
            .min_by(|&a, &b| {
                simbox
                    .distance(&positions[0], &positions[a])
                    .total_cmp(&simbox.distance(&positions[0], &positions[b]))
            })
            .expect("at least two sites");
        positions.swap(ANION, nearest);
        let mut species = vec![0u32; n];
        species[CATION] = 1;
        species[ANION] = 2;
        let mut state = State::new(positions, vec![1.0; n], species, simbox)?;
        state.thermalize(s.kt, seed)?;
        Ok(state)
    }
}

/// The direct ion–ion interaction (LJ plus shifted-force Coulomb) and the radial
/// Jacobian: `A_ref(r) = u(r) − 2kT ln r`, the free energy of the pair without solvent.
#[derive(Debug)]
struct DirectPair {
    lj: crate::md::LennardJones,
    dsf: DampedShiftedForce,
    lj_cutoff: f64,
    coulomb_cutoff: f64,
    kt: f64,
}

impl DirectPair {
    /// `(A_ref(r), A_ref'(r))` (kT units scale: energy, energy/σ).
    fn free_energy(&self, r: f64) -> (f64, f64) {
        let (s_c, s_a) = (1, 2);
        let r2 = r * r;
        let (mut u, mut du) = (-2.0 * self.kt * r.ln(), -2.0 * self.kt / r);
        if r < self.lj_cutoff {
            let (e, f) = self.lj.energy_and_force(s_c, s_a, r2);
            u += e;
            du -= f * r;
        }
        if r < self.coulomb_cutoff {
            let (e, f) = self.dsf.energy_and_force(s_c, s_a, r2);
            u += e;
            du -= f * r;
        }
        (u, du)
    }
}

/// Coulomb between the charged atoms only (here the two ions), with the damped
/// shifted-force pair term of [`DampedShiftedForce`] and minimum-image distances. It
/// needs no neighbor list, so a long Coulomb cutoff does not enlarge the LJ list. The
/// constant DSF self-energy is left out (it has no force).
#[derive(Debug)]
struct ChargedPair {
    dsf: DampedShiftedForce,
    cutoff: f64,
}

impl Potential for ChargedPair {
    fn cutoff(&self) -> Option<f64> {
        None
    }

    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> crate::md::Result<()> {
        let d = c
            .simbox
            .displacement(&c.positions[CATION], &c.positions[ANION]);
        let r2 = d.norm_squared();
        if r2 < self.cutoff * self.cutoff {
            let (e, f) = self
                .dsf
                .energy_and_force(c.species[CATION], c.species[ANION], r2);
            out.energy += e;
            // f = −u'(r)/r; the anion (at +d from the cation) feels f d.
            out.forces[ANION] += d * f;
            out.forces[CATION] -= d * f;
            out.virial += d * d.transpose() * f;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "ion-pair coulomb"
    }
}

/// The state with the anion moved to the solvent site whose distance from the cation is
/// closest to `target` (the two particles swap places, which keeps the liquid intact).
fn place_anion(base: &State, target: f64) -> State {
    let mut s = base.clone();
    let d = |a: usize| (s.simbox.distance(&s.positions[CATION], &s.positions[a]) - target).abs();
    let best = (2..s.positions.len())
        .min_by(|&a, &b| d(a).total_cmp(&d(b)))
        .unwrap_or(ANION);
    if d(best) < d(ANION) {
        s.positions.swap(ANION, best);
        s.velocities.swap(ANION, best);
    }
    s
}

fn bar(len: u64, template: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar
}

/// One value of a profile feature.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileFeature {
    /// Position (σ).
    pub position: f64,
    /// Free energy relative to the contact minimum (kT).
    pub free_energy: f64,
    /// Its standard error (kT): the point-wise errors of this point and of the contact
    /// minimum (each relative to the profile's reference point) combined in
    /// quadrature, which ignores their correlation; for the contact minimum itself,
    /// its point-wise error.
    pub std: f64,
}

/// Contact minimum, barrier and solvent-separated minimum of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileFeatures {
    /// The contact-pair minimum (free energy 0 by definition).
    pub contact: ProfileFeature,
    /// The highest point between the two minima.
    pub barrier: ProfileFeature,
    /// The solvent-separated minimum.
    pub solvent_separated: ProfileFeature,
    /// Whether the solvent-separated minimum lies inside its search interval (a true
    /// local minimum) rather than on its edge.
    pub solvent_separated_is_local: bool,
}

/// A free-energy profile on points, with standard errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Method, e.g. "GP (analytic CV)".
    pub method: String,
    /// Distances (σ).
    pub x: Vec<f64>,
    /// Free energy (kT), minimum 0; `inf` where MBAR had no samples.
    pub free_energy: Vec<f64>,
    /// Standard error relative to the minimum (kT).
    pub std: Vec<f64>,
    /// Contact minimum, barrier and solvent-separated minimum.
    pub features: Option<ProfileFeatures>,
}

/// Agreement of two profiles on common points after removing the best constant offset
/// (weighted by the combined variance).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Points compared.
    pub n_points: usize,
    /// The offset removed (kT).
    pub offset: f64,
    /// Root mean square difference after the offset (kT).
    pub rms_difference: f64,
    /// Fraction of points whose difference is within one combined standard error.
    pub within_1_sigma: f64,
    /// Fraction within two combined standard errors.
    pub within_2_sigma: f64,
}

/// Accuracy of one surrogate on the held-out simulation frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurrogateSummary {
    /// "distance" or "coordination".
    pub cv: String,
    /// "simulation" or "randomised".
    pub data: String,
    /// Training (plus validation) configurations.
    pub n_train: usize,
    /// Held-out test configurations.
    pub n_test: usize,
    /// Value RMSE on the test set (CV units).
    pub value_rmse: f64,
    /// Range of the test values (CV units).
    pub value_range: f64,
    /// `value_rmse / value_range`.
    pub relative_rmse: f64,
    /// Jacobian-component errors over all atoms of the surrogate.
    pub jacobian: ErrorStatistics,
    /// The same over the components whose reference magnitude exceeds 1e-3 (CV
    /// units/σ): the atoms that matter, without the crowd of far solvent particles.
    pub jacobian_active: Option<ErrorStatistics>,
    /// RMS of the reference Jacobian components (a scale for the errors).
    pub jacobian_reference_rms: f64,
}

/// Wall-clock time of one stage (reported, never asserted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage.
    pub stage: String,
    /// Seconds.
    pub seconds: f64,
}

/// Everything the pipeline measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IonPairReport {
    /// Particles in the box.
    pub n_particles: usize,
    /// Box edge (σ).
    pub box_length: f64,
    /// Surrogate accuracies.
    pub surrogates: Vec<SurrogateSummary>,
    /// Profiles: GP (analytic), GP (surrogate), MBAR (analytic), MBAR (surrogate).
    pub profiles: Vec<Profile>,
    /// GP against MBAR, analytic run.
    pub gp_vs_mbar_analytic: Agreement,
    /// GP against MBAR, surrogate run.
    pub gp_vs_mbar_surrogate: Agreement,
    /// GP of the surrogate run against GP of the analytic run.
    pub surrogate_vs_analytic: Agreement,
    /// Stage timings.
    pub timings: Vec<StageTime>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl IonPairReport {
    /// The profile of a method, by name.
    pub fn profile(&self, method: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.method == method)
    }

    /// The summary of a surrogate.
    pub fn surrogate(&self, cv: &str, data: &str) -> Option<&SurrogateSummary> {
        self.surrogates
            .iter()
            .find(|s| s.cv == cv && s.data == data)
    }

    /// A plain-text table: surrogate accuracy, then profile features per method, then
    /// the agreement between methods.
    pub fn summary_table(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "ion pair in LJ solvent: {} particles, box {:.3} σ (reduced LJ units, energies in kT)\n",
            self.n_particles, self.box_length
        );
        let _ = writeln!(t, "surrogates on held-out simulation frames");
        let _ = writeln!(
            t,
            "{:<13}{:<11}{:>6}{:>6}{:>11}{:>9}{:>11}{:>11}{:>8}{:>8}{:>10}",
            "CV",
            "data",
            "train",
            "test",
            "RMSE",
            "/range",
            "J mean",
            "J sd",
            "skew",
            "kurt",
            "K² p"
        );
        for s in &self.surrogates {
            let j = s.jacobian_active.unwrap_or(s.jacobian);
            let p = j
                .normality
                .map_or("n/a".to_string(), |n| format!("{:.1e}", n.p_value));
            let _ = writeln!(
                t,
                "{:<13}{:<11}{:>6}{:>6}{:>11.4}{:>8.1}%{:>11.2e}{:>11.2e}{:>8.2}{:>8.2}{:>10}",
                s.cv,
                s.data,
                s.n_train,
                s.n_test,
                s.value_rmse,
                100.0 * s.relative_rmse,
                j.mean,
                j.std,
                j.skewness,
                j.excess_kurtosis,
                p
            );
        }
        let _ = writeln!(
            t,
            "(Jacobian errors over components with |reference| > 1e-3; excess kurtosis)\n"
        );
        let _ = writeln!(t, "free-energy profiles along the ion–ion distance");
        let _ = writeln!(
            t,
            "{:<24}{:>9}{:>9}{:>16}{:>9}{:>16}",
            "method", "contact", "barrier", "ΔA barrier", "SSIP", "ΔA SSIP"
        );
        for p in &self.profiles {
            match p.features {
                Some(f) => {
                    let _ = writeln!(
                        t,
                        "{:<24}{:>9.3}{:>9.3}{:>9.2} ± {:<4.2}{:>9.3}{:>9.2} ± {:<4.2}{}",
                        p.method,
                        f.contact.position,
                        f.barrier.position,
                        f.barrier.free_energy,
                        f.barrier.std,
                        f.solvent_separated.position,
                        f.solvent_separated.free_energy,
                        f.solvent_separated.std,
                        if f.solvent_separated_is_local {
                            ""
                        } else {
                            "  (SSIP on the search edge)"
                        }
                    );
                }
                None => {
                    let _ = writeln!(t, "{:<24}  features not found", p.method);
                }
            }
        }
        let _ = writeln!(t, "\nagreement (after removing a constant offset)");
        for (name, a) in [
            ("GP vs MBAR, analytic CV", self.gp_vs_mbar_analytic),
            ("GP vs MBAR, surrogate CV", self.gp_vs_mbar_surrogate),
            ("GP surrogate vs GP analytic", self.surrogate_vs_analytic),
        ] {
            let _ = writeln!(
                t,
                "{name:<30} rms {:.3} kT over {} points; within 1σ {:.0}%, within 2σ {:.0}%",
                a.rms_difference,
                a.n_points,
                100.0 * a.within_1_sigma,
                100.0 * a.within_2_sigma
            );
        }
        let total: f64 = self.timings.iter().map(|s| s.seconds).sum();
        let _ = writeln!(t, "\nwall time {total:.1} s");
        t
    }
}

struct Runner<'a> {
    config: &'a IonPairConfig,
    model: Model,
    timings: Vec<StageTime>,
    clock: Instant,
    stage: usize,
}

/// Stages announced in the headers.
const STAGES: usize = 7;

impl<'a> Runner<'a> {
    fn new(config: &'a IonPairConfig) -> Result<Self> {
        Ok(Runner {
            config,
            model: Model {
                system: config.system.clone(),
            },
            timings: Vec::new(),
            clock: Instant::now(),
            stage: 0,
        })
    }

    fn start(&mut self, name: &str) {
        self.stage += 1;
        self.clock = Instant::now();
        if self.config.progress {
            eprintln!("[{}/{STAGES}] {name}", self.stage);
        }
    }

    fn finish(&mut self, name: &str) {
        self.timings.push(StageTime {
            stage: name.to_string(),
            seconds: self.clock.elapsed().as_secs_f64(),
        });
    }

    fn seed(&self, stage: u64) -> u64 {
        self.config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(stage * 7919)
    }

    fn run(mut self, out: Option<&Path>) -> Result<IonPairReport> {
        let c = self.config;
        let mut files = Vec::new();

        self.start("equilibration");
        let state = self.equilibrate()?;
        self.finish("equilibration");
        let n = state.positions.len();
        let simbox = state.simbox.clone();

        self.start("restrained sampling of training configurations");
        let (train_frames, test_frames) = self.sample(&state)?;
        self.finish("sampling");

        self.start("training the surrogates");
        let distance_cv = Distance::new(CATION, ANION)?;
        let solvent: Vec<usize> = (2..n).collect();
        let coordination_cv = Coordination::between(&[CATION], &solvent, self.config.switch()?)?;
        let mut coordination_atoms = vec![CATION];
        coordination_atoms.extend(&solvent);
        let label = |cv: &dyn CollectiveVariable, atoms: &[usize], frames: &[Vec<Vec3>]| {
            label_configurations(cv, atoms, frames, &simbox)
        };
        let d_train = label(&distance_cv, &[CATION, ANION], &train_frames)?;
        let d_test = label(&distance_cv, &[CATION, ANION], &test_frames)?;
        let c_train = label(&coordination_cv, &coordination_atoms, &train_frames)?;
        let c_test = label(&coordination_cv, &coordination_atoms, &test_frames)?;
        let s = &c.surrogates;
        let distance_config = CvSurrogateConfig {
            hidden: s.hidden.clone(),
            activation: s.activation,
            ..CvSurrogateConfig::new("distance surrogate", vec![CATION, ANION], 1)
        };
        let coordination_config = CvSurrogateConfig {
            hidden: s.hidden.clone(),
            activation: s.activation,
            features: CvFeatures::SortedDistances {
                nearest: s.coordination_nearest,
            },
            ..CvSurrogateConfig::new("coordination surrogate", coordination_atoms.clone(), 1)
        };
        let distance_trainer = CvTrainerConfig {
            seed: self.seed(3),
            progress: c.progress && s.distance_trainer.progress,
            ..s.distance_trainer.clone()
        }
        .build()?;
        let coordination_trainer = CvTrainerConfig {
            seed: self.seed(4),
            progress: c.progress && s.coordination_trainer.progress,
            ..s.coordination_trainer.clone()
        }
        .build()?;
        let (distance, d_report) =
            train(&distance_config, self.seed(5), &distance_trainer, &d_train)?;
        let (coordination, c_report) = train(
            &coordination_config,
            self.seed(6),
            &coordination_trainer,
            &c_train,
        )?;
        let mut summaries = vec![
            summarize("distance", "simulation", &distance, d_train.len(), &d_test)?,
            summarize(
                "coordination",
                "simulation",
                &coordination,
                c_train.len(),
                &c_test,
            )?,
        ];
        let d_eval = evaluate_surrogate(&distance, &d_test)?;
        let c_eval = evaluate_surrogate(&coordination, &c_test)?;
        let mut random_models = Vec::new();
        if s.random_configurations > 0 {
            let lo = c.umbrella.r_min - c.sampling.margin;
            let hi = c.umbrella.r_max + c.sampling.margin;
            let frames = RandomConfigurationsConfig {
                pair: Some(PairPlacement {
                    i: CATION,
                    j: ANION,
                    min: lo,
                    max: hi,
                }),
                ..RandomConfigurationsConfig::new(n, s.random_min_distance, self.seed(7))
            }
            .generate(&simbox, s.random_configurations)?;
            let rd = label(&distance_cv, &[CATION, ANION], &frames)?;
            let rc = label(&coordination_cv, &coordination_atoms, &frames)?;
            let (rd_model, _) = train(&distance_config, self.seed(8), &distance_trainer, &rd)?;
            let (rc_model, _) = train(
                &coordination_config,
                self.seed(9),
                &coordination_trainer,
                &rc,
            )?;
            summaries.push(summarize(
                "distance",
                "randomised",
                &rd_model,
                rd.len(),
                &d_test,
            )?);
            summaries.push(summarize(
                "coordination",
                "randomised",
                &rc_model,
                rc.len(),
                &c_test,
            )?);
            random_models.push((rd_model, rc_model));
        }
        self.finish("training");

        self.start("umbrella sampling with the analytic distance");
        let analytic_run = self.umbrella(&state, Arc::new(distance_cv))?;
        self.finish("umbrella (analytic)");

        self.start("umbrella sampling with the distance surrogate");
        let surrogate_run = self.umbrella(&state, Arc::new(distance.clone()))?;
        self.finish("umbrella (surrogate)");

        self.start("free-energy profiles: GP from mean forces, MBAR");
        let a_forces = analytic_run.mean_forces()?;
        let s_forces = surrogate_run.mean_forces()?;
        let lo = a_forces
            .points
            .iter()
            .chain(&s_forces.points)
            .map(|p| p[0])
            .fold(f64::INFINITY, f64::min);
        let hi = a_forces
            .points
            .iter()
            .chain(&s_forces.points)
            .map(|p| p[0])
            .fold(f64::NEG_INFINITY, f64::max);
        let grid = Grid::new(vec![Axis {
            lo,
            hi,
            n: c.analysis.grid_points,
        }])?;
        let a = &c.analysis;
        let direct = self.model.direct_pair()?;
        let reference = |r: f64| direct.free_energy(r);
        let a_residual = residual_mean_forces(&analytic_run.windows, &a_forces, &reference)?;
        let s_residual = residual_mean_forces(&surrogate_run.windows, &s_forces, &reference)?;
        let mut gp_a = gp_profile(
            "GP (analytic CV)",
            &a_residual,
            &grid,
            self.seed(10),
            &reference,
        )?;
        let mut gp_s = gp_profile(
            "GP (surrogate CV)",
            &s_residual,
            &grid,
            self.seed(11),
            &reference,
        )?;
        let mut mbar_a = mbar_profile("MBAR (analytic CV)", &analytic_run, lo, hi, a)?;
        let mut mbar_s = mbar_profile("MBAR (surrogate CV)", &surrogate_run, lo, hi, a)?;
        for p in [&mut gp_a, &mut gp_s, &mut mbar_a, &mut mbar_s] {
            p.features = features(p, a);
        }
        let gp_vs_mbar_analytic = agreement(&gp_a, &mbar_a);
        let gp_vs_mbar_surrogate = agreement(&gp_s, &mbar_s);
        let surrogate_vs_analytic = agreement(&gp_a, &gp_s);
        self.finish("profiles");

        let profiles = vec![gp_a, gp_s, mbar_a, mbar_s];
        if let Some(dir) = out {
            self.start("writing outputs");
            let mut write = |name: &str, text: String| -> Result<()> {
                let path = dir.join(name);
                write_atomic(&path, &text)?;
                files.push(path);
                Ok(())
            };
            write("profiles_gp.csv", gp_csv(&profiles[0], &profiles[1]))?;
            write("profile_mbar_analytic.csv", mbar_csv(&profiles[2]))?;
            write("profile_mbar_surrogate.csv", mbar_csv(&profiles[3]))?;
            write("mean_forces_analytic.csv", a_forces.to_csv())?;
            write("mean_forces_surrogate.csv", s_forces.to_csv())?;
            write("parity_distance.csv", parity_csv(&d_eval))?;
            write("parity_coordination.csv", parity_csv(&c_eval))?;
            let d_hist = histogram(&d_eval.jacobian_errors, 60)?;
            let c_active = active_errors(&c_eval);
            let c_hist = histogram(&c_active, 60)?;
            write("jacobian_errors_distance.csv", hist_csv(&d_hist))?;
            write("jacobian_errors_coordination.csv", hist_csv(&c_hist))?;
            write("training_distance.csv", d_report.history.to_csv())?;
            write("training_coordination.csv", c_report.history.to_csv())?;
            write("surrogates.csv", surrogates_csv(&summaries))?;
            write("features.csv", features_csv(&profiles))?;
            let model = |name: &str, m: &CvSurrogate, files: &mut Vec<PathBuf>| -> Result<()> {
                let path = dir.join(name);
                m.save(&path)?;
                files.push(path);
                Ok(())
            };
            model("distance_surrogate.tgnn", &distance, &mut files)?;
            model("coordination_surrogate.tgnn", &coordination, &mut files)?;
            for (rd, rc) in &random_models {
                model("distance_surrogate_randomised.tgnn", rd, &mut files)?;
                model("coordination_surrogate_randomised.tgnn", rc, &mut files)?;
            }
            // Plots.
            let path = dir.join("free_energy.svg");
            let mbar_points = |p: &Profile, offset: f64| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
                let keep: Vec<usize> = (0..p.x.len())
                    .filter(|&i| p.free_energy[i].is_finite())
                    .collect();
                (
                    keep.iter().map(|&i| p.x[i]).collect(),
                    keep.iter().map(|&i| p.free_energy[i] - offset).collect(),
                    keep.iter().map(|&i| p.std[i]).collect(),
                )
            };
            let (mx, my, me) = mbar_points(&profiles[2], gp_vs_mbar_analytic.offset);
            let (sx, sy, se) = mbar_points(&profiles[3], gp_vs_mbar_surrogate.offset);
            let band_a: Vec<f64> = profiles[0].std.iter().map(|s| 2.0 * s).collect();
            let band_s: Vec<f64> = profiles[1].std.iter().map(|s| 2.0 * s).collect();
            plot::profiles(
                &path,
                "Ion-pair free energy along the distance (bands: ±2σ)",
                "ion–ion distance r / σ",
                "A(r) / kT",
                &[
                    Curve {
                        label: "GP, analytic CV",
                        color: plot::BLUE_,
                        x: &profiles[0].x,
                        y: &profiles[0].free_energy,
                        band: Some(&band_a),
                    },
                    Curve {
                        label: "GP, NN surrogate CV",
                        color: plot::ORANGE_,
                        x: &profiles[1].x,
                        y: &profiles[1].free_energy,
                        band: Some(&band_s),
                    },
                ],
                &[
                    Points {
                        label: "MBAR, analytic CV",
                        color: plot::GREEN_,
                        x: &mx,
                        y: &my,
                        err: &me,
                    },
                    Points {
                        label: "MBAR, surrogate CV",
                        color: plot::RED_,
                        x: &sx,
                        y: &sy,
                        err: &se,
                    },
                ],
            )?;
            files.push(path);
            let path = dir.join("parity.svg");
            plot::parity(
                &path,
                "NN surrogates on held-out frames",
                &[
                    ParityPanel {
                        title: "ion–ion distance / σ",
                        pairs: &d_eval.parity,
                    },
                    ParityPanel {
                        title: "coordination of the cation by solvent",
                        pairs: &c_eval.parity,
                    },
                ],
            )?;
            files.push(path);
            let path = dir.join("jacobian_errors.svg");
            plot::histograms(
                &path,
                "Jacobian errors of the surrogates (held-out frames)",
                &[
                    HistogramPanel {
                        title: "distance (dimensionless)",
                        edges: &d_hist.edges,
                        density: &d_hist.density,
                        mean: d_hist.mean,
                        std: d_hist.std,
                    },
                    HistogramPanel {
                        title: "coordination, |ref| > 1e-3 (1/σ)",
                        edges: &c_hist.edges,
                        density: &c_hist.density,
                        mean: c_hist.mean,
                        std: c_hist.std,
                    },
                ],
            )?;
            files.push(path);
            self.finish("outputs");
            let report = self.report(
                n,
                &simbox,
                summaries,
                profiles,
                [
                    gp_vs_mbar_analytic,
                    gp_vs_mbar_surrogate,
                    surrogate_vs_analytic,
                ],
                files,
            );
            let path = dir.join("report.json");
            let json = serde_json::to_string_pretty(&report).map_err(|e| PipelineError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
            write_atomic(&path, &json)?;
            write_atomic(&dir.join("summary.txt"), &report.summary_table())?;
            let mut report = report;
            report.files.push(path);
            report.files.push(dir.join("summary.txt"));
            return Ok(report);
        }
        Ok(self.report(
            n,
            &simbox,
            summaries,
            profiles,
            [
                gp_vs_mbar_analytic,
                gp_vs_mbar_surrogate,
                surrogate_vs_analytic,
            ],
            files,
        ))
    }

    fn report(
        &self,
        n: usize,
        simbox: &SimBox,
        surrogates: Vec<SurrogateSummary>,
        profiles: Vec<Profile>,
        agreements: [Agreement; 3],
        files: Vec<PathBuf>,
    ) -> IonPairReport {
        IonPairReport {
            n_particles: n,
            box_length: simbox.lengths().map_or(f64::NAN, |l| l.x),
            surrogates,
            profiles,
            gp_vs_mbar_analytic: agreements[0],
            gp_vs_mbar_surrogate: agreements[1],
            surrogate_vs_analytic: agreements[2],
            timings: self.timings.clone(),
            files,
        }
    }

    /// Melts the lattice at 2.5 kT, then equilibrates at kT.
    fn equilibrate(&self) -> Result<State> {
        let c = self.config;
        let state = self.model.initial_state(self.seed(0))?;
        let forcefield = ForceField::new(self.model.potential()?, c.system.skin)?;
        let melt_steps = c.equilibration_steps / 4;
        let hot = ThermostatConfig {
            kt: 2.5 * c.system.kt,
            ..self.model.thermostat(self.seed(1))
        };
        let mut sim = Simulation::new(state, forcefield, Box::new(Langevin::new(hot)?))?;
        let bar = bar(
            c.equilibration_steps,
            "equilibration {bar:30} {pos}/{len} steps [{elapsed} < {eta}]",
            c.progress,
        );
        let chunk = 100;
        let mut done = 0;
        while done < melt_steps {
            let k = chunk.min(melt_steps - done);
            sim.run(k)?;
            done += k;
            bar.set_position(done);
        }
        let state = sim.state().clone();
        let forcefield = ForceField::new(self.model.potential()?, c.system.skin)?;
        let mut sim = Simulation::new(
            state,
            forcefield,
            Box::new(Langevin::new(self.model.thermostat(self.seed(2)))?),
        )?;
        while done < c.equilibration_steps {
            let k = chunk.min(c.equilibration_steps - done);
            sim.run(k)?;
            done += k;
            bar.set_position(done);
        }
        bar.finish_and_clear();
        Ok(sim.state().clone())
    }

    /// Restrained runs at evenly spread distances; returns (training, test) frames.
    fn sample(&self, state: &State) -> Result<(Frames, Frames)> {
        let c = self.config;
        let s = &c.sampling;
        let centers = grid_centers(
            &[c.umbrella.r_min - s.margin],
            &[c.umbrella.r_max + s.margin],
            &[s.windows],
        )?;
        let bar = bar(
            s.windows as u64,
            "sampling windows {bar:30} {pos}/{len} [{elapsed} < {eta}]",
            c.progress,
        );
        let base_seed = self.seed(12);
        let per_window = centers
            .par_iter()
            .enumerate()
            .map(|(k, center)| -> Result<Vec<Vec<Vec3>>> {
                let start = place_anion(state, center[0]);
                let cv: Arc<dyn CollectiveVariable> = Arc::new(Distance::new(CATION, ANION)?);
                let energy: Arc<dyn BiasEnergy> =
                    Arc::new(Harmonic::new(center.clone(), vec![s.kappa])?);
                let mut potential = self.model.potential()?;
                potential.push(Box::new(Bias::new(cv, energy)?));
                let forcefield = ForceField::new(potential, c.system.skin)?;
                let integrator =
                    Langevin::new(self.model.thermostat(base_seed.wrapping_add(k as u64)))?;
                let mut sim = Simulation::new(start, forcefield, Box::new(integrator))?;
                let mut frames = Vec::new();
                sim.run_protocol(
                    &RunConfig {
                        equilibration_steps: s.equilibration_steps,
                        production_steps: s.production_steps,
                        stride: s.stride,
                        progress: false,
                    },
                    &mut |sim: &Simulation| {
                        frames.push(sim.state().positions.clone());
                        Ok(())
                    },
                )?;
                bar.inc(1);
                Ok(frames)
            })
            .collect::<Result<Vec<_>>>()?;
        bar.finish_and_clear();
        let mut train = Vec::new();
        let mut test = Vec::new();
        for frames in per_window {
            let n_test = ((s.test_fraction * frames.len() as f64).round() as usize)
                .clamp(1, frames.len() - 1);
            let split = frames.len() - n_test;
            let mut frames = frames;
            test.extend(frames.drain(split..));
            train.extend(frames);
        }
        Ok((train, test))
    }

    fn umbrella(&self, state: &State, cv: Arc<dyn CollectiveVariable>) -> Result<UmbrellaRun> {
        let c = self.config;
        let u = &c.umbrella;
        let config = UmbrellaConfig {
            centers: grid_centers(&[u.r_min], &[u.r_max], &[u.windows])?,
            kappa: vec![u.kappa],
            thermostat: self.model.thermostat(self.seed(13)),
            run: RunConfig {
                equilibration_steps: u.equilibration_steps,
                production_steps: u.production_steps,
                stride: u.stride,
                progress: false,
            },
            skin: c.system.skin,
            progress: c.progress,
            mean_force: MeanForceMethod::UmbrellaIntegration,
            faults: Default::default(),
        };
        let centers = config.centers.clone();
        let model = self.model.clone();
        let system = move |k: usize| -> crate::md::Result<(State, PotentialSum)> {
            Ok((place_anion(state, centers[k][0]), model.potential()?))
        };
        Ok(run_umbrella(&config, cv, &system)?)
    }
}

fn train(
    config: &CvSurrogateConfig,
    seed: u64,
    trainer: &CvTrainer,
    samples: &[CvSample],
) -> Result<(CvSurrogate, CvTrainingReport)> {
    let mut model = config.build(seed)?;
    let report = trainer.train(&mut model, samples)?;
    Ok((model, report))
}

fn active_errors(e: &SurrogateEvaluation) -> Vec<f64> {
    e.jacobian_errors
        .iter()
        .zip(&e.jacobian_reference)
        .filter(|(_, r)| r.abs() > 1e-3)
        .map(|(e, _)| *e)
        .collect()
}

fn summarize(
    cv: &str,
    data: &str,
    model: &CvSurrogate,
    n_train: usize,
    test: &[CvSample],
) -> Result<SurrogateSummary> {
    let e = evaluate_surrogate(model, test)?;
    let jacobian = e.jacobian_stats.ok_or_else(|| PipelineError::Analysis {
        what: "surrogate evaluation",
        reason: "no reference Jacobians".into(),
    })?;
    let active = active_errors(&e);
    Ok(SurrogateSummary {
        cv: cv.to_string(),
        data: data.to_string(),
        n_train,
        n_test: test.len(),
        value_rmse: e.value_rmse,
        value_range: e.value_range,
        relative_rmse: e.relative_rmse,
        jacobian,
        jacobian_active: if active.len() >= 2 {
            Some(crate::train::cv::error_statistics(&active)?)
        } else {
            None
        },
        jacobian_reference_rms: e.jacobian_reference_rms,
    })
}

/// Gradient observations of `R = A − A_ref` from umbrella windows.
///
/// Umbrella integration estimates the window average `⟨A'(ξ)⟩` exactly, as `κ(ξ0 −
/// ⟨ξ⟩)`, and attributes it to the window mean, which is accurate where `A` is locally
/// quadratic but biased by `A‴σ²/2` on a steep wall. Subtracting the window average of
/// the known `A_ref'(ξ)` over the window's own samples leaves `⟨R'(ξ)⟩`, whose
/// attribution to the mean has only the third derivative of the smooth
/// solvent-induced part as its bias. The variance is that of umbrella integration
/// scaled by `var(κξ + A_ref'(ξ)) / var(κξ)` (the same statistical inefficiency
/// assumed).
fn residual_mean_forces(
    windows: &[WindowSamples],
    forces: &MeanForceTable,
    reference: &dyn Fn(f64) -> (f64, f64),
) -> Result<MeanForceTable> {
    if forces.points.len() != windows.len() {
        return Err(PipelineError::Analysis {
            what: "mean forces",
            reason: "one mean force per window expected".into(),
        });
    }
    let mut out = MeanForceTable::default();
    for (k, w) in windows.iter().enumerate() {
        let xs = &w.series[0];
        let kappa = w.kappa[0];
        let n = xs.len() as f64;
        let slopes: Vec<f64> = xs.iter().map(|&x| reference(x).1).collect();
        let mean_slope = slopes.iter().sum::<f64>() / n;
        let mean_x = xs.iter().sum::<f64>() / n;
        let y: Vec<f64> = xs.iter().zip(&slopes).map(|(x, a)| kappa * x + a).collect();
        let mean_y = y.iter().sum::<f64>() / n;
        let var_y = y.iter().map(|v| (v - mean_y).powi(2)).sum::<f64>() / n;
        let var_kx = kappa * kappa * xs.iter().map(|x| (x - mean_x).powi(2)).sum::<f64>() / n;
        let scale = if var_kx > 0.0 { var_y / var_kx } else { 1.0 };
        out.points.push(forces.points[k].clone());
        out.gradients
            .push(vec![forces.gradients[k][0] - mean_slope]);
        out.variances.push(vec![forces.variances[k][0] * scale]);
    }
    Ok(out)
}

/// GP regression of mean forces with the prior mean `reference` (`A_ref(x)`,
/// `A_ref'(x)`): the GP models `A − A_ref` from the residual mean forces of
/// [`residual_mean_forces`], with a squared-exponential kernel whose hyperparameters
/// (and a noise floor) maximise the marginal likelihood. The returned profile is
/// `A_ref + GP`, zeroed at its minimum `x0`; its `std` is the posterior standard
/// deviation of `A(x) − A(x0)` (`A_ref` is exact).
fn gp_profile(
    method: &str,
    residual: &MeanForceTable,
    grid: &Grid,
    seed: u64,
    reference: &dyn Fn(f64) -> (f64, f64),
) -> Result<Profile> {
    let mut obs = Observations::new(1)?;
    for ((x, g), v) in residual
        .points
        .iter()
        .zip(&residual.gradients)
        .zip(&residual.variances)
    {
        obs.push_gradient(x, g, GradientNoise::Isotropic(v[0]))?;
    }
    let span = grid.axes()[0].hi - grid.axes()[0].lo;
    let mut kernel = SquaredExponential::new(1.0, &[0.2 * span])?;
    let hyper = fit_hyperparameters(
        &mut kernel,
        &obs,
        &HyperConfig {
            seed,
            ..HyperConfig::default()
        },
    )?;
    let gp = GaussianProcess::fit(
        Box::new(kernel),
        obs,
        &GpConfig {
            noise_floor: hyper.noise_floor,
            ..GpConfig::default()
        },
    )?;
    let fes = gp.free_energy_on_grid(grid, false)?;
    let x: Vec<f64> = (0..grid.len())
        .map(|i| grid.axes()[0].coordinate(i))
        .collect();
    let mut free_energy: Vec<f64> = x
        .iter()
        .zip(&fes.free_energy)
        .map(|(&x, a)| a + reference(x).0)
        .collect();
    let (i0, min) = free_energy
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| config_error("grid", "is empty"))?;
    free_energy.iter_mut().for_each(|a| *a -= min);
    // The standard deviation of A(x) − A(x0) at the minimum x0 of the whole profile
    // (which need not be the GP part's minimum): a surface on the two points {x, x0}
    // is relative to whichever of them is lower, and the variance of a difference is
    // symmetric.
    let mut std = vec![0.0; x.len()];
    for (i, s) in std.iter_mut().enumerate() {
        if i == i0 {
            continue;
        }
        let pair = Grid::new(vec![Axis {
            lo: x[i].min(x[i0]),
            hi: x[i].max(x[i0]),
            n: 2,
        }])?;
        let two = gp.free_energy_on_grid(&pair, true)?;
        let stds = two.std.unwrap_or_default();
        *s = stds.get(1 - two.minimum_index).copied().unwrap_or(f64::NAN);
    }
    Ok(Profile {
        method: method.to_string(),
        x,
        free_energy,
        std,
        features: None,
    })
}

/// MBAR of the umbrella windows (decorrelated subsamples) into bins over `[lo, hi]`.
fn mbar_profile(
    method: &str,
    run: &UmbrellaRun,
    lo: f64,
    hi: f64,
    a: &AnalysisSettings,
) -> Result<Profile> {
    // MBAR's uncertainties assume independent samples: keep an uncorrelated subsample
    // of each window (every g-th sample, g its statistical inefficiency), as pymbar's
    // `subsample_correlated_data`.
    let mut x_n = Vec::new();
    let mut n_k = Vec::with_capacity(run.windows.len());
    for w in &run.windows {
        let series = &w.series[0];
        let g = statistical_inefficiency(series, &StatisticalInefficiencyConfig::default())?;
        let keep = decorrelated_indices(series.len(), g)?;
        n_k.push(keep.len());
        x_n.extend(keep.iter().map(|&t| series[t]));
    }
    let windows: Vec<UmbrellaWindow> = run
        .windows
        .iter()
        .map(|w| UmbrellaWindow {
            center: w.center[0],
            spring_constant: w.kappa[0] / run.kt,
        })
        .collect();
    let bins = ((hi - lo) / a.mbar_bin_width).round().max(2.0) as usize;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let pmf: Pmf = umbrella_pmf(&x_n, &n_k, &windows, &edges, &MbarConfig::default())?;
    Ok(Profile {
        method: method.to_string(),
        x: pmf.bin_centers,
        free_energy: pmf.f,
        std: pmf.std_err,
        features: None,
    })
}

/// Contact minimum (lowest point of the contact interval), solvent-separated minimum
/// (lowest point of its interval) and barrier (highest point between them).
fn features(p: &Profile, a: &AnalysisSettings) -> Option<ProfileFeatures> {
    let argmin = |lo: f64, hi: f64| {
        (0..p.x.len())
            .filter(|&i| p.x[i] >= lo && p.x[i] <= hi && p.free_energy[i].is_finite())
            .min_by(|&i, &j| p.free_energy[i].total_cmp(&p.free_energy[j]))
    };
    let c = argmin(a.contact_search[0], a.contact_search[1])?;
    let s = argmin(a.solvent_separated_search[0], a.solvent_separated_search[1])?;
    let b = (c..=s)
        .filter(|&i| p.free_energy[i].is_finite())
        .max_by(|&i, &j| p.free_energy[i].total_cmp(&p.free_energy[j]))?;
    let zero = p.free_energy[c];
    let feature = |i: usize| ProfileFeature {
        position: p.x[i],
        free_energy: p.free_energy[i] - zero,
        std: if i == c {
            p.std[i]
        } else {
            p.std[i].hypot(p.std[c])
        },
    };
    let in_interval: Vec<usize> = (0..p.x.len())
        .filter(|&i| {
            p.x[i] >= a.solvent_separated_search[0] && p.x[i] <= a.solvent_separated_search[1]
        })
        .collect();
    let local = in_interval.first() != Some(&s) && in_interval.last() != Some(&s);
    Some(ProfileFeatures {
        contact: feature(c),
        barrier: feature(b),
        solvent_separated: feature(s),
        solvent_separated_is_local: local,
    })
}

/// Linear interpolation of `p` at `x` (None outside its range or next to an infinite
/// value).
fn interpolate(p: &Profile, x: f64) -> Option<(f64, f64)> {
    let i = p.x.partition_point(|&v| v <= x);
    if i == 0 {
        return None;
    }
    if i >= p.x.len() {
        let last = p.x.len() - 1;
        return (p.x[last] == x && p.free_energy[last].is_finite())
            .then(|| (p.free_energy[last], p.std[last]));
    }
    let (x0, x1) = (p.x[i - 1], p.x[i]);
    let t = (x - x0) / (x1 - x0);
    let lerp = |a: f64, b: f64| a + t * (b - a);
    let f = lerp(p.free_energy[i - 1], p.free_energy[i]);
    f.is_finite().then(|| (f, lerp(p.std[i - 1], p.std[i])))
}

/// `reference` against `other` at the points of `other` inside `reference`'s range.
fn agreement(reference: &Profile, other: &Profile) -> Agreement {
    // Standard errors are relative to each profile's own zero; a small floor keeps the
    // zero point itself from getting infinite weight.
    const FLOOR: f64 = 1e-3;
    let mut pairs = Vec::new();
    for (i, &x) in other.x.iter().enumerate() {
        let (f, s) = (other.free_energy[i], other.std[i]);
        if !(f.is_finite() && s.is_finite()) {
            continue;
        }
        if let Some((g, t)) = interpolate(reference, x) {
            let var = s * s + t * t + FLOOR * FLOOR;
            pairs.push((f - g, var));
        }
    }
    if pairs.is_empty() {
        return Agreement {
            n_points: 0,
            offset: 0.0,
            rms_difference: f64::NAN,
            within_1_sigma: 0.0,
            within_2_sigma: 0.0,
        };
    }
    let w: f64 = pairs.iter().map(|(_, v)| 1.0 / v).sum();
    let offset = pairs.iter().map(|(d, v)| d / v).sum::<f64>() / w;
    let n = pairs.len() as f64;
    let z: Vec<f64> = pairs
        .iter()
        .map(|(d, v)| ((d - offset) / v.sqrt()).abs())
        .collect();
    Agreement {
        n_points: pairs.len(),
        offset,
        rms_difference: (pairs.iter().map(|(d, _)| (d - offset).powi(2)).sum::<f64>() / n).sqrt(),
        within_1_sigma: z.iter().filter(|&&z| z <= 1.0).count() as f64 / n,
        within_2_sigma: z.iter().filter(|&&z| z <= 2.0).count() as f64 / n,
    }
}

/// A histogram as a density, over mean ± 5 sd (values outside are counted in
/// `outside`).
struct Histogram {
    edges: Vec<f64>,
    density: Vec<f64>,
    counts: Vec<usize>,
    mean: f64,
    std: f64,
    outside: usize,
}

fn histogram(values: &[f64], bins: usize) -> Result<Histogram> {
    let s = crate::train::cv::error_statistics(values)?;
    let half = 5.0 * s.std.max(1e-12);
    let (lo, hi) = (s.mean - half, s.mean + half);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    let mut outside = 0;
    for &v in values {
        let b = ((v - lo) / width).floor();
        if b >= 0.0 && (b as usize) < bins {
            counts[b as usize] += 1;
        } else {
            outside += 1;
        }
    }
    let n = values.len() as f64;
    Ok(Histogram {
        edges: (0..=bins).map(|i| lo + width * i as f64).collect(),
        density: counts.iter().map(|&c| c as f64 / (n * width)).collect(),
        counts,
        mean: s.mean,
        std: s.std,
        outside,
    })
}

fn gp_csv(a: &Profile, s: &Profile) -> String {
    let mut t = String::from("r,gp_analytic,gp_analytic_std,gp_surrogate,gp_surrogate_std\n");
    for i in 0..a.x.len() {
        t.push_str(&format!(
            "{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            a.x[i], a.free_energy[i], a.std[i], s.free_energy[i], s.std[i]
        ));
    }
    t
}

fn mbar_csv(p: &Profile) -> String {
    let mut t = String::from("r,free_energy,std_err\n");
    for i in 0..p.x.len() {
        t.push_str(&format!(
            "{:.6},{:.6},{:.6}\n",
            p.x[i], p.free_energy[i], p.std[i]
        ));
    }
    t
}

fn parity_csv(e: &SurrogateEvaluation) -> String {
    let mut t = String::from("reference,surrogate\n");
    for (r, p) in &e.parity {
        t.push_str(&format!("{r:.8},{p:.8}\n"));
    }
    t
}

fn hist_csv(h: &Histogram) -> String {
    let mut t = format!(
        "# mean {:.6e}, sd {:.6e}, {} values outside mean ± 5 sd\nlower,upper,count,density\n",
        h.mean, h.std, h.outside
    );
    for (i, c) in h.counts.iter().enumerate() {
        t.push_str(&format!(
            "{:.6e},{:.6e},{},{:.6e}\n",
            h.edges[i],
            h.edges[i + 1],
            c,
            h.density[i]
        ));
    }
    t
}

fn stats_fields(s: Option<&ErrorStatistics>) -> String {
    match s {
        Some(s) => format!(
            "{},{:.6e},{:.6e},{:.6e},{:.4},{:.4},{}",
            s.n,
            s.mean,
            s.std,
            s.rms,
            s.skewness,
            s.excess_kurtosis,
            s.normality
                .map_or("nan".to_string(), |n| format!("{:.4e}", n.p_value))
        ),
        None => "0,nan,nan,nan,nan,nan,nan".to_string(),
    }
}

fn surrogates_csv(s: &[SurrogateSummary]) -> String {
    let mut t = String::from(
        "cv,data,n_train,n_test,value_rmse,value_range,relative_rmse,jacobian_reference_rms,\
j_n,j_mean,j_std,j_rms,j_skewness,j_excess_kurtosis,j_normality_p,\
ja_n,ja_mean,ja_std,ja_rms,ja_skewness,ja_excess_kurtosis,ja_normality_p\n",
    );
    for x in s {
        t.push_str(&format!(
            "{},{},{},{},{:.6e},{:.6e},{:.6e},{:.6e},{},{}\n",
            x.cv,
            x.data,
            x.n_train,
            x.n_test,
            x.value_rmse,
            x.value_range,
            x.relative_rmse,
            x.jacobian_reference_rms,
            stats_fields(Some(&x.jacobian)),
            stats_fields(x.jacobian_active.as_ref())
        ));
    }
    t
}

fn features_csv(profiles: &[Profile]) -> String {
    let mut t = String::from(
        "method,contact_r,barrier_r,barrier_dA,barrier_std,ssip_r,ssip_dA,ssip_std,ssip_is_local\n",
    );
    for p in profiles {
        match p.features {
            Some(f) => t.push_str(&format!(
                "{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{}\n",
                p.method,
                f.contact.position,
                f.barrier.position,
                f.barrier.free_energy,
                f.barrier.std,
                f.solvent_separated.position,
                f.solvent_separated.free_energy,
                f.solvent_separated.std,
                f.solvent_separated_is_local
            )),
            None => t.push_str(&format!("{},nan,nan,nan,nan,nan,nan,nan,false\n", p.method)),
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
mod tests {
    use super::*;

    fn profile(x: Vec<f64>, f: Vec<f64>, s: Vec<f64>) -> Profile {
        Profile {
            method: "test".into(),
            x,
            free_energy: f,
            std: s,
            features: None,
        }
    }

    #[test]
    fn features_of_a_double_well() {
        // A(x) = (x − 1)²(x − 2)² − 0.3 (x − 1): minima near 1 and 2, barrier near 1.5.
        let x: Vec<f64> = (0..=200).map(|i| 0.8 + 1.6 * i as f64 / 200.0).collect();
        let f: Vec<f64> = x
            .iter()
            .map(|&x| 4.0 * (x - 1.0f64).powi(2) * (x - 2.0f64).powi(2) + 0.3 * (x - 1.0))
            .collect();
        let p = profile(x, f, vec![0.1; 201]);
        let a = AnalysisSettings {
            grid_points: 201,
            mbar_bin_width: 0.05,
            contact_search: [0.8, 1.3],
            solvent_separated_search: [1.7, 2.3],
        };
        let ft = features(&p, &a).unwrap();
        // Stationary points of 4(x−1)²(x−2)² + 0.3(x−1), found by bisection on the
        // derivative 8(x−1)(x−2)(2x−3) + 0.3.
        let root = |mut lo: f64, mut hi: f64| {
            let d = |x: f64| 8.0 * (x - 1.0) * (x - 2.0) * (2.0 * x - 3.0) + 0.3;
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if d(lo) * d(mid) <= 0.0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let (m1, b, m2) = (root(0.8, 1.3), root(1.3, 1.7), root(1.7, 2.3));
        assert!((ft.contact.position - m1).abs() < 0.01);
        assert!((ft.barrier.position - b).abs() < 0.01);
        assert!((ft.solvent_separated.position - m2).abs() < 0.01);
        let a_of = |x: f64| 4.0 * (x - 1.0f64).powi(2) * (x - 2.0f64).powi(2) + 0.3 * (x - 1.0);
        assert!((ft.barrier.free_energy - (a_of(b) - a_of(m1))).abs() < 1e-3);
        assert!(ft.solvent_separated_is_local);
        assert_eq!(ft.contact.free_energy, 0.0);
    }

    #[test]
    fn agreement_removes_an_offset_and_counts_sigmas() {
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let a = profile(x.clone(), x.iter().map(|v| v * v).collect(), vec![0.0; 10]);
        // The same curve shifted by 3, with errors of 0.5 and alternating residuals of
        // ±0.3 and ±0.8 (within 1σ and within 2σ respectively).
        let shift: Vec<f64> = (0..10)
            .map(|i| x[i] * x[i] + 3.0 + [0.3, -0.3, 0.8, -0.8, 0.3][i % 5] * 1.0)
            .collect();
        let b = profile(x.clone(), shift, vec![0.5; 10]);
        let ag = agreement(&a, &b);
        assert_eq!(ag.n_points, 10);
        assert!((ag.offset - 3.06).abs() < 1e-9, "{}", ag.offset);
        assert_eq!(ag.within_2_sigma, 1.0);
        assert!(
            (ag.within_1_sigma - 0.6).abs() < 1e-12,
            "{}",
            ag.within_1_sigma
        );
    }

    #[test]
    fn residual_mean_forces_subtract_the_window_average_of_the_reference() {
        // A_ref(x) = c x², so A_ref' = 2 c x: the residual is g − 2c·mean(x) and the
        // variance scales by ((κ + 2c)/κ)².
        let c = 1.5;
        let kappa = 10.0;
        let reference = |x: f64| (c * x * x, 2.0 * c * x);
        let windows: Vec<WindowSamples> = (0..3)
            .map(|k| WindowSamples {
                center: vec![k as f64],
                kappa: vec![kappa],
                periods: vec![None],
                series: vec![(0..8).map(|t| k as f64 + 0.1 * (t % 3) as f64).collect()],
            })
            .collect();
        let forces = MeanForceTable {
            points: vec![vec![0.1], vec![1.1], vec![2.1]],
            gradients: vec![vec![-1.0], vec![0.5], vec![2.0]],
            variances: vec![vec![0.04], vec![0.09], vec![0.01]],
        };
        let r = residual_mean_forces(&windows, &forces, &reference).unwrap();
        for k in 0..3 {
            let xs = &windows[k].series[0];
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            assert_eq!(r.points[k], forces.points[k]);
            assert!((r.gradients[k][0] - (forces.gradients[k][0] - 2.0 * c * mean)).abs() < 1e-12);
            let scale = ((kappa + 2.0 * c) / kappa).powi(2);
            assert!((r.variances[k][0] - forces.variances[k][0] * scale).abs() < 1e-12);
        }
        assert!(residual_mean_forces(&windows[..2], &forces, &reference).is_err());
    }

    #[test]
    fn gp_profile_reconstructs_a_known_free_energy() {
        // A(x) = A_ref(x) + R(x) with a steep A_ref = 1/x¹² − 2 ln x (a wall and a
        // Jacobian term) and a smooth R = 0.8 sin(4x); gradients observed exactly at 25
        // points with a small stated variance.
        let reference = |x: f64| (x.powi(-12) - 2.0 * x.ln(), -12.0 * x.powi(-13) - 2.0 / x);
        let r = |x: f64| (0.8 * (4.0 * x).sin(), 3.2 * (4.0 * x).cos());
        let points: Vec<f64> = (0..25).map(|i| 0.95 + 1.6 * i as f64 / 24.0).collect();
        let residual = MeanForceTable {
            points: points.iter().map(|&x| vec![x]).collect(),
            gradients: points.iter().map(|&x| vec![r(x).1]).collect(),
            variances: vec![vec![1e-4]; 25],
        };
        let grid = Grid::new(vec![Axis {
            lo: 0.95,
            hi: 2.55,
            n: 81,
        }])
        .unwrap();
        let p = gp_profile("test", &residual, &grid, 1, &reference).unwrap();
        let exact: Vec<f64> = p.x.iter().map(|&x| reference(x).0 + r(x).0).collect();
        let min = exact.iter().copied().fold(f64::INFINITY, f64::min);
        for i in 0..p.x.len() {
            assert!(
                (p.free_energy[i] - (exact[i] - min)).abs() < 0.02,
                "x = {}: {} vs {}",
                p.x[i],
                p.free_energy[i],
                exact[i] - min
            );
        }
        // Zero (and error-free) at the minimum, uncertain elsewhere.
        let i0 = p.free_energy.iter().position(|&v| v == 0.0).unwrap();
        assert_eq!(p.std[i0], 0.0);
        assert!(p.std.iter().enumerate().all(|(i, &s)| i == i0 || s > 0.0));
        let (far, near) = if i0 > 40 { (0, i0 - 1) } else { (80, i0 + 1) };
        assert!(p.std[far] > p.std[near], "{:?}", p.std);
    }

    #[test]
    fn the_reference_free_energy_derivative_matches_finite_differences() {
        let model = Model {
            system: IonPairConfig::standard(0).system,
        };
        let direct = model.direct_pair().unwrap();
        let h = 1e-6;
        for r in [0.95, 1.1, 1.5, 2.2, 2.49, 3.0, 3.29] {
            let (_, d) = direct.free_energy(r);
            let fd = (direct.free_energy(r + h).0 - direct.free_energy(r - h).0) / (2.0 * h);
            assert!(
                (fd - d).abs() < 1e-6 * d.abs().max(1.0),
                "r = {r}: {fd} vs {d}"
            );
        }
        // Far from contact only the radial Jacobian and the Coulomb tail remain:
        // A_ref' = −2kT/r + q²(1/r² − 1/R_c²) with the undamped shifted force.
        let s = IonPairConfig::standard(0).system;
        let r = 2.8;
        let want = -2.0 * s.kt / r
            + s.ion_charge.powi(2) * (1.0 / (r * r) - 1.0 / s.coulomb_cutoff.powi(2));
        assert!((direct.free_energy(r).1 - want).abs() < 1e-9);
    }

    #[test]
    fn the_pair_coulomb_force_is_minus_the_energy_gradient() {
        let system = IonPairConfig::quick(0).system;
        let (_, simbox) = fcc_lattice(system.fcc_cells, system.density).unwrap();
        let pot = ChargedPair {
            dsf: DsfConfig {
                charges: vec![0.0, 1.5, -1.5],
                coulomb_constant: 1.0,
                cutoff: 2.5,
                alpha: 0.2,
            }
            .build()
            .unwrap(),
            cutoff: 2.5,
        };
        let positions = vec![
            Vec3::new(0.2, 0.3, 0.1),
            Vec3::new(4.9, 0.9, 0.4), // across the boundary
            Vec3::new(2.0, 2.0, 2.0),
        ];
        let species = [1, 2, 0];
        let eval = |p: &[Vec3]| {
            let mut out = Evaluation::zeros(3);
            pot.add_to(
                &Configuration {
                    positions: p,
                    species: &species,
                    simbox: &simbox,
                    neighbors: None,
                },
                &mut out,
            )
            .unwrap();
            out
        };
        let e0 = eval(&positions);
        assert!(e0.energy < 0.0, "opposite charges attract");
        let h = 1e-6;
        for atom in 0..3 {
            for a in 0..3 {
                let mut p = positions.clone();
                p[atom][a] += h;
                let ep = eval(&p).energy;
                p[atom][a] -= 2.0 * h;
                let em = eval(&p).energy;
                let fd = -(ep - em) / (2.0 * h);
                assert!(
                    (fd - e0.forces[atom][a]).abs() < 1e-7,
                    "{fd} vs {}",
                    e0.forces[atom][a]
                );
            }
        }
    }
}
