//! Neural networks for thermograd, on the dfdx tensor engine.
//!
//! This is the only crate of the workspace that knows dfdx; its public types hold plain
//! `f64` buffers ([`Matrix`], flat parameter vectors), so another engine could replace
//! dfdx behind them.
//!
//! - **Engine.** [`Mlp`]: multilayer perceptrons with widths and depth chosen at run time
//!   ([`MlpConfig`], [`Activation`]), evaluated as taped dfdx ops in three modes:
//!   [`Mlp::forward`]; input gradients ([`Mlp::input_vjp`], [`Mlp::jacobian`]) from a
//!   `leaky_trace`d input; and forward-mode tangents ([`Mlp::tangent`],
//!   [`Mlp::param_vjp`]) carried as ordinary taped ops, so that one backward pass gives
//!   `∂/∂θ` of a directional derivative — the exact force-matching gradient, although
//!   dfdx has no double backward. Per-atom → per-structure sums use a custom taped
//!   segment-sum op. [`Trainable`] exposes flat parameter vectors; [`Adam`] updates them;
//!   [`ModelFile`] stores models in files with a self-describing header ([`file`](mod@file)).
//! - **Potentials.** [`BehlerParrinello`]: atom-centred symmetry functions
//!   ([`SymmetryFunctions`]: radial G2, angular G4/G5, cosine cutoff, analytic
//!   derivatives in `f64` outside the tape), one network per species, atomic energies
//!   summed. It implements [`thermograd_md::Potential`] (energy, forces, virial), so MD
//!   runs with it and it sums with a physical prior (Δ-learning). Batched evaluation
//!   over frames of different sizes ([`BehlerParrinello::evaluate_batch`]) and the exact
//!   force-matching loss gradient ([`BehlerParrinello::force_matching`],
//!   [`BehlerParrinello::param_vjp`]).
//! - **Message passing.** [`SchNet`]: continuous-filter convolutions over the pairs of
//!   a neighbourhood (species embedding, Gaussian radial basis times a cosine cutoff,
//!   interaction blocks with residual updates, atom-wise readout). Forces and virials
//!   come from one backward pass to the pair distances; the parameter gradient of any
//!   weighted sum of energies, forces and virials ([`SchNet::param_vjp`], so force
//!   matching with virials too) from forward-mode tangents of the pair distances.
//!   Row gather and scatter-add run as small custom taped ops.
//! - **CV surrogates.** [`CvSurrogate`]: a network from minimum-image displacements of
//!   selected atoms (exact in triclinic cells) to CV values, with its Jacobian and strain
//!   derivative from autodiff; it implements [`thermograd_cv::CollectiveVariable`], so
//!   umbrella biases run on a learned CV. Default widths [64, 128, 64, 32]. The
//!   displacements enter as Cartesian components or, for CVs symmetric in many atoms
//!   (coordination numbers), as sorted distances ([`CvFeatures`]).
//! - **Committees.** [`Committee`] of potentials or surrogates: mean and standard
//!   deviation of energies, forces and CVs.
//!
//! Units are the caller's (coherent) units; descriptors take lengths, potentials return
//! energies in the units of their training data.
//!
//! Precision: networks compute in `f64` by default; [`Mlp`], [`BehlerParrinello`] and
//! [`CvSurrogate`] can compute in `f32` instead (`with_precision(`[`Dtype::F32`]`)`),
//! which rounds their parameters to `f32` values. Everything around the networks stays
//! `f64`: inputs, outputs and gradients at the API, normalizations, symmetry functions
//! and their derivatives, force and virial assembly, and the sums of atomic energies.
//! Model files record the precision and reload it exactly; `load_expecting` functions
//! expect `f64` (`load_expecting_precision` takes the precision). [`SchNet`] is `f64`
//! only.
//!
//! An MLP's input gradient against a finite difference:
//!
//! ```
//! use thermograd_nn::{Activation, Matrix, MlpConfig, Trainable};
//!
//! let config = MlpConfig { inputs: 2, hidden: vec![8, 8], outputs: 1, activation: Activation::Tanh };
//! let mlp = config.build(42)?;
//! let x = Matrix::new(1, 2, vec![0.3, -0.1])?;
//! let (y, grad) = mlp.input_vjp(&x, &Matrix::new(1, 1, vec![1.0])?)?;
//! let h = 1e-5;
//! let yp = mlp.forward(&Matrix::new(1, 2, vec![0.3 + h, -0.1])?)?.data[0];
//! let ym = mlp.forward(&Matrix::new(1, 2, vec![0.3 - h, -0.1])?)?.data[0];
//! assert!((grad.data[0] - (yp - ym) / (2.0 * h)).abs() < 1e-8);
//! assert_eq!(mlp.n_parameters(), 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1);
//! # let _ = y;
//! # Ok::<(), thermograd_nn::NnError>(())
//! ```
//!
//! A Behler–Parrinello correction on top of a Lennard-Jones prior (Δ-learning), run by
//! the MD engine:
//!
//! ```
//! use thermograd_md::*;
//! use thermograd_nn::{Activation, AngularKind, BehlerParrinelloConfig, SymmetryFunctions};
//!
//! let (positions, simbox) = fcc_lattice(2, 0.8)?;
//! let n = positions.len();
//! let state = State::new(positions, vec![1.0; n], vec![0; n], simbox)?;
//! let nn = BehlerParrinelloConfig {
//!     descriptors: SymmetryFunctions::standard(2.5, 1, 4, AngularKind::G4),
//!     hidden: vec![8],
//!     activation: Activation::Silu,
//! }
//! .build(7)?;
//! let prior = LennardJonesConfig::single(1.0, 1.0, 2.5).build()?;
//! let forcefield = ForceField::new(PotentialSum::new().with(prior).with(nn), 0.3)?;
//! let mut sim = Simulation::new(state, forcefield, Box::new(VelocityVerlet::new(0.002)?))?;
//! sim.run(5)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Features: `cuda` compiles dfdx's CUDA backend (needs `nvcc` and `nvidia-smi` at build
//! time; never a default). The CUDA evaluation path itself is not wired up yet:
//! `Device::Cuda` is rejected with [`NnError::DeviceUnavailable`].
#![deny(missing_docs)]

