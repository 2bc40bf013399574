//! SchNet: a message-passing potential with continuous-filter convolutions (Schütt et
//! al., J. Chem. Phys. 148, 241722, 2018), the learned-descriptor counterpart of
//! [`crate::BehlerParrinello`].
//!
//! Each atom starts from an embedding of its species. Each interaction block sends
//! messages along the pairs of the neighbourhood: `m_i = Σ_j (x_j W_in) ⊙ W(r_ij)`, with
//! the filter `W(r) = filter2(σ(filter1(e(r)))) · f_c(r)` generated from a Gaussian
//! radial basis `e_k(r) = exp(−γ (r − μ_k)²)` (centres `μ_k` evenly spaced on `[0, r_c]`,
//! `γ = 1/(2Δμ²)`) and the cosine cutoff `f_c`; then `x_i ← x_i + out2(σ(out1(m_i)))`.
//! An atom-wise readout gives one energy per atom, and
//! `E = s Σ_i readout(x_i) + Σ_i ε_{species(i)}` with a fixed scale `s` and per-species
//! reference energies `ε` ([`SchNetNormalization`]).
//!
//! The network sees positions only through the pair distances, so everything is
//! differentiated with respect to `r_ij` inside the tape and chained to Cartesian
//! forces and the virial outside it. The parameter gradient of a directional derivative
//! (force matching, a virial cotangent) comes from forward-mode tangents of the pair
//! distances carried through the network as taped ops, like the dense networks (see
//! [`crate::Mlp::param_vjp`]): exact, with one backward pass.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential};
use thermograd_neighbors::NeighborList;

use crate::bp::{add_model_evaluation, fm_residuals};
use crate::descriptors::Neighborhood;
use dfdx::tensor::TensorFromVec;

use crate::engine::{Dev, DevLayer, T2};
use crate::error::{check_len, config_error};
use crate::file::{decode, decode_bincode, encode, encode_bincode, expect_kind, Dtype, FileHeader};
use crate::schnet_engine::{DevBlock, DevSchNet, Graph, PairTangents, Request};
use crate::{
    Activation, Device, Frame, LabeledFrame, LossAndGradient, LossWeights, ModelFile, NnError,
    Result, Trainable,
};

/// Architecture of a [`SchNet`] potential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchNetConfig {
    /// Number of species (embedding rows).
    pub n_species: usize,
    /// Cutoff of the neighbourhood and of the filters (length units).
    pub cutoff: f64,
    /// Width of the atom features and of the filters.
    pub features: usize,
    /// Number of Gaussians of the radial basis (at least 2).
    pub n_rbf: usize,
    /// Number of interaction blocks.
    pub interactions: usize,
    /// Hidden widths of the atom-wise readout (`features → … → 1`).
    pub readout_hidden: Vec<usize>,
    /// Activation of the filter, update and readout networks; SchNet's choice is the
    /// shifted softplus. Use a smooth one (not ReLU) for MD.
    pub activation: Activation,
}

impl SchNetConfig {
    /// A small SchNet for `n_species` species: 64 features, 25 Gaussians, 3
    /// interactions, readout `64 → 32 → 1`, shifted softplus.
    pub fn standard(n_species: usize, cutoff: f64) -> Self {
        SchNetConfig {
            n_species,
            cutoff,
            features: 64,
            n_rbf: 25,
            interactions: 3,
            readout_hidden: vec![32],
            activation: Activation::ShiftedSoftplus,
        }
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        if self.n_species == 0 || self.features == 0 || self.readout_hidden.contains(&0) {
            return Err(config_error(
                "schnet widths",
                "species, features and readout widths must be positive",
            ));
        }
        if self.n_rbf < 2 {
            return Err(config_error("schnet n_rbf", "needs at least 2 Gaussians"));
        }
        if !(self.cutoff.is_finite() && self.cutoff > 0.0) {
            return Err(config_error(
                "schnet cutoff",
                format!("must be positive and finite, got {}", self.cutoff),
            ));
        }
        if self.checked_n_parameters().is_none() {
            return Err(config_error("schnet widths", "too many parameters"));
        }
        Ok(())
    }

