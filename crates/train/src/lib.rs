//! Trainers for thermograd models: force matching, relative entropy, DiffTRe, CV
//! surrogates (Fuchs et al., chemtrain §3–4; Pathirage et al.) and temperature-dependent
//! coarse-grained free energies learned from forces and energies at several
//! temperatures (Duschatko et al. 2024; [`tdep`]).
//!
//! All potential trainers share chemtrain's building blocks (§4.1): load or sample
//! states → per-state quantities from one model evaluation → weighted averages → loss,
//! with the parameter gradient from one [`EnergyModel::parameter_vjp`].
//!
//! - **Data.** [`Dataset`] of [`Structure`]s (positions, box, species, optional energy,
//!   forces, virial); coarse-grain mapping through [`thermograd_geometry::LinearMap`];
//!   extended XYZ and NumPy `.npy`/`.npz` readers and writers with unit conversion at
//!   the boundary ([`formats`], [`UnitConversion`]); seeded shuffling, splits and batches;
//!   [`Standardizer`] for features.
//! - **Models.** [`EnergyModel`]: energies, forces, virials and the parameter gradient of
//!   any weighted sum of them. Implemented by [`thermograd_nn::BehlerParrinello`] and by
//!   [`SplinePair`], a cubic-spline pair potential linear in its knot values.
//! - **Force matching** ([`ForceMatching`], chemtrain eq. 16–18): energies, forces and
//!   virials with per-target weights; minibatch Adam/AdamW with schedules and clipping
//!   ([`OptimizerConfig`]), validation, early stopping, atomic checkpoints after every
//!   epoch with exact resume, metrics as CSV or JSON lines, progress bar.
//! - **DiffTRe** ([`DiffTRe`], eq. 7–11): [`Target`]s on ensemble averages of
//!   [`Observable`]s (RDF, ADF, pressure, density, energy, or your own); states from
//!   Langevin MD ([`Sampler`]) reweighted to the current parameters ([`reweight`]), new
//!   states when the effective sample size drops ([`ReweightingConfig`]); the
//!   free-energy change along training by BAR between reference sets and EXP within one.
//! - **Multi-state DiffTRe** ([`MultiStateDiffTRe`], chemtrain §3.1): the weighted sum
//!   of DiffTRe losses at several [`StatePoint`]s (own `kT`, density or pressure bath,
//!   targets), one shared optimizer; state points spread over the ranks of a
//!   [`thermograd_dist::Comm`] with gradients summed by allreduce, per-rank checkpoints.
//! - **Interleaved** ([`Interleaved`]): force-matching epochs alternating with DiffTRe
//!   updates on one model, with one checkpoint covering both.
//! - **Relative entropy** ([`RelativeEntropy`], eq. 22): gradient
//!   `β(⟨∂U/∂θ⟩_ref − ⟨∂U/∂θ⟩_model)` with model states reused by reweighting.
//!   [`MultiStateRelativeEntropy`]: the weighted sum over state points, each with its
//!   own reference data and sampler, spread over ranks like multi-state DiffTRe.
//! - **Temperature-dependent free energies** ([`tdep`]): `A(R; T)` from force matching
//!   plus `∂(βA)/∂β = ⟨u⟩_R` over samples at several temperatures
//!   ([`TemperatureSample`]); a Bayesian linear (finite-rank GP) model on spline pair
//!   features ([`KernelFreeEnergy`]) and a pair-MLP model ([`NnFreeEnergy`]); an analytic
//!   benchmark ([`HiddenHarmonicDimer`]).
//! - [`cv`]: training of neural-network CV surrogates on values (and optionally
//!   Jacobians), with the value and Jacobian error statistics the surrogate paper reports.
//! - [`ensemble`]: deep ensembles (Lakshminarayanan et al. 2017) of force-matched models
//!   ([`EnsembleConfig`] → [`DeepEnsemble`] → [`TrainedEnsemble`]), members spread over
//!   the ranks of a [`thermograd_dist::Comm`] with results equal to one process,
//!   per-member checkpoints; committee error, spread and calibration
//!   ([`EnsembleMetrics`]).
//! - [`active`]: query-by-committee active learning ([`ActiveLearning`]): MD with the
//!   committee, label the candidates it disagrees on most with a reference potential,
//!   retrain; a checkpoint per round.
//!
//! Units are the caller's coherent set (reduced LJ units in the tests; nm, kJ/mol by
//! default in files); temperatures enter as `kT`.
//!
//! Force matching recovers a pair potential from its own forces:
//!
//! ```
//! use thermograd_geometry::{SimBox, Vec3};
//! use thermograd_nn::{AdamConfig, Frame, Trainable};
//! use thermograd_train::*;
//!
//! // Reference: a spline with known knot values; data: its forces on random dimers.
//! let config = SplinePairConfig::uniform(0.8, 2.0, 6);
//! let truth = config.build_from(|_, _, r| (2.0 - r).powi(2))?;
//! let structures = (0..20)
//!     .map(|k| {
//!         let frame = Frame {
//!             positions: vec![Vec3::zeros(), Vec3::new(0.85 + 0.05 * k as f64, 0.0, 0.0)],
//!             species: vec![0, 0],
//!             simbox: SimBox::open(),
//!         };
//!         let mut s = Structure::new(frame.positions.clone(), frame.species.clone(), frame.simbox.clone());
//!         s.forces = Some(truth.evaluate_frames(&[frame])?.remove(0).forces);
//!         Ok(s)
//!     })
//!     .collect::<Result<Vec<_>>>()?;
//! let data = Dataset::new(structures, Default::default())?;
//! let fm = ForceMatchingConfig {
//!     epochs: 300,
//!     batch_size: 20,
//!     optimizer: OptimizerConfig {
//!         adam: AdamConfig { learning_rate: 0.05, ..Default::default() },
//!         ..Default::default()
//!     },
//!     ..Default::default()
//! };
//! let mut trainer = fm.build(config.build()?, data.clone(), Dataset::default())?;
//! trainer.train()?;
//! assert!(trainer.evaluate(&data)?.force_rmse.unwrap() < 1e-2);
//! # Ok::<(), TrainError>(())
//! ```
#![deny(missing_docs)]

