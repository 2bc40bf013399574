//! A trainable pair potential: natural cubic splines whose knot values are the
//! parameters (the tabulated-potential form DiffTRe and relative entropy papers start
//! from; Thaler & Zavadlav 2021).
//!
//! A natural cubic spline is linear in its knot values `y`: its second derivatives are
//! `m = M y` for a fixed matrix `M` (the inverse of the tridiagonal continuity system), so
//! on `[x_k, x_{k+1}]`
//!
//! `u(r) = a y_k + b y_{k+1} + h²/6 [(a³ − a) m_k + (b³ − b) m_{k+1}]`,
//! `a = (x_{k+1} − r)/h`, `b = 1 − a`,
//!
//! and every derivative `∂u(r)/∂y_j`, `∂u'(r)/∂y_j` is exact and costs O(1) per pair plus
//! one `Mᵀ` product per call.

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, Vec3};
use thermograd_md::{
    Configuration, Evaluation, PairTableData, Potential, SpeciesPair, TabulatedPair,
    TabulatedPairConfig,
};
use thermograd_neighbors::{CellList, ListKind};
use thermograd_nn::file::{decode, encode, Dtype, FileHeader};
use thermograd_nn::{Frame, ModelFile, NnError, Trainable};

use crate::error::{config_error, Result, TrainError};
use crate::model::{Cotangents, EnergyModel};

/// Configuration of a [`SplinePair`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplinePairConfig {
    /// Knot distances (length units), strictly increasing, first one positive; the last
    /// one is the cutoff, where the potential is pinned to zero.
    pub knots: Vec<f64>,
    /// Number of species; one spline per unordered species pair `(a ≤ b)`.
    pub n_species: usize,
}

impl SplinePairConfig {
    /// `n_knots` equally spaced knots from `r_min` to `cutoff` for one species.
    pub fn uniform(r_min: f64, cutoff: f64, n_knots: usize) -> Self {
        let n = n_knots.max(2);
        SplinePairConfig {
            knots: (0..n)
                .map(|k| r_min + (cutoff - r_min) * k as f64 / (n - 1) as f64)
                .collect(),
            n_species: 1,
        }
    }

    /// Validates the knots and the species count.
    pub fn validate(&self) -> Result<()> {
        let k = &self.knots;
        if k.len() < 3 {
            return Err(config_error("spline knots", "need at least 3"));
        }
        if !k.iter().all(|x| x.is_finite()) || k[0] <= 0.0 {
            return Err(config_error(
                "spline knots",
                "must be finite with a positive first knot",
            ));
        }
        if k.windows(2).any(|w| w[1] <= w[0]) {
            return Err(config_error("spline knots", "must be strictly increasing"));
        }
        if self.n_species == 0 {
            return Err(config_error("spline species", "need at least one"));
        }
        if self.checked_n_values().is_none() {
            return Err(config_error(
                "spline species",
                format!("{} species give too many knot values", self.n_species),
            ));
        }
        Ok(())
    }

    /// Knot values of the model (`n_pairs · (knots − 1)`), `None` on overflow.
    fn checked_n_values(&self) -> Option<usize> {
        let n = self.n_species;
        let pairs = n.checked_mul(n.checked_add(1)?)? / 2;
        pairs.checked_mul(self.knots.len().checked_sub(1)?)
    }

    /// A zero potential (all knot values 0), e.g. a correction on top of a prior.
    pub fn build(&self) -> Result<SplinePair> {
        self.validate()?;
        let basis = Arc::new(SplineBasis::new(&self.knots));
        let n_pairs = self.n_species * (self.n_species + 1) / 2;
        let mut model = SplinePair {
            config: self.clone(),
            basis,
            values: vec![0.0; n_pairs * (self.knots.len() - 1)],
            second: Vec::new(),
            table: None,
        };
        model.refresh()?;
        Ok(model)
    }

    /// A potential with knot values `u(r_k)` taken from `f(species a, species b, r_k)`
    /// at every knot but the last (pinned to zero); e.g. to start from a known table.
    pub fn build_from(&self, f: impl Fn(u32, u32, f64) -> f64) -> Result<SplinePair> {
        let mut model = self.build()?;
        let k = self.knots.len() - 1;
        let mut values = Vec::with_capacity(model.values.len());
        for (a, b) in species_pairs(self.n_species) {
            values.extend(self.knots[..k].iter().map(|&r| f(a, b, r)));
        }
        model.set_values(values)?;
        Ok(model)
    }
}

