//! The taped SchNet pass: continuous-filter convolutions over a pair list, evaluated as
//! dfdx ops with optional forward-mode tangents, plus the row gather and row scatter
//! ops it needs (dfdx's own gather indexes element by element; these copy rows).
//!
//! Like `engine`, nothing here is public: `schnet` speaks host buffers.

use std::sync::{Arc, Mutex};

use dfdx::shapes::{Axis, HasShape, Rank0};
use dfdx::tensor::{
    Cache, Gradients, NoneTape, PutTape, SplitTape, Tape, TensorFromVec, Trace, WithEmptyTape,
    ZerosTensor,
};
use dfdx::tensor_ops::{Backward, BroadcastTo, ReshapeTo, SumTo, TryAdd, TryMatMul, TryMul};

use crate::engine::{
    activate, affine, derivative, segment_sum, tensor_from_host, with_host_copy, Dev, DevLayer, Tp,
    T1, T2,
};
use crate::mlp::Activation;
use crate::Result;

/// One interaction block on the device.
#[derive(Clone, Debug)]
pub(crate) struct DevBlock {
    /// Filter network, first layer (`n_rbf → features`, activated).
    pub filter1: DevLayer,
    /// Filter network, second layer (`features → features`, linear).
    pub filter2: DevLayer,
    /// Atom-wise projection before the convolution (`features × features`, no bias).
    pub in2f: T2,
    /// Atom-wise update after the convolution, first layer (activated).
    pub out1: DevLayer,
    /// Atom-wise update, second layer (linear).
    pub out2: DevLayer,
}

/// A SchNet model on the device, rebuilt from host parameters when they change.
#[derive(Clone, Debug)]
pub(crate) struct DevSchNet {
    pub dev: Dev,
    /// `n_species × features`.
    pub embedding: T2,
    pub blocks: Vec<DevBlock>,
    /// Atom-wise readout to one energy per atom; hidden layers activated.
    pub readout: Vec<DevLayer>,
    pub activation: Activation,
    /// Atoms, pairs and structures of the last pass (see [`DevSchNet::run`]).
    pub last_shape: Arc<Mutex<Option<(usize, usize, usize)>>>,
}

/// A batch of structures as one graph. Pairs are directed (each unordered pair of a
/// full neighbourhood appears twice), message `neighbor → center`.
pub(crate) struct Graph<'a> {
    /// Species of every atom of the batch.
    pub species: Arc<Vec<usize>>,
    /// Structure of every atom.
    pub structure: Arc<Vec<usize>>,
    pub n_structures: usize,
    pub center: Arc<Vec<usize>>,
    pub neighbor: Arc<Vec<usize>>,
    /// Radial basis of every pair, `pairs × n_rbf`.
    pub rbf: &'a [f64],
    /// Cutoff function of every pair.
    pub fc: &'a [f64],
    pub n_rbf: usize,
    /// Energy scale applied to the readout.
    pub scale: f64,
}

/// Forward-mode tangents of the pair inputs (`∂rbf/∂r · ṙ`, `∂f_c/∂r · ṙ`).
pub(crate) struct PairTangents<'a> {
    pub rbf: &'a [f64],
    pub fc: &'a [f64],
}

/// What one pass computes besides the energies.
pub(crate) struct Request<'a> {
    /// Cotangent of every structure energy (1 when absent).
    pub energy_weights: Option<&'a [f64]>,
    /// Carry tangents; the backward pass then differentiates `Σ w E + Σ Ė`.
    pub tangents: Option<PairTangents<'a>>,
    /// Return `∂L/∂rbf` and `∂L/∂f_c` (summed over blocks).
    pub input_grad: bool,
    /// Return `∂L/∂θ` in the host layout.
    pub param_grad: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PassOutput {
    pub energies: Vec<f64>,
    /// `∂L/∂rbf`, `pairs × n_rbf`.
    pub d_rbf: Vec<f64>,
    /// `∂L/∂f_c`, one per pair.
    pub d_fc: Vec<f64>,
    pub param_grad: Vec<f64>,
}

