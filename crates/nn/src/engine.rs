//! The dfdx glue: runtime-shaped dense layers evaluated as taped tensor ops in three
//! modes (plain, input gradient, forward-mode tangents), and the segment-sum op.
//!
//! Nothing here is public: the rest of the crate (and its users) see host `f64`
//! buffers, so that another engine could replace dfdx behind the same types.
//!
//! The dense-network engine is written once (`dense_body.rs`, in terms of an element
//! type `E`) and included twice, as `dense64` and `dense32`; `DevNet` picks one at
//! run time from a `Dtype`. Plain modules instead of generics keep dfdx's trait
//! bounds out of the code. The names SchNet uses (`Dev`, `DevLayer`, `T1`, `T2`, `Tp`,
//! `affine`, `activate`, `derivative`, `segment_sum`) are the `f64` ones.

use std::sync::Arc;

use dfdx::tensor::Cpu;

use crate::file::Dtype;
use crate::mlp::Activation;
use crate::Result;

pub(crate) type Dev = Cpu;

/// What a taped evaluation returns (host buffers, row-major).
#[derive(Clone, Debug, Default)]
pub(crate) struct TapeOutput {
    pub y: Vec<f64>,
    pub ty: Option<Vec<f64>>,
    pub x_grad: Option<Vec<f64>>,
    /// Gradient with respect to the parameters, in the host layout (per layer W then b).
    pub param_grad: Vec<f64>,
}

/// The dense-network engine in `f64`.
// The shared body converts between `E` and `f64` with `as`, the identity here.
#[allow(clippy::unnecessary_cast)]
pub(crate) mod dense64 {
    /// Element type of this engine.
    pub(crate) type E = f64;
    include!("dense_body.rs");
}

/// The dense-network engine in `f32` (host buffers stay `f64`).
pub(crate) mod dense32 {
    /// Element type of this engine.
    pub(crate) type E = f32;
    include!("dense_body.rs");
}

pub(crate) use dense64::{
    activate, affine, derivative, segment_sum, tensor_from_host, with_host_copy, DevLayer, Tp, T1,
    T2,
};

/// A dense network on the device in one of the two precisions.
#[derive(Clone, Debug)]
pub(crate) enum DevNet {
    F64(dense64::DevNet),
    F32(dense32::DevNet),
}

impl DevNet {
    /// `layers` holds host `(inputs, outputs, weights, biases)` per layer; they are
    /// rounded to `dtype`.
    pub(crate) fn new(
        dev: &Dev,
        layers: &[(usize, usize, &[f64], &[f64])],
        activation: Activation,
        dtype: Dtype,
    ) -> Result<Self> {
        Ok(match dtype {
            Dtype::F64 => DevNet::F64(dense64::DevNet::new(dev, layers, activation)?),
            Dtype::F32 => DevNet::F32(dense32::DevNet::new(dev, layers, activation)?),
        })
    }

    /// The precision the network computes in.
    pub(crate) fn precision(&self) -> Dtype {
        match self {
            DevNet::F64(_) => Dtype::F64,
            DevNet::F32(_) => Dtype::F32,
        }
    }

    /// Plain forward pass (no tape).
    pub(crate) fn forward(&self, x: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
        match self {
            DevNet::F64(n) => n.forward(x, rows, cols),
            DevNet::F32(n) => n.forward(x, rows, cols),
        }
    }

    /// Gradient of `Σ cot ∘ y` with respect to the input (and, if `params`, the
    /// parameters) by one backward pass.
    pub(crate) fn vjp(
        &self,
        x: &[f64],
        rows: usize,
        cols: usize,
        cot: &[f64],
        params: bool,
    ) -> Result<TapeOutput> {
        match self {
            DevNet::F64(n) => n.vjp(x, rows, cols, cot, params),
            DevNet::F32(n) => n.vjp(x, rows, cols, cot, params),
        }
    }

