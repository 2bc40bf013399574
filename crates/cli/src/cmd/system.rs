//! The parts of the `umbrella` and `metad` TOML files that describe what is simulated:
//! `[system]` (atoms, box, temperature), `[potential]` (the unbiased potential), `[cv]`
//! and optional `[walls]` on the CV. Both subcommands read them through [`Setup`], so
//! they accept the same systems and report bad input the same way (unknown or missing
//! keys are named by the TOML parser with their line; invalid values are reported with
//! the table they came from).
//!
//! ```toml
//! [system]
//! box = "open"                 # or { orthorhombic = { lengths = [8.0, 8.0, 8.0] } }
//! positions = [[0.0, 0.0, 0.0], [1.1, 0.0, 0.0]]
//! masses = [1.0, 1.0]
//! species = [0, 0]             # optional, default all 0
//! kt = 1.0
//!
//! [potential.lennard_jones]    # thermograd_md::LennardJonesConfig
//! [potential.morse]            # cutoff, shift, pairs = [{ a, b, depth, stiffness, r0 }]
//! [potential.tabulated]        # cutoff, shift, pairs = [{ a, b, r, u }] or { a, b, file }
//! [[potential.bonds]]          # atoms = [i, j], k, r0
//! [[potential.angles]]         # atoms = [i, j, k], k, theta0 (radians)
//! [[potential.dihedrals]]      # atoms = [i, j, k, l], terms = [{ multiplicity, k, phase }]
//! [[potential.restraints]]     # atom, target = [x, y, z], k
//!
//! [walls]                      # flat-bottom walls on the CV (optional)
//! lower = [0.8]
//! upper = [2.5]
//! kappa = [500.0]
//!
//! [faults]                     # physical checks (optional; see FaultSpec)
//! min_distance = 0.5
//! max_kt = 10.0
//! check_every = 100            # default 100 when any check is set
//! ```
//!
//! `[faults]` is read by the subcommands themselves (it is not part of [`Setup`]); `thermograd
//! lj` takes the same checks as flags.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;
use thermograd_cv::{Bias, CollectiveVariable, CvSpec, FlatBottom};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{
    BondedPrior, CosineTerm, FaultChecks, HarmonicRestraints, LennardJonesConfig, MorseConfig,
    MorseParams, PairTableData, PotentialSum, SpeciesPair, State, TabulatedPairConfig, Topology,
};

/// `[system]`: atoms, box and temperature.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SystemSpec {
    /// The box, e.g. `{ orthorhombic = { lengths = [8.0, 8.0, 8.0] } }` or `"open"`.
    #[serde(rename = "box")]
    simbox: SimBox,
    /// Atom positions (length units).
    positions: Vec<[f64; 3]>,
    /// Atom masses (mass units).
    masses: Vec<f64>,
    /// Species indices (default: all 0).
    #[serde(default)]
    species: Vec<u32>,
    /// Temperature as kT (energy units).
    kt: f64,
}

