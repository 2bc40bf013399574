//! The `CollectiveVariable` trait and what it returns.

use std::fmt::Debug;

use thermograd_geometry::{Mat3, SimBox, Vec3};

use crate::error::{CvError, Result};

/// Values of a (possibly multi-dimensional) CV with its sparse Jacobian.
///
/// `gradients[c * atoms.len() + k]` is ∂ξ_c/∂r for atom `atoms[k]`; atoms not listed have
/// zero gradient. `strain[c]` is `Σ_k (∂ξ_c/∂r_k) ⊗ r_k` built from the same
/// minimum-image displacements as the value, i.e. the derivative of ξ_c under a
/// homogeneous deformation `r → (I + ε) r` of positions and box: `dξ_c = Σ_ab
/// strain[c][(a, b)] ε_ab`. A bias `U(ξ)` then contributes the virial
/// `W = −Σ_c (∂U/∂ξ_c) strain[c]ᵀ` (`W = Σ r ⊗ f`), correct under periodic boundaries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CvValue {
    /// CV values, one per component (units of the CV).
    pub values: Vec<f64>,
    /// Atoms with a nonzero gradient.
    pub atoms: Vec<usize>,
    /// Gradients, component-major (CV units per length unit).
    pub gradients: Vec<Vec3>,
    /// Strain derivative of each component (CV units).
    pub strain: Vec<Mat3>,
}

impl CvValue {
    /// Resets to `dim` components over `atoms`, all zero.
    pub fn reset(&mut self, dim: usize, atoms: &[usize]) {
        self.values.clear();
        self.values.resize(dim, 0.0);
        self.atoms.clear();
        self.atoms.extend_from_slice(atoms);
        self.gradients.clear();
        self.gradients.resize(dim * atoms.len(), Vec3::zeros());
        self.strain.clear();
        self.strain.resize(dim, Mat3::zeros());
    }

    /// Number of components.
    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// Gradient of component `c` with respect to the `k`-th listed atom.
    pub fn gradient(&self, c: usize, k: usize) -> Vec3 {
        self.gradients[c * self.atoms.len() + k]
    }

    /// The gradients of component `c`, one per listed atom.
    pub fn component_gradients(&self, c: usize) -> &[Vec3] {
        let n = self.atoms.len();
        &self.gradients[c * n..(c + 1) * n]
    }
}

/// A collective variable: a function of atom positions with an exact Jacobian.
///
/// Implementations must be consistent with periodic boundaries (use the box's minimum
/// image for every displacement) and say whether each component is periodic, so that
/// biases and estimators take differences the right way round.
///
/// A tiny implementation, the x coordinate of one atom (not periodic-aware, for brevity):
///
/// ```
/// use thermograd_cv::{CollectiveVariable, CvValue, Result};
/// use thermograd_geometry::{SimBox, Vec3, Mat3};
///
/// #[derive(Debug)]
/// struct XOf(usize);
///
/// impl CollectiveVariable for XOf {
///     fn name(&self) -> &str { "x" }
///     fn dim(&self) -> usize { 1 }
///     fn atoms(&self) -> &[usize] { std::slice::from_ref(&self.0) }
///     fn evaluate(&self, positions: &[Vec3], _: &SimBox, out: &mut CvValue) -> Result<()> {
///         out.reset(1, self.atoms());
///         out.values[0] = positions[self.0].x;
///         out.gradients[0] = Vec3::x();
///         out.strain[0] = Vec3::x() * positions[self.0].transpose();
///         Ok(())
///     }
/// }
///
/// let mut value = CvValue::default();
/// XOf(1).evaluate(&[Vec3::zeros(), Vec3::new(2.0, 0.0, 0.0)], &SimBox::open(), &mut value)?;
/// assert_eq!(value.values[0], 2.0);
/// # Ok::<(), thermograd_cv::CvError>(())
/// ```
pub trait CollectiveVariable: Send + Sync + Debug {
    /// A short name for reports and file headers.
    fn name(&self) -> &str;
    /// Number of components.
    fn dim(&self) -> usize;
    /// The atoms the CV depends on (the order of [`CvValue::atoms`]).
    fn atoms(&self) -> &[usize];
    /// The period of component `c` if it is periodic (a dihedral: 2π), else `None`.
    fn period(&self, _component: usize) -> Option<f64> {
        None
    }
    /// Computes values, gradients and strain derivatives into `out`.
    fn evaluate(&self, positions: &[Vec3], simbox: &SimBox, out: &mut CvValue) -> Result<()>;
}

/// `a − b` for a component with the given period, mapped into `[−period/2, period/2)`.
pub fn periodic_difference(a: f64, b: f64, period: Option<f64>) -> f64 {
    let d = a - b;
    match period {
        Some(p) => d - p * (d / p).round(),
        None => d,
    }
}

/// Checks that every atom index is below `n_atoms` and that all positions are finite.
pub(crate) fn check_atoms(atoms: &[usize], positions: &[Vec3]) -> Result<()> {
    for &index in atoms {
        let r = positions.get(index).ok_or(CvError::AtomOutOfRange {
            index,
            n_atoms: positions.len(),
        })?;
        if !(r.x.is_finite() && r.y.is_finite() && r.z.is_finite()) {
            return Err(CvError::NonFinite { what: "position" });
        }
    }
    Ok(())
}

pub(crate) fn check_distinct(atoms: &[usize], what: &str) -> Result<()> {
    for (k, a) in atoms.iter().enumerate() {
        if atoms[..k].contains(a) {
            return Err(CvError::InvalidDefinition {
                reason: format!("{what}: atom {a} appears twice"),
            });
        }
    }
    Ok(())
}
