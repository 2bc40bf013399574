//! Neural-network surrogates of collective variables (after Pathirage et al., "Neural
//! network surrogates for free energy computation of complex chemical systems",
//! arXiv:2510.01396): a network from the coordinates of selected atoms to CV values,
//! whose Jacobian comes from autodiff.

use serde::{Deserialize, Serialize};
use thermograd_cv::{CollectiveVariable, CvValue};
use thermograd_geometry::{Mat3, SimBox, Vec3};

use crate::error::{check_len, config_error};
use crate::file::{decode, decode_bincode, encode, encode_bincode, expect_kind, Dtype, FileHeader};
use crate::{
    Activation, Matrix, Mlp, MlpConfig, ModelFile, NnError, Normalization, Result, Trainable,
};

/// The hidden widths used by Pathirage et al.
pub const DEFAULT_HIDDEN: [usize; 4] = [64, 128, 64, 32];

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
}

impl CvSurrogateConfig {
    /// A surrogate of `outputs` components over `atoms` with the default widths
    /// [64, 128, 64, 32] and SiLU activations.
    pub fn new(name: &str, atoms: Vec<usize>, outputs: usize) -> Self {
        CvSurrogateConfig {
            name: name.to_string(),
            atoms,
            outputs,
            hidden: DEFAULT_HIDDEN.to_vec(),
            activation: Activation::Silu,
            periods: Vec::new(),
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

    fn net_config(&self) -> MlpConfig {
        MlpConfig {
            inputs: 3 * (self.atoms.len().max(1) - 1),
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

/// A learned collective variable: an [`Mlp`] on periodic-boundary-aware features of
/// selected atoms.
///
/// Preprocessing: the features are the minimum-image displacements `d_k =
/// mic(r_k − r_ref)` of every listed atom from the first (reference) atom, exact in
/// orthorhombic and triclinic cells. They are unchanged by translations and by shifting
/// any atom by a lattice vector, so the surrogate is too. The Jacobian is
/// `∂ξ/∂r_k = ∂ξ/∂d_k` and `∂ξ/∂r_ref = −Σ_k ∂ξ/∂d_k`, from one backward pass; the
/// strain derivative is `Σ_k ∂ξ/∂d_k ⊗ d_k` (the same images). The box enters only
/// through the minimum image, so the surrogate suits CVs of atoms closer than half the
/// shortest lattice vector.
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

    /// The features of a configuration: `3 (n_atoms − 1)` minimum-image displacement
    /// components.
    pub fn features(&self, positions: &[Vec3], simbox: &SimBox) -> Result<Vec<f64>> {
        Ok(self
            .displacements(positions, simbox)?
            .iter()
            .flat_map(|d| [d.x, d.y, d.z])
            .collect())
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

    /// Sets the network's input normalization from the features of `samples`.
    pub fn fit_input_normalization(&mut self, samples: &[CvSample]) -> Result<()> {
        let x = self.feature_matrix(samples)?;
        let fitted = Normalization::from_inputs(&x, self.config.outputs);
        let mut n = self.net.normalization().clone();
        n.input_shift = fitted.input_shift;
        n.input_scale = fitted.input_scale;
        self.net.set_normalization(n)
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

    /// Loss on a batch and its exact parameter gradient. Gradient matching uses
    /// forward-mode tangents (one row per sample and component), so the whole gradient
    /// takes one backward pass.
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
        let x = self.feature_matrix(samples)?;
        let with_grads = gradient_weight != 0.0;
        let n = samples.len() as f64;
        let mut v_sq = 0.0;
        let mut g_sq = 0.0;
        let y = self.net.forward(&x)?;
        // Rows: every sample replicated once per component when matching gradients.
        let reps = if with_grads { m } else { 1 };
        let mut xr = Matrix::zeros(samples.len() * reps, k);
        let mut cot_y = Matrix::zeros(samples.len() * reps, m);
        let mut t = Matrix::zeros(samples.len() * reps, k);
        let mut cot_t = Matrix::zeros(samples.len() * reps, m);
        for (s, sample) in samples.iter().enumerate() {
            check_len("reference values", m, sample.values.len())?;
            for c in 0..m {
                let r = y.get(s, c) - sample.values[c];
                v_sq += r * r;
                cot_y.row_mut(s * reps)[c] = 2.0 * value_weight * r / (n * m as f64);
            }
            for rep in 0..reps {
                xr.row_mut(s * reps + rep).copy_from_slice(x.row(s));
            }
            if with_grads {
                check_len("reference gradients", m * na, sample.gradients.len())?;
                let (_, jac) = self.net.jacobian(x.row(s))?;
                let scale = 2.0 * gradient_weight / (n * (m * na * 3) as f64);
                for c in 0..m {
                    // Residual per atom: predicted minus reference gradient.
                    let pred = |a: usize| -> Vec3 {
                        if a == 0 {
                            -(0..na - 1).fold(Vec3::zeros(), |acc, q| {
                                acc + Vec3::new(
                                    jac.get(c, 3 * q),
                                    jac.get(c, 3 * q + 1),
                                    jac.get(c, 3 * q + 2),
                                )
                            })
                        } else {
                            let q = a - 1;
                            Vec3::new(
                                jac.get(c, 3 * q),
                                jac.get(c, 3 * q + 1),
                                jac.get(c, 3 * q + 2),
                            )
                        }
                    };
                    let res: Vec<Vec3> = (0..na)
                        .map(|a| pred(a) - sample.gradients[c * na + a])
                        .collect();
                    g_sq += res.iter().map(|r| r.norm_squared()).sum::<f64>();
                    // Σ_a R_a·∂ξ/∂r_a = Σ_{q} (R_q − R_ref)·∂ξ/∂d_q: a tangent in features.
                    let row = t.row_mut(s * reps + c);
                    for q in 0..na - 1 {
                        let d = res[q + 1] - res[0];
                        row[3 * q..3 * q + 3].copy_from_slice(&[d.x, d.y, d.z]);
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
        let d = self
            .displacements(positions, simbox)
            .map_err(NnError::into_cv)?;
        let x: Vec<f64> = d.iter().flat_map(|v| [v.x, v.y, v.z]).collect();
        let (values, jac) = self.net.jacobian(&x).map_err(NnError::into_cv)?;
        let m = self.config.outputs;
        let na = self.config.atoms.len();
        out.reset(m, &self.config.atoms);
        out.values.copy_from_slice(&values);
        for c in 0..m {
            let mut sum = Vec3::zeros();
            let mut strain = Mat3::zeros();
            for (q, dq) in d.iter().enumerate() {
                let g = Vec3::new(
                    jac.get(c, 3 * q),
                    jac.get(c, 3 * q + 1),
                    jac.get(c, 3 * q + 2),
                );
                out.gradients[c * na + q + 1] = g;
                sum += g;
                strain += g * dq.transpose();
            }
            out.gradients[c * na] = -sum;
            out.strain[c] = strain;
        }
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
                "{} over {} atoms, {}",
                self.config.name,
                self.config.atoms.len(),
                self.net.config().summary()
            ),
            dtype: Dtype::F64,
            normalization: encode_bincode(&vec![self.net.normalization().clone()])?,
            n_parameters: self.n_parameters() as u64,
        };
        encode(&header, &self.parameters())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, parameters) = decode(bytes)?;
        expect_kind(&header, "cv_surrogate")?;
        let config: CvSurrogateConfig = decode_bincode(&header.architecture, "architecture")?;
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
            .map_err(bad)?;
        Ok(CvSurrogate { config, net })
    }
}
