//! The role every trainer needs of a model: energies, forces and virials of frames, and
//! the parameter gradient of any linear functional of them.
//!
//! All three trainers reduce to one operation (chemtrain §4.1: per-state quantities →
//! weighted averages → loss). Force matching needs `∂/∂θ` of a weighted sum of energy,
//! force and virial residuals; relative entropy and DiffTRe need `∂/∂θ` of a weighted
//! sum of energies (the weights coming from reweighting). [`EnergyModel::parameter_vjp`]
//! computes exactly that:
//!
//! `∂/∂θ Σ_s [ a_s E_s(θ) + Σ_k g_sk · F_sk(θ) + C_s : W_s(θ) ]`
//!
//! for caller-chosen cotangents `a`, `g`, `C`. Implementations: the
//! [`BehlerParrinello`] network (forward-mode tangents for forces, see
//! [`BehlerParrinello::param_vjp`]), the [`SchNet`] message-passing network (tangents
//! for forces and virials, [`SchNet::param_vjp`]) and the [`SplinePair`](crate::SplinePair) pair
//! potential (exact, linear in its knot values).

use thermograd_geometry::{Mat3, Vec3};
use thermograd_md::{Evaluation, Potential};
use thermograd_nn::{
    BehlerParrinello, Frame, LabeledFrame, LossAndGradient, LossWeights, SchNet, Trainable,
};

use crate::error::{config_error, Result};

/// Cotangents of [`EnergyModel::parameter_vjp`], one entry per frame.
#[derive(Clone, Copy, Debug)]
pub struct Cotangents<'a> {
    /// `a_s`, the weight of each frame's energy (1/energy units for a dimensionless
    /// result).
    pub energy: &'a [f64],
    /// `g_sk`, a vector per atom per frame dotted with the forces.
    pub forces: Option<&'a [Vec<Vec3>]>,
    /// `C_s`, a matrix per frame contracted with the virial (`C : W = Σ_ab C_ab W_ab`).
    pub virial: Option<&'a [Mat3]>,
}

impl Cotangents<'_> {
    /// Checks the lengths against `frames`.
    pub fn check(&self, frames: &[Frame]) -> Result<()> {
        let n = frames.len();
        if self.energy.len() != n {
            return Err(config_error(
                "cotangents",
                format!("{} energy weights for {n} frames", self.energy.len()),
            ));
        }
        if let Some(g) = self.forces {
            if g.len() != n {
                return Err(config_error(
                    "cotangents",
                    format!("force cotangents for {} of {n} frames", g.len()),
                ));
            }
            for (k, (g, f)) in g.iter().zip(frames).enumerate() {
                if g.len() != f.positions.len() {
                    return Err(config_error(
                        "cotangents",
                        format!(
                            "frame {k}: {} force cotangents for {} atoms",
                            g.len(),
                            f.positions.len()
                        ),
                    ));
                }
            }
        }
        if let Some(c) = self.virial {
            if c.len() != n {
                return Err(config_error(
                    "cotangents",
                    format!("virial cotangents for {} of {n} frames", c.len()),
                ));
            }
        }
        Ok(())
    }
}

