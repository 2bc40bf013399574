//! Behler–Parrinello neural-network potentials (Behler & Parrinello, PRL 98, 146401,
//! 2007): atom-centred symmetry functions, one network per species, atomic energies
//! summed.

use std::sync::Arc;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential};
use thermograd_neighbors::NeighborList;

use crate::descriptors::{Neighborhood, SymmetryFunctions};
use crate::engine::{structure_energies, Group};
use crate::error::{check_len, config_error};
use crate::file::{
    decode, decode_bincode, encode, encode_bincode, expect_kind_any_precision, load_with_precision,
    Dtype, FileHeader,
};
use crate::{
    Activation, Matrix, Mlp, MlpConfig, ModelFile, NnError, Normalization, Result, Trainable,
};

/// Architecture of a [`BehlerParrinello`] potential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BehlerParrinelloConfig {
    /// The descriptors (and with them cutoff and number of species).
    pub descriptors: SymmetryFunctions,
    /// Hidden widths of every species' network.
    pub hidden: Vec<usize>,
    /// Hidden activation; use a smooth one (not ReLU) for MD.
    pub activation: Activation,
}

impl BehlerParrinelloConfig {
    /// Validates the configuration.
    pub fn validate(&self) -> Result<()> {
        self.descriptors.validate()?;
        self.net_config().validate()
    }

    fn net_config(&self) -> MlpConfig {
        MlpConfig {
            inputs: self.descriptors.dim(),
            hidden: self.hidden.clone(),
            outputs: 1,
            activation: self.activation,
        }
    }

    /// A potential with seeded random networks (one per species).
    pub fn build(&self, seed: u64) -> Result<BehlerParrinello> {
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nets = (0..self.descriptors.n_species)
            .map(|_| self.net_config().build(rng.next_u64()))
            .collect::<Result<Vec<_>>>()?;
        Ok(BehlerParrinello {
            config: self.clone(),
            nets,
        })
    }

    fn summary(&self) -> String {
        format!(
            "{} species, {} descriptors, r_c = {}, hidden {:?}, {:?}",
            self.descriptors.n_species,
            self.descriptors.dim(),
            self.descriptors.cutoff,
            self.hidden,
            self.activation
        )
    }
}

/// A configuration to evaluate in a batch: positions (length units), species and box.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Atom positions (length units).
    pub positions: Vec<Vec3>,
    /// Species index of each atom.
    pub species: Vec<u32>,
    /// The box.
    pub simbox: SimBox,
}

/// A frame with reference energy and forces, for force matching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabeledFrame {
    /// The configuration.
    pub frame: Frame,
    /// Reference energy (energy units).
    pub energy: f64,
    /// Reference forces (energy/length units).
    pub forces: Vec<Vec3>,
}

/// Weights of the terms of the force-matching loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    /// Weight of the mean squared energy error per atom.
    pub energy: f64,
    /// Weight of the mean squared force-component error.
    pub forces: f64,
}

/// The force-matching loss of a batch and its exact parameter gradient.
///
/// `loss = w_E · mean_s ((E_s − E_s^ref) / N_s)² + w_F · mean_{k,a} (F_ka − F_ka^ref)²`.
#[derive(Clone, Debug, PartialEq)]
pub struct LossAndGradient {
    /// The loss.
    pub loss: f64,
    /// Root mean square energy error per atom (energy units).
    pub energy_rmse: f64,
    /// Root mean square force-component error (energy/length units).
    pub force_rmse: f64,
    /// ∂loss/∂θ in the layout of [`Trainable::parameters`].
    pub gradient: Vec<f64>,
}

