//! Integrators, thermostats and the barostat.
//!
//! Every integrator takes a [`State`] whose forces are already in the [`Evaluation`]
//! (the runner evaluates once before the first step) and leaves the evaluation up to
//! date with the new positions. Stochastic integrators own a seeded ChaCha8 generator
//! whose state is part of [`Integrator::save_state`], so checkpoints resume bit for bit.

use std::fmt::Debug;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use thermograd_geometry::{Mat3, Vec3};

use crate::error::check_positive;
use crate::state::degrees_of_freedom;
use crate::{Evaluation, ForceField, MdError, Result, State};

/// A time-stepping scheme: advances a [`State`] by one step.
///
/// Object-safe, so a simulation holds a `Box<dyn Integrator>`. A tiny implementation
/// (explicit Euler, for illustration only):
///
/// ```
/// use thermograd_md::{Evaluation, ForceField, Integrator, Result, State};
///
/// #[derive(Debug)]
/// struct Euler { dt: f64 }
///
/// impl Integrator for Euler {
///     fn step(&mut self, s: &mut State, ff: &mut ForceField, e: &mut Evaluation) -> Result<()> {
///         for i in 0..s.n_atoms() {
///             s.positions[i] += self.dt * s.velocities[i];
///             s.velocities[i] += self.dt * e.forces[i] / s.masses[i];
///         }
///         s.step += 1;
///         s.time += self.dt;
///         ff.evaluate(s, e)
///     }
///     fn timestep(&self) -> f64 { self.dt }
///     fn conserves_momentum(&self) -> bool { true }
/// }
/// ```
pub trait Integrator: Send + Sync + Debug {
    /// Advances `state` by one step; on entry `eval` holds the forces of `state`, on exit
    /// those of the new state. Increments `state.step` and `state.time`.
    fn step(&mut self, state: &mut State, ff: &mut ForceField, eval: &mut Evaluation)
        -> Result<()>;

    /// The time step (time units).
    fn timestep(&self) -> f64;

    /// Whether total momentum is conserved (then the centre-of-mass motion is not
    /// thermal: temperatures use `3N − 3` degrees of freedom, otherwise `3N`).
    fn conserves_momentum(&self) -> bool;

    /// Energy exchanged with a thermostat or barostat reservoir (energy units), so that
    /// `K + U + reservoir_energy()` is conserved (NVE: 0; Nosé–Hoover: the chain's
    /// energy; CSVR: minus the heat given to the system).
    fn reservoir_energy(&self) -> f64 {
        0.0
    }

    /// Serialized internal state (random generator, thermostat variables).
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores what [`Integrator::save_state`] returned.
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let _ = bytes;
        Ok(())
    }

    /// A short name.
    fn name(&self) -> &str {
        "integrator"
    }
}

/// Degrees of freedom of `state` under `integrator` (3N − 3 if momentum is conserved).
pub fn dof_for(state: &State, integrator: &dyn Integrator) -> usize {
    let removed = if integrator.conserves_momentum() {
        3
    } else {
        0
    };
    degrees_of_freedom(state.n_atoms(), removed)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("in-memory serialization of plain data cannot fail")
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| MdError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// Atoms per rayon task in the element-wise loops of the integrators (below it they
/// run on one thread).
const MIN_ATOMS_PER_TASK: usize = 1024;

fn kick(state: &mut State, eval: &Evaluation, dt: f64) {
    state
        .velocities
        .par_iter_mut()
        .zip(eval.forces.par_iter())
        .zip(state.masses.par_iter())
        .with_min_len(MIN_ATOMS_PER_TASK)
        .for_each(|((v, f), m)| *v += (dt / m) * f);
}

fn drift(state: &mut State, dt: f64) {
    state
        .positions
        .par_iter_mut()
        .zip(state.velocities.par_iter())
        .with_min_len(MIN_ATOMS_PER_TASK)
        .for_each(|(x, v)| *x += dt * v);
}

fn finish_step(state: &mut State, dt: f64) {
    state.step += 1;
    state.time += dt;
}

/// One velocity-Verlet step (kick, drift, new forces, kick): the deterministic core
/// the thermostats of Bussi and of Martyna et al. wrap.
fn verlet(state: &mut State, ff: &mut ForceField, eval: &mut Evaluation, dt: f64) -> Result<()> {
    kick(state, eval, 0.5 * dt);
    drift(state, dt);
    finish_step(state, dt);
    ff.evaluate(state, eval)?;
    kick(state, eval, 0.5 * dt);
    Ok(())
}

fn scale_velocities(state: &mut State, factor: f64) {
    for v in &mut state.velocities {
        *v *= factor;
    }
}

fn gaussian3(rng: &mut ChaCha8Rng) -> Vec3 {
    Vec3::new(
        StandardNormal.sample(rng),
        StandardNormal.sample(rng),
        StandardNormal.sample(rng),
    )
}

/// Velocity Verlet (NVE), Swope et al. 1982.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VelocityVerlet {
    dt: f64,
}

