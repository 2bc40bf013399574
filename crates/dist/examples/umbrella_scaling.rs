//! Strong scaling of distributed umbrella sampling: a fixed job (8 windows along the
//! distance of a restrained dimer, reduced units) timed on however many ranks it is
//! started with. Rank 0 prints the wall time and a checksum of the mean forces, which
//! must not change with the number of ranks.
//!
//! ```sh
//! cargo build --release -p thermograd-dist --features mpi --example umbrella_scaling
//! for n in 1 2 4; do
//!   RAYON_NUM_THREADS=1 mpirun --oversubscribe -np $n \
//!     target/release/examples/umbrella_scaling 20000
//! done
//! ```

use std::sync::Arc;
use std::time::Instant;

use thermograd_cv::{grid_centers, Distance, MeanForceMethod, UmbrellaConfig};
use thermograd_dist::{run_umbrella_distributed, Comm, Mpi};
use thermograd_md::{
    HarmonicRestraints, PotentialSum, RunConfig, SimBox, State, ThermostatConfig, Vec3,
};

fn dimer(_window: usize) -> thermograd_md::Result<(State, PotentialSum)> {
    let targets = [Vec3::zeros(), Vec3::new(1.2, 0.0, 0.0)];
    let state = State::new(targets.to_vec(), vec![1.0, 1.0], vec![0, 0], SimBox::open())?;
    let potential = PotentialSum::new().with(HarmonicRestraints::all_atoms(&targets, 5.0)?);
    Ok((state, potential))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: u64 = std::env::args().nth(1).map_or(Ok(20_000), |s| s.parse())?;
    let comm = Mpi::init()?;
    let config = UmbrellaConfig {
        centers: grid_centers(&[0.8], &[1.6], &[8])?,
        kappa: vec![20.0],
        thermostat: ThermostatConfig {
            dt: 0.01,
            kt: 1.0,
            tau: 0.5,
            seed: 1,
        },
        run: RunConfig {
            equilibration_steps: 1000,
            production_steps: steps,
            stride: 10,
            progress: false,
        },
        skin: 0.3,
        progress: false,
        mean_force: MeanForceMethod::InstantaneousForce { step: 1e-4 },
        faults: Default::default(),
    };
    let cv = Arc::new(Distance::new(0, 1)?);
    comm.barrier();
    let start = Instant::now();
    let run = run_umbrella_distributed(&comm, &config, cv, &dimer, None)?;
    if let Some(run) = run {
        let elapsed = start.elapsed().as_secs_f64();
        let table = run.mean_forces()?;
        let checksum: f64 = table.gradients.iter().flatten().sum();
        println!(
            "ranks {} windows {} steps/window {} wall {elapsed:.3} s checksum {checksum:.15e}",
            comm.size(),
            config.centers.len(),
            config.run.equilibration_steps + steps,
        );
    }
    Ok(())
}