pub mod active;
mod checkpoint;
pub mod cv;
mod data;
mod difftre;
pub mod ensemble;
mod error;
mod fm;
pub mod formats;
mod fsutil;
mod interleaved;
mod model;
mod multistate;
mod multistate_re;
mod observables;
mod optim;
mod relentropy;
mod reweight;
mod sampler;
mod spline;
pub mod tdep;
mod trainloop;
mod units;

pub use active::{ActiveLearning, ActiveLearningConfig, Driver, RoundReport, Selection};
pub use checkpoint::{load_checkpoint, save_checkpoint, write_metrics};
pub use data::{batch_indices, permutation, Dataset, Split, SplitConfig, Standardizer, Structure};
pub use difftre::{DiffTRe, DiffTReConfig, DiffTReLoss, DiffTReUpdate, Target};
pub use ensemble::{
    DeepEnsemble, EnsembleConfig, EnsembleMetrics, EnsemblePrediction, TrainedEnsemble,
};
pub use error::{Result, TrainError};
pub use fm::{force_matching_loss, FmEpoch, FmLoss, FmWeights, ForceMatching, ForceMatchingConfig};
pub use formats::{NpyArray, NpzKeys};
pub use interleaved::{
    DiffTReSetup, Interleaved, InterleavedConfig, InterleavedPhase, InterleavedStep,
};
pub use model::{Cotangents, EnergyModel};
pub use multistate::{
    rank_checkpoint_path, MultiStateDiffTRe, MultiStateDiffTReConfig, MultiStateLoss,
    MultiStateUpdate, StatePoint, StatePointConfig, StatePointReport,
};
pub use multistate_re::{
    MultiStateRelativeEntropy, MultiStateRelativeEntropyConfig, MultiStateRelativeEntropyLoss,
    MultiStateRelativeEntropyUpdate, RelativeEntropyReport, RelativeEntropyStatePoint,
    RelativeEntropyStatePointConfig,
};
pub use observables::{
    AdfObservable, DensityObservable, EnergyObservable, Observable, PressureObservable,
    RdfObservable, StateView,
};
pub use optim::{EarlyStopping, Optimizer, OptimizerConfig, Schedule, StepInfo};
pub use relentropy::{
    RelativeEntropy, RelativeEntropyConfig, RelativeEntropyLoss, RelativeEntropyUpdate,
};
pub use reweight::{reweight, EssKind, FreeEnergyStep, ReferenceSet, ReweightingConfig, Weights};
pub use sampler::{
    PressureCoupling, Sampler, SamplerConfig, SamplerState, SharedPotential, Snapshot,
};
pub use spline::{SplinePair, SplinePairConfig};
pub use tdep::{
    tdep_loss, DimerErrors, FreeEnergyModel, FreeEnergyPrediction, HiddenHarmonicDimer,
    KernelFreeEnergy, KernelFreeEnergyConfig, NnFreeEnergy, NnFreeEnergyConfig, NnTrainingConfig,
    TdepLoss, TdepWeights, TemperatureSample, TemperatureTerm,
};
pub use units::{EnergyUnit, LengthUnit, UnitConversion, UnitSet};