    /// Shapes `(rows, cols)` of every parameter tensor in the flat layout (a bias has
    /// one row): embedding; per block filter1 W, b, filter2 W, b, in2f W, out1 W, b,
    /// out2 W, b; readout W, b per layer.
    fn shapes(&self) -> Vec<(usize, usize)> {
        let (f, k) = (self.features, self.n_rbf);
        let mut out = vec![(self.n_species, f)];
        for _ in 0..self.interactions {
            out.extend([(k, f), (1, f), (f, f), (1, f), (f, f)]);
            out.extend([(f, f), (1, f), (f, f), (1, f)]);
        }
        let mut widths = vec![f];
        widths.extend(&self.readout_hidden);
        widths.push(1);
        for w in widths.windows(2) {
            out.extend([(w[0], w[1]), (1, w[1])]);
        }
        out
    }

    fn checked_n_parameters(&self) -> Option<usize> {
        let mut total = self.n_species.checked_mul(self.features)?;
        let (f, k) = (self.features, self.n_rbf);
        let block = k
            .checked_mul(f)?
            .checked_add(f.checked_mul(f)?.checked_mul(4)?)?
            .checked_add(f.checked_mul(4)?)?;
        total = total.checked_add(block.checked_mul(self.interactions)?)?;
        let mut widths = vec![f];
        widths.extend(&self.readout_hidden);
        widths.push(1);
        for w in widths.windows(2) {
            total = total.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?)?;
        }
        Some(total)
    }

    /// Number of parameters.
    pub fn n_parameters(&self) -> usize {
        self.checked_n_parameters().unwrap_or(usize::MAX)
    }

    /// A potential with seeded random parameters: embedding `N(0, 1)`, weights LeCun
    /// normal `N(0, 1/fan_in)`, zero biases, unit energy scale and zero reference
    /// energies. The same seed gives the same model on every machine (ChaCha8).
    pub fn build(&self, seed: u64) -> Result<SchNet> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::with_capacity(self.n_parameters());
        for (t, &(rows, cols)) in self.shapes().iter().enumerate() {
            if rows == 1 && t > 0 {
                params.extend(std::iter::repeat_n(0.0, cols));
                continue;
            }
            let std = if t == 0 {
                1.0
            } else {
                (1.0 / rows as f64).sqrt()
            };
            let normal = Normal::new(0.0, std).expect("finite std");
            params.extend((0..rows * cols).map(|_| normal.sample(&mut rng)));
        }
        SchNet::from_parameters(
            self.clone(),
            params,
            SchNetNormalization::identity(self.n_species),
        )
    }

    fn summary(&self) -> String {
        format!(
            "{} species, r_c = {}, {} features, {} Gaussians, {} interactions, readout {:?}, {:?}",
            self.n_species,
            self.cutoff,
            self.features,
            self.n_rbf,
            self.interactions,
            self.readout_hidden,
            self.activation
        )
    }

    /// Centre spacing `Δμ` and exponent `γ = 1/(2Δμ²)` of the radial basis.
    fn basis(&self) -> (f64, f64) {
        let dmu = self.cutoff / (self.n_rbf - 1) as f64;
        (dmu, 0.5 / (dmu * dmu))
    }
}

/// The fixed affine map from the network's per-atom outputs to energies:
/// `E = energy_scale · Σ_i out_i + Σ_i atom_energy[species(i)]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchNetNormalization {
    /// Scale of the per-atom outputs (energy units).
    pub energy_scale: f64,
    /// Reference energy of each species (energy units).
    pub atom_energy: Vec<f64>,
}

impl SchNetNormalization {
    /// Unit scale, zero reference energies.
    pub fn identity(n_species: usize) -> Self {
        SchNetNormalization {
            energy_scale: 1.0,
            atom_energy: vec![0.0; n_species],
        }
    }

    fn validate(&self, n_species: usize) -> Result<()> {
        check_len("reference energies", n_species, self.atom_energy.len())?;
        let finite = self.atom_energy.iter().all(|v| v.is_finite());
        if !(self.energy_scale.is_finite() && self.energy_scale > 0.0 && finite) {
            return Err(config_error(
                "schnet normalization",
                "the energy scale must be positive and every value finite",
            ));
        }
        Ok(())
    }
}

