// The dense-network engine, written once in terms of the element type `E` and
// `include!`d by `engine.rs` into one module per precision (`dense64`: `E = f64`,
// `dense32`: `E = f32`). Host buffers stay `f64`: inputs are rounded to `E` on the
// way in and results widened to `f64` on the way out, so the rest of the crate does
// not see the precision. This file is not a module of its own (no inner docs).

use std::cell::RefCell;
use std::sync::Arc;

use dfdx::shapes::{Axis, HasShape, Rank0};
use dfdx::tensor::{
    Gradients, Merge, NoneTape, OwnedTape, PutTape, SplitTape, Tape, Tensor, TensorFromVec, Trace,
    WithEmptyTape, ZerosTensor,
};
use dfdx::tensor_ops::{Backward, BroadcastTo, ReshapeTo, SumTo, TryAdd, TryMatMul, TryMul};

use super::{Dev, TapeOutput};
use crate::mlp::Activation;
use crate::Result;

pub(crate) type T2<T = NoneTape> = Tensor<(usize, usize), E, Dev, T>;
pub(crate) type T1<T = NoneTape> = Tensor<(usize,), E, Dev, T>;
pub(crate) type Tp = OwnedTape<E, Dev>;

thread_local! {
    /// Host buffers kept from pass to pass by [`with_host_copy`] and [`tensor_from_host`].
    static HOST_BUFFERS: RefCell<Vec<Vec<E>>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with a host buffer of `len` zeros taken from a per-thread pool (and returns
/// it there). A pass moves many pairs × features arrays between host and device; fresh
/// `Vec`s of tens of megabytes come as fresh pages from the OS every pass, and faulting
/// them in cost as much as the arithmetic.
pub(crate) fn with_host_buffer<R>(len: usize, f: impl FnOnce(&mut [E]) -> R) -> R {
    let mut buf = HOST_BUFFERS
        .with(|pool| pool.borrow_mut().pop())
        .unwrap_or_default();
    buf.clear();
    buf.resize(len, 0.0 as E);
    let out = f(&mut buf);
    HOST_BUFFERS.with(|pool| pool.borrow_mut().push(buf));
    out
}

/// Calls `f` with a host copy of `t`'s data (a pooled buffer instead of `as_vec`).
pub(crate) fn with_host_copy<S: dfdx::shapes::Shape, R>(
    t: &Tensor<S, E, Dev>,
    f: impl FnOnce(&[E]) -> R,
) -> R {
    with_host_buffer(t.shape().num_elements(), |buf| {
        t.copy_into(buf);
        f(buf)
    })
}

/// A device tensor of `shape` filled on the host by `fill` (which gets zeros), through
/// a pooled buffer and dfdx's allocation cache rather than a fresh `Vec`.
pub(crate) fn tensor_from_host<S: dfdx::shapes::Shape>(
    dev: &Dev,
    shape: S,
    fill: impl FnOnce(&mut [E]),
) -> Result<Tensor<S, E, Dev>> {
    let mut out = dev.try_zeros_like(&shape)?;
    with_host_buffer(shape.num_elements(), |buf| {
        fill(buf);
        out.copy_from(buf);
    });
    Ok(out)
}

/// Host values rounded to the engine's precision.
fn to_dev(v: &[f64]) -> Vec<E> {
    v.iter().map(|&x| x as E).collect()
}

/// Engine values widened to host `f64` (exact).
fn to_host(v: Vec<E>) -> Vec<f64> {
    v.into_iter().map(|x| x as f64).collect()
}

/// One dense layer `z = x W + b` on the device: `w` is `inputs × outputs` (row-major).
#[derive(Clone, Debug)]
pub(crate) struct DevLayer {
    pub(crate) w: T2,
    pub(crate) b: T1,
}

impl DevLayer {
    /// A layer from host row-major weights (`inputs × outputs`) and biases, rounded to
    /// the engine's precision.
    pub(crate) fn new(
        dev: &Dev,
        inputs: usize,
        outputs: usize,
        w: &[f64],
        b: &[f64],
    ) -> Result<Self> {
        Ok(DevLayer {
            w: dev.try_tensor_from_vec(to_dev(w), (inputs, outputs))?,
            b: dev.try_tensor_from_vec(to_dev(b), (outputs,))?,
        })
    }
}

/// A network on the device, built from host parameters for one evaluation.
#[derive(Clone, Debug)]
pub(crate) struct DevNet {
    dev: Dev,
    layers: Vec<DevLayer>,
    activation: Activation,
}

impl DevNet {
    /// `layers` holds `(inputs, outputs, weights, biases)` per layer.
    pub(crate) fn new(
        dev: &Dev,
        layers: &[(usize, usize, &[f64], &[f64])],
        activation: Activation,
    ) -> Result<Self> {
        let mut out = Vec::with_capacity(layers.len());
        for &(i, o, w, b) in layers {
            out.push(DevLayer::new(dev, i, o, w, b)?);
        }
        Ok(DevNet {
            dev: dev.clone(),
            layers: out,
            activation,
        })
    }

    fn input(&self, x: &[f64], rows: usize, cols: usize) -> Result<T2> {
        Ok(self.dev.try_tensor_from_vec(to_dev(x), (rows, cols))?)
    }

    /// Plain forward pass (no tape).
    pub(crate) fn forward(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
        let mut h = self.input(x, rows, cols)?;
        let n = self.layers.len();
        for (k, layer) in self.layers.iter().enumerate() {
            let z = affine(h, layer)?;
            h = if k + 1 == n {
                z
            } else {
                activate(z, self.activation)?
            };
        }
        Ok(to_host(h.as_vec()))
    }

    /// Gradient of `Σ cot ∘ y` with respect to the input (and, if `params`, the
    /// parameters) by one backward pass; the input is traced with `leaky_trace`.
    pub(crate) fn vjp(
        &self,
        x: &[f64],
        rows: usize,
        cols: usize,
        cot: &[f64],
        params: bool,
    ) -> Result<TapeOutput> {
        let x = self.input(x, rows, cols)?;
        let mut h: T2<Tp> = x.leaky_trace();
        let n = self.layers.len();
        for (k, layer) in self.layers.iter().enumerate() {
            let z = affine(h, layer)?;
            h = if k + 1 == n {
                z
            } else {
                activate(z, self.activation)?
            };
        }
        let y = to_host(h.retaped::<NoneTape>().as_vec());
        let (r, c) = *h.shape();
        let cot = self.dev.try_tensor_from_vec(to_dev(cot), (r, c))?;
        let loss = h.try_mul(cot)?.try_sum::<Rank0, _>()?;
        let grads = loss.try_backward()?;
        Ok(TapeOutput {
            y,
            x_grad: Some(to_host(grads.get(&x).as_vec())),
            param_grad: if params {
                self.param_grad(&grads)
            } else {
                Vec::new()
            },
            ..Default::default()
        })
    }

    /// Forward-mode tangents as taped ops: propagates `t` (same shape as `x`) through
    /// the network alongside `x` (`t ← W t`, `t ← σ'(z) ⊙ t`) and returns `y`, the
    /// output tangent `ty = (∂y/∂x) t`, and, from one backward pass, the gradient of
    /// `Σ cot_y ∘ y + Σ cot_ty ∘ ty` with respect to the parameters, `x` and `t`.
    pub(crate) fn tangent(
        &self,
        x: &[f64],
        t: &[f64],
        rows: usize,
        cols: usize,
        cot_y: Option<&[f64]>,
        cot_ty: Option<&[f64]>,
    ) -> Result<TapeOutput> {
        let x = self.input(x, rows, cols)?;
        let t = self.input(t, rows, cols)?;
        let mut h: T2<Tp> = x.leaky_trace();
        let mut th: T2<Tp> = t.leaky_trace();
        let n = self.layers.len();
        for (k, layer) in self.layers.iter().enumerate() {
            let z = affine(h, layer)?;
            let tz = th.try_matmul(layer.w.clone())?;
            if k + 1 == n {
                h = z;
                th = tz;
            } else {
                let zc = z.with_empty_tape();
                let hn = activate(z, self.activation)?;
                let d = derivative(zc, hn.with_empty_tape(), self.activation)?;
                th = tz.try_mul(d)?;
                h = hn;
            }
        }
        let y = to_host(h.retaped::<NoneTape>().as_vec());
        let ty = to_host(th.retaped::<NoneTape>().as_vec());
        if cot_y.is_none() && cot_ty.is_none() {
            return Ok(TapeOutput {
                y,
                ty: Some(ty),
                ..Default::default()
            });
        }
        let (r, c) = *h.shape();
        let zeros = vec![0.0; r * c];
        let cy = self
            .dev
            .try_tensor_from_vec(to_dev(cot_y.unwrap_or(&zeros)), (r, c))?;
        let ct = self
            .dev
            .try_tensor_from_vec(to_dev(cot_ty.unwrap_or(&zeros)), (r, c))?;
        let ly = h.try_mul(cy)?.try_sum::<Rank0, _>()?;
        let lt = th.try_mul(ct)?.try_sum::<Rank0, _>()?;
        let grads = ly.try_add(lt)?.try_backward()?;
        Ok(TapeOutput {
            y,
            ty: Some(ty),
            x_grad: Some(to_host(grads.get(&x).as_vec())),
            param_grad: self.param_grad(&grads),
        })
    }

    fn param_grad(&self, grads: &Gradients<E, Dev>) -> Vec<f64> {
        let mut out = Vec::new();
        for layer in &self.layers {
            out.extend(grads.get(&layer.w).as_vec().into_iter().map(|v| v as f64));
            out.extend(grads.get(&layer.b).as_vec().into_iter().map(|v| v as f64));
        }
        out
    }
}

/// `x W + b`, with the bias broadcast over rows as a strided view (its gradient is
/// reduced by the add's backward pass).
pub(crate) fn affine<T: Tape<E, Dev> + Merge<NoneTape>>(
    x: T2<T>,
    layer: &DevLayer,
) -> Result<T2<T>> {
    let rows = x.shape().0;
    let outputs = layer.w.shape().1;
    let z = x.try_matmul(layer.w.clone())?;
    let b = layer
        .b
        .clone()
        .try_broadcast_like::<_, Axis<0>>(&(rows, outputs))?;
    Ok(z.try_add(b)?)
}

/// σ(z) as tensor ops.
pub(crate) fn activate<T: Tape<E, Dev> + Merge<T>>(z: T2<T>, a: Activation) -> Result<T2<T>> {
    Ok(match a {
        Activation::Tanh => z.try_tanh()?,
        Activation::Silu => {
            let s = z.with_empty_tape().try_sigmoid()?;
            z.try_mul(s)?
        }
        Activation::Softplus => softplus(z, 0.0)?,
        Activation::ShiftedSoftplus => softplus(z, std::f64::consts::LN_2 as E)?,
        Activation::Relu => z.try_relu()?,
    })
}

/// `softplus(z) − shift` with softplus(z) = max(z, 0) + ln(1 + exp(−|z|)) (stable for
/// large |z|), as one taped elementwise op whose backward is `sigmoid(z)·g`: one pass
/// and one buffer instead of the seven of composed dfdx ops, which matters for the
/// pairs × features tensors of SchNet's filters.
fn softplus<T: Tape<E, Dev>>(z: T2<T>, shift: E) -> Result<T2<T>> {
    let shape = *z.shape();
    let (z, mut tape) = z.split_tape();
    let out: T2 = with_host_copy(&z, |zs| {
        tensor_from_host(z.device(), shape, |values| {
            for (o, &v) in values.iter_mut().zip(zs) {
                *o = v.max(0.0) + (-v.abs()).exp().ln_1p() - shift;
            }
        })
    })?;
    let out_ghost = out.clone();
    let z_ghost = z.clone();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        grads.try_alloc_for(&z_ghost)?;
        let g_out = grads.get(&out_ghost);
        let g_z = grads.get_or_alloc_mut(&z_ghost)?;
        with_host_copy(&g_out, |g_out| {
            with_host_copy(&z_ghost, |zs| {
                for ((g, &o), &v) in g_z.iter_mut().zip(g_out).zip(zs) {
                    *g += o / (1.0 + (-v).exp());
                }
            })
        });
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// σ'(z) as tensor ops of `z` and `h = σ(z)` (so that ∂/∂θ flows through it).
pub(crate) fn derivative<T: Tape<E, Dev> + Merge<T>>(
    z: T2<T>,
    h: T2<T>,
    a: Activation,
) -> Result<T2<T>> {
    Ok(match a {
        // 1 − h²
        Activation::Tanh => h.try_square()?.try_negate()?.try_add(1.0)?,
        // s (1 + z (1 − s)) = s + z s (1 − s)
        Activation::Silu => {
            let s = z.with_empty_tape().try_sigmoid()?;
            let one_minus = s.with_empty_tape().try_negate()?.try_add(1.0)?;
            let zs = z.try_mul(s.with_empty_tape())?.try_mul(one_minus)?;
            s.try_add(zs)?
        }
        Activation::Softplus | Activation::ShiftedSoftplus => z.try_sigmoid()?,
        // A step: zero second derivative almost everywhere, so a constant mask.
        Activation::Relu => {
            let shape = *z.shape();
            let mask: Vec<E> = z
                .retaped::<NoneTape>()
                .as_vec()
                .into_iter()
                .map(|v| if v > 0.0 { 1.0 } else { 0.0 })
                .collect();
            let mask: T2 = z.device().try_tensor_from_vec(mask, shape)?;
            let (z, tape) = z.split_tape();
            // Keep z's tape (its history) on the result: 0·z + mask.
            z.put_tape(tape).try_mul(0.0)?.try_add(mask)?
        }
    })
}

/// Per-row values → per-segment sums, as a taped op: `out[s] = Σ_{i: seg[i] = s} x[i]`,
/// with backward `∂x[i] += ∂out[seg[i]]`. dfdx has no scatter-add, so this is a small
/// custom op on its public tape API. The sums accumulate in `f64` whatever `E` is, so
/// that a structure of thousands of atoms loses no more than one rounding to `E`.
pub(crate) fn segment_sum<T: Tape<E, Dev>>(
    x: T1<T>,
    segments: Arc<Vec<usize>>,
    n_segments: usize,
) -> Result<T1<T>> {
    assert_eq!(x.shape().0, segments.len(), "one segment per row");
    let (x, mut tape) = x.split_tape();
    let values = x.as_vec();
    let mut sums = vec![0.0f64; n_segments];
    for (&v, &s) in values.iter().zip(segments.iter()) {
        sums[s] += v as f64;
    }
    let sums: Vec<E> = sums.into_iter().map(|v| v as E).collect();
    let out: T1 = x.device().try_tensor_from_vec(sums, (n_segments,))?;
    let out_ghost = out.clone();
    let x_ghost = x.clone();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        grads.try_alloc_for(&x_ghost)?;
        let g_out = grads.get(&out_ghost).as_vec();
        let g_x = grads.get_or_alloc_mut(&x_ghost)?;
        for (g, &s) in g_x.iter_mut().zip(segments.iter()) {
            *g += g_out[s];
        }
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// One network's share of [`structure_energies`]: its input rows and the structure of
/// each.
pub(crate) struct Group<'a> {
    pub net: &'a DevNet,
    pub x: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    /// Output scale of the network (its normalization), applied before summing.
    pub scale: f64,
    pub segments: Arc<Vec<usize>>,
}

/// Structure energies `E_s = Σ_g segment_sum(net_g(x_g))` and, when `weights` is given,
/// the parameter gradients of `Σ_s weights[s] E_s`, one per group. The energies
/// returned are summed on the host in `f64` from the atomic energies (in `f64` this is
/// the same arithmetic as the taped sum).
pub(crate) fn structure_energies(
    dev: &Dev,
    groups: &[Group<'_>],
    n_structures: usize,
    weights: Option<&[f64]>,
) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let mut total: Option<T1<Tp>> = None;
    let mut energies = vec![0.0f64; n_structures];
    for g in groups {
        let x: T2 = dev.try_tensor_from_vec(to_dev(g.x), (g.rows, g.cols))?;
        let mut h: T2<Tp> = x.leaky_trace();
        let n = g.net.layers.len();
        for (k, layer) in g.net.layers.iter().enumerate() {
            let z = affine(h, layer)?;
            h = if k + 1 == n {
                z
            } else {
                activate(z, g.net.activation)?
            };
        }
        let rows = h.shape().0;
        let e_atoms = h.try_reshape_like(&(rows,))?.try_mul(g.scale as E)?;
        let mut partial = vec![0.0f64; n_structures];
        let atom_energies = e_atoms.retaped::<NoneTape>().as_vec();
        for (&v, &s) in atom_energies.iter().zip(g.segments.iter()) {
            partial[s] += v as f64;
        }
        for (e, p) in energies.iter_mut().zip(partial) {
            *e += p;
        }
        let e = segment_sum(e_atoms, g.segments.clone(), n_structures)?;
        total = Some(match total {
            None => e,
            Some(t) => t.try_add(e)?,
        });
    }
    let Some(total) = total else {
        return Ok((energies, Vec::new()));
    };
    let Some(weights) = weights else {
        return Ok((energies, Vec::new()));
    };
    let w: T1 = dev.try_tensor_from_vec(to_dev(weights), (n_structures,))?;
    let grads = total.try_mul(w)?.try_sum::<Rank0, _>()?.try_backward()?;
    Ok((
        energies,
        groups.iter().map(|g| g.net.param_grad(&grads)).collect(),
    ))
}
