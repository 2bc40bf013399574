//! Runtime-shaped multilayer perceptrons and their three evaluation modes.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::engine::{Dev, DevNet};
use crate::error::{check_len, config_error};
use crate::file::Dtype;
use crate::{Device, NnError, Result};

/// Elementwise nonlinearity of the hidden layers (the output layer is linear).
///
/// Forces and Jacobians are derivatives of the network, so the activation decides how
/// smooth they are. `Tanh`, `Silu`, `Softplus` and `ShiftedSoftplus` are infinitely
/// differentiable. **`Relu` has a kink at 0: energies built on it have forces that jump
/// discontinuously, which heats up and destabilises MD and makes force matching
/// ill-posed; use it only for CV surrogates (as Pathirage et al. 2025 did) or other
/// places where only first derivatives at sampled points matter.**
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// tanh(z).
    Tanh,
    /// SiLU (swish), z·sigmoid(z).
    Silu,
    /// ln(1 + eᶻ).
    Softplus,
    /// ln(1 + eᶻ) − ln 2 (SchNet's choice: zero at z = 0).
    ShiftedSoftplus,
    /// max(0, z); see the warning on [`Activation`].
    Relu,
}

impl Activation {
    /// Whether forces derived through this activation are continuous.
    pub fn is_smooth(self) -> bool {
        self != Activation::Relu
    }

    /// σ(z) in plain `f64` (for reference checks).
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => z.tanh(),
            Activation::Silu => z / (1.0 + (-z).exp()),
            Activation::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
            Activation::ShiftedSoftplus => {
                z.max(0.0) + (-z.abs()).exp().ln_1p() - std::f64::consts::LN_2
            }
            Activation::Relu => z.max(0.0),
        }
    }
}

/// Architecture of an [`Mlp`]: `inputs → hidden[0] → … → outputs`, hidden layers
/// followed by `activation`, a linear output layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input width.
    pub inputs: usize,
    /// Widths of the hidden layers (may be empty: a linear model).
    pub hidden: Vec<usize>,
    /// Output width.
    pub outputs: usize,
    /// Hidden-layer activation.
    pub activation: Activation,
}

impl MlpConfig {
    /// Checks the widths.
    pub fn validate(&self) -> Result<()> {
        if self.inputs == 0 || self.outputs == 0 || self.hidden.contains(&0) {
            return Err(config_error(
                "mlp widths",
                "every layer needs at least one unit",
            ));
        }
        Ok(())
    }

    /// Layer shapes `(inputs, outputs)` in order.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.outputs);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Number of parameters (weights and biases).
    pub fn n_parameters(&self) -> usize {
        self.layer_shapes().iter().map(|(i, o)| i * o + o).sum()
    }

    /// A network with seeded random weights (LeCun normal, `N(0, 1/fan_in)`; He normal
    /// for ReLU) and zero biases on `Device::Cpu`. The same seed gives the same network
    /// on every machine (ChaCha8).
    pub fn build(&self, seed: u64) -> Result<Mlp> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gain = if self.activation == Activation::Relu {
            2.0
        } else {
            1.0
        };
        let layers = self
            .layer_shapes()
            .into_iter()
            .map(|(i, o)| {
                let normal = Normal::new(0.0, (gain / i as f64).sqrt()).expect("finite std");
                DenseLayer {
                    inputs: i,
                    outputs: o,
                    weights: (0..i * o).map(|_| normal.sample(&mut rng)).collect(),
                    biases: vec![0.0; o],
                }
            })
            .collect();
        Mlp::from_layers(
            self.clone(),
            layers,
            Normalization::identity(self.inputs, self.outputs),
            Device::Cpu,
        )
    }
}

/// One dense layer `z = x W + b`; `weights[i * outputs + o]` connects input `i` to
/// output `o` (row-major `inputs × outputs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Weights, row-major `inputs × outputs`.
    pub weights: Vec<f64>,
    /// Biases, one per output.
    pub biases: Vec<f64>,
}