/// A SchNet potential (Schütt et al. 2018): species embeddings refined by interaction
/// blocks of continuous-filter convolutions over the neighbourhood, an atom-wise readout
/// summed to the energy (architecture: [`SchNetConfig`]; output map:
/// [`SchNetNormalization`]). Forces and virials come from one backward pass to the pair
/// distances; [`SchNet::param_vjp`] gives exact parameter gradients of energies, forces
/// and virials. It implements [`Potential`], so it runs in MD and sums with a physical
/// prior, and [`Trainable`].
#[derive(Clone, Debug)]
pub struct SchNet {
    config: SchNetConfig,
    params: Vec<f64>,
    normalization: SchNetNormalization,
    net: DevSchNet,
}

impl PartialEq for SchNet {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.params == other.params
            && self.normalization == other.normalization
    }
}

/// A batch as directed pairs with their radial basis, ready for the taped pass.
///
/// The pairs the network sees (`center`, `neighbor`, `rbf`, `fc`) are the `r.len()`
/// real pairs followed by padding up to [`padded_pairs`]: dummy pairs of atom 0 with
/// itself whose cutoff function is exactly 0, so they add exact zeros everywhere
/// (the filter is multiplied by `fc`). Equal padded sizes on consecutive passes (an MD
/// run, where the pair count drifts by a fraction of a percent per step) let the
/// engine keep its buffers from pass to pass.
struct Prepared {
    species: Arc<Vec<usize>>,
    structure: Arc<Vec<usize>>,
    n_structures: usize,
    center: Arc<Vec<usize>>,
    neighbor: Arc<Vec<usize>>,
    /// Displacement centre → neighbour image, and its length (real pairs only).
    d: Vec<Vec3>,
    r: Vec<f64>,
    rbf: Vec<f64>,
    drbf: Vec<f64>,
    fc: Vec<f64>,
    dfc: Vec<f64>,
    /// First atom of each structure in the batch numbering.
    offsets: Vec<usize>,
}

/// The number of pairs the network sees for `n` real pairs: `n` rounded up to a
/// multiple of `max(256, 2^⌈log₂ n⌉ / 64)`, i.e. at most about 1.6 % more.
fn padded_pairs(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let granule = (n.next_power_of_two() / 64).max(256);
    n.div_ceil(granule) * granule
}

/// One structure to prepare: positions, species, box, and an optional Verlet list.
type FrameRef<'a> = (&'a [Vec3], &'a [u32], &'a SimBox, Option<&'a NeighborList>);

