//! A tour of the estimators on one-dimensional harmonic oscillators, where every answer
//! is known in closed form, so each number the estimators print can be checked — the
//! error bars included.
//!
//! State k has the reduced potential u_k(x) = κ_k (x − c_k)²/2 (β = 1), so its free
//! energy is f_k = −ln Z_k = −½ ln(2π/κ_k) and its samples are exactly Gaussian,
//! x ~ N(c_k, 1/κ_k). The tour:
//!
//! 1. **Time series.** An AR(1) series x_t = φ x_{t−1} + √(1−φ²) ξ_t has statistical
//!    inefficiency g = (1+φ)/(1−φ) exactly; we estimate it and decorrelate.
//! 2. **Two states: EXP (Zwanzig) forward and reverse, and BAR** between states 0 and 1,
//!    repeated on independent data sets: the spread of the estimates over the repeats is
//!    compared with the standard error each estimator reports (honest error bars give a
//!    ratio near 1).
//! 3. **MBAR over all states**: free energies, their errors and z-scores against the exact
//!    values, the overlap matrix's scalar overlap, and expectations ⟨x⟩, ⟨x²⟩ per state.
//! 4. **Effective sample size** of importance weights from state 0 to each other state,
//!    against its large-N value N / ∫ p_k²/p_0 dx (closed form for Gaussians).
//!
//! Outputs in the chosen directory: `summary.md` (the printed tables), `mbar.csv`,
//! `replicates.csv` (every repeat's estimates) and `free_energies.svg`.
//!
//! Run: `cargo run --release --example estimator_tour [-- --quick] [-- --out DIR]`

use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
#[allow(dead_code)]
#[path = "common/args.rs"]
mod args;

use thermograd::estimators::{
    bar, decorrelated_indices, exp_forward, exp_reverse, kish_ess, statistical_inefficiency,
    BarConfig, Mbar, MbarConfig, StatisticalInefficiencyConfig,
};

/// Spring constants κ_k (kT/length²).
const KAPPA: [f64; 5] = [1.0, 1.5, 2.2, 3.3, 5.0];
/// Centres c_k (length).
const CENTRE: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
/// AR(1) coefficient of the time-series part.
const PHI: f64 = 0.9;

/// Exact free energy f_k = −ln Z_k of state k (kT).
fn exact_f(k: usize) -> f64 {
    -0.5 * (2.0 * PI / KAPPA[k]).ln()
}

/// Reduced energy of state k at x.
fn u(k: usize, x: f64) -> f64 {
    0.5 * KAPPA[k] * (x - CENTRE[k]).powi(2)
}

/// `n` exact samples of state k.
fn sample(k: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let sd = 1.0 / KAPPA[k].sqrt();
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            CENTRE[k] + sd * z
        })
        .collect()
}

/// Large-N Kish ESS fraction for weights p_k/p_0 on samples of state 0:
/// 1 / ∫ p_k(x)²/p_0(x) dx for Gaussians p_k = N(c_k, s_k²), finite when 2 s_0² > s_k².
fn exact_ess_fraction(k: usize) -> f64 {
    let (s0, sk) = (1.0 / KAPPA[0].sqrt(), 1.0 / KAPPA[k].sqrt());
    let (c0, ck) = (CENTRE[0], CENTRE[k]);
    // p_k²/p_0 = s0/(√(2π) s_k²) · exp(−(x−c_k)²/s_k² + (x−c_0)²/(2 s_0²)) = … · exp(−a(x−m)² + r)
    let a = 1.0 / (sk * sk) - 1.0 / (2.0 * s0 * s0);
    let b = ck / (sk * sk) - c0 / (2.0 * s0 * s0);
    let m = b / a;
    let r = -ck * ck / (sk * sk) + c0 * c0 / (2.0 * s0 * s0) + a * m * m;
    let integral = s0 / ((2.0 * PI).sqrt() * sk * sk) * r.exp() * (PI / a).sqrt();
    1.0 / integral
}

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// One estimator's behaviour over independent repeats.
#[derive(Debug, Clone, Copy)]
pub struct Honesty {
    /// Mean estimate minus the exact value (kT).
    pub bias: f64,
    /// Standard deviation of the estimates over the repeats (kT).
    pub empirical_sd: f64,
    /// Mean of the standard errors the estimator reported (kT).
    pub reported_se: f64,
}