impl VelocityVerlet {
    /// Time step `dt` (time units).
    pub fn new(dt: f64) -> Result<Self> {
        check_positive("dt", dt)?;
        Ok(VelocityVerlet { dt })
    }
}

impl Integrator for VelocityVerlet {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        verlet(state, ff, eval, self.dt)
    }
    fn timestep(&self) -> f64 {
        self.dt
    }
    fn conserves_momentum(&self) -> bool {
        true
    }
    fn name(&self) -> &str {
        "velocity-verlet"
    }
}

/// Parameters of a thermostat: time step, temperature and a coupling time or friction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThermostatConfig {
    /// Time step (time units).
    pub dt: f64,
    /// Target temperature as `k_B T` (energy units).
    pub kt: f64,
    /// Coupling time (time units): `1/γ` for Langevin and Brownian dynamics, `τ` for
    /// CSVR and Nosé–Hoover.
    pub tau: f64,
    /// Seed of the integrator's random generator (ignored by deterministic schemes).
    pub seed: u64,
}

impl ThermostatConfig {
    fn validate(&self) -> Result<()> {
        check_positive("dt", self.dt)?;
        check_positive("kT", self.kt)?;
        check_positive("tau", self.tau)?;
        Ok(())
    }
}

/// Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews 2013): friction
/// `γ = 1/tau`, exact Ornstein–Uhlenbeck velocity update `v ← c v + √((1−c²) kT/m) ξ`,
/// `c = exp(−γ dt)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Langevin {
    config: ThermostatConfig,
    rng: ChaCha8Rng,
    /// Heat given to the system by the O step (energy).
    heat: f64,
}

impl Langevin {
    /// Builds the integrator from a validated config.
    pub fn new(config: ThermostatConfig) -> Result<Self> {
        config.validate()?;
        Ok(Langevin {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            heat: 0.0,
        })
    }
}

impl Integrator for Langevin {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        let dt = self.config.dt;
        kick(state, eval, 0.5 * dt);
        drift(state, 0.5 * dt);
        let c = (-dt / self.config.tau).exp();
        let s = (1.0 - c * c).sqrt();
        let k0 = state.kinetic_energy();
        for (v, m) in state.velocities.iter_mut().zip(&state.masses) {
            *v = c * *v + (s * (self.config.kt / m).sqrt()) * gaussian3(&mut self.rng);
        }
        self.heat += state.kinetic_energy() - k0;
        drift(state, 0.5 * dt);
        finish_step(state, dt);
        ff.evaluate(state, eval)?;
        kick(state, eval, 0.5 * dt);
        Ok(())
    }
    fn timestep(&self) -> f64 {
        self.config.dt
    }
    fn conserves_momentum(&self) -> bool {
        false
    }
    fn reservoir_energy(&self) -> f64 {
        -self.heat
    }
    fn save_state(&self) -> Vec<u8> {
        encode(&(&self.rng, self.heat))
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        (self.rng, self.heat) = decode("Langevin", bytes)?;
        Ok(())
    }
    fn name(&self) -> &str {
        "langevin-baoab"
    }
}

/// Stochastic velocity rescaling (Bussi, Donadio & Parrinello 2007) around velocity
/// Verlet: a half-step of the thermostat, a Verlet step, another half-step. The
/// effective energy `K + U + reservoir_energy()` is conserved up to integration error.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Csvr {
    config: ThermostatConfig,
    rng: ChaCha8Rng,
    heat: f64,
}

impl Csvr {
    /// Builds the thermostat from a validated config.
    pub fn new(config: ThermostatConfig) -> Result<Self> {
        config.validate()?;
        Ok(Csvr {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            heat: 0.0,
        })
    }