/// `[potential]`: every term is optional; absent means no unbiased interaction.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PotentialSpec {
    lennard_jones: Option<LennardJonesConfig>,
    morse: Option<MorseSpec>,
    tabulated: Option<TabulatedSpec>,
    #[serde(default)]
    bonds: Vec<BondSpec>,
    #[serde(default)]
    angles: Vec<AngleSpec>,
    #[serde(default)]
    dihedrals: Vec<DihedralSpec>,
    #[serde(default)]
    restraints: Vec<RestraintSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MorseSpec {
    cutoff: f64,
    #[serde(default)]
    shift: bool,
    pairs: Vec<MorsePairSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MorsePairSpec {
    #[serde(default)]
    a: u32,
    #[serde(default)]
    b: u32,
    depth: f64,
    stiffness: f64,
    r0: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TabulatedSpec {
    cutoff: f64,
    #[serde(default)]
    shift: bool,
    pairs: Vec<TablePairSpec>,
}

/// One table, inline (`r`, `u`) or from a file of two whitespace-separated columns
/// (`#` starts a comment), relative to the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TablePairSpec {
    #[serde(default)]
    a: u32,
    #[serde(default)]
    b: u32,
    r: Option<Vec<f64>>,
    u: Option<Vec<f64>>,
    file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BondSpec {
    atoms: [usize; 2],
    k: f64,
    r0: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AngleSpec {
    atoms: [usize; 3],
    k: f64,
    theta0: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DihedralSpec {
    atoms: [usize; 4],
    terms: Vec<CosineSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CosineSpec {
    multiplicity: u32,
    k: f64,
    phase: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestraintSpec {
    atom: usize,
    target: [f64; 3],
    k: f64,
}

/// `[walls]`: flat-bottom walls on the CV, one entry per component (use `-inf`/`inf`
/// for a one-sided wall).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WallSpec {
    lower: Vec<f64>,
    upper: Vec<f64>,
    kappa: Vec<f64>,
}

/// `[faults]`: physical checks run during the MD (see `thermograd_md::FaultChecks`); a
/// violation ends the command with an error naming the step and the cause. All keys are
/// optional; an empty or absent table runs no checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    /// Stop when two atoms come closer than this (length units).
    pub(crate) min_distance: Option<f64>,
    /// Stop when the instantaneous kT exceeds this (energy units).
    pub(crate) max_kt: Option<f64>,
    /// Stop when the box volume falls below this (length³).
    pub(crate) min_volume: Option<f64>,
    /// Stop when the box volume rises above this (length³).
    pub(crate) max_volume: Option<f64>,
    /// Steps between checks (default 100 when any check is set).
    pub(crate) check_every: Option<u64>,
}

impl FaultSpec {
    /// The checks to run, or `None` if none is set. `name` spells a key the way the user
    /// wrote it (`[faults] max_kt` in a file, `--max-kt` on the command line).
    pub(crate) fn checks(
        &self,
        name: impl Fn(&str) -> String,
    ) -> anyhow::Result<Option<FaultChecks>> {
        let limits = [
            ("min_distance", self.min_distance),
            ("max_kt", self.max_kt),
            ("min_volume", self.min_volume),
            ("max_volume", self.max_volume),
        ];
        for (key, value) in limits {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                bail!("{} must be positive and finite (got {v})", name(key));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_volume, self.max_volume) {
            if lo >= hi {
                bail!(
                    "{} ({lo}) must be below {} ({hi})",
                    name("min_volume"),
                    name("max_volume")
                );
            }
        }
        if limits.iter().all(|(_, v)| v.is_none()) {
            if self.check_every.is_some() {
                bail!(
                    "{} needs one of {}, {}, {}, {}",
                    name("check_every"),
                    name("min_distance"),
                    name("max_kt"),
                    name("min_volume"),
                    name("max_volume")
                );
            }
            return Ok(None);
        }
        let every = self.check_every.unwrap_or(100);
        if every == 0 {
            bail!("{} must be at least 1", name("check_every"));
        }
        Ok(Some(FaultChecks {
            min_distance: self.min_distance,
            max_kt: self.max_kt,
            min_volume: self.min_volume,
            max_volume: self.max_volume,
            every,
        }))
    }
}

/// Reads and parses a TOML configuration file.
pub(crate) fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in {}", path.display()))
}

/// The unbiased potential as validated data, ready to be built once per simulation.
#[derive(Debug)]
struct Terms {
    lennard_jones: Option<LennardJonesConfig>,
    morse: Option<MorseConfig>,
    tabulated: Option<TabulatedPairConfig>,
    topology: Option<Topology>,
    restraints: Vec<thermograd_md::Restraint>,
}

impl Terms {
    fn build(&self, n_atoms: usize) -> thermograd_md::Result<PotentialSum> {
        let mut sum = PotentialSum::new();
        if let Some(lj) = &self.lennard_jones {
            sum.push(Box::new(lj.build()?));
        }
        if let Some(morse) = &self.morse {
            sum.push(Box::new(morse.build()?));
        }
        if let Some(table) = &self.tabulated {
            sum.push(Box::new(table.build()?));
        }
        if let Some(topology) = &self.topology {
            sum.push(Box::new(BondedPrior::new(topology.clone(), n_atoms)?));
        }
        if !self.restraints.is_empty() {
            sum.push(Box::new(HarmonicRestraints::new(self.restraints.clone())?));
        }
        Ok(sum)
    }
}

fn read_table(path: &Path) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut r, mut u) = (Vec::new(), Vec::new());
    for (k, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parse = |s: &str| {
            s.parse::<f64>()
                .with_context(|| format!("{}:{}: `{s}` is not a number", path.display(), k + 1))
        };
        if fields.len() != 2 {
            bail!(
                "{}:{}: expected two columns (r u), found {}",
                path.display(),
                k + 1,
                fields.len()
            );
        }
        r.push(parse(fields[0])?);
        u.push(parse(fields[1])?);
    }
    Ok((r, u))
}

impl PotentialSpec {
    /// Checks the terms and loads table files (relative to `base`).
    fn resolve(&self, base: &Path) -> anyhow::Result<Terms> {
        let morse = self.morse.as_ref().map(|m| MorseConfig {
            pairs: m
                .pairs
                .iter()
                .map(|p| SpeciesPair {
                    a: p.a,
                    b: p.b,
                    params: MorseParams {
                        depth: p.depth,
                        stiffness: p.stiffness,
                        r0: p.r0,
                    },
                })
                .collect(),
            cutoff: m.cutoff,
            shift: m.shift,
        });
        let tabulated = match &self.tabulated {
            None => None,
            Some(t) => {
                let mut pairs = Vec::with_capacity(t.pairs.len());
                for (k, p) in t.pairs.iter().enumerate() {
                    let (r, u) = match (&p.r, &p.u, &p.file) {
                        (Some(r), Some(u), None) => (r.clone(), u.clone()),
                        (None, None, Some(file)) => read_table(&base.join(file))
                            .with_context(|| format!("[potential.tabulated] pairs[{k}].file"))?,
                        _ => bail!(
                            "[potential.tabulated] pairs[{k}]: give either `r` and `u` or `file`"
                        ),
                    };
                    pairs.push(SpeciesPair {
                        a: p.a,
                        b: p.b,
                        params: PairTableData { r, u },
                    });
                }
                Some(TabulatedPairConfig {
                    pairs,
                    cutoff: t.cutoff,
                    shift: t.shift,
                })
            }
        };
        let topology = (!self.bonds.is_empty()
            || !self.angles.is_empty()
            || !self.dihedrals.is_empty())
        .then(|| Topology {
            bonds: self
                .bonds
                .iter()
                .map(|b| thermograd_md::Bond {
                    atoms: b.atoms,
                    k: b.k,
                    r0: b.r0,
                })
                .collect(),
            angles: self
                .angles
                .iter()
                .map(|a| thermograd_md::Angle {
                    atoms: a.atoms,
                    k: a.k,
                    theta0: a.theta0,
                })
                .collect(),
            dihedrals: self
                .dihedrals
                .iter()
                .map(|d| thermograd_md::Dihedral {
                    atoms: d.atoms,
                    terms: d
                        .terms
                        .iter()
                        .map(|t| CosineTerm {
                            multiplicity: t.multiplicity,
                            k: t.k,
                            phase: t.phase,
                        })
                        .collect(),
                })
                .collect(),
        });
        let restraints = self
            .restraints
            .iter()
            .map(|r| thermograd_md::Restraint {
                atom: r.atom,
                target: Vec3::from(r.target),
                k: r.k,
            })
            .collect();
        Ok(Terms {
            lennard_jones: self.lennard_jones.clone(),
            morse,
            tabulated,
            topology,
            restraints,
        })
    }
}

/// A validated system, CV and walls: makes a fresh state and potential for every
/// window or walker.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The collective variable.
    pub cv: Arc<dyn CollectiveVariable>,
    /// kT (energy units).
    pub kt: f64,
    state: State,
    terms: Terms,
    walls: Option<Bias>,
}

