//! One module per subcommand.

pub mod cell;
pub mod demo;
pub mod estimate;
pub mod fes;
pub mod lj;
pub mod metad;
pub(crate) mod system;
pub mod train;
pub mod train_cv;
pub mod train_ensemble;
pub mod umbrella;

use std::path::Path;

use anyhow::Context;

/// Writes `text` to `path` through a temporary file next to it and a rename, so an
/// interrupted run never leaves a half-written output behind.
pub(crate) fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