/// A Behler–Parrinello potential: `E = Σ_i NN_{s(i)}(G_i)`, with `G_i` the symmetry
/// functions of atom `i` and one network per species.
///
/// Forces are `−(∂E/∂G)·(∂G/∂r)`: the networks' input gradients (one taped backward
/// pass) contracted on the fly with the analytic descriptor derivatives. It implements
/// [`Potential`], so it runs in MD and sums with a physical prior in a
/// [`thermograd_md::PotentialSum`] (Δ-learning).
#[derive(Clone, Debug, PartialEq)]
pub struct BehlerParrinello {
    config: BehlerParrinelloConfig,
    nets: Vec<Mlp>,
}

struct Prepared {
    hood: Neighborhood,
    g: Matrix,
}

impl BehlerParrinello {
    /// The architecture.
    pub fn config(&self) -> &BehlerParrinelloConfig {
        &self.config
    }

    /// The network of each species.
    pub fn networks(&self) -> &[Mlp] {
        &self.nets
    }

    /// The network of each species, mutable (e.g. to set normalizations).
    pub fn networks_mut(&mut self) -> &mut [Mlp] {
        &mut self.nets
    }

    /// The cutoff (length units).
    pub fn cutoff(&self) -> f64 {
        self.config.descriptors.cutoff
    }

    /// The precision the networks compute in: that of the first species' network
    /// (they share one unless changed one by one through
    /// [`BehlerParrinello::networks_mut`]). Descriptors and their derivatives are
    /// always `f64`.
    pub fn precision(&self) -> Dtype {
        self.nets[0].precision()
    }

    /// The same potential with every network computing in `precision` (see
    /// [`Mlp::with_precision`]; going to `f32` rounds the parameters).
    pub fn with_precision(mut self, precision: Dtype) -> Result<Self> {
        self.nets = self
            .nets
            .into_iter()
            .map(|n| n.with_precision(precision))
            .collect::<Result<_>>()?;
        Ok(self)
    }