impl DevSchNet {
    /// Every parameter tensor in the host layout (embedding; per block filter1 W, b,
    /// filter2 W, b, in2f W, out1 W, b, out2 W, b; readout W, b per layer), each with
    /// whether it belongs to the pair convolution.
    fn parameters(&self) -> Vec<(ParamRef<'_>, bool)> {
        let mut out = vec![(ParamRef::Two(&self.embedding), false)];
        fn layer<'a>(out: &mut Vec<(ParamRef<'a>, bool)>, l: &'a DevLayer, conv: bool) {
            out.push((ParamRef::Two(&l.w), conv));
            out.push((ParamRef::One(&l.b), conv));
        }
        for b in &self.blocks {
            layer(&mut out, &b.filter1, true);
            layer(&mut out, &b.filter2, true);
            out.push((ParamRef::Two(&b.in2f), true));
            layer(&mut out, &b.out1, false);
            layer(&mut out, &b.out2, false);
        }
        for l in &self.readout {
            layer(&mut out, l, false);
        }
        out
    }

    fn n_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .map(|(p, _)| match p {
                ParamRef::One(t) => t.shape().0,
                ParamRef::Two(t) => t.shape().0 * t.shape().1,
            })
            .sum()
    }

    /// Energies of every structure and whatever `req` asks for, in one taped pass.
    ///
    /// The pass allocates many pairs × features buffers, tens of megabytes each for a
    /// few thousand atoms. dfdx's allocation cache keeps the freed ones for reuse
    /// instead of taking fresh zeroed pages from the OS every time (which cost as much
    /// as the arithmetic). It only reuses exact sizes, so it is kept from one pass to
    /// the next while the graph has the same shape (an MD run; the host pads the pair
    /// count) and emptied when the shape changes, which bounds it to the buffers of
    /// passes of one shape.
    pub(crate) fn run(&self, g: &Graph<'_>, req: &Request<'_>) -> Result<PassOutput> {
        let shape = (g.species.len(), g.center.len(), g.n_structures);
        {
            let mut last = self.last_shape.lock().unwrap_or_else(|e| e.into_inner());
            if *last != Some(shape) {
                self.dev.try_empty_cache()?;
                *last = Some(shape);
            }
        }
        self.dev.try_enable_cache()?;
        self.run_uncached(g, req)
    }

    fn run_uncached(&self, g: &Graph<'_>, req: &Request<'_>) -> Result<PassOutput> {
        let dev = &self.dev;
        let a = g.species.len();
        let p = g.center.len();
        let k = g.n_rbf;
        let f = self.embedding.shape().1;
        let act = self.activation;
        if a == 0 {
            return Ok(PassOutput {
                energies: vec![0.0; g.n_structures],
                param_grad: if req.param_grad {
                    vec![0.0; self.n_parameters()]
                } else {
                    Vec::new()
                },
                ..Default::default()
            });
        }
        let mut x: T2<Tp> = gather_rows(self.embedding.leaky_trace(), g.species.clone())?;
        let mut tx: Option<T2<Tp>> = None;
        let mut rbf_leaves: Vec<T2> = Vec::new();
        let mut fc_leaves: Vec<T1> = Vec::new();
        for blk in &self.blocks {
            // The taped x and tx go to the residual sums below; the convolution
            // reads copies with empty tapes (their gradients meet by tensor id).
            let x_conv = x.with_empty_tape();
            let tx_conv = tx.as_ref().map(|t| t.with_empty_tape());
            let (m, tm) = if p == 0 {
                // No pairs: no messages (the filter parameters get zero gradients).
                let zeros: T2 = dev.try_zeros_like(&(a, f))?;
                let tm = match req.tangents {
                    Some(_) => {
                        let tzeros: T2 = dev.try_zeros_like(&(a, f))?;
                        Some(tzeros.leaky_trace())
                    }
                    None => None,
                };
                (zeros.leaky_trace(), tm)
            } else {
                let rbf: T2 = tensor_from_slice(dev, (p, k), g.rbf)?;
                let fc: T1 = tensor_from_slice(dev, (p,), g.fc)?;
                let rbf_t = rbf.leaky_trace();
                let fc_t = fc.leaky_trace();
                rbf_leaves.push(rbf);
                fc_leaves.push(fc);
                // Filter W_ij = filter2(σ(filter1(rbf_ij))) · f_c(r_ij).
                let z1 = affine(rbf_t, &blk.filter1)?;
                let z1c = z1.with_empty_tape();
                let h1 = activate(z1, act)?;
                let h1c = h1.with_empty_tape();
                let z2 = affine(h1, &blk.filter2)?;
                let z2c = z2.with_empty_tape();
                let fcb = fc_t.try_broadcast_like::<_, Axis<1>>(&(p, f))?;
                let fcbc = fcb.with_empty_tape();
                let w = z2.try_mul(fcb)?;
                let wc = w.with_empty_tape();
                // Messages m_i = Σ_j (x_j W_in) ⊙ W_ij.
                let y = x_conv.try_matmul(blk.in2f.clone())?;
                let yj = gather_rows(y, g.neighbor.clone())?;
                let yjc = yj.with_empty_tape();
                let m = scatter_rows(yj.try_mul(w)?, g.center.clone(), a)?;
                let tm = match &req.tangents {
                    None => None,
                    Some(tg) => {
                        let trbf: T2 = tensor_from_slice(dev, (p, k), tg.rbf)?;
                        let tfc: T1 = tensor_from_slice(dev, (p,), tg.fc)?;
                        let tz1 = trbf.leaky_trace().try_matmul(blk.filter1.w.clone())?;
                        let th1 = tz1.try_mul(derivative(z1c, h1c, act)?)?;
                        let tz2 = th1.try_matmul(blk.filter2.w.clone())?;
                        let tfcb = tfc
                            .leaky_trace()
                            .try_broadcast_like::<_, Axis<1>>(&(p, f))?;
                        let tw = tz2.try_mul(fcbc)?.try_add(z2c.try_mul(tfcb)?)?;
                        let mut tmsg = yjc.try_mul(tw)?;
                        if let Some(t) = tx_conv {
                            let ty = t.try_matmul(blk.in2f.clone())?;
                            let tyj = gather_rows(ty, g.neighbor.clone())?;
                            tmsg = tmsg.try_add(tyj.try_mul(wc)?)?;
                        }
                        Some(scatter_rows(tmsg, g.center.clone(), a)?)
                    }
                };
                (m, tm)
            };
            // Atom-wise update and residual: x ← x + out2(σ(out1(m))).
            let zo1 = affine(m, &blk.out1)?;
            let zo1c = zo1.with_empty_tape();
            let ho1 = activate(zo1, act)?;
            let ho1c = ho1.with_empty_tape();
            let v = affine(ho1, &blk.out2)?;
            x = x.try_add(v)?;
            if let Some(tm) = tm {
                let tzo1 = tm.try_matmul(blk.out1.w.clone())?;
                let tho1 = tzo1.try_mul(derivative(zo1c, ho1c, act)?)?;
                let tv = tho1.try_matmul(blk.out2.w.clone())?;
                tx = Some(match tx.take() {
                    Some(t) => t.try_add(tv)?,
                    None => tv,
                });
            }
        }
        // Readout: one energy per atom, summed per structure.
        let n = self.readout.len();
        let mut h = x;
        let mut th = tx;
        for (l, layer) in self.readout.iter().enumerate() {
            let z = affine(h, layer)?;
            let zc = z.with_empty_tape();
            let tz = match th.take() {
                Some(t) => Some(t.try_matmul(layer.w.clone())?),
                None => None,
            };
            if l + 1 == n {
                h = z;
                th = tz;
            } else {
                let hn = activate(z, act)?;
                th = match tz {
                    Some(t) => Some(t.try_mul(derivative(zc, hn.with_empty_tape(), act)?)?),
                    None => None,
                };
                h = hn;
            }
        }
        let s = g.n_structures;
        let e_atoms = h.try_reshape_like(&(a,))?.try_mul(g.scale)?;
        let e = segment_sum(e_atoms, g.structure.clone(), s)?;
        let energies = e.retaped::<NoneTape>().as_vec();
        if !(req.input_grad || req.param_grad) {
            return Ok(PassOutput {
                energies,
                ..Default::default()
            });
        }
        let weights = match req.energy_weights {
            Some(w) => w.to_vec(),
            None => vec![1.0; s],
        };
        let w: T1 = dev.try_tensor_from_vec(weights, (s,))?;
        let mut loss = e.try_mul(w)?.try_sum::<Rank0, _>()?;
        if let Some(t) = th {
            let te = t.try_reshape_like(&(a,))?.try_mul(g.scale)?;
            loss = loss.try_add(te.try_sum::<Rank0, _>()?)?;
        }
        let grads = loss.try_backward()?;
        let mut out = PassOutput {
            energies,
            ..Default::default()
        };
        if req.input_grad {
            out.d_rbf = sum_grads(&grads, &rbf_leaves, p * k);
            out.d_fc = sum_grads(&grads, &fc_leaves, p);
        }
        if req.param_grad {
            for (param, conv) in self.parameters() {
                // Without pairs the convolution never ran: zero gradient.
                out.param_grad.extend(match param {
                    ParamRef::One(t) if conv && p == 0 => vec![0.0; t.shape().0],
                    ParamRef::Two(t) if conv && p == 0 => vec![0.0; t.shape().0 * t.shape().1],
                    ParamRef::One(t) => grads.get(t).as_vec(),
                    ParamRef::Two(t) => grads.get(t).as_vec(),
                });
            }
        }
        Ok(out)
    }
}

