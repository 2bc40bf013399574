//! Extended XYZ trajectories (the ASE convention).
//!
//! Each frame is an atom count, a comment line of `key=value` pairs, and one line per
//! atom:
//!
//! ```text
//! 2
//! Lattice="4.0 0.0 0.0 0.0 4.0 0.0 0.0 0.0 4.0" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc="T T T"
//! Ar 0.0 0.0 0.0 0.1 0.0 0.0
//! Ar 1.0 0.0 0.0 -0.1 0.0 0.0
//! ```
//!
//! `Lattice` lists the lattice vectors **a**, **b**, **c** one after the other (rows);
//! an open box has no `Lattice` and `pbc="F F F"`. The reader accepts any `Properties`
//! list that has `species:S:1` and `pos:R:3` and skips the columns it does not know;
//! `forces:R:3` and `energy` are read when present. Numbers are written in Rust's
//! shortest round-trip form, so reading back what was written gives identical values.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox, Vec3};

use crate::{Evaluation, MdError, Result, State};

/// Species names ↔ indices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeciesTable {
    names: Vec<String>,
}

impl SpeciesTable {
    /// A table with `names[s]` the name of species `s`. Names must be non-empty, unique,
    /// not numbers and free of whitespace.
    pub fn new(names: Vec<String>) -> Result<Self> {
        let mut table = SpeciesTable::default();
        for name in names {
            if table.index(&name).is_some() {
                return Err(MdError::InvalidParameter {
                    name: "species name",
                    value: table.names.len() as f64,
                    reason: "species names must be unique",
                });
            }
            table.insert(&name)?;
        }
        Ok(table)
    }

    /// The index of `name`, if known.
    pub fn index(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|k| k as u32)
    }

    /// The name of species `s`, if known.
    pub fn name(&self, s: u32) -> Option<&str> {
        self.names.get(s as usize).map(String::as_str)
    }

    /// The index of `name`, adding it if new.
    pub fn insert(&mut self, name: &str) -> Result<u32> {
        // A number would read back as a misplaced column, so it is not a name.
        if name.is_empty()
            || name.chars().any(|c| c.is_whitespace() || c == '"')
            || name.parse::<f64>().is_ok()
        {
            return Err(MdError::InvalidParameter {
                name: "species name",
                value: self.names.len() as f64,
                reason: "must be non-empty, not a number, without whitespace or quotes",
            });
        }
        Ok(match self.index(name) {
            Some(s) => s,
            None => {
                self.names.push(name.to_string());
                (self.names.len() - 1) as u32
            }
        })
    }

    /// All names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// One frame of a trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Positions (length units).
    pub positions: Vec<Vec3>,
    /// The box.
    pub simbox: SimBox,
    /// Species index of each atom (see [`SpeciesTable`]).
    pub species: Vec<u32>,
    /// Forces (energy/length units), if recorded.
    pub forces: Option<Vec<Vec3>>,
    /// Potential energy (energy units), if recorded.
    pub energy: Option<f64>,
}

impl Frame {
    /// The configuration of `state`, with energy and forces from `eval` if given.
    pub fn from_state(state: &State, eval: Option<&Evaluation>) -> Self {
        Frame {
            positions: state.positions.clone(),
            simbox: state.simbox.clone(),
            species: state.species.clone(),
            forces: eval.map(|e| e.forces.clone()),
            energy: eval.map(|e| e.energy),
        }
    }
}

/// Writes frames to an extended XYZ stream.
#[derive(Debug)]
pub struct ExtxyzWriter<W: Write> {
    out: W,
    species: SpeciesTable,
    path: PathBuf,
}

impl ExtxyzWriter<BufWriter<File>> {
    /// Creates (truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>, species: SpeciesTable) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| MdError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(ExtxyzWriter {
            out: BufWriter::new(file),
            species,
            path,
        })
    }
}

impl<W: Write> ExtxyzWriter<W> {
    /// Writes to `out`; `name` labels it in error messages.
    pub fn new(out: W, species: SpeciesTable, name: impl Into<PathBuf>) -> Self {
        ExtxyzWriter {
            out,
            species,
            path: name.into(),
        }
    }