/// Affine scaling of inputs and outputs, part of the model (and of its file):
/// the network sees `(x − input_shift) / input_scale` and the model returns
/// `output_scale ∘ y + output_shift`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Subtracted from each input.
    pub input_shift: Vec<f64>,
    /// Each input is divided by this (positive).
    pub input_scale: Vec<f64>,
    /// Added to each output.
    pub output_shift: Vec<f64>,
    /// Each output is multiplied by this.
    pub output_scale: Vec<f64>,
}

impl Normalization {
    /// No scaling.
    pub fn identity(inputs: usize, outputs: usize) -> Self {
        Normalization {
            input_shift: vec![0.0; inputs],
            input_scale: vec![1.0; inputs],
            output_shift: vec![0.0; outputs],
            output_scale: vec![1.0; outputs],
        }
    }

    /// Input shift and scale from the mean and standard deviation of each column of
    /// `x` (a column with zero spread gets scale 1); outputs unscaled.
    pub fn from_inputs(x: &Matrix, outputs: usize) -> Self {
        let mut n = Normalization::identity(x.cols, outputs);
        if x.rows == 0 {
            return n;
        }
        for c in 0..x.cols {
            let mean = (0..x.rows).map(|r| x.get(r, c)).sum::<f64>() / x.rows as f64;
            let var = (0..x.rows)
                .map(|r| (x.get(r, c) - mean).powi(2))
                .sum::<f64>()
                / x.rows as f64;
            n.input_shift[c] = mean;
            n.input_scale[c] = if var > 1e-24 { var.sqrt() } else { 1.0 };
        }
        n
    }

    fn validate(&self, inputs: usize, outputs: usize) -> Result<()> {
        check_len("normalization input shift", inputs, self.input_shift.len())?;
        check_len("normalization input scale", inputs, self.input_scale.len())?;
        check_len(
            "normalization output shift",
            outputs,
            self.output_shift.len(),
        )?;
        check_len(
            "normalization output scale",
            outputs,
            self.output_scale.len(),
        )?;
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.input_shift)
            && finite(&self.output_shift)
            && finite(&self.output_scale)
            && self.input_scale.iter().all(|&s| s.is_finite() && s > 0.0))
        {
            return Err(config_error(
                "normalization",
                "shifts and scales must be finite and input scales positive",
            ));
        }
        Ok(())
    }
}

/// A dense row-major matrix of `f64`: a batch of `rows` inputs (or outputs) of width
/// `cols`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row-major entries, `rows * cols` of them.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A matrix from row-major data; the length must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        check_len("matrix entries", rows * cols, data.len())?;
        Ok(Matrix { rows, cols, data })
    }

    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Entry `(r, c)`.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Row `r`, mutable.
    pub fn row_mut(&mut self, r: usize) -> &mut [f64] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Results of [`Mlp::param_vjp`].
#[derive(Clone, Debug, PartialEq)]
pub struct ParamVjp {
    /// Outputs, `rows × outputs`.
    pub y: Matrix,
    /// Output tangents `(∂y/∂x)·t` if a tangent was given.
    pub ty: Option<Matrix>,
    /// Gradient of `Σ cot_y ∘ y + Σ cot_ty ∘ ty` with respect to the parameters, in the
    /// layout of [`Trainable::parameters`](crate::Trainable::parameters).
    pub gradient: Vec<f64>,
}

