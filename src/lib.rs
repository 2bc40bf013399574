//! thermograd: machine-learned molecular models and free-energy methods in Rust.
//!
//! This umbrella crate re-exports each component crate as a module; each also works alone.
//!
//! | module | crate | what it is for |
//! |---|---|---|
//! | [`geometry`] | `thermograd-geometry` | boxes, minimum image, coarse-grain maps |
//! | [`neighbors`] | `thermograd-neighbors` | cell lists, Verlet lists, brute-force reference |
//! | [`cv`] | `thermograd-cv` | collective variables with exact Jacobians |
//! | [`estimators`] | `thermograd-estimators` | ESS, EXP, BAR, MBAR, time-series analysis |
//! | [`md`] | `thermograd-md` | potentials, integrators, thermostats, barostat, checkpoints |
//! | [`gpr`] | `thermograd-gpr` | Gaussian-process free energies from gradient data |
//! | [`nn`] | `thermograd-nn` | neural-network potentials and CV surrogates on dfdx |
//! | [`train`] | `thermograd-train` | force matching, relative entropy, DiffTRe, CV-surrogate training |
//!
//! [`pipelines`] holds complete experiments composed from these crates — the main one,
//! [`pipelines::ion_pair`], is what `thermograd demo ion-pair` and the `ion_pair_fes`
//! example run — and [`prelude`] flattens the names most programs need.
//!
//! ```
//! use thermograd::geometry::{SimBox, Vec3};
//! use thermograd::neighbors::{NeighborList, NeighborListConfig, ListKind};
//! let simbox = SimBox::cubic(5.0)?;
//! let positions = vec![Vec3::new(0.1, 0.1, 0.1), Vec3::new(4.9, 0.1, 0.1)];
//! let mut list = NeighborList::new(NeighborListConfig { cutoff: 1.0, skin: 0.2, kind: ListKind::Half })?;
//! list.update(&positions, &simbox)?;
//! assert_eq!(list.pairs_within_cutoff().len(), 1);
//! # Ok::<(), anyhow::Error>(())
//! ```
#![deny(missing_docs)]

pub use thermograd_cv as cv;
pub use thermograd_estimators as estimators;
pub use thermograd_geometry as geometry;
pub use thermograd_gpr as gpr;
pub use thermograd_md as md;
pub use thermograd_neighbors as neighbors;
pub use thermograd_nn as nn;
pub use thermograd_train as train;

pub mod pipelines;

/// The names most programs need, in one import: `use thermograd::prelude::*;`.
pub mod prelude {
    pub use crate::cv::{
        run_umbrella, CollectiveVariable, Coordination, CvValue, Distance, RationalSwitch,
        UmbrellaConfig,
    };
    pub use crate::estimators::{bar, BarConfig, Mbar, MbarConfig};
    pub use crate::geometry::{SimBox, Vec3};
    pub use crate::gpr::{GaussianProcess, GpConfig, GradientNoise, Grid, Observations};
    pub use crate::md::{
        fcc_lattice, ForceField, Langevin, LennardJonesConfig, Potential, PotentialSum, RunConfig,
        Simulation, State, ThermostatConfig,
    };
    pub use crate::nn::{CvSurrogate, CvSurrogateConfig, ModelFile, Trainable};
    pub use crate::pipelines::ion_pair::IonPairConfig;
    pub use crate::train::cv::{evaluate_surrogate, label_configurations, CvTrainerConfig};
}