    fn thermostat(&mut self, state: &mut State, dt: f64) {
        let nf = degrees_of_freedom(state.n_atoms(), 3) as f64;
        let k = state.kinetic_energy();
        if k <= 0.0 {
            return;
        }
        let k_target = 0.5 * nf * self.config.kt;
        let c = (-dt / self.config.tau).exp();
        let r1: f64 = StandardNormal.sample(&mut self.rng);
        let rest = if nf > 1.0 {
            ChiSquared::new(nf - 1.0)
                .expect("positive degrees of freedom")
                .sample(&mut self.rng)
        } else {
            0.0
        };
        let k_new = k * c
            + k_target / nf * (1.0 - c) * (r1 * r1 + rest)
            + 2.0 * r1 * (k * k_target / nf * c * (1.0 - c)).sqrt();
        let mut alpha = (k_new / k).sqrt();
        // The sign keeps the update a continuous function of the noise (Bussi's resamplekin).
        if r1 + (c * nf * k / ((1.0 - c) * k_target)).sqrt() < 0.0 {
            alpha = -alpha;
        }
        scale_velocities(state, alpha);
        self.heat += k_new - k;
    }
}

impl Integrator for Csvr {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        let dt = self.config.dt;
        self.thermostat(state, 0.5 * dt);
        verlet(state, ff, eval, dt)?;
        self.thermostat(state, 0.5 * dt);
        Ok(())
    }
    fn timestep(&self) -> f64 {
        self.config.dt
    }
    fn conserves_momentum(&self) -> bool {
        true
    }
    fn reservoir_energy(&self) -> f64 {
        -self.heat
    }
    fn save_state(&self) -> Vec<u8> {
        encode(&(&self.rng, self.heat))
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        (self.rng, self.heat) = decode("CSVR", bytes)?;
        Ok(())
    }
    fn name(&self) -> &str {
        "csvr"
    }
}

/// A Nosé–Hoover chain of `length` thermostats (Martyna, Klein & Tuckerman 1992), with
/// the chain propagated by the Suzuki–Yoshida factorisation of Martyna, Tuckerman,
/// Tobias & Klein 1996 (order 3, one sub-step) around velocity Verlet.
///
/// Masses `Q_1 = N_f kT τ²`, `Q_k = kT τ²`. The conserved quantity is
/// `K + U + Σ Q_k v_k²/2 + N_f kT ξ_1 + kT Σ_{k≥2} ξ_k`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoseHooverChain {
    config: ThermostatConfig,
    xi: Vec<f64>,
    v_xi: Vec<f64>,
    nf: f64,
}

impl NoseHooverChain {
    /// A chain of `length ≥ 1` thermostats (3 is usual).
    pub fn new(config: ThermostatConfig, length: usize) -> Result<Self> {
        config.validate()?;
        if length == 0 {
            return Err(MdError::InvalidParameter {
                name: "chain length",
                value: 0.0,
                reason: "need at least one thermostat",
            });
        }
        Ok(NoseHooverChain {
            config,
            xi: vec![0.0; length],
            v_xi: vec![0.0; length],
            nf: 0.0,
        })
    }

    fn masses(&self) -> Vec<f64> {
        let q = self.config.kt * self.config.tau * self.config.tau;
        (0..self.xi.len())
            .map(|k| if k == 0 { self.nf * q } else { q })
            .collect()
    }

    /// Propagates the chain and the velocities for half a time step.
    fn half_step(&mut self, state: &mut State) {
        let w1 = 1.0 / (2.0 - 2f64.powf(1.0 / 3.0));
        let weights = [w1, 1.0 - 2.0 * w1, w1];
        let kt = self.config.kt;
        let q = self.masses();
        let m = self.xi.len();
        let mut ke2 = 2.0 * state.kinetic_energy();
        let mut scale = 1.0;
        let g = |k: usize, ke2: f64, v: &[f64]| {
            if k == 0 {
                (ke2 - self.nf * kt) / q[0]
            } else {
                (q[k - 1] * v[k - 1] * v[k - 1] - kt) / q[k]
            }
        };
        for w in weights {
            let delta = w * self.config.dt;
            let v = &mut self.v_xi;
            v[m - 1] += 0.25 * delta * g(m - 1, ke2, v);
            for k in (0..m - 1).rev() {
                let aa = (-0.125 * delta * v[k + 1]).exp();
                v[k] = v[k] * aa * aa + 0.25 * delta * g(k, ke2, v) * aa;
            }
            let aa = (-0.5 * delta * v[0]).exp();
            scale *= aa;
            ke2 *= aa * aa;
            for (x, vk) in self.xi.iter_mut().zip(v.iter()) {
                *x += 0.5 * delta * vk;
            }
            for k in 0..m - 1 {
                let aa = (-0.125 * delta * v[k + 1]).exp();
                v[k] = v[k] * aa * aa + 0.25 * delta * g(k, ke2, v) * aa;
            }
            v[m - 1] += 0.25 * delta * g(m - 1, ke2, v);
        }
        scale_velocities(state, scale);
    }
}

