//! Free-energy surfaces on grids, shared by the exact and the sparse GP.

use crate::error::{GprError, Result};
use crate::grid::{FreeEnergySurface, Grid};

/// What a posterior must provide to produce a free-energy surface.
pub(crate) trait Engine {
    fn dim(&self) -> usize;
    /// Posterior mean of `A` at `points` (`m×d`).
    fn mean(&self, points: &[f64]) -> Vec<f64>;
    /// Whatever `var_cov` needs about the reference point `x0`.
    fn reference(&self, x0: &[f64]) -> Vec<f64>;
    /// Posterior variance of `A` at each point and its covariance with `A(x0)`.
    fn var_cov(&self, points: &[f64], x0: &[f64], reference: &[f64]) -> (Vec<f64>, Vec<f64>);
}

pub(crate) fn fes_on_grid<E: Engine>(
    engine: &E,
    grid: &Grid,
    with_std: bool,
) -> Result<FreeEnergySurface> {
    let d = engine.dim();
    if grid.dim() != d {
        return Err(GprError::DimensionMismatch {
            what: "grid dimension",
            expected: d,
            got: grid.dim(),
        });
    }
    let points = grid.points();
    let mut mean = engine.mean(&points);
    let (i0, &min) = mean
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .ok_or(GprError::Empty { what: "grid" })?;
    if !min.is_finite() {
        return Err(GprError::NonFinite {
            what: "posterior mean",
            index: i0,
        });
    }
    mean.iter_mut().for_each(|v| *v -= min);
    let (std, std_absolute) = if with_std {
        let x0 = &points[i0 * d..(i0 + 1) * d];
        let reference = engine.reference(x0);
        let (var, cov) = engine.var_cov(&points, x0, &reference);
        let var0 = var[i0];
        let rel = var
            .iter()
            .zip(&cov)
            .map(|(v, c)| (v + var0 - 2.0 * c).max(0.0).sqrt())
            .collect();
        let abs = var.iter().map(|v| v.max(0.0).sqrt()).collect();
        (Some(rel), Some(abs))
    } else {
        (None, None)
    };
    Ok(FreeEnergySurface {
        grid: grid.clone(),
        free_energy: mean,
        std,
        std_absolute,
        minimum_index: i0,
    })
}
