//! Committees (ensembles) of independently trained models: the mean is the
//! prediction, the spread across members an estimate of the model's (epistemic)
//! uncertainty.

use thermograd_cv::{CollectiveVariable, CvValue};
use thermograd_geometry::{SimBox, Vec3};
use thermograd_md::{Configuration, Evaluation, Potential};
use thermograd_neighbors::NeighborList;

use crate::bp::add_model_evaluation;
use crate::error::config_error;
use crate::{BehlerParrinello, CvSurrogate, Frame, NnError, Result, SchNet};

/// A committee of models of one kind (network potentials, [`CommitteePotential`], or
/// [`CvSurrogate`]s). Standard deviations are across members with the `1/(M − 1)`
/// normalization (zero for a single member).
#[derive(Clone, Debug, PartialEq)]
pub struct Committee<M> {
    members: Vec<M>,
}

/// Mean and spread of a committee of potentials on one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitteeEvaluation {
    /// Mean energy, forces and virial.
    pub mean: Evaluation,
    /// Standard deviation of the energy (energy units).
    pub energy_std: f64,
    /// Standard deviation of each force component (energy/length units).
    pub force_std: Vec<Vec3>,
    /// Each member's evaluation.
    pub members: Vec<Evaluation>,
}

/// Mean and spread of a committee of CV surrogates on one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct CvCommitteeValue {
    /// Mean values, gradients and strain derivatives.
    pub mean: CvValue,
    /// Standard deviation of each component.
    pub value_std: Vec<f64>,
    /// Standard deviation of each gradient component (component-major like
    /// [`CvValue::gradients`]).
    pub gradient_std: Vec<Vec3>,
}

fn std_of(values: impl Iterator<Item = f64> + Clone, mean: f64, m: usize) -> f64 {
    if m < 2 {
        return 0.0;
    }
    (values.map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64).sqrt()
}

impl<M> Committee<M> {
    /// A committee of at least one member.
    pub fn new(members: Vec<M>) -> Result<Self> {
        if members.is_empty() {
            return Err(config_error("committee", "needs at least one member"));
        }
        Ok(Committee { members })
    }

    /// The members.
    pub fn members(&self) -> &[M] {
        &self.members
    }

    /// The members, mutable (for training each).
    pub fn members_mut(&mut self) -> &mut [M] {
        &mut self.members
    }
}

fn combine(members: Vec<Evaluation>) -> CommitteeEvaluation {
    let m = members.len();
    let n = members[0].forces.len();
    let mut mean = Evaluation::zeros(n);
    for e in &members {
        mean.energy += e.energy / m as f64;
        for (a, b) in mean.forces.iter_mut().zip(&e.forces) {
            *a += b / m as f64;
        }
        mean.virial += e.virial / m as f64;
    }
    let energy_std = std_of(members.iter().map(|e| e.energy), mean.energy, m);
    let force_std = (0..n)
        .map(|i| {
            Vec3::from_fn(|a, _| {
                std_of(members.iter().map(|e| e.forces[i][a]), mean.forces[i][a], m)
            })
        })
        .collect();
    CommitteeEvaluation {
        mean,
        energy_std,
        force_std,
        members,
    }
}

/// A network potential a [`Committee`] can average: [`BehlerParrinello`] and
/// [`SchNet`].
pub trait CommitteePotential: Send + Sync + std::fmt::Debug {
    /// Energy, forces and virial of one configuration (see the models' `evaluate`).
    fn evaluate_one(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Evaluation>;
    /// Energies, forces and virials of many frames.
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>>;
    /// The interaction cutoff (length units).
    fn model_cutoff(&self) -> f64;
}

impl CommitteePotential for BehlerParrinello {
    fn evaluate_one(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Evaluation> {
        self.evaluate(positions, species, simbox, list)
    }
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        self.evaluate_batch(frames)
    }
    fn model_cutoff(&self) -> f64 {
        self.cutoff()
    }
}

impl CommitteePotential for SchNet {
    fn evaluate_one(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<Evaluation> {
        self.evaluate(positions, species, simbox, list)
    }
    fn evaluate_frames(&self, frames: &[Frame]) -> Result<Vec<Evaluation>> {
        self.evaluate_batch(frames)
    }
    fn model_cutoff(&self) -> f64 {
        self.cutoff()
    }
}

impl<M: CommitteePotential> Committee<M> {
    /// Mean and spread of energy, forces and virial of one configuration.
    pub fn evaluate(
        &self,
        positions: &[Vec3],
        species: &[u32],
        simbox: &SimBox,
        list: Option<&NeighborList>,
    ) -> Result<CommitteeEvaluation> {
        let members = self
            .members
            .iter()
            .map(|p| p.evaluate_one(positions, species, simbox, list))
            .collect::<Result<Vec<_>>>()?;
        Ok(combine(members))
    }