/// A multilayer perceptron whose widths and depth are chosen at run time, evaluated
/// as taped dfdx ops in `f64` (the default) or `f32` ([`Mlp::with_precision`]).
///
/// Three modes:
/// - [`Mlp::forward`]: plain evaluation;
/// - [`Mlp::input_vjp`] / [`Mlp::jacobian`]: derivatives with respect to the inputs
///   (forces, CV Jacobians) by one backward pass from a traced input;
/// - [`Mlp::tangent`] / [`Mlp::param_vjp`] with a tangent: forward-mode tangents
///   `t ← W t`, `t ← σ'(z) ⊙ t` carried as ordinary taped ops, so that one backward
///   pass gives `∂/∂θ` of a directional derivative — the exact force-matching
///   gradient, without the double backward dfdx lacks.
///
/// Precision: the host side (inputs, outputs, normalization, the parameter vector)
/// is always `f64`. An `f32` network holds parameters that are `f32` values (they are
/// rounded when set), computes in `f32`, and widens its results to `f64`; its file
/// stores the same values, so it round-trips bit for bit.
#[derive(Clone, Debug)]
pub struct Mlp {
    config: MlpConfig,
    layers: Vec<DenseLayer>,
    normalization: Normalization,
    device: Device,
    dev: Dev,
    net: DevNet,
}

impl PartialEq for Mlp {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.layers == other.layers
            && self.normalization == other.normalization
            && self.precision() == other.precision()
    }
}

impl Mlp {
    /// A network from explicit layers (checked against `config`).
    pub fn from_layers(
        config: MlpConfig,
        layers: Vec<DenseLayer>,
        normalization: Normalization,
        device: Device,
    ) -> Result<Self> {
        config.validate()?;
        let shapes = config.layer_shapes();
        check_len("number of layers", shapes.len(), layers.len())?;
        for (l, &(i, o)) in layers.iter().zip(&shapes) {
            check_len("layer inputs", i, l.inputs)?;
            check_len("layer outputs", o, l.outputs)?;
            check_len("layer weights", i * o, l.weights.len())?;
            check_len("layer biases", o, l.biases.len())?;
            if !l.weights.iter().chain(&l.biases).all(|v| v.is_finite()) {
                return Err(NnError::NonFinite { what: "parameter" });
            }
        }
        normalization.validate(config.inputs, config.outputs)?;
        let dev = device.dfdx()?;
        let net = build_net(&dev, &layers, config.activation, Dtype::F64)?;
        Ok(Mlp {
            config,
            layers,
            normalization,
            device,
            dev,
            net,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The layers (host copy of the parameters).
    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    /// The input/output normalization.
    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }

    /// Replaces the normalization.
    pub fn set_normalization(&mut self, n: Normalization) -> Result<()> {
        n.validate(self.config.inputs, self.config.outputs)?;
        self.normalization = n;
        Ok(())
    }

    /// The device the network runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The precision the network computes in ([`Dtype::F64`] unless changed by
    /// [`Mlp::with_precision`]).
    pub fn precision(&self) -> Dtype {
        self.net.precision()
    }

    /// The same network computing in `precision`. Going to [`Dtype::F32`] rounds every
    /// parameter to the nearest `f32` value (an error if one is beyond the `f32`
    /// range); going back to `f64` keeps the rounded values. Later
    /// [`Trainable::set_parameters`] calls round too, so an optimizer step smaller
    /// than half an `f32` spacing of a parameter leaves it unchanged.
    ///
    /// ```
    /// use thermograd_nn::{Activation, Dtype, Matrix, MlpConfig};
    ///
    /// let config = MlpConfig { inputs: 2, hidden: vec![8], outputs: 1, activation: Activation::Tanh };
    /// let f64_net = config.build(3)?;
    /// let f32_net = f64_net.clone().with_precision(Dtype::F32)?;
    /// let x = Matrix::new(1, 2, vec![0.3, -0.1])?;
    /// let (a, b) = (f64_net.forward(&x)?.data[0], f32_net.forward(&x)?.data[0]);
    /// assert!((a - b).abs() < 1e-5 * (1.0 + a.abs()));
    /// # Ok::<(), thermograd_nn::NnError>(())
    /// ```
    pub fn with_precision(mut self, precision: Dtype) -> Result<Mlp> {
        round_layers(&mut self.layers, precision)?;
        self.net = build_net(&self.dev, &self.layers, self.config.activation, precision)?;
        Ok(self)
    }

    fn check_input(&self, what: &'static str, x: &Matrix) -> Result<()> {
        check_len(what, self.config.inputs, x.cols)?;
        check_len("matrix entries", x.rows * x.cols, x.data.len())?;
        if !x.data.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite {
                what: "network input",
            });
        }
        Ok(())
    }

