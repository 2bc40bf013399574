//! Neural-network surrogates of collective variables (after Pathirage et al., "Neural
//! network surrogates for free energy computation of complex chemical systems",
//! arXiv:2510.01396): a network from the coordinates of selected atoms to CV values,
//! whose Jacobian comes from autodiff.

use serde::{Deserialize, Serialize};
use thermograd_cv::{CollectiveVariable, CvValue};
use thermograd_geometry::{Mat3, SimBox, Vec3};

use crate::error::{check_len, config_error};
use crate::file::{
    decode, decode_bincode, encode, encode_bincode, expect_kind_any_precision, Dtype, FileHeader,
};
use crate::{
    Activation, Matrix, Mlp, MlpConfig, ModelFile, NnError, Normalization, Result, Trainable,
};

/// The hidden widths used by Pathirage et al.
pub const DEFAULT_HIDDEN: [usize; 4] = [64, 128, 64, 32];

/// The periodic-boundary preprocessing of a [`CvSurrogate`]: how the positions of its
/// atoms become network inputs. Both forms use minimum-image displacements `d_k =
/// mic(r_k − r_ref)` from the first listed (reference) atom, so they are exact in
/// orthorhombic and triclinic cells and unchanged by translations and by shifting any
/// atom by a lattice vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvFeatures {
    /// The `3 (n − 1)` Cartesian components of every `d_k` (the paper's preprocessing
    /// layer). Suits CVs of a few atoms, such as a distance or an angle.
    #[default]
    Displacements,
    /// The `nearest` smallest distances `|d_k|` over the non-reference atoms, sorted
    /// ascending. Invariant to permutations of those atoms and to rotations, so suited
    /// to CVs that treat them alike — the coordination of an ion by hundreds of solvent
    /// atoms — where a network on raw displacements would have to learn the symmetry
    /// from data. Atoms beyond the `nearest` closest do not reach the network (their
    /// Jacobian is zero), so choose `nearest` past the switching function's range.
    /// The sort is a permutation, so the features are continuous, and the Jacobian
    /// `∂ξ/∂r_k = (∂ξ/∂f_j) d_k/|d_k|` flows back through it to the atom `k` at rank `j`.
    SortedDistances {
        /// Number of nearest distances fed to the network (1 ≤ nearest ≤ n − 1).
        nearest: usize,
    },
}

/// Definition and architecture of a [`CvSurrogate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvSurrogateConfig {
    /// A short name for reports.
    pub name: String,
    /// The atoms the CV depends on; the first is the reference atom of the
    /// periodic-boundary preprocessing. At least two, all distinct.
    pub atoms: Vec<usize>,
    /// Number of CV components.
    pub outputs: usize,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Hidden activation (ReLU is allowed here; see [`Activation`]).
    pub activation: Activation,
    /// Period of each component (`None`: not periodic); empty means none is periodic.
    pub periods: Vec<Option<f64>>,
    /// The preprocessing of positions into network inputs.
    #[serde(default)]
    pub features: CvFeatures,
}

/// The layout of [`CvSurrogateConfig`] before `features` existed (model files written
/// then hold it); such files decode with [`CvFeatures::Displacements`].
#[derive(Deserialize)]
struct LegacyConfig {
    name: String,
    atoms: Vec<usize>,
    outputs: usize,
    hidden: Vec<usize>,
    activation: Activation,
    periods: Vec<Option<f64>>,
}

impl CvSurrogateConfig {
    /// A surrogate of `outputs` components over `atoms` with the default widths
    /// [64, 128, 64, 32], SiLU activations and displacement features.
    pub fn new(name: &str, atoms: Vec<usize>, outputs: usize) -> Self {
        CvSurrogateConfig {
            name: name.to_string(),
            atoms,
            outputs,
            hidden: DEFAULT_HIDDEN.to_vec(),
            activation: Activation::Silu,
            periods: Vec::new(),
            features: CvFeatures::Displacements,
        }
    }