enum ParamRef<'a> {
    One(&'a T1),
    Two(&'a T2),
}

fn sum_grads<S: dfdx::shapes::Shape>(
    grads: &Gradients<f64, Dev>,
    leaves: &[dfdx::tensor::Tensor<S, f64, Dev>],
    len: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; len];
    for leaf in leaves {
        with_host_copy(&grads.get(leaf), |g| {
            for (o, v) in out.iter_mut().zip(g) {
                *o += v;
            }
        });
    }
    out
}

/// A device tensor of `shape` holding `data`, through dfdx's allocation cache rather
/// than a fresh `Vec` (see `tensor_from_host`).
fn tensor_from_slice<S: dfdx::shapes::Shape>(
    dev: &Dev,
    shape: S,
    data: &[f64],
) -> Result<dfdx::tensor::Tensor<S, f64, Dev>> {
    let mut out = dev.try_zeros_like(&shape)?;
    out.copy_from(data);
    Ok(out)
}

/// Rows of `x` picked by `index` (`out[r] = x[index[r]]`), as a taped op whose
/// backward adds each output row's gradient into its source row.
pub(crate) fn gather_rows<T: Tape<f64, Dev>>(x: T2<T>, index: Arc<Vec<usize>>) -> Result<T2<T>> {
    let (rows, cols) = *x.shape();
    let (x, mut tape) = x.split_tape();
    let out: T2 = with_host_copy(&x, |src| {
        tensor_from_host(x.device(), (index.len(), cols), |data| {
            for (row, &i) in data.chunks_exact_mut(cols).zip(index.iter()) {
                assert!(i < rows, "gather index in range");
                row.copy_from_slice(&src[i * cols..(i + 1) * cols]);
            }
        })
    })?;
    let out_ghost = out.clone();
    let x_ghost = x.clone();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        grads.try_alloc_for(&x_ghost)?;
        let g_out = grads.get(&out_ghost);
        let g_x = grads.get_or_alloc_mut(&x_ghost)?;
        with_host_copy(&g_out, |g_out| {
            for (r, &i) in index.iter().enumerate() {
                for (a, b) in g_x[i * cols..(i + 1) * cols]
                    .iter_mut()
                    .zip(&g_out[r * cols..(r + 1) * cols])
                {
                    *a += b;
                }
            }
        });
        Ok(())
    });
    Ok(out.put_tape(tape))
}

