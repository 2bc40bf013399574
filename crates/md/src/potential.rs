//! The [`Potential`] trait, its output buffer [`Evaluation`], and composition by summation.

use std::fmt::Debug;

use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_neighbors::NeighborList;

use crate::{MdError, Result};

/// A read-only view of a configuration, as seen by a [`Potential`].
///
/// `neighbors`, when present, is a **half** Verlet list that is up to date with
/// `positions` and whose cutoff is at least the largest [`Potential::cutoff`] of the
/// potentials being evaluated; entries must still be filtered by each potential's own
/// cutoff (the list also holds pairs within its skin). Its entries index
/// [`NeighborList::positions`], which holds real atoms followed by periodic ghost images:
/// the displacement of a pair is `positions()[j] − positions()[i]`, and the force on
/// entry `j` belongs to atom [`NeighborList::source`]`(j)`.
#[derive(Clone, Copy, Debug)]
pub struct Configuration<'a> {
    /// Positions of the atoms (length units); they need not be wrapped into the box.
    pub positions: &'a [Vec3],
    /// Species index of each atom.
    pub species: &'a [u32],
    /// The simulation box.
    pub simbox: &'a SimBox,
    /// A half neighbor list, for potentials with a cutoff.
    pub neighbors: Option<&'a NeighborList>,
}

/// Energy, forces and virial of a configuration; a caller-owned buffer to which
/// potentials *add* their contributions.
///
/// - `energy` (energy units).
/// - `forces[i] = −∂E/∂r_i` (energy / length units).
/// - `virial` is the tensor `W = Σ_i r_i ⊗ f_i` (`W_ab = Σ r_a f_b`); for pair terms
///   `W = Σ_{pairs} r_ij ⊗ f_ij` with `r_ij = r_i − r_j` and `f_ij` the force on `i` due to
///   `j`. In general `W_ab = −∂E/∂ε_ba` under the homogeneous deformation
///   `r → (1 + ε) r`, `h → (1 + ε) h` (the transpose matters only for terms that exert a
///   net torque, such as restraints to fixed points).
///   It is positive for repulsion, and the pressure tensor is
///   `P = (Σ_i m_i v_i ⊗ v_i + W) / V`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Potential energy (energy units).
    pub energy: f64,
    /// Force on each atom (energy/length units).
    pub forces: Vec<Vec3>,
    /// Virial tensor `Σ r_ij ⊗ f_ij` (energy units).
    pub virial: Mat3,
    /// Work buffers of the pair loop, kept between evaluations (not part of the result).
    pub(crate) scratch: Scratch,
}

/// Per-thread force buffers over a neighbor list's entries, reused from one evaluation
/// to the next so that the pair loop neither allocates nor faults in fresh pages every
/// step. Not part of the result: a clone starts empty and any two compare equal.
#[derive(Default)]
pub(crate) struct Scratch {
    /// One force buffer per part of the rows.
    pub(crate) buffers: Vec<Vec<Vec3>>,
    /// The split of the rows into parts, and what it was computed for (list address,
    /// list builds, atoms, threads). A stale split would only balance the load worse:
    /// every split covers all rows.
    pub(crate) ranges: Vec<std::ops::Range<usize>>,
    pub(crate) ranges_key: Option<(usize, usize, usize, usize)>,
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} buffers)", self.buffers.len())
    }
}

impl Evaluation {
    /// A zeroed buffer for `n_atoms` atoms.
    pub fn zeros(n_atoms: usize) -> Self {
        Evaluation {
            energy: 0.0,
            forces: vec![Vec3::zeros(); n_atoms],
            virial: Mat3::zeros(),
            scratch: Scratch::default(),
        }
    }

    /// Zeroes the buffer and sizes it for `n_atoms` atoms, keeping its allocation.
    pub fn reset(&mut self, n_atoms: usize) {
        self.energy = 0.0;
        self.forces.clear();
        self.forces.resize(n_atoms, Vec3::zeros());
        self.virial = Mat3::zeros();
    }

    /// Fails with [`MdError::Mismatch`] unless the force buffer holds `n_atoms` atoms: the
    /// check every potential makes before adding to it.
    pub fn check_atoms(&self, n_atoms: usize) -> Result<()> {
        if self.forces.len() == n_atoms {
            Ok(())
        } else {
            Err(MdError::Mismatch {
                what: "force buffer length",
                expected: n_atoms,
                got: self.forces.len(),
            })
        }
    }