    /// Checks the definition.
    pub fn validate(&self) -> Result<()> {
        if self.atoms.len() < 2 {
            return Err(config_error(
                "cv surrogate atoms",
                "need at least two atoms",
            ));
        }
        for (k, a) in self.atoms.iter().enumerate() {
            if self.atoms[..k].contains(a) {
                return Err(config_error(
                    "cv surrogate atoms",
                    format!("atom {a} appears twice"),
                ));
            }
        }
        if let CvFeatures::SortedDistances { nearest } = self.features {
            if nearest == 0 || nearest >= self.atoms.len() {
                return Err(config_error(
                    "cv surrogate features",
                    format!(
                        "sorted distances need 1 ≤ nearest ≤ {} (the non-reference atoms), got {nearest}",
                        self.atoms.len() - 1
                    ),
                ));
            }
        }
        if !self.periods.is_empty() {
            check_len("cv periods", self.outputs, self.periods.len())?;
            if self
                .periods
                .iter()
                .flatten()
                .any(|p| !(p.is_finite() && *p > 0.0))
            {
                return Err(config_error("cv periods", "must be positive and finite"));
            }
        }
        self.net_config().validate()
    }

    /// Number of network inputs.
    pub fn n_features(&self) -> usize {
        match self.features {
            CvFeatures::Displacements => 3 * (self.atoms.len().max(1) - 1),
            CvFeatures::SortedDistances { nearest } => nearest,
        }
    }

    fn net_config(&self) -> MlpConfig {
        MlpConfig {
            inputs: self.n_features(),
            hidden: self.hidden.clone(),
            outputs: self.outputs,
            activation: self.activation,
        }
    }

    /// A surrogate with seeded random weights.
    pub fn build(&self, seed: u64) -> Result<CvSurrogate> {
        self.validate()?;
        Ok(CvSurrogate {
            config: self.clone(),
            net: self.net_config().build(seed)?,
        })
    }
}

/// One training sample: a configuration and the reference CV values (and optionally
/// the reference gradients, component-major over the surrogate's atoms as in
/// [`CvValue::gradients`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvSample {
    /// Positions of all atoms (length units).
    pub positions: Vec<Vec3>,
    /// The box.
    pub simbox: SimBox,
    /// Reference values, one per component.
    pub values: Vec<f64>,
    /// Reference gradients `∂ξ_c/∂r_k`, component-major, or empty.
    pub gradients: Vec<Vec3>,
}

/// Loss of a CV surrogate on a batch and its parameter gradient:
/// `loss = w_v mean (ξ − ξ^ref)² + w_J mean |∂ξ/∂r − ∂ξ^ref/∂r|²` (per component and
/// atom).
#[derive(Clone, Debug, PartialEq)]
pub struct CvLoss {
    /// The loss.
    pub loss: f64,
    /// Root mean square value error.
    pub value_rmse: f64,
    /// Root mean square gradient-component error (0 without reference gradients).
    pub gradient_rmse: f64,
    /// ∂loss/∂θ.
    pub gradient: Vec<f64>,
}

/// The network inputs of one configuration and how each depends on the atoms: input
/// `j` is a function of the displacement `disp[slot[j] − 1]` of atom slot `slot[j]`
/// (≥ 1) from the reference atom (slot 0), with `∂x_j/∂r_slot = coef[j] =
/// −∂x_j/∂r_ref`.
struct FeatureMap {
    x: Vec<f64>,
    slot: Vec<usize>,
    coef: Vec<Vec3>,
    disp: Vec<Vec3>,
}

/// A learned collective variable: an [`Mlp`] on periodic-boundary-aware features of
/// selected atoms.
///
/// Preprocessing ([`CvFeatures`]): the minimum-image displacements `d_k = mic(r_k −
/// r_ref)` of every listed atom from the first (reference) atom, exact in orthorhombic
/// and triclinic cells, fed to the network either as Cartesian components or as sorted
/// distances. They are unchanged by translations and by shifting any atom by a lattice
/// vector, so the surrogate is too. Each input `x_j` depends on one displacement `d_k`,
/// so the Jacobian is `∂ξ/∂r_k = Σ_j (∂ξ/∂x_j) ∂x_j/∂d_k` and `∂ξ/∂r_ref = −Σ_k ∂ξ/∂r_k`,
/// from one backward pass; the strain derivative is `Σ_k ∂ξ/∂r_k ⊗ d_k` (the same
/// images). The box enters only through the minimum image, so the surrogate suits CVs
/// of atoms closer than half the shortest lattice vector (or, for sorted distances,
/// whose nearest atoms are).
#[derive(Clone, Debug, PartialEq)]
pub struct CvSurrogate {
    config: CvSurrogateConfig,
    net: Mlp,
}

impl CvSurrogate {
    /// The definition.
    pub fn config(&self) -> &CvSurrogateConfig {
        &self.config
    }