impl Integrator for NoseHooverChain {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        self.nf = degrees_of_freedom(state.n_atoms(), 3) as f64;
        let dt = self.config.dt;
        self.half_step(state);
        verlet(state, ff, eval, dt)?;
        self.half_step(state);
        Ok(())
    }
    fn timestep(&self) -> f64 {
        self.config.dt
    }
    fn conserves_momentum(&self) -> bool {
        true
    }
    fn reservoir_energy(&self) -> f64 {
        if self.nf == 0.0 {
            return 0.0;
        }
        let q = self.masses();
        let kt = self.config.kt;
        let mut e = 0.0;
        for (k, ((qk, v), x)) in q.iter().zip(&self.v_xi).zip(&self.xi).enumerate() {
            e += 0.5 * qk * v * v;
            e += if k == 0 { self.nf * kt } else { kt } * x;
        }
        e
    }
    fn save_state(&self) -> Vec<u8> {
        encode(&(&self.xi, &self.v_xi, self.nf))
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let (xi, v_xi, nf): (Vec<f64>, Vec<f64>, f64) = decode("Nosé–Hoover chain", bytes)?;
        if xi.len() != self.xi.len() || v_xi.len() != self.xi.len() {
            return Err(MdError::Decode {
                what: "Nosé–Hoover chain",
                reason: format!("chain length {} differs from {}", xi.len(), self.xi.len()),
            });
        }
        (self.xi, self.v_xi, self.nf) = (xi, v_xi, nf);
        Ok(())
    }
    fn name(&self) -> &str {
        "nose-hoover-chain"
    }
}

/// Overdamped Langevin (Brownian) dynamics, Euler–Maruyama:
/// `x ← x + dt F/(mγ) + √(2 kT dt/(mγ)) ξ`, with friction `γ = 1/tau`. Velocities are
/// set to the displacement divided by `dt` of the deterministic part only (zero at rest),
/// so they carry no thermal meaning.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Brownian {
    config: ThermostatConfig,
    rng: ChaCha8Rng,
}

impl Brownian {
    /// Builds the integrator from a validated config.
    pub fn new(config: ThermostatConfig) -> Result<Self> {
        config.validate()?;
        Ok(Brownian {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        })
    }
}

impl Integrator for Brownian {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        let ThermostatConfig { dt, kt, tau, .. } = self.config;
        for ((x, v), (f, m)) in state
            .positions
            .iter_mut()
            .zip(state.velocities.iter_mut())
            .zip(eval.forces.iter().zip(&state.masses))
        {
            let mobility = tau / m;
            *v = mobility * f;
            *x += dt * mobility * f + (2.0 * kt * dt * mobility).sqrt() * gaussian3(&mut self.rng);
        }
        finish_step(state, dt);
        ff.evaluate(state, eval)
    }
    fn timestep(&self) -> f64 {
        self.config.dt
    }
    fn conserves_momentum(&self) -> bool {
        false
    }
    fn save_state(&self) -> Vec<u8> {
        encode(&self.rng)
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        self.rng = decode("Brownian", bytes)?;
        Ok(())
    }
    fn name(&self) -> &str {
        "brownian"
    }
}

/// Parameters of the stochastic cell-rescaling barostat.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarostatConfig {
    /// Target pressure (energy/volume units).
    pub pressure: f64,
    /// Isothermal compressibility `β_T` (volume/energy units); only the ratio
    /// `β_T/τ_p` matters for sampling.
    pub compressibility: f64,
    /// Relaxation time `τ_p` (time units).
    pub tau: f64,
    /// `k_B T` of the thermostat (energy units).
    pub kt: f64,
    /// Apply every `stride` steps (time step `stride · dt`).
    pub stride: u64,
    /// Seed of the barostat's random generator.
    pub seed: u64,
}

