//! The communicator abstraction: ranks, barrier, broadcast, gather and sum-reduction,
//! with a single-process implementation ([`Serial`]) that is always available.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DistError, Result};

/// A group of cooperating processes ("ranks") that run the same program, numbered
/// `0..size()`; rank 0 is the root that assembles results and writes output.
///
/// Every method is collective: all ranks of the group must call it, in the same order,
/// with the same `root` and (for [`Comm::all_reduce_sum`]) the same slice length, or
/// the job deadlocks. Messages are bytes; [`broadcast_value`] and [`gather_values`]
/// carry any serde type over them (bincode).
///
/// Two implementations exist: [`Serial`] (one process, always compiled) and
/// `Mpi` (feature `mpi`). A tiny implementation, equivalent to [`Serial`]:
///
/// ```
/// use thermograd_dist::{Comm, Result};
///
/// #[derive(Debug)]
/// struct Alone;
///
/// impl Comm for Alone {
///     fn rank(&self) -> usize { 0 }
///     fn size(&self) -> usize { 1 }
///     fn barrier(&self) {}
///     fn broadcast_bytes(&self, _root: usize, _bytes: &mut Vec<u8>) -> Result<()> { Ok(()) }
///     fn gather_bytes(&self, _root: usize, bytes: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
///         Ok(Some(vec![bytes.to_vec()]))
///     }
///     fn all_reduce_sum(&self, _values: &mut [f64]) -> Result<()> { Ok(()) }
/// }
///
/// let gathered = thermograd_dist::gather_values(&Alone, 0, &vec![1.5, 2.5])?;
/// assert_eq!(gathered, Some(vec![vec![1.5, 2.5]]));
/// # Ok::<(), thermograd_dist::DistError>(())
/// ```
pub trait Comm: std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Waits until every rank has called it.
    fn barrier(&self);

    /// Replaces `bytes` on every rank by the root's `bytes`.
    fn broadcast_bytes(&self, root: usize, bytes: &mut Vec<u8>) -> Result<()>;

    /// Collects every rank's `bytes` on `root`, in rank order: `Some(messages)` on the
    /// root, `None` elsewhere. Messages may differ in length.
    fn gather_bytes(&self, root: usize, bytes: &[u8]) -> Result<Option<Vec<Vec<u8>>>>;

    /// Element-wise sum over ranks, left in `values` on every rank. The order in which
    /// ranks' contributions are added is up to the implementation, so the result equals
    /// a single-process sum up to floating-point rounding (bit for bit when at most one
    /// rank contributes a non-zero to each element).
    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()>;

    /// Whether this is rank 0.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// The single-process communicator: rank 0 of 1; every collective is a copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Serial;

impl Comm for Serial {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn barrier(&self) {}
    fn broadcast_bytes(&self, root: usize, _bytes: &mut Vec<u8>) -> Result<()> {
        check_root(root, 1)
    }
    fn gather_bytes(&self, root: usize, bytes: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        check_root(root, 1)?;
        Ok(Some(vec![bytes.to_vec()]))
    }
    fn all_reduce_sum(&self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

pub(crate) fn check_root(root: usize, size: usize) -> Result<()> {
    if root < size {
        Ok(())
    } else {
        Err(DistError::InvalidConfig {
            name: "root rank",
            reason: format!("{root} is not below the number of ranks {size}"),
        })
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("in-memory serialization of plain data cannot fail")
}

pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    rank: usize,
    bytes: &[u8],
) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| DistError::Decode {
        what,
        rank,
        reason: e.to_string(),
    })
}

/// The root's `value` on every rank (`value` is ignored on other ranks; pass it or
/// `None` there).
pub fn broadcast_value<T: Serialize + DeserializeOwned>(
    comm: &dyn Comm,
    root: usize,
    value: Option<&T>,
) -> Result<T> {
    let mut bytes = if comm.rank() == root {
        encode(&value.ok_or_else(|| DistError::InvalidConfig {
            name: "broadcast value",
            reason: "the root must provide the value".into(),
        })?)
    } else {
        Vec::new()
    };
    comm.broadcast_bytes(root, &mut bytes)?;
    decode("broadcast value", root, &bytes)
}

/// Every rank's `value` on `root`, in rank order: `Some(values)` on the root, `None`
/// elsewhere.
pub fn gather_values<T: Serialize + DeserializeOwned>(
    comm: &dyn Comm,
    root: usize,
    value: &T,
) -> Result<Option<Vec<T>>> {
    let Some(messages) = comm.gather_bytes(root, &encode(value))? else {
        return Ok(None);
    };
    messages
        .iter()
        .enumerate()
        .map(|(rank, bytes)| decode("gathered value", rank, bytes))
        .collect::<Result<Vec<T>>>()
        .map(Some)
}

