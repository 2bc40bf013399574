//! [`ForceField`]: potentials plus the neighbor list they share.

use thermograd_geometry::{SimBox, Vec3};
use thermograd_neighbors::{CellList, ListKind, NeighborList, NeighborListConfig};

use crate::error::{check_non_negative, check_positive};
use crate::{Configuration, Evaluation, MdError, Potential, PotentialSum, Result, State};

/// A sum of potentials together with the half Verlet list that serves all of them.
///
/// The list's cutoff is the largest cutoff of the terms; it is updated (and rebuilt when
/// atoms moved far enough to bring a pair from beyond the skin into the cutoff, or the box changed) on every evaluation. Periodic
/// images are exact for any cutoff: in a cell narrower than twice the cutoff, an atom
/// interacts with several images of a neighbour (and with its own images).
#[derive(Debug)]
pub struct ForceField {
    potential: PotentialSum,
    list: Option<NeighborList>,
    /// Positions and box of the last list build, kept so that a checkpoint can rebuild
    /// the identical list (and so resume bit for bit).
    last_build: Option<(Vec<Vec3>, SimBox)>,
    evaluations: u64,
}

impl ForceField {
    /// Builds the force field; `skin` (length units) is the Verlet-list skin.
    pub fn new(potential: PotentialSum, skin: f64) -> Result<Self> {
        check_non_negative("skin", skin)?;
        let list = match potential.cutoff() {
            Some(cutoff) => {
                check_positive("cutoff", cutoff)?;
                Some(NeighborList::new(NeighborListConfig {
                    cutoff,
                    skin,
                    kind: ListKind::Half,
                })?)
            }
            None => None,
        };
        Ok(ForceField {
            potential,
            list,
            last_build: None,
            evaluations: 0,
        })
    }

    /// The potential.
    pub fn potential(&self) -> &PotentialSum {
        &self.potential
    }

    /// The neighbor list, if any term has a cutoff.
    pub fn neighbor_list(&self) -> Option<&NeighborList> {
        self.list.as_ref()
    }

    /// How many times [`ForceField::evaluate`] ran.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Zeroes `out` and fills it with energy, forces and virial of `state`. A non-finite
    /// energy, force or virial is [`MdError::NonFiniteEnergy`] naming `state.step`.
    pub fn evaluate(&mut self, state: &State, out: &mut Evaluation) -> Result<()> {
        out.reset(state.n_atoms());
        if let Some(list) = &mut self.list {
            let rebuilt = list
                .update(&state.positions, &state.simbox)
                .map_err(|e| match e {
                    // A blown-up step shows up first as a non-finite position; report it
                    // as the non-finite energy of that step.
                    thermograd_neighbors::NeighborError::NonFinitePosition { .. } => {
                        MdError::NonFiniteEnergy {
                            step: state.step,
                            energy: f64::NAN,
                        }
                    }
                    // So does an atom thrown beyond the cells the list can wrap; before
                    // the first step that is bad input and keeps its own message.
                    thermograd_neighbors::NeighborError::AtomTooFar { atom, cells }
                        if state.step > 0 =>
                    {
                        MdError::Fault {
                            step: state.step,
                            cause: crate::Fault::AtomEscaped { atom, cells },
                        }
                    }
                    e => e.into(),
                })?;
            if rebuilt {
                self.last_build = Some((state.positions.clone(), state.simbox.clone()));
            }
        }
        let config = Configuration {
            positions: &state.positions,
            species: &state.species,
            simbox: &state.simbox,
            neighbors: self.list.as_ref(),
        };
        self.potential.add_to(&config, out)?;
        self.evaluations += 1;
        if !out.is_finite() {
            return Err(MdError::NonFiniteEnergy {
                step: state.step,
                energy: out.energy,
            });
        }
        Ok(())
    }

    /// Positions and box at the last neighbor-list build.
    pub fn last_build(&self) -> Option<&(Vec<Vec3>, SimBox)> {
        self.last_build.as_ref()
    }

    /// Rebuilds the neighbor list from the positions and box of an earlier build (from
    /// [`ForceField::last_build`]), so that later evaluations match that run bit for bit.
    pub fn restore_build(&mut self, positions: &[Vec3], simbox: &SimBox) -> Result<()> {
        if let Some(list) = &mut self.list {
            list.rebuild(positions, simbox)?;
            self.last_build = Some((positions.to_vec(), simbox.clone()));
        }
        Ok(())
    }

    /// Fails with [`MdError::AtomsOverlap`] if two atoms (or an atom and a periodic
    /// image) are closer than `min_distance` (length units).
    pub fn check_overlaps(state: &State, min_distance: f64) -> Result<()> {
        check_positive("min_distance", min_distance)?;
        state.validate()?;
        let cells = CellList::new(&state.positions, &state.simbox, min_distance)?;
        let mut worst: Option<(usize, usize, f64)> = None;
        cells.for_each_pair(ListKind::Half, |p| {
            let r = p.r2.sqrt();
            if worst.is_none_or(|w| r < w.2) {
                worst = Some((p.i, p.j, r));
            }
        });
        match worst {
            Some((i, j, distance)) => Err(MdError::AtomsOverlap {
                i,
                j,
                distance,
                min_distance,
            }),
            None => Ok(()),
        }
    }
}
