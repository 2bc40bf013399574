//! SVG plots of pipeline results (plotters' SVG backend, no system fonts needed).

use std::path::Path;

use plotters::prelude::*;

use super::{PipelineError, Result};

/// A curve with an optional symmetric uncertainty band (± `band`).
pub(crate) struct Curve<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub band: Option<&'a [f64]>,
}

/// Points with vertical error bars (± `err`).
pub(crate) struct Points<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub x: &'a [f64],
    pub y: &'a [f64],
    pub err: &'a [f64],
}

/// One panel of a parity plot: reference against predicted values.
pub(crate) struct ParityPanel<'a> {
    pub title: &'a str,
    pub pairs: &'a [(f64, f64)],
}

/// One panel of a histogram plot, with the normal density of the same mean and
/// standard deviation for comparison.
pub(crate) struct HistogramPanel<'a> {
    pub title: &'a str,
    pub edges: &'a [f64],
    pub density: &'a [f64],
    pub mean: f64,
    pub std: f64,
}

pub(crate) const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub(crate) const ORANGE_: RGBColor = RGBColor(255, 127, 14);
pub(crate) const GREEN_: RGBColor = RGBColor(44, 160, 44);
pub(crate) const RED_: RGBColor = RGBColor(214, 39, 40);

fn plot_error(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Plot {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    let span = (hi - lo).abs().max(1e-9);
    (lo - frac * span, hi + frac * span)
}

fn finite_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// Curves with bands and points with error bars on one set of axes.
pub(crate) fn profiles(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve<'_>],
    points: &[Points<'_>],
) -> Result<()> {
    let pe = |e: &dyn std::fmt::Display| plot_error(path, e);
    let (x0, x1) = finite_range(
        curves
            .iter()
            .flat_map(|c| c.x.iter().copied())
            .chain(points.iter().flat_map(|p| p.x.iter().copied())),
    );
    let (y0, y1) = finite_range(
        curves
            .iter()
            .flat_map(|c| {
                c.y.iter().enumerate().flat_map(move |(i, y)| {
                    let b = c.band.map_or(0.0, |b| b[i]);
                    [y - b, y + b]
                })
            })
            .chain(points.iter().flat_map(|p| {
                p.y.iter()
                    .zip(p.err)
                    .flat_map(|(y, e)| [y - e.min(2.0), y + e.min(2.0)])
            })),
    );
    if !(x0.is_finite() && y0.is_finite()) {
        return Err(plot_error(path, "nothing finite to plot"));
    }
    let (y0, y1) = padded(y0, y1, 0.05);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| pe(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| pe(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(WHITE.mix(0.0))
        .axis_desc_style(("sans-serif", 17))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| pe(&e))?;
    for c in curves {
        if let Some(band) = c.band {
            let mut poly: Vec<(f64, f64)> =
                c.x.iter()
                    .zip(c.y)
                    .zip(band)
                    .map(|((x, y), b)| (*x, y + b))
                    .collect();
            poly.extend(
                c.x.iter()
                    .zip(c.y)
                    .zip(band)
                    .rev()
                    .map(|((x, y), b)| (*x, y - b)),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.color.mix(0.22))))
                .map_err(|e| pe(&e))?;
        }
    }
    for c in curves {
        let color = c.color;
        chart
            .draw_series(LineSeries::new(
                c.x.iter().copied().zip(c.y.iter().copied()),
                color.stroke_width(2),
            ))
            .map_err(|e| pe(&e))?
            .label(c.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
            });
    }
    for p in points {
        let color = p.color;
        let style = color.stroke_width(1);
        chart
            .draw_series(
                p.x.iter()
                    .zip(p.y)
                    .zip(p.err)
                    .filter(|((_, y), _)| y.is_finite())
                    .map(move |((x, y), e)| {
                        let e = if e.is_finite() { *e } else { 0.0 };
                        PathElement::new(vec![(*x, y - e), (*x, y + e)], style)
                    }),
            )
            .map_err(|e| pe(&e))?;
        chart
            .draw_series(
                p.x.iter()
                    .zip(p.y)
                    .filter(|(_, y)| y.is_finite())
                    .map(move |(x, y)| Circle::new((*x, *y), 3, color.filled())),
            )
            .map_err(|e| pe(&e))?
            .label(p.label)
            .legend(move |(x, y)| Circle::new((x + 11, y), 3, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .label_font(("sans-serif", 14))
        .border_style(BLACK)
        .draw()
        .map_err(|e| pe(&e))?;
    root.present().map_err(|e| pe(&e))?;
    Ok(())
}

/// Side-by-side parity plots (predicted against reference, with the diagonal).
pub(crate) fn parity(path: &Path, title: &str, panels: &[ParityPanel<'_>]) -> Result<()> {
    let pe = |e: &dyn std::fmt::Display| plot_error(path, e);
    let root = SVGBackend::new(path, (480 * panels.len().max(1) as u32, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| pe(&e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| pe(&e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (panel, area) in panels.iter().zip(&areas) {
        let (lo, hi) = finite_range(panel.pairs.iter().flat_map(|(r, p)| [*r, *p]));
        if !lo.is_finite() {
            return Err(plot_error(path, "nothing finite to plot"));
        }
        let (lo, hi) = padded(lo, hi, 0.04);
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| pe(&e))?;
        chart
            .configure_mesh()
            .x_desc("reference")
            .y_desc("surrogate")
            .light_line_style(WHITE.mix(0.0))
            .axis_desc_style(("sans-serif", 17))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| pe(&e))?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
            .map_err(|e| pe(&e))?;
        chart
            .draw_series(
                panel
                    .pairs
                    .iter()
                    .map(|(r, p)| Circle::new((*r, *p), 2, BLUE_.mix(0.5).filled())),
            )
            .map_err(|e| pe(&e))?;
    }
    root.present().map_err(|e| pe(&e))?;
    Ok(())
}

/// Side-by-side histograms (as densities) with the matching normal density.
pub(crate) fn histograms(path: &Path, title: &str, panels: &[HistogramPanel<'_>]) -> Result<()> {
    let pe = |e: &dyn std::fmt::Display| plot_error(path, e);
    let root = SVGBackend::new(path, (480 * panels.len().max(1) as u32, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| pe(&e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| pe(&e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (panel, area) in panels.iter().zip(&areas) {
        let (Some(&x0), Some(&x1)) = (panel.edges.first(), panel.edges.last()) else {
            return Err(plot_error(path, "a histogram without bins"));
        };
        let normal = |x: f64| {
            (-(x - panel.mean).powi(2) / (2.0 * panel.std * panel.std)).exp()
                / (panel.std * (2.0 * std::f64::consts::PI).sqrt())
        };
        let top = panel
            .density
            .iter()
            .copied()
            .chain(std::iter::once(normal(panel.mean)))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            * 1.08;
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..top.max(1e-12))
            .map_err(|e| pe(&e))?;
        chart
            .configure_mesh()
            .x_desc("Jacobian error")
            .y_desc("density")
            .light_line_style(WHITE.mix(0.0))
            .axis_desc_style(("sans-serif", 17))
            .label_style(("sans-serif", 14))
            .x_labels(6)
            .draw()
            .map_err(|e| pe(&e))?;
        chart
            .draw_series(
                panel.edges.windows(2).zip(panel.density).map(|(e, d)| {
                    Rectangle::new([(e[0], 0.0), (e[1], *d)], BLUE_.mix(0.45).filled())
                }),
            )
            .map_err(|e| pe(&e))?
            .label("surrogate − analytic")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], BLUE_.mix(0.45).filled())
            });
        let n = 200;
        chart
            .draw_series(LineSeries::new(
                (0..=n).map(|i| {
                    let x = x0 + (x1 - x0) * i as f64 / n as f64;
                    (x, normal(x))
                }),
                RED_.stroke_width(2),
            ))
            .map_err(|e| pe(&e))?
            .label("normal, same mean and sd")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], RED_.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 14))
            .label_font(("sans-serif", 14))
            .border_style(BLACK)
            .draw()
            .map_err(|e| pe(&e))?;
    }
    root.present().map_err(|e| pe(&e))?;
    Ok(())
}
