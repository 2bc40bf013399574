//! Datasets of configurations: labels, coarse-grain mapping, seeded shuffling, splits,
//! batches and feature standardisation (chemtrain §4.2.1, the `data` module).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thermograd_geometry::{LinearMap, Mat3, SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential, SpeciesTable};
use thermograd_nn::{Frame, LabeledFrame};

use crate::error::{config_error, Result, TrainError};
use crate::units::UnitConversion;

/// One configuration with whatever reference labels it has.
///
/// Units are the dataset's (internal) units: positions in length, `energy` in energy,
/// `forces` in energy/length, `virial` the tensor `W = Σ r_ij ⊗ f_ij` in energy (the
/// convention of [`thermograd_md::Evaluation`], positive for repulsion; ASE's
/// `virial` key uses the same sign).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Structure {
    /// Positions (length units).
    pub positions: Vec<Vec3>,
    /// The box.
    pub simbox: SimBox,
    /// Species index of each atom.
    pub species: Vec<u32>,
    /// Reference potential energy (energy units).
    pub energy: Option<f64>,
    /// Reference forces (energy/length units).
    pub forces: Option<Vec<Vec3>>,
    /// Reference virial `Σ r_ij ⊗ f_ij` (energy units).
    pub virial: Option<Mat3>,
}

impl Structure {
    /// An unlabelled structure.
    pub fn new(positions: Vec<Vec3>, species: Vec<u32>, simbox: SimBox) -> Self {
        Structure {
            positions,
            simbox,
            species,
            energy: None,
            forces: None,
            virial: None,
        }
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.positions.len()
    }

    /// The configuration as a model input.
    pub fn frame(&self) -> Frame {
        Frame {
            positions: self.positions.clone(),
            species: self.species.clone(),
            simbox: self.simbox.clone(),
        }
    }

    /// Checks lengths and finiteness; `index` names the structure in the error.
    pub fn validate(&self, index: usize) -> Result<()> {
        let bad = |reason: String| config_error("structure", format!("#{index}: {reason}"));
        let n = self.positions.len();
        if n == 0 {
            return Err(bad("no atoms".into()));
        }
        if self.species.len() != n {
            return Err(bad(format!("{n} atoms but {} species", self.species.len())));
        }
        if let Some(atom) = self.positions.iter().position(|r| !finite3(r)) {
            return Err(bad(format!("non-finite position of atom {atom}")));
        }
        if let Some(e) = self.energy {
            if !e.is_finite() {
                return Err(bad("non-finite energy".into()));
            }
        }
        if let Some(f) = &self.forces {
            if f.len() != n {
                return Err(bad(format!("{n} atoms but {} forces", f.len())));
            }
            if let Some(atom) = f.iter().position(|r| !finite3(r)) {
                return Err(bad(format!("non-finite force on atom {atom}")));
            }
        }
        if let Some(w) = &self.virial {
            if !w.iter().all(|x| x.is_finite()) {
                return Err(bad("non-finite virial".into()));
            }
        }
        Ok(())
    }

    /// Converts from a file's units to internal ones (`internal = factor · file`).
    pub fn convert_units(&mut self, units: &UnitConversion) -> Result<()> {
        units.validate()?;
        if units.is_identity() {
            return Ok(());
        }
        for r in &mut self.positions {
            *r *= units.length;
        }
        if let Some(h) = self.simbox.cell() {
            let h = h * units.length;
            self.simbox = rebox(&self.simbox, h)?;
        }
        if let Some(e) = &mut self.energy {
            *e *= units.energy;
        }
        if let Some(f) = &mut self.forces {
            for v in f {
                *v *= units.force();
            }
        }
        if let Some(w) = &mut self.virial {
            *w *= units.energy;
        }
        Ok(())
    }
}

/// A box of the same kind as `like` with cell matrix `h` (columns = lattice vectors).
pub(crate) fn rebox(like: &SimBox, h: Mat3) -> Result<SimBox> {
    use thermograd_geometry::BoxKind;
    let b = match like.kind() {
        BoxKind::Open => Ok(SimBox::open()),
        BoxKind::Orthorhombic => SimBox::orthorhombic([h[(0, 0)], h[(1, 1)], h[(2, 2)]]),
        _ => SimBox::triclinic(h),
    };
    b.map_err(|e| config_error("box", e.to_string()))
}