/// Unordered species pairs in parameter order: (0,0), (0,1), …, (0,n−1), (1,1), ….
fn species_pairs(n: usize) -> Vec<(u32, u32)> {
    (0..n as u32)
        .flat_map(|a| (a..n as u32).map(move |b| (a, b)))
        .collect()
}

/// The linear map from knot values to natural-spline second derivatives, `m = M y`.
#[derive(Debug)]
struct SplineBasis {
    x: Vec<f64>,
    /// `M`, row-major `K × K` (rows 0 and K−1 are zero: natural ends).
    m: Vec<f64>,
}

impl SplineBasis {
    fn new(x: &[f64]) -> Self {
        let n = x.len();
        let mut m = vec![0.0; n * n];
        // Column j of M is the second-derivative vector of the spline through e_j, from
        // the tridiagonal system h0 m_{k−1} + 2(h0+h1) m_k + h1 m_{k+1} = 6 Δ-slopes
        // (Thomas algorithm; strictly diagonally dominant).
        for j in 0..n {
            let y = |k: usize| if k == j { 1.0 } else { 0.0 };
            let mut c_prime = vec![0.0; n];
            let mut d_prime = vec![0.0; n];
            for k in 1..n - 1 {
                let h0 = x[k] - x[k - 1];
                let h1 = x[k + 1] - x[k];
                let rhs = 6.0 * ((y(k + 1) - y(k)) / h1 - (y(k) - y(k - 1)) / h0);
                let denom = 2.0 * (h0 + h1) - h0 * c_prime[k - 1];
                c_prime[k] = h1 / denom;
                d_prime[k] = (rhs - h0 * d_prime[k - 1]) / denom;
            }
            let mut next = 0.0;
            for k in (1..n - 1).rev() {
                let v = d_prime[k] - c_prime[k] * next;
                m[k * n + j] = v;
                next = v;
            }
        }
        SplineBasis { x: x.to_vec(), m }
    }

    fn n(&self) -> usize {
        self.x.len()
    }

    /// Interval `k` and the local coefficients at `r` (inside `[x_0, x_{K−1})`):
    /// value `= ca·y_k + cb·y_{k+1} + ma·m_k + mb·m_{k+1}`, derivative likewise with
    /// the `d*` coefficients.
    #[inline]
    fn local(&self, r: f64) -> (usize, [f64; 4], [f64; 4]) {
        let n = self.x.len();
        let k = match self.x.partition_point(|&xk| xk <= r) {
            0 => 0,
            p if p >= n => n - 2,
            p => p - 1,
        };
        let h = self.x[k + 1] - self.x[k];
        let a = (self.x[k + 1] - r) / h;
        let b = (r - self.x[k]) / h;
        let value = [
            a,
            b,
            (a * a * a - a) * h * h / 6.0,
            (b * b * b - b) * h * h / 6.0,
        ];
        let deriv = [
            -1.0 / h,
            1.0 / h,
            (1.0 - 3.0 * a * a) * h / 6.0,
            (3.0 * b * b - 1.0) * h / 6.0,
        ];
        (k, value, deriv)
    }
}

/// A pair potential `u_ab(r)` made of natural cubic splines through trainable knot
/// values, zero at and beyond the last knot (the cutoff). Parameters are the knot values
/// (energy units) of every knot but the last, species pair by species pair in the order
/// (0,0), (0,1), …, (1,1), ….
///
/// The energy is continuous at the cutoff; the force jumps there by `u'(r_c)`, which
/// stays small when the last knots are near zero. A pair closer than the first knot is
/// an error ([`thermograd_md::MdError::OutsideTable`] in MD), not an extrapolation: put
/// the first knot below the closest approach a prior allows.
///
/// As a [`Potential`] it runs in MD through [`TabulatedPair`] built from the same
/// knots, which a test checks agrees with [`EnergyModel::evaluate_frames`].
#[derive(Clone, Debug)]
pub struct SplinePair {
    config: SplinePairConfig,
    basis: Arc<SplineBasis>,
    /// Knot values without the pinned last one, per species pair.
    values: Vec<f64>,
    /// Second derivatives at every knot, per species pair (`K` each).
    second: Vec<f64>,
    table: Option<TabulatedPair>,
}

impl SplinePair {
    /// The configuration.
    pub fn config(&self) -> &SplinePairConfig {
        &self.config
    }

