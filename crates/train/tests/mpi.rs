//! Run under `mpirun -np N` (`.ci/mpi` does, with N = 2): multi-state-point DiffTRe with
//! the state points dealt over the ranks must give the parameters, losses and
//! per-state reports of the single-process run computed in the same process, up to the
//! order in which the ranks' partial gradient sums are added (relative 1e-12), and a
//! job resumed from its per-rank checkpoints must reproduce the uninterrupted job; the
//! same equality for multi-state-point relative entropy.
//! Started without a launcher it runs as a world of one. Its own `main` (no libtest
//! threads): MPI is initialised once and every rank must make the same collective
//! calls in the same order. A failed check panics, and mpirun then stops the job with a
//! non-zero exit status.

mod common;
mod re_statepoints;
mod statepoints;

use re_statepoints::{re_multi_config, re_points};
use statepoints::{multi_config, spline, state_point};
use thermograd_dist::{broadcast_value, Comm, Mpi, Serial};
use thermograd_nn::Trainable;
use thermograd_train::{
    rank_checkpoint_path, MultiStateDiffTRe, MultiStateDiffTReConfig, MultiStateRelativeEntropy,
    SplinePair, StatePoint,
};

fn points(n: usize) -> Vec<StatePoint> {
    (0..n).map(state_point).collect()
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * scale,
            "{what}[{k}]: {x} vs {y} (relative to the largest {:e})",
            (x - y).abs() / scale
        );
    }
}

/// Losses of every update and every state point's loss and ESS fraction.
fn curves(t: &MultiStateDiffTRe<'_, SplinePair>) -> Vec<f64> {
    let mut out: Vec<f64> = t.history().iter().map(|u| u.loss).collect();
    for reports in t.reports() {
        for r in reports {
            out.push(r.loss);
            out.push(r.ess_fraction);
            out.extend(&r.target_losses);
        }
    }
    out
}

fn run<'c>(
    comm: &'c dyn Comm,
    config: &MultiStateDiffTReConfig,
) -> MultiStateDiffTRe<'c, SplinePair> {
    let mut t = config
        .build(comm, spline(), points(config.states.len()))
        .unwrap();
    t.train().unwrap();
    t
}

/// `n` state points, resampling whenever the ESS fraction drops below `threshold`.
fn equals_serial(comm: &Mpi, n: usize, updates: usize, threshold: f64) {
    let config = multi_config(n, updates, 12, threshold, None);
    let distributed = run(comm, &config);
    let serial = run(&Serial, &config);
    let owned = distributed.owned();
    assert_eq!(
        owned,
        (comm.rank()..n).step_by(comm.size()).collect::<Vec<_>>()
    );
    assert_close(
        "parameters",
        &distributed.model().parameters(),
        &serial.model().parameters(),
    );
    assert_close("losses", &curves(&distributed), &curves(&serial));
    for u in 0..updates {
        let (d, s) = (&distributed.reports()[u], &serial.reports()[u]);
        for (a, b) in d.iter().zip(s) {
            assert_eq!(a.resampled, b.resampled, "update {u}");
            assert_eq!(a.simulations, b.simulations, "update {u}");
        }
    }
    for s in 0..n {
        assert_eq!(
            distributed.free_energy_steps(s).is_some(),
            owned.contains(&s)
        );
    }
    // Every rank took the same steps.
    let root_parameters = broadcast_value(
        comm,
        0,
        comm.is_root()
            .then(|| distributed.model().parameters())
            .as_ref(),
    )
    .unwrap();
    assert_eq!(root_parameters, distributed.model().parameters());
}

fn resume(comm: &Mpi) {
    // One directory shared by all ranks (one machine), made by the root.
    let dir = comm.is_root().then(|| tempfile::TempDir::new().unwrap());
    let path = dir
        .as_ref()
        .map(|d| d.path().join("multi.ckpt").to_string_lossy().into_owned());
    let path = std::path::PathBuf::from(broadcast_value(comm, 0, path.as_ref()).unwrap());
    let full = run(comm, &multi_config(3, 3, 8, 1.0, None));
    let with_checkpoint = multi_config(3, 3, 8, 1.0, Some(path.clone()));
    let mut first = with_checkpoint.build(comm, spline(), points(3)).unwrap();
    first.update().unwrap();
    drop(first);
    assert!(rank_checkpoint_path(&path, comm.rank()).exists());
    let mut second = with_checkpoint.build(comm, spline(), points(3)).unwrap();
    second.resume(&path).unwrap();
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    assert_eq!(curves(&second), curves(&full));
    for s in second.owned() {
        assert_eq!(second.free_energy_steps(s), full.free_energy_steps(s));
    }
    comm.barrier();
    drop(dir);
}

