//! Reading and writing datasets: extended XYZ (ASE conventions) and NumPy `.npy`/`.npz`
//! (the arrays chemtrain users have), with unit conversion at the boundary.
//!
//! **Extended XYZ.** Frames are parsed by [`thermograd_md::parse_extxyz`] (species,
//! positions, `Lattice`, `forces`, `energy`); on top of it this module reads a virial
//! from the comment line's `virial="…"` key (9 numbers, row-major, ASE's sign: positive
//! for repulsion) or, failing that, from `stress="…"` (9 numbers, or 6 in Voigt order
//! xx yy zz yz xz xy) as `W = −V σ`, and writes `virial="…"` back.
//!
//! **NumPy.** An `.npz` archive (stored or deflated, as `np.savez` and
//! `np.savez_compressed` write them) holds one array per quantity, named by
//! [`NpzKeys`] (chemtrain's `R`, `F`, `U` by default; the long names `positions`,
//! `forces`, `energy` are accepted too):
//!
//! | key | shape | meaning |
//! |---|---|---|
//! | `R` | (D, N, 3) | positions |
//! | `F` | (D, N, 3) | forces (optional) |
//! | `U` | (D,) | energies (optional) |
//! | `virial` | (D, 3, 3) | virials (optional) |
//! | `box` | (3,), (3, 3), (D, 3) or (D, 3, 3) | box lengths, or lattice vectors as **rows** (ASE's `cell`); absent: open boundaries |
//! | `species` | (N,) or (D, N) | integer species (absent: all 0) |
//!
//! Floating-point arrays may be `f4` or `f8`, integer arrays any width, either byte order
//! and either memory order.

use std::collections::BTreeMap;
use std::io::{BufRead, Cursor, Read, Seek, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_md::{parse_extxyz, ExtxyzWriter, Frame as XyzFrame, SpeciesTable};

use crate::data::{Dataset, Structure};
use crate::error::{Result, TrainError};
use crate::fsutil::{io_error, read_bytes, write_atomic};
use crate::units::UnitConversion;

fn format_error(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Extended XYZ

/// Reads every frame of an extended XYZ file; values are converted with `units` (file →
/// internal). Errors name the file and the line.
pub fn read_extxyz(path: impl AsRef<Path>, units: &UnitConversion) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let mut species = SpeciesTable::default();
    let frames = parse_extxyz(Cursor::new(&bytes), path, &mut species)?;
    let comments = comment_lines(&bytes, path)?;
    if comments.len() != frames.len() {
        return Err(format_error(
            path,
            format!(
                "{} frames but {} comment lines",
                frames.len(),
                comments.len()
            ),
        ));
    }
    let mut structures = Vec::with_capacity(frames.len());
    for (frame, (line, comment)) in frames.into_iter().zip(comments) {
        let virial = parse_virial(&comment, &frame.simbox)
            .map_err(|reason| format_error(path, format!("line {line}: {reason}")))?;
        let mut s = Structure {
            positions: frame.positions,
            simbox: frame.simbox,
            species: frame.species,
            energy: frame.energy,
            forces: frame.forces,
            virial,
        };
        s.convert_units(units)?;
        structures.push(s);
    }
    Dataset::new(structures, species).map_err(|e| format_error(path, e.to_string()))
}

/// The (1-based line number, text) of each frame's comment line.
fn comment_lines(bytes: &[u8], path: &Path) -> Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    let mut lines = Cursor::new(bytes).lines().enumerate();
    while let Some((k, line)) = lines.next() {
        let line = line.map_err(|e| io_error(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        // parse_extxyz has validated the layout: count, comment, `n` atom lines.
        let n: usize = line
            .trim()
            .parse()
            .map_err(|_| format_error(path, format!("line {}: bad atom count", k + 1)))?;
        let (kc, comment) = lines
            .next()
            .ok_or_else(|| format_error(path, "missing comment line"))?;
        out.push((kc + 1, comment.map_err(|e| io_error(path, e))?));
        for _ in 0..n {
            lines.next();
        }
    }
    Ok(out)
}

/// `key=value` pairs of an extxyz comment line (values may be double-quoted).
fn comment_pairs(comment: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = comment.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return pairs;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    value.push(c);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key.to_ascii_lowercase(), value));
    }
}

fn parse_numbers(text: &str, what: &str) -> std::result::Result<Vec<f64>, String> {
    text.split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{what}: `{t}` is not a finite number"))
        })
        .collect()
}