fn finite3(v: &Vec3) -> bool {
    v.x.is_finite() && v.y.is_finite() && v.z.is_finite()
}

/// Fractions of a dataset held out for validation and testing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Fraction for validation, in `[0, 1)`.
    pub validation: f64,
    /// Fraction for testing, in `[0, 1)`.
    pub test: f64,
    /// Seed of the shuffle that precedes the split.
    pub seed: u64,
}

/// Training, validation and test parts of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Training part.
    pub train: Dataset,
    /// Validation part (may be empty).
    pub validation: Dataset,
    /// Test part (may be empty).
    pub test: Dataset,
}

/// A set of [`Structure`]s with the names of their species.
///
/// ```
/// use thermograd_geometry::{SimBox, Vec3};
/// use thermograd_train::{Dataset, SplitConfig, Structure};
///
/// let structures: Vec<Structure> = (0..10)
///     .map(|k| Structure::new(vec![Vec3::new(k as f64, 0.0, 0.0)], vec![0], SimBox::open()))
///     .collect();
/// let data = Dataset::new(structures, Default::default())?;
/// let split = data.split(&SplitConfig { validation: 0.2, test: 0.1, seed: 3 })?;
/// assert_eq!((split.train.len(), split.validation.len(), split.test.len()), (7, 2, 1));
/// # Ok::<(), thermograd_train::TrainError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    structures: Vec<Structure>,
    species: SpeciesTable,
}

impl Dataset {
    /// A validated dataset; `species` names the species indices (it may be empty, then
    /// indices are not checked against names).
    pub fn new(structures: Vec<Structure>, species: SpeciesTable) -> Result<Self> {
        for (k, s) in structures.iter().enumerate() {
            s.validate(k)?;
            let n_names = species.names().len();
            if n_names > 0 {
                if let Some(atom) = s.species.iter().position(|&x| x as usize >= n_names) {
                    return Err(config_error(
                        "structure",
                        format!(
                            "#{k}: atom {atom} has species {} but only {n_names} names are known",
                            s.species[atom]
                        ),
                    ));
                }
            }
        }
        Ok(Dataset {
            structures,
            species,
        })
    }

    /// Number of structures.
    pub fn len(&self) -> usize {
        self.structures.len()
    }

    /// Whether there are no structures.
    pub fn is_empty(&self) -> bool {
        self.structures.is_empty()
    }

    /// The structures.
    pub fn structures(&self) -> &[Structure] {
        &self.structures
    }

    /// The species names.
    pub fn species(&self) -> &SpeciesTable {
        &self.species
    }

    /// Number of distinct species indices used (`1 + max index`).
    pub fn n_species(&self) -> usize {
        self.structures
            .iter()
            .flat_map(|s| s.species.iter())
            .map(|&s| s as usize + 1)
            .max()
            .unwrap_or(0)
            .max(self.species.names().len())
    }