    fn check_output(&self, what: &'static str, rows: usize, m: &Matrix) -> Result<()> {
        check_len(what, rows * self.config.outputs, m.data.len())?;
        check_len(what, self.config.outputs, m.cols)
    }

    fn normalize_x(&self, x: &Matrix) -> Vec<f64> {
        let n = &self.normalization;
        let mut out = x.data.clone();
        for row in out.chunks_mut(x.cols.max(1)) {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (*v - n.input_shift[c]) / n.input_scale[c];
            }
        }
        out
    }

    fn normalize_t(&self, t: &Matrix) -> Vec<f64> {
        let n = &self.normalization;
        let mut out = t.data.clone();
        for row in out.chunks_mut(t.cols.max(1)) {
            for (c, v) in row.iter_mut().enumerate() {
                *v /= n.input_scale[c];
            }
        }
        out
    }

    fn scale_out(&self, mut y: Vec<f64>, shift: bool) -> Matrix {
        let n = &self.normalization;
        let m = self.config.outputs;
        for row in y.chunks_mut(m) {
            for (c, v) in row.iter_mut().enumerate() {
                *v = *v * n.output_scale[c] + if shift { n.output_shift[c] } else { 0.0 };
            }
        }
        Matrix {
            rows: y.len() / m,
            cols: m,
            data: y,
        }
    }

    fn scale_cot(&self, cot: &Matrix) -> Vec<f64> {
        let s = &self.normalization.output_scale;
        let mut out = cot.data.clone();
        for row in out.chunks_mut(self.config.outputs) {
            for (c, v) in row.iter_mut().enumerate() {
                *v *= s[c];
            }
        }
        out
    }

    fn unscale_x_grad(&self, mut g: Vec<f64>) -> Matrix {
        let s = &self.normalization.input_scale;
        let k = self.config.inputs;
        for row in g.chunks_mut(k) {
            for (c, v) in row.iter_mut().enumerate() {
                *v /= s[c];
            }
        }
        Matrix {
            rows: g.len() / k,
            cols: k,
            data: g,
        }
    }

    /// Outputs for a batch of inputs (`rows × inputs` → `rows × outputs`).
    pub fn forward(&self, x: &Matrix) -> Result<Matrix> {
        self.check_input("network inputs", x)?;
        if x.rows == 0 {
            return Ok(Matrix::zeros(0, self.config.outputs));
        }
        let y = self.net.forward(&self.normalize_x(x), x.rows, x.cols)?;
        Ok(self.scale_out(y, true))
    }

    /// Outputs `y` and the input gradient `∂(Σ cot ∘ y)/∂x` (a vector–Jacobian product
    /// per row; `cot` is `rows × outputs`), by one backward pass.
    pub fn input_vjp(&self, x: &Matrix, cot: &Matrix) -> Result<(Matrix, Matrix)> {
        self.check_input("network inputs", x)?;
        self.check_output("cotangent", x.rows, cot)?;
        if x.rows == 0 {
            return Ok((
                Matrix::zeros(0, self.config.outputs),
                Matrix::zeros(0, self.config.inputs),
            ));
        }
        let out = self.net.vjp(
            &self.normalize_x(x),
            x.rows,
            x.cols,
            &self.scale_cot(cot),
            false,
        )?;
        Ok((
            self.scale_out(out.y, true),
            self.unscale_x_grad(out.x_grad.expect("requested")),
        ))
    }

    /// Outputs and the full Jacobian `∂y/∂x` (`outputs × inputs`) at one input, from
    /// one backward pass over the input replicated once per output.
    pub fn jacobian(&self, x: &[f64]) -> Result<(Vec<f64>, Matrix)> {
        let m = self.config.outputs;
        let k = self.config.inputs;
        check_len("network input", k, x.len())?;
        let mut rep = Vec::with_capacity(m * k);
        for _ in 0..m {
            rep.extend_from_slice(x);
        }
        let mut cot = Matrix::zeros(m, m);
        for c in 0..m {
            cot.data[c * m + c] = 1.0;
        }
        let (y, g) = self.input_vjp(&Matrix::new(m, k, rep)?, &cot)?;
        Ok((y.row(0).to_vec(), g))
    }

    /// Forward-mode tangents: outputs `y` and `ty = (∂y/∂x)·t` per row (`t` has the
    /// shape of `x`).
    pub fn tangent(&self, x: &Matrix, t: &Matrix) -> Result<(Matrix, Matrix)> {
        self.check_input("network inputs", x)?;
        self.check_input("tangents", t)?;
        check_len("tangent rows", x.rows, t.rows)?;
        if x.rows == 0 {
            let z = Matrix::zeros(0, self.config.outputs);
            return Ok((z.clone(), z));
        }
        let out = self.net.tangent(
            &self.normalize_x(x),
            &self.normalize_t(t),
            x.rows,
            x.cols,
            None,
            None,
        )?;
        Ok((
            self.scale_out(out.y, true),
            self.scale_out(out.ty.expect("tangent mode"), false),
        ))
    }

    /// Gradient with respect to the parameters of `Σ cot_y ∘ y` plus, when `tangent =
    /// Some((t, cot_ty))`, `Σ cot_ty ∘ ty` with `ty = (∂y/∂x)·t` — by one backward pass
    /// through the taped tangent propagation. With `t` the descriptor Jacobian applied
    /// to a force residual this is the exact force-matching gradient.
    pub fn param_vjp(
        &self,
        x: &Matrix,
        cot_y: &Matrix,
        tangent: Option<(&Matrix, &Matrix)>,
    ) -> Result<ParamVjp> {
        self.check_input("network inputs", x)?;
        self.check_output("cotangent", x.rows, cot_y)?;
        if x.rows == 0 {
            return Ok(ParamVjp {
                y: Matrix::zeros(0, self.config.outputs),
                ty: tangent.map(|_| Matrix::zeros(0, self.config.outputs)),
                gradient: vec![0.0; self.n_parameters()],
            });
        }
        let xn = self.normalize_x(x);
        let cy = self.scale_cot(cot_y);
        match tangent {
            None => {
                let out = self.net.vjp(&xn, x.rows, x.cols, &cy, true)?;
                Ok(ParamVjp {
                    y: self.scale_out(out.y, true),
                    ty: None,
                    gradient: out.param_grad,
                })
            }
            Some((t, cot_ty)) => {
                self.check_input("tangents", t)?;
                check_len("tangent rows", x.rows, t.rows)?;
                self.check_output("tangent cotangent", x.rows, cot_ty)?;
                let out = self.net.tangent(
                    &xn,
                    &self.normalize_t(t),
                    x.rows,
                    x.cols,
                    Some(&cy),
                    Some(&self.scale_cot(cot_ty)),
                )?;
                Ok(ParamVjp {
                    y: self.scale_out(out.y, true),
                    ty: Some(self.scale_out(out.ty.expect("tangent mode"), false)),
                    gradient: out.param_grad,
                })
            }
        }
    }

    pub(crate) fn dev_net(&self) -> &DevNet {
        &self.net
    }

    pub(crate) fn dfdx_device(&self) -> &Dev {
        &self.dev
    }

    /// Inputs as the network sees them (after normalization), for the batched paths.
    pub(crate) fn normalized_inputs(&self, x: &Matrix) -> Vec<f64> {
        self.normalize_x(x)
    }

    /// Applies the output scale to a per-row scalar output of a single-output network
    /// (the atomic energy) and returns `(scale, shift)`.
    pub(crate) fn scalar_output_affine(&self) -> (f64, f64) {
        (
            self.normalization.output_scale[0],
            self.normalization.output_shift[0],
        )
    }
}

