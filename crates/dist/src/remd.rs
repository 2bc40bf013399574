//! Replica exchange over temperatures (parallel tempering) for Langevin dynamics, with
//! the replicas dealt over ranks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thermograd_md::{
    ForceField, Integrator, Langevin, PotentialSum, Simulation, State, ThermostatConfig,
};

use crate::comm::{all_reduce_outcome, round_robin, Comm};
use crate::error::{DistError, Result};

/// What to run: one Langevin (BAOAB) replica per temperature, exchanges between
/// neighbouring temperatures every `exchange_every` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaExchangeConfig {
    /// `kT` of each replica, strictly increasing (energy units).
    pub kts: Vec<f64>,
    /// Time step (time units).
    pub dt: f64,
    /// Langevin friction time `1/γ` (time units).
    pub tau: f64,
    /// MD steps between exchange attempts (a "cycle"; ≥ 1).
    pub exchange_every: u64,
    /// Cycles run before energies and exchange statistics are recorded.
    pub equilibration_cycles: u64,
    /// Cycles of production; each records one potential energy per temperature.
    pub production_cycles: u64,
    /// Neighbor-list skin (length units).
    pub skin: f64,
    /// Seed: replica `w` integrates with seed `seed + w`; the exchange decisions draw
    /// from their own stream, seeded from `seed` and replicated on every rank.
    pub seed: u64,
}

impl ReplicaExchangeConfig {
    fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(DistError::InvalidConfig { name, reason });
        if self.kts.len() < 2 {
            return bad(
                "kts",
                "replica exchange needs at least two temperatures".into(),
            );
        }
        if !self.kts.iter().all(|kt| kt.is_finite() && *kt > 0.0) {
            return bad(
                "kts",
                format!("must be positive and finite, got {:?}", self.kts),
            );
        }
        if self.kts.windows(2).any(|w| w[1] <= w[0]) {
            return bad(
                "kts",
                format!("must be strictly increasing, got {:?}", self.kts),
            );
        }
        if self.exchange_every == 0 {
            return bad("exchange_every", "must be at least 1".into());
        }
        if self.production_cycles == 0 {
            return bad("production_cycles", "must be at least 1".into());
        }
        Ok(())
    }
}

/// Exchange attempts and acceptances between temperatures `t` and `t + 1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeStats {
    /// Attempts during production.
    pub attempted: u64,
    /// Accepted attempts during production.
    pub accepted: u64,
}

impl ExchangeStats {
    /// Fraction of attempts accepted (`NaN` without attempts).
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.attempted as f64
    }
}

/// The result of [`run_replica_exchange`], identical on every rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaExchangeRun {
    /// The temperatures as `kT` (energy units).
    pub kts: Vec<f64>,
    /// `energies[t][s]`: potential energy (energy units) of the configuration at
    /// temperature `t` at the end of production cycle `s`, before the exchange attempt.
    pub energies: Vec<Vec<f64>>,
    /// `replica_at[t][s]`: which replica (configuration) was at temperature `t` then.
    pub replica_at: Vec<Vec<usize>>,
    /// Statistics of the pairs `(t, t + 1)`, `t = 0..kts.len() − 1`.
    pub exchanges: Vec<ExchangeStats>,
}

impl ReplicaExchangeRun {
    /// Mean potential energy at each temperature (energy units).
    pub fn mean_energies(&self) -> Vec<f64> {
        self.energies
            .iter()
            .map(|e| e.iter().sum::<f64>() / e.len() as f64)
            .collect()
    }
}

/// One replica: a configuration, the simulation that moves it at its current
/// temperature, and that temperature's index.
struct Replica {
    sim: Simulation,
    temperature: usize,
}

fn thermostat(
    config: &ReplicaExchangeConfig,
    replica: usize,
    temperature: usize,
) -> ThermostatConfig {
    ThermostatConfig {
        dt: config.dt,
        kt: config.kts[temperature],
        tau: config.tau,
        seed: config.seed.wrapping_add(replica as u64),
    }
}

