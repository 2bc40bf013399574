//! The simulation runner: a state, a force field and an integrator, stepped with
//! equilibration, production, sampling stride, observers, progress bar and checkpoints.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use thermograd_geometry::{Mat3, Vec3};

use crate::integrators::dof_for;
use crate::state::{pressure, temperature, BoxRecord};
use crate::{Evaluation, ForceField, Integrator, MdError, Result, State};

/// A running simulation.
#[derive(Debug)]
pub struct Simulation {
    state: State,
    forcefield: ForceField,
    integrator: Box<dyn Integrator>,
    eval: Evaluation,
    checks: FaultChecks,
}

/// Physical sanity checks run during a simulation; a violation stops it with
/// [`MdError::Fault`] naming the step and the cause. All are off by default (a
/// non-finite energy is always an error, [`MdError::NonFiniteEnergy`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultChecks {
    /// Stop when two atoms come closer than this (length units).
    pub min_distance: Option<f64>,
    /// Stop when the instantaneous `kT` exceeds this (energy units).
    pub max_kt: Option<f64>,
    /// Stop when the box volume falls below this (length³), e.g. under a barostat.
    pub min_volume: Option<f64>,
    /// Stop when the box volume rises above this (length³).
    pub max_volume: Option<f64>,
    /// Run the checks every this many steps (0 is taken as 1). The distance check
    /// costs about one neighbor search.
    pub every: u64,
}

impl FaultChecks {
    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("min_distance", self.min_distance),
            ("max_kt", self.max_kt),
            ("min_volume", self.min_volume),
            ("max_volume", self.max_volume),
        ] {
            if let Some(v) = v {
                crate::error::check_positive(name, v)?;
            }
        }
        Ok(())
    }
}

/// Instantaneous observables of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Step number.
    pub step: u64,
    /// Time (time units).
    pub time: f64,
    /// Potential energy (energy units).
    pub potential_energy: f64,
    /// Kinetic energy (energy units).
    pub kinetic_energy: f64,
    /// `kT = 2K/N_f` with the integrator's degrees of freedom (energy units).
    pub temperature: f64,
    /// Scalar pressure (energy/volume), periodic boxes only.
    pub pressure: Option<f64>,
    /// Volume, periodic boxes only.
    pub volume: Option<f64>,
    /// `K + U +` the thermostat's reservoir energy: conserved by NVE, Nosé–Hoover and
    /// CSVR up to integration error.
    pub conserved_energy: f64,
}

/// How long to run and how often to sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Steps run before sampling starts (observers are not called).
    pub equilibration_steps: u64,
    /// Steps of production.
    pub production_steps: u64,
    /// Observers are called every `stride` production steps (≥ 1).
    pub stride: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Called on sampled steps of a production run. Closures `FnMut(&Simulation) ->
/// Result<()>` are observers.
pub trait Observer {
    /// Looks at the simulation after a sampled step.
    fn observe(&mut self, sim: &Simulation) -> Result<()>;
}

impl<F: FnMut(&Simulation) -> Result<()>> Observer for F {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        self(sim)
    }
}

/// Collects a [`Sample`] on every sampled step.
#[derive(Clone, Debug, Default)]
pub struct SampleRecorder {
    /// The samples, in order.
    pub samples: Vec<Sample>,
}

impl Observer for SampleRecorder {
    fn observe(&mut self, sim: &Simulation) -> Result<()> {
        self.samples.push(sim.sample());
        Ok(())
    }
}

/// On-disk form of a checkpoint.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    magic: [u8; 8],
    version: u32,
    integrator: String,
    state: State,
    integrator_state: Vec<u8>,
    last_build: Option<(Vec<Vec3>, BoxRecord)>,
}

