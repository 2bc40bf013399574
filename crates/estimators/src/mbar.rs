//! Multistate Bennett acceptance ratio (MBAR), Shirts & Chodera, J. Chem. Phys. 129,
//! 124105 (2008).
//!
//! The free energies minimise the convex function (Zhang/Shirts; Kong et al. 2003)
//!
//! F(f) = Σₙ ln Σₖ Nₖ exp(fₖ − uₖₙ) − Σₖ Nₖ fₖ
//!
//! over the sampled states. Its gradient is gₖ = Σₙ pₙₖ − Nₖ and its Hessian is the graph
//! Laplacian with edge weights (PᵀP)ₖₗ, where pₙₖ = Nₖ exp(fₖ − uₖₙ)/Σₗ Nₗ exp(fₗ − uₗₙ) is the
//! probability that sample n came from state k. The solver takes one self-consistent
//! step from f = 0 (or starts from the caller's guess), then damped Newton steps with an
//! Armijo backtracking line search in log space, and falls back to self-consistent
//! iteration whenever the Newton step fails. Free energies of unsampled states follow
//! from the converged denominators.

use faer::Mat;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EstimatorError, Result};
use crate::estimate::{sample_std, BootstrapConfig};
use crate::linalg::{
    asymptotic_covariance, error_of_differences, solve_spd, sym_eigenvalues, to_rows,
};
use crate::logexp::{logsumexp, pairwise_sum};

/// Numerical options of [`Mbar::new`]. All fields have defaults ([`MbarConfig::default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MbarConfig {
    /// Convergence threshold on the relative gradient maxₖ |Σₙ Wₙₖ − 1| over sampled states
    /// (dimensionless). Default 1e-10.
    pub tolerance: f64,
    /// Maximum solver iterations (Newton plus self-consistent steps). Default 500.
    pub max_iterations: usize,
    /// Minimum spectral gap 1 − λ₂ of the overlap matrix of the sampled states; below it
    /// [`Mbar::new`] returns [`EstimatorError::NoOverlap`]. Default 1e-10; 0 disables.
    pub min_overlap: f64,
    /// Optional starting free energies for all K states (kT); e.g. a previous solution.
    pub initial_f_k: Option<Vec<f64>>,
}

impl Default for MbarConfig {
    fn default() -> Self {
        Self {
            tolerance: 1e-10,
            max_iterations: 500,
            min_overlap: 1e-10,
            initial_f_k: None,
        }
    }
}

impl MbarConfig {
    /// Checks ranges: positive finite tolerance, at least one iteration, overlap in [0, 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.tolerance > 0.0 && self.tolerance.is_finite()) {
            return Err(EstimatorError::InvalidConfig {
                field: "tolerance",
                value: self.tolerance,
                reason: "must be positive and finite",
            });
        }
        if self.max_iterations == 0 {
            return Err(EstimatorError::InvalidConfig {
                field: "max_iterations",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        if !(0.0..1.0).contains(&self.min_overlap) {
            return Err(EstimatorError::InvalidConfig {
                field: "min_overlap",
                value: self.min_overlap,
                reason: "must lie in [0, 1)",
            });
        }
        Ok(())
    }
}

/// Which algorithm produced the converged MBAR solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SolverMethod {
    /// Newton steps with line search (after at most one self-consistent start).
    Newton,
    /// Newton failed at least once and self-consistent iteration took over for those steps.
    NewtonWithSelfConsistentFallback,
    /// Only self-consistent iteration was needed (e.g. one sampled state).
    SelfConsistent,
}

