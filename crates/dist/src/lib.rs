//! Spreading thermograd's independent units of work over processes: umbrella windows,
//! replicas of a temperature ladder, ensemble members and state points.
//!
//! The principal types:
//!
//! - [`Comm`], a communicator: rank, size, barrier, broadcast, gather and sum-reduction
//!   of bytes, with [`broadcast_value`] and [`gather_values`] for any serde type.
//!   [`Serial`] is the single-process implementation, always available; `Mpi` (feature
//!   `mpi`) runs over MPI's world communicator. [`world`] picks `Mpi` when the feature
//!   is on and the process was started by `mpirun`, else [`Serial`].
//! - [`run_umbrella_distributed`]: umbrella windows dealt round robin over ranks,
//!   gathered on rank 0 into exactly the result of [`thermograd_cv::run_umbrella`], with
//!   per-window checkpoints so a killed job resumes.
//! - [`sum_over_items`]: the allreduce of gradients over ensemble members or state
//!   points, equal to the single-process sum up to rounding.
//! - [`run_replica_exchange`]: parallel tempering for Langevin dynamics, replicas dealt
//!   over ranks, with exchange statistics; the same result on any number of ranks.
//!   [`run_replica_exchange_checkpointed`] adds per-rank checkpoints at exchange
//!   boundaries and a restart of the whole job that reproduces the uninterrupted run bit
//!   for bit (statistics accumulated across the restart).
//!
//! Every function takes `&dyn Comm` and behaves the same on one process, so the
//! single-process path is the tested reference of the distributed one.
//!
//! ```
//! use thermograd_dist::{sum_over_items, Comm, Serial};
//! // Gradients of three state points, summed (over however many ranks there are).
//! let total = sum_over_items(&Serial, 3, 2, &mut |i| Ok(vec![1.0, i as f64]))?;
//! assert_eq!(total, vec![3.0, 3.0]);
//! # Ok::<(), thermograd_dist::DistError>(())
//! ```
//!
//! Features: `mpi` adds the `Mpi` communicator through the `mpi` crate (rsmpi); it
//! needs an MPI implementation with its headers and libclang when building
//! (`.ci/install-mpi` installs OpenMPI's on Debian).
#![deny(missing_docs)]

mod comm;
mod error;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod remd;
mod umbrella;

pub use comm::{
    all_reduce_outcome, broadcast_value, gather_outcomes, gather_values, round_robin,
    sum_over_items, Comm, Serial,
};
pub use error::{DistError, Result};
#[cfg(feature = "mpi")]
pub use mpi_comm::Mpi;
pub use remd::{
    replica_checkpoint_paths, run_replica_exchange, run_replica_exchange_checkpointed,
    ExchangeStats, ReplicaCheckpointConfig, ReplicaExchangeConfig, ReplicaExchangeOutcome,
    ReplicaExchangeRun,
};
pub use umbrella::{run_umbrella_distributed, window_checkpoint_path};

/// The communicator of this process: with the `mpi` feature and a process started by
/// an MPI launcher (`Mpi::launched`), MPI's world (initialising MPI, so call this
/// once); otherwise [`Serial`].
pub fn world() -> Result<Box<dyn Comm>> {
    #[cfg(feature = "mpi")]
    if Mpi::launched() {
        return Ok(Box::new(Mpi::init()?));
    }
    Ok(Box::new(Serial))
}