    /// The network.
    pub fn network(&self) -> &Mlp {
        &self.net
    }

    /// The network, mutable (normalization).
    pub fn network_mut(&mut self) -> &mut Mlp {
        &mut self.net
    }

    /// The precision the network computes in (features and the Jacobian's assembly
    /// are always `f64`).
    pub fn precision(&self) -> Dtype {
        self.net.precision()
    }

    /// The same surrogate with its network computing in `precision` (see
    /// [`Mlp::with_precision`]; going to `f32` rounds the parameters).
    pub fn with_precision(mut self, precision: Dtype) -> Result<Self> {
        self.net = self.net.with_precision(precision)?;
        Ok(self)
    }

    /// The network inputs of a configuration: `3 (n_atoms − 1)` displacement components
    /// or `nearest` sorted distances (length units), see [`CvFeatures`].
    pub fn features(&self, positions: &[Vec3], simbox: &SimBox) -> Result<Vec<f64>> {
        Ok(self.feature_map(positions, simbox)?.x)
    }

    fn displacements(&self, positions: &[Vec3], simbox: &SimBox) -> Result<Vec<Vec3>> {
        for &a in &self.config.atoms {
            let r = positions.get(a).ok_or(NnError::Mismatch {
                what: "atoms in the configuration (a CV atom is out of range)",
                expected: a + 1,
                got: positions.len(),
            })?;
            if !(r.x.is_finite() && r.y.is_finite() && r.z.is_finite()) {
                return Err(NnError::NonFinite { what: "position" });
            }
        }
        let r0 = positions[self.config.atoms[0]];
        Ok(self.config.atoms[1..]
            .iter()
            .map(|&a| simbox.displacement(&r0, &positions[a]))
            .collect())
    }

    fn feature_map(&self, positions: &[Vec3], simbox: &SimBox) -> Result<FeatureMap> {
        let disp = self.displacements(positions, simbox)?;
        let k = self.config.n_features();
        let mut x = Vec::with_capacity(k);
        let mut slot = Vec::with_capacity(k);
        let mut coef = Vec::with_capacity(k);
        match self.config.features {
            CvFeatures::Displacements => {
                for (q, d) in disp.iter().enumerate() {
                    for c in 0..3 {
                        x.push(d[c]);
                        slot.push(q + 1);
                        let mut e = Vec3::zeros();
                        e[c] = 1.0;
                        coef.push(e);
                    }
                }
            }
            CvFeatures::SortedDistances { nearest } => {
                let mut by_distance: Vec<(f64, usize)> = disp
                    .iter()
                    .enumerate()
                    .map(|(q, d)| (d.norm(), q))
                    .collect();
                // Ties are broken by atom order, so the map is deterministic.
                let cmp =
                    |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if nearest < by_distance.len() {
                    by_distance.select_nth_unstable_by(nearest, cmp);
                    by_distance.truncate(nearest);
                }
                by_distance.sort_unstable_by(cmp);
                for (r, q) in by_distance {
                    x.push(r);
                    slot.push(q + 1);
                    // An atom on top of the reference: the distance has no gradient there.
                    coef.push(if r > 0.0 { disp[q] / r } else { Vec3::zeros() });
                }
            }
        }
        Ok(FeatureMap {
            x,
            slot,
            coef,
            disp,
        })
    }

    /// Sets the network's input normalization from the features of `samples`.
    pub fn fit_input_normalization(&mut self, samples: &[CvSample]) -> Result<()> {
        let x = self.feature_matrix(samples)?;
        let fitted = Normalization::from_inputs(&x, self.config.outputs);
        let mut n = self.net.normalization().clone();
        n.input_shift = fitted.input_shift;
        n.input_scale = fitted.input_scale;
        self.net.set_normalization(n)
    }

    /// Sets the network's output normalization to the mean and standard deviation of
    /// each component of the reference values in `samples` (a component with zero
    /// spread gets scale 1), so that the network itself fits values of order one.
    pub fn fit_output_normalization(&mut self, samples: &[CvSample]) -> Result<()> {
        if samples.is_empty() {
            return Err(config_error("cv samples", "is empty"));
        }
        let m = self.config.outputs;
        let n = samples.len() as f64;
        let mut mean = vec![0.0; m];
        for s in samples {
            check_len("reference values", m, s.values.len())?;
            for (a, v) in mean.iter_mut().zip(&s.values) {
                *a += v / n;
            }
        }
        let mut var = vec![0.0; m];
        for s in samples {
            for c in 0..m {
                var[c] += (s.values[c] - mean[c]).powi(2) / n;
            }
        }
        let mut norm = self.net.normalization().clone();
        norm.output_shift = mean;
        norm.output_scale = var
            .iter()
            .map(|&v| if v > 1e-24 { v.sqrt() } else { 1.0 })
            .collect();
        self.net.set_normalization(norm)
    }