/// How the MBAR solve went: always available, and failure is an error, never silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceReport {
    /// Whether the gradient criterion was met (always `true` on a returned [`Mbar`]).
    pub converged: bool,
    /// Total iterations (Newton + self-consistent).
    pub iterations: usize,
    /// Accepted Newton steps.
    pub newton_steps: usize,
    /// Self-consistent steps (the initial one and fallbacks).
    pub self_consistent_steps: usize,
    /// Objective evaluations, line-search trials included.
    pub evaluations: usize,
    /// Final relative gradient maxₖ |Σₙ Wₙₖ − 1| over sampled states.
    pub gradient_norm: f64,
    /// The algorithm that produced the solution.
    pub method: SolverMethod,
}

/// Free-energy differences between all pairs of states with their uncertainties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergyDifferences {
    /// `delta_f[i][j]` = f_j − f_i (kT).
    pub delta_f: Vec<Vec<f64>>,
    /// Standard error of `delta_f[i][j]` (kT).
    pub std_err: Vec<Vec<f64>>,
    /// Covariance of the free energies (kT²), defined up to the gauge f → f + c; only
    /// differences Θᵢᵢ + Θⱼⱼ − 2Θᵢⱼ are meaningful.
    pub covariance: Vec<Vec<f64>>,
}

/// An MBAR expectation ⟨A⟩ₖ with its asymptotic standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// The estimate of ⟨A⟩ in the state (units of A).
    pub mean: f64,
    /// Its standard error (units of A).
    pub std_err: f64,
}

/// The MBAR overlap matrix Oᵢⱼ = Σₙ Wₙᵢ Wₙⱼ Nⱼ and its spectrum (Klimovich, Shirts &
/// Mobley 2015).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// K×K overlap matrix; rows of sampled states sum to 1.
    pub matrix: Vec<Vec<f64>>,
    /// Eigenvalues, largest first (real: O is similar to a symmetric matrix).
    pub eigenvalues: Vec<f64>,
    /// Scalar overlap 1 − λ₂ (1 for K = 1).
    pub scalar: f64,
}

/// A solved MBAR problem. Build it with [`Mbar::new`]; every accessor works from the
/// converged solution.
///
/// ```
/// use thermograd_estimators::{Mbar, MbarConfig};
/// // Two identical states with two samples each: f₁ − f₀ = 0.
/// let u_kn = vec![vec![0.1, 0.5, 0.2, 0.9], vec![0.1, 0.5, 0.2, 0.9]];
/// let mbar = Mbar::new(&u_kn, &[2, 2], &MbarConfig::default()).unwrap();
/// assert!(mbar.free_energies()[1].abs() < 1e-10);
/// assert!(mbar.convergence().converged);
/// ```
#[derive(Debug, Clone)]
pub struct Mbar {
    n_states: usize,
    n_samples: usize,
    n_k: Vec<usize>,
    /// Reduced energies, state-major (K×N): `u[k * N + n]`.
    u: Vec<f64>,
    /// Free energies in the gauge of `ln_denom`.
    f_raw: Vec<f64>,
    /// ln Σₖ Nₖ exp(fₖ − uₖₙ) per sample.
    ln_denom: Vec<f64>,
    report: ConvergenceReport,
}

/// Objective, gradient and probabilities at one point (sampled states only).
#[derive(Debug, Clone)]
struct Eval {
    f: Vec<f64>,
    /// pₙⱼ stored column-major N×Kₛ.
    p: Vec<f64>,
    ln_denom: Vec<f64>,
    colsum: Vec<f64>,
    objective: f64,
    residual: f64,
}

struct Problem<'a> {
    u: &'a [f64],
    n: usize,
    sampled: Vec<usize>,
    nk: Vec<f64>,
    ln_nk: Vec<f64>,
}

const BLOCK: usize = 256;