    fn check_frame(&self, positions: &[Vec3], species: &[u32]) -> Result<()> {
        check_len("species", positions.len(), species.len())?;
        let n_species = self.config.descriptors.n_species;
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

    fn prepare(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Prepared> {
        self.check_frame(positions, species)?;
        let rc = self.cutoff();
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
        let g = self.config.descriptors.compute(&hood, species)?;
        Ok(Prepared { hood, g })
    }

    /// Rows of each species over a batch: `(frame, atom)` per row.
    fn species_rows(&self, frames: &[(&[u32], &Prepared)]) -> Vec<Vec<(usize, usize)>> {
        let mut rows = vec![Vec::new(); self.config.descriptors.n_species];
        for (f, (species, _)) in frames.iter().enumerate() {
            for (i, &s) in species.iter().enumerate() {
                rows[s as usize].push((f, i));
            }
        }
        rows
    }

    fn gather(rows: &[(usize, usize)], mats: &[&Matrix], cols: usize) -> Matrix {
        let mut x = Matrix::zeros(rows.len(), cols);
        for (r, &(f, i)) in rows.iter().enumerate() {
            x.row_mut(r).copy_from_slice(mats[f].row(i));
        }
        x
    }

    /// Energies, forces and virials of several frames; the networks run once per
    /// species over all atoms of the batch.
    fn evaluate_prepared(&self, frames: &[(&[u32], &Prepared)]) -> Result<Vec<Evaluation>> {
        let d = self.config.descriptors.dim();
        let mut out: Vec<Evaluation> = frames
            .iter()
            .map(|(s, _)| Evaluation::zeros(s.len()))
            .collect();
        let mut de_dg: Vec<Matrix> = frames
            .iter()
            .map(|(s, _)| Matrix::zeros(s.len(), d))
            .collect();
        let gs: Vec<&Matrix> = frames.iter().map(|(_, p)| &p.g).collect();
        for (s, rows) in self.species_rows(frames).iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let x = Self::gather(rows, &gs, d);
            let ones = Matrix::new(rows.len(), 1, vec![1.0; rows.len()])?;
            let (y, grad) = self.nets[s].input_vjp(&x, &ones)?;
            for (r, &(f, i)) in rows.iter().enumerate() {
                out[f].energy += y.data[r];
                de_dg[f].row_mut(i).copy_from_slice(grad.row(r));
            }
        }
        for ((e, (species, p)), lam) in out.iter_mut().zip(frames).zip(&de_dg) {
            let (forces, virial) = self.config.descriptors.forces(&p.hood, species, lam);
            e.forces = forces;
            e.virial = virial;
        }
        Ok(out)
    }

    /// Energy (energy units), forces (energy/length) and virial `Σ x_k ⊗ F_k` of one
    /// configuration; `list`, if given, is an up-to-date Verlet list (half or full) with
    /// a cutoff of at least [`BehlerParrinello::cutoff`].
    pub fn evaluate(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Evaluation> {
        let p = self.prepare(positions, species, simbox, list)?;
        Ok(self.evaluate_prepared(&[(species, &p)])?.remove(0))
    }

    /// Energies, forces and virials of many frames of different sizes (batched: one
    /// network pass per species over the whole batch).
    pub fn evaluate_batch(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        let prepared = frames
            .iter()
            .map(|f| self.prepare(&f.positions, &f.species, &f.simbox, None))
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<_> = frames
            .iter()
            .zip(&prepared)
            .map(|(f, p)| (&f.species[..], p))
            .collect();
        self.evaluate_prepared(&views)
    }

    /// Energies of many frames of different sizes: atomic energies from one network
    /// pass per species, summed per frame by a taped segment sum.
    pub fn energies(&self, frames: &[Frame]) -> Result<Vec<f64>> {
        let prepared = self.prepare_all(frames)?;
        Ok(self.energies_and_gradient(frames, &prepared, None)?.0)
    }

    fn prepare_all(&self, frames: &[Frame]) -> Result<Vec<Prepared>> {
        frames
            .iter()
            .map(|f| self.prepare(&f.positions, &f.species, &f.simbox, None))
            .collect()
    }

    fn energies_and_gradient(
        &self,
        frames: &[Frame],
        prepared: &[Prepared],
        weights: Option<&[f64]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let d = self.config.descriptors.dim();
        let views: Vec<_> = frames
            .iter()
            .zip(prepared)
            .map(|(f, p)| (&f.species[..], p))
            .collect();
        let gs: Vec<&Matrix> = prepared.iter().map(|p| &p.g).collect();
        let rows = self.species_rows(&views);
        let mut inputs = Vec::new();
        let mut shifts = vec![0.0; frames.len()];
        let mut used = Vec::new();
        for (s, rows) in rows.iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let x = self.nets[s].normalized_inputs(&Self::gather(rows, &gs, d));
            let (scale, shift) = self.nets[s].scalar_output_affine();
            for &(f, _) in rows {
                shifts[f] += shift;
            }
            let segments = Arc::new(rows.iter().map(|&(f, _)| f).collect::<Vec<_>>());
            inputs.push((s, x, rows.len(), scale, segments));
            used.push(s);
        }
        let groups: Vec<Group<'_>> = inputs
            .iter()
            .map(|(s, x, n, scale, segments)| Group {
                net: self.nets[*s].dev_net(),
                x,
                rows: *n,
                cols: d,
                scale: *scale,
                segments: segments.clone(),
            })
            .collect();
        let dev = self.nets[0].dfdx_device();
        let (mut energies, grads) = structure_energies(dev, &groups, frames.len(), weights)?;
        for (e, s) in energies.iter_mut().zip(&shifts) {
            *e += s;
        }
        let mut gradient = Vec::new();
        if weights.is_some() {
            let mut per_species: Vec<Option<Vec<f64>>> = vec![None; self.nets.len()];
            for (s, g) in used.into_iter().zip(grads) {
                per_species[s] = Some(g);
            }
            for (net, g) in self.nets.iter().zip(per_species) {
                gradient.extend(g.unwrap_or_else(|| vec![0.0; net.n_parameters()]));
            }
        }
        Ok((energies, gradient))
    }

    /// Energies and the gradient with respect to the parameters of
    /// `Σ_s a_s E_s + Σ_s Σ_k v_sk · ∇_k E_s`, with `a = energy_weights` and, if given,
    /// `v = directions` (one vector per atom per frame). The second term is carried by
    /// forward-mode tangents through the networks, so one backward pass gives it
    /// exactly: force matching, relative entropy and reweighting gradients are all of
    /// this form.
    pub fn param_vjp(
        &self,
        frames: &[Frame],
        energy_weights: &[f64],
        directions: Option<&[Vec<Vec3>]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let prepared = self.prepare_all(frames)?;
        self.param_vjp_prepared(frames, &prepared, energy_weights, directions)
    }

    fn param_vjp_prepared(
        &self,
        frames: &[Frame],
        prepared: &[Prepared],
        energy_weights: &[f64],
        directions: Option<&[Vec<Vec3>]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        check_len("energy weights", frames.len(), energy_weights.len())?;
        let Some(dirs) = directions else {
            return self.energies_and_gradient(frames, prepared, Some(energy_weights));
        };
        check_len("force directions", frames.len(), dirs.len())?;
        let d = self.config.descriptors.dim();
        let mut tangents = Vec::with_capacity(frames.len());
        for ((f, p), v) in frames.iter().zip(prepared).zip(dirs) {
            check_len("direction vectors", f.positions.len(), v.len())?;
            tangents.push(self.config.descriptors.tangents(&p.hood, &f.species, v));
        }
        let views: Vec<_> = frames
            .iter()
            .zip(prepared)
            .map(|(f, p)| (&f.species[..], p))
            .collect();
        let gs: Vec<&Matrix> = prepared.iter().map(|p| &p.g).collect();
        let ts: Vec<&Matrix> = tangents.iter().collect();
        let mut energies = vec![0.0; frames.len()];
        let mut gradient = Vec::with_capacity(self.n_parameters());
        for (s, rows) in self.species_rows(&views).iter().enumerate() {
            if rows.is_empty() {
                gradient.extend(vec![0.0; self.nets[s].n_parameters()]);
                continue;
            }
            let x = Self::gather(rows, &gs, d);
            let t = Self::gather(rows, &ts, d);
            let cot_y = Matrix::new(
                rows.len(),
                1,
                rows.iter().map(|&(f, _)| energy_weights[f]).collect(),
            )?;
            let ones = Matrix::new(rows.len(), 1, vec![1.0; rows.len()])?;
            let out = self.nets[s].param_vjp(&x, &cot_y, Some((&t, &ones)))?;
            for (r, &(f, _)) in rows.iter().enumerate() {
                energies[f] += out.y.data[r];
            }
            gradient.extend(out.gradient);
        }
        Ok((energies, gradient))
    }

    /// The force-matching loss of a batch and its exact parameter gradient: one
    /// batched evaluation (energies, forces) and one tangent pass.
    pub fn force_matching(
        &self,
        data: &[LabeledFrame],
        weights: LossWeights,
    ) -> Result<LossAndGradient> {
        if data.is_empty() {
            return Err(config_error("force-matching batch", "is empty"));
        }
        let frames: Vec<Frame> = data.iter().map(|d| d.frame.clone()).collect();
        for d in data {
            check_len("reference forces", d.frame.positions.len(), d.forces.len())?;
        }
        let prepared = self.prepare_all(&frames)?;
        let views: Vec<_> = frames
            .iter()
            .zip(&prepared)
            .map(|(f, p)| (&f.species[..], p))
            .collect();
        let evals = self.evaluate_prepared(&views)?;
        let r = fm_residuals(data, &evals, weights);
        let (_, gradient) =
            self.param_vjp_prepared(&frames, &prepared, &r.energy_weights, Some(&r.directions))?;
        Ok(r.with_gradient(gradient))
    }

    /// Sets each species network's input normalization to the mean and standard
    /// deviation of its descriptors over `frames` (keeps output scaling).
    pub fn fit_input_normalization(&mut self, frames: &[Frame]) -> Result<()> {
        let prepared = self.prepare_all(frames)?;
        let d = self.config.descriptors.dim();
        let views: Vec<_> = frames
            .iter()
            .zip(&prepared)
            .map(|(f, p)| (&f.species[..], p))
            .collect();
        let gs: Vec<&Matrix> = prepared.iter().map(|p| &p.g).collect();
        for (s, rows) in self.species_rows(&views).iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let x = Self::gather(rows, &gs, d);
            let fitted = Normalization::from_inputs(&x, 1);
            let mut n = self.nets[s].normalization().clone();
            n.input_shift = fitted.input_shift;
            n.input_scale = fitted.input_scale;
            self.nets[s].set_normalization(n)?;
        }
        Ok(())
    }

