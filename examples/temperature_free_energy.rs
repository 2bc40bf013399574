//! Temperature-dependent coarse-grained free energies from forces and energies at
//! several temperatures (Duschatko et al. 2024), on an analytic benchmark.
//!
//! A CG dimer carries `d = 4` hidden harmonic modes whose stiffness falls with the
//! distance `r` ([`HiddenHarmonicDimer`]), so the exact free energy
//! `A(r; T) = u₀(r) + (d/2) kT ln k(r) + c(T)` changes shape with temperature. Exact
//! Boltzmann samples at kT = 0.6, 1.0, 1.4 train two models — Bayesian linear regression
//! on spline pair features (a finite-rank GP) and a pair MLP with the temperature as an
//! input — each by force matching alone (FM) and by forces plus the relation
//! `∂(βA)/∂β = ⟨u⟩` on the instantaneous energies (FM+U). The table gives the
//! Boltzmann-weighted errors at the held-out kT = 0.8 and 1.2 (means of the two); the
//! CSV and SVG hold `A(r; T)` of the exact answer and the models at five temperatures.
//!
//! ```text
//! cargo run --release --example temperature_free_energy -- [--quick] [--out DIR]
//! ```
//!
//! Writes `DIR/errors.csv`, `DIR/curves.csv` and `DIR/free_energy.svg` (default
//! `out/temperature_free_energy`).

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
#[allow(dead_code)]
#[path = "common/args.rs"]
mod args;
use thermograd::nn::{Activation, AdamConfig};
use thermograd::train::{
    DimerErrors, FreeEnergyModel, HiddenHarmonicDimer, KernelFreeEnergyConfig, NnFreeEnergyConfig,
    NnTrainingConfig, OptimizerConfig, Schedule, SplinePairConfig, TdepWeights, TemperatureTerm,
};

const TRAIN_KT: [f64; 3] = [0.6, 1.0, 1.4];
const HELD_OUT_KT: [f64; 2] = [0.8, 1.2];
const CURVE_KT: [f64; 5] = [0.6, 0.8, 1.0, 1.2, 1.4];
const FORCE_NOISE: f64 = 4.0;
const ENERGY_NOISE: f64 = 1.4;

/// One line of the error table.
#[derive(Clone, Debug)]
pub struct Row {
    /// "kernel" or "nn".
    pub model: &'static str,
    /// Whether the energy term was used.
    pub energy: bool,
    /// Samples per training temperature.
    pub per_temperature: usize,
    /// Mean over the held-out temperatures of the free-energy RMSE (up to a constant).
    pub free_energy_rmse: f64,
    /// Mean over the held-out temperatures of the ∂(βA)/∂β RMSE (meaningful with the
    /// energy term only).
    pub mean_energy_rmse: f64,
    /// Mean over the held-out temperatures of the mean-force RMSE.
    pub mean_force_rmse: f64,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The error table.
    pub rows: Vec<Row>,
}

fn kernel_config(energy: bool) -> KernelFreeEnergyConfig {
    KernelFreeEnergyConfig {
        basis: SplinePairConfig::uniform(0.6, 2.4, 14),
        reference_kt: 1.0,
        terms: TemperatureTerm::ALL.to_vec(),
        prior_std: 3.0,
        force_noise: FORCE_NOISE,
        energy_noise: energy.then_some(ENERGY_NOISE),
    }
}

fn nn_config() -> NnFreeEnergyConfig {
    NnFreeEnergyConfig {
        hidden: vec![16, 16],
        activation: Activation::Tanh,
        n_species: 1,
        cutoff: 2.4,
        switch_on: 2.1,
        reference_kt: 1.0,
        terms: TemperatureTerm::ALL.to_vec(),
    }
}

fn nn_training(energy: bool, epochs: usize) -> NnTrainingConfig {
    NnTrainingConfig {
        epochs,
        batch_size: 64,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.01,
                ..Default::default()
            },
            schedule: Schedule::Cosine {
                final_learning_rate: 1e-4,
            },
            clip_norm: None,
        },
        weights: TdepWeights {
            force: 1.0 / (FORCE_NOISE * FORCE_NOISE),
            energy: if energy {
                1.0 / (ENERGY_NOISE * ENERGY_NOISE)
            } else {
                0.0
            },
        },
        seed: 3,
    }
}