impl SchNet {
    /// A model from a flat parameter vector (layout of [`Trainable::parameters`]).
    pub fn from_parameters(
        config: SchNetConfig,
        params: Vec<f64>,
        normalization: SchNetNormalization,
    ) -> Result<Self> {
        config.validate()?;
        check_len("parameters", config.n_parameters(), params.len())?;
        if !params.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite { what: "parameter" });
        }
        normalization.validate(config.n_species)?;
        let net = build_net(&config, &params)?;
        Ok(SchNet {
            config,
            params,
            normalization,
            net,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &SchNetConfig {
        &self.config
    }

    /// The cutoff (length units).
    pub fn cutoff(&self) -> f64 {
        self.config.cutoff
    }

    /// The output scale and reference energies.
    pub fn normalization(&self) -> &SchNetNormalization {
        &self.normalization
    }

    /// Replaces the output scale and reference energies.
    pub fn set_normalization(&mut self, normalization: SchNetNormalization) -> Result<()> {
        normalization.validate(self.config.n_species)?;
        self.normalization = normalization;
        Ok(())
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        Device::Cpu
    }

    /// Sets the reference energies by least squares of the frame energies on their
    /// composition, and the scale to the standard deviation of the remaining energy
    /// per atom (1 when that is zero), as SchNetPack standardizes its targets.
    pub fn fit_energy_normalization(&mut self, data: &[LabeledFrame]) -> Result<()> {
        if data.is_empty() {
            return Err(config_error("energy normalization", "no frames"));
        }
        let s = self.config.n_species;
        let mut counts = nalgebra::DMatrix::<f64>::zeros(data.len(), s);
        let mut energies = nalgebra::DVector::<f64>::zeros(data.len());
        for (row, d) in data.iter().enumerate() {
            self.check_frame(&d.frame.positions, &d.frame.species)?;
            for &sp in &d.frame.species {
                counts[(row, sp as usize)] += 1.0;
            }
            energies[row] = d.energy;
        }
        let eps = counts
            .clone()
            .svd(true, true)
            .solve(&energies, 1e-12)
            .map_err(|e| config_error("energy normalization", e.to_string()))?;
        let mut residual_sq = 0.0;
        for (row, d) in data.iter().enumerate() {
            let n = d.frame.species.len().max(1) as f64;
            let fitted: f64 = (0..s).map(|k| counts[(row, k)] * eps[k]).sum();
            residual_sq += ((d.energy - fitted) / n).powi(2);
        }
        let std = (residual_sq / data.len() as f64).sqrt();
        // Energies linear in the composition leave only rounding behind.
        let typical = data
            .iter()
            .map(|d| (d.energy / d.frame.species.len().max(1) as f64).abs())
            .fold(1.0, f64::max);
        self.set_normalization(SchNetNormalization {
            energy_scale: if std > 1e-10 * typical && std.is_finite() {
                std
            } else {
                1.0
            },
            atom_energy: eps.iter().copied().collect(),
        })
    }

    fn check_frame(&self, positions: &[Vec3], species: &[u32]) -> Result<()> {
        check_len("species", positions.len(), species.len())?;
        let n_species = self.config.n_species;
        if let Some((atom, &s)) = species
            .iter()
            .enumerate()
            .find(|(_, &s)| s as usize >= n_species)
        {
            return Err(NnError::UnknownSpecies {
                atom,
                species: s,
                n_species,
            });
        }
        if positions
            .iter()
            .any(|r| !(r.x.is_finite() && r.y.is_finite() && r.z.is_finite()))
        {
            return Err(NnError::NonFinite { what: "position" });
        }
        Ok(())
    }

    fn prepare(&self, frames: &[FrameRef<'_>]) -> Result<Prepared> {
        let rc = self.config.cutoff;
        let (dmu, gamma) = self.config.basis();
        let k = self.config.n_rbf;
        let mut p = Prepared {
            species: Arc::new(Vec::new()),
            structure: Arc::new(Vec::new()),
            n_structures: frames.len(),
            center: Arc::new(Vec::new()),
            neighbor: Arc::new(Vec::new()),
            d: Vec::new(),
            r: Vec::new(),
            rbf: Vec::new(),
            drbf: Vec::new(),
            fc: Vec::new(),
            dfc: Vec::new(),
            offsets: Vec::with_capacity(frames.len()),
        };
        let (mut species, mut structure) = (Vec::new(), Vec::new());
        let (mut center, mut neighbor) = (Vec::new(), Vec::new());
        for (s, &(positions, sp, simbox, list)) in frames.iter().enumerate() {
            self.check_frame(positions, sp)?;
            let hood = match list {
                Some(list) => {
                    check_len(
                        "atoms in the neighbor list",
                        positions.len(),
                        list.n_atoms(),
                    )?;
                    Neighborhood::from_list(list, rc)?
                }
                None => Neighborhood::build(positions, simbox, rc)?,
            };
            let off = species.len();
            p.offsets.push(off);
            species.extend(sp.iter().map(|&v| v as usize));
            structure.extend(std::iter::repeat_n(s, sp.len()));
            for i in 0..positions.len() {
                for e in hood.neighbors(i) {
                    if e.r >= rc {
                        continue;
                    }
                    center.push(off + i);
                    neighbor.push(off + e.j as usize);
                    p.d.push(e.d);
                    p.r.push(e.r);
                }
            }
        }
        p.rbf.reserve(p.r.len() * k);
        p.drbf.reserve(p.r.len() * k);
        for &r in &p.r {
            for m in 0..k {
                let x = r - m as f64 * dmu;
                let e = (-gamma * x * x).exp();
                p.rbf.push(e);
                p.drbf.push(-2.0 * gamma * x * e);
            }
            let (sin, cos) = (std::f64::consts::PI * r / rc).sin_cos();
            p.fc.push(0.5 * (cos + 1.0));
            p.dfc.push(-0.5 * std::f64::consts::PI / rc * sin);
        }
        if !species.is_empty() {
            let padded = padded_pairs(p.r.len());
            center.resize(padded, 0);
            neighbor.resize(padded, 0);
            p.rbf.resize(padded * k, 0.0);
            p.fc.resize(padded, 0.0);
        }
        p.species = Arc::new(species);
        p.structure = Arc::new(structure);
        p.center = Arc::new(center);
        p.neighbor = Arc::new(neighbor);
        Ok(p)
    }

    fn prepare_frames(&self, frames: &[Frame]) -> Result<Prepared> {
        let refs: Vec<FrameRef<'_>> = frames
            .iter()
            .map(|f| (&f.positions[..], &f.species[..], &f.simbox, None))
            .collect();
        self.prepare(&refs)
    }

    fn graph<'a>(&self, p: &'a Prepared) -> Graph<'a> {
        Graph {
            species: p.species.clone(),
            structure: p.structure.clone(),
            n_structures: p.n_structures,
            center: p.center.clone(),
            neighbor: p.neighbor.clone(),
            rbf: &p.rbf,
            fc: &p.fc,
            n_rbf: self.config.n_rbf,
            scale: self.normalization.energy_scale,
        }
    }

    /// Adds the reference energies to the network's structure energies.
    fn shift_energies(&self, p: &Prepared, energies: &mut [f64]) {
        for (&s, &sp) in p.structure.iter().zip(p.species.iter()) {
            energies[s] += self.normalization.atom_energy[sp];
        }
    }

    fn evaluate_prepared(&self, p: &Prepared) -> Result<Vec<Evaluation>> {
        let out = self.net.run(
            &self.graph(p),
            &Request {
                energy_weights: None,
                tangents: None,
                input_grad: true,
                param_grad: false,
            },
        )?;
        let mut energies = out.energies;
        self.shift_energies(p, &mut energies);
        let k = self.config.n_rbf;
        let mut evals: Vec<Evaluation> = (0..p.n_structures)
            .map(|s| {
                let end = p.offsets.get(s + 1).copied().unwrap_or(p.species.len());
                let mut e = Evaluation::zeros(end - p.offsets[s]);
                e.energy = energies[s];
                e
            })
            .collect();
        for q in 0..p.r.len() {
            // ∂E/∂r of this pair, then onto both atoms along the unit vector.
            let dr: f64 = (0..k)
                .map(|m| out.d_rbf[q * k + m] * p.drbf[q * k + m])
                .sum::<f64>()
                + out.d_fc[q] * p.dfc[q];
            let (c, nb) = (p.center[q], p.neighbor[q]);
            let s = p.structure[c];
            let off = p.offsets[s];
            let u = p.d[q] / p.r[q];
            let ev = &mut evals[s];
            ev.forces[c - off] += dr * u;
            ev.forces[nb - off] -= dr * u;
            ev.virial -= dr * p.d[q] * u.transpose();
        }
        Ok(evals)
    }

    /// Energy (energy units), forces (energy/length) and virial `Σ x_k ⊗ F_k` of one
    /// configuration; `list`, if given, is an up-to-date Verlet list (half or full) with
    /// a cutoff of at least [`SchNet::cutoff`].
    pub fn evaluate(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Evaluation> {
        let p = self.prepare(&[(positions, species, simbox, list)])?;
        Ok(self.evaluate_prepared(&p)?.remove(0))
    }

    /// Energies, forces and virials of many frames of different sizes, as one graph.
    pub fn evaluate_batch(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        self.evaluate_prepared(&self.prepare_frames(frames)?)
    }

    /// Energies of many frames (no forces).
    pub fn energies(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.prepare_frames(frames)?;
        let mut e = self
            .net
            .run(
                &self.graph(&p),
                &Request {
                    energy_weights: None,
                    tangents: None,
                    input_grad: false,
                    param_grad: false,
                },
            )?
            .energies;
        self.shift_energies(&p, &mut e);
        Ok(e)
    }

    /// Energies and the gradient with respect to the parameters of
    /// `Σ_s a_s E_s + Σ_s Σ_k v_sk · ∇_k E_s + Σ_s C_s : W_s`, with `a = energy_weights`,
    /// optional `v = directions` (a vector per atom per frame) and optional virial
    /// cotangents `C` (`W = Σ x_k ⊗ F_k`). The last two terms are directional
    /// derivatives along pair-distance tangents
    /// `ṙ_ij = û_ij·(v_j − v_i) − d_ijᵀ C d_ij / r_ij`, carried forward through the
    /// network, so one backward pass gives all of it exactly.
    pub fn param_vjp(
        &self,
        frames: &[Frame],
        energy_weights: &[f64],
        directions: Option<&[Vec<Vec3>]>,
        virial: Option<&[Mat3]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        check_len("energy weights", frames.len(), energy_weights.len())?;
        if let Some(v) = directions {
            check_len("force directions", frames.len(), v.len())?;
            for (f, v) in frames.iter().zip(v) {
                check_len("direction vectors", f.positions.len(), v.len())?;
            }
        }
        if let Some(c) = virial {
            check_len("virial cotangents", frames.len(), c.len())?;
        }
        if frames.is_empty() {
            return Ok((Vec::new(), vec![0.0; self.n_parameters()]));
        }
        let p = self.prepare_frames(frames)?;
        self.param_vjp_prepared(&p, energy_weights, directions, virial)
    }

    fn param_vjp_prepared(
        &self,
        p: &Prepared,
        energy_weights: &[f64],
        directions: Option<&[Vec<Vec3>]>,
        virial: Option<&[Mat3]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let k = self.config.n_rbf;
        let tangent = directions.is_some() || virial.is_some();
        let (mut trbf, mut tfc) = (Vec::new(), Vec::new());
        if tangent {
            trbf.reserve(p.r.len() * k);
            tfc.reserve(p.r.len());
            for q in 0..p.r.len() {
                let (c, nb) = (p.center[q], p.neighbor[q]);
                let s = p.structure[c];
                let mut rdot = 0.0;
                if let Some(v) = directions {
                    let off = p.offsets[s];
                    rdot += p.d[q].dot(&(v[s][nb - off] - v[s][c - off])) / p.r[q];
                }
                if let Some(cv) = virial {
                    rdot -= p.d[q].dot(&(cv[s] * p.d[q])) / p.r[q];
                }
                trbf.extend((0..k).map(|m| p.drbf[q * k + m] * rdot));
                tfc.push(p.dfc[q] * rdot);
            }
            // The padding pairs do not move.
            trbf.resize(p.rbf.len(), 0.0);
            tfc.resize(p.fc.len(), 0.0);
        }
        let out = self.net.run(
            &self.graph(p),
            &Request {
                energy_weights: Some(energy_weights),
                tangents: tangent.then_some(PairTangents {
                    rbf: &trbf,
                    fc: &tfc,
                }),
                input_grad: false,
                param_grad: true,
            },
        )?;
        let mut energies = out.energies;
        self.shift_energies(p, &mut energies);
        Ok((energies, out.param_grad))
    }

    /// The force-matching loss of a batch and its exact parameter gradient (the loss
    /// of [`LossAndGradient`]): one evaluation and one tangent pass over the same
    /// pairs.
    pub fn force_matching(
        &self,
        data: &[LabeledFrame],
        weights: LossWeights,
    ) -> Result<LossAndGradient> {
        if data.is_empty() {
            return Err(config_error("force-matching batch", "is empty"));
        }
        for d in data {
            check_len("reference forces", d.frame.positions.len(), d.forces.len())?;
        }
        let refs: Vec<FrameRef<'_>> = data
            .iter()
            .map(|d| {
                let f = &d.frame;
                (&f.positions[..], &f.species[..], &f.simbox, None)
            })
            .collect();
        let p = self.prepare(&refs)?;
        let evals = self.evaluate_prepared(&p)?;
        let r = fm_residuals(data, &evals, weights);
        let (_, gradient) =
            self.param_vjp_prepared(&p, &r.energy_weights, Some(&r.directions), None)?;
        Ok(r.with_gradient(gradient))
    }
}

/// Reads consecutive slices of a flat parameter vector.
struct Cursor<'a> {
    params: &'a [f64],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [f64] {
        let s = &self.params[self.at..self.at + n];
        self.at += n;
        s
    }
}