impl Setup {
    /// Validates everything once, naming the TOML table of whatever is wrong.
    pub fn new(
        system: &SystemSpec,
        potential: &PotentialSpec,
        cv: &CvSpec,
        walls: Option<&WallSpec>,
        config: &Path,
    ) -> anyhow::Result<Self> {
        let file = config.display();
        let n = system.positions.len();
        let species = if system.species.is_empty() {
            vec![0; n]
        } else {
            system.species.clone()
        };
        let state = State::new(
            system.positions.iter().map(|p| Vec3::from(*p)).collect(),
            system.masses.clone(),
            species,
            system.simbox.clone(),
        )
        .with_context(|| format!("[system] in {file}"))?;
        if !(system.kt.is_finite() && system.kt > 0.0) {
            bail!(
                "[system] kt must be positive, got {} (in {file})",
                system.kt
            );
        }
        let cv = cv.build().with_context(|| format!("[cv] in {file}"))?;
        if let Some(&atom) = cv.atoms().iter().find(|&&a| a >= n) {
            bail!("[cv] uses atom {atom}, but [system] has {n} atoms (in {file})");
        }
        let base = config.parent().unwrap_or(Path::new("."));
        let terms = potential
            .resolve(base)
            .with_context(|| format!("in {file}"))?;
        // Build each term once so that a bad parameter is reported against its table.
        for (key, ok) in [
            (
                "lennard_jones",
                terms.lennard_jones.as_ref().map(|c| c.build().map(drop)),
            ),
            ("morse", terms.morse.as_ref().map(|c| c.build().map(drop))),
            (
                "tabulated",
                terms.tabulated.as_ref().map(|c| c.build().map(drop)),
            ),
            (
                "bonds/angles/dihedrals",
                terms
                    .topology
                    .as_ref()
                    .map(|t| BondedPrior::new(t.clone(), n).map(drop)),
            ),
            (
                "restraints",
                (!terms.restraints.is_empty())
                    .then(|| HarmonicRestraints::new(terms.restraints.clone()).map(drop)),
            ),
        ] {
            if let Some(result) = ok {
                result.with_context(|| format!("[potential.{key}] in {file}"))?;
            }
        }
        if let Some(r) = terms.restraints.iter().find(|r| r.atom >= n) {
            bail!(
                "[potential.restraints] restrains atom {}, but [system] has {n} atoms (in {file})",
                r.atom
            );
        }
        let walls = match walls {
            None => None,
            Some(w) => {
                let flat = FlatBottom::new(w.lower.clone(), w.upper.clone(), w.kappa.clone())
                    .with_context(|| format!("[walls] in {file}"))?;
                Some(
                    Bias::new(cv.clone(), Arc::new(flat))
                        .with_context(|| format!("[walls] in {file}"))?,
                )
            }
        };
        Ok(Setup {
            cv,
            kt: system.kt,
            state,
            terms,
            walls,
        })
    }