/// A potential with trainable parameters and parameter derivatives.
///
/// It is a [`Potential`] (so MD samples from it) and [`Trainable`] (flat parameter
/// vectors). Units are those of its data: energies, forces (energy/length) and virials
/// (energy, `W = Σ r_ij ⊗ f_ij` as in [`Evaluation`]).
///
/// A minimal implementation, a harmonic tether `E = ½ k Σ |r_i|²` with one parameter
/// `k`:
///
/// ```
/// use thermograd_geometry::{SimBox, Vec3};
/// use thermograd_md::{Configuration, Evaluation, Potential};
/// use thermograd_nn::{Frame, NnError, Trainable};
/// use thermograd_train::{Cotangents, EnergyModel};
///
/// #[derive(Clone, Debug)]
/// struct Tether { k: f64 }
///
/// impl Potential for Tether {
///     fn cutoff(&self) -> Option<f64> { None }
///     fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
///         for (r, f) in c.positions.iter().zip(&mut out.forces) {
///             out.energy += 0.5 * self.k * r.norm_squared();
///             *f -= self.k * r;
///             out.virial -= self.k * r * r.transpose();
///         }
///         Ok(())
///     }
/// }
///
/// impl Trainable for Tether {
///     fn n_parameters(&self) -> usize { 1 }
///     fn parameters(&self) -> Vec<f64> { vec![self.k] }
///     fn set_parameters(&mut self, p: &[f64]) -> Result<(), NnError> { self.k = p[0]; Ok(()) }
/// }
///
/// impl EnergyModel for Tether {
///     fn evaluate_frames(&self, frames: &[Frame]) -> thermograd_train::Result<Vec<Evaluation>> {
///         frames.iter().map(|f| {
///             let mut e = Evaluation::zeros(f.positions.len());
///             let c = Configuration { positions: &f.positions, species: &f.species, simbox: &f.simbox, neighbors: None };
///             self.add_to(&c, &mut e)?;
///             Ok(e)
///         }).collect()
///     }
///     fn parameter_vjp(&self, frames: &[Frame], cot: &Cotangents<'_>) -> thermograd_train::Result<Vec<f64>> {
///         cot.check(frames)?;
///         let mut g = 0.0;
///         for (s, f) in frames.iter().enumerate() {
///             for (k, r) in f.positions.iter().enumerate() {
///                 g += cot.energy[s] * 0.5 * r.norm_squared();
///                 if let Some(gf) = cot.forces { g -= gf[s][k].dot(r); }
///                 if let Some(c) = cot.virial { g -= (c[s].component_mul(&(r * r.transpose()))).sum(); }
///             }
///         }
///         Ok(vec![g])
///     }
/// }
///
/// let frame = Frame { positions: vec![Vec3::new(1.0, 2.0, 0.0)], species: vec![0], simbox: SimBox::open() };
/// let t = Tether { k: 3.0 };
/// let g = t.parameter_vjp(&[frame], &Cotangents { energy: &[1.0], forces: None, virial: None })?;
/// assert_eq!(g, vec![2.5]); // ∂E/∂k = ½ |r|²
/// # Ok::<(), thermograd_train::TrainError>(())
/// ```
pub trait EnergyModel: Potential + Trainable {
    /// Energy, forces and virial of each frame.
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>>;

    /// Energy of each frame (energy units).
    fn energies(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        Ok(self
            .evaluate_frames(frames)?
            .into_iter()
            .map(|e| e.energy)
            .collect())
    }

    /// `∂/∂θ Σ_s [a_s E_s + Σ_k g_sk·F_sk + C_s : W_s]` in the layout of
    /// [`Trainable::parameters`] (see the module docs).
    fn parameter_vjp(&self, frames: &[Frame], cotangents: &Cotangents<'_>) -> Result<Vec<f64>>;

    /// The energy-and-force matching loss
    /// `w_E mean_s((E_s − Ê_s)/N_s)² + w_F mean_{s,k,a}(F_ska − F̂_ska)²` and its gradient
    /// through a faster fused path, if the model has one (`None`: the trainer uses
    /// [`EnergyModel::evaluate_frames`] and [`EnergyModel::parameter_vjp`]).
    fn fused_force_matching(
        &self,
        data: &[LabeledFrame],
        weights: LossWeights,
    ) -> Option<Result<LossAndGradient>> {
        let _ = (data, weights);
        None
    }
}

/// Relative strain step of the virial derivative of [`BehlerParrinello`] (see there).
const STRAIN_STEP: f64 = 1e-5;

/// Behler–Parrinello networks: energies and forces through
/// [`BehlerParrinello::param_vjp`] (forward-mode tangents, exact). The descriptors have
/// no tangent path for a strain, so the virial term `∂(C:W)/∂θ` is the fourth-order
/// central difference of `∂E/∂θ` under the homogeneous strain `ε = t Cᵀ/‖C‖_max`
/// (`W_ab = −∂E/∂ε_ba`) with `t = ±10⁻⁵, ±2·10⁻⁵`: four extra energy-only passes per
/// frame with a virial cotangent. The step is small because the cosine cutoff of the
/// descriptors is only C¹ at `r_c`, which makes the error `O(t)` for pairs that cross
/// it; measured against finite differences in parameters it is about 10⁻¹⁰ relative.
impl EnergyModel for BehlerParrinello {
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        Ok(self.evaluate_batch(frames)?)
    }