fn build_net(
    dev: &Dev,
    layers: &[DenseLayer],
    activation: Activation,
    precision: Dtype,
) -> Result<DevNet> {
    let spec: Vec<_> = layers
        .iter()
        .map(|l| (l.inputs, l.outputs, &l.weights[..], &l.biases[..]))
        .collect();
    DevNet::new(dev, &spec, activation, precision)
}

/// Rounds the host parameters to `precision`, so that they are exactly what the
/// network computes with (and what its file stores).
fn round_layers(layers: &mut [DenseLayer], precision: Dtype) -> Result<()> {
    if precision == Dtype::F64 {
        return Ok(());
    }
    for l in layers {
        for v in l.weights.iter_mut().chain(&mut l.biases) {
            *v = precision.round(*v);
            if !v.is_finite() {
                return Err(NnError::NonFinite {
                    what: "parameter rounded to the network's precision",
                });
            }
        }
    }
    Ok(())
}

/// Something with a flat vector of trainable parameters (the layout optimizers and
/// parameter gradients use).
///
/// A tiny implementation, a line `y = a x + b`, trained by [`crate::Adam`]:
///
/// ```
/// use thermograd_nn::{Adam, AdamConfig, Result, Trainable};
///
/// struct Line { a: f64, b: f64 }
///
/// impl Trainable for Line {
///     fn n_parameters(&self) -> usize { 2 }
///     fn parameters(&self) -> Vec<f64> { vec![self.a, self.b] }
///     fn set_parameters(&mut self, p: &[f64]) -> Result<()> {
///         self.a = p[0];
///         self.b = p[1];
///         Ok(())
///     }
/// }
///
/// let mut line = Line { a: 0.0, b: 0.0 };
/// let mut adam = Adam::new(AdamConfig { learning_rate: 0.05, ..Default::default() }, 2)?;
/// for _ in 0..2000 {
///     // Loss (a·1 + b − 3)² + (a·2 + b − 5)², minimum at a = 2, b = 1.
///     let (r1, r2) = (line.a + line.b - 3.0, 2.0 * line.a + line.b - 5.0);
///     let gradient = [2.0 * r1 + 4.0 * r2, 2.0 * r1 + 2.0 * r2];
///     let mut p = line.parameters();
///     adam.step(&mut p, &gradient)?;
///     line.set_parameters(&p)?;
/// }
/// assert!((line.a - 2.0).abs() < 1e-3 && (line.b - 1.0).abs() < 1e-3);
/// # Ok::<(), thermograd_nn::NnError>(())
/// ```
pub trait Trainable {
    /// Number of parameters.
    fn n_parameters(&self) -> usize;
    /// A copy of all parameters, flat.
    fn parameters(&self) -> Vec<f64>;
    /// Replaces all parameters; the length must be [`Trainable::n_parameters`] and
    /// every value finite.
    fn set_parameters(&mut self, parameters: &[f64]) -> Result<()>;
}

