//! Lennard-Jones lattice energy of an fcc crystal, computed from neighbor lists in two
//! different cells that describe the same crystal: the conventional cubic cell with
//! 4·n³ atoms, and the one-atom primitive (rhombohedral, 60°) cell, where every
//! interaction is between an atom and its own periodic images. Both must give the LAMMPS
//! `bench/in.lj` value, −6.7733681 per atom at ρ* = 0.8442 with cutoff 2.5.
//!
//! Run: `cargo run --release --example fcc_lattice_energy [-- CELLS]`

use std::time::Instant;

use thermograd::geometry::{Mat3, SimBox, Vec3};
use thermograd::neighbors::{ListKind, NeighborList, NeighborListConfig};

/// LAMMPS `bench/in.lj` at step 0 (shared/references.md).
const REFERENCE: f64 = -6.7733681;
const DENSITY: f64 = 0.8442;
const CUTOFF: f64 = 2.5;

fn lj(r2: f64) -> f64 {
    let inv6 = 1.0 / (r2 * r2 * r2);
    4.0 * (inv6 * inv6 - inv6)
}

fn energy_per_atom(positions: &[Vec3], simbox: &SimBox) -> anyhow::Result<(f64, usize)> {
    let config = NeighborListConfig {
        cutoff: CUTOFF,
        skin: 0.3,
        kind: ListKind::Half,
    };
    let mut list = NeighborList::new(config)?;
    list.update(positions, simbox)?;
    let mut energy = 0.0;
    let mut pairs = 0;
    list.for_each_pair(|p| {
        energy += lj(p.r2);
        pairs += 1;
    });
    Ok((energy / positions.len() as f64, pairs))
}

fn main() -> anyhow::Result<()> {
    let cells: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let a = (4.0 / DENSITY).cbrt();

    let basis = [
        [0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.5, 0.0, 0.5],
        [0.0, 0.5, 0.5],
    ];
    let mut positions = Vec::with_capacity(4 * cells.pow(3));
    for i in 0..cells {
        for j in 0..cells {
            for k in 0..cells {
                for b in basis {
                    positions
                        .push(Vec3::new(i as f64 + b[0], j as f64 + b[1], k as f64 + b[2]) * a);
                }
            }
        }
    }
    let cubic = SimBox::cubic(cells as f64 * a)?;
    let start = Instant::now();
    let (e_cubic, pairs) = energy_per_atom(&positions, &cubic)?;
    let seconds = start.elapsed().as_secs_f64();

    let primitive = SimBox::triclinic(Mat3::from_columns(&[
        Vec3::new(0.0, 0.5, 0.5) * a,
        Vec3::new(0.5, 0.0, 0.5) * a,
        Vec3::new(0.5, 0.5, 0.0) * a,
    ]))?;
    let (e_primitive, self_pairs) = energy_per_atom(&[Vec3::zeros()], &primitive)?;

    println!("fcc Lennard-Jones crystal, rho* = {DENSITY}, cutoff {CUTOFF}, truncated");
    println!("reference (LAMMPS in.lj step 0)         {REFERENCE:.7}");
    println!(
        "cubic cell, {:>7} atoms               {e_cubic:.7}  ({pairs} pairs, list + sum in {:.3} s)",
        positions.len(),
        seconds
    );
    println!(
        "primitive 60-degree cell, 1 atom        {e_primitive:.7}  ({self_pairs} self-image pairs)"
    );
    anyhow::ensure!(
        (e_cubic - REFERENCE).abs() < 1e-6,
        "cubic cell disagrees with reference"
    );
    anyhow::ensure!(
        (e_primitive - REFERENCE).abs() < 1e-6,
        "primitive cell disagrees with reference"
    );
    Ok(())
}