    /// The structures at `indices` (in that order).
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset> {
        let structures = indices
            .iter()
            .map(|&i| {
                self.structures.get(i).cloned().ok_or_else(|| {
                    config_error("subset", format!("index {i} of {} structures", self.len()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset {
            structures,
            species: self.species.clone(),
        })
    }

    /// A copy in a seeded random order.
    pub fn shuffled(&self, seed: u64) -> Dataset {
        let order = permutation(self.len(), seed);
        Dataset {
            structures: order.iter().map(|&i| self.structures[i].clone()).collect(),
            species: self.species.clone(),
        }
    }

    /// Shuffles (seeded), then cuts off the validation and test fractions (rounded to
    /// the nearest structure count); the rest is for training and must not be empty.
    pub fn split(&self, config: &SplitConfig) -> Result<Split> {
        let ok = |f: f64| f.is_finite() && (0.0..1.0).contains(&f);
        if !(ok(config.validation) && ok(config.test) && config.validation + config.test < 1.0) {
            return Err(config_error(
                "split",
                "validation and test fractions must be in [0, 1) and sum below 1",
            ));
        }
        let n = self.len();
        let n_val = (config.validation * n as f64).round() as usize;
        let n_test = (config.test * n as f64).round() as usize;
        if n_val + n_test >= n {
            return Err(config_error(
                "split",
                format!("{n} structures leave none for training"),
            ));
        }
        let order = permutation(n, config.seed);
        let (val, rest) = order.split_at(n_val);
        let (test, train) = rest.split_at(n_test);
        Ok(Split {
            train: self.subset(train)?,
            validation: self.subset(val)?,
            test: self.subset(test)?,
        })
    }

    /// Appends the structures of `other` (species names must agree where both have
    /// them).
    pub fn extend(&mut self, other: Dataset) -> Result<()> {
        let (a, b) = (self.species.names(), other.species.names());
        if !b.is_empty() {
            if a.is_empty() {
                self.species = other.species.clone();
            } else if a.iter().zip(b).any(|(x, y)| x != y) {
                return Err(config_error(
                    "datasets",
                    format!("species names differ: {a:?} and {b:?}"),
                ));
            } else if b.len() > a.len() {
                self.species = other.species.clone();
            }
        }
        self.structures.extend(other.structures);
        Ok(())
    }

    /// Maps every structure through a linear coarse-grain map (Noid et al. 2008;
    /// chemtrain eq. 12 and the force map of eq. 15): bead positions
    /// `R_I = Σ c_Ii r_i`, bead forces `F_I = Σ d_Ii f_i`. Bead `I` gets species
    /// `bead_species[I]`, named by `bead_names` (may be empty). Fine-grained energies
    /// and virials are dropped: they are not coarse-grained observables (chemtrain
    /// §3.2.1).
    pub fn coarse_grain(
        &self,
        map: &LinearMap,
        bead_species: &[u32],
        bead_names: SpeciesTable,
    ) -> Result<Dataset> {
        if bead_species.len() != map.n_beads() {
            return Err(config_error(
                "bead species",
                format!("{} for {} beads", bead_species.len(), map.n_beads()),
            ));
        }
        let structures = self
            .structures
            .iter()
            .map(|s| {
                let positions = map.map_positions(&s.positions, &s.simbox)?;
                let forces = s.forces.as_ref().map(|f| map.map_forces(f)).transpose()?;
                Ok(Structure {
                    positions,
                    simbox: s.simbox.clone(),
                    species: bead_species.to_vec(),
                    energy: None,
                    forces,
                    virial: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Dataset::new(structures, bead_names)
    }

    /// The same structures with a fixed potential's energy, forces and virial subtracted
    /// from their labels, so that a model trained on them is a correction to that prior
    /// (Δ-learning, chemtrain eq. 23): simulate the prior plus the trained model.
    pub fn subtract_potential(&self, potential: &dyn Potential) -> Result<Dataset> {
        let structures = self
            .structures
            .iter()
            .map(|s| {
                let mut e = Evaluation::zeros(s.n_atoms());
                let config = Configuration {
                    positions: &s.positions,
                    species: &s.species,
                    simbox: &s.simbox,
                    neighbors: None,
                };
                potential.add_to(&config, &mut e)?;
                let mut out = s.clone();
                if let Some(x) = &mut out.energy {
                    *x -= e.energy;
                }
                if let Some(f) = &mut out.forces {
                    for (a, b) in f.iter_mut().zip(&e.forces) {
                        *a -= b;
                    }
                }
                if let Some(w) = &mut out.virial {
                    *w -= e.virial;
                }
                Ok(out)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset {
            structures,
            species: self.species.clone(),
        })
    }

    /// Converts every structure from a file's units to internal ones.
    pub fn convert_units(&mut self, units: &UnitConversion) -> Result<()> {
        self.structures
            .iter_mut()
            .try_for_each(|s| s.convert_units(units))
    }

    /// The configurations as model inputs.
    pub fn frames(&self) -> Vec<Frame> {
        self.structures.iter().map(Structure::frame).collect()
    }

    /// Frames with reference energies and forces, for
    /// [`thermograd_nn::BehlerParrinello::force_matching`]; every structure must have
    /// forces (a missing energy becomes 0, so give it weight 0).
    pub fn labeled_frames(&self) -> Result<Vec<LabeledFrame>> {
        self.structures
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let forces = s.forces.clone().ok_or(TrainError::MissingLabel {
                    what: "forces",
                    index: k,
                })?;
                Ok(LabeledFrame {
                    frame: s.frame(),
                    energy: s.energy.unwrap_or(0.0),
                    forces,
                })
            })
            .collect()
    }

    /// Standard deviation of all reference force components (energy/length units), the
    /// scale against which force errors are judged; `None` without forces.
    pub fn force_std(&self) -> Option<f64> {
        let comps: Vec<f64> = self
            .structures
            .iter()
            .filter_map(|s| s.forces.as_ref())
            .flat_map(|f| f.iter().flat_map(|v| v.iter().copied()))
            .collect();
        (comps.len() > 1).then(|| std_dev(&comps))
    }
}

fn std_dev(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// A seeded random permutation of `0..n` (ChaCha8, Fisher–Yates).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// Indices `0..n` in batches of at most `batch_size`, shuffled with `seed` (in order
/// without one). The last batch may be smaller.
pub fn batch_indices(n: usize, batch_size: usize, seed: Option<u64>) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(config_error("batch size", "must be at least 1"));
    }
    let order = match seed {
        Some(seed) => permutation(n, seed),
        None => (0..n).collect(),
    };
    Ok(order.chunks(batch_size).map(<[usize]>::to_vec).collect())
}

/// Per-feature standardisation `x' = (x − mean) / std`, fitted on training rows; a
/// feature that does not vary keeps scale 1.
///
/// ```
/// use thermograd_train::Standardizer;
/// let rows = vec![vec![1.0, 10.0], vec![3.0, 10.0]];
/// let s = Standardizer::fit(&rows)?;
/// assert_eq!(s.transform(&[3.0, 10.0])?, vec![1.0 / 2f64.sqrt(), 0.0]);
/// assert_eq!(s.inverse(&s.transform(&[2.0, 7.0])?)?, vec![2.0, 7.0]);
/// # Ok::<(), thermograd_train::TrainError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature (1 for constant features).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits means and (sample) standard deviations of the columns of `rows`.
    pub fn fit(rows: &[Vec<f64>]) -> Result<Self> {
        let Some(first) = rows.first() else {
            return Err(config_error("standardizer", "no rows to fit"));
        };
        let d = first.len();
        if let Some(k) = rows.iter().position(|r| r.len() != d) {
            return Err(config_error(
                "standardizer",
                format!("row {k} has {} features, row 0 has {d}", rows[k].len()),
            ));
        }
        if rows.iter().flatten().any(|x| !x.is_finite()) {
            return Err(TrainError::NonFinite { what: "feature" });
        }
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let std = (0..d)
            .map(|j| {
                if rows.len() < 2 {
                    return 1.0;
                }
                let s =
                    (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                if s > 1e-12 * mean[j].abs().max(1e-300) {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Standardizer { mean, std })
    }

    fn check(&self, x: &[f64]) -> Result<()> {
        if x.len() == self.mean.len() {
            Ok(())
        } else {
            Err(config_error(
                "features",
                format!("{} given, {} fitted", x.len(), self.mean.len()),
            ))
        }
    }

    /// Standardised features.
    pub fn transform(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.check(x)?;
        Ok(x.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(x, (m, s))| (x - m) / s)
            .collect())
    }

    /// Features back from standardised values.
    pub fn inverse(&self, z: &[f64]) -> Result<Vec<f64>> {
        self.check(z)?;
        Ok(z.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(z, (m, s))| z * s + m)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        let b = SimBox::cubic(5.0).unwrap();
        let s = (0..n)
            .map(|k| {
                let mut s = Structure::new(
                    vec![
                        Vec3::new(k as f64 * 0.1, 0.0, 0.0),
                        Vec3::new(1.0, 1.0, 1.0),
                    ],
                    vec![0, 1],
                    b.clone(),
                );
                s.forces = Some(vec![Vec3::new(1.0, 0.0, 0.0), Vec3::new(-1.0, 0.0, 0.0)]);
                s.energy = Some(k as f64);
                s
            })
            .collect();
        Dataset::new(s, Default::default()).unwrap()
    }

    #[test]
    fn splits_partition_the_data_and_are_seeded() {
        let d = toy(20);
        let c = SplitConfig {
            validation: 0.25,
            test: 0.1,
            seed: 5,
        };
        let s = d.split(&c).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (13, 5, 2)
        );
        let mut energies: Vec<f64> = [&s.train, &s.validation, &s.test]
            .iter()
            .flat_map(|d| d.structures().iter().map(|s| s.energy.unwrap()))
            .collect();
        energies.sort_by(f64::total_cmp);
        assert_eq!(energies, (0..20).map(|k| k as f64).collect::<Vec<_>>());
        assert_eq!(d.split(&c).unwrap(), s);
        let other = d.split(&SplitConfig { seed: 6, ..c }).unwrap();
        assert_ne!(other.train, s.train);
        assert!(d
            .split(&SplitConfig {
                validation: 0.6,
                test: 0.5,
                seed: 0
            })
            .is_err());
    }

    #[test]
    fn batches_cover_every_index_once() {
        let b = batch_indices(10, 4, Some(1)).unwrap();
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = b.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_ne!(b.concat(), (0..10).collect::<Vec<_>>());
        assert!(batch_indices(3, 0, None).is_err());
    }

    #[test]
    fn bad_structures_are_errors() {
        let b = SimBox::open();
        let mut s = Structure::new(vec![Vec3::zeros(); 2], vec![0], b.clone());
        assert!(s.validate(0).is_err());
        s.species = vec![0, 0];
        s.forces = Some(vec![Vec3::zeros()]);
        assert!(s.validate(0).is_err());
        s.forces = Some(vec![Vec3::zeros(), Vec3::new(f64::NAN, 0.0, 0.0)]);
        assert!(s.validate(0).is_err());
    }

    #[test]
    fn coarse_graining_maps_positions_and_sums_forces() {
        let d = toy(3);
        let map = LinearMap::center_of_mass(2, &[vec![0, 1]], &[1.0, 3.0]).unwrap();
        let cg = d.coarse_grain(&map, &[0], Default::default()).unwrap();
        let s = &cg.structures()[1];
        let expect = (Vec3::new(0.1, 0.0, 0.0) + 3.0 * Vec3::new(1.0, 1.0, 1.0)) / 4.0;
        assert!((s.positions[0] - expect).norm() < 1e-12);
        assert_eq!(s.forces.as_ref().unwrap()[0], Vec3::zeros());
        assert_eq!(s.energy, None);
    }

    #[test]
    fn subtracting_a_potential_leaves_the_residual_labels() {
        let mut structures = toy(2).structures().to_vec();
        for s in &mut structures {
            s.species = vec![0, 0];
        }
        let d = Dataset::new(structures, Default::default()).unwrap();
        let wca = thermograd_md::WcaConfig::single(1.0, 1.0).build().unwrap();
        let lj = thermograd_md::LennardJonesConfig::single(1.0, 1.0, 2.0)
            .build()
            .unwrap();
        // Pairs at 1.73 (frame 0) and ~1.65 (frame 1): WCA is zero there, LJ is not.
        let same = d.subtract_potential(&wca).unwrap();
        assert_eq!(same, d);
        let r = d.subtract_potential(&lj).unwrap();
        let s0 = &d.structures()[0];
        let dist = (s0.positions[1] - s0.positions[0]).norm();
        let u = 4.0 * (dist.powi(-12) - dist.powi(-6));
        assert!((r.structures()[0].energy.unwrap() - (0.0 - u)).abs() < 1e-12);
    }

    #[test]
    fn unit_conversion_scales_each_quantity() {
        let mut d = toy(2);
        let c = UnitConversion {
            length: 0.1,
            energy: 2.0,
        };
        d.convert_units(&c).unwrap();
        let s = &d.structures()[1];
        assert!((s.positions[1] - Vec3::new(0.1, 0.1, 0.1)).norm() < 1e-15);
        assert!((s.simbox.volume().unwrap() - 0.125).abs() < 1e-12);
        assert_eq!(s.energy, Some(2.0));
        assert!((s.forces.as_ref().unwrap()[0].x - 20.0).abs() < 1e-12);
    }

    #[test]
    fn standardizer_gives_zero_mean_unit_variance() {
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|k| vec![k as f64, 3.0 * (k as f64).sin() + 7.0])
            .collect();
        let s = Standardizer::fit(&rows).unwrap();
        let z: Vec<Vec<f64>> = rows.iter().map(|r| s.transform(r).unwrap()).collect();
        for j in 0..2 {
            let col: Vec<f64> = z.iter().map(|r| r[j]).collect();
            assert!(col.iter().sum::<f64>().abs() < 1e-10);
            assert!((std_dev(&col) - 1.0).abs() < 1e-12);
        }
        assert!(Standardizer::fit(&[]).is_err());
        assert!(s.transform(&[1.0]).is_err());
    }
}