impl Honesty {
    fn from(estimates: &[(f64, f64)], exact: f64) -> Self {
        let values: Vec<f64> = estimates.iter().map(|e| e.0).collect();
        let (mean, sd) = mean_sd(&values);
        let reported = estimates.iter().map(|e| e.1).sum::<f64>() / estimates.len() as f64;
        Honesty {
            bias: mean - exact,
            empirical_sd: sd,
            reported_se: reported,
        }
    }

    /// Reported over empirical error: near 1 for honest error bars.
    pub fn ratio(&self) -> f64 {
        self.reported_se / self.empirical_sd
    }
}

/// What the tour measured.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Exact statistical inefficiency of the AR(1) series.
    pub g_exact: f64,
    /// Its estimate.
    pub g_estimate: f64,
    /// EXP forward, EXP reverse and BAR between states 0 and 1 over the repeats.
    pub exp_forward: Honesty,
    /// See `exp_forward`.
    pub exp_reverse: Honesty,
    /// See `exp_forward`.
    pub bar: Honesty,
    /// MBAR f_K−1 − f_0 over the repeats.
    pub mbar_span: Honesty,
    /// z-scores (f_k − f_0 − exact)/σ of the single full MBAR run, k = 1…K−1.
    pub mbar_z: Vec<f64>,
    /// Largest |⟨x²⟩_k − exact| / σ over states for the MBAR expectations.
    pub max_expectation_z: f64,
    /// Kish ESS fraction from state 0 to each state: (estimate, large-N value).
    pub ess: Vec<(f64, f64)>,
}