    fn feature_matrix(&self, samples: &[CvSample]) -> Result<Matrix> {
        let k = self.net.config().inputs;
        let mut data = Vec::with_capacity(samples.len() * k);
        for s in samples {
            data.extend(self.features(&s.positions, &s.simbox)?);
        }
        Matrix::new(samples.len(), k, data)
    }

    /// Values of many configurations at once (`samples.len() × outputs`; reference
    /// values in the samples are ignored).
    pub fn values_batch(&self, samples: &[CvSample]) -> Result<Matrix> {
        self.net.forward(&self.feature_matrix(samples)?)
    }

    /// Values and Jacobians of many configurations at once: for each sample a
    /// [`CvValue`] as [`CollectiveVariable::evaluate`] returns it, from one batched
    /// backward pass per component.
    pub fn evaluate_batch(&self, samples: &[CvSample]) -> Result<Vec<CvValue>> {
        let maps = samples
            .iter()
            .map(|s| self.feature_map(&s.positions, &s.simbox))
            .collect::<Result<Vec<_>>>()?;
        let (y, jacs) = self.batch_jacobians(&maps)?;
        Ok(maps
            .iter()
            .enumerate()
            .map(|(s, map)| {
                let mut out = CvValue::default();
                self.assemble(map, y.row(s), &jacs, s, &mut out);
                out
            })
            .collect())
    }

    /// Outputs and, per component `c`, the input gradients `∂y_c/∂x` of every sample
    /// (`rows × inputs`), one backward pass per component.
    fn batch_jacobians(&self, maps: &[FeatureMap]) -> Result<(Matrix, Vec<Matrix>)> {
        let m = self.config.outputs;
        let k = self.net.config().inputs;
        let n = maps.len();
        let mut data = Vec::with_capacity(n * k);
        for map in maps {
            data.extend_from_slice(&map.x);
        }
        let x = Matrix::new(n, k, data)?;
        let mut y = None;
        let mut jacs = Vec::with_capacity(m);
        for c in 0..m {
            let mut cot = Matrix::zeros(n, m);
            for s in 0..n {
                cot.row_mut(s)[c] = 1.0;
            }
            let (yc, g) = self.net.input_vjp(&x, &cot)?;
            y.get_or_insert(yc);
            jacs.push(g);
        }
        Ok((y.unwrap_or_else(|| Matrix::zeros(n, m)), jacs))
    }

    /// Fills `out` from the feature map of sample `s`, its outputs and the per-component
    /// input gradients.
    fn assemble(&self, map: &FeatureMap, y: &[f64], jacs: &[Matrix], s: usize, out: &mut CvValue) {
        let m = self.config.outputs;
        let na = self.config.atoms.len();
        out.reset(m, &self.config.atoms);
        out.values.copy_from_slice(y);
        for (c, jac) in jacs.iter().enumerate() {
            let row = jac.row(s);
            let mut strain = Mat3::zeros();
            let grads = &mut out.gradients[c * na..(c + 1) * na];
            for (j, &dy) in row.iter().enumerate() {
                if dy == 0.0 {
                    continue;
                }
                let g = map.coef[j] * dy;
                let slot = map.slot[j];
                grads[slot] += g;
                grads[0] -= g;
                strain += g * map.disp[slot - 1].transpose();
            }
            out.strain[c] = strain;
        }
    }