impl Problem<'_> {
    fn ks(&self) -> usize {
        self.sampled.len()
    }

    fn new_eval(&self) -> Eval {
        Eval {
            f: vec![0.0; self.ks()],
            p: vec![0.0; self.ks() * self.n],
            ln_denom: vec![0.0; self.n],
            colsum: vec![0.0; self.ks()],
            objective: 0.0,
            residual: f64::INFINITY,
        }
    }

    /// Fills `out` at free energies `f` (length Kₛ): one exp per (state, sample).
    fn evaluate(&self, f: &[f64], out: &mut Eval) {
        let n = self.n;
        out.f.copy_from_slice(f);
        out.colsum.fill(0.0);
        let c: Vec<f64> = (0..self.ks()).map(|j| self.ln_nk[j] + f[j]).collect();
        let mut mx = [0.0f64; BLOCK];
        let mut s = [0.0f64; BLOCK];
        let mut start = 0;
        while start < n {
            let len = BLOCK.min(n - start);
            let (mx, s) = (&mut mx[..len], &mut s[..len]);
            mx.fill(f64::NEG_INFINITY);
            for (j, &k) in self.sampled.iter().enumerate() {
                let row = &self.u[k * n + start..k * n + start + len];
                for (m, &uu) in mx.iter_mut().zip(row) {
                    *m = m.max(c[j] - uu);
                }
            }
            s.fill(0.0);
            for (j, &k) in self.sampled.iter().enumerate() {
                let row = &self.u[k * n + start..k * n + start + len];
                let pr = &mut out.p[j * n + start..j * n + start + len];
                for ((p, &uu), (m, acc)) in pr.iter_mut().zip(row).zip(mx.iter().zip(s.iter_mut()))
                {
                    let e = (c[j] - uu - m).exp();
                    *p = e;
                    *acc += e;
                }
            }
            for ((ld, m), acc) in out.ln_denom[start..start + len]
                .iter_mut()
                .zip(mx.iter())
                .zip(s.iter_mut())
            {
                *ld = m + acc.ln();
                *acc = 1.0 / *acc;
            }
            for j in 0..self.ks() {
                let pr = &mut out.p[j * n + start..j * n + start + len];
                let mut block_sum = 0.0;
                for (p, inv) in pr.iter_mut().zip(s.iter()) {
                    *p *= inv;
                    block_sum += *p;
                }
                out.colsum[j] += block_sum;
            }
            start += len;
        }
        let lin: f64 = (0..self.ks()).map(|j| self.nk[j] * f[j]).sum();
        out.objective = pairwise_sum(&out.ln_denom) - lin;
        out.residual = (0..self.ks())
            .map(|j| (out.colsum[j] / self.nk[j] - 1.0).abs())
            .fold(0.0, f64::max);
    }

    /// (PᵀP)ⱼₗ over sampled states.
    fn ptp(&self, e: &Eval) -> Mat<f64> {
        crate::linalg::gram(&e.p, self.n, self.ks())
    }

    /// Self-consistent update fⱼ ← fⱼ − ln(Σₙ Wₙⱼ), gauge-fixed so that f₀ = 0.
    fn self_consistent_step(&self, e: &Eval) -> Vec<f64> {
        let mut f: Vec<f64> = (0..self.ks())
            .map(|j| e.f[j] - (e.colsum[j] / self.nk[j]).ln())
            .collect();
        let f0 = f[0];
        f.iter_mut().for_each(|v| *v -= f0);
        f
    }

    /// Newton direction in the gauge δ₀ = 0, or `None` if the reduced Hessian is singular.
    fn newton_direction(&self, e: &Eval) -> Option<Vec<f64>> {
        let ks = self.ks();
        if ks < 2 {
            return None;
        }
        let ptp = self.ptp(e);
        // Hessian = Laplacian with weights (PᵀP)ⱼₗ; diagonal from the off-diagonals so that
        // p(1 − p) never suffers cancellation.
        let h = Mat::from_fn(ks - 1, ks - 1, |a, b| {
            let (j, l) = (a + 1, b + 1);
            if j == l {
                (0..ks).filter(|&q| q != j).map(|q| ptp[(j, q)]).sum()
            } else {
                -ptp[(j, l)]
            }
        });
        let rhs: Vec<f64> = (1..ks).map(|j| -(e.colsum[j] - self.nk[j])).collect();
        let d = solve_spd(&h, &rhs)?;
        let mut out = vec![0.0; ks];
        out[1..].copy_from_slice(&d);
        Some(out)
    }
}

