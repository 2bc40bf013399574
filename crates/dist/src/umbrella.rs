//! Umbrella windows dealt over ranks, gathered and combined on rank 0, with per-window
//! checkpoints for restarting a job.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thermograd_cv::{
    run_umbrella_windows, CollectiveVariable, UmbrellaConfig, UmbrellaRun, WindowRun,
};
use thermograd_md::{PotentialSum, State};

use crate::comm::{decode, encode, gather_outcomes, round_robin, Comm};
use crate::error::{DistError, Result};

/// Runs the windows of `config` on all ranks of `comm` and returns the assembled run on
/// rank 0 (`None` on the other ranks).
///
/// Window `k` runs on rank `k mod size` (rayon parallelises a rank's windows over its
/// cores). Every window is reproducible from its index alone (state `system(k)`, seed
/// `thermostat.seed + k`), and rank 0 assembles windows in index order with
/// [`UmbrellaRun::from_windows`], so the result equals [`thermograd_cv::run_umbrella`]
/// bit for bit whatever the number of ranks. The progress bar (if enabled) shows on
/// rank 0 only, counting its own windows.
///
/// With `checkpoints = Some(dir)`, each finished window is written atomically to
/// `dir/window_<k>.ckpt` by the rank that ran it, and a rerun of the same job (same
/// config; any number of ranks when `dir` is on a shared file system, the same number
/// otherwise) reads the finished windows instead of running them again. A checkpoint
/// written for a different config is an error, not silently reused.
///
/// A failure on any rank is a failure on every rank (no rank waits for a dead one).
pub fn run_umbrella_distributed(
    comm: &dyn Comm,
    config: &UmbrellaConfig,
    cv: Arc<dyn CollectiveVariable>,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
    checkpoints: Option<&Path>,
) -> Result<Option<UmbrellaRun>> {
    let mine = round_robin(config.centers.len(), comm.rank(), comm.size());
    let local = run_share(comm, config, cv, system, checkpoints, &mine);
    let Some(pieces) = gather_outcomes(comm, 0, local)? else {
        return Ok(None);
    };
    let windows: Vec<WindowRun> = pieces.into_iter().flatten().collect();
    Ok(Some(UmbrellaRun::from_windows(config, windows)?))
}

fn run_share(
    comm: &dyn Comm,
    config: &UmbrellaConfig,
    cv: Arc<dyn CollectiveVariable>,
    system: &(dyn Fn(usize) -> thermograd_md::Result<(State, PotentialSum)> + Sync),
    checkpoints: Option<&Path>,
    mine: &[usize],
) -> Result<Vec<WindowRun>> {
    let local_config = UmbrellaConfig {
        progress: config.progress && comm.is_root(),
        ..config.clone()
    };
    let Some(dir) = checkpoints else {
        return Ok(run_umbrella_windows(&local_config, cv, system, mine)?);
    };
    fs::create_dir_all(dir).map_err(|source| DistError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let fingerprint = fingerprint(config);
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for &k in mine {
        match read_window(dir, k, fingerprint)? {
            Some(window) => done.push(window),
            None => todo.push(k),
        }
    }
    // Windows run in batches of about one per core, so that a killed job loses at most
    // one batch while a rank's cores stay busy.
    let batch = std::thread::available_parallelism().map_or(1, |n| n.get());
    for chunk in todo.chunks(batch) {
        for window in run_umbrella_windows(&local_config, cv.clone(), system, chunk)? {
            write_window(dir, &window, fingerprint)?;
            done.push(window);
        }
    }
    Ok(done)
}

const MAGIC: [u8; 8] = *b"TGUMBWIN";
const VERSION: u32 = 1;

/// On-disk form of one finished window.
#[derive(Serialize, Deserialize)]
struct WindowCheckpoint {
    magic: [u8; 8],
    version: u32,
    /// FNV-1a 64 of the encoded config the window was run with.
    config: u64,
    window: WindowRun,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Identifies the job: everything that changes a window's samples (the progress flag
/// does not).
fn fingerprint(config: &UmbrellaConfig) -> u64 {
    fnv1a(&encode(&UmbrellaConfig {
        progress: false,
        ..config.clone()
    }))
}

/// Path of window `k`'s checkpoint in `dir`.
pub fn window_checkpoint_path(dir: &Path, k: usize) -> PathBuf {
    dir.join(format!("window_{k:05}.ckpt"))
}

fn read_window(dir: &Path, k: usize, fingerprint: u64) -> Result<Option<WindowRun>> {
    let path = window_checkpoint_path(dir, k);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DistError::Io { path, source }),
    };
    let bad = |reason: String| DistError::Checkpoint {
        path: path.clone(),
        reason,
    };
    let (body, sum) = bytes
        .split_last_chunk::<8>()
        .ok_or_else(|| bad("truncated".into()))?;
    if fnv1a(body) != u64::from_le_bytes(*sum) {
        return Err(bad("checksum mismatch (corrupted or truncated)".into()));
    }
    let checkpoint: WindowCheckpoint =
        decode("window checkpoint", 0, body).map_err(|e| bad(e.to_string()))?;
    if checkpoint.magic != MAGIC || checkpoint.version != VERSION {
        return Err(bad("not a thermograd umbrella window checkpoint".into()));
    }
    if checkpoint.config != fingerprint {
        return Err(bad(
            "written by a job with a different umbrella config; remove it or use another \
             checkpoint directory"
                .into(),
        ));
    }
    if checkpoint.window.index != k {
        return Err(bad(format!("holds window {}", checkpoint.window.index)));
    }
    Ok(Some(checkpoint.window))
}

fn write_window(dir: &Path, window: &WindowRun, fingerprint: u64) -> Result<()> {
    let path = window_checkpoint_path(dir, window.index);
    let mut bytes = encode(&WindowCheckpoint {
        magic: MAGIC,
        version: VERSION,
        config: fingerprint,
        window: window.clone(),
    });
    let sum = fnv1a(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, &bytes).map_err(|source| DistError::Io {
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, &path).map_err(|source| DistError::Io { path, source })
}
