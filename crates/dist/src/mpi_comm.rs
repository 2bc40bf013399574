//! The MPI communicator (feature `mpi`), over rsmpi's `MPI_COMM_WORLD`.

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use mpi::Count;

use crate::comm::{check_root, Comm};
use crate::error::{DistError, Result};

/// `MPI_COMM_WORLD` of a job started by `mpirun`/`srun` (a lone process started
/// without a launcher is a world of size 1).
///
/// MPI is initialised by [`Mpi::init`], at most once per process, with
/// `MPI_THREAD_FUNNELED`: rayon's threads compute inside a rank, and only the thread
/// that holds the `Mpi` communicates. Dropping it finalises MPI.
pub struct Mpi {
    // Field order matters: the communicator handle goes before the universe finalises.
    world: SimpleCommunicator,
    _universe: Universe,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.world.rank())
            .field("size", &self.world.size())
            .finish()
    }
}

impl Mpi {
    /// Initialises MPI; [`DistError::AlreadyInitialized`] on a second call.
    pub fn init() -> Result<Mpi> {
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or(DistError::AlreadyInitialized)?;
        let world = universe.world();
        Ok(Mpi {
            world,
            _universe: universe,
        })
    }

    /// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`,
    /// `srun`), judged from the environment variables that OpenMPI, MPICH/Hydra, PMIx
    /// and Slurm set for their processes.
    pub fn launched() -> bool {
        [
            "OMPI_COMM_WORLD_SIZE",
            "PMI_SIZE",
            "PMIX_RANK",
            "MPI_LOCALNRANKS",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    }
}

fn count(len: usize) -> Result<Count> {
    Count::try_from(len).map_err(|_| DistError::MessageTooLarge {
        bytes: len,
        max: Count::MAX as usize,
    })
}

impl Comm for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn broadcast_bytes(&self, root: usize, bytes: &mut Vec<u8>) -> Result<()> {
        check_root(root, self.size())?;
        let process = self.world.process_at_rank(root as i32);
        // u64::MAX tells every rank that the root's message is too large for MPI, so
        // that all of them return the error instead of waiting for the bytes.
        let too_large = count(bytes.len()).err();
        let mut len = if too_large.is_some() {
            u64::MAX
        } else {
            bytes.len() as u64
        };
        process.broadcast_into(&mut len);
        if let Some(e) = too_large {
            return Err(e);
        }
        if len == u64::MAX {
            return Err(DistError::RemoteFailure {
                rank: root,
                message: "its broadcast exceeds MPI's count limit".into(),
            });
        }
        bytes.resize(len as usize, 0);
        process.broadcast_into(&mut bytes[..]);
        Ok(())
    }

    fn gather_bytes(&self, root: usize, bytes: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        check_root(root, self.size())?;
        let process = self.world.process_at_rank(root as i32);
        // Too-large messages still take part (as empty) so that no rank is left waiting.
        let (mine, too_large) = match count(bytes.len()) {
            Ok(n) => (n, None),
            Err(e) => (-1, Some(e)),
        };
        let sent: &[u8] = if too_large.is_some() { &[] } else { bytes };
        if self.rank() != root {
            process.gather_into(&mine);
            process.gather_varcount_into(sent);
            return too_large.map_or(Ok(None), Err);
        }
        let mut counts: Vec<Count> = vec![0; self.size()];
        process.gather_into_root(&mine, &mut counts[..]);
        let failed = counts.iter().position(|&c| c < 0);
        let counts: Vec<Count> = counts.iter().map(|&c| c.max(0)).collect();
        let mut displs: Vec<Count> = Vec::with_capacity(counts.len());
        let mut total: usize = 0;
        for &c in &counts {
            displs.push(count(total)?);
            total += c as usize;
        }
        let mut buffer = vec![0_u8; total];
        {
            let mut partition = PartitionMut::new(&mut buffer[..], &counts[..], &displs[..]);
            process.gather_varcount_into_root(sent, &mut partition);
        }
        if let Some(e) = too_large {
            return Err(e);
        }
        if let Some(rank) = failed {
            return Err(DistError::RemoteFailure {
                rank,
                message: "its message exceeds MPI's count limit".into(),
            });
        }
        Ok(Some(
            counts
                .iter()
                .zip(&displs)
                .map(|(&c, &d)| buffer[d as usize..(d + c) as usize].to_vec())
                .collect(),
        ))
    }

    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()> {
        count(values.len())?;
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }
}
