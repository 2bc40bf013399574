//! Behler–Parrinello energy + forces timed for `cargo xtask bench nn`, with descriptors
//! that JAX-MD's `energy.behler_parrinello_neighbor_list` can reproduce exactly: 8
//! unshifted radial G2 (`r_s = 0`) and 4 angular G4 (`η = 1/r_c²`, `ζ ∈ {1, 4}`,
//! `λ = ±1`), cosine cutoff `r_c = 2.5`, one species, two hidden tanh layers of 30
//! (JAX-MD's default `mlp_sizes`).
//!
//! `cargo run --release -p thermograd-nn --example bp_bench -- DIR CELLS REPS THREADS`
//!
//! The configuration is a Lennard-Jones liquid: an fcc crystal of `4·CELLS³` atoms at
//! ρ* = 0.8442 melted by 200 NVE steps from T* = 1.44. Writes to `DIR` the positions
//! (`positions.bin`, `N×3` little-endian f64), the descriptors (`descriptors.bin`,
//! `N×12`) and the symmetry-function parameters (`params.json`), so the peer evaluates
//! the same atoms and can be checked against the same descriptors; prints `RESULT
//! {json}` with the median time of `evaluate` (descriptors, network, forces; neighbor
//! search included) over `REPS` calls after one warm-up.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use thermograd_md::{
    fcc_lattice, ForceField, LennardJonesConfig, PotentialSum, Simulation, State, VelocityVerlet,
};
use thermograd_nn::{
    Activation, Angular, AngularKind, BehlerParrinelloConfig, Radial, SymmetryFunctions,
};

const CUTOFF: f64 = 2.5;
const RADIAL_ETAS: [f64; 8] = [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0];

fn write(path: &Path, data: &[f64]) {
    let mut bytes = Vec::with_capacity(8 * data.len());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&bytes))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).expect("DIR"));
    let num = |i: usize, default: usize| {
        args.get(i)
            .map(|s| s.parse().expect("integer argument"))
            .unwrap_or(default)
    };
    let (cells, reps, threads) = (num(2, 10), num(3, 5).max(1), num(4, 1));
    std::fs::create_dir_all(dir).expect("create DIR");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let (positions, simbox) = fcc_lattice(cells, 0.8442).expect("lattice");
        let n = positions.len();
        let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).expect("state");
        state.thermalize(1.44, 1).expect("velocities");
        let lj = LennardJonesConfig::single(1.0, 1.0, 2.5)
            .build()
            .expect("LJ");
        let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).expect("force field");
        let integrator = Box::new(VelocityVerlet::new(0.005).expect("integrator"));
        let mut sim = Simulation::new(state, ff, integrator).expect("simulation");
        sim.run(200).expect("melt");
        let s = sim.state();
        let (positions, species, simbox) = (s.positions.clone(), s.species.clone(), s.simbox.clone());

        let mut angular = Vec::new();
        for zeta in [1.0, 4.0] {
            for lambda in [1.0, -1.0] {
                angular.push(Angular {
                    eta: 1.0 / (CUTOFF * CUTOFF),
                    zeta,
                    lambda,
                });
            }
        }
        let descriptors = SymmetryFunctions {
            cutoff: CUTOFF,
            n_species: 1,
            radial: RADIAL_ETAS.iter().map(|&eta| Radial { eta, rs: 0.0 }).collect(),
            angular: angular.clone(),
            angular_kind: AngularKind::G4,
        };
        let model = BehlerParrinelloConfig {
            descriptors,
            hidden: vec![30, 30],
            activation: Activation::Tanh,
        }
        .build(1)
        .expect("model");

        let mut out = model
            .evaluate(&positions, &species, &simbox, None)
            .expect("evaluate");
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            out = model
                .evaluate(&positions, &species, &simbox, None)
                .expect("evaluate");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let net_force = out.forces.iter().fold([0.0; 3], |acc, f| {
            [acc[0] + f.x, acc[1] + f.y, acc[2] + f.z]
        });

        let flat: Vec<f64> = positions.iter().flat_map(|p| [p.x, p.y, p.z]).collect();
        write(&dir.join("positions.bin"), &flat);
        let g = model
            .descriptors(&positions, &species, &simbox)
            .expect("descriptors");
        write(&dir.join("descriptors.bin"), &g.data);
        let length = simbox.cell().expect("periodic box")[(0, 0)];
        let list = |v: Vec<f64>| {
            v.iter()
                .map(|x| format!("{x:e}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let params = format!(
            "{{\"n\": {n}, \"box\": {length:.17e}, \"cutoff\": {CUTOFF}, \"radial_etas\": [{}], \
             \"angular_etas\": [{}], \"zetas\": [{}], \"lambdas\": [{}], \"mlp_sizes\": [30, 30]}}\n",
            list(RADIAL_ETAS.to_vec()),
            list(angular.iter().map(|a| a.eta).collect()),
            list(angular.iter().map(|a| a.zeta).collect()),
            list(angular.iter().map(|a| a.lambda).collect()),
        );
        std::fs::write(dir.join("params.json"), params).expect("write params.json");
        println!(
            "RESULT {{\"code\": \"thermograd\", \"N\": {n}, \"threads\": {threads}, \"t_med\": {:.6e}, \
             \"t_min\": {:.6e}, \"energy\": {:.12e}, \"max_net_force\": {:.3e}}}",
            times[times.len() / 2],
            times[0],
            out.energy,
            net_force.iter().fold(0.0f64, |m, v| m.max(v.abs()))
        );
    });
}