mod adam;
mod bp;
mod committee;
pub mod descriptors;
mod engine;
mod error;
pub mod file;
mod mlp;
mod schnet;
mod schnet_engine;
mod surrogate;

pub use adam::{Adam, AdamConfig};
pub use bp::{
    BehlerParrinello, BehlerParrinelloConfig, Frame, LabeledFrame, LossAndGradient, LossWeights,
};
pub use committee::{Committee, CommitteeEvaluation, CommitteePotential, CvCommitteeValue};
pub use descriptors::{Angular, AngularKind, Radial, SymmetryFunctions};
pub use error::{NnError, Result};
pub use file::{Dtype, ModelFile};
pub use mlp::{Activation, DenseLayer, Matrix, Mlp, MlpConfig, Normalization, ParamVjp, Trainable};
pub use schnet::{SchNet, SchNetConfig, SchNetNormalization};
pub use surrogate::{CvFeatures, CvLoss, CvSample, CvSurrogate, CvSurrogateConfig, DEFAULT_HIDDEN};

/// Where networks run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Device {
    /// The CPU (dfdx's `Cpu`, multithreaded matrix products).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal (with the `cuda` feature).
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

impl Device {
    pub(crate) fn dfdx(self) -> Result<engine::Dev> {
        match self {
            Device::Cpu => Ok(engine::Dev::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => Err(NnError::DeviceUnavailable {
                device: format!("cuda:{i}"),
                reason: "the CUDA evaluation path is not implemented yet",
            }),
        }
    }
}