fn held_out_row(
    dimer: &HiddenHarmonicDimer,
    model: &dyn FreeEnergyModel,
    name: &'static str,
    energy: bool,
    n: usize,
) -> Result<Row> {
    let errors = HELD_OUT_KT
        .iter()
        .map(|&kt| dimer.errors(model, kt, 201))
        .collect::<thermograd::train::Result<Vec<DimerErrors>>>()?;
    let mean = |f: fn(&DimerErrors) -> f64| errors.iter().map(f).sum::<f64>() / errors.len() as f64;
    Ok(Row {
        model: name,
        energy,
        per_temperature: n,
        free_energy_rmse: mean(|e| e.free_energy_rmse),
        mean_energy_rmse: mean(|e| e.mean_energy_rmse),
        mean_force_rmse: mean(|e| e.mean_force_rmse),
    })
}

/// `A` on `grid` at `kt`, shifted by the Boltzmann-weighted mean difference to the
/// exact curve (the one constant the targets leave free at one temperature).
fn aligned_curve(
    dimer: &HiddenHarmonicDimer,
    model: &dyn FreeEnergyModel,
    grid: &[f64],
    kt: f64,
) -> Result<Vec<f64>> {
    let exact: Vec<f64> = grid.iter().map(|&r| dimer.free_energy(r, kt)).collect();
    let a_min = exact.iter().copied().fold(f64::INFINITY, f64::min);
    let w: Vec<f64> = grid
        .iter()
        .zip(&exact)
        .map(|(r, a)| r * r * (-(a - a_min) / kt).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let values = grid
        .iter()
        .map(|&r| {
            Ok(model
                .predict(&HiddenHarmonicDimer::frame(r), kt)?
                .free_energy)
        })
        .collect::<Result<Vec<f64>>>()?;
    let shift: f64 = values
        .iter()
        .zip(&exact)
        .zip(&w)
        .map(|((v, e), w)| (v - e) * w)
        .sum::<f64>()
        / total;
    Ok(values.iter().map(|v| v - shift).collect())
}

/// Runs the benchmark and writes its outputs into `out`; `quick` uses fewer samples
/// and epochs (for the smoke test).
pub fn run(quick: bool, out: &Path) -> Result<Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dimer = HiddenHarmonicDimer::standard();
    let sizes: &[usize] = if quick { &[25, 100] } else { &[25, 100, 400] };
    let epochs = if quick { 30 } else { 80 };
    let mut rows = Vec::new();
    let mut best: Vec<(String, Box<dyn FreeEnergyModel>)> = Vec::new();
    for (k, &n) in sizes.iter().enumerate() {
        let samples = dimer.sample(&TRAIN_KT, n, 1000 + n as u64)?;
        let last = k + 1 == sizes.len();
        for energy in [false, true] {
            let kernel = kernel_config(energy).fit(&samples)?;
            rows.push(held_out_row(&dimer, &kernel, "kernel", energy, n)?);
            let mut nn = nn_config().build(&samples, 7)?;
            nn.train(&samples, &nn_training(energy, epochs))?;
            rows.push(held_out_row(&dimer, &nn, "nn", energy, n)?);
            if last {
                let tag = if energy { "FM+U" } else { "FM" };
                best.push((format!("kernel {tag}"), Box::new(kernel)));
                best.push((format!("nn {tag}"), Box::new(nn)));
            }
        }
    }

    let mut table = String::from(
        "model,energy_term,samples_per_T,free_energy_rmse,mean_energy_rmse,mean_force_rmse\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "{},{},{},{:.6},{:.6},{:.6}\n",
            r.model,
            r.energy,
            r.per_temperature,
            r.free_energy_rmse,
            r.mean_energy_rmse,
            r.mean_force_rmse
        ));
    }
    std::fs::write(out.join("errors.csv"), table)?;

    let grid: Vec<f64> = (0..111).map(|k| 0.8 + 0.01 * k as f64).collect();
    let mut csv = String::from("kT,r,exact");
    for (name, _) in &best {
        csv.push_str(&format!(",{}", name.replace(' ', "_")));
    }
    csv.push('\n');
    let mut curves = Vec::new();
    for &kt in &CURVE_KT {
        let exact: Vec<f64> = grid.iter().map(|&r| dimer.free_energy(r, kt)).collect();
        let models = best
            .iter()
            .map(|(_, m)| aligned_curve(&dimer, m.as_ref(), &grid, kt))
            .collect::<Result<Vec<_>>>()?;
        for (i, r) in grid.iter().enumerate() {
            csv.push_str(&format!("{kt},{r:.4},{:.6}", exact[i]));
            for m in &models {
                csv.push_str(&format!(",{:.6}", m[i]));
            }
            csv.push('\n');
        }
        curves.push((kt, exact, models));
    }
    std::fs::write(out.join("curves.csv"), csv)?;
    plot(&out.join("free_energy.svg"), &grid, &curves, &best)?;
    Ok(Summary { rows })
}