    /// Whether energy, virial and every force are finite.
    pub fn is_finite(&self) -> bool {
        self.energy.is_finite()
            && self.virial.iter().all(|w| w.is_finite())
            && self.forces.iter().all(|f| f.iter().all(|x| x.is_finite()))
    }
}

/// An energy function of a configuration: adds its energy, forces (−∇E) and virial
/// tensor to an [`Evaluation`].
///
/// Potentials compose by summation ([`PotentialSum`]), so a learned correction can sit on
/// top of a physical prior. Implementations must be `Send + Sync` (simulations may
/// evaluate them from worker threads) and object-safe use is the norm
/// (`Box<dyn Potential>`).
///
/// Conventions: forces are `−∂E/∂r_i`; the virial is `W = Σ r_ij ⊗ f_ij`, which for a
/// term that depends on positions only through differences equals `Σ_i r_i ⊗ f_i`
/// with consistent images (see [`Evaluation`]). Terms that are not translation
/// invariant (external fields, restraints to fixed points) use `Σ_i r_i ⊗ f_i` with
/// the positions as given.
///
/// A tiny implementation, a harmonic tether of every atom to the origin,
/// `E = ½ k Σ |r_i|²`:
///
/// ```
/// use thermograd_md::{Configuration, Evaluation, Potential, Result};
///
/// #[derive(Debug)]
/// struct Tether { k: f64 }
///
/// impl Potential for Tether {
///     fn cutoff(&self) -> Option<f64> { None }
///     fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
///         for (r, f) in config.positions.iter().zip(&mut out.forces) {
///             out.energy += 0.5 * self.k * r.norm_squared();
///             let force = -self.k * r;
///             *f += force;
///             out.virial += r * force.transpose();
///         }
///         Ok(())
///     }
/// }
///
/// use thermograd_geometry::{SimBox, Vec3};
/// let positions = [Vec3::new(1.0, 0.0, 0.0), Vec3::new(0.0, 2.0, 0.0)];
/// let simbox = SimBox::open();
/// let config = Configuration { positions: &positions, species: &[0, 0], simbox: &simbox, neighbors: None };
/// let mut out = Evaluation::zeros(2);
/// Tether { k: 2.0 }.add_to(&config, &mut out)?;
/// assert_eq!(out.energy, 5.0);
/// assert_eq!(out.forces[1], Vec3::new(0.0, -4.0, 0.0));
/// # Ok::<(), thermograd_md::MdError>(())
/// ```
pub trait Potential: Send + Sync + Debug {
    /// The interaction cutoff this potential needs from the neighbor list (length
    /// units), or `None` if it needs no neighbor list (bonded and external terms,
    /// Ewald reciprocal space).
    fn cutoff(&self) -> Option<f64>;

    /// Adds this potential's energy, forces and virial for `config` to `out`, whose
    /// `forces` has one entry per atom.
    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()>;

    /// A short name for logs and reports.
    fn name(&self) -> &str {
        "potential"
    }
}

/// A sum of potentials, itself a [`Potential`]; its cutoff is the largest of its terms'.
#[derive(Debug, Default)]
pub struct PotentialSum {
    terms: Vec<Box<dyn Potential>>,
}

impl PotentialSum {
    /// An empty sum (zero energy).
    pub fn new() -> Self {
        PotentialSum::default()
    }

    /// Adds a term; returns `self` for chaining.
    pub fn with(mut self, term: impl Potential + 'static) -> Self {
        self.terms.push(Box::new(term));
        self
    }

    /// Adds a boxed term.
    pub fn push(&mut self, term: Box<dyn Potential>) {
        self.terms.push(term);
    }

    /// The terms.
    pub fn terms(&self) -> &[Box<dyn Potential>] {
        &self.terms
    }
}

impl From<Vec<Box<dyn Potential>>> for PotentialSum {
    fn from(terms: Vec<Box<dyn Potential>>) -> Self {
        PotentialSum { terms }
    }
}

impl Potential for PotentialSum {
    fn cutoff(&self) -> Option<f64> {
        self.terms
            .iter()
            .filter_map(|t| t.cutoff())
            .fold(None, |m, c| Some(m.map_or(c, |m: f64| m.max(c))))
    }

    fn add_to(&self, config: &Configuration<'_>, out: &mut Evaluation) -> Result<()> {
        for term in &self.terms {
            term.add_to(config, out)?;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "sum"
    }
}