impl Mbar {
    /// Solves MBAR for `u_kn` (K rows of N reduced energies, u = βU, kT units):
    /// `u_kn[k][n]` is the reduced energy of sample n in state k, samples ordered by the
    /// state that drew them (the first `n_k[0]` from state 0, and so on). `n_k[k]` may be 0
    /// (an unsampled state, whose free energy is estimated by reweighting).
    ///
    /// `u_kn` may hold `+inf` (a sample impossible in that state) except in the state that
    /// drew the sample. Errors: empty or mismatched input, NaN or −∞ energies,
    /// [`EstimatorError::NoOverlap`] (sampled states split into groups that share no
    /// samples, or an unsampled state no sample reaches), [`EstimatorError::NotConverged`].
    pub fn new<R: AsRef<[f64]>>(u_kn: &[R], n_k: &[usize], config: &MbarConfig) -> Result<Self> {
        config.validate()?;
        let k = u_kn.len();
        if k == 0 {
            return Err(EstimatorError::EmptyInput { what: "u_kn" });
        }
        if n_k.len() != k {
            return Err(EstimatorError::LengthMismatch {
                what: "n_k",
                expected: k,
                found: n_k.len(),
            });
        }
        let n: usize = n_k.iter().sum();
        if n == 0 {
            return Err(EstimatorError::EmptyInput { what: "n_k" });
        }
        let mut u = Vec::with_capacity(k * n);
        for row in u_kn {
            let row = row.as_ref();
            if row.len() != n {
                return Err(EstimatorError::LengthMismatch {
                    what: "u_kn row",
                    expected: n,
                    found: row.len(),
                });
            }
            u.extend_from_slice(row);
        }
        if let Some(index) = u.iter().position(|v| v.is_nan() || *v == f64::NEG_INFINITY) {
            return Err(EstimatorError::NonFinite {
                what: "u_kn",
                index,
            });
        }
        // A sample must have finite energy in the state that drew it.
        let mut first = 0;
        for (state, &count) in n_k.iter().enumerate() {
            for s in first..first + count {
                if !u[state * n + s].is_finite() {
                    return Err(EstimatorError::NonFinite {
                        what: "u_kn",
                        index: state * n + s,
                    });
                }
            }
            first += count;
        }
        if let Some(init) = &config.initial_f_k {
            if init.len() != k {
                return Err(EstimatorError::LengthMismatch {
                    what: "initial_f_k",
                    expected: k,
                    found: init.len(),
                });
            }
            if let Some(index) = init.iter().position(|v| !v.is_finite()) {
                return Err(EstimatorError::NonFinite {
                    what: "initial_f_k",
                    index,
                });
            }
        }
        let mut mbar = Self {
            n_states: k,
            n_samples: n,
            n_k: n_k.to_vec(),
            u,
            f_raw: vec![0.0; k],
            ln_denom: vec![0.0; n],
            report: ConvergenceReport {
                converged: false,
                iterations: 0,
                newton_steps: 0,
                self_consistent_steps: 0,
                evaluations: 0,
                gradient_norm: f64::INFINITY,
                method: SolverMethod::Newton,
            },
        };
        mbar.solve(config)?;
        Ok(mbar)
    }