    /// A fresh starting state and the unbiased potential plus walls.
    pub fn instance(&self) -> thermograd_md::Result<(State, PotentialSum)> {
        let mut potential = self.terms.build(self.state.n_atoms())?;
        if let Some(walls) = &self.walls {
            potential.push(Box::new(walls.clone()));
        }
        Ok((self.state.clone(), potential))
    }

    /// Checks that a CV-shaped section has one entry per CV component.
    pub fn check_dim(&self, section: &str, got: usize, config: &Path) -> anyhow::Result<()> {
        if got != self.cv.dim() {
            bail!(
                "{}: [{section}] has {got} components but the CV `{}` has {}",
                config.display(),
                self.cv.name(),
                self.cv.dim()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thermograd_md::{Evaluation, ForceField};

    #[derive(Debug, Deserialize)]
    struct File {
        system: SystemSpec,
        #[serde(default)]
        potential: PotentialSpec,
        cv: CvSpec,
        walls: Option<WallSpec>,
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("thermograd-system-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const BASE: &str = r#"
[system]
box = { orthorhombic = { lengths = [10.0, 10.0, 10.0] } }
positions = [[1.0, 1.0, 1.0], [2.1, 1.0, 1.0], [2.1, 2.3, 1.0]]
masses = [1.0, 2.0, 3.0]
species = [0, 0, 1]
kt = 1.0

[cv]
kind = "distance"
atoms = [0, 1]
"#;

    fn setup(dir: &Path, text: &str) -> anyhow::Result<Setup> {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        let file: File = read_config(&path)?;
        Setup::new(
            &file.system,
            &file.potential,
            &file.cv,
            file.walls.as_ref(),
            &path,
        )
    }

    fn energy(setup: &Setup) -> f64 {
        let (state, potential) = setup.instance().unwrap();
        let mut forcefield = ForceField::new(potential, 0.3).unwrap();
        let mut out = Evaluation::zeros(state.n_atoms());
        forcefield.evaluate(&state, &mut out).unwrap();
        out.energy
    }

    /// Every term of `[potential]` and the walls, against energies written out by hand
    /// from their documented forms.
    #[test]
    fn every_term_has_its_documented_energy() {
        let dir = scratch("terms");
        // u(r) = 0.5/r², tabulated finely enough that the spline is exact to ~1e-7.
        let table: String = (0..=600)
            .map(|i| {
                let r = 0.5 + 0.005 * i as f64;
                format!("{r} {}\n", 0.5 / (r * r))
            })
            .collect();
        std::fs::write(dir.join("table.dat"), format!("# r u\n{table}")).unwrap();
        let text = format!(
            r#"{BASE}
[potential.morse]
cutoff = 3.0
pairs = [
  {{ a = 0, b = 0, depth = 1.0, stiffness = 2.0, r0 = 1.0 }},
  {{ a = 0, b = 1, depth = 0.5, stiffness = 1.5, r0 = 1.2 }},
  {{ a = 1, b = 1, depth = 0.1, stiffness = 1.0, r0 = 1.0 }},
]

[potential.tabulated]
cutoff = 3.0
pairs = [
  {{ a = 0, b = 0, file = "table.dat" }},
  {{ a = 0, b = 1, file = "table.dat" }},
  {{ a = 1, b = 1, file = "table.dat" }},
]

[[potential.bonds]]
atoms = [0, 1]
k = 10.0
r0 = 1.0

[[potential.angles]]
atoms = [0, 1, 2]
k = 5.0
theta0 = 1.5

[[potential.dihedrals]]
atoms = [0, 1, 2, 0]
terms = []

[[potential.restraints]]
atom = 2
target = [2.0, 2.0, 1.0]
k = 3.0

[walls]
lower = [-inf]
upper = [1.0]
kappa = [100.0]
"#
        );
        // A dihedral with a repeated atom is invalid: reported against its tables.
        let err = setup(&dir, &text).unwrap_err();
        assert!(
            format!("{err:#}").contains("[potential.bonds/angles/dihedrals]"),
            "{err:#}"
        );
        let text = text.replace(
            "[[potential.dihedrals]]\natoms = [0, 1, 2, 0]\nterms = []\n",
            "",
        );
        let setup = setup(&dir, &text).unwrap();
        let morse =
            |d: f64, a: f64, r0: f64, r: f64| d * ((1.0 - (-a * (r - r0)).exp()).powi(2) - 1.0);
        let (r01, r12) = (1.1f64, 1.3f64);
        let r02 = (r01 * r01 + r12 * r12).sqrt();
        let expected = morse(1.0, 2.0, 1.0, r01)
            + morse(0.5, 1.5, 1.2, r12)
            + morse(0.5, 1.5, 1.2, r02)
            + 0.5 * (1.0 / (r01 * r01) + 1.0 / (r12 * r12) + 1.0 / (r02 * r02))
            + 0.5 * 10.0 * (r01 - 1.0).powi(2)
            + 0.5 * 5.0 * (std::f64::consts::FRAC_PI_2 - 1.5).powi(2)
            + 0.5 * 3.0 * (0.1f64 * 0.1 + 0.3 * 0.3)
            + 0.5 * 100.0 * (r01 - 1.0).powi(2);
        let got = energy(&setup);
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_terms_name_their_table() {
        let dir = scratch("bad");
        let cases = [
            (
                "[potential.tabulated]\ncutoff = 3.0\npairs = [{ r = [1.0, 2.0, 3.0], u = [0.0, 0.0, 0.0], file = \"t.dat\" }]\n",
                "give either `r` and `u` or `file`",
            ),
            (
                "[potential.tabulated]\ncutoff = 3.0\npairs = [{ file = \"missing.dat\" }]\n",
                "pairs[0].file",
            ),
            (
                "[potential.morse]\ncutoff = 3.0\npairs = [{ depth = 1.0, stiffness = 2.0 }]\n",
                "missing field `r0`",
            ),
            (
                "[[potential.restraints]]\natom = 7\ntarget = [0.0, 0.0, 0.0]\nk = 1.0\n",
                "restrains atom 7",
            ),
            (
                "[[potential.bonds]]\natoms = [0, 1]\nk = 1.0\nr0 = 1.0\nlength = 2.0\n",
                "unknown field `length`",
            ),
            (
                "[walls]\nlower = [2.0]\nupper = [1.0]\nkappa = [1.0]\n",
                "[walls]",
            ),
        ];
        for (extra, needle) in cases {
            let err = setup(&dir, &format!("{BASE}{extra}")).unwrap_err();
            assert!(
                format!("{err:#}").contains(needle),
                "`{needle}` not in {err:#}"
            );
        }
        std::fs::write(dir.join("t.dat"), "1.0 2.0\n1.5 x\n").unwrap();
        let err = setup(
            &dir,
            &format!(
                "{BASE}[potential.tabulated]\ncutoff = 3.0\npairs = [{{ file = \"t.dat\" }}]\n"
            ),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("t.dat:2: `x` is not a number"),
            "{err:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