    /// The cutoff (the last knot, length units).
    pub fn cutoff(&self) -> f64 {
        *self.config.knots.last().expect("validated knots")
    }

    fn n_free(&self) -> usize {
        self.config.knots.len() - 1
    }

    fn pair_index(&self, a: u32, b: u32) -> usize {
        let (a, b) = (a.min(b) as usize, a.max(b) as usize);
        let n = self.config.n_species;
        a * n - a * (a + 1) / 2 + b
    }

    fn set_values(&mut self, values: Vec<f64>) -> Result<()> {
        if values.len() != self.values.len() {
            return Err(TrainError::Nn(NnError::Mismatch {
                what: "spline parameters",
                expected: self.values.len(),
                got: values.len(),
            }));
        }
        if !values.iter().all(|v| v.is_finite()) {
            return Err(TrainError::NonFinite {
                what: "spline knot value",
            });
        }
        self.values = values;
        self.refresh()
    }

    fn refresh(&mut self) -> Result<()> {
        let n = self.basis.n();
        let k = self.n_free();
        let n_pairs = self.values.len() / k;
        self.second = vec![0.0; n_pairs * n];
        for p in 0..n_pairs {
            let y = &self.values[p * k..(p + 1) * k];
            for row in 0..n {
                self.second[p * n + row] = (0..k).map(|j| self.basis.m[row * n + j] * y[j]).sum();
            }
        }
        let pairs = species_pairs(self.config.n_species)
            .into_iter()
            .enumerate()
            .map(|(p, (a, b))| {
                let mut u = self.values[p * k..(p + 1) * k].to_vec();
                u.push(0.0);
                SpeciesPair {
                    a,
                    b,
                    params: PairTableData {
                        r: self.config.knots.clone(),
                        u,
                    },
                }
            })
            .collect();
        self.table = Some(
            TabulatedPairConfig {
                pairs,
                cutoff: self.cutoff(),
                shift: false,
            }
            .build()?,
        );
        Ok(())
    }

    /// Pair energy and derivative `(u(r), u'(r))` of species `a`, `b` (energy,
    /// energy/length); zero at and beyond the cutoff; `None` below the first knot.
    pub fn pair_energy(&self, a: u32, b: u32, r: f64) -> Option<(f64, f64)> {
        if r >= self.cutoff() {
            return Some((0.0, 0.0));
        }
        if r < self.config.knots[0] {
            return None;
        }
        let p = self.pair_index(a, b);
        let (n, k) = (self.basis.n(), self.n_free());
        let y = |i: usize| if i < k { self.values[p * k + i] } else { 0.0 };
        let m = &self.second[p * n..(p + 1) * n];
        let (i, cv, cd) = self.basis.local(r);
        let u = cv[0] * y(i) + cv[1] * y(i + 1) + cv[2] * m[i] + cv[3] * m[i + 1];
        let du = cd[0] * y(i) + cd[1] * y(i + 1) + cd[2] * m[i] + cd[3] * m[i + 1];
        Some((u, du))
    }

    /// Visits every pair within the cutoff: species, displacement `d = r_j − r_i`
    /// (nearest images and, in small cells, every image) and distance.
    fn for_each_pair(
        &self,
        frame: &Frame,
        mut f: impl FnMut(u32, u32, usize, usize, Vec3, f64) -> Result<()>,
    ) -> Result<()> {
        if frame.species.len() != frame.positions.len() {
            return Err(config_error(
                "frame",
                format!(
                    "{} atoms but {} species",
                    frame.positions.len(),
                    frame.species.len()
                ),
            ));
        }
        if let Some(&s) = frame
            .species
            .iter()
            .find(|&&s| s as usize >= self.config.n_species)
        {
            return Err(config_error(
                "frame",
                format!(
                    "species {s} but the spline knows {} species",
                    self.config.n_species
                ),
            ));
        }
        let cells = CellList::new(&frame.positions, &frame.simbox, self.cutoff())?;
        let rc2 = self.cutoff().powi(2);
        let mut result = Ok(());
        cells.for_each_pair(ListKind::Half, |p| {
            if result.is_err() || p.r2 >= rc2 {
                return;
            }
            let r = p.r2.sqrt();
            if r < self.config.knots[0] {
                result = Err(TrainError::Md(thermograd_md::MdError::OutsideTable {
                    r,
                    r_min: self.config.knots[0],
                }));
                return;
            }
            result = f(frame.species[p.i], frame.species[p.j], p.i, p.j, p.d, r);
        });
        result
    }

