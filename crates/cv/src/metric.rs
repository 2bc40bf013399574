//! The mass-metric tensor of a collective variable.

use nalgebra::DMatrix;

use crate::cv::CvValue;
use crate::error::{CvError, Result};

/// `Z_ab = Σ_i m_i⁻¹ (∂ξ_a/∂r_i)·(∂ξ_b/∂r_i)` for the atoms of `value`; `masses` holds one
/// entry per atom of the whole system (mass units). Units: CV² / (mass · length²).
///
/// Z enters the mean force of constrained and blue-moon sampling and the relation between
/// the free energy in ξ and its projection (Fixman/Jacobian corrections).
pub fn mass_metric(value: &CvValue, masses: &[f64]) -> Result<DMatrix<f64>> {
    let dim = value.dim();
    let mut z = DMatrix::zeros(dim, dim);
    for (k, &atom) in value.atoms.iter().enumerate() {
        let m = *masses.get(atom).ok_or(CvError::AtomOutOfRange {
            index: atom,
            n_atoms: masses.len(),
        })?;
        if !(m.is_finite() && m > 0.0) {
            return Err(CvError::InvalidDefinition {
                reason: format!("atom {atom} has mass {m}; masses must be positive"),
            });
        }
        for a in 0..dim {
            let ga = value.gradient(a, k);
            for b in 0..=a {
                let v = ga.dot(&value.gradient(b, k)) / m;
                z[(a, b)] += v;
                if a != b {
                    z[(b, a)] += v;
                }
            }
        }
    }
    Ok(z)
}