/// Losses of every update and every state point's loss, ESS fraction and free energy.
fn re_curves(t: &MultiStateRelativeEntropy<'_, SplinePair>) -> Vec<f64> {
    let mut out: Vec<f64> = t.history().iter().map(|u| u.loss).collect();
    for reports in t.reports() {
        for r in reports {
            out.extend([r.loss, r.ess_fraction, r.free_energy]);
        }
    }
    out
}

fn re_run(
    comm: &dyn Comm,
    n: usize,
    updates: usize,
    threshold: f64,
) -> MultiStateRelativeEntropy<'_, SplinePair> {
    let mut t = re_multi_config(n, updates, 12, threshold, None)
        .build(comm, spline(), re_points(n))
        .unwrap();
    t.train().unwrap();
    t
}

/// Multi-state relative entropy over `n` state points on the ranks of `comm` equals
/// the single-process run.
fn re_equals_serial(comm: &Mpi, n: usize, updates: usize, threshold: f64) {
    let distributed = re_run(comm, n, updates, threshold);
    let serial = re_run(&Serial, n, updates, threshold);
    assert_eq!(
        distributed.owned(),
        (comm.rank()..n).step_by(comm.size()).collect::<Vec<_>>()
    );
    assert_close(
        "relative entropy: parameters",
        &distributed.model().parameters(),
        &serial.model().parameters(),
    );
    assert_close(
        "relative entropy: losses",
        &re_curves(&distributed),
        &re_curves(&serial),
    );
    for u in 0..updates {
        let (d, s) = (&distributed.reports()[u], &serial.reports()[u]);
        for (a, b) in d.iter().zip(s) {
            assert_eq!(a.resampled, b.resampled, "update {u}");
            assert_eq!(a.simulations, b.simulations, "update {u}");
        }
    }
    let root_parameters = broadcast_value(
        comm,
        0,
        comm.is_root()
            .then(|| distributed.model().parameters())
            .as_ref(),
    )
    .unwrap();
    assert_eq!(root_parameters, distributed.model().parameters());
}

fn re_resume(comm: &Mpi) {
    let dir = comm.is_root().then(|| tempfile::TempDir::new().unwrap());
    let path = dir.as_ref().map(|d| {
        d.path()
            .join("multi-re.ckpt")
            .to_string_lossy()
            .into_owned()
    });
    let path = std::path::PathBuf::from(broadcast_value(comm, 0, path.as_ref()).unwrap());
    let full = re_run(comm, 3, 3, 1.0);
    let with_checkpoint = re_multi_config(3, 3, 12, 1.0, Some(path.clone()));
    let mut first = with_checkpoint.build(comm, spline(), re_points(3)).unwrap();
    first.update().unwrap();
    drop(first);
    assert!(rank_checkpoint_path(&path, comm.rank()).exists());
    let mut second = with_checkpoint.build(comm, spline(), re_points(3)).unwrap();
    second.resume(&path).unwrap();
    second.train().unwrap();
    assert_eq!(second.model().parameters(), full.model().parameters());
    assert_eq!(re_curves(&second), re_curves(&full));
    comm.barrier();
    drop(dir);
}

fn main() {
    let comm = Mpi::init().expect("MPI initialises once");
    // One state point per rank (bit-for-bit sums), then more state points than ranks
    // (the ranks' partial sums are added in another order than one process adds them).
    equals_serial(&comm, 2, 3, 1.0);
    equals_serial(&comm, 3, 4, 0.6);
    resume(&comm);
    re_equals_serial(&comm, 2, 3, 1.0);
    re_equals_serial(&comm, 3, 4, 0.6);
    re_resume(&comm);
    comm.barrier();
    if comm.is_root() {
        println!(
            "mpi: multi-state DiffTRe and relative entropy on {} rank(s) equal the \
             single-process run; resume is exact",
            comm.size()
        );
    }
}
