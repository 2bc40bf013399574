//! Collective variables described as data, for configuration files.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::analytic::{
    Angle, CenterOfMassDistance, Coordination, Dihedral, Distance, DistanceComponents, Stack,
};
use crate::cv::CollectiveVariable;
use crate::error::Result;
use crate::switching::RationalSwitch;

fn six() -> i32 {
    6
}

fn twelve() -> i32 {
    12
}

/// A collective variable as it appears in a TOML or JSON file, tagged by `kind`:
///
/// ```toml
/// kind = "coordination"
/// group_a = [0]
/// group_b = [2, 3, 4, 5]
/// r0 = 0.35
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CvSpec {
    /// [`Distance`] between two atoms.
    Distance {
        /// The two atoms.
        atoms: [usize; 2],
    },
    /// [`DistanceComponents`] of the displacement between two atoms.
    DistanceComponents {
        /// The two atoms.
        atoms: [usize; 2],
    },
    /// [`Angle`] at the middle atom.
    Angle {
        /// The three atoms.
        atoms: [usize; 3],
    },
    /// [`Dihedral`] of four atoms.
    Dihedral {
        /// The four atoms.
        atoms: [usize; 4],
    },
    /// [`Coordination`] of `group_a` by `group_b` (or within `group_a` when `group_b` is
    /// absent) with a rational switch.
    Coordination {
        /// First group.
        group_a: Vec<usize>,
        /// Second group; absent for pairs within `group_a`.
        #[serde(default)]
        group_b: Option<Vec<usize>>,
        /// Switching length r0 (length units).
        r0: f64,
        /// Offset d0 (length units), default 0.
        #[serde(default)]
        d0: f64,
        /// Exponent n, default 6.
        #[serde(default = "six")]
        n: i32,
        /// Exponent m, default 12.
        #[serde(default = "twelve")]
        m: i32,
        /// Use PLUMED's stretched form that is exactly zero beyond d_max.
        #[serde(default)]
        stretched: bool,
    },
    /// [`CenterOfMassDistance`] between two groups.
    ComDistance {
        /// First group.
        group_a: Vec<usize>,
        /// Masses of the first group's atoms.
        masses_a: Vec<f64>,
        /// Second group.
        group_b: Vec<usize>,
        /// Masses of the second group's atoms.
        masses_b: Vec<f64>,
    },
    /// A [`Stack`] of CVs, one multi-dimensional CV (e.g. two distances for a 2-D
    /// umbrella grid):
    ///
    /// ```toml
    /// kind = "stack"
    /// cvs = [{ kind = "distance", atoms = [0, 1] }, { kind = "distance", atoms = [1, 2] }]
    /// ```
    Stack {
        /// The stacked CVs, in order.
        cvs: Vec<CvSpec>,
    },
}

impl CvSpec {
    /// Builds the CV, validating its definition.
    pub fn build(&self) -> Result<Arc<dyn CollectiveVariable>> {
        Ok(Arc::from(self.build_boxed()?))
    }

    fn build_boxed(&self) -> Result<Box<dyn CollectiveVariable>> {
        Ok(match self {
            CvSpec::Distance { atoms } => Box::new(Distance::new(atoms[0], atoms[1])?),
            CvSpec::DistanceComponents { atoms } => {
                Box::new(DistanceComponents::new(atoms[0], atoms[1])?)
            }
            CvSpec::Angle { atoms } => Box::new(Angle::new(atoms[0], atoms[1], atoms[2])?),
            CvSpec::Dihedral { atoms } => {
                Box::new(Dihedral::new(atoms[0], atoms[1], atoms[2], atoms[3])?)
            }
            CvSpec::Coordination {
                group_a,
                group_b,
                r0,
                d0,
                n,
                m,
                stretched,
            } => {
                let mut switch = RationalSwitch::new(*d0, *r0, *n, *m)?;
                if *stretched {
                    switch = switch.stretched();
                }
                match group_b {
                    Some(b) => Box::new(Coordination::between(group_a, b, switch)?),
                    None => Box::new(Coordination::within(group_a, switch)?),
                }
            }
            CvSpec::ComDistance {
                group_a,
                masses_a,
                group_b,
                masses_b,
            } => Box::new(CenterOfMassDistance::new(
                group_a, masses_a, group_b, masses_b,
            )?),
            CvSpec::Stack { cvs } => Box::new(Stack::new(
                cvs.iter()
                    .map(CvSpec::build_boxed)
                    .collect::<Result<Vec<_>>>()?,
            )?),
        })
    }
}
