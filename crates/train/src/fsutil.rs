//! Atomic file writes shared by datasets, checkpoints and metrics.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// `path` + `.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file atomically: `fill` writes into `path.tmp`, which is flushed, synced and
/// renamed over `path`, so an interrupted run never leaves a half-written file.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = tmp_path(path);
    let file = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    let mut writer = BufWriter::new(file);
    fill(&mut writer)?;
    writer.flush().map_err(|e| io_error(&tmp, e))?;
    writer.get_ref().sync_all().map_err(|e| io_error(&tmp, e))?;
    drop(writer);
    fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

/// Reads a whole file.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error(path, e))
}
