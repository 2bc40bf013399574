//! Training checkpoints (atomic, self-identifying files) and metric logs (CSV or JSON
//! lines).

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Result, TrainError};
use crate::fsutil::{io_error, read_bytes, write_atomic};

const MAGIC: [u8; 8] = *b"TGTRCKPT";
const VERSION: u32 = 1;

fn corrupt(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Writes `state` as a checkpoint of kind `kind` (e.g. `"force-matching"`) atomically:
/// magic bytes, format version, kind, then the bincode encoding of `state`.
pub fn save_checkpoint<T: Serialize>(path: impl AsRef<Path>, kind: &str, state: &T) -> Result<()> {
    let path = path.as_ref();
    let body = bincode::serialize(&(kind, state))
        .map_err(|e| io_error(path, std::io::Error::other(e.to_string())))?;
    write_atomic(path, |out| {
        out.write_all(&MAGIC)
            .and_then(|_| out.write_all(&VERSION.to_le_bytes()))
            .and_then(|_| out.write_all(&body))
            .map_err(|e| io_error(path, e))
    })
}

/// Reads a checkpoint written by [`save_checkpoint`] with the same `kind`; a file of
/// another kind, version or a damaged file is [`TrainError::Checkpoint`].
pub fn load_checkpoint<T: DeserializeOwned>(path: impl AsRef<Path>, kind: &str) -> Result<T> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    if bytes.len() < 12 || bytes[..8] != MAGIC {
        return Err(corrupt(path, "not a thermograd training checkpoint"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(
            path,
            format!("format version {version}, expected {VERSION}"),
        ));
    }
    let (found, state): (String, T) =
        bincode::deserialize(&bytes[12..]).map_err(|e| corrupt(path, e.to_string()))?;
    if found != kind {
        return Err(corrupt(
            path,
            format!("written by a `{found}` trainer, read by a `{kind}` trainer"),
        ));
    }
    Ok(state)
}

/// Writes records (one per epoch or update) atomically, as CSV if the file name ends in
/// `.csv` (a header from the first record's field names), otherwise as JSON lines. The
/// whole history is rewritten each time, so a resumed run never duplicates rows.
pub fn write_metrics<T: Serialize>(path: impl AsRef<Path>, records: &[T]) -> Result<()> {
    let path = path.as_ref();
    let values = records
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| io_error(path, std::io::Error::other(e))))
        .collect::<Result<Vec<_>>>()?;
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut text = String::new();
    if csv {
        let keys: Vec<String> = match values.first() {
            Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        text.push_str(&keys.join(","));
        text.push('\n');
        for v in &values {
            let row: Vec<String> = keys
                .iter()
                .map(|k| match v.get(k) {
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(x) => x.to_string(),
                })
                .collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
    } else {
        for v in &values {
            text.push_str(&v.to_string());
            text.push('\n');
        }
    }
    write_atomic(path, |out| {
        out.write_all(text.as_bytes())
            .map_err(|e| io_error(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        epoch: usize,
        loss: f64,
        note: Option<f64>,
    }

    #[test]
    fn checkpoints_round_trip_and_check_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        let s = S {
            epoch: 3,
            loss: 0.1 + 0.2,
            note: None,
        };
        save_checkpoint(&path, "fm", &s).unwrap();
        assert_eq!(load_checkpoint::<S>(&path, "fm").unwrap(), s);
        assert!(matches!(
            load_checkpoint::<S>(&path, "difftre"),
            Err(TrainError::Checkpoint { .. })
        ));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(load_checkpoint::<S>(&path, "fm").is_err());
        std::fs::write(&path, b"garbage").unwrap();
        assert!(load_checkpoint::<S>(&path, "fm").is_err());

        let m = dir.path().join("m.csv");
        write_metrics(
            &m,
            &[
                s,
                S {
                    epoch: 4,
                    loss: 2.0,
                    note: Some(1.5),
                },
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&m).unwrap();
        assert_eq!(text, "epoch,loss,note\n3,0.30000000000000004,\n4,2.0,1.5\n");
        let j = dir.path().join("m.jsonl");
        write_metrics(
            &j,
            &[S {
                epoch: 1,
                loss: 1.0,
                note: None,
            }],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&j).unwrap(),
            "{\"epoch\":1,\"loss\":1.0,\"note\":null}\n"
        );
    }
}