impl Trainable for Mlp {
    fn n_parameters(&self) -> usize {
        self.config.n_parameters()
    }

    fn parameters(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.n_parameters());
        for l in &self.layers {
            out.extend_from_slice(&l.weights);
            out.extend_from_slice(&l.biases);
        }
        out
    }

    fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        check_len("parameters", self.n_parameters(), parameters.len())?;
        if !parameters.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite { what: "parameter" });
        }
        let precision = self.precision();
        // Checked before anything changes: a value beyond the f32 range must leave the
        // network as it was.
        if !parameters.iter().all(|&v| precision.round(v).is_finite()) {
            return Err(NnError::NonFinite {
                what: "parameter rounded to the network's precision",
            });
        }
        let mut at = 0;
        for l in &mut self.layers {
            let nw = l.weights.len();
            l.weights.copy_from_slice(&parameters[at..at + nw]);
            at += nw;
            let nb = l.biases.len();
            l.biases.copy_from_slice(&parameters[at..at + nb]);
            at += nb;
        }
        round_layers(&mut self.layers, precision)?;
        self.net = build_net(&self.dev, &self.layers, self.config.activation, precision)?;
        Ok(())
    }
}

impl MlpConfig {
    /// A one-line description, e.g. `12→32→32→1 tanh`.
    pub fn summary(&self) -> String {
        let mut widths = vec![self.inputs.to_string()];
        widths.extend(self.hidden.iter().map(|w| w.to_string()));
        widths.push(self.outputs.to_string());
        format!("{} {:?}", widths.join("→"), self.activation).to_lowercase()
    }