    /// Forward-mode tangents as taped ops (see `dense64::DevNet::tangent`).
    pub(crate) fn tangent(
        &self,
        x: &[f64],
        t: &[f64],
        rows: usize,
        cols: usize,
        cot_y: Option<&[f64]>,
        cot_ty: Option<&[f64]>,
    ) -> Result<TapeOutput> {
        match self {
            DevNet::F64(n) => n.tangent(x, t, rows, cols, cot_y, cot_ty),
            DevNet::F32(n) => n.tangent(x, t, rows, cols, cot_y, cot_ty),
        }
    }
}

/// Per-structure sums of per-atom energies from several networks, and the gradient of
/// `Σ_s a_s E_s` with respect to each network's parameters: the batched path of the
/// potentials. `groups[g]` gives network `g` its input rows and the structure of each.
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
/// the parameter gradients of `Σ_s weights[s] E_s`, one per group.
///
/// The groups of each precision run as one taped pass of that precision's engine; the
/// energies are linear in the groups' contributions, so a model whose networks differ
/// in precision gets the sum of the two passes and each group its own gradient.
pub(crate) fn structure_energies(
    dev: &Dev,
    groups: &[Group<'_>],
    n_structures: usize,
    weights: Option<&[f64]>,
) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let mut g64 = Vec::new();
    let mut g32 = Vec::new();
    let mut order = Vec::with_capacity(groups.len());
    for g in groups {
        match g.net {
            DevNet::F64(net) => {
                order.push((Dtype::F64, g64.len()));
                g64.push(dense64::Group {
                    net,
                    x: g.x,
                    rows: g.rows,
                    cols: g.cols,
                    scale: g.scale,
                    segments: g.segments.clone(),
                });
            }
            DevNet::F32(net) => {
                order.push((Dtype::F32, g32.len()));
                g32.push(dense32::Group {
                    net,
                    x: g.x,
                    rows: g.rows,
                    cols: g.cols,
                    scale: g.scale,
                    segments: g.segments.clone(),
                });
            }
        }
    }
    if g32.is_empty() {
        return dense64::structure_energies(dev, &g64, n_structures, weights);
    }
    if g64.is_empty() {
        return dense32::structure_energies(dev, &g32, n_structures, weights);
    }
    let (mut energies, grads64) = dense64::structure_energies(dev, &g64, n_structures, weights)?;
    let (e32, grads32) = dense32::structure_energies(dev, &g32, n_structures, weights)?;
    for (e, d) in energies.iter_mut().zip(e32) {
        *e += d;
    }
    if weights.is_none() {
        return Ok((energies, Vec::new()));
    }
    let (mut grads64, mut grads32) = (grads64.into_iter(), grads32.into_iter());
    let grads = order
        .iter()
        .map(|(dtype, _)| match dtype {
            Dtype::F64 => grads64.next(),
            Dtype::F32 => grads32.next(),
        })
        .collect::<Option<Vec<_>>>()
        .expect("one gradient per group");
    Ok((energies, grads))
}

#[cfg(test)]
mod tests {
    use dfdx::shapes::Rank0;
    use dfdx::tensor::{NoneTape, TensorFromVec, Trace};
    use dfdx::tensor_ops::{Backward, SumTo, TryMul};

    use super::*;

    #[test]
    fn segment_sum_forward_and_backward() {
        let dev = Dev::default();
        let x: T1 = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], (5,));
        let seg = Arc::new(vec![0, 2, 0, 2, 2]);
        let out = segment_sum(x.leaky_trace(), seg, 3).unwrap();
        assert_eq!(out.retaped::<NoneTape>().as_vec(), vec![4.0, 0.0, 11.0]);
        // d/dx of Σ_s w_s out_s is w_{seg(i)}.
        let w: T1 = dev.tensor_from_vec(vec![0.5, -1.0, 2.0], (3,));
        let grads = out
            .try_mul(w)
            .unwrap()
            .try_sum::<Rank0, _>()
            .unwrap()
            .try_backward()
            .unwrap();
        assert_eq!(grads.get(&x).as_vec(), vec![0.5, 2.0, 0.5, 2.0, 2.0]);
    }
}