    /// The descriptors of one configuration (`n_atoms × dim`).
    pub fn descriptors(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
    ) -> Result<Matrix> {
        Ok(self.prepare(positions, species, simbox, None)?.g)
    }
}

impl Potential for BehlerParrinello {
    fn cutoff(&self) -> Option<f64> {
        Some(self.config.descriptors.cutoff)
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
        "behler_parrinello"
    }
}

impl Trainable for BehlerParrinello {
    fn n_parameters(&self) -> usize {
        self.nets.iter().map(|n| n.n_parameters()).sum()
    }

    fn parameters(&self) -> Vec<f64> {
        self.nets.iter().flat_map(|n| n.parameters()).collect()
    }

    fn set_parameters(&mut self, parameters: &[f64]) -> Result<()> {
        check_len("parameters", self.n_parameters(), parameters.len())?;
        let mut at = 0;
        for net in &mut self.nets {
            let k = net.n_parameters();
            net.set_parameters(&parameters[at..at + k])?;
            at += k;
        }
        Ok(())
    }
}

impl ModelFile for BehlerParrinello {
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let dtype = self.precision();
        if self.nets.iter().any(|n| n.precision() != dtype) {
            return Err(config_error(
                "behler-parrinello precision",
                "a model file holds one precision, but the species' networks differ; \
                 set one with `with_precision`",
            ));
        }
        let norms: Vec<Normalization> = self
            .nets
            .iter()
            .map(|n| n.normalization().clone())
            .collect();
        let header = FileHeader {
            kind: "behler_parrinello".into(),
            architecture: encode_bincode(&self.config)?,
            summary: self.config.summary(),
            dtype,
            normalization: encode_bincode(&norms)?,
            n_parameters: self.n_parameters() as u64,
        };
        encode(&header, &self.parameters())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, parameters) = decode(bytes)?;
        let precision = expect_kind_any_precision(&header, &parameters, "behler_parrinello")?;
        let config: BehlerParrinelloConfig = decode_bincode(&header.architecture, "architecture")?;
        let norms: Vec<Normalization> = decode_bincode(&header.normalization, "normalization")?;
        let bad = |e: NnError| NnError::CorruptFile {
            reason: format!("inconsistent architecture and parameters: {e}"),
        };
        config.validate().map_err(bad)?;
        let net_config = config.net_config();
        let k = net_config.checked_n_parameters().unwrap_or(usize::MAX);
        let s = config.descriptors.n_species;
        if norms.len() != s || k.checked_mul(s) != Some(parameters.len()) {
            return Err(NnError::CorruptFile {
                reason: "parameter or normalization count does not fit the architecture".into(),
            });
        }
        let nets = norms
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                net_config
                    .with_parameters(&parameters[i * k..(i + 1) * k], n)?
                    .with_precision(precision)
            })
            .collect::<Result<Vec<_>>>()
            .map_err(bad)?;
        Ok(BehlerParrinello { config, nets })
    }
}