/// Isotropic stochastic cell rescaling (Bernetti & Bussi 2020) wrapped around a
/// thermostatted integrator (use [`Csvr`] or [`Langevin`]).
///
/// Every `stride` steps, with `ε = ln V` and `Δt = stride · dt`:
/// `dε = −(β_T/τ_p)(P₀ − P_int − kT/V) Δt + √(2 kT β_T Δt/(V τ_p)) ξ`; positions scale by
/// `e^{dε/3}` and velocities by `e^{−dε/3}`, then forces are recomputed. `P_int` includes
/// the kinetic part and any long-range correction in the virial.
#[derive(Debug)]
pub struct StochasticCellRescaling {
    inner: Box<dyn Integrator>,
    config: BarostatConfig,
    rng: ChaCha8Rng,
}

impl StochasticCellRescaling {
    /// Wraps `inner` (which must thermostat at `config.kt`).
    pub fn new(inner: Box<dyn Integrator>, config: BarostatConfig) -> Result<Self> {
        if !config.pressure.is_finite() {
            return Err(MdError::InvalidParameter {
                name: "pressure",
                value: config.pressure,
                reason: "must be finite",
            });
        }
        check_positive("compressibility", config.compressibility)?;
        check_positive("tau", config.tau)?;
        check_positive("kT", config.kt)?;
        if config.stride == 0 {
            return Err(MdError::InvalidParameter {
                name: "stride",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        Ok(StochasticCellRescaling {
            inner,
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        })
    }
}

impl Integrator for StochasticCellRescaling {
    fn step(
        &mut self,
        state: &mut State,
        ff: &mut ForceField,
        eval: &mut Evaluation,
    ) -> Result<()> {
        self.inner.step(state, ff, eval)?;
        if state.step % self.config.stride != 0 {
            return Ok(());
        }
        let volume = state.simbox.volume().ok_or(MdError::NeedsPeriodicBox {
            what: "the barostat",
        })?;
        let BarostatConfig {
            pressure,
            compressibility,
            tau,
            kt,
            ..
        } = self.config;
        let dt = self.inner.timestep() * self.config.stride as f64;
        let p_int = crate::state::pressure(&state.kinetic_tensor(), &eval.virial, volume);
        let xi: f64 = StandardNormal.sample(&mut self.rng);
        let d_eps = -(compressibility / tau) * (pressure - p_int - kt / volume) * dt
            + (2.0 * kt * compressibility * dt / (volume * tau)).sqrt() * xi;
        // A physical barostat step changes the volume by a tiny fraction; a factor of two
        // means the pressure ran away (overlapping atoms, a far too large β_T/τ_p) and the
        // box is collapsing or exploding.
        if !(d_eps.is_finite() && d_eps.abs() <= std::f64::consts::LN_2) {
            let limit = if d_eps < 0.0 { 0.5 } else { 2.0 } * volume;
            return Err(MdError::Fault {
                step: state.step,
                cause: crate::Fault::BoxCollapsed {
                    volume: volume * d_eps.exp(),
                    limit,
                    reason:
                        "the barostat changed the volume by more than a factor of 2 in one step",
                },
            });
        }
        let mu = (d_eps / 3.0).exp();
        state.simbox = state.simbox.scaled(mu)?;
        for x in &mut state.positions {
            *x *= mu;
        }
        scale_velocities(state, 1.0 / mu);
        ff.evaluate(state, eval)
    }
    fn timestep(&self) -> f64 {
        self.inner.timestep()
    }
    fn conserves_momentum(&self) -> bool {
        self.inner.conserves_momentum()
    }
    fn reservoir_energy(&self) -> f64 {
        self.inner.reservoir_energy()
    }
    fn save_state(&self) -> Vec<u8> {
        encode(&(&self.rng, self.inner.save_state()))
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let inner: Vec<u8>;
        (self.rng, inner) = decode("stochastic cell rescaling", bytes)?;
        self.inner.load_state(&inner)
    }
    fn name(&self) -> &str {
        "stochastic-cell-rescaling"
    }
}

/// Scales the box and all positions by `mu` (a deformation matrix), e.g. to set a
/// density before a run.
pub fn deform(state: &mut State, mu: &Mat3) -> Result<()> {
    state.simbox = state.simbox.deformed(mu)?;
    thermograd_geometry::scale_positions(&mut state.positions, mu);
    Ok(())
}
