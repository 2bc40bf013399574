//! `thermograd lj`: a reduced-units Lennard-Jones fluid from an fcc start, to check the MD
//! engine against published numbers and to measure its speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use thermograd_md::stats::{series_stats, slope};
use thermograd_md::{
    fcc_lattice, with_threads, BarostatConfig, Csvr, ForceField, Integrator, Langevin,
    LennardJonesConfig, NoseHooverChain, PotentialSum, RunConfig, Sample, SampleRecorder,
    Simulation, State, StochasticCellRescaling, ThermostatConfig, Truncation, VelocityVerlet,
};

use super::system::FaultSpec;

/// Statistical ensemble (and the scheme that samples it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Ensemble {
    /// Velocity Verlet, constant energy.
    Nve,
    /// Langevin dynamics (BAOAB), friction 1/tau.
    Langevin,
    /// Nosé–Hoover chain of length 3 (MTK), coupling time tau.
    Nhc,
    /// Stochastic velocity rescaling (Bussi), coupling time tau.
    Csvr,
    /// CSVR plus stochastic cell rescaling (Bernetti & Bussi 2020), needs --pressure.
    Npt,
}

/// Arguments of `thermograd lj`. All quantities in reduced LJ units (σ = ε = m = k_B = 1).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of atoms; must be 4k³ (an fcc crystal of k³ cubic cells).
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Number density ρ* (initial density for npt).
    #[arg(long, default_value_t = 0.8442)]
    density: f64,
    /// Temperature T* (initial velocities; target of thermostats).
    #[arg(long, default_value_t = 1.44)]
    temperature: f64,
    /// Cutoff radius.
    #[arg(long, default_value_t = 2.5)]
    cutoff: f64,
    /// Add analytic long-range corrections to energy and pressure.
    #[arg(long)]
    tail: bool,
    /// Shift the potential to zero at the cutoff.
    #[arg(long, conflicts_with = "tail")]
    shift: bool,
    /// Ensemble.
    #[arg(long, value_enum, default_value_t = Ensemble::Nve)]
    ensemble: Ensemble,
    /// Target pressure P* (npt only).
    #[arg(long)]
    pressure: Option<f64>,
    /// Time step.
    #[arg(long, default_value_t = 0.005)]
    dt: f64,
    /// Equilibration steps (not sampled).
    #[arg(long, default_value_t = 1000)]
    equil_steps: u64,
    /// Production steps.
    #[arg(long, default_value_t = 5000)]
    steps: u64,
    /// Sample every this many production steps.
    #[arg(long, default_value_t = 10)]
    stride: u64,
    /// Thermostat coupling time (1/friction for Langevin).
    #[arg(long, default_value_t = 0.5)]
    tau: f64,
    /// Barostat relaxation time (npt).
    #[arg(long, default_value_t = 2.0)]
    tau_p: f64,
    /// Isothermal compressibility used by the barostat (npt).
    #[arg(long, default_value_t = 0.05)]
    compressibility: f64,
    /// Verlet-list skin.
    #[arg(long, default_value_t = 0.3)]
    skin: f64,
    /// Random seed (velocities and stochastic integrators).
    #[arg(long, default_value_t = 87287)]
    seed: u64,
    /// Worker threads (default: RAYON_NUM_THREADS or all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print exactly one JSON object: u, u_err, p, p_err, t, drift, atom_steps_per_s.
    #[arg(long)]
    json: bool,
    /// Checkpoint file, written atomically every --checkpoint-every steps and at the end;
    /// the samples taken so far go to FILE.samples beside it.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Steps between checkpoints.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        requires = "checkpoint"
    )]
    checkpoint_every: u64,
    /// Continue from --checkpoint if it exists (otherwise start afresh). With the same
    /// arguments and thread count, the result equals an uninterrupted run bit for bit.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Fault check: stop with an error naming the step when two atoms come closer than
    /// this (length units).
    #[arg(long, value_name = "R", help_heading = "Fault checks")]
    min_distance: Option<f64>,
    /// Fault check: stop when the instantaneous kT exceeds this (energy units).
    #[arg(long, value_name = "KT", help_heading = "Fault checks")]
    max_kt: Option<f64>,
    /// Fault check: stop when the box volume falls below this (length³), e.g. a box
    /// collapsing under the barostat.
    #[arg(long, value_name = "V", help_heading = "Fault checks")]
    min_volume: Option<f64>,
    /// Fault check: stop when the box volume rises above this (length³).
    #[arg(long, value_name = "V", help_heading = "Fault checks")]
    max_volume: Option<f64>,
    /// Run the fault checks every N steps (default 100 when any check is set); they also
    /// run once on the starting state.
    #[arg(long, value_name = "N", help_heading = "Fault checks")]
    check_every: Option<u64>,
}