fn build_net(config: &SchNetConfig, params: &[f64]) -> Result<DevSchNet> {
    let dev = Dev::default();
    // Walk the flat layout of `SchNetConfig::shapes` in order.
    let (f, k) = (config.features, config.n_rbf);
    let mut cursor = Cursor { params, at: 0 };
    let embedding: T2 = dev.try_tensor_from_vec(
        cursor.take(config.n_species * f).to_vec(),
        (config.n_species, f),
    )?;
    let layer = |cursor: &mut Cursor<'_>, i: usize, o: usize| {
        let w = cursor.take(i * o);
        let b = cursor.take(o);
        DevLayer::new(&dev, i, o, w, b)
    };
    let mut blocks = Vec::with_capacity(config.interactions);
    for _ in 0..config.interactions {
        let filter1 = layer(&mut cursor, k, f)?;
        let filter2 = layer(&mut cursor, f, f)?;
        let in2f: T2 = dev.try_tensor_from_vec(cursor.take(f * f).to_vec(), (f, f))?;
        let out1 = layer(&mut cursor, f, f)?;
        let out2 = layer(&mut cursor, f, f)?;
        blocks.push(DevBlock {
            filter1,
            filter2,
            in2f,
            out1,
            out2,
        });
    }
    let mut widths = vec![f];
    widths.extend(&config.readout_hidden);
    widths.push(1);
    let readout = widths
        .windows(2)
        .map(|w| layer(&mut cursor, w[0], w[1]))
        .collect::<Result<Vec<_>>>()?;
    Ok(DevSchNet {
        dev: dev.clone(),
        embedding,
        blocks,
        readout,
        activation: config.activation,
        last_shape: Default::default(),
    })
}

