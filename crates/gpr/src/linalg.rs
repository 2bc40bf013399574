//! Dense Cholesky factorisation and triangular solves (faer), on column-major buffers.
//!
//! Nothing here forms an explicit inverse except [`Cholesky::inverse`], which only the
//! marginal-likelihood gradient uses (its trace term needs the elements of `K⁻¹`).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{MatMut, MatRef, Par};

/// Parallelism used for all dense kernels: faer on the global rayon pool.
pub(crate) fn par() -> Par {
    if rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Lower Cholesky factor `L` of an `n×n` SPD matrix, `A = L Lᵀ`, stored column-major
/// (only the lower triangle is meaningful).
#[derive(Debug, Clone)]
pub struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Factors the column-major `n×n` matrix in `a` in place, reading only its lower
    /// triangle. Returns the buffer back on failure (a non-positive pivot or a
    /// non-finite entry) so the caller can retry.
    pub fn factor(mut a: Vec<f64>, n: usize) -> Result<Self, Vec<f64>> {
        assert_eq!(a.len(), n * n, "matrix buffer has the wrong length");
        let par = par();
        let ok = {
            let mat = MatMut::from_column_major_slice_mut(&mut a, n, n);
            let req = llt::factor::cholesky_in_place_scratch::<f64>(n, par, Default::default());
            let mut buf = MemBuffer::new(req);
            let stack = MemStack::new(&mut buf);
            llt::factor::cholesky_in_place(mat, Default::default(), par, stack, Default::default())
                .is_ok()
        };
        if !ok
            || !(0..n).all(|i| {
                let v = a[i * n + i];
                v.is_finite() && v > 0.0
            })
        {
            return Err(a);
        }
        Ok(Self { n, l: a })
    }

    /// Matrix size.
    pub fn n(&self) -> usize {
        self.n
    }

    fn l_ref(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.l, self.n, self.n)
    }

    /// `L[i, j]` for `i ≥ j`.
    pub fn l_at(&self, i: usize, j: usize) -> f64 {
        debug_assert!(i >= j);
        self.l[j * self.n + i]
    }

    /// `log det A = 2 Σ log L_ii`.
    pub fn log_det(&self) -> f64 {
        2.0 * (0..self.n)
            .map(|i| self.l[i * self.n + i].ln())
            .sum::<f64>()
    }

    /// Overwrites the column-major `n×k` block `rhs` with `L⁻¹ rhs`.
    pub fn solve_lower_in_place(&self, rhs: &mut [f64], k: usize) {
        self.solve_lower_block(rhs, k, par());
    }

    /// [`Cholesky::solve_lower_in_place`] with explicit parallelism: `Par::Seq` when the
    /// caller already runs several blocks in parallel.
    pub(crate) fn solve_lower_block(&self, rhs: &mut [f64], k: usize, par: Par) {
        assert_eq!(rhs.len(), self.n * k);
        let b = MatMut::from_column_major_slice_mut(rhs, self.n, k);
        faer::linalg::triangular_solve::solve_lower_triangular_in_place(self.l_ref(), b, par);
    }

    /// Overwrites the column-major `n×k` block `rhs` with `L⁻ᵀ rhs`.
    pub fn solve_upper_in_place(&self, rhs: &mut [f64], k: usize) {
        assert_eq!(rhs.len(), self.n * k);
        let b = MatMut::from_column_major_slice_mut(rhs, self.n, k);
        faer::linalg::triangular_solve::solve_upper_triangular_in_place(
            self.l_ref().transpose(),
            b,
            par(),
        );
    }

    /// Overwrites `rhs` (column-major `n×k`) with `A⁻¹ rhs`.
    pub fn solve_in_place(&self, rhs: &mut [f64], k: usize) {
        self.solve_lower_in_place(rhs, k);
        self.solve_upper_in_place(rhs, k);
    }

    /// The full symmetric `A⁻¹` (column-major), from `L⁻ᵀ L⁻¹`. Used only for the trace
    /// term of the marginal-likelihood gradient.
    pub fn inverse(&self) -> Vec<f64> {
        let n = self.n;
        let par = par();
        let mut out = vec![0.0; n * n];
        {
            let dst = MatMut::from_column_major_slice_mut(&mut out, n, n);
            let req = llt::inverse::inverse_scratch::<f64>(n, par);
            let mut buf = MemBuffer::new(req);
            let stack = MemStack::new(&mut buf);
            llt::inverse::inverse(dst, self.l_ref(), par, stack);
        }
        // faer writes the lower triangle; mirror it.
        for j in 0..n {
            for i in (j + 1)..n {
                out[i * n + j] = out[j * n + i];
            }
        }
        out
    }
}

/// `I + A Aᵀ` for a column-major `m×n` matrix `A` (column-major `m×m` result).
pub(crate) fn identity_plus_aat(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), m * n);
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        out[i * m + i] = 1.0;
    }
    let am = MatRef::from_column_major_slice(a, m, n);
    let dst = MatMut::from_column_major_slice_mut(&mut out, m, m);
    faer::linalg::matmul::matmul(dst, faer::Accum::Add, am, am.transpose(), 1.0, par());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<f64> {
        // A = B Bᵀ + n I with a deterministic B.
        let b: Vec<f64> = (0..n * n)
            .map(|k| ((k * 7919 % 101) as f64) / 101.0 - 0.5)
            .collect();
        let mut a = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..n {
                let mut s = 0.0;
                for k in 0..n {
                    s += b[k * n + i] * b[k * n + j];
                }
                a[j * n + i] = s + if i == j { n as f64 } else { 0.0 };
            }
        }
        a
    }

    #[test]
    fn factor_solve_inverse_roundtrip() {
        let n = 37;
        let a = spd(n);
        let mut lower_only = a.clone();
        // The factorisation must only read the lower triangle.
        for j in 0..n {
            for i in 0..j {
                lower_only[j * n + i] = f64::NAN;
            }
        }
        let ch = Cholesky::factor(lower_only, n).expect("SPD");
        let x_true: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut b = vec![0.0; n];
        for j in 0..n {
            for i in 0..n {
                b[i] += a[j * n + i] * x_true[j];
            }
        }
        ch.solve_in_place(&mut b, 1);
        for (x, t) in b.iter().zip(&x_true) {
            assert!((x - t).abs() < 1e-12);
        }
        let inv = ch.inverse();
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| inv[k * n + i] * a[j * n + k]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        // log det against the product of pivots of an independent LU-free route:
        // det of a 2x2 leading block.
        let small = vec![a[0], a[1], a[1], a[n + 1]];
        let c2 = Cholesky::factor(small, 2).unwrap();
        let det = a[0] * a[n + 1] - a[1] * a[1];
        assert!((c2.log_det() - det.ln()).abs() < 1e-12);
    }

    #[test]
    fn indefinite_is_rejected() {
        let a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(Cholesky::factor(a, 2).is_err());
        let a = vec![f64::NAN, 0.0, 0.0, 1.0];
        assert!(Cholesky::factor(a, 2).is_err());
    }
}