impl BehlerParrinello {
    /// Loads an `f64` potential and checks its architecture ([`NnError::WrongDtype`]
    /// for a file of another precision, [`NnError::WrongArchitecture`] for another
    /// architecture, each inside an [`NnError::File`] naming `path`).
    pub fn load_expecting(
        path: &std::path::Path,
        expected: &BehlerParrinelloConfig,
    ) -> Result<Self> {
        Self::load_expecting_precision(path, expected, Dtype::F64)
    }

    /// [`BehlerParrinello::load_expecting`] for a potential of precision `precision`.
    pub fn load_expecting_precision(
        path: &std::path::Path,
        expected: &BehlerParrinelloConfig,
        precision: Dtype,
    ) -> Result<Self> {
        let m: Self = load_with_precision(path, precision)?;
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

/// The force-matching loss of a batch from the model's evaluations, and the cotangents
/// of its gradient: `∂loss/∂E_s` per frame and the force directions `v_sk` with
/// `∂loss/∂θ = ∂/∂θ [Σ a_s E_s + Σ v_sk·∇_k E_s]`.
pub(crate) struct FmResiduals {
    loss: f64,
    energy_rmse: f64,
    force_rmse: f64,
    pub energy_weights: Vec<f64>,
    pub directions: Vec<Vec<Vec3>>,
}

impl FmResiduals {
    pub(crate) fn with_gradient(self, gradient: Vec<f64>) -> LossAndGradient {
        LossAndGradient {
            loss: self.loss,
            energy_rmse: self.energy_rmse,
            force_rmse: self.force_rmse,
            gradient,
        }
    }
}

/// See [`FmResiduals`]; the loss is that of [`LossAndGradient`].
pub(crate) fn fm_residuals(
    data: &[LabeledFrame],
    evals: &[Evaluation],
    weights: LossWeights,
) -> FmResiduals {
    let b = data.len() as f64;
    let n_tot: usize = data.iter().map(|d| d.forces.len()).sum();
    let n_comp = (3 * n_tot).max(1) as f64;
    let (mut e_sq, mut f_sq) = (0.0, 0.0);
    let mut energy_weights = Vec::with_capacity(data.len());
    let mut directions = Vec::with_capacity(data.len());
    for (d, ev) in data.iter().zip(evals) {
        let n = d.forces.len().max(1) as f64;
        let de = (ev.energy - d.energy) / n;
        e_sq += de * de;
        energy_weights.push(2.0 * weights.energy * de / (b * n));
        let mut v = Vec::with_capacity(d.forces.len());
        for (f, fr) in ev.forces.iter().zip(&d.forces) {
            let r = f - fr;
            f_sq += r.norm_squared();
            // ∂loss/∂F is 2 w r / n; F = −∇E, so the direction is minus that.
            v.push(-2.0 * weights.forces * r / n_comp);
        }
        directions.push(v);
    }
    FmResiduals {
        loss: weights.energy * e_sq / b + weights.forces * f_sq / n_comp,
        energy_rmse: (e_sq / b).sqrt(),
        force_rmse: (f_sq / n_comp).sqrt(),
        energy_weights,
        directions,
    }
}

/// `Potential::add_to` of a network potential: checks the force buffer, evaluates and
/// adds energy, forces and virial (errors are reported under `name`).
pub(crate) fn add_model_evaluation(
    name: &str,
    config: &Configuration<'_>,
    out: &mut Evaluation,
    evaluate: impl FnOnce() -> Result<Evaluation>,
) -> thermograd_md::Result<()> {
    out.check_atoms(config.positions.len())?;
    let e = evaluate().map_err(|e| e.into_md(name))?;
    out.energy += e.energy;
    for (a, b) in out.forces.iter_mut().zip(&e.forces) {
        *a += b;
    }
    out.virial += e.virial;
    Ok(())
}