    fn solve(&mut self, config: &MbarConfig) -> Result<()> {
        let sampled: Vec<usize> = (0..self.n_states).filter(|&k| self.n_k[k] > 0).collect();
        let problem = Problem {
            u: &self.u,
            n: self.n_samples,
            nk: sampled.iter().map(|&k| self.n_k[k] as f64).collect(),
            ln_nk: sampled.iter().map(|&k| (self.n_k[k] as f64).ln()).collect(),
            sampled,
        };
        let ks = problem.ks();
        let mut cur = problem.new_eval();
        let mut trial = problem.new_eval();
        let report = &mut self.report;
        let mut fallback_used = false;
        match &config.initial_f_k {
            Some(init) => {
                let f0 = init[problem.sampled[0]];
                let f: Vec<f64> = problem.sampled.iter().map(|&k| init[k] - f0).collect();
                problem.evaluate(&f, &mut cur);
                report.evaluations += 1;
            }
            None => {
                problem.evaluate(&vec![0.0; ks], &mut cur);
                report.evaluations += 1;
                if cur.residual > config.tolerance {
                    let f = problem.self_consistent_step(&cur);
                    problem.evaluate(&f, &mut cur);
                    report.evaluations += 1;
                    report.self_consistent_steps += 1;
                    report.iterations += 1;
                }
            }
        }
        while cur.residual > config.tolerance && report.iterations < config.max_iterations {
            report.iterations += 1;
            let mut accepted = false;
            if let Some(dir) = problem.newton_direction(&cur) {
                let slope: f64 = (0..ks)
                    .map(|j| (cur.colsum[j] - problem.nk[j]) * dir[j])
                    .sum();
                let mut t = 1.0;
                while t > 1e-10 && slope < 0.0 {
                    let f: Vec<f64> = (0..ks).map(|j| cur.f[j] + t * dir[j]).collect();
                    problem.evaluate(&f, &mut trial);
                    report.evaluations += 1;
                    let armijo = trial.objective <= cur.objective + 1e-4 * t * slope;
                    // Near the solution F is flat to rounding; a smaller gradient is then
                    // the reliable sign of progress.
                    if trial.residual.is_finite() && (armijo || trial.residual < 0.5 * cur.residual)
                    {
                        accepted = true;
                        break;
                    }
                    t *= 0.5;
                }
            }
            if accepted {
                std::mem::swap(&mut cur, &mut trial);
                report.newton_steps += 1;
            } else {
                if ks >= 2 {
                    fallback_used = true;
                }
                let f = problem.self_consistent_step(&cur);
                problem.evaluate(&f, &mut cur);
                report.evaluations += 1;
                report.self_consistent_steps += 1;
            }
        }
        report.gradient_norm = cur.residual;
        report.converged = cur.residual <= config.tolerance;
        report.method = if report.newton_steps == 0 {
            SolverMethod::SelfConsistent
        } else if fallback_used {
            SolverMethod::NewtonWithSelfConsistentFallback
        } else {
            SolverMethod::Newton
        };

        // Overlap of the sampled states: second-smallest eigenvalue of N^{-1/2} H N^{-1/2}.
        if ks >= 2 {
            let ptp = problem.ptp(&cur);
            let lap = Mat::from_fn(ks, ks, |j, l| {
                let v = if j == l {
                    (0..ks).filter(|&q| q != j).map(|q| ptp[(j, q)]).sum()
                } else {
                    -ptp[(j, l)]
                };
                v / (problem.nk[j] * problem.nk[l]).sqrt()
            });
            let vals = sym_eigenvalues(&lap, "overlap of sampled states")?;
            let gap = vals[1].max(0.0);
            if gap.is_nan() || gap < config.min_overlap || gap == 0.0 {
                return Err(EstimatorError::NoOverlap {
                    what: "sampled states",
                    overlap: gap,
                    threshold: config.min_overlap,
                });
            }
        }
        if !report.converged {
            return Err(EstimatorError::NotConverged {
                iterations: report.iterations,
                residual: cur.residual,
            });
        }

        let n = self.n_samples;
        for (j, &k) in problem.sampled.iter().enumerate() {
            self.f_raw[k] = cur.f[j];
        }
        let mut buf = vec![0.0; n];
        for k in 0..self.n_states {
            if self.n_k[k] > 0 {
                continue;
            }
            for (b, (uu, ld)) in buf
                .iter_mut()
                .zip(self.u[k * n..(k + 1) * n].iter().zip(&cur.ln_denom))
            {
                *b = -uu - ld;
            }
            let lse = logsumexp(&buf);
            if lse == f64::NEG_INFINITY {
                return Err(EstimatorError::NoOverlap {
                    what: "an unsampled state and every sample",
                    overlap: 0.0,
                    threshold: config.min_overlap,
                });
            }
            self.f_raw[k] = -lse;
        }
        self.ln_denom = cur.ln_denom;
        Ok(())
    }

