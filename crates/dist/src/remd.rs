//! Replica exchange over temperatures (parallel tempering) for Langevin dynamics, with
//! the replicas dealt over ranks, and per-rank checkpoints from which a killed job
//! resumes bit for bit.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thermograd_md::{
    ForceField, Integrator, Langevin, PotentialSum, SimBox, Simulation, State, ThermostatConfig,
    Vec3,
};

use crate::comm::{
    all_reduce_outcome, broadcast_value, decode, encode, gather_outcomes, round_robin, Comm,
};
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

/// Where and how often [`run_replica_exchange_checkpointed`] writes checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicaCheckpointConfig {
    /// Directory of the checkpoint files (created if missing). Each rank writes its own
    /// two files, [`replica_checkpoint_paths`]; on one machine, or on a file system all
    /// ranks share, the same directory serves all ranks.
    pub dir: PathBuf,
    /// Cycles between checkpoints (≥ 1); one is also written after the last cycle run.
    pub every: u64,
    /// Stop once this many cycles (counted from the start of the job, across restarts)
    /// are done, with a checkpoint written: a job that must fit a queue's time limit
    /// runs in pieces. `None` runs to the end.
    pub stop_after_cycles: Option<u64>,
}

/// How [`run_replica_exchange_checkpointed`] ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReplicaExchangeOutcome {
    /// Every cycle is done: the whole run, including the cycles of earlier pieces.
    Finished(ReplicaExchangeRun),
    /// Stopped at [`ReplicaCheckpointConfig::stop_after_cycles`]; call again to go on.
    Stopped {
        /// Cycles done so far (equilibration included).
        cycles_done: u64,
    },
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
/// ranks. A failure on any rank is a failure on every rank. For checkpoints and
/// restarts see [`run_replica_exchange_checkpointed`].
pub fn run_replica_exchange(
    comm: &dyn Comm,
    config: &ReplicaExchangeConfig,
    initial: &dyn Fn(usize) -> thermograd_md::Result<State>,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<ReplicaExchangeRun> {
    match drive(comm, config, None, initial, potential)? {
        ReplicaExchangeOutcome::Finished(run) => Ok(run),
        ReplicaExchangeOutcome::Stopped { .. } => {
            unreachable!("without checkpoints the run never stops early")
        }
    }
}

/// [`run_replica_exchange`] with per-rank checkpoints and restarts of the whole job.
///
/// After every `checkpoints.every` cycles (at the exchange boundary, after the swaps),
/// each rank writes the replicas it owns — state, Langevin random stream, temperature
/// index, neighbor-list reference — together with the replicated bookkeeping (which
/// configuration is at which temperature, the position of the exchange stream, the
/// energies, assignments and exchange statistics recorded so far) to one of its two
/// files [`replica_checkpoint_paths`], atomically (temporary file, `fsync`, rename),
/// alternating between them. A rank can be at most one checkpoint ahead of another
/// (every cycle ends in a reduction over all ranks), so the newest checkpoint that every
/// rank holds survives a kill at any moment.
///
/// Called again with the same `config`, the same directory and the same number of
/// ranks, the job continues from the newest cycle that all ranks have checkpointed and
/// reproduces the uninterrupted run bit for bit, exchange statistics accumulated across
/// the restart. Without any common checkpoint it starts afresh. A damaged checkpoint, or
/// one written for another config, number of ranks or system, is
/// [`DistError::Checkpoint`] naming the file.
pub fn run_replica_exchange_checkpointed(
    comm: &dyn Comm,
    config: &ReplicaExchangeConfig,
    checkpoints: &ReplicaCheckpointConfig,
    initial: &dyn Fn(usize) -> thermograd_md::Result<State>,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<ReplicaExchangeOutcome> {
    if checkpoints.every == 0 {
        return Err(DistError::InvalidConfig {
            name: "checkpoint every",
            reason: "must be at least 1 cycle".into(),
        });
    }
    drive(comm, config, Some(checkpoints), initial, potential)
}

/// The exchange bookkeeping, replicated on every rank.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ledger {
    /// Cycles done (equilibration included).
    cycles_done: u64,
    /// `replica_at[t]`: the configuration now at temperature `t`.
    replica_at: Vec<usize>,
    /// Word position of the exchange stream (its seed comes from the config).
    rng_word_pos: u128,
    /// What has been recorded so far.
    run: ReplicaExchangeRun,
}

fn exchange_stream(config: &ReplicaExchangeConfig) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(config.seed ^ 0x5245_4d44_5f58_4348)
}