    /// Loss on a batch and its exact parameter gradient. Gradient matching uses
    /// forward-mode tangents (one row per sample and component), so the whole gradient
    /// takes one backward pass (plus one batched pass per component for the predicted
    /// Jacobians).
    pub fn loss_and_gradient(
        &self,
        samples: &[CvSample],
        value_weight: f64,
        gradient_weight: f64,
    ) -> Result<CvLoss> {
        if samples.is_empty() {
            return Err(config_error("cv training batch", "is empty"));
        }
        let m = self.config.outputs;
        let na = self.config.atoms.len();
        let k = self.net.config().inputs;
        let maps = samples
            .iter()
            .map(|s| self.feature_map(&s.positions, &s.simbox))
            .collect::<Result<Vec<_>>>()?;
        let with_grads = gradient_weight != 0.0;
        let n = samples.len() as f64;
        let mut v_sq = 0.0;
        let mut g_sq = 0.0;
        let (y, jacs) = if with_grads {
            self.batch_jacobians(&maps)?
        } else {
            let mut data = Vec::with_capacity(maps.len() * k);
            for map in &maps {
                data.extend_from_slice(&map.x);
            }
            (
                self.net.forward(&Matrix::new(maps.len(), k, data)?)?,
                Vec::new(),
            )
        };
        // Rows: every sample replicated once per component when matching gradients.
        let reps = if with_grads { m } else { 1 };
        let mut xr = Matrix::zeros(samples.len() * reps, k);
        let mut cot_y = Matrix::zeros(samples.len() * reps, m);
        let mut t = Matrix::zeros(samples.len() * reps, k);
        let mut cot_t = Matrix::zeros(samples.len() * reps, m);
        let mut predicted = CvValue::default();
        for (s, (sample, map)) in samples.iter().zip(&maps).enumerate() {
            check_len("reference values", m, sample.values.len())?;
            for c in 0..m {
                let r = y.get(s, c) - sample.values[c];
                v_sq += r * r;
                cot_y.row_mut(s * reps)[c] = 2.0 * value_weight * r / (n * m as f64);
            }
            for rep in 0..reps {
                xr.row_mut(s * reps + rep).copy_from_slice(&map.x);
            }
            if with_grads {
                check_len("reference gradients", m * na, sample.gradients.len())?;
                self.assemble(map, y.row(s), &jacs, s, &mut predicted);
                let scale = 2.0 * gradient_weight / (n * (m * na * 3) as f64);
                for c in 0..m {
                    // Residual per atom: predicted minus reference gradient.
                    let res: Vec<Vec3> = (0..na)
                        .map(|a| predicted.gradients[c * na + a] - sample.gradients[c * na + a])
                        .collect();
                    g_sq += res.iter().map(|r| r.norm_squared()).sum::<f64>();
                    // Σ_a R_a·∂ξ/∂r_a = Σ_j (∂ξ/∂x_j) coef_j·(R_slot − R_ref): a tangent
                    // in feature space.
                    let row = t.row_mut(s * reps + c);
                    for (j, tj) in row.iter_mut().enumerate() {
                        *tj = map.coef[j].dot(&(res[map.slot[j]] - res[0]));
                    }
                    cot_t.row_mut(s * reps + c)[c] = scale;
                }
            }
        }
        let out = if with_grads {
            self.net.param_vjp(&xr, &cot_y, Some((&t, &cot_t)))?
        } else {
            self.net.param_vjp(&xr, &cot_y, None)?
        };
        let nv = n * m as f64;
        let ng = n * (m * na * 3) as f64;
        Ok(CvLoss {
            loss: value_weight * v_sq / nv
                + if with_grads {
                    gradient_weight * g_sq / ng
                } else {
                    0.0
                },
            value_rmse: (v_sq / nv).sqrt(),
            gradient_rmse: if with_grads { (g_sq / ng).sqrt() } else { 0.0 },
            gradient: out.gradient,
        })
    }
}

impl CollectiveVariable for CvSurrogate {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn dim(&self) -> usize {
        self.config.outputs
    }

    fn atoms(&self) -> &[usize] {
        &self.config.atoms
    }

    fn period(&self, component: usize) -> Option<f64> {
        self.config.periods.get(component).copied().flatten()
    }

    fn evaluate(
        &self,
        positions: &[Vec3],
        simbox: &SimBox,
        out: &mut CvValue,
    ) -> thermograd_cv::Result<()> {
        let map = self
            .feature_map(positions, simbox)
            .map_err(NnError::into_cv)?;
        let (values, jac) = self.net.jacobian(&map.x).map_err(NnError::into_cv)?;
        // `jacobian` returns all components as rows of one matrix; split them into
        // per-component single-row matrices for `assemble`.
        let k = self.net.config().inputs;
        let jacs: Vec<Matrix> = (0..self.config.outputs)
            .map(|c| Matrix {
                rows: 1,
                cols: k,
                data: jac.row(c).to_vec(),
            })
            .collect();
        self.assemble(&map, &values, &jacs, 0, out);
        Ok(())
    }
}

