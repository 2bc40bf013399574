//! Parameter files: a header (magic, format version, architecture, precision,
//! normalization) and the flat parameter vector, bincode-encoded with a checksum.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `TGRDNN\r\n` |
//! | 4 | format version (`u32`) |
//! | 8 + h | header length (`u64`) and bincode [`FileHeader`] |
//! | 8 + p | payload length (`u64`) and bincode `Vec<f64>` of parameters |
//! | 8 | FNV-1a 64 checksum of the header and payload bytes |
//!
//! The payload is always `f64` numbers; a file of precision [`Dtype::F32`] holds values
//! that are exactly `f32` numbers (checked on load), so an `f32` model round-trips bit
//! for bit. A file that is truncated, corrupted, of another format version, of another
//! kind of model or architecture, or of a precision the model does not support (SchNet
//! is `f64` only) is an error, never a panic; `load_expecting` functions also reject a
//! file of another precision than the caller asked for ([`NnError::WrongDtype`]).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{NnError, Result};

/// First bytes of every thermograd model file (the `\r\n` catches text-mode mangling).
pub const MAGIC: &[u8; 8] = b"TGRDNN\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Floating-point precision of a model: the element type its networks compute in and
/// of its stored parameters ([`crate::Mlp::with_precision`]). `F64` is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dtype {
    /// 64-bit IEEE 754.
    #[default]
    F64,
    /// 32-bit IEEE 754.
    F32,
}

impl Dtype {
    /// `x` rounded to the nearest value of this precision (round to nearest even), as
    /// `f64`. Values beyond the `f32` range become infinite.
    pub(crate) fn round(self, x: f64) -> f64 {
        match self {
            Dtype::F64 => x,
            Dtype::F32 => x as f32 as f64,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dtype::F64 => "f64",
            Dtype::F32 => "f32",
        })
    }
}

/// The self-description at the start of a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileHeader {
    /// Which model (`"mlp"`, `"behler_parrinello"`, `"cv_surrogate"`, `"committee"`).
    pub kind: String,
    /// The architecture, serialized by the model (bincode of its config).
    pub architecture: Vec<u8>,
    /// A human-readable summary of the architecture, for error messages.
    pub summary: String,
    /// Precision of the parameters.
    pub dtype: Dtype,
    /// Normalizations of the model's networks (bincode), in model order.
    pub normalization: Vec<u8>,
    /// Number of parameters in the payload.
    pub n_parameters: u64,
}

fn fnv1a(chunks: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in chunks {
        for &b in *chunk {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn corrupt(reason: impl Into<String>) -> NnError {
    NnError::CorruptFile {
        reason: reason.into(),
    }
}

pub(crate) fn encode_bincode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| corrupt(format!("cannot encode: {e}")))
}

pub(crate) fn decode_bincode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| corrupt(format!("cannot decode the {what}: {e}")))
}

/// Encodes a model file in memory.
pub fn encode(header: &FileHeader, parameters: &[f64]) -> Result<Vec<u8>> {
    let h = encode_bincode(header)?;
    let p = encode_bincode(&parameters)?;
    let mut out = Vec::with_capacity(8 + 4 + 16 + h.len() + p.len() + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&(p.len() as u64).to_le_bytes());
    out.extend_from_slice(&p);
    out.extend_from_slice(&fnv1a(&[&h, &p]).to_le_bytes());
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| corrupt(format!("truncated in the {what}")))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Decodes a model file from memory, checking magic, version, lengths and checksum.
pub fn decode(bytes: &[u8]) -> Result<(FileHeader, Vec<f64>)> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8, "magic").ok() != Some(&MAGIC[..]) {
        return Err(corrupt("not a thermograd model file (bad magic)"));
    }
    let version = u32::from_le_bytes(r.take(4, "version")?.try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(NnError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let hl = r.u64("header length")?;
    let h = r.take(
        usize::try_from(hl).map_err(|_| corrupt("header too long"))?,
        "header",
    )?;
    let pl = r.u64("payload length")?;
    let p = r.take(
        usize::try_from(pl).map_err(|_| corrupt("payload too long"))?,
        "parameters",
    )?;
    let sum = r.u64("checksum")?;
    if r.at != bytes.len() {
        return Err(corrupt(format!(
            "{} trailing bytes after the checksum",
            bytes.len() - r.at
        )));
    }
    if sum != fnv1a(&[h, p]) {
        return Err(corrupt("checksum mismatch"));
    }
    let header: FileHeader = decode_bincode(h, "header")?;
    let parameters: Vec<f64> = decode_bincode(p, "parameters")?;
    if parameters.len() as u64 != header.n_parameters {
        return Err(corrupt(format!(
            "header announces {} parameters, payload holds {}",
            header.n_parameters,
            parameters.len()
        )));
    }
    if !parameters.iter().all(|v| v.is_finite()) {
        return Err(corrupt("non-finite parameter"));
    }
    Ok((header, parameters))
}

/// Writes a model file atomically (temporary file in the same directory, then rename).
pub fn write(path: &Path, header: &FileHeader, parameters: &[f64]) -> Result<()> {
    let bytes = encode(header, parameters)?;
    let io = |source| NnError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads and decodes a model file; errors name the file ([`NnError::File`]).
pub fn read(path: &Path) -> Result<(FileHeader, Vec<f64>)> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes).map_err(|e| e.in_file(path))
}