fn parse_virial(comment: &str, simbox: &SimBox) -> std::result::Result<Option<Mat3>, String> {
    let pairs = comment_pairs(comment);
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "virial") {
        let x = parse_numbers(v, "virial")?;
        if x.len() != 9 {
            return Err(format!("virial needs 9 numbers, found {}", x.len()));
        }
        return Ok(Some(Mat3::from_row_slice(&x)));
    }
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "stress") {
        let x = parse_numbers(v, "stress")?;
        let sigma = match x.len() {
            9 => Mat3::from_row_slice(&x),
            // Voigt: xx yy zz yz xz xy.
            6 => Mat3::new(x[0], x[5], x[4], x[5], x[1], x[3], x[4], x[3], x[2]),
            n => return Err(format!("stress needs 9 or 6 numbers, found {n}")),
        };
        let volume = simbox
            .volume()
            .ok_or("a stress needs a periodic box (Lattice)")?;
        return Ok(Some(-volume * sigma));
    }
    Ok(None)
}

/// Writes a dataset as extended XYZ (atomically), converting with `units` (file →
/// internal, so values are divided by the factors). Species without a name are written
/// as `X<index>`.
pub fn write_extxyz(path: impl AsRef<Path>, data: &Dataset, units: &UnitConversion) -> Result<()> {
    let path = path.as_ref();
    units.validate()?;
    let back = units.inverse();
    let mut names = data.species().names().to_vec();
    for s in names.len()..data.n_species() {
        names.push(format!("X{s}"));
    }
    let table = SpeciesTable::new(names)?;
    let mut buf = Vec::new();
    write_atomic(path, |out| {
        for s in data.structures() {
            let mut s = s.clone();
            s.convert_units(&back)?;
            buf.clear();
            let frame = XyzFrame {
                positions: s.positions,
                simbox: s.simbox,
                species: s.species,
                forces: s.forces,
                energy: s.energy,
            };
            ExtxyzWriter::new(&mut buf, table.clone(), path).write_frame(&frame)?;
            let text = String::from_utf8(std::mem::take(&mut buf)).expect("the writer emits UTF-8");
            let mut lines = text.split_inclusive('\n');
            let count = lines.next().unwrap_or_default();
            let comment = lines.next().unwrap_or_default().trim_end_matches('\n');
            let mut head = format!("{count}{comment}");
            if let Some(w) = s.virial {
                let entries: Vec<String> = (0..3)
                    .flat_map(|r| (0..3).map(move |c| w[(r, c)].to_string()))
                    .collect();
                head.push_str(&format!(" virial=\"{}\"", entries.join(" ")));
            }
            head.push('\n');
            out.write_all(head.as_bytes())
                .map_err(|e| io_error(path, e))?;
            for line in lines {
                out.write_all(line.as_bytes())
                    .map_err(|e| io_error(path, e))?;
            }
            buf = text.into_bytes();
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// NumPy arrays

/// A dense array in C (row-major) order, values as `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, last index fastest.
    pub data: Vec<f64>,
}

impl NpyArray {
    /// An array; `data.len()` must be the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(crate::error::config_error(
                "array",
                format!("shape {shape:?} holds {n} values, {} given", data.len()),
            ));
        }
        Ok(NpyArray { shape, data })
    }
}

/// The header text of an `.npy` file and where its data start, if its preamble can be
/// read; `None` leaves the verdict on the file to npyz.
fn npy_header(bytes: &[u8]) -> Option<(std::borrow::Cow<'_, str>, usize)> {
    if bytes.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let (len, start): (usize, usize) = match bytes.get(6)? {
        1 => (
            u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?) as usize,
            10,
        ),
        _ => (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
    };
    let end = start.checked_add(len)?;
    Some((String::from_utf8_lossy(bytes.get(start..end)?), end))
}