/// Runs the tour; `quick` uses fewer samples and repeats (for the test suite).
pub fn run(quick: bool, out: &Path) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (n, repeats, n_series) = if quick {
        (400, 60, 20_000)
    } else {
        (2000, 400, 200_000)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut report = String::new();
    let k_states = KAPPA.len();

    // 1. Time series.
    let mut series = Vec::with_capacity(n_series);
    let mut x = 0.0;
    let noise = (1.0 - PHI * PHI).sqrt();
    for _ in 0..n_series {
        let z: f64 = StandardNormal.sample(&mut rng);
        x = PHI * x + noise * z;
        series.push(x);
    }
    let g_exact = (1.0 + PHI) / (1.0 - PHI);
    let g_estimate = statistical_inefficiency(&series, &StatisticalInefficiencyConfig::default())?;
    let kept = decorrelated_indices(series.len(), g_estimate)?.len();
    writeln!(
        report,
        "## 1. Statistical inefficiency of an AR(1) series (φ = {PHI})\n"
    )?;
    writeln!(
        report,
        "| N | g exact | g estimate | decorrelated samples |"
    )?;
    writeln!(report, "|---|---|---|---|")?;
    writeln!(
        report,
        "| {n_series} | {g_exact:.2} | {g_estimate:.2} | {kept} |\n"
    )?;

    // 2. Two-state estimators over independent repeats.
    let exact_01 = exact_f(1) - exact_f(0);
    let exact_span = exact_f(k_states - 1) - exact_f(0);
    let (mut fwd, mut rev, mut bars, mut spans) = (vec![], vec![], vec![], vec![]);
    let mut rows = String::from("repeat,exp_forward,exp_forward_se,exp_reverse,exp_reverse_se,bar,bar_se,mbar_span,mbar_span_se\n");
    let mbar_config = MbarConfig::default();
    for r in 0..repeats {
        let x0 = sample(0, n, &mut rng);
        let x1 = sample(1, n, &mut rng);
        let w_f: Vec<f64> = x0.iter().map(|&x| u(1, x) - u(0, x)).collect();
        let w_r: Vec<f64> = x1.iter().map(|&x| u(0, x) - u(1, x)).collect();
        let ef = exp_forward(&w_f)?;
        let er = exp_reverse(&w_r)?;
        let b = bar(&w_f, &w_r, &BarConfig::default())?;
        // A smaller MBAR problem per repeat (n/4 samples per state) keeps the repeats cheap.
        let p = mbar_problem(n / 4, &mut rng);
        let m = Mbar::new(&p.u_kn, &p.n_k, &mbar_config)?;
        let d = m.free_energy_differences()?;
        let span = (d.delta_f[0][k_states - 1], d.std_err[0][k_states - 1]);
        writeln!(
            rows,
            "{r},{},{},{},{},{},{},{},{}",
            ef.delta_f, ef.std_err, er.delta_f, er.std_err, b.delta_f, b.std_err, span.0, span.1
        )?;
        fwd.push((ef.delta_f, ef.std_err));
        rev.push((er.delta_f, er.std_err));
        bars.push((b.delta_f, b.std_err));
        spans.push(span);
    }
    std::fs::write(out.join("replicates.csv"), rows)?;
    let exp_forward = Honesty::from(&fwd, exact_01);
    let exp_reverse = Honesty::from(&rev, exact_01);
    let bar_h = Honesty::from(&bars, exact_01);
    let mbar_span = Honesty::from(&spans, exact_span);
    writeln!(
        report,
        "## 2. Error bars over {repeats} independent data sets\n\nStates 0 → 1 (κ {} → {}, exact Δf = {exact_01:.4} kT), {n} samples per state; \
         MBAR over all {k_states} states with {} samples each (exact f_{} − f_0 = {exact_span:.4} kT).\n",
        KAPPA[0],
        KAPPA[1],
        n / 4,
        k_states - 1
    )?;
    writeln!(
        report,
        "| estimator | bias (kT) | sd over repeats (kT) | mean reported σ (kT) | reported/sd |"
    )?;
    writeln!(report, "|---|---|---|---|---|")?;
    for (name, h) in [
        ("EXP forward", exp_forward),
        ("EXP reverse", exp_reverse),
        ("BAR", bar_h),
        ("MBAR (span)", mbar_span),
    ] {
        writeln!(
            report,
            "| {name} | {:+.5} | {:.5} | {:.5} | {:.2} |",
            h.bias,
            h.empirical_sd,
            h.reported_se,
            h.ratio()
        )?;
    }
    writeln!(report)?;

    // 3. One full MBAR run.
    let problem = mbar_problem(n, &mut rng);
    let mbar = Mbar::new(&problem.u_kn, &problem.n_k, &mbar_config)?;
    let diffs = mbar.free_energy_differences()?;
    let overlap = mbar.overlap()?;
    let x2: Vec<f64> = problem.xs.iter().map(|x| x * x).collect();
    let mean_x = mbar.expectations(&problem.xs)?;
    let mean_x2 = mbar.expectations(&x2)?;
    let mut csv = String::from(
        "state,kappa,centre,f_exact,f_mbar,f_mbar_se,mean_x,mean_x_se,mean_x2,mean_x2_se,mean_x2_exact\n",
    );
    writeln!(
        report,
        "## 3. MBAR over {k_states} states, {n} samples each (scalar overlap {:.3}, {} iterations)\n",
        overlap.scalar,
        mbar.convergence().iterations
    )?;
    writeln!(
        report,
        "| k | κ | f_k − f_0 exact | MBAR | σ | z | ⟨x²⟩ exact | MBAR ⟨x²⟩ ± σ |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|---|")?;
    let mut mbar_z = Vec::new();
    let mut max_expectation_z: f64 = 0.0;
    let mut plot_points = Vec::new();
    for k in 0..k_states {
        let exact = exact_f(k) - exact_f(0);
        let (est, se) = (diffs.delta_f[0][k], diffs.std_err[0][k]);
        let z = if k == 0 { 0.0 } else { (est - exact) / se };
        if k > 0 {
            mbar_z.push(z);
        }
        let x2_exact = CENTRE[k].powi(2) + 1.0 / KAPPA[k];
        max_expectation_z =
            max_expectation_z.max((mean_x2[k].mean - x2_exact).abs() / mean_x2[k].std_err);
        writeln!(
            report,
            "| {k} | {} | {exact:.4} | {est:.4} | {se:.4} | {z:+.2} | {x2_exact:.4} | {:.4} ± {:.4} |",
            KAPPA[k], mean_x2[k].mean, mean_x2[k].std_err
        )?;
        writeln!(
            csv,
            "{k},{},{},{exact},{est},{se},{},{},{},{},{x2_exact}",
            KAPPA[k],
            CENTRE[k],
            mean_x[k].mean,
            mean_x[k].std_err,
            mean_x2[k].mean,
            mean_x2[k].std_err
        )?;
        plot_points.push((k as f64, exact, est, se));
    }
    writeln!(report)?;
    std::fs::write(out.join("mbar.csv"), csv)?;

    // 4. Effective sample size of reweighting from state 0.
    let x0 = sample(0, n, &mut rng);
    writeln!(
        report,
        "## 4. Kish effective sample size, reweighting {n} samples of state 0 to state k\n"
    )?;
    writeln!(report, "| k | ESS/N | large-N value |")?;
    writeln!(report, "|---|---|---|")?;
    let mut ess = Vec::new();
    for k in 0..k_states {
        let log_w: Vec<f64> = x0.iter().map(|&x| u(0, x) - u(k, x)).collect();
        let fraction = kish_ess(&log_w)? / n as f64;
        let expected = exact_ess_fraction(k);
        writeln!(report, "| {k} | {fraction:.3} | {expected:.3} |")?;
        ess.push((fraction, expected));
    }

    std::fs::write(out.join("summary.md"), &report)?;
    plot(&out.join("free_energies.svg"), &plot_points)?;
    print!("{report}");
    Ok(Summary {
        g_exact,
        g_estimate,
        exp_forward,
        exp_reverse,
        bar: bar_h,
        mbar_span,
        mbar_z,
        max_expectation_z,
        ess,
    })
}