/// Gathers every rank's outcome of its share of a job on `root`, and makes a failure
/// anywhere a failure everywhere (so that no rank waits forever for a failed one).
///
/// Returns `Some(values)` in rank order on the root and `None` elsewhere when every
/// rank succeeded. When some rank failed, that rank gets its own error back and every
/// other rank gets [`DistError::RemoteFailure`] naming the lowest failed rank.
pub fn gather_outcomes<T: Serialize + DeserializeOwned>(
    comm: &dyn Comm,
    root: usize,
    local: Result<T>,
) -> Result<Option<Vec<T>>> {
    let message: std::result::Result<&T, String> = match &local {
        Ok(value) => Ok(value),
        Err(e) => Err(e.to_string()),
    };
    let gathered = comm.gather_bytes(root, &encode(&message));
    // The root decides and tells everyone whether the job as a whole failed; errors of
    // the gather itself are folded in, so that every rank reaches the broadcast.
    let mut values = Vec::new();
    let mut failure: Option<(usize, String)> = None;
    let mut comm_error = None;
    match gathered {
        Ok(Some(messages)) => {
            for (rank, bytes) in messages.iter().enumerate() {
                match decode::<std::result::Result<T, String>>("gathered outcome", rank, bytes) {
                    Ok(Ok(v)) => values.push(v),
                    Ok(Err(message)) => {
                        failure.get_or_insert((rank, message));
                    }
                    Err(e) => {
                        failure.get_or_insert((rank, e.to_string()));
                    }
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            if comm.rank() == root {
                failure.get_or_insert((root, e.to_string()));
            }
            comm_error = Some(e);
        }
    }
    let failure: Option<(usize, String)> = broadcast_value(comm, root, Some(&failure))?;
    local?;
    if let Some(e) = comm_error {
        return Err(e);
    }
    match failure {
        Some((rank, message)) => Err(DistError::RemoteFailure { rank, message }),
        None => Ok((comm.rank() == root).then_some(values)),
    }
}

/// The indices `0..n` that rank `rank` of `size` owns when work is dealt round robin
/// (item `i` goes to rank `i mod size`): neighbouring items, which usually cost about
/// the same, land on different ranks.
pub fn round_robin(n: usize, rank: usize, size: usize) -> Vec<usize> {
    (rank..n).step_by(size.max(1)).collect()
}

/// Sums per-item vectors of length `len` over items `0..n_items` dealt round robin over
/// the ranks, and returns the total on every rank: the reduction of gradients over
/// ensemble members or state points. `item(i)` is called only on the rank that owns
/// `i`; each rank adds its items in index order, then [`Comm::all_reduce_sum`] adds the
/// ranks' partial sums, so the total equals the single-process sum up to rounding.
///
/// A failure of `item` on any rank is a failure on every rank (the failing rank gets
/// its own error, the others [`DistError::RemoteFailure`]).
pub fn sum_over_items(
    comm: &dyn Comm,
    n_items: usize,
    len: usize,
    item: &mut dyn FnMut(usize) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let rank = comm.rank();
    let mut total = vec![0.0; len];
    let mut local = Ok(());
    for i in round_robin(n_items, rank, comm.size()) {
        match item(i) {
            Ok(v) if v.len() == len => {
                for (t, x) in total.iter_mut().zip(&v) {
                    *t += x;
                }
            }
            Ok(v) => {
                local = Err(DistError::LengthMismatch {
                    what: "item vector",
                    rank,
                    expected: len,
                    got: v.len(),
                });
                break;
            }
            Err(e) => {
                // Not returned here: the other ranks are waiting in the reduction.
                local = Err(e);
                break;
            }
        }
    }
    let local = local.map(|()| total);
    all_reduce_outcome(comm, len, local)
}

/// [`Comm::all_reduce_sum`] of each rank's `local` vector (length `len`), where a rank
/// whose work failed brings its error instead: then every rank fails (the failing one
/// with its own error, the others with [`DistError::RemoteFailure`]) instead of waiting.
pub fn all_reduce_outcome(
    comm: &dyn Comm,
    len: usize,
    local: Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let (rank, size) = (comm.rank(), comm.size());
    // `size` failure flags ride along with the sum, so failures cost no extra message.
    let mut buffer = vec![0.0; len + size];
    let local = local.and_then(|v| {
        if v.len() == len {
            Ok(v)
        } else {
            Err(DistError::LengthMismatch {
                what: "reduced vector",
                rank,
                expected: len,
                got: v.len(),
            })
        }
    });
    match &local {
        Ok(v) => buffer[..len].copy_from_slice(v),
        Err(_) => buffer[len + rank] = 1.0,
    }
    comm.all_reduce_sum(&mut buffer)?;
    local?;
    if let Some(failed) = buffer[len..].iter().position(|&flag| flag != 0.0) {
        return Err(DistError::RemoteFailure {
            rank: failed,
            message: "its share of the work failed (see that rank's error)".into(),
        });
    }
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_deals_every_index_once() {
        let mut all: Vec<usize> = (0..3).flat_map(|r| round_robin(10, r, 3)).collect();
        assert_eq!(round_robin(10, 1, 3), vec![1, 4, 7]);
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(round_robin(2, 3, 4).is_empty());
    }

    #[test]
    fn serial_collectives_are_copies() {
        let comm = Serial;
        assert_eq!(
            broadcast_value(&comm, 0, Some(&(3_u32, "x".to_string()))).unwrap(),
            (3, "x".to_string())
        );
        assert_eq!(
            gather_values(&comm, 0, &[1.0_f64, 2.0]).unwrap(),
            Some(vec![[1.0, 2.0]])
        );
        assert!(comm.gather_bytes(1, &[]).is_err());
        assert!(broadcast_value::<u8>(&comm, 0, None).is_err());
    }

    #[test]
    fn sum_over_items_adds_every_item_once() {
        let total = sum_over_items(&Serial, 5, 2, &mut |i| Ok(vec![i as f64, 1.0])).unwrap();
        assert_eq!(total, vec![10.0, 5.0]);
    }

    #[test]
    fn failures_are_reported_not_swallowed() {
        let wrong_len = sum_over_items(&Serial, 3, 2, &mut |_| Ok(vec![1.0]));
        assert!(matches!(
            wrong_len,
            Err(DistError::LengthMismatch { got: 1, .. })
        ));
        let failed = gather_outcomes::<u8>(
            &Serial,
            0,
            Err(DistError::InvalidConfig {
                name: "x",
                reason: "bad".into(),
            }),
        );
        assert!(matches!(
            failed,
            Err(DistError::InvalidConfig { name: "x", .. })
        ));
        assert_eq!(
            gather_outcomes(&Serial, 0, Ok(4_u8)).unwrap(),
            Some(vec![4])
        );
    }
}
