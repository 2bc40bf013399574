//! Collective variables (CVs) with exact Jacobians.
//!
//! Gradient-based free-energy methods need, for each sampled configuration, the value of
//! a CV ξ(r) and its derivative with respect to every atom. This crate provides:
//!
//! - the [`CollectiveVariable`] trait: values (possibly multi-dimensional), a sparse
//!   Jacobian over the atoms involved, the strain derivative needed for virials under
//!   periodic boundaries, and whether each component is periodic;
//! - analytic CVs: [`Distance`], [`DistanceComponents`], [`Angle`], [`Dihedral`],
//!   [`Coordination`] with PLUMED's [`RationalSwitch`], [`CenterOfMassDistance`],
//!   [`LinearCombination`], and a [`Stack`] of CVs as one multi-dimensional CV;
//! - biases that act through the Jacobian, as MD potentials: [`Bias`] with a
//!   [`Harmonic`] restraint (umbrella window), [`FlatBottom`] walls, a [`Moving`]
//!   (steered) restraint, or well-tempered [`Metadynamics`] summed exactly over hills
//!   or stored on a cubic Hermite grid ([`BiasStorage`]);
//! - an umbrella-sampling driver, [`run_umbrella`], over windows on a 1-D or 2-D grid
//!   ([`grid_centers`]), windows in parallel, with a choice of [`MeanForceMethod`];
//! - a well-tempered metadynamics runner, [`run_metadynamics`]: independent walkers, the
//!   free-energy estimate `A = −γ/(γ − 1) V` with its time series and error bars from the
//!   spread of the walkers;
//! - the mass-metric tensor [`mass_metric`];
//! - mean forces from umbrella windows ([`umbrella_integration`],
//!   [`restrained_mean_force`], [`umbrella_integration_profile`]) and the instantaneous
//!   collective force ([`InstantaneousForce`], averaged per window by
//!   [`instantaneous_mean_force`]) as a [`MeanForceTable`], the input of
//!   Gaussian-process free-energy reconstruction.
//!
//! Every displacement uses the box's minimum image, so CVs are correct for atoms across
//! periodic boundaries in orthorhombic and triclinic cells.
//!
//! ```
//! use thermograd_cv::{CollectiveVariable, CvValue, Distance};
//! use thermograd_geometry::{SimBox, Vec3};
//! let simbox = SimBox::cubic(3.0)?;
//! let positions = [Vec3::new(0.1, 0.0, 0.0), Vec3::new(2.9, 0.0, 0.0)];
//! let mut value = CvValue::default();
//! Distance::new(0, 1)?.evaluate(&positions, &simbox, &mut value)?;
//! assert!((value.values[0] - 0.2).abs() < 1e-12); // through the boundary
//! assert_eq!(value.gradient(0, 1), Vec3::new(-1.0, 0.0, 0.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod analytic;
mod bias;
mod cv;
mod error;
mod instantaneous;
mod mean_force;
mod metad;
mod metric;
mod spec;
mod switching;
mod umbrella;

pub use analytic::{
    Angle, CenterOfMassDistance, Coordination, Dihedral, Distance, DistanceComponents,
    LinearCombination, Stack,
};
pub use bias::{
    Bias, BiasEnergy, BiasGridConfig, BiasStorage, FlatBottom, Harmonic, Metadynamics,
    MetadynamicsConfig, Moving,
};
pub use cv::{periodic_difference, CollectiveVariable, CvValue};
pub use error::{CvError, Result};
pub use instantaneous::{instantaneous_mean_force, InstantaneousForce, InstantaneousForceConfig};
pub use mean_force::{
    restrained_mean_force, umbrella_integration, umbrella_integration_profile, window_stats,
    ComponentStats, MeanForceTable, WindowSamples,
};
pub use metad::{
    run_metadynamics, FreeEnergySnapshot, HillRecord, MetadynamicsRun, MetadynamicsRunConfig,
    MetadynamicsWalker,
};
pub use metric::mass_metric;
pub use spec::CvSpec;
pub use switching::RationalSwitch;
pub use umbrella::{
    grid_centers, run_umbrella, run_umbrella_windows, MeanForceMethod, UmbrellaConfig, UmbrellaRun,
    WindowRun,
};