    /// ln Σₖ Nₖ exp(fₖ − uₖₙ) per sample, in the internal gauge.
    pub(crate) fn ln_denom_slice(&self) -> &[f64] {
        &self.ln_denom
    }

    /// Number of states K.
    pub fn n_states(&self) -> usize {
        self.n_states
    }

    /// Total number of samples N.
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// Samples per state as given.
    pub fn n_k(&self) -> &[usize] {
        &self.n_k
    }

    /// The solver's report.
    pub fn convergence(&self) -> &ConvergenceReport {
        &self.report
    }

    /// Dimensionless free energies fₖ − f₀ (kT), f = −ln Z.
    pub fn free_energies(&self) -> Vec<f64> {
        let f0 = self.f_raw[0];
        self.f_raw.iter().map(|f| f - f0).collect()
    }

    /// ln Wₙₖ for state k (length N): the normalised MBAR weight of sample n in state k.
    pub fn log_weights(&self, k: usize) -> Vec<f64> {
        let n = self.n_samples;
        self.u[k * n..(k + 1) * n]
            .iter()
            .zip(&self.ln_denom)
            .map(|(uu, ld)| self.f_raw[k] - uu - ld)
            .collect()
    }

    /// Column-major N×K matrix of Wₙₖ.
    fn weight_matrix(&self) -> Vec<f64> {
        let mut w = Vec::with_capacity(self.n_states * self.n_samples);
        for k in 0..self.n_states {
            w.extend(self.log_weights(k).into_iter().map(f64::exp));
        }
        w
    }

    fn n_k_f64(&self) -> Vec<f64> {
        self.n_k.iter().map(|&v| v as f64).collect()
    }

    /// All pairwise differences fⱼ − fᵢ with asymptotic standard errors and the covariance
    /// Θ of Shirts & Chodera 2008 (eq. D4–D5, as pymbar's default "svd-ew").
    pub fn free_energy_differences(&self) -> Result<FreeEnergyDifferences> {
        let theta = asymptotic_covariance(&self.weight_matrix(), self.n_samples, &self.n_k_f64())?;
        let f = self.free_energies();
        Ok(FreeEnergyDifferences {
            delta_f: f
                .iter()
                .map(|fi| f.iter().map(|fj| fj - fi).collect())
                .collect(),
            std_err: error_of_differences(&theta),
            covariance: to_rows(&theta),
        })
    }