/// Deepest nesting of brackets in an `.npy` header. npyz parses the header as a Python
/// literal in a time that about doubles with every unclosed bracket (18 of them took 37 s
/// in a fuzzing build), so deeper headers are refused first; a plain array's header
/// nests two levels (the dict and the shape tuple).
fn npy_nesting(header: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in header.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// More than any `.npy` header this crate reads needs (see [`npy_nesting`]).
const MAX_NPY_NESTING: usize = 8;

/// The shape in the header of an `.npy` file and where its data start, if the header
/// can be read this simply; `None` leaves the verdict on the file to npyz.
fn npy_shape(bytes: &[u8]) -> Option<(Vec<u64>, usize)> {
    let (header, end) = npy_header(bytes)?;
    let after = &header[header.find("shape")?..];
    let open = after.find('(')?;
    let close = open + after[open..].find(')')?;
    let shape = after[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('L').parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    Some((shape, end))
}

fn parse_npy(bytes: &[u8], path: &Path, name: &str) -> Result<NpyArray> {
    let bad = |e: std::io::Error| format_error(path, format!("{name}: {e}"));
    if let Some(depth) = npy_header(bytes)
        .map(|(header, _)| npy_nesting(&header))
        .filter(|&d| d > MAX_NPY_NESTING)
    {
        return Err(format_error(
            path,
            format!(
                "{name}: the header nests brackets {depth} levels deep (at most \
                 {MAX_NPY_NESTING} are read); not a NumPy array header"
            ),
        ));
    }
    // The shape is checked against the file size before npyz sees it: npyz multiplies
    // the dimensions unchecked (a panic on overflow), and a shape claiming 10^12 values
    // must be an error about the file, not an attempt to read them.
    if let Some((shape, data_start)) = npy_shape(bytes) {
        let available = bytes.len().saturating_sub(data_start) as u64;
        // Every partial product of the dimensions (npyz's strides) must fit, and every
        // dtype takes at least one byte per value.
        let dims_fit = shape
            .iter()
            .try_fold(1u64, |acc, &s| acc.checked_mul(s.max(1)))
            .is_some();
        if !dims_fit || shape.iter().product::<u64>() > available {
            return Err(format_error(
                path,
                format!(
                    "{name}: shape {shape:?} needs more values than the {available} data \
                     bytes of the file hold"
                ),
            ));
        }
    }
    let npy = npyz::NpyFile::new(bytes).map_err(bad)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let npyz::DType::Plain(ty) = npy.dtype() else {
        return Err(format_error(
            path,
            format!("{name}: structured arrays are not supported"),
        ));
    };
    use npyz::TypeChar as T;
    let data: Vec<f64> = match (ty.type_char(), ty.size_field()) {
        (T::Float, 8) => npy.into_vec::<f64>().map_err(bad)?,
        (T::Float, 4) => npy
            .into_vec::<f32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        (T::Int, 8) => to_f64(npy.into_vec::<i64>().map_err(bad)?),
        (T::Int, 4) => to_f64(npy.into_vec::<i32>().map_err(bad)?),
        (T::Int, 2) => to_f64(npy.into_vec::<i16>().map_err(bad)?),
        (T::Int, 1) => to_f64(npy.into_vec::<i8>().map_err(bad)?),
        (T::Uint, 8) => to_f64(npy.into_vec::<u64>().map_err(bad)?),
        (T::Uint, 4) => to_f64(npy.into_vec::<u32>().map_err(bad)?),
        (T::Uint, 2) => to_f64(npy.into_vec::<u16>().map_err(bad)?),
        (T::Uint, 1) => to_f64(npy.into_vec::<u8>().map_err(bad)?),
        _ => {
            return Err(format_error(
                path,
                format!("{name}: unsupported dtype {ty}"),
            ))
        }
    };
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(format_error(
            path,
            format!(
                "{name}: shape {shape:?} needs {expected} values, file has {}",
                data.len()
            ),
        ));
    }
    let data = if fortran && shape.len() > 1 {
        fortran_to_c(&shape, &data)
    } else {
        data
    };
    Ok(NpyArray { shape, data })
}

fn to_f64<T: TryInto<i64> + Copy>(v: Vec<T>) -> Vec<f64> {
    // Integers beyond 2⁵³ lose precision; species and counts never come close.
    v.into_iter()
        .map(|x| x.try_into().map(|x: i64| x as f64).unwrap_or(f64::NAN))
        .collect()
}

fn fortran_to_c(shape: &[usize], data: &[f64]) -> Vec<f64> {
    let n = data.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for value in out.iter_mut() {
        // `index` runs over C order; its Fortran offset has the first index fastest.
        let mut offset = 0;
        let mut stride = 1;
        for (i, &s) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= s;
        }
        *value = data[offset];
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

fn write_npy_to(out: impl Write, array: &NpyArray) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let shape: Vec<u64> = array.shape.iter().map(|&s| s as u64).collect();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(out)
        .begin_nd()?;
    writer.extend(array.data.iter().copied())?;
    writer.finish()
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    parse_npy(&bytes, path, "array")
}

/// Writes a `.npy` file (`<f8`, C order) atomically.
pub fn write_npy(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    let path = path.as_ref();
    write_atomic(path, |out| {
        write_npy_to(out, array).map_err(|e| io_error(path, e))
    })
}

/// Reads every array of an `.npz` archive, by name.
pub fn read_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, NpyArray>> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    read_npz_from(Cursor::new(bytes), path)
}