    fn energies(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        Ok(BehlerParrinello::energies(self, frames)?)
    }

    /// [`BehlerParrinello::force_matching`]: descriptors computed once for the
    /// evaluation and the tangent pass.
    fn fused_force_matching(
        &self,
        data: &[LabeledFrame],
        weights: LossWeights,
    ) -> Option<Result<LossAndGradient>> {
        Some(self.force_matching(data, weights).map_err(Into::into))
    }

    fn parameter_vjp(&self, frames: &[Frame], cot: &Cotangents<'_>) -> Result<Vec<f64>> {
        cot.check(frames)?;
        let directions: Option<Vec<Vec<Vec3>>> = cot
            .forces
            .map(|g| g.iter().map(|v| v.iter().map(|x| -x).collect()).collect());
        let (_, mut gradient) = self.param_vjp(frames, cot.energy, directions.as_deref())?;
        if let Some(c) = cot.virial {
            let (strained, weights) = strained_frames(frames, c)?;
            if !strained.is_empty() {
                let (_, g) = self.param_vjp(&strained, &weights, None)?;
                for (a, b) in gradient.iter_mut().zip(g) {
                    *a += b;
                }
            }
        }
        Ok(gradient)
    }
}

/// SchNet message-passing networks: energies, forces and virial cotangents all through
/// [`SchNet::param_vjp`] (forward-mode tangents of the pair distances, exact; no strained
/// copies needed).
impl EnergyModel for SchNet {
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        Ok(self.evaluate_batch(frames)?)
    }

    fn energies(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        Ok(SchNet::energies(self, frames)?)
    }

    fn parameter_vjp(&self, frames: &[Frame], cot: &Cotangents<'_>) -> Result<Vec<f64>> {
        cot.check(frames)?;
        let directions: Option<Vec<Vec<Vec3>>> = cot
            .forces
            .map(|g| g.iter().map(|v| v.iter().map(|x| -x).collect()).collect());
        let (_, gradient) =
            self.param_vjp(frames, cot.energy, directions.as_deref(), cot.virial)?;
        Ok(gradient)
    }

    /// [`SchNet::force_matching`]: pairs and radial basis computed once for the
    /// evaluation and the tangent pass.
    fn fused_force_matching(
        &self,
        data: &[LabeledFrame],
        weights: LossWeights,
    ) -> Option<Result<LossAndGradient>> {
        Some(self.force_matching(data, weights).map_err(Into::into))
    }
}

/// Frames strained by `±t S`, `±2t S` with `S = Cᵀ/c` (`c = max |C_ab|`) and the energy
/// weights whose weighted sum of energies is the fourth-order central difference of
/// `C : W = −c dE/dt`.
pub(crate) fn strained_frames(frames: &[Frame], c: &[Mat3]) -> Result<(Vec<Frame>, Vec<f64>)> {
    let mut out = Vec::new();
    let mut weights = Vec::new();
    for (f, c) in frames.iter().zip(c) {
        let scale = c.amax();
        if scale == 0.0 {
            continue;
        }
        let s = c.transpose() / scale;
        // f'(0) ≈ [8(f(t) − f(−t)) − (f(2t) − f(−2t))] / (12 t); C:W = −scale · f'(0).
        for (m, w) in [(1.0, 8.0), (-1.0, -8.0), (2.0, -1.0), (-2.0, 1.0)] {
            let mu = Mat3::identity() + s * (m * STRAIN_STEP);
            let positions = f.positions.iter().map(|r| mu * r).collect();
            let simbox = if f.simbox.is_periodic() {
                f.simbox.deformed(&mu)?
            } else {
                f.simbox.clone()
            };
            out.push(Frame {
                positions,
                species: f.species.clone(),
                simbox,
            });
            weights.push(-scale * w / (12.0 * STRAIN_STEP));
        }
    }
    Ok((out, weights))
}