    /// Free energies of new states from their reduced energies `u_ln` (L rows of N values,
    /// same sample order as `u_kn`) by reweighting, with asymptotic errors computed jointly
    /// with the sampled states. Returns differences among the L new states.
    pub fn perturbed_free_energies<R: AsRef<[f64]>>(
        &self,
        u_ln: &[R],
    ) -> Result<FreeEnergyDifferences> {
        let n = self.n_samples;
        if u_ln.is_empty() {
            return Err(EstimatorError::EmptyInput { what: "u_ln" });
        }
        let mut extra = Vec::with_capacity(u_ln.len() * n);
        let mut f_new = Vec::with_capacity(u_ln.len());
        for (l, row) in u_ln.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != n {
                return Err(EstimatorError::LengthMismatch {
                    what: "u_ln row",
                    expected: n,
                    found: row.len(),
                });
            }
            if let Some(i) = row
                .iter()
                .position(|v| v.is_nan() || *v == f64::NEG_INFINITY)
            {
                return Err(EstimatorError::NonFinite {
                    what: "u_ln",
                    index: l * n + i,
                });
            }
            let lw: Vec<f64> = row
                .iter()
                .zip(&self.ln_denom)
                .map(|(u, d)| -u - d)
                .collect();
            let lse = logsumexp(&lw);
            if lse == f64::NEG_INFINITY {
                return Err(EstimatorError::NoOverlap {
                    what: "a perturbed state and every sample",
                    overlap: 0.0,
                    threshold: 0.0,
                });
            }
            f_new.push(-lse);
            extra.extend(lw.into_iter().map(|v| (v - lse).exp()));
        }
        let theta = self.augmented_theta(&extra, u_ln.len())?;
        let k = self.n_states;
        let l = u_ln.len();
        let sub = Mat::from_fn(l, l, |i, j| theta[(k + i, k + j)]);
        let f0 = self.f_raw[0];
        let f: Vec<f64> = f_new.iter().map(|v| v - f0).collect();
        Ok(FreeEnergyDifferences {
            delta_f: f
                .iter()
                .map(|fi| f.iter().map(|fj| fj - fi).collect())
                .collect(),
            std_err: error_of_differences(&sub),
            covariance: to_rows(&sub),
        })
    }

    /// Θ for the K states plus `m_extra` auxiliary states whose normalised weight columns
    /// (column-major N×m_extra) are `extra`; auxiliary states count as unsampled.
    pub(crate) fn augmented_theta(&self, extra: &[f64], m_extra: usize) -> Result<Mat<f64>> {
        let mut w = self.weight_matrix();
        w.extend_from_slice(extra);
        let mut nk = self.n_k_f64();
        nk.extend(std::iter::repeat_n(0.0, m_extra));
        asymptotic_covariance(&w, self.n_samples, &nk)
    }

    /// ⟨A⟩ₖ in every state k for an observable `a_n` evaluated on all N samples, with
    /// asymptotic standard errors (Shirts & Chodera 2008 eq. 15: each expectation is a
    /// ratio of normalising constants of the state and an auxiliary state weighted by A,
    /// after shifting A to be positive, as pymbar's `compute_expectations`).
    pub fn expectations(&self, a_n: &[f64]) -> Result<Vec<Expectation>> {
        let n = self.n_samples;
        if a_n.len() != n {
            return Err(EstimatorError::LengthMismatch {
                what: "a_n",
                expected: n,
                found: a_n.len(),
            });
        }
        crate::error::check_finite("a_n", a_n)?;
        let k = self.n_states;
        let a_min = a_n.iter().copied().fold(f64::INFINITY, f64::min);
        let shift = a_min - 1.0;
        let ln_a: Vec<f64> = a_n.iter().map(|a| (a - shift).ln()).collect();
        let mut extra = Vec::with_capacity(k * n);
        let mut means = Vec::with_capacity(k);
        for state in 0..k {
            let lw: Vec<f64> = self
                .log_weights(state)
                .iter()
                .zip(&ln_a)
                .map(|(w, a)| w + a)
                .collect();
            let lse = logsumexp(&lw);
            means.push(lse.exp());
            extra.extend(lw.into_iter().map(|v| (v - lse).exp()));
        }
        let theta = self.augmented_theta(&extra, k)?;
        Ok((0..k)
            .map(|i| {
                let var = theta[(i, i)] + theta[(k + i, k + i)] - 2.0 * theta[(i, k + i)];
                Expectation {
                    mean: means[i] + shift,
                    std_err: means[i].abs() * var.max(0.0).sqrt(),
                }
            })
            .collect())
    }

    /// The overlap matrix Oᵢⱼ = Σₙ Wₙᵢ Wₙⱼ Nⱼ with its eigenvalues (largest first) and the
    /// scalar overlap 1 − λ₂. Identical states give Oᵢⱼ = 1/K.
    pub fn overlap(&self) -> Result<Overlap> {
        let k = self.n_states;
        let a = crate::linalg::gram(&self.weight_matrix(), self.n_samples, k);
        let nk = self.n_k_f64();
        let matrix: Vec<Vec<f64>> = (0..k)
            .map(|i| (0..k).map(|j| a[(i, j)] * nk[j]).collect())
            .collect();
        // O = A·diag(N) is similar to diag(√N)·A·diag(√N), which is symmetric.
        let sym = Mat::from_fn(k, k, |i, j| nk[i].sqrt() * a[(i, j)] * nk[j].sqrt());
        let mut eigenvalues = sym_eigenvalues(&sym, "overlap eigenvalues")?;
        eigenvalues.reverse();
        let scalar = if k >= 2 { 1.0 - eigenvalues[1] } else { 1.0 };
        Ok(Overlap {
            matrix,
            eigenvalues,
            scalar,
        })
    }

    /// Kish effective number of samples per state, 1/Σₙ Wₙₖ² (pymbar's
    /// `compute_effective_sample_number`).
    pub fn kish_ess(&self) -> Vec<f64> {
        (0..self.n_states)
            .map(|k| {
                let lw: Vec<f64> = self.log_weights(k).iter().map(|v| 2.0 * v).collect();
                (-logsumexp(&lw)).exp()
            })
            .collect()
    }

    /// Bootstrap uncertainties: samples of each state are resampled with replacement
    /// (seeded), MBAR is re-solved from the current solution for each replica, and the
    /// standard errors and covariance are those of the replica free energies. `delta_f`
    /// is the full-data estimate.
    pub fn bootstrap(
        &self,
        bootstrap: &BootstrapConfig,
        config: &MbarConfig,
    ) -> Result<FreeEnergyDifferences> {
        bootstrap.validate()?;
        let (k, n) = (self.n_states, self.n_samples);
        let mut rng = ChaCha8Rng::seed_from_u64(bootstrap.seed);
        let cfg = MbarConfig {
            initial_f_k: Some(self.free_energies()),
            ..config.clone()
        };
        let mut replicas: Vec<Vec<f64>> = Vec::with_capacity(bootstrap.n_bootstrap);
        let mut idx = vec![0usize; n];
        let mut rows = vec![vec![0.0; n]; k];
        for _ in 0..bootstrap.n_bootstrap {
            let mut first = 0;
            for &count in &self.n_k {
                for slot in idx[first..first + count].iter_mut() {
                    *slot = first + rng.gen_range(0..count);
                }
                first += count;
            }
            for (state, row) in rows.iter_mut().enumerate() {
                let src = &self.u[state * n..(state + 1) * n];
                for (dst, &i) in row.iter_mut().zip(&idx) {
                    *dst = src[i];
                }
            }
            replicas.push(Mbar::new(&rows, &self.n_k, &cfg)?.free_energies());
        }
        let f = self.free_energies();
        let mean: Vec<f64> = (0..k)
            .map(|i| replicas.iter().map(|r| r[i]).sum::<f64>() / replicas.len() as f64)
            .collect();
        let b = replicas.len() as f64;
        let covariance: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| {
                        replicas
                            .iter()
                            .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                            .sum::<f64>()
                            / (b - 1.0)
                    })
                    .collect()
            })
            .collect();
        let std_err = (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| {
                        let d: Vec<f64> = replicas.iter().map(|r| r[j] - r[i]).collect();
                        sample_std(&d)
                    })
                    .collect()
            })
            .collect();
        Ok(FreeEnergyDifferences {
            delta_f: f
                .iter()
                .map(|fi| f.iter().map(|fj| fj - fi).collect())
                .collect(),
            std_err,
            covariance,
        })
    }
}