fn read_npz_from(reader: impl Read + Seek, path: &Path) -> Result<BTreeMap<String, NpyArray>> {
    let bad =
        |e: zip::result::ZipError| format_error(path, format!("not a valid npz archive: {e}"));
    let mut zip = zip::ZipArchive::new(reader).map_err(bad)?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let mut out = BTreeMap::new();
    for file_name in names {
        let Some(name) = npyz::npz::array_name_from_file_name(&file_name) else {
            continue;
        };
        let name = name.to_string();
        let mut entry = zip.by_name(&file_name).map_err(bad)?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format_error(path, format!("{name}: {e}")))?;
        let array = parse_npy(&bytes, path, &name)?;
        out.insert(name, array);
    }
    Ok(out)
}

/// Writes arrays to an `.npz` archive (uncompressed, as `np.savez`) atomically.
pub fn write_npz(path: impl AsRef<Path>, arrays: &BTreeMap<String, NpyArray>) -> Result<()> {
    let path = path.as_ref();
    let zerr = |e: zip::result::ZipError| io_error(path, std::io::Error::other(e.to_string()));
    // The zip writer needs `Seek`; assemble in memory, then write atomically.
    let mut cursor = Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut cursor);
        let options = zip::write::FileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, array) in arrays {
            zip.start_file(npyz::npz::file_name_from_array_name(name), options)
                .map_err(zerr)?;
            write_npy_to(&mut zip, array).map_err(|e| io_error(path, e))?;
        }
        zip.finish().map_err(zerr)?;
    }
    let bytes = cursor.into_inner();
    write_atomic(path, |out| {
        out.write_all(&bytes).map_err(|e| io_error(path, e))
    })
}

/// Names of the arrays of a dataset in an `.npz` archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NpzKeys {
    /// Positions, (D, N, 3).
    pub positions: String,
    /// Forces, (D, N, 3).
    pub forces: String,
    /// Energies, (D,).
    pub energy: String,
    /// Virials, (D, 3, 3).
    pub virial: String,
    /// Box.
    pub simbox: String,
    /// Species.
    pub species: String,
}

impl Default for NpzKeys {
    fn default() -> Self {
        NpzKeys {
            positions: "R".into(),
            forces: "F".into(),
            energy: "U".into(),
            virial: "virial".into(),
            simbox: "box".into(),
            species: "species".into(),
        }
    }
}

impl NpzKeys {
    fn lookup<'a>(
        arrays: &'a BTreeMap<String, NpyArray>,
        key: &str,
        alias: &str,
    ) -> Option<&'a NpyArray> {
        arrays.get(key).or_else(|| arrays.get(alias))
    }
}