/// What a run measured.
struct Report {
    u: f64,
    u_err: f64,
    p: f64,
    p_err: f64,
    t: f64,
    drift: Option<f64>,
    atom_steps_per_s: f64,
    n: usize,
    density: f64,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let report = with_threads(args.threads, || simulate(args))??;
    if args.json {
        let value = serde_json::json!({
            "u": report.u,
            "u_err": report.u_err,
            "p": report.p,
            "p_err": report.p_err,
            "t": report.t,
            "drift": report.drift,
            "atom_steps_per_s": report.atom_steps_per_s,
        });
        println!("{value}");
    } else {
        println!("atoms               {}", report.n);
        println!("density             {:.5}", report.density);
        println!("U/N                 {:.5} ± {:.5}", report.u, report.u_err);
        println!("pressure            {:.4} ± {:.4}", report.p, report.p_err);
        println!("temperature         {:.4}", report.t);
        if let Some(d) = report.drift {
            println!("energy drift        {d:.3e} per 1000 steps (relative)");
        }
        println!("atom-steps/s        {:.3e}", report.atom_steps_per_s);
    }
    Ok(())
}

fn simulate(args: &Args) -> anyhow::Result<Report> {
    let cells = ((args.n as f64 / 4.0).cbrt().round() as usize).max(1);
    if 4 * cells.pow(3) != args.n {
        bail!(
            "--n {} is not 4k³ (an fcc crystal); nearest are {} and {}",
            args.n,
            4 * cells.saturating_sub(1).pow(3),
            4 * (cells + 1).pow(3)
        );
    }
    if args.stride == 0 {
        bail!("--stride must be at least 1");
    }
    if args.steps < args.stride {
        bail!(
            "--steps must cover at least one sample (--stride {})",
            args.stride
        );
    }
    let (positions, simbox) = fcc_lattice(cells, args.density)?;
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox)?;
    state.thermalize(args.temperature, args.seed)?;

    let mut lj = LennardJonesConfig::single(1.0, 1.0, args.cutoff);
    lj.tail = args.tail;
    if args.shift {
        lj.truncation = Truncation::EnergyShifted;
    }
    let forcefield = ForceField::new(PotentialSum::new().with(lj.build()?), args.skin)?;

    let thermostat = ThermostatConfig {
        dt: args.dt,
        kt: args.temperature,
        tau: args.tau,
        seed: args.seed.wrapping_add(1),
    };
    if args.pressure.is_some() && args.ensemble != Ensemble::Npt {
        bail!("--pressure is only used with --ensemble npt");
    }
    let integrator: Box<dyn Integrator> = match args.ensemble {
        Ensemble::Nve => Box::new(VelocityVerlet::new(args.dt)?),
        Ensemble::Langevin => Box::new(Langevin::new(thermostat)?),
        Ensemble::Nhc => Box::new(NoseHooverChain::new(thermostat, 3)?),
        Ensemble::Csvr => Box::new(Csvr::new(thermostat)?),
        Ensemble::Npt => {
            let pressure = args.pressure.context("--ensemble npt needs --pressure")?;
            Box::new(StochasticCellRescaling::new(
                Box::new(Csvr::new(thermostat)?),
                BarostatConfig {
                    pressure,
                    compressibility: args.compressibility,
                    tau: args.tau_p,
                    kt: args.temperature,
                    stride: 10,
                    seed: args.seed.wrapping_add(2),
                },
            )?)
        }
    };
    let mut sim = Simulation::new(state, forcefield, integrator)?;
    let faults = FaultSpec {
        min_distance: args.min_distance,
        max_kt: args.max_kt,
        min_volume: args.min_volume,
        max_volume: args.max_volume,
        check_every: args.check_every,
    };
    if let Some(checks) = faults.checks(|key| format!("--{}", key.replace('_', "-")))? {
        sim = sim.with_fault_checks(checks)?;
    }
    let mut recorder = SampleRecorder::default();
    let total = args.equil_steps + args.steps;
    let config = RunConfig {
        equilibration_steps: args.equil_steps,
        production_steps: args.steps,
        stride: args.stride,
        progress: total as f64 * n as f64 > 2e8,
    };
    let start = Instant::now();
    let steps_run = match &args.checkpoint {
        None => {
            sim.run_protocol(&config, &mut recorder)?;
            total
        }
        Some(path) => run_checkpointed(args, path, &mut sim, &mut recorder)?,
    };
    let elapsed = start.elapsed().as_secs_f64();

    let samples = &recorder.samples;
    let nf = n as f64;
    let u: Vec<f64> = samples.iter().map(|s| s.potential_energy / nf).collect();
    let p: Vec<f64> = samples
        .iter()
        .map(|s| s.pressure.expect("periodic box"))
        .collect();
    let t: Vec<f64> = samples.iter().map(|s| s.temperature).collect();
    let (u, p, t) = (series_stats(&u), series_stats(&p), series_stats(&t));
    let drift = (args.ensemble != Ensemble::Npt).then(|| {
        let steps: Vec<f64> = samples.iter().map(|s| s.step as f64).collect();
        let e: Vec<f64> = samples.iter().map(|s| s.conserved_energy).collect();
        let mean = e.iter().sum::<f64>() / e.len() as f64;
        slope(&steps, &e) * 1000.0 / mean.abs()
    });
    let density = sim.state().density().unwrap_or(f64::NAN);
    Ok(Report {
        u: u.mean,
        u_err: u.std_err,
        p: p.mean,
        p_err: p.std_err,
        t: t.mean,
        drift,
        atom_steps_per_s: nf * steps_run as f64 / elapsed,
        n,
        density,
    })
}