    /// Appends one frame. Every species index must have a name in the table.
    pub fn write_frame(&mut self, frame: &Frame) -> Result<()> {
        let n = frame.positions.len();
        if frame.species.len() != n {
            return Err(MdError::Mismatch {
                what: "species per atom in the frame",
                expected: n,
                got: frame.species.len(),
            });
        }
        if let Some(f) = &frame.forces {
            if f.len() != n {
                return Err(MdError::Mismatch {
                    what: "forces per atom in the frame",
                    expected: n,
                    got: f.len(),
                });
            }
        }
        let names = frame
            .species
            .iter()
            .enumerate()
            .map(|(atom, &s)| {
                self.species.name(s).ok_or(MdError::UnknownSpecies {
                    atom,
                    species: s,
                    n_species: self.species.names.len(),
                })
            })
            .collect::<Result<Vec<&str>>>()?;
        let mut text = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(text, "{n}");
        if let Some(h) = frame.simbox.cell() {
            text.push_str("Lattice=\"");
            let entries: Vec<String> = (0..3)
                .flat_map(|k| (0..3).map(move |c| h[(c, k)].to_string()))
                .collect();
            text.push_str(&entries.join(" "));
            text.push_str("\" ");
        }
        text.push_str("Properties=species:S:1:pos:R:3");
        if frame.forces.is_some() {
            text.push_str(":forces:R:3");
        }
        if let Some(e) = frame.energy {
            let _ = write!(text, " energy={e}");
        }
        let pbc = if frame.simbox.is_periodic() {
            "T T T"
        } else {
            "F F F"
        };
        let _ = writeln!(text, " pbc=\"{pbc}\"");
        for (k, (r, name)) in frame.positions.iter().zip(&names).enumerate() {
            let _ = write!(text, "{name} {} {} {}", r.x, r.y, r.z);
            if let Some(f) = &frame.forces {
                let f = f[k];
                let _ = write!(text, " {} {} {}", f.x, f.y, f.z);
            }
            text.push('\n');
        }
        self.out
            .write_all(text.as_bytes())
            .map_err(|source| MdError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|source| MdError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// The species table.
    pub fn species(&self) -> &SpeciesTable {
        &self.species
    }
}

/// Reads every frame of the extended XYZ file at `path`. Species names are looked up in
/// `species` and new names are added to it.
pub fn read_extxyz(path: impl AsRef<Path>, species: &mut SpeciesTable) -> Result<Vec<Frame>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| MdError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_extxyz(BufReader::new(file), path, species)
}

/// Atoms per frame allocated up front; larger frames grow as their lines are read.
const MAX_PREALLOCATED_ATOMS: usize = 1 << 16;

/// Reads every frame from `input`; `name` labels it in errors, which give the 1-based
/// line number.
pub fn parse_extxyz(
    input: impl BufRead,
    name: impl AsRef<Path>,
    species: &mut SpeciesTable,
) -> Result<Vec<Frame>> {
    let name = name.as_ref();
    let err = |line: usize, reason: String| MdError::Parse {
        path: name.to_path_buf(),
        line,
        reason,
    };
    let mut lines = input.lines().enumerate().map(|(k, l)| {
        l.map(|l| (k + 1, l)).map_err(|source| MdError::Io {
            path: name.to_path_buf(),
            source,
        })
    });
    let mut frames = Vec::new();
    loop {
        // Atom count (blank lines between frames are tolerated).
        let (count_line, count) = loop {
            match lines.next().transpose()? {
                None if frames.is_empty() => {
                    return Err(err(1, "no frames: the file is empty".into()))
                }
                None => return Ok(frames),
                Some((_, l)) if l.trim().is_empty() => {}
                Some((k, l)) => break (k, l),
            }
        };
        let n: usize = count.trim().parse().map_err(|_| {
            let found = count.trim();
            let reason = match frames.last() {
                // An atom line where a count belongs: the previous frame has more atom
                // lines than its count says.
                Some(prev) if found.split_whitespace().count() > 1 => format!(
                    "expected the atom count of frame {}, found `{found}`: frame {} \
                     declares {} atoms but has more atom lines",
                    frames.len() + 1,
                    frames.len(),
                    prev.positions.len()
                ),
                _ => format!("expected an atom count, found `{found}`"),
            };
            err(count_line, reason)
        })?;
        let (comment_line, comment) = lines
            .next()
            .transpose()?
            .ok_or_else(|| err(count_line + 1, "file ends before the comment line".into()))?;
        let header = parse_header(&comment).map_err(|reason| err(comment_line, reason))?;
        // The count is not trusted for allocation: a corrupt count of 10^12 must end in
        // "file ends after …" below, not in an allocation failure here.
        let capacity = n.min(MAX_PREALLOCATED_ATOMS);
        let mut frame = Frame {
            positions: Vec::with_capacity(capacity),
            simbox: header.simbox.clone(),
            species: Vec::with_capacity(capacity),
            forces: header.forces.map(|_| Vec::with_capacity(capacity)),
            energy: header.energy,
        };
        let mut last_line = comment_line;
        for atom in 0..n {
            let (k, l) = lines.next().transpose()?.ok_or_else(|| {
                err(
                    last_line + 1,
                    format!("file ends after {atom} of {n} atom lines"),
                )
            })?;
            last_line = k;
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() != header.columns {
                return Err(err(
                    k,
                    format!(
                        "expected {} columns from Properties, found {}",
                        header.columns,
                        fields.len()
                    ),
                ));
            }
            let name = fields[header.species];
            if name.parse::<f64>().is_ok() {
                return Err(err(
                    k,
                    format!(
                        "species `{name}` is a number, not a name (is the species column \
                         in the place Properties says?)"
                    ),
                ));
            }
            let s = species.insert(name).map_err(|e| err(k, e.to_string()))?;
            frame.species.push(s);
            let vec3 = |start: usize, what: &str| -> Result<Vec3> {
                let mut v = Vec3::zeros();
                for c in 0..3 {
                    let text = fields[start + c];
                    let x: f64 = text
                        .parse()
                        .map_err(|_| err(k, format!("{what}: `{text}` is not a number")))?;
                    if !x.is_finite() {
                        return Err(err(k, format!("{what}: `{text}` is not finite")));
                    }
                    v[c] = x;
                }
                Ok(v)
            };
            frame.positions.push(vec3(header.pos, "position")?);
            if let (Some(col), Some(forces)) = (header.forces, frame.forces.as_mut()) {
                forces.push(vec3(col, "force")?);
            }
        }
        frames.push(frame);
    }
}

struct Header {
    simbox: SimBox,
    energy: Option<f64>,
    /// Total number of whitespace-separated columns per atom line.
    columns: usize,
    species: usize,
    pos: usize,
    forces: Option<usize>,
}

/// Splits a comment line into `key=value` pairs; values may be double-quoted.
fn key_values(line: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            // A bare key is a boolean flag in ASE; keep it as "T".
            out.push((key, "T".into()));
            continue;
        }
        chars.next();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quote in the value of `{key}`")),
                }
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
        out.push((key, value));
    }
}