/// Builds a dataset from named arrays (see the module docs for keys and shapes), values
/// converted with `units`; `path` names the source in errors.
pub fn dataset_from_arrays(
    arrays: &BTreeMap<String, NpyArray>,
    keys: &NpzKeys,
    units: &UnitConversion,
    path: &Path,
) -> Result<Dataset> {
    let bad = |reason: String| format_error(path, reason);
    let r = NpzKeys::lookup(arrays, &keys.positions, "positions").ok_or_else(|| {
        bad(format!(
            "no positions array `{}` (found {:?})",
            keys.positions,
            arrays.keys().collect::<Vec<_>>()
        ))
    })?;
    let [d, n, 3] = r.shape[..] else {
        return Err(bad(format!(
            "positions must have shape (D, N, 3), found {:?}",
            r.shape
        )));
    };
    if d == 0 || n == 0 {
        return Err(bad("positions array is empty".into()));
    }
    let vec3s = |a: &NpyArray, what: &str| -> Result<Vec<Vec<Vec3>>> {
        if a.shape != [d, n, 3] {
            return Err(bad(format!(
                "{what} must have shape ({d}, {n}, 3) like the positions, found {:?}",
                a.shape
            )));
        }
        Ok(a.data
            .chunks(3 * n)
            .map(|c| c.chunks(3).map(|v| Vec3::new(v[0], v[1], v[2])).collect())
            .collect())
    };
    let positions = vec3s(r, "positions")?;
    let forces = NpzKeys::lookup(arrays, &keys.forces, "forces")
        .map(|a| vec3s(a, "forces"))
        .transpose()?;
    let energy = match NpzKeys::lookup(arrays, &keys.energy, "energy") {
        Some(a) if a.data.len() == d && a.shape.len() <= 2 => Some(a.data.clone()),
        Some(a) => {
            return Err(bad(format!(
                "energies must have shape ({d},), found {:?}",
                a.shape
            )))
        }
        None => None,
    };
    let virial = match arrays.get(&keys.virial) {
        Some(a) if a.shape == [d, 3, 3] => Some(
            a.data
                .chunks(9)
                .map(Mat3::from_row_slice)
                .collect::<Vec<_>>(),
        ),
        Some(a) => {
            return Err(bad(format!(
                "virials must have shape ({d}, 3, 3), found {:?}",
                a.shape
            )))
        }
        None => None,
    };
    let boxes: Vec<SimBox> = match NpzKeys::lookup(arrays, &keys.simbox, "cell") {
        None => vec![SimBox::open(); d],
        Some(a) => {
            let one = |v: &[f64]| -> Result<SimBox> {
                let b = if v.len() == 3 {
                    SimBox::orthorhombic([v[0], v[1], v[2]])
                } else {
                    let rows = Mat3::from_row_slice(v);
                    let h = rows.transpose();
                    let diagonal = (0..3).all(|i| (0..3).all(|j| i == j || h[(i, j)] == 0.0));
                    if diagonal {
                        SimBox::orthorhombic([h[(0, 0)], h[(1, 1)], h[(2, 2)]])
                    } else {
                        SimBox::triclinic(h)
                    }
                };
                b.map_err(|e| bad(format!("box: {e}")))
            };
            match a.shape[..] {
                [3] | [3, 3] => vec![one(&a.data)?; d],
                [dd, 3] if dd == d => a.data.chunks(3).map(one).collect::<Result<_>>()?,
                [dd, 3, 3] if dd == d => a.data.chunks(9).map(one).collect::<Result<_>>()?,
                _ => {
                    return Err(bad(format!(
                        "box must have shape (3,), (3, 3), ({d}, 3) or ({d}, 3, 3), found {:?}",
                        a.shape
                    )))
                }
            }
        }
    };
    let species_of = |v: &[f64]| -> Result<Vec<u32>> {
        v.iter()
            .map(|&x| {
                if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) {
                    Ok(x as u32)
                } else {
                    Err(bad(format!(
                        "species must be non-negative integers, found {x}"
                    )))
                }
            })
            .collect()
    };
    let species: Vec<Vec<u32>> = match NpzKeys::lookup(arrays, &keys.species, "types") {
        None => vec![vec![0; n]; d],
        Some(a) if a.shape == [n] => vec![species_of(&a.data)?; d],
        Some(a) if a.shape == [d, n] => a.data.chunks(n).map(species_of).collect::<Result<_>>()?,
        Some(a) => {
            return Err(bad(format!(
                "species must have shape ({n},) or ({d}, {n}), found {:?}",
                a.shape
            )))
        }
    };
    let mut structures = Vec::with_capacity(d);
    for (k, ((pos, simbox), sp)) in positions.into_iter().zip(boxes).zip(species).enumerate() {
        let mut s = Structure {
            positions: pos,
            simbox,
            species: sp,
            energy: energy.as_ref().map(|e| e[k]),
            forces: forces.as_ref().map(|f| f[k].clone()),
            virial: virial.as_ref().map(|w| w[k]),
        };
        s.convert_units(units)?;
        structures.push(s);
    }
    Dataset::new(structures, SpeciesTable::default()).map_err(|e| bad(e.to_string()))
}