impl Trainable for CvSurrogate {
    fn n_parameters(&self) -> usize {
        self.net.n_parameters()
    }
    fn parameters(&self) -> Vec<f64> {
        self.net.parameters()
    }
    fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        self.net.set_parameters(parameters)
    }
}

impl ModelFile for CvSurrogate {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = FileHeader {
            kind: "cv_surrogate".into(),
            architecture: encode_bincode(&self.config)?,
            summary: format!(
                "{} over {} atoms, {:?} features, {}",
                self.config.name,
                self.config.atoms.len(),
                self.config.features,
                self.net.config().summary()
            ),
            dtype: self.precision(),
            normalization: encode_bincode(&vec![self.net.normalization().clone()])?,
            n_parameters: self.n_parameters() as u64,
        };
        encode(&header, &self.parameters())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, parameters) = decode(bytes)?;
        let precision = expect_kind_any_precision(&header, &parameters, "cv_surrogate")?;
        let config = decode_config(&header.architecture)?;
        let mut norms: Vec<Normalization> = decode_bincode(&header.normalization, "normalization")?;
        let bad = |e: NnError| NnError::CorruptFile {
            reason: format!("inconsistent architecture and parameters: {e}"),
        };
        config.validate().map_err(bad)?;
        if norms.len() != 1 {
            return Err(NnError::CorruptFile {
                reason: "a cv surrogate file needs one normalization".into(),
            });
        }
        let net = config
            .net_config()
            .with_parameters(&parameters, norms.remove(0))
            .and_then(|m| m.with_precision(precision))
            .map_err(bad)?;
        Ok(CvSurrogate { config, net })
    }
}

/// Decodes the architecture of a surrogate file: the current layout, which must use
/// every byte, or else the layout written before [`CvFeatures`] existed.
fn decode_config(bytes: &[u8]) -> Result<CvSurrogateConfig> {
    use bincode::Options;
    // bincode 1's `deserialize` uses fixed-width integers and allows trailing bytes;
    // the same encoding with trailing bytes rejected tells the two layouts apart.
    let strict = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes();
    if let Ok(config) = strict.deserialize::<CvSurrogateConfig>(bytes) {
        return Ok(config);
    }
    let legacy: LegacyConfig = strict
        .deserialize(bytes)
        .map_err(|e| NnError::CorruptFile {
            reason: format!("cannot decode the architecture: {e}"),
        })?;
    Ok(CvSurrogateConfig {
        name: legacy.name,
        atoms: legacy.atoms,
        outputs: legacy.outputs,
        hidden: legacy.hidden,
        activation: legacy.activation,
        periods: legacy.periods,
        features: CvFeatures::Displacements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pre-`features` layout, as an older build wrote it.
    #[derive(Serialize)]
    struct OldConfig {
        name: String,
        atoms: Vec<usize>,
        outputs: usize,
        hidden: Vec<usize>,
        activation: Activation,
        periods: Vec<Option<f64>>,
    }

    #[test]
    fn files_without_features_decode_as_displacements() {
        let cv = CvSurrogateConfig {
            hidden: vec![5],
            ..CvSurrogateConfig::new("old", vec![2, 0, 1], 1)
        }
        .build(3)
        .unwrap();
        let old = OldConfig {
            name: "old".into(),
            atoms: vec![2, 0, 1],
            outputs: 1,
            hidden: vec![5],
            activation: Activation::Silu,
            periods: Vec::new(),
        };
        let header = FileHeader {
            kind: "cv_surrogate".into(),
            architecture: bincode::serialize(&old).unwrap(),
            summary: "old".into(),
            dtype: Dtype::F64,
            normalization: encode_bincode(&vec![cv.network().normalization().clone()]).unwrap(),
            n_parameters: cv.n_parameters() as u64,
        };
        let bytes = encode(&header, &cv.parameters()).unwrap();
        assert_eq!(CvSurrogate::from_bytes(&bytes).unwrap(), cv);
        // And the current layout is not mistaken for the old one.
        let sorted = CvSurrogateConfig {
            hidden: vec![5],
            features: CvFeatures::SortedDistances { nearest: 2 },
            ..CvSurrogateConfig::new("new", vec![2, 0, 1], 1)
        }
        .build(3)
        .unwrap();
        let back = CvSurrogate::from_bytes(&sorted.to_bytes().unwrap()).unwrap();
        assert_eq!(back, sorted);
        assert_eq!(
            back.config().features,
            CvFeatures::SortedDistances { nearest: 2 }
        );
    }
}
