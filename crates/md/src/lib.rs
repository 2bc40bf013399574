//! Molecular dynamics for thermograd: the sampler behind the trainers and free-energy
//! methods.
//!
//! - [`Potential`]: the role of an energy function (energy, forces `−∇E`, virial tensor),
//!   composed by summation in a [`PotentialSum`]; [`PairPotential`] and [`pair_sum`]
//!   give short-range pair terms a fast, parallel loop over a half Verlet list.
//! - [`LennardJones`]: per-species-pair parameters, mixing rules, plain / energy-shifted /
//!   force-shifted truncation, analytic long-range corrections.
//! - [`ForceField`]: potentials plus the neighbor list they share.
//! - [`State`]: positions, velocities, masses, species, box, step and time — plain,
//!   serializable data. [`fcc_lattice`] builds crystals to start from.
//! - [`Integrator`]s: [`VelocityVerlet`] (NVE), [`Langevin`] (BAOAB), [`Csvr`] (Bussi),
//!   [`NoseHooverChain`] (MTK), [`Brownian`] (overdamped), and the
//!   [`StochasticCellRescaling`] barostat (NPT) around a thermostat.
//! - [`Simulation`]: the runner (equilibration, production with a stride, observers,
//!   progress bar, atomic checkpoints that resume bit for bit).
//! - More pair potentials on the same loop: [`Morse`], [`SoftSphere`], [`Wca`] and
//!   [`TabulatedPair`] (natural [`CubicSpline`]s); electrostatics by [`Ewald`]
//!   summation (triclinic boxes, error-controlled parameters) and the
//!   [`DampedShiftedForce`] form; the bonded prior [`BondedPrior`] on a [`Topology`]
//!   (harmonic bonds and angles, cosine-series dihedrals) and [`HarmonicRestraints`].
//! - [`Fire`]: energy minimisation (Bitzek et al. 2006).
//! - Observables: [`Rdf`] (species-resolved), [`Adf`], [`Msd`] with
//!   [`diffusion_coefficient`], [`heat_capacity`]; they are [`Observer`]s, combined by
//!   [`Observers`].
//! - [`ExtxyzWriter`] and [`read_extxyz`]: ASE-compatible extended XYZ trajectories.
//! - [`stats`]: mean and standard error of correlated series (statistical inefficiency).
//!
//! Units are the caller's, as long as they are coherent; temperatures enter as `kT`
//! (energy). Tests use reduced Lennard-Jones units (σ = ε = m = k_B = 1).
//!
//! A Lennard-Jones liquid at the LAMMPS `in.lj` state point, run for a few NVE steps:
//!
//! ```
//! use thermograd_md::*;
//!
//! let (positions, simbox) = fcc_lattice(3, 0.8442)?;
//! let n = positions.len();
//! let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox)?;
//! state.thermalize(1.44, 87287)?;
//! let lj = LennardJonesConfig::single(1.0, 1.0, 2.5).build()?;
//! let forcefield = ForceField::new(PotentialSum::new().with(lj), 0.3)?;
//! let mut sim = Simulation::new(state, forcefield, Box::new(VelocityVerlet::new(0.005)?))?;
//! let e0 = sim.sample().conserved_energy;
//! sim.run(20)?;
//! let e1 = sim.sample().conserved_energy;
//! assert!(((e1 - e0) / e0).abs() < 1e-3);
//! # Ok::<(), thermograd_md::MdError>(())
//! ```
#![deny(missing_docs)]

mod bonded;
mod coulomb;
mod error;
mod extxyz;
mod fire;
mod forcefield;
mod integrators;
mod lj;
mod observables;
mod pair;
mod pairs;
mod potential;
mod sim;
mod state;
pub mod stats;

pub use bonded::{
    Angle, Bond, BondedPrior, CosineTerm, Dihedral, HarmonicRestraints, Restraint, Topology,
};
pub use coulomb::{erfc, DampedShiftedForce, DsfConfig, Ewald, EwaldConfig};
pub use error::{Fault, MdError, Result};
pub use extxyz::{parse_extxyz, read_extxyz, ExtxyzWriter, Frame, SpeciesTable};
pub use fire::{Fire, FireConfig, Minimization};
pub use forcefield::ForceField;
pub use integrators::{
    deform, dof_for, BarostatConfig, Brownian, Csvr, Integrator, Langevin, NoseHooverChain,
    StochasticCellRescaling, ThermostatConfig, VelocityVerlet,
};
pub use lj::{LennardJones, LennardJonesConfig, LjPairParams, LjParams, Mixing, Truncation};
pub use observables::{
    diffusion_coefficient, heat_capacity, Adf, AdfConfig, AdfCurve, DiffusionFit, HeatCapacity,
    Msd, MsdCurve, Observers, Rdf, RdfConfig, RdfCurve,
};
pub use pair::{pair_sum, PairPotential};
pub use pairs::{
    CubicSpline, Morse, MorseConfig, MorseParams, PairTableData, SoftSphere, SoftSphereConfig,
    SoftSphereParams, SpeciesPair, TabulatedPair, TabulatedPairConfig, Wca, WcaConfig,
};
pub use potential::{Configuration, Evaluation, Potential, PotentialSum};
pub use sim::{FaultChecks, Observer, RunConfig, Sample, SampleRecorder, Simulation};
pub use state::{degrees_of_freedom, fcc_lattice, pressure, pressure_tensor, temperature, State};

pub use thermograd_geometry::{Mat3, SimBox, Vec3};

/// Runs `f` on a dedicated rayon pool of `threads` workers (`None`: the global pool,
/// sized by `RAYON_NUM_THREADS` or the number of cores). Pair loops and neighbor-list
/// builds inside `f` use that pool.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match threads {
        None => Ok(f()),
        Some(n) => {
            if n == 0 {
                return Err(MdError::InvalidParameter {
                    name: "threads",
                    value: 0.0,
                    reason: "need at least one thread",
                });
            }
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| MdError::Io {
                    path: "<thread pool>".into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            Ok(pool.install(f))
        }
    }
}