    /// [`MlpConfig::n_parameters`] without overflow (`None` if it overflows).
    pub(crate) fn checked_n_parameters(&self) -> Option<usize> {
        self.layer_shapes().iter().try_fold(0usize, |acc, &(i, o)| {
            i.checked_mul(o)?.checked_add(o)?.checked_add(acc)
        })
    }

    /// Builds a network from a flat parameter vector and a normalization.
    pub(crate) fn with_parameters(
        &self,
        parameters: &[f64],
        normalization: Normalization,
    ) -> Result<Mlp> {
        self.validate()?;
        match self.checked_n_parameters() {
            Some(n) if n == parameters.len() => {}
            _ => {
                return Err(NnError::Mismatch {
                    what: "parameters for this architecture",
                    expected: self.checked_n_parameters().unwrap_or(usize::MAX),
                    got: parameters.len(),
                })
            }
        }
        let mut at = 0;
        let layers = self
            .layer_shapes()
            .into_iter()
            .map(|(i, o)| {
                let weights = parameters[at..at + i * o].to_vec();
                at += i * o;
                let biases = parameters[at..at + o].to_vec();
                at += o;
                DenseLayer {
                    inputs: i,
                    outputs: o,
                    weights,
                    biases,
                }
            })
            .collect();
        Mlp::from_layers(self.clone(), layers, normalization, Device::Cpu)
    }
}

impl crate::ModelFile for Mlp {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        use crate::file::{encode, encode_bincode, FileHeader};
        let header = FileHeader {
            kind: "mlp".into(),
            architecture: encode_bincode(&self.config)?,
            summary: self.config.summary(),
            dtype: self.precision(),
            normalization: encode_bincode(&vec![self.normalization.clone()])?,
            n_parameters: self.n_parameters() as u64,
        };
        encode(&header, &self.parameters())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        use crate::file::{decode, decode_bincode, expect_kind_any_precision};
        let (header, parameters) = decode(bytes)?;
        let precision = expect_kind_any_precision(&header, &parameters, "mlp")?;
        let config: MlpConfig = decode_bincode(&header.architecture, "architecture")?;
        let mut norms: Vec<Normalization> = decode_bincode(&header.normalization, "normalization")?;
        if norms.len() != 1 {
            return Err(NnError::CorruptFile {
                reason: format!("an mlp file needs 1 normalization, found {}", norms.len()),
            });
        }
        config
            .with_parameters(&parameters, norms.remove(0))
            .and_then(|m| m.with_precision(precision))
            .map_err(|e| NnError::CorruptFile {
                reason: format!("inconsistent architecture and parameters: {e}"),
            })
    }
}

impl Mlp {
    /// Loads an `f64` network and checks that it has the architecture `expected`
    /// ([`NnError::WrongDtype`] for a file of another precision,
    /// [`NnError::WrongArchitecture`] for another architecture, each inside an
    /// [`NnError::File`] naming `path`).
    pub fn load_expecting(path: &std::path::Path, expected: &MlpConfig) -> Result<Self> {
        Self::load_expecting_precision(path, expected, Dtype::F64)
    }

    /// [`Mlp::load_expecting`] for a network of precision `precision`.
    pub fn load_expecting_precision(
        path: &std::path::Path,
        expected: &MlpConfig,
        precision: Dtype,
    ) -> Result<Self> {
        let m: Mlp = crate::file::load_with_precision(path, precision)?;
        if m.config != *expected {
            return Err(NnError::WrongArchitecture {
                expected: expected.summary(),
                found: m.config.summary(),
            }
            .in_file(path));
        }
        Ok(m)
    }
}