/// Rows of `x` summed into `n` rows by `index` (`out[index[r]] += x[r]`), as a taped
/// op whose backward copies each target row's gradient to its sources.
pub(crate) fn scatter_rows<T: Tape<f64, Dev>>(
    x: T2<T>,
    index: Arc<Vec<usize>>,
    n: usize,
) -> Result<T2<T>> {
    let (rows, cols) = *x.shape();
    assert_eq!(rows, index.len(), "one target per row");
    let (x, mut tape) = x.split_tape();
    let out: T2 = with_host_copy(&x, |src| {
        tensor_from_host(x.device(), (n, cols), |data| {
            for (r, &i) in index.iter().enumerate() {
                for (a, b) in data[i * cols..(i + 1) * cols]
                    .iter_mut()
                    .zip(&src[r * cols..(r + 1) * cols])
                {
                    *a += b;
                }
            }
        })
    })?;
    let out_ghost = out.clone();
    let x_ghost = x.clone();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&out_ghost)?;
        grads.try_alloc_for(&x_ghost)?;
        let g_out = grads.get(&out_ghost);
        let g_x = grads.get_or_alloc_mut(&x_ghost)?;
        with_host_copy(&g_out, |g_out| {
            for (r, &i) in index.iter().enumerate() {
                for (a, b) in g_x[r * cols..(r + 1) * cols]
                    .iter_mut()
                    .zip(&g_out[i * cols..(i + 1) * cols])
                {
                    *a += b;
                }
            }
        });
        Ok(())
    });
    Ok(out.put_tape(tape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_and_scatter_rows_forward_and_backward() {
        let dev = Dev::default();
        let x: T2 = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (3, 2));
        let picked = gather_rows(x.leaky_trace(), Arc::new(vec![2, 0, 2])).unwrap();
        assert_eq!(
            picked.retaped::<NoneTape>().as_vec(),
            vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]
        );
        let summed = scatter_rows(picked, Arc::new(vec![1, 0, 1]), 2).unwrap();
        // Row 0 gets x[0]; row 1 gets 2 x[2].
        assert_eq!(
            summed.retaped::<NoneTape>().as_vec(),
            vec![1.0, 2.0, 10.0, 12.0]
        );
        let w: T2 = dev.tensor_from_vec(vec![1.0, -1.0, 0.5, 2.0], (2, 2));
        let grads = summed
            .try_mul(w)
            .unwrap()
            .try_sum::<Rank0, _>()
            .unwrap()
            .try_backward()
            .unwrap();
        // ∂/∂x[0] = w[0]; ∂/∂x[2] = 2 w[1]; x[1] unused.
        assert_eq!(grads.get(&x).as_vec(), vec![1.0, -1.0, 0.0, 0.0, 1.0, 4.0]);
    }
}