    fn evaluate_frame(&self, frame: &Frame) -> Result<Evaluation> {
        let mut e = Evaluation::zeros(frame.positions.len());
        self.for_each_pair(frame, |a, b, i, j, d, r| {
            let (u, du) = self.pair_energy(a, b, r).expect("checked range");
            e.energy += u;
            // Force on i is u'(r) d/r (pulled toward j when u' > 0).
            let f = d * (du / r);
            e.forces[i] += f;
            e.forces[j] -= f;
            e.virial -= d * d.transpose() * (du / r);
            Ok(())
        })?;
        Ok(e)
    }
}

impl Potential for SplinePair {
    fn cutoff(&self) -> Option<f64> {
        Some(SplinePair::cutoff(self))
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        self.table
            .as_ref()
            .expect("built with a table")
            .add_to(config, out)
    }

    fn name(&self) -> &str {
        "spline-pair"
    }
}

impl Trainable for SplinePair {
    fn n_parameters(&self) -> usize {
        self.values.len()
    }

    fn parameters(&self) -> Vec<f64> {
        self.values.clone()
    }

    fn set_parameters(&mut self, parameters: &[f64]) -> thermograd_nn::Result<()> {
        self.set_values(parameters.to_vec()).map_err(|e| match e {
            TrainError::Nn(e) => e,
            TrainError::NonFinite { what } => NnError::NonFinite { what },
            other => NnError::InvalidConfig {
                what: "spline parameters",
                reason: other.to_string(),
            },
        })
    }
}

impl EnergyModel for SplinePair {
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        frames.par_iter().map(|f| self.evaluate_frame(f)).collect()
    }

    fn parameter_vjp(&self, frames: &[Frame], cot: &Cotangents<'_>) -> Result<Vec<f64>> {
        cot.check(frames)?;
        let n = self.basis.n();
        let n_pairs = self.values.len() / self.n_free();
        // Per species pair: Σ of value/derivative weights on y (gy) and on m (gm).
        let zero = || (vec![0.0; n_pairs * n], vec![0.0; n_pairs * n]);
        let per_frame = frames
            .par_iter()
            .enumerate()
            .map(|(s, frame)| {
                let (mut gy, mut gm) = zero();
                let a_s = cot.energy[s];
                let g = cot.forces.map(|g| &g[s]);
                let c = cot.virial.map(|c| c[s]).unwrap_or_else(Mat3::zeros);
                self.for_each_pair(frame, |a, b, i, j, d, r| {
                    // a·u + (g_i − g_j)·d u'/r − dᵀCd u'/r.
                    let mut q = -(d.transpose() * c * d)[(0, 0)];
                    if let Some(g) = g {
                        q += (g[i] - g[j]).dot(&d);
                    }
                    q /= r;
                    let p = self.pair_index(a, b) * n;
                    let (k, cv, cd) = self.basis.local(r);
                    gy[p + k] += a_s * cv[0] + q * cd[0];
                    gy[p + k + 1] += a_s * cv[1] + q * cd[1];
                    gm[p + k] += a_s * cv[2] + q * cd[2];
                    gm[p + k + 1] += a_s * cv[3] + q * cd[3];
                    Ok(())
                })?;
                Ok::<_, TrainError>((gy, gm))
            })
            .collect::<Result<Vec<_>>>()?;
        // Summed in frame order, so the result does not depend on how rayon split the
        // work (resumed runs must reproduce uninterrupted ones bit for bit).
        let (mut gy, mut gm) = zero();
        for (by, bm) in per_frame {
            for (x, y) in gy.iter_mut().zip(by) {
                *x += y;
            }
            for (x, y) in gm.iter_mut().zip(bm) {
                *x += y;
            }
        }
        // ∂/∂y_j = gy_j + Σ_row M_row,j gm_row; the last knot is pinned.
        let k = self.n_free();
        let mut out = vec![0.0; self.values.len()];
        for p in 0..n_pairs {
            for j in 0..k {
                let mut v = gy[p * n + j];
                for row in 0..n {
                    v += self.basis.m[row * n + j] * gm[p * n + row];
                }
                out[p * k + j] = v;
            }
        }
        Ok(out)
    }
}

const FILE_KIND: &str = "spline_pair";

