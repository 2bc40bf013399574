//! The O(N²) reference list.

use thermograd_geometry::SimBox;

use crate::{check_cutoff, check_positions, shift_is_positive, ListKind, Pair, Result, Vec3};

/// Every pair within `cutoff` (strictly), by checking all atom pairs and every periodic
/// image of each, in O(N²·images). The reference that the fast lists are tested against;
/// also fine for a few hundred atoms.
pub fn brute_force_pairs(
    positions: &[Vec3],
    simbox: &SimBox,
    cutoff: f64,
    kind: ListKind,
) -> Result<Vec<Pair>> {
    check_cutoff(cutoff)?;
    check_positions(positions)?;
    let mut pairs = Vec::new();
    for (i, ri) in positions.iter().enumerate() {
        let start = match kind {
            ListKind::Half => i,
            ListKind::Full => 0,
        };
        for (j, rj) in positions.iter().enumerate().skip(start) {
            simbox.for_each_image_within(rj - ri, cutoff, |d, shift| {
                let keep = if i != j {
                    true
                } else {
                    match kind {
                        ListKind::Half => shift_is_positive(shift),
                        ListKind::Full => shift != [0, 0, 0],
                    }
                };
                if keep {
                    pairs.push(Pair {
                        i,
                        j,
                        d,
                        r2: d.norm_squared(),
                    });
                }
            });
        }
    }
    Ok(pairs)
}