    /// Mean and spread for many frames of different sizes (each member batched).
    pub fn evaluate_batch(&self, frames: &[Frame]) -> Result<Vec<CommitteeEvaluation>> {
        let per_member = self
            .members
            .iter()
            .map(|p| p.evaluate_frames(frames))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..frames.len())
            .map(|f| combine(per_member.iter().map(|m| m[f].clone()).collect()))
            .collect())
    }
}

impl<M: CommitteePotential> Potential for Committee<M> {
    fn cutoff(&self) -> Option<f64> {
        self.members
            .iter()
            .map(|m| m.model_cutoff())
            .reduce(f64::max)
    }

    fn add_to(
        &self,
        config: &Configuration<'_>,
        out: &mut Evaluation,
    ) -> thermograd_md::Result<()> {
        add_model_evaluation("committee", config, out, || {
            let e = self.evaluate(
                config.positions,
                config.species,
                config.simbox,
                config.neighbors,
            )?;
            Ok(e.mean)
        })
    }

    fn name(&self) -> &str {
        "committee"
    }
}

impl Committee<CvSurrogate> {
    /// A committee of surrogates of the same CV (same atoms and dimension).
    pub fn of_surrogates(members: Vec<CvSurrogate>) -> Result<Self> {
        let c = Self::new(members)?;
        let first = c.members[0].config();
        for m in &c.members[1..] {
            if m.config().atoms != first.atoms || m.config().outputs != first.outputs {
                return Err(config_error(
                    "cv committee",
                    "members must share atoms and number of components",
                ));
            }
        }
        Ok(c)
    }

    /// Mean and spread of values and gradients.
    pub fn evaluate_with_spread(
        &self,
        positions: &[Vec3],
        simbox: &SimBox,
    ) -> Result<CvCommitteeValue> {
        let mut values = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let mut v = CvValue::default();
            m.evaluate(positions, simbox, &mut v).map_err(NnError::Cv)?;
            values.push(v);
        }
        let k = values.len();
        let first = &values[0];
        let mut mean = CvValue::default();
        mean.reset(first.dim(), &first.atoms);
        for v in &values {
            for (a, b) in mean.values.iter_mut().zip(&v.values) {
                *a += b / k as f64;
            }
            for (a, b) in mean.gradients.iter_mut().zip(&v.gradients) {
                *a += b / k as f64;
            }
            for (a, b) in mean.strain.iter_mut().zip(&v.strain) {
                *a += b / k as f64;
            }
        }
        let value_std = (0..mean.dim())
            .map(|c| std_of(values.iter().map(|v| v.values[c]), mean.values[c], k))
            .collect();
        let gradient_std = (0..mean.gradients.len())
            .map(|g| {
                Vec3::from_fn(|a, _| {
                    std_of(
                        values.iter().map(|v| v.gradients[g][a]),
                        mean.gradients[g][a],
                        k,
                    )
                })
            })
            .collect();
        Ok(CvCommitteeValue {
            mean,
            value_std,
            gradient_std,
        })
    }
}

impl CollectiveVariable for Committee<CvSurrogate> {
    fn name(&self) -> &str {
        "committee"
    }
    fn dim(&self) -> usize {
        self.members[0].dim()
    }
    fn atoms(&self) -> &[usize] {
        self.members[0].atoms()
    }
    fn period(&self, component: usize) -> Option<f64> {
        self.members[0].period(component)
    }
    fn evaluate(
        &self,
        positions: &[Vec3],
        simbox: &SimBox,
        out: &mut CvValue,
    ) -> thermograd_cv::Result<()> {
        let v = self
            .evaluate_with_spread(positions, simbox)
            .map_err(NnError::into_cv)?;
        *out = v.mean;
        Ok(())
    }
}
