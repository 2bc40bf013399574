//! A small limited-memory BFGS minimiser (Nocedal & Wright, Numerical Optimization,
//! algorithm 7.4) with a backtracking Armijo line search.

use std::collections::VecDeque;

/// Outcome of [`minimize`].
#[derive(Debug, Clone)]
pub(crate) struct LbfgsResult {
    pub x: Vec<f64>,
    pub f: f64,
    pub converged: bool,
}

/// Minimises `f`, which returns the value and gradient, or `None` where it is undefined
/// (treated as +∞, so the line search backs off). Stops when the largest gradient
/// component is below `gtol`, the relative decrease of `f` over an iteration is below
/// `ftol`, or after `max_iter` iterations. Returns `None` if `f(x0)` is undefined.
pub(crate) fn minimize(
    mut f: impl FnMut(&[f64]) -> Option<(f64, Vec<f64>)>,
    x0: &[f64],
    max_iter: usize,
    gtol: f64,
    ftol: f64,
) -> Option<LbfgsResult> {
    const M: usize = 8;
    let n = x0.len();
    let (mut fx, mut g) = f(x0)?;
    if !fx.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut x = x0.to_vec();
    let mut mem: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(M);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    let mut converged = false;
    for _ in 0..max_iter {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < gtol {
            converged = true;
            break;
        }
        // Two-loop recursion: dir = −H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(mem.len());
        for (s, y, rho) in mem.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        let gamma = match mem.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y, rho), a) in mem.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (bad curvature memory): fall back to steepest descent.
            mem.clear();
            let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            dir = g.iter().map(|v| -v / gn).collect();
            slope = dot(&g, &dir);
        }
        // Backtracking Armijo line search.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            let xn: Vec<f64> = x.iter().zip(&dir).map(|(a, b)| a + step * b).collect();
            if let Some((fxn, gn)) = f(&xn) {
                if fxn.is_finite()
                    && gn.iter().all(|v| v.is_finite())
                    && fxn <= fx + 1e-4 * step * slope
                {
                    accepted = Some((xn, fxn, gn));
                    break;
                }
            }
            step *= 0.5;
        }
        let Some((xn, fxn, gn)) = accepted else {
            break;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if mem.len() == M {
                mem.pop_front();
            }
            mem.push_back((s, y, 1.0 / sy));
        }
        let decrease = fx - fxn;
        x = xn;
        fx = fxn;
        g = gn;
        if decrease.abs() <= ftol * fx.abs().max(1.0) {
            converged = true;
            break;
        }
    }
    let _ = n;
    Some(LbfgsResult {
        x,
        f: fx,
        converged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosenbrock() {
        let f = |x: &[f64]| {
            let (a, b) = (x[0], x[1]);
            let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = vec![
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            Some((v, g))
        };
        let r = minimize(f, &[-1.2, 1.0], 500, 1e-8, 0.0).unwrap();
        assert!(r.converged);
        assert!(
            (r.x[0] - 1.0).abs() < 1e-6 && (r.x[1] - 1.0).abs() < 1e-6,
            "{:?}",
            r.x
        );
    }

    #[test]
    fn undefined_region_is_avoided() {
        // Minimum of (x−2)² but undefined for x > 2.5: the line search must back off.
        let f = |x: &[f64]| {
            if x[0] > 2.5 {
                None
            } else {
                Some(((x[0] - 2.0).powi(2), vec![2.0 * (x[0] - 2.0)]))
            }
        };
        let r = minimize(f, &[-10.0], 100, 1e-10, 0.0).unwrap();
        assert!((r.x[0] - 2.0).abs() < 1e-6);
        assert!(minimize(|_| None, &[0.0], 10, 1e-6, 0.0).is_none());
    }
}
