//! The LAMMPS `bench/in.lj` run, timed the way `../shared/peers/run_md.py` times its
//! peers, for `cargo xtask bench md`: fcc start at ρ* = 0.8442, T* = 1.44 (exact, with
//! `3N − 3` degrees of freedom), plain truncated LJ with cutoff 2.5, skin 0.3, NVE
//! velocity Verlet with dt = 0.005, reduced units.
//!
//! `cargo run --release -p thermograd-md --example lj_bench -- N STEPS THREADS`
//!
//! Prints one line `RESULT {json}` with `wall_s` (the MD loop only, set-up excluded),
//! `atom_steps_per_s`, the total energy per atom `e0` at step 0 and `e_end` at the end,
//! `energies` (every 100 steps) and the number of neighbor-list builds.

use std::time::Instant;

use thermograd_md::{
    fcc_lattice, ForceField, LennardJonesConfig, PotentialSum, Simulation, State, VelocityVerlet,
};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .map(|s| s.parse().expect("integer argument"))
        .unwrap_or(default)
}

fn main() {
    let n_atoms = arg(1, 32_000);
    let steps = arg(2, 1000);
    let threads = arg(3, 1);
    let cells = ((n_atoms / 4) as f64).cbrt().round() as usize;
    assert_eq!(4 * cells.pow(3), n_atoms, "N must be 4 n³ (4000, 32000, …)");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let (positions, simbox) = fcc_lattice(cells, 0.8442).expect("lattice");
        let n = positions.len();
        let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).expect("state");
        state.thermalize(1.44, 87287).expect("velocities");
        let lj = LennardJonesConfig::single(1.0, 1.0, 2.5)
            .build()
            .expect("LJ");
        let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).expect("force field");
        let integrator = Box::new(VelocityVerlet::new(0.005).expect("integrator"));
        let mut sim = Simulation::new(state, ff, integrator).expect("simulation");
        let per_atom = |sim: &Simulation| {
            let s = sim.sample();
            (s.potential_energy + s.kinetic_energy) / n as f64
        };
        let mut energies = vec![per_atom(&sim)];
        let mut wall = 0.0;
        let mut done = 0;
        while done < steps {
            let k = 100.min(steps - done);
            let t = Instant::now();
            sim.run(k as u64).expect("MD step");
            wall += t.elapsed().as_secs_f64();
            done += k;
            energies.push(per_atom(&sim));
        }
        let builds = sim
            .forcefield()
            .neighbor_list()
            .map_or(0, |l| l.builds());
        let list: Vec<String> = energies.iter().map(|e| format!("{e:.12e}")).collect();
        println!(
            "RESULT {{\"code\": \"thermograd\", \"N\": {n}, \"steps\": {steps}, \"threads\": {threads}, \
             \"wall_s\": {wall:.6}, \"atom_steps_per_s\": {:.1}, \"e0\": {:.12e}, \"e_end\": {:.12e}, \
             \"neighbor_builds\": {builds}, \"energies\": [{}]}}",
            (n * steps) as f64 / wall,
            energies[0],
            energies[energies.len() - 1],
            list.join(", ")
        );
    });
}