/// Moves `replica` to temperature `to`: velocities scaled by `√(kT_to/kT_from)`
/// (Sugita & Okamoto 1999), the Langevin stream continued where it was.
fn retemper(
    replica: &mut Replica,
    to: usize,
    config: &ReplicaExchangeConfig,
    index: usize,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<()> {
    let mut state = replica.sim.state().clone();
    let scale = (config.kts[to] / config.kts[replica.temperature]).sqrt();
    for v in &mut state.velocities {
        *v *= scale;
    }
    let saved = replica.sim.integrator().save_state();
    let mut integrator = Langevin::new(thermostat(config, index, to))?;
    integrator.load_state(&saved)?;
    let forcefield = ForceField::new(potential()?, config.skin)?;
    replica.sim = Simulation::new(state, forcefield, Box::new(integrator))?;
    replica.temperature = to;
    Ok(())
}

/// Replica exchange molecular dynamics over temperatures (Swendsen & Wang 1986;
/// Sugita & Okamoto 1999) with Langevin BAOAB dynamics.
///
/// Replica `w` starts from `initial(w)` at temperature `w`; `potential()` builds the
/// (temperature-independent) potential. Replicas are dealt round robin over the ranks
/// of `comm`. Each cycle every replica runs `exchange_every` steps; the replicas'
/// potential energies are summed over ranks (each rank contributes only its own, so the
/// sum is exact), and then every rank makes the same exchange decisions from the same
/// replicated random stream: on even cycles the pairs `(0,1), (2,3), …`, on odd cycles
/// `(1,2), (3,4), …`, each accepted with probability
/// `min(1, exp((β_t − β_{t+1})(U_t − U_{t+1})))`, where `U_t` is the energy of the
/// configuration at temperature `t`. An accepted swap exchanges the temperatures of
/// two configurations and rescales their velocities.
///
/// The result is the same on every rank and, bit for bit, the same for any number of
/// ranks. A failure on any rank is a failure on every rank.
pub fn run_replica_exchange(
    comm: &dyn Comm,
    config: &ReplicaExchangeConfig,
    initial: &dyn Fn(usize) -> thermograd_md::Result<State>,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<ReplicaExchangeRun> {
    config.validate()?;
    let n = config.kts.len();
    let mine = round_robin(n, comm.rank(), comm.size());
    let build = |w: usize| -> Result<Replica> {
        let integrator = Langevin::new(thermostat(config, w, w))?;
        let forcefield = ForceField::new(potential()?, config.skin)?;
        let sim = Simulation::new(initial(w)?, forcefield, Box::new(integrator))?;
        Ok(Replica {
            sim,
            temperature: w,
        })
    };
    // A failure is kept until the next reduction, where every rank learns of it:
    // returning at once would leave the other ranks waiting there.
    let mut pending: Option<DistError> = None;
    let mut replicas: Vec<(usize, Replica)> = Vec::with_capacity(mine.len());
    for &w in &mine {
        match build(w) {
            Ok(replica) => replicas.push((w, replica)),
            Err(e) => {
                pending = Some(e);
                break;
            }
        }
    }
    // Replicated on every rank: who is where, the exchange stream, the record.
    let mut replica_at: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5245_4d44_5f58_4348);
    let mut run = ReplicaExchangeRun {
        kts: config.kts.clone(),
        energies: vec![Vec::new(); n],
        replica_at: vec![Vec::new(); n],
        exchanges: vec![ExchangeStats::default(); n - 1],
    };
    let cycles = config.equilibration_cycles + config.production_cycles;
    for cycle in 0..cycles {
        let local = match pending.take() {
            Some(e) => Err(e),
            None => advance(&mut replicas, n, config.exchange_every),
        };
        let energies = all_reduce_outcome(comm, n, local)?;
        let production = cycle >= config.equilibration_cycles;
        if production {
            for t in 0..n {
                run.energies[t].push(energies[replica_at[t]]);
                run.replica_at[t].push(replica_at[t]);
            }
        }
        let mut moves = Vec::new();
        for t in ((cycle % 2) as usize..n - 1).step_by(2) {
            let (a, b) = (replica_at[t], replica_at[t + 1]);
            let delta =
                (1.0 / config.kts[t] - 1.0 / config.kts[t + 1]) * (energies[a] - energies[b]);
            // Drawn for every attempt, so the stream stays the same on every rank.
            let u: f64 = rng.gen();
            let accepted = u < delta.exp();
            if production {
                run.exchanges[t].attempted += 1;
                run.exchanges[t].accepted += accepted as u64;
            }
            if accepted {
                replica_at.swap(t, t + 1);
                moves.push((a, t + 1));
                moves.push((b, t));
            }
        }
        for (w, to) in moves {
            if let Some((_, replica)) = replicas.iter_mut().find(|(v, _)| *v == w) {
                if let Err(e) = retemper(replica, to, config, w, potential) {
                    pending.get_or_insert(e);
                }
            }
        }
    }
    // A failure in the last exchange still reaches every rank.
    all_reduce_outcome(comm, 0, pending.map_or(Ok(Vec::new()), Err))?;
    Ok(run)
}

/// Runs every local replica `steps` steps; their energies at their replica indices in a
/// vector of length `n` (zero elsewhere).
fn advance(replicas: &mut [(usize, Replica)], n: usize, steps: u64) -> Result<Vec<f64>> {
    let mut energies = vec![0.0; n];
    for (w, replica) in replicas.iter_mut() {
        replica.sim.run(steps)?;
        energies[*w] = replica.sim.evaluation().energy;
    }
    Ok(energies)
}
