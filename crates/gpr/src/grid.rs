//! Regular grids of CV points and free-energy surfaces on them.

use serde::{Deserialize, Serialize};

use crate::error::{GprError, Result};

/// One grid axis: `n` evenly spaced points from `lo` to `hi` inclusive (CV units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// First coordinate.
    pub lo: f64,
    /// Last coordinate.
    pub hi: f64,
    /// Number of points (≥ 1; with 1 the axis is just `lo`).
    pub n: usize,
}

impl Axis {
    /// Coordinate of point `i`.
    pub fn coordinate(&self, i: usize) -> f64 {
        if self.n <= 1 {
            self.lo
        } else {
            self.lo + (self.hi - self.lo) * i as f64 / (self.n - 1) as f64
        }
    }
}

/// A regular grid, the product of its axes; point index `i` runs with the **last**
/// dimension fastest (C order), which is also the row order of the CLI's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    axes: Vec<Axis>,
}

impl Grid {
    /// Validates the axes: at least one, finite bounds, `lo < hi` when `n > 1`, `n ≥ 1`.
    pub fn new(axes: Vec<Axis>) -> Result<Self> {
        if axes.is_empty() {
            return Err(GprError::Empty { what: "grid axes" });
        }
        for ax in &axes {
            let spec = format!("{}:{}:{}", ax.lo, ax.hi, ax.n);
            if !ax.lo.is_finite() || !ax.hi.is_finite() {
                return Err(GprError::InvalidGrid {
                    spec,
                    reason: "bounds must be finite",
                });
            }
            if ax.n == 0 {
                return Err(GprError::InvalidGrid {
                    spec,
                    reason: "need at least one point",
                });
            }
            if ax.n > 1 && ax.lo >= ax.hi {
                return Err(GprError::InvalidGrid {
                    spec,
                    reason: "lo must be below hi",
                });
            }
        }
        Ok(Self { axes })
    }

    /// Parses `lo:hi:n` per dimension, comma-separated, e.g. `-1.5:1.2:60,-0.5:2:60`.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut axes = Vec::new();
        for part in spec.split(',') {
            let fields: Vec<&str> = part.trim().split(':').collect();
            let bad = |reason| GprError::InvalidGrid {
                spec: part.to_string(),
                reason,
            };
            if fields.len() != 3 {
                return Err(bad("expected lo:hi:n"));
            }
            let lo: f64 = fields[0]
                .trim()
                .parse()
                .map_err(|_| bad("lo is not a number"))?;
            let hi: f64 = fields[1]
                .trim()
                .parse()
                .map_err(|_| bad("hi is not a number"))?;
            let n: usize = fields[2]
                .trim()
                .parse()
                .map_err(|_| bad("n is not a non-negative integer"))?;
            axes.push(Axis { lo, hi, n });
        }
        Self::new(axes)
    }

    /// The axes.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.axes.len()
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.n).product()
    }

    /// Always false (a valid grid has at least one point); for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Coordinates of point `i`, written to `out` (length `dim`).
    pub fn point(&self, mut i: usize, out: &mut [f64]) {
        for (a, ax) in self.axes.iter().enumerate().rev() {
            out[a] = ax.coordinate(i % ax.n);
            i /= ax.n;
        }
    }

    /// All points, `len × dim` row-major.
    pub fn points(&self) -> Vec<f64> {
        let d = self.dim();
        let mut out = vec![0.0; self.len() * d];
        for (i, p) in out.chunks_mut(d).enumerate() {
            self.point(i, p);
        }
        out
    }
}

/// A free-energy surface on a grid, from [`crate::GaussianProcess::free_energy_on_grid`]
/// or [`crate::SparseGp::free_energy_on_grid`]. Energies are in the units of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergySurface {
    /// The grid.
    pub grid: Grid,
    /// Posterior mean of `A`, shifted so that its minimum over the grid is 0.
    pub free_energy: Vec<f64>,
    /// Posterior standard deviation of `A(x) − A(x₀)`, the free energy relative to the
    /// grid minimum `x₀`, which is what `free_energy` reports (0 at `x₀`). `None` if not
    /// requested.
    pub std: Option<Vec<f64>>,
    /// Posterior standard deviation of `A(x)` itself. With gradient-only data this
    /// includes the unidentified constant and is dominated by the prior variance far
    /// from `x₀`; it is meaningful when values were observed. `None` if not requested.
    pub std_absolute: Option<Vec<f64>>,
    /// Index of the grid minimum `x₀`.
    pub minimum_index: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let g = Grid::parse("-1:1:3, 0:10:2").unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(
            g.points(),
            vec![-1.0, 0.0, -1.0, 10.0, 0.0, 0.0, 0.0, 10.0, 1.0, 0.0, 1.0, 10.0]
        );
        for bad in ["", "1:0:3", "0:1", "0:1:x", "0:nan:3", "0:1:0", "0:1:-2"] {
            assert!(Grid::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Grid::parse("2:2:1").unwrap().points(), vec![2.0]);
    }
}