fn samples_path(checkpoint: &Path) -> PathBuf {
    let mut p = checkpoint.as_os_str().to_owned();
    p.push(".samples");
    PathBuf::from(p)
}

/// The recorded samples, one per line, each number as the hexadecimal bits of its `f64`
/// so that a resumed run continues from exactly the same values.
fn write_samples(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(samples.len() * 120);
    for s in samples {
        let bits = |x: f64| format!("{:016x}", x.to_bits());
        writeln!(
            text,
            "{} {} {} {} {} {} {} {}",
            s.step,
            bits(s.time),
            bits(s.potential_energy),
            bits(s.kinetic_energy),
            bits(s.temperature),
            bits(s.pressure.unwrap_or(f64::NAN)),
            bits(s.volume.unwrap_or(f64::NAN)),
            bits(s.conserved_energy)
        )?;
    }
    super::write_atomic(path, &text)
}

fn read_samples(path: &Path, up_to_step: u64) -> anyhow::Result<Vec<Sample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let bad = || format!("{}:{}: malformed sample line", path.display(), k + 1);
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() != 8 {
            bail!("{}", bad());
        }
        let step: u64 = t[0].parse().with_context(bad)?;
        let mut x = [0.0; 7];
        for (v, tok) in x.iter_mut().zip(&t[1..]) {
            *v = f64::from_bits(u64::from_str_radix(tok, 16).with_context(bad)?);
        }
        if step <= up_to_step {
            out.push(Sample {
                step,
                time: x[0],
                potential_energy: x[1],
                kinetic_energy: x[2],
                temperature: x[3],
                pressure: Some(x[4]).filter(|p| !p.is_nan()),
                volume: Some(x[5]).filter(|v| !v.is_nan()),
                conserved_energy: x[6],
            });
        }
    }
    Ok(out)
}

/// Runs the protocol from wherever `sim` stands, sampling as `run_protocol` does and
/// checkpointing every `--checkpoint-every` steps and at the end. The samples file is
/// written before the checkpoint, so it always covers the checkpoint's step; on resume,
/// samples after that step are dropped. Returns the number of steps run.
fn run_checkpointed(
    args: &Args,
    path: &Path,
    sim: &mut Simulation,
    recorder: &mut SampleRecorder,
) -> anyhow::Result<u64> {
    if args.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    let samples = samples_path(path);
    if args.resume && path.exists() {
        sim.load_checkpoint(path)
            .with_context(|| format!("cannot resume from {}", path.display()))?;
        recorder.samples = read_samples(&samples, sim.state().step)?;
        eprintln!(
            "resumed from {} at step {}",
            path.display(),
            sim.state().step
        );
    }
    let total = args.equil_steps + args.steps;
    let first = sim.state().step;
    if first > total {
        bail!(
            "{} is at step {first}, beyond the {total} steps asked for",
            path.display()
        );
    }
    let save = |sim: &Simulation, recorded: &[Sample]| -> anyhow::Result<()> {
        write_samples(&samples, recorded)?;
        sim.save_checkpoint(path)
            .with_context(|| format!("cannot write checkpoint {}", path.display()))
    };
    for k in first..total {
        sim.step()?;
        if k >= args.equil_steps && (k + 1 - args.equil_steps) % args.stride == 0 {
            recorder.samples.push(sim.sample());
        }
        if (k + 1) % args.checkpoint_every == 0 {
            save(sim, &recorder.samples)?;
        }
    }
    save(sim, &recorder.samples)?;
    Ok(total - first)
}
