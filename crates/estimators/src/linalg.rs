//! Dense linear algebra on small K×K matrices and tall N×K weight matrices (faer).

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatRef, Par, Side};

use crate::error::{EstimatorError, Result};

/// Relative cut-off of the pseudo-inverse (pymbar uses `numpy.linalg.pinv(rcond=1e-10)`).
const PINV_RCOND: f64 = 1e-10;

/// WᵀW for a column-major N×M weight matrix.
///
/// Sequential on purpose: faer's thread pool spins while waiting, which on a shared
/// two-core machine made MBAR 20× slower than the single-threaded product.
pub(crate) fn gram(w: &[f64], n: usize, m: usize) -> Mat<f64> {
    let wm = MatRef::from_column_major_slice(w, n, m);
    let mut out = Mat::zeros(m, m);
    matmul(
        out.as_mut(),
        Accum::Replace,
        wm.transpose(),
        wm,
        1.0,
        Par::Seq,
    );
    out
}

/// Eigen-decomposition of a symmetric matrix: (eigenvalues ascending, eigenvectors).
pub(crate) fn sym_eigen(a: &Mat<f64>, operation: &'static str) -> Result<(Vec<f64>, Mat<f64>)> {
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| EstimatorError::LinearAlgebra { operation })?;
    let s = evd.S();
    let vals: Vec<f64> = (0..a.nrows()).map(|i| s[i]).collect();
    if vals.iter().any(|v| !v.is_finite()) {
        return Err(EstimatorError::LinearAlgebra { operation });
    }
    Ok((vals, evd.U().to_owned()))
}

/// Eigenvalues of a symmetric matrix, ascending.
pub(crate) fn sym_eigenvalues(a: &Mat<f64>, operation: &'static str) -> Result<Vec<f64>> {
    let vals = a
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| EstimatorError::LinearAlgebra { operation })?;
    if vals.iter().any(|v| !v.is_finite()) {
        return Err(EstimatorError::LinearAlgebra { operation });
    }
    Ok(vals)
}

/// Moore–Penrose pseudo-inverse of a symmetric matrix through its eigen-decomposition,
/// dropping eigenvalues below `PINV_RCOND` times the largest magnitude.
pub(crate) fn sym_pinv(a: &Mat<f64>) -> Result<Mat<f64>> {
    let (vals, v) = sym_eigen(a, "pseudo-inverse")?;
    let m = a.nrows();
    let max = vals.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    let inv: Vec<f64> = vals
        .iter()
        .map(|&x| {
            if max > 0.0 && x.abs() > PINV_RCOND * max {
                1.0 / x
            } else {
                0.0
            }
        })
        .collect();
    Ok(Mat::from_fn(m, m, |i, j| {
        (0..m).map(|k| v[(i, k)] * inv[k] * v[(j, k)]).sum()
    }))
}

/// Asymptotic covariance Θ of the MBAR free energies, Shirts & Chodera 2008 appendix D
/// (eqs. D4–D5, the eigen-decomposition form pymbar calls "svd-ew"):
/// with WᵀW = V S² Vᵀ, Θ = V S [I − S Vᵀ diag(N) V S]⁺ S Vᵀ.
///
/// `w` is the column-major N×M matrix of normalised weights W_nk (each column sums to 1,
/// Σ_k N_k W_nk = 1 for every sample); `n_k` holds the M sample counts (0 for unsampled or
/// auxiliary states). Differences Θ_ii + Θ_jj − 2Θ_ij are the variances of f_j − f_i.
pub(crate) fn asymptotic_covariance(w: &[f64], n: usize, n_k: &[f64]) -> Result<Mat<f64>> {
    let m = n_k.len();
    let a = gram(w, n, m);
    let (s2, v) = sym_eigen(&a, "asymptotic covariance (eigen-decomposition of WᵀW)")?;
    let sigma: Vec<f64> = s2.iter().map(|&x| x.max(0.0).sqrt()).collect();
    // B = I − Σ Vᵀ N V Σ.
    let b = Mat::from_fn(m, m, |i, j| {
        let vnv: f64 = (0..m).map(|k| v[(k, i)] * n_k[k] * v[(k, j)]).sum();
        let id = if i == j { 1.0 } else { 0.0 };
        id - sigma[i] * vnv * sigma[j]
    });
    let b_pinv = sym_pinv(&b)?;
    // Θ = (V Σ) B⁺ (V Σ)ᵀ.
    let vs = Mat::from_fn(m, m, |i, j| v[(i, j)] * sigma[j]);
    let tmp = Mat::from_fn(m, m, |i, j| {
        (0..m).map(|l| vs[(i, l)] * b_pinv[(l, j)]).sum::<f64>()
    });
    let theta = Mat::from_fn(m, m, |i, j| {
        (0..m).map(|l| tmp[(i, l)] * vs[(j, l)]).sum::<f64>()
    });
    if (0..m).any(|i| (0..m).any(|j| !theta[(i, j)].is_finite())) {
        return Err(EstimatorError::LinearAlgebra {
            operation: "asymptotic covariance",
        });
    }
    Ok(theta)
}

/// Standard errors of all differences, sqrt(max(0, Θ_ii + Θ_jj − 2Θ_ij)).
pub(crate) fn error_of_differences(theta: &Mat<f64>) -> Vec<Vec<f64>> {
    let m = theta.nrows();
    (0..m)
        .map(|i| {
            (0..m)
                .map(|j| {
                    let d = theta[(i, i)] + theta[(j, j)] - 2.0 * theta[(i, j)];
                    d.max(0.0).sqrt()
                })
                .collect()
        })
        .collect()
}

/// Solves the symmetric positive-definite system H x = b by Cholesky; `None` if H is not
/// numerically positive definite.
pub(crate) fn solve_spd(h: &Mat<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let llt = h.llt(Side::Lower).ok()?;
    let rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    let x = llt.solve(&rhs);
    let out: Vec<f64> = (0..b.len()).map(|i| x[(i, 0)]).collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Rows of a matrix as nested vectors.
pub(crate) fn to_rows(a: &Mat<f64>) -> Vec<Vec<f64>> {
    (0..a.nrows())
        .map(|i| (0..a.ncols()).map(|j| a[(i, j)]).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinv_of_singular_matrix_is_a_generalised_inverse() {
        // Rank-1 matrix [[1,1],[1,1]]: pinv = ¼[[1,1],[1,1]].
        let a = Mat::from_fn(2, 2, |_, _| 1.0);
        let p = sym_pinv(&a).unwrap();
        for i in 0..2 {
            for j in 0..2 {
                assert!((p[(i, j)] - 0.25).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn spd_solve_agrees_with_hand_solution() {
        let h = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let x = solve_spd(&h, &[3.0, 3.0]).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] - 1.0).abs() < 1e-14);
        let not_pd = Mat::from_fn(2, 2, |i, j| if i == j { 0.0 } else { 1.0 });
        assert!(solve_spd(&not_pd, &[1.0, 1.0]).is_none());
    }
}