/// Stored in the model-file format of `thermograd-nn` ([`thermograd_nn::file`]): the
/// knots in the header, the knot values as parameters; a file of another kind is
/// [`NnError::WrongArchitecture`].
impl ModelFile for SplinePair {
    fn to_bytes(&self) -> thermograd_nn::Result<Vec<u8>> {
        let architecture = bincode::serialize(&self.config).map_err(|e| NnError::CorruptFile {
            reason: e.to_string(),
        })?;
        let header = FileHeader {
            kind: FILE_KIND.into(),
            architecture,
            summary: format!(
                "{} knots on [{}, {}], {} species",
                self.config.knots.len(),
                self.config.knots[0],
                self.cutoff(),
                self.config.n_species
            ),
            dtype: Dtype::F64,
            normalization: Vec::new(),
            n_parameters: self.values.len() as u64,
        };
        encode(&header, &self.values)
    }

    fn from_bytes(bytes: &[u8]) -> thermograd_nn::Result<Self> {
        let (header, values) = decode(bytes)?;
        if header.kind != FILE_KIND || header.dtype != Dtype::F64 {
            return Err(NnError::WrongArchitecture {
                expected: format!("{FILE_KIND} (f64)"),
                found: format!("{} ({}, {})", header.kind, header.summary, header.dtype),
            });
        }
        let config: SplinePairConfig =
            bincode::deserialize(&header.architecture).map_err(|e| NnError::CorruptFile {
                reason: format!("architecture: {e}"),
            })?;
        config.validate().map_err(|e| NnError::CorruptFile {
            reason: e.to_string(),
        })?;
        // Checked before `build` allocates: a damaged header may claim 10^9 species.
        if config.checked_n_values() != Some(values.len()) {
            return Err(NnError::CorruptFile {
                reason: format!(
                    "the architecture needs {} knot values, the file holds {}",
                    config.checked_n_values().unwrap_or(usize::MAX),
                    values.len()
                ),
            });
        }
        let mut model = config.build().map_err(|e| NnError::CorruptFile {
            reason: e.to_string(),
        })?;
        model.set_parameters(&values)?;
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thermograd_md::CubicSpline;

    #[test]
    fn basis_matches_the_md_spline() {
        let cfg = SplinePairConfig::uniform(0.8, 2.5, 12);
        let model = cfg
            .build_from(|_, _, r| (3.0 * r).sin() / r)
            .expect("valid");
        let mut y: Vec<f64> = cfg.knots[..11]
            .iter()
            .map(|r| (3.0 * r).sin() / r)
            .collect();
        y.push(0.0);
        let reference = CubicSpline::natural(cfg.knots.clone(), y).unwrap();
        for r in [0.8, 0.93, 1.5, 2.0, 2.49] {
            let (u, du) = model.pair_energy(0, 0, r).unwrap();
            let (v, dv) = reference.eval(r);
            assert!((u - v).abs() < 1e-12 && (du - dv).abs() < 1e-11, "{r}");
        }
        assert_eq!(model.pair_energy(0, 0, 2.5), Some((0.0, 0.0)));
        assert_eq!(model.pair_energy(0, 0, 0.7), None);
    }

    #[test]
    fn model_files_round_trip() {
        let model = SplinePairConfig::uniform(0.8, 2.5, 9)
            .build_from(|_, _, r| 1.0 / r)
            .unwrap();
        let back = SplinePair::from_bytes(&model.to_bytes().unwrap()).unwrap();
        assert_eq!(back.parameters(), model.parameters());
        assert_eq!(back.config(), model.config());
        let mlp = thermograd_nn::MlpConfig {
            inputs: 1,
            hidden: vec![2],
            outputs: 1,
            activation: thermograd_nn::Activation::Tanh,
        }
        .build(1)
        .unwrap();
        assert!(matches!(
            SplinePair::from_bytes(&mlp.to_bytes().unwrap()),
            Err(NnError::WrongArchitecture { .. })
        ));
    }

    #[test]
    fn pair_index_covers_the_upper_triangle() {
        let mut cfg = SplinePairConfig::uniform(0.8, 2.5, 5);
        cfg.n_species = 3;
        let m = cfg.build().unwrap();
        let idx: Vec<usize> = species_pairs(3)
            .into_iter()
            .map(|(a, b)| m.pair_index(b, a))
            .collect();
        assert_eq!(idx, vec![0, 1, 2, 3, 4, 5]);
    }
}