/// Checks kind and precision of a decoded header, for a model that is `f64` only.
pub(crate) fn expect_kind(header: &FileHeader, kind: &str) -> Result<()> {
    if header.dtype != Dtype::F64 {
        return Err(NnError::WrongDtype {
            expected: Dtype::F64.to_string(),
            found: header.dtype.to_string(),
        });
    }
    if header.kind != kind {
        return Err(NnError::WrongArchitecture {
            expected: kind.to_string(),
            found: format!("{} ({})", header.kind, header.summary),
        });
    }
    Ok(())
}

/// Checks the kind of a decoded header, for a model of either precision, and that the
/// parameters of an `f32` file are `f32` values; returns the file's precision.
pub(crate) fn expect_kind_any_precision(
    header: &FileHeader,
    parameters: &[f64],
    kind: &str,
) -> Result<Dtype> {
    if header.kind != kind {
        return Err(NnError::WrongArchitecture {
            expected: kind.to_string(),
            found: format!("{} ({})", header.kind, header.summary),
        });
    }
    if let Some(k) = parameters.iter().position(|&v| header.dtype.round(v) != v) {
        return Err(corrupt(format!(
            "parameter {k} ({}) of an {} file is not an {} value",
            parameters[k], header.dtype, header.dtype
        )));
    }
    Ok(header.dtype)
}

/// Reads a model from `path` after checking that the file's precision is `dtype`
/// ([`NnError::WrongDtype`] otherwise, checked before anything else of the model, so a
/// caller expecting `f64` learns that the file is `f32` rather than that its
/// parameters do not fit). Errors name the file.
pub(crate) fn load_with_precision<M: ModelFile>(path: &Path, dtype: Dtype) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (header, _) = decode(&bytes).map_err(|e| e.in_file(path))?;
    if header.dtype != dtype {
        return Err(NnError::WrongDtype {
            expected: dtype.to_string(),
            found: header.dtype.to_string(),
        }
        .in_file(path));
    }
    M::from_bytes(&bytes).map_err(|e| e.in_file(path))
}

/// A model that can be stored in a parameter file.
///
/// Implemented by [`crate::Mlp`], [`crate::BehlerParrinello`] and
/// [`crate::CvSurrogate`]; an implementation encodes its architecture and normalization
/// into a [`FileHeader`] and its parameters with [`encode`], and checks them back with
/// [`decode`]. Round trips are bit for bit:
///
/// ```
/// use thermograd_nn::{Activation, Mlp, MlpConfig, ModelFile, NnError};
///
/// let mlp = MlpConfig { inputs: 3, hidden: vec![4], outputs: 1, activation: Activation::Tanh }
///     .build(1)?;
/// let bytes = mlp.to_bytes()?;
/// assert_eq!(Mlp::from_bytes(&bytes)?, mlp);
/// assert!(matches!(Mlp::from_bytes(&bytes[..20]), Err(NnError::CorruptFile { .. })));
/// # Ok::<(), NnError>(())
/// ```
pub trait ModelFile: Sized {
    /// Encodes the model (header and parameters) in memory.
    fn to_bytes(&self) -> Result<Vec<u8>>;
    /// Decodes a model in the precision the file holds; a wrong kind or architecture,
    /// a precision the model does not support, or a damaged file is an error.
    fn from_bytes(bytes: &[u8]) -> Result<Self>;
    /// Writes the model to `path` atomically.
    fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let (header, parameters) = decode(&bytes)?;
        write(path, &header, &parameters)
    }
    /// Reads a model from `path`. Errors name the file: a damaged file or one of another
    /// kind is an [`NnError::File`] around the error [`ModelFile::from_bytes`] gives
    /// (see [`NnError::cause`]).
    fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| NnError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|e| e.in_file(path))
    }
}