/// The replicas a rank owns, with their indices.
type Owned = Vec<(usize, Replica)>;

/// Builds the replicas `mine` fresh from `initial`, or from this rank's checkpoint of
/// cycle `resume_at`; returns them with the ledger.
fn start(
    config: &ReplicaExchangeConfig,
    files: Option<&RankFiles>,
    resume_at: Option<u64>,
    mine: &[usize],
    initial: &dyn Fn(usize) -> thermograd_md::Result<State>,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<(Owned, Option<Ledger>)> {
    let (Some(files), Some(cycle)) = (files, resume_at) else {
        let mut replicas = Vec::with_capacity(mine.len());
        for &w in mine {
            let integrator = Langevin::new(thermostat(config, w, w))?;
            let forcefield = ForceField::new(potential()?, config.skin)?;
            let sim = Simulation::new(initial(w)?, forcefield, Box::new(integrator))?;
            replicas.push((
                w,
                Replica {
                    sim,
                    temperature: w,
                },
            ));
        }
        return Ok((replicas, None));
    };
    let (path, checkpoint) = files.load(cycle)?;
    let bad = |reason: String| DistError::Checkpoint {
        path: path.clone(),
        reason,
    };
    let owned: Vec<usize> = checkpoint.replicas.iter().map(|r| r.index).collect();
    if owned != mine {
        return Err(bad(format!(
            "holds replicas {owned:?}, this rank owns {mine:?}"
        )));
    }
    let mut replicas = Vec::with_capacity(mine.len());
    for record in checkpoint.replicas {
        let w = record.index;
        let fresh = initial(w)?;
        let saved = &record.state;
        let kind = |p: bool| if p { "periodic" } else { "open" };
        let difference = if saved.n_atoms() != fresh.n_atoms() {
            Some(format!(
                "{} atoms in the checkpoint, {} in the system this job starts from",
                saved.n_atoms(),
                fresh.n_atoms()
            ))
        } else if saved.species != fresh.species {
            Some("species differ from the system this job starts from".into())
        } else if saved.masses != fresh.masses {
            Some("masses differ from the system this job starts from".into())
        } else if saved.simbox.is_periodic() != fresh.simbox.is_periodic() {
            Some(format!(
                "a {} box in the checkpoint, a {} one in the system this job starts from",
                kind(saved.simbox.is_periodic()),
                kind(fresh.simbox.is_periodic())
            ))
        } else {
            None
        };
        if let Some(d) = difference {
            return Err(bad(format!("replica {w}: {d}")));
        }
        if record.temperature >= config.kts.len() {
            return Err(bad(format!(
                "replica {w} at temperature index {}",
                record.temperature
            )));
        }
        let mut integrator = Langevin::new(thermostat(config, w, record.temperature))?;
        integrator
            .load_state(&record.integrator)
            .map_err(|e| bad(format!("replica {w}: {e}")))?;
        let mut forcefield = ForceField::new(potential()?, config.skin)?;
        // The neighbor list is rebuilt from the same reference positions as before the
        // interruption, so that later rebuilds, and so the forces, match bit for bit.
        if let Some((positions, simbox)) = &record.last_build {
            if positions.len() != record.state.n_atoms() {
                return Err(bad(format!(
                    "replica {w}: neighbor-list record of {} atoms",
                    positions.len()
                )));
            }
            forcefield.restore_build(positions, simbox)?;
        }
        let sim = Simulation::new(record.state, forcefield, Box::new(integrator))?;
        replicas.push((
            w,
            Replica {
                sim,
                temperature: record.temperature,
            },
        ));
    }
    Ok((replicas, Some(checkpoint.ledger)))
}

fn drive(
    comm: &dyn Comm,
    config: &ReplicaExchangeConfig,
    checkpoints: Option<&ReplicaCheckpointConfig>,
    initial: &dyn Fn(usize) -> thermograd_md::Result<State>,
    potential: &dyn Fn() -> thermograd_md::Result<PotentialSum>,
) -> Result<ReplicaExchangeOutcome> {
    config.validate()?;
    let n = config.kts.len();
    let mine = round_robin(n, comm.rank(), comm.size());
    let mut files = checkpoints.map(|c| RankFiles::new(c, config, comm));
    // Every rank reports which cycles it holds; the root picks the newest common one.
    let resume_at = match &mut files {
        Some(files) => {
            let held = gather_outcomes(comm, 0, files.scan())?;
            let common = held.map(|held| {
                held[0]
                    .iter()
                    .copied()
                    .filter(|c| held.iter().all(|h| h.contains(c)))
                    .max()
            });
            let common = broadcast_value(comm, 0, common.as_ref())?;
            files.keep_only(common);
            common
        }
        None => None,
    };
    // A failure is kept until the next reduction, where every rank learns of it:
    // returning at once would leave the other ranks waiting there.
    let mut pending: Option<DistError> = None;
    let (mut replicas, ledger) =
        match start(config, files.as_ref(), resume_at, &mine, initial, potential) {
            Ok(started) => started,
            Err(e) => {
                pending = Some(e);
                (Vec::new(), None)
            }
        };
    // Replicated on every rank: who is where, the exchange stream, the record.
    let mut rng = exchange_stream(config);
    let mut ledger = match ledger {
        Some(ledger) => {
            rng.set_word_pos(ledger.rng_word_pos);
            ledger
        }
        None => Ledger {
            cycles_done: 0,
            replica_at: (0..n).collect(),
            rng_word_pos: 0,
            run: ReplicaExchangeRun {
                kts: config.kts.clone(),
                energies: vec![Vec::new(); n],
                replica_at: vec![Vec::new(); n],
                exchanges: vec![ExchangeStats::default(); n - 1],
            },
        },
    };
    let cycles = config.equilibration_cycles + config.production_cycles;
    let stop = checkpoints
        .and_then(|c| c.stop_after_cycles)
        .map_or(cycles, |s| s.min(cycles));
    while ledger.cycles_done < stop {
        let cycle = ledger.cycles_done;
        let local = match pending.take() {
            Some(e) => Err(e),
            None => advance(&mut replicas, n, config.exchange_every),
        };
        let energies = all_reduce_outcome(comm, n, local)?;
        let (replica_at, run) = (&mut ledger.replica_at, &mut ledger.run);
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
        ledger.cycles_done += 1;
        ledger.rng_word_pos = rng.get_word_pos();
        if let (Some(files), Some(c)) = (&mut files, checkpoints) {
            let due = ledger.cycles_done % c.every == 0 || ledger.cycles_done == stop;
            if due && pending.is_none() {
                if let Err(e) = files.write(&ledger, &replicas) {
                    pending = Some(e);
                }
            }
        }
    }
    // A failure in the last exchange or checkpoint still reaches every rank.
    all_reduce_outcome(comm, 0, pending.map_or(Ok(Vec::new()), Err))?;
    if ledger.cycles_done < cycles {
        return Ok(ReplicaExchangeOutcome::Stopped {
            cycles_done: ledger.cycles_done,
        });
    }
    Ok(ReplicaExchangeOutcome::Finished(ledger.run))
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

// ---------------------------------------------------------------------------------------
// Checkpoint files

const MAGIC: [u8; 8] = *b"TGREMDCK";
const VERSION: u32 = 1;

/// The two checkpoint files of rank `rank` in `dir`, written alternately by
/// [`run_replica_exchange_checkpointed`] (`remd_rank<rank>_a.ckpt`, `…_b.ckpt`).
pub fn replica_checkpoint_paths(dir: &Path, rank: usize) -> [PathBuf; 2] {
    ["a", "b"].map(|slot| dir.join(format!("remd_rank{rank:05}_{slot}.ckpt")))
}

/// One replica as checkpointed.
#[derive(Serialize, Deserialize)]
struct ReplicaRecord {
    index: usize,
    temperature: usize,
    state: State,
    /// [`Integrator::save_state`] of its Langevin integrator.
    integrator: Vec<u8>,
    /// Positions and box of the last neighbor-list build.
    last_build: Option<(Vec<Vec3>, SimBox)>,
}

/// On-disk form of one rank's checkpoint; an FNV-1a 64 checksum of the encoding follows.
#[derive(Serialize, Deserialize)]
struct RankCheckpoint {
    magic: [u8; 8],
    version: u32,
    /// FNV-1a 64 of the encoded [`ReplicaExchangeConfig`].
    config: u64,
    rank: usize,
    size: usize,
    ledger: Ledger,
    replicas: Vec<ReplicaRecord>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One rank's pair of checkpoint files and what they hold.
struct RankFiles {
    dir: PathBuf,
    paths: [PathBuf; 2],
    fingerprint: u64,
    rank: usize,
    size: usize,
    /// The cycle each file holds, as far as this run knows.
    held: [Option<u64>; 2],
}

impl RankFiles {
    fn new(c: &ReplicaCheckpointConfig, config: &ReplicaExchangeConfig, comm: &dyn Comm) -> Self {
        RankFiles {
            dir: c.dir.clone(),
            paths: replica_checkpoint_paths(&c.dir, comm.rank()),
            fingerprint: fnv1a(&encode(config)),
            rank: comm.rank(),
            size: comm.size(),
            held: [None, None],
        }
    }

    /// Reads and checks both files; returns the cycles they hold.
    fn scan(&mut self) -> Result<Vec<u64>> {
        fs::create_dir_all(&self.dir).map_err(|source| DistError::Io {
            path: self.dir.clone(),
            source,
        })?;
        for slot in 0..2 {
            self.held[slot] = self.read(slot)?.map(|c| c.ledger.cycles_done);
        }
        Ok(self.held.iter().flatten().copied().collect())
    }

    /// Forgets the files that do not hold `cycle`, the cycle the job resumes from (or
    /// all of them when it starts afresh), so that they are overwritten first: a file
    /// from beyond that cycle is stale.
    fn keep_only(&mut self, cycle: Option<u64>) {
        for held in &mut self.held {
            if *held != cycle || cycle.is_none() {
                *held = None;
            }
        }
    }

    /// The checkpoint of `cycle`, which [`RankFiles::scan`] found.
    fn load(&self, cycle: u64) -> Result<(PathBuf, RankCheckpoint)> {
        let slot = self
            .held
            .iter()
            .position(|&c| c == Some(cycle))
            .ok_or_else(|| DistError::Checkpoint {
                path: self.paths[0].clone(),
                reason: format!(
                    "rank {} holds no checkpoint of cycle {cycle}, the one the job resumes from",
                    self.rank
                ),
            })?;
        let checkpoint = self.read(slot)?.expect("scanned just before");
        Ok((self.paths[slot].clone(), checkpoint))
    }

    fn read(&self, slot: usize) -> Result<Option<RankCheckpoint>> {
        let path = &self.paths[slot];
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(DistError::Io {
                    path: path.clone(),
                    source,
                })
            }
        };
        let bad = |reason: String| DistError::Checkpoint {
            path: path.clone(),
            reason,
        };
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            return Err(bad("not a thermograd replica-exchange checkpoint".into()));
        }
        let (body, sum) = bytes
            .split_last_chunk::<8>()
            .filter(|(body, _)| body.len() >= 12)
            .ok_or_else(|| bad(format!("truncated ({} bytes)", bytes.len())))?;
        let version = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(format!(
                "format version {version} (this build reads {VERSION})"
            )));
        }
        if fnv1a(body) != u64::from_le_bytes(*sum) {
            return Err(bad(
                "checksum mismatch (the file is truncated or damaged)".into()
            ));
        }
        let c: RankCheckpoint = decode("replica-exchange checkpoint", self.rank, body)
            .map_err(|e| bad(e.to_string()))?;
        if c.config != self.fingerprint {
            return Err(bad(
                "written by a job with a different replica-exchange config; remove it or use \
                 another checkpoint directory"
                    .into(),
            ));
        }
        if (c.rank, c.size) != (self.rank, self.size) {
            return Err(bad(format!(
                "written by rank {} of {}, read by rank {} of {}: restart with the same \
                 number of ranks",
                c.rank, c.size, self.rank, self.size
            )));
        }
        Ok(Some(c))
    }

    /// Writes the checkpoint into the file that does not hold the newest one.
    fn write(&mut self, ledger: &Ledger, replicas: &[(usize, Replica)]) -> Result<()> {
        let slot = match self.held {
            [None, _] => 0,
            [Some(_), None] => 1,
            [Some(a), Some(b)] => usize::from(b < a),
        };
        let checkpoint = RankCheckpoint {
            magic: MAGIC,
            version: VERSION,
            config: self.fingerprint,
            rank: self.rank,
            size: self.size,
            ledger: ledger.clone(),
            replicas: replicas
                .iter()
                .map(|(w, r)| ReplicaRecord {
                    index: *w,
                    temperature: r.temperature,
                    state: r.sim.state().clone(),
                    integrator: r.sim.integrator().save_state(),
                    last_build: r.sim.forcefield().last_build().cloned(),
                })
                .collect(),
        };
        let mut bytes = encode(&checkpoint);
        let sum = fnv1a(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        write_atomic(&self.paths[slot], &bytes)?;
        self.held[slot] = Some(ledger.cycles_done);
        Ok(())
    }
}

/// Writes `bytes` to `path` + `.tmp`, syncs it to disk and renames it over `path`: a
/// kill at any moment leaves either the old or the new file, never a partial one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |source| DistError::Io {
        path: tmp.clone(),
        source,
    };
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(|source| DistError::Io {
        path: path.to_path_buf(),
        source,
    })
}