/// The arrays of a dataset (inverse of [`dataset_from_arrays`]); every structure must
/// have the same number of atoms, and a label is written only if every structure has it.
/// Boxes are written as (D, 3, 3) lattice vectors in rows, or omitted if all are open.
pub fn dataset_to_arrays(
    data: &Dataset,
    keys: &NpzKeys,
    units: &UnitConversion,
) -> Result<BTreeMap<String, NpyArray>> {
    let Some(first) = data.structures().first() else {
        return Err(crate::error::config_error("dataset", "is empty"));
    };
    let n = first.n_atoms();
    let d = data.len();
    if let Some(k) = data.structures().iter().position(|s| s.n_atoms() != n) {
        return Err(crate::error::config_error(
            "dataset",
            format!("structure #{k} has a different atom count than #0: npz needs one N"),
        ));
    }
    units.validate()?;
    let back = units.inverse();
    let structures: Vec<Structure> = data
        .structures()
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.convert_units(&back)?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let flat = |v: &[Vec3]| v.iter().flat_map(|x| [x.x, x.y, x.z]).collect::<Vec<_>>();
    let mut out = BTreeMap::new();
    out.insert(
        keys.positions.clone(),
        NpyArray::new(
            vec![d, n, 3],
            structures.iter().flat_map(|s| flat(&s.positions)).collect(),
        )?,
    );
    if structures.iter().all(|s| s.forces.is_some()) {
        out.insert(
            keys.forces.clone(),
            NpyArray::new(
                vec![d, n, 3],
                structures
                    .iter()
                    .flat_map(|s| flat(s.forces.as_ref().expect("checked")))
                    .collect(),
            )?,
        );
    }
    if structures.iter().all(|s| s.energy.is_some()) {
        out.insert(
            keys.energy.clone(),
            NpyArray::new(
                vec![d],
                structures.iter().filter_map(|s| s.energy).collect(),
            )?,
        );
    }
    let rows = |m: &Mat3| {
        (0..3)
            .flat_map(|r| (0..3).map(move |c| m[(r, c)]))
            .collect::<Vec<_>>()
    };
    if structures.iter().all(|s| s.virial.is_some()) {
        out.insert(
            keys.virial.clone(),
            NpyArray::new(
                vec![d, 3, 3],
                structures
                    .iter()
                    .filter_map(|s| s.virial.as_ref())
                    .flat_map(rows)
                    .collect(),
            )?,
        );
    }
    let periodic = structures.iter().filter(|s| s.simbox.is_periodic()).count();
    if periodic == d {
        out.insert(
            keys.simbox.clone(),
            NpyArray::new(
                vec![d, 3, 3],
                structures
                    .iter()
                    .filter_map(|s| s.simbox.cell().map(|h| h.transpose()))
                    .flat_map(|m| rows(&m))
                    .collect(),
            )?,
        );
    } else if periodic > 0 {
        return Err(crate::error::config_error(
            "dataset",
            "mixes open and periodic boxes: npz needs one kind",
        ));
    }
    out.insert(
        keys.species.clone(),
        NpyArray::new(
            vec![d, n],
            structures
                .iter()
                .flat_map(|s| s.species.iter().map(|&x| x as f64))
                .collect(),
        )?,
    );
    Ok(out)
}

/// Reads a dataset from an `.npz` archive (see the module docs).
pub fn read_npz_dataset(
    path: impl AsRef<Path>,
    keys: &NpzKeys,
    units: &UnitConversion,
) -> Result<Dataset> {
    let path = path.as_ref();
    dataset_from_arrays(&read_npz(path)?, keys, units, path)
}

/// Writes a dataset to an `.npz` archive (see [`dataset_to_arrays`]).
pub fn write_npz_dataset(
    path: impl AsRef<Path>,
    data: &Dataset,
    keys: &NpzKeys,
    units: &UnitConversion,
) -> Result<()> {
    write_npz(path, &dataset_to_arrays(data, keys, units)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_pairs_handle_quotes() {
        let p =
            comment_pairs(r#"Lattice="1 0 0 0 1 0 0 0 1" energy=-1.5 pbc="T T T" Virial="1 2""#);
        assert_eq!(p[0], ("lattice".into(), "1 0 0 0 1 0 0 0 1".into()));
        assert_eq!(p[1], ("energy".into(), "-1.5".into()));
        assert_eq!(p[3], ("virial".into(), "1 2".into()));
    }

    #[test]
    fn stress_becomes_minus_volume_times_stress() {
        let b = SimBox::cubic(2.0).unwrap();
        let w = parse_virial("stress=\"1 2 3 4 5 6\"", &b).unwrap().unwrap();
        assert_eq!(w[(0, 0)], -8.0);
        assert_eq!(w[(1, 2)], -32.0);
        assert_eq!(w[(0, 1)], -48.0);
        assert!(parse_virial("virial=\"1 2\"", &b).is_err());
        assert!(parse_virial("stress=\"1 2 3 4 5 6\"", &SimBox::open()).is_err());
    }

    #[test]
    fn fortran_order_is_transposed() {
        // A 2×3 array [[0,1,2],[3,4,5]] stored in Fortran order is 0 3 1 4 2 5.
        let c = fortran_to_c(&[2, 3], &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(c, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