type Curves = [(f64, Vec<f64>, Vec<Vec<f64>>)];

fn plot(
    path: &Path,
    grid: &[f64],
    curves: &Curves,
    models: &[(String, Box<dyn FreeEnergyModel>)],
) -> Result<()> {
    // Exact curves as lines, the FM+U models as markers; each temperature is shifted so
    // that its exact minimum sits at 2·index and the curves do not overlap.
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
    ];
    let step = 2.0;
    let shift = |k: usize, exact: &[f64]| {
        step * k as f64 - exact.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let y_max = curves
        .iter()
        .enumerate()
        .map(|(k, c)| {
            c.1.iter()
                .map(|a| a + shift(k, &c.1))
                .fold(f64::MIN, f64::max)
        })
        .fold(f64::MIN, f64::max)
        .min(14.0);
    let root = SVGBackend::new(path, (900, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "A(r; T): exact (lines), kernel FM+U (circles), NN FM+U (crosses); offset per T",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(grid[0]..grid[grid.len() - 1], -1.0..y_max + 0.5)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("r")
        .y_desc("A + offset (energy)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let kernel = models.iter().position(|(n, _)| n == "kernel FM+U");
    let nn = models.iter().position(|(n, _)| n == "nn FM+U");
    for (k, (kt, exact, fitted)) in curves.iter().enumerate() {
        let c = colors[k % colors.len()];
        let s = shift(k, exact);
        chart
            .draw_series(LineSeries::new(
                grid.iter().zip(exact).map(|(&r, &a)| (r, a + s)),
                c.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(format!("kT = {kt}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        if let Some(i) = kernel {
            chart
                .draw_series(
                    grid.iter()
                        .zip(&fitted[i])
                        .step_by(5)
                        .map(|(&r, &a)| Circle::new((r, a + s), 3, c.stroke_width(1))),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if let Some(i) = nn {
            chart
                .draw_series(
                    grid.iter()
                        .zip(&fitted[i])
                        .skip(2)
                        .step_by(5)
                        .map(|(&r, &a)| Cross::new((r, a + s), 3, c.stroke_width(1))),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn main() -> Result<()> {
    let Some((quick, out)) = args::parse_args("temperature_free_energy")? else {
        return Ok(());
    };
    let t = std::time::Instant::now();
    let summary = run(quick, &out)?;
    println!(
        "Held-out kT {HELD_OUT_KT:?} (training {TRAIN_KT:?}); Boltzmann-weighted RMS errors, \
         mean of the two temperatures.\n⟨u⟩ errors are meaningful only with the energy term \
         (force matching leaves c(T) free).\n"
    );
    println!(
        "{:<8} {:<6} {:>7} {:>10} {:>12} {:>12}",
        "model", "target", "n per T", "A", "∂(βA)/∂β", "mean force"
    );
    for r in &summary.rows {
        let u = if r.energy {
            format!("{:.4}", r.mean_energy_rmse)
        } else {
            "—".into()
        };
        println!(
            "{:<8} {:<6} {:>7} {:>10.4} {:>12} {:>12.4}",
            r.model,
            if r.energy { "FM+U" } else { "FM" },
            r.per_temperature,
            r.free_energy_rmse,
            u,
            r.mean_force_rmse
        );
    }
    println!(
        "\nwrote errors.csv, curves.csv, free_energy.svg to {} in {:.1} s",
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