/// An MBAR problem: reduced energies u_k(x_n) of `n` samples from every state (one row
/// per state over all samples, samples ordered by the state they came from), the
/// per-state counts, and the samples.
struct MbarProblem {
    u_kn: Vec<Vec<f64>>,
    n_k: Vec<usize>,
    xs: Vec<f64>,
}

fn mbar_problem(n: usize, rng: &mut ChaCha8Rng) -> MbarProblem {
    let k_states = KAPPA.len();
    let xs: Vec<f64> = (0..k_states).flat_map(|k| sample(k, n, rng)).collect();
    let u_kn = (0..k_states)
        .map(|k| xs.iter().map(|&x| u(k, x)).collect())
        .collect();
    MbarProblem {
        u_kn,
        n_k: vec![n; k_states],
        xs,
    }
}

/// Free energies: exact line, MBAR points with ±2σ bars.
fn plot(path: &Path, points: &[(f64, f64, f64, f64)]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let lo = points
        .iter()
        .map(|p| p.1.min(p.2 - 2.0 * p.3))
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.1.max(p.2 + 2.0 * p.3))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.1 * (hi - lo).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "MBAR free energies of harmonic oscillators (±2σ) vs exact",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.3f64..(points.len() as f64 - 0.7), (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("state k")
        .y_desc("f_k − f_0 (kT)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), &BLACK))?
        .label("exact −½ ln(2π/κ_k) + ½ ln(2π/κ_0)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart.draw_series(points.iter().map(|p| {
        PathElement::new(
            vec![(p.0, p.2 - 2.0 * p.3), (p.0, p.2 + 2.0 * p.3)],
            RED.stroke_width(2),
        )
    }))?;
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.0, p.2), 4, RED.filled())),
        )?
        .label("MBAR")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, RED.filled()));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let Some((quick, out)) = args::parse_args("estimator_tour")? else {
        return Ok(());
    };
    run(quick, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}