fn parse_header(line: &str) -> std::result::Result<Header, String> {
    let pairs = key_values(line)?;
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let pbc = match get("pbc") {
        None => None,
        Some(v) => {
            let flags: Vec<&str> = v.split_whitespace().collect();
            let all = |t: &[&str]| flags.iter().all(|f| t.contains(f));
            if flags.len() != 3 {
                return Err(format!("pbc must have three flags, found `{v}`"));
            }
            if all(&["T", "True", "true", "1"]) {
                Some(true)
            } else if all(&["F", "False", "false", "0"]) {
                Some(false)
            } else {
                return Err(format!(
                    "partially periodic boxes (pbc=\"{v}\") are not supported"
                ));
            }
        }
    };
    let simbox = match get("Lattice") {
        Some(v) if pbc != Some(false) => {
            let x: Vec<f64> = v
                .split_whitespace()
                .map(|t| t.parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    // `key=` inside the value: its closing quote is missing, so the
                    // value ran into the next quoted pair.
                    let hint = if v.contains('=') {
                        " (missing closing quote?)"
                    } else {
                        ""
                    };
                    format!("Lattice `{v}` is not nine numbers{hint}")
                })?;
            if x.len() != 9 || x.iter().any(|x| !x.is_finite()) {
                return Err(format!("Lattice `{v}` is not nine finite numbers"));
            }
            let h = Mat3::from_columns(&[
                Vec3::new(x[0], x[1], x[2]),
                Vec3::new(x[3], x[4], x[5]),
                Vec3::new(x[6], x[7], x[8]),
            ]);
            let off_diagonal = (0..3).any(|i| (0..3).any(|j| i != j && h[(i, j)] != 0.0));
            let b = if off_diagonal {
                SimBox::triclinic(h)
            } else {
                SimBox::orthorhombic([h[(0, 0)], h[(1, 1)], h[(2, 2)]])
            };
            b.map_err(|e| format!("invalid Lattice: {e}"))?
        }
        None if pbc == Some(true) => return Err("pbc=\"T T T\" without a Lattice".into()),
        _ => SimBox::open(),
    };
    let energy = match get("energy") {
        None => None,
        Some(v) => {
            let e: f64 = v
                .parse()
                .map_err(|_| format!("energy `{v}` is not a number"))?;
            if !e.is_finite() {
                return Err(format!("energy `{v}` is not finite"));
            }
            Some(e)
        }
    };
    let props = get("Properties").unwrap_or("species:S:1:pos:R:3");
    let parts: Vec<&str> = props.split(':').collect();
    if parts.len() % 3 != 0 {
        return Err(format!(
            "Properties `{props}` is not name:type:count triples"
        ));
    }
    let (mut columns, mut species, mut pos, mut forces) = (0usize, None, None, None);
    for t in parts.chunks(3) {
        let count: usize = t[2]
            .parse()
            .map_err(|_| format!("Properties `{props}`: bad column count `{}`", t[2]))?;
        match (t[0], t[1], count) {
            ("species", "S", 1) => species = Some(columns),
            ("pos", "R", 3) => pos = Some(columns),
            ("forces", "R", 3) | ("force", "R", 3) => forces = Some(columns),
            ("species" | "pos" | "forces" | "force", ty, c) => {
                return Err(format!("Properties: `{}` has type {ty}:{c}", t[0]))
            }
            _ => {}
        }
        columns = columns
            .checked_add(count)
            .ok_or_else(|| format!("Properties `{props}`: too many columns"))?;
    }
    Ok(Header {
        simbox,
        energy,
        columns,
        species: species.ok_or("Properties has no species:S:1 column")?,
        pos: pos.ok_or("Properties has no pos:R:3 column")?,
        forces,
    })
}