impl Potential for SchNet {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.cutoff)
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        add_model_evaluation(self.name(), config, out, || {
            self.evaluate(
                config.positions,
                config.species,
                config.simbox,
                config.neighbors,
            )
        })
    }

    fn name(&self) -> &str {
        "schnet"
    }
}

impl Trainable for SchNet {
    fn n_parameters(&self) -> usize {
        self.params.len()
    }

    fn parameters(&self) -> Vec<f64> {
        self.params.clone()
    }

    fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        check_len("parameters", self.params.len(), parameters.len())?;
        if !parameters.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite { what: "parameter" });
        }
        self.params.copy_from_slice(parameters);
        self.net = build_net(&self.config, &self.params)?;
        Ok(())
    }
}

impl ModelFile for SchNet {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = FileHeader {
            kind: "schnet".into(),
            architecture: encode_bincode(&self.config)?,
            summary: self.config.summary(),
            dtype: Dtype::F64,
            normalization: encode_bincode(&self.normalization)?,
            n_parameters: self.params.len() as u64,
        };
        encode(&header, &self.params)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, parameters) = decode(bytes)?;
        expect_kind(&header, "schnet")?;
        let config: SchNetConfig = decode_bincode(&header.architecture, "architecture")?;
        let normalization: SchNetNormalization =
            decode_bincode(&header.normalization, "normalization")?;
        let bad = |e: NnError| NnError::CorruptFile {
            reason: format!("inconsistent architecture and parameters: {e}"),
        };
        config.validate().map_err(bad)?;
        if config.n_parameters() != parameters.len() {
            return Err(NnError::CorruptFile {
                reason: format!(
                    "the architecture has {} parameters, the file holds {}",
                    config.n_parameters(),
                    parameters.len()
                ),
            });
        }
        SchNet::from_parameters(config, parameters, normalization).map_err(bad)
    }
}

impl SchNet {
    /// Loads a potential and checks its architecture ([`NnError::WrongArchitecture`]
    /// inside an [`NnError::File`] naming `path` otherwise).
    pub fn load_expecting(path: &std::path::Path, expected: &SchNetConfig) -> Result<Self> {
        let m = <Self as ModelFile>::load(path)?;
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