const MAGIC: [u8; 8] = *b"TGMDCKPT";
/// Version 2 appends an FNV-1a 64 checksum of the encoded checkpoint, so that a flipped
/// bit is an error rather than a silently different state.
const VERSION: u32 = 2;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Simulation {
    /// Validates the state and evaluates the initial forces.
    pub fn new(
        state: State,
        mut forcefield: ForceField,
        integrator: Box<dyn Integrator>,
    ) -> Result<Self> {
        state.validate()?;
        let mut eval = Evaluation::zeros(state.n_atoms());
        forcefield.evaluate(&state, &mut eval)?;
        Ok(Simulation {
            state,
            forcefield,
            integrator,
            eval,
            checks: FaultChecks::default(),
        })
    }

    /// Turns on the physical checks `checks` and runs them once on the current state.
    pub fn with_fault_checks(mut self, checks: FaultChecks) -> Result<Self> {
        checks.validate()?;
        self.checks = checks;
        self.check_faults()?;
        Ok(self)
    }

    /// The physical checks in force.
    pub fn fault_checks(&self) -> &FaultChecks {
        &self.checks
    }

    /// Runs the checks of [`FaultChecks`] on the current state.
    pub fn check_faults(&self) -> Result<()> {
        let step = self.state.step;
        let fault = |cause| MdError::Fault { step, cause };
        let c = &self.checks;
        if let Some(max_kt) = c.max_kt {
            let kt = temperature(self.state.kinetic_energy(), self.degrees_of_freedom());
            if kt.is_nan() || kt > max_kt {
                return Err(fault(crate::Fault::TemperatureExploded { kt, max_kt }));
            }
        }
        if let Some(v) = self.state.simbox.volume() {
            if let Some(limit) = c.min_volume.filter(|&l| v.is_nan() || v < l) {
                return Err(fault(crate::Fault::BoxCollapsed {
                    volume: v,
                    limit,
                    reason: "below the smallest volume allowed",
                }));
            }
            if let Some(limit) = c.max_volume.filter(|&l| v.is_nan() || v > l) {
                return Err(fault(crate::Fault::BoxCollapsed {
                    volume: v,
                    limit,
                    reason: "above the largest volume allowed",
                }));
            }
        }
        if let Some(min_distance) = c.min_distance {
            match ForceField::check_overlaps(&self.state, min_distance) {
                Err(MdError::AtomsOverlap {
                    i,
                    j,
                    distance,
                    min_distance,
                }) => {
                    return Err(fault(crate::Fault::Overlap {
                        i,
                        j,
                        distance,
                        min_distance,
                    }))
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Energy, forces and virial of the current state.
    pub fn evaluation(&self) -> &Evaluation {
        &self.eval
    }

    /// The force field.
    pub fn forcefield(&self) -> &ForceField {
        &self.forcefield
    }

    /// The integrator.
    pub fn integrator(&self) -> &dyn Integrator {
        self.integrator.as_ref()
    }

    /// Degrees of freedom used for the temperature.
    pub fn degrees_of_freedom(&self) -> usize {
        dof_for(&self.state, self.integrator.as_ref())
    }

    /// One step, then the [`FaultChecks`] when due.
    pub fn step(&mut self) -> Result<()> {
        self.integrator
            .step(&mut self.state, &mut self.forcefield, &mut self.eval)?;
        if self.state.step % self.checks.every.max(1) == 0 {
            self.check_faults()?;
        }
        Ok(())
    }

    /// `steps` steps.
    pub fn run(&mut self, steps: u64) -> Result<()> {
        for _ in 0..steps {
            self.step()?;
        }
        Ok(())
    }

    /// Observables of the current step.
    pub fn sample(&self) -> Sample {
        let kinetic_energy = self.state.kinetic_energy();
        let volume = self.state.simbox.volume();
        Sample {
            step: self.state.step,
            time: self.state.time,
            potential_energy: self.eval.energy,
            kinetic_energy,
            temperature: temperature(kinetic_energy, self.degrees_of_freedom()),
            pressure: volume.map(|v| pressure(&self.state.kinetic_tensor(), &self.eval.virial, v)),
            volume,
            conserved_energy: kinetic_energy
                + self.eval.energy
                + self.integrator.reservoir_energy(),
        }
    }

    /// Pressure tensor `(Σ m v⊗v + W)/V` (energy/volume), periodic boxes only.
    pub fn pressure_tensor(&self) -> Option<Mat3> {
        let v = self.state.simbox.volume()?;
        Some(crate::state::pressure_tensor(
            &self.state.kinetic_tensor(),
            &self.eval.virial,
            v,
        ))
    }

    /// Equilibration, then production calling `observer` every `stride` steps (counted
    /// from the start of production), with an optional progress bar.
    pub fn run_protocol(&mut self, config: &RunConfig, observer: &mut dyn Observer) -> Result<()> {
        if config.stride == 0 {
            return Err(MdError::InvalidParameter {
                name: "stride",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let total = config.equilibration_steps + config.production_steps;
        let bar = if config.progress {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {per_sec}  eta {eta}")
                    .expect("valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        let tick = (total / 200).max(1);
        for k in 0..total {
            self.step()?;
            if k >= config.equilibration_steps {
                let p = k + 1 - config.equilibration_steps;
                if p % config.stride == 0 {
                    observer.observe(self)?;
                }
            }
            if (k + 1) % tick == 0 {
                bar.set_position(k + 1);
            }
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// Writes a checkpoint atomically: to `path` + `.tmp`, flushed and synced, then
    /// renamed over `path`.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let checkpoint = Checkpoint {
            magic: MAGIC,
            version: VERSION,
            integrator: self.integrator.name().to_string(),
            state: self.state.clone(),
            integrator_state: self.integrator.save_state(),
            last_build: self
                .forcefield
                .last_build()
                .map(|(x, b)| (x.clone(), BoxRecord::from(b))),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |source| MdError::Io {
            path: tmp.clone(),
            source,
        };
        let bytes = bincode::serialize(&checkpoint).map_err(|e| MdError::Io {
            path: tmp.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let file = File::create(&tmp).map_err(io)?;
        let mut writer = BufWriter::new(file);
        writer.write_all(&bytes).map_err(io)?;
        writer.write_all(&fnv1a(&bytes).to_le_bytes()).map_err(io)?;
        writer.flush().map_err(io)?;
        writer.get_ref().sync_all().map_err(io)?;
        drop(writer);
        fs::rename(&tmp, path).map_err(|source| MdError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Restores state, integrator state and neighbor list from a checkpoint written by
    /// [`Simulation::save_checkpoint`] for the same kind of integrator and force field.
    /// A checkpoint of another system (atom count, species, masses, periodicity) is
    /// [`MdError::CheckpointMismatch`]; a damaged one is [`MdError::CorruptCheckpoint`].
    /// With the same thread count, continuing reproduces the uninterrupted run bit for
    /// bit.
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| MdError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |reason: String| MdError::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            return Err(corrupt("not a thermograd MD checkpoint".into()));
        }
        // The version follows the magic; read it first so that an old file is named as
        // such rather than as a checksum failure.
        if let Some(v) = bytes.get(8..12) {
            let version = u32::from_le_bytes(v.try_into().expect("4 bytes"));
            if version != VERSION {
                return Err(corrupt(format!(
                    "format version {version} (this build reads {VERSION})"
                )));
            }
        }
        let Some(split) = bytes.len().checked_sub(8).filter(|&s| s >= 12) else {
            return Err(corrupt(format!("truncated ({} bytes)", bytes.len())));
        };
        let (body, sum) = bytes.split_at(split);
        if fnv1a(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(corrupt(
                "checksum mismatch (the file is truncated or damaged)".into(),
            ));
        }
        let c: Checkpoint = bincode::deserialize(body).map_err(|e| corrupt(e.to_string()))?;
        if c.integrator != self.integrator.name() {
            return Err(corrupt(format!(
                "written by integrator `{}`, resuming with `{}`",
                c.integrator,
                self.integrator.name()
            )));
        }
        c.state.validate().map_err(|e| corrupt(e.to_string()))?;
        let mine = &self.state;
        let different = |what: String| MdError::CheckpointMismatch {
            path: path.to_path_buf(),
            what,
        };
        if c.state.n_atoms() != mine.n_atoms() {
            return Err(different(format!(
                "{} atoms in the checkpoint, {} in this simulation",
                c.state.n_atoms(),
                mine.n_atoms()
            )));
        }
        if let Some(atom) = (0..mine.n_atoms()).find(|&i| c.state.species[i] != mine.species[i]) {
            return Err(different(format!(
                "atom {atom} has species {} in the checkpoint, {} in this simulation",
                c.state.species[atom], mine.species[atom]
            )));
        }
        if let Some(atom) = (0..mine.n_atoms()).find(|&i| c.state.masses[i] != mine.masses[i]) {
            return Err(different(format!(
                "atom {atom} has mass {} in the checkpoint, {} in this simulation",
                c.state.masses[atom], mine.masses[atom]
            )));
        }
        if c.state.simbox.is_periodic() != mine.simbox.is_periodic() {
            let kind = |p: bool| if p { "periodic" } else { "open" };
            return Err(different(format!(
                "the checkpoint's box is {}, this simulation's is {}",
                kind(c.state.simbox.is_periodic()),
                kind(mine.simbox.is_periodic())
            )));
        }
        // A load that fails from here on (a state that cannot be evaluated, say an atom
        // 10^170 box lengths away) puts integrator and neighbor list back as they were,
        // so that a failed load changes nothing.
        let integrator_before = self.integrator.save_state();
        let build_before = self.forcefield.last_build().cloned();
        match self.restore(&c, &corrupt) {
            Ok(eval) => {
                self.state = c.state;
                self.eval = eval;
                Ok(())
            }
            Err(e) => {
                self.integrator
                    .load_state(&integrator_before)
                    .expect("an integrator reloads the state it saved");
                if let Some((positions, simbox)) = &build_before {
                    self.forcefield
                        .restore_build(positions, simbox)
                        .expect("a neighbor list rebuilds where it was built before");
                }
                Err(e)
            }
        }
    }

    /// The fallible part of [`Simulation::load_checkpoint`]: loads the integrator state,
    /// rebuilds the neighbor list as recorded and evaluates the saved state.
    fn restore(
        &mut self,
        c: &Checkpoint,
        corrupt: &dyn Fn(String) -> MdError,
    ) -> Result<Evaluation> {
        self.integrator
            .load_state(&c.integrator_state)
            .map_err(|e| corrupt(e.to_string()))?;
        if let Some((positions, simbox)) = &c.last_build {
            // The neighbor list is rebuilt from these positions and later compared with
            // the state's, atom by atom: they must describe the same atoms.
            if positions.len() != c.state.n_atoms() {
                return Err(corrupt(format!(
                    "the neighbor list was built for {} atoms, the state has {}",
                    positions.len(),
                    c.state.n_atoms()
                )));
            }
            if let Some(atom) = positions
                .iter()
                .position(|r| !r.iter().all(|x| x.is_finite()))
            {
                return Err(corrupt(format!(
                    "non-finite position of atom {atom} in the neighbor-list record"
                )));
            }
            let simbox = simbox.to_box().map_err(|e| corrupt(e.to_string()))?;
            self.forcefield
                .restore_build(positions, &simbox)
                .map_err(|e| corrupt(format!("its neighbor list cannot be rebuilt: {e}")))?;
        }
        let mut eval = Evaluation::zeros(c.state.n_atoms());
        self.forcefield
            .evaluate(&c.state, &mut eval)
            .map_err(|e| corrupt(format!("its state cannot be evaluated: {e}")))?;
        Ok(eval)
    }
}
