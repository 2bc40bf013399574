//! Simulation boxes: open, orthorhombic and triclinic, with an exact minimum image.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, GeometryError, Result};
use crate::{Mat3, Vec3};

/// Which of the three box geometries a [`SimBox`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxKind {
    /// No periodic boundaries: displacements are plain differences.
    Open,
    /// Periodic along three orthogonal axes (x, y, z).
    Orthorhombic,
    /// Periodic along three arbitrary right-handed lattice vectors.
    Triclinic,
}

/// A simulation box.
///
/// The cell matrix `h` holds the lattice vectors **a**, **b**, **c** as its *columns*, so a
/// Cartesian position is `r = h·s` for fractional coordinates `s`. Lengths are in the
/// caller's length unit (nm by default in files and the CLI; σ in reduced LJ units).
///
/// # Minimum image
///
/// [`SimBox::min_image`] returns the shortest lattice image of a displacement for *every*
/// cell, however skewed. It works in a Minkowski-reduced basis of the lattice (computed
/// once, when the box is built): the displacement is wrapped into the reduced cell and the
/// 26 neighbouring images are searched. A plain rounding of fractional coordinates in the
/// original cell is wrong for skewed cells; this is not that.
///
/// # Largest single-image cutoff
///
/// [`SimBox::max_single_image_cutoff`] is half the length of the shortest nonzero lattice
/// vector, λ₁/2. For a cutoff `r_c` *below* it, at most one periodic image of any atom lies
/// within `r_c` of any point, so a pair potential may use the minimum image alone. The
/// often-quoted bound "half the smallest perpendicular width" is never larger than λ₁/2
/// (a lattice vector with a nonzero component along a cell axis is at least one
/// perpendicular width long) and is also safe. Past λ₁/2, an atom sees several images of
/// its neighbours (and of itself): use [`SimBox::for_each_image_within`] or the neighbor
/// lists of `thermograd-neighbors`, which include every image.
///
/// ```
/// use thermograd_geometry::{SimBox, Vec3};
/// let b = SimBox::from_lengths_angles([3.0, 3.0, 3.0], [90.0, 90.0, 60.0])?;
/// let d = b.min_image(Vec3::new(2.9, 0.1, 0.0));
/// assert!(d.norm() <= 2.9);
/// assert!((b.volume().unwrap() - 27.0 * 60f64.to_radians().sin()).abs() < 1e-12);
/// # Ok::<(), thermograd_geometry::GeometryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BoxRepr", into = "BoxRepr")]
pub struct SimBox {
    kind: BoxKind,
    cell: Mat3,
    inverse: Mat3,
    reduced: Mat3,
    reduced_inverse: Mat3,
    /// The 26 nonzero combinations of reduced lattice vectors with coefficients in {-1, 0, 1}.
    images: Vec<Vec3>,
    /// λ₁/2: half the shortest lattice vector (infinite for open boxes).
    half_shortest: f64,
}

/// How a box is written in config and checkpoint files. Externally tagged (`"open"`,
/// `{"orthorhombic": {"lengths": …}}`), so that non-self-describing formats such as
/// bincode can hold it as well as JSON and TOML.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BoxRepr {
    Open,
    Orthorhombic {
        lengths: [f64; 3],
    },
    /// Rows are the lattice vectors a, b, c.
    Triclinic {
        vectors: [[f64; 3]; 3],
    },
}

impl TryFrom<BoxRepr> for SimBox {
    type Error = GeometryError;
    fn try_from(repr: BoxRepr) -> Result<Self> {
        match repr {
            BoxRepr::Open => Ok(SimBox::open()),
            BoxRepr::Orthorhombic { lengths } => SimBox::orthorhombic(lengths),
            BoxRepr::Triclinic { vectors } => SimBox::triclinic(Mat3::from_columns(&[
                Vec3::from(vectors[0]),
                Vec3::from(vectors[1]),
                Vec3::from(vectors[2]),
            ])),
        }
    }
}

impl From<SimBox> for BoxRepr {
    fn from(b: SimBox) -> Self {
        let h = b.cell;
        match b.kind {
            BoxKind::Open => BoxRepr::Open,
            BoxKind::Orthorhombic => BoxRepr::Orthorhombic {
                lengths: [h[(0, 0)], h[(1, 1)], h[(2, 2)]],
            },
            BoxKind::Triclinic => BoxRepr::Triclinic {
                vectors: [0, 1, 2].map(|k| [h[(0, k)], h[(1, k)], h[(2, k)]]),
            },
        }
    }
}

const AXES: [&str; 3] = ["a", "b", "c"];

impl SimBox {
    /// A box with no periodic boundaries.
    pub fn open() -> Self {
        SimBox {
            kind: BoxKind::Open,
            cell: Mat3::identity(),
            inverse: Mat3::identity(),
            reduced: Mat3::identity(),
            reduced_inverse: Mat3::identity(),
            images: Vec::new(),
            half_shortest: f64::INFINITY,
        }
    }

    /// An orthorhombic box with edge lengths `lengths` (length units), all positive.
    pub fn orthorhombic(lengths: [f64; 3]) -> Result<Self> {
        for (axis, &value) in AXES.iter().zip(&lengths) {
            check_finite("box length", value)?;
            if value <= 0.0 {
                return Err(GeometryError::NonPositiveLength { axis, value });
            }
        }
        let cell = Mat3::from_diagonal(&Vec3::from(lengths));
        check_widths(&cell)?;
        Ok(Self::periodic(BoxKind::Orthorhombic, cell, cell))
    }

    /// A cubic box of edge `length`.
    pub fn cubic(length: f64) -> Result<Self> {
        Self::orthorhombic([length; 3])
    }

    /// A triclinic box from its cell matrix, lattice vectors as **columns**. The cell must
    /// be right-handed with positive volume. A diagonal matrix still gives a
    /// [`BoxKind::Triclinic`] box (useful to cross-check the general code path); use
    /// [`SimBox::orthorhombic`] for the fast orthorhombic path.
    pub fn triclinic(cell: Mat3) -> Result<Self> {
        for &value in cell.iter() {
            check_finite("cell matrix entry", value)?;
        }
        for (k, axis) in AXES.iter().enumerate() {
            let value = cell.column(k).norm();
            if value <= 0.0 {
                return Err(GeometryError::NonPositiveLength { axis, value });
            }
        }
        let volume = cell.determinant();
        // Relative test: a cell whose volume is negligible next to its edge lengths is
        // degenerate even when the determinant is a tiny positive number.
        let scale = cell.column(0).norm() * cell.column(1).norm() * cell.column(2).norm();
        if volume <= 1e-12 * scale {
            return Err(GeometryError::NonPositiveVolume { volume });
        }
        check_widths(&cell)?;
        let reduced = minkowski_reduce(&cell);
        Ok(Self::periodic(BoxKind::Triclinic, cell, reduced))
    }

    /// A triclinic box from edge lengths `[a, b, c]` (length units) and angles
    /// `[alpha, beta, gamma]` in degrees (alpha between b and c, beta between a and c,
    /// gamma between a and b). The orientation is the usual one: **a** along x, **b** in
    /// the xy plane, **c** with positive z.
    pub fn from_lengths_angles(lengths: [f64; 3], angles_deg: [f64; 3]) -> Result<Self> {
        for (axis, &value) in AXES.iter().zip(&lengths) {
            check_finite("box length", value)?;
            if value <= 0.0 {
                return Err(GeometryError::NonPositiveLength { axis, value });
            }
        }
        let [alpha, beta, gamma] = angles_deg;
        let invalid = GeometryError::InvalidAngles { alpha, beta, gamma };
        for &angle in &angles_deg {
            check_finite("cell angle", angle)?;
            if !(angle > 0.0 && angle < 180.0) {
                return Err(invalid);
            }
        }
        let [a, b, c] = lengths;
        let (ca, cb, cg) = (
            alpha.to_radians().cos(),
            beta.to_radians().cos(),
            gamma.to_radians().cos(),
        );
        let sg = gamma.to_radians().sin();
        let cx = c * cb;
        let cy = c * (ca - cb * cg) / sg;
        let cz2 = c * c - cx * cx - cy * cy;
        if cz2 <= 0.0 {
            return Err(invalid);
        }
        let cell = Mat3::from_columns(&[
            Vec3::new(a, 0.0, 0.0),
            Vec3::new(b * cg, b * sg, 0.0),
            Vec3::new(cx, cy, cz2.sqrt()),
        ]);
        Self::triclinic(cell)
    }

    fn periodic(kind: BoxKind, cell: Mat3, reduced: Mat3) -> Self {
        let inverse = cell.try_inverse().expect("validated cell is invertible");
        let reduced_inverse = reduced
            .try_inverse()
            .expect("reduced basis of a valid cell is invertible");
        let mut images = Vec::with_capacity(26);
        for i in -1..=1 {
            for j in -1..=1 {
                for k in -1..=1 {
                    if (i, j, k) != (0, 0, 0) {
                        images.push(reduced * Vec3::new(i as f64, j as f64, k as f64));
                    }
                }
            }
        }
        let shortest = (0..3)
            .map(|k| reduced.column(k).norm())
            .fold(f64::INFINITY, f64::min);
        SimBox {
            kind,
            cell,
            inverse,
            reduced,
            reduced_inverse,
            images,
            half_shortest: 0.5 * shortest,
        }
    }

    /// Which geometry this box has.
    pub fn kind(&self) -> BoxKind {
        self.kind
    }

    /// Whether the box has periodic boundaries.
    pub fn is_periodic(&self) -> bool {
        self.kind != BoxKind::Open
    }

    /// The cell matrix (lattice vectors as columns), `None` for an open box.
    pub fn cell(&self) -> Option<&Mat3> {
        self.is_periodic().then_some(&self.cell)
    }

    /// A Minkowski-reduced basis of the same lattice (columns, right-handed, shortest
    /// first), `None` for an open box.
    pub fn reduced_cell(&self) -> Option<&Mat3> {
        self.is_periodic().then_some(&self.reduced)
    }

    /// Edge lengths |a|, |b|, |c| (length units), `None` for an open box.
    pub fn lengths(&self) -> Option<Vec3> {
        self.cell()
            .map(|h| Vec3::new(h.column(0).norm(), h.column(1).norm(), h.column(2).norm()))
    }

    /// Volume (length³), `None` for an open box.
    pub fn volume(&self) -> Option<f64> {
        self.cell().map(|h| h.determinant())
    }

    /// Perpendicular widths (distances between opposite faces) of the cell, along the
    /// normals of the bc, ca and ab faces; `None` for an open box.
    pub fn perpendicular_widths(&self) -> Option<Vec3> {
        self.cell().map(perpendicular_widths)
    }

    /// λ₁/2, half the shortest nonzero lattice vector (infinite for an open box). See the
    /// type docs for why this is the largest cutoff for which one image suffices.
    pub fn max_single_image_cutoff(&self) -> f64 {
        self.half_shortest
    }

    /// Returns an error if `cutoff` (length units) is not below
    /// [`SimBox::max_single_image_cutoff`], for code that relies on the minimum image
    /// alone.
    pub fn check_single_image_cutoff(&self, cutoff: f64) -> Result<()> {
        check_finite("cutoff", cutoff)?;
        if cutoff < self.half_shortest {
            Ok(())
        } else {
            Err(GeometryError::CutoffTooLarge {
                cutoff,
                max: self.half_shortest,
            })
        }
    }

    /// Fractional coordinates `s = h⁻¹ r` of a Cartesian position; `None` for an open box.
    pub fn to_fractional(&self, r: &Vec3) -> Option<Vec3> {
        self.is_periodic().then(|| self.inverse * r)
    }

    /// Cartesian position `r = h s` of fractional coordinates; `None` for an open box.
    pub fn to_cartesian(&self, s: &Vec3) -> Option<Vec3> {
        self.is_periodic().then(|| self.cell * s)
    }

    /// The image of `r` inside the primary cell (fractional coordinates in `[0, 1)`).
    /// Open boxes return `r` unchanged.
    pub fn wrap(&self, r: &Vec3) -> Vec3 {
        match self.kind {
            BoxKind::Open => *r,
            _ => {
                let s = (self.inverse * r).map(wrap_unit);
                self.cell * s
            }
        }
    }

    /// Wraps every position into the primary cell in place.
    pub fn wrap_all(&self, positions: &mut [Vec3]) {
        if self.is_periodic() {
            for r in positions {
                *r = self.wrap(r);
            }
        }
    }

    /// The shortest periodic image of the displacement `d` (exact for any cell).
    #[inline]
    pub fn min_image(&self, d: Vec3) -> Vec3 {
        match self.kind {
            BoxKind::Open => d,
            BoxKind::Orthorhombic => {
                let mut out = d;
                for k in 0..3 {
                    let length = self.cell[(k, k)];
                    out[k] -= length * (out[k] * self.inverse[(k, k)]).round();
                }
                out
            }
            BoxKind::Triclinic => {
                let s = self.reduced_inverse * d;
                let d0 = self.reduced * s.map(|x| x - x.round());
                // Any other image is at least λ₁ − |d0| long, so a short d0 is the answer.
                if d0.norm_squared() <= self.half_shortest * self.half_shortest {
                    return d0;
                }
                let mut best = d0;
                let mut best_r2 = d0.norm_squared();
                for image in &self.images {
                    let candidate = d0 + image;
                    let r2 = candidate.norm_squared();
                    if r2 < best_r2 {
                        best = candidate;
                        best_r2 = r2;
                    }
                }
                best
            }
        }
    }

    /// Minimum-image displacement from `ri` to `rj`, i.e. `min_image(rj − ri)`.
    #[inline]
    pub fn displacement(&self, ri: &Vec3, rj: &Vec3) -> Vec3 {
        self.min_image(rj - ri)
    }

    /// Minimum-image distance between `ri` and `rj`.
    #[inline]
    pub fn distance(&self, ri: &Vec3, rj: &Vec3) -> f64 {
        self.displacement(ri, rj).norm()
    }

    /// Calls `f(image, shift)` for every periodic image `d + L` of the displacement `d`
    /// shorter than `cutoff` (strictly), where `L = h·shift` runs over lattice vectors and
    /// `shift` is the integer image index in the original cell. With `cutoff` below
    /// [`SimBox::max_single_image_cutoff`] this is at most the minimum image. For an
    /// open box only `d` itself is considered.
    pub fn for_each_image_within(&self, d: Vec3, cutoff: f64, mut f: impl FnMut(Vec3, [i32; 3])) {
        let cut2 = cutoff * cutoff;
        if !self.is_periodic() {
            if d.norm_squared() < cut2 {
                f(d, [0, 0, 0]);
            }
            return;
        }
        // Every image within the cutoff is d + L with |L| < cutoff + |d_min|; the component
        // of L along the normal of the bc face is n_a times that face's width, which
        // bounds n_a (and likewise n_b, n_c).
        let d_min = self.min_image(d);
        let reach = cutoff + d_min.norm();
        let widths = perpendicular_widths(&self.cell);
        let base = (self.inverse * (d_min - d)).map(f64::round);
        let n_max = widths.map(|w| (reach / w).floor() as i32);
        for i in -n_max[0]..=n_max[0] {
            for j in -n_max[1]..=n_max[1] {
                for k in -n_max[2]..=n_max[2] {
                    let shift = [base[0] as i32 + i, base[1] as i32 + j, base[2] as i32 + k];
                    let l =
                        self.cell * Vec3::new(shift[0] as f64, shift[1] as f64, shift[2] as f64);
                    let image = d + l;
                    if image.norm_squared() < cut2 {
                        f(image, shift);
                    }
                }
            }
        }
    }

    /// The box deformed by the affine map `mu` (cell `h' = mu·h`), as barostats use it.
    /// Positions are scaled with [`scale_positions`]. An orthorhombic box stays
    /// orthorhombic when `mu` is diagonal; otherwise the result is triclinic.
    pub fn deformed(&self, mu: &Mat3) -> Result<Self> {
        for &value in mu.iter() {
            check_finite("deformation matrix entry", value)?;
        }
        match self.kind {
            BoxKind::Open => Err(GeometryError::NotPeriodic {
                operation: "deforming a box",
            }),
            BoxKind::Orthorhombic if is_diagonal(mu) => {
                let h = mu * self.cell;
                Self::orthorhombic([h[(0, 0)], h[(1, 1)], h[(2, 2)]])
            }
            _ => Self::triclinic(mu * self.cell),
        }
    }

    /// The box scaled isotropically by `factor` (volume changes by `factor³`).
    pub fn scaled(&self, factor: f64) -> Result<Self> {
        self.deformed(&(Mat3::identity() * factor))
    }
}

/// Applies the affine map `mu` to positions (`r' = mu·r`), the companion of
/// [`SimBox::deformed`].
pub fn scale_positions(positions: &mut [Vec3], mu: &Mat3) {
    for r in positions {
        *r = mu * *r;
    }
}

fn is_diagonal(m: &Mat3) -> bool {
    (0..3).all(|i| (0..3).all(|j| i == j || m[(i, j)] == 0.0))
}

/// Maps a fractional coordinate into `[0, 1)`, guarding against `x − floor(x)` rounding to 1.
#[inline]
fn wrap_unit(x: f64) -> f64 {
    let y = x - x.floor();
    if y >= 1.0 {
        0.0
    } else {
        y
    }
}

/// Errors unless every perpendicular width of `h` is positive and finite. The widths
/// divide the volume by the norm of a cross product, which overflows once two edges
/// multiply to more than about 10^154: a cell whose widths come out as zero would make
/// neighbor searches add periodic images without end.
fn check_widths(h: &Mat3) -> Result<()> {
    let widths = perpendicular_widths(h);
    if widths.iter().all(|w| w.is_finite() && *w > 0.0) {
        Ok(())
    } else {
        Err(GeometryError::UnrepresentableCell {
            widths: widths.into(),
        })
    }
}

fn perpendicular_widths(h: &Mat3) -> Vec3 {
    let (a, b, c) = (h.column(0), h.column(1), h.column(2));
    let volume = h.determinant().abs();
    Vec3::new(
        volume / b.cross(&c).norm(),
        volume / c.cross(&a).norm(),
        volume / a.cross(&b).norm(),
    )
}

/// A Minkowski-reduced basis of the lattice spanned by the columns of `h`.
///
/// In three dimensions a basis is Minkowski-reduced when no basis vector can be shortened
/// by adding or subtracting one other basis vector, or the sum/difference of the other
/// two. This repeats exactly those unimodular moves until none shortens a vector (each
/// accepted move strictly shortens one vector, so the loop ends), then orders the vectors
/// by length and flips the last if needed to keep the basis right-handed.
fn minkowski_reduce(h: &Mat3) -> Mat3 {
    let mut b = [
        h.column(0).into_owned(),
        h.column(1).into_owned(),
        h.column(2).into_owned(),
    ];
    // A move must shorten by more than rounding noise, or floating-point ties could cycle.
    let shorter = |candidate: &Vec3, current: &Vec3| {
        candidate.norm_squared() < current.norm_squared() * (1.0 - 1e-12)
    };
    loop {
        let mut changed = false;
        for i in 0..3 {
            for j in 0..3 {
                if i == j {
                    continue;
                }
                let m = (b[i].dot(&b[j]) / b[j].norm_squared()).round();
                if m != 0.0 {
                    let candidate = b[i] - b[j] * m;
                    if shorter(&candidate, &b[i]) {
                        b[i] = candidate;
                        changed = true;
                    }
                }
            }
            let (j, k) = ((i + 1) % 3, (i + 2) % 3);
            for (sj, sk) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                let candidate = b[i] + b[j] * sj + b[k] * sk;
                if shorter(&candidate, &b[i]) {
                    b[i] = candidate;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    b.sort_by(|x, y| x.norm_squared().total_cmp(&y.norm_squared()));
    let mut reduced = Mat3::from_columns(&b);
    if reduced.determinant() < 0.0 {
        reduced.set_column(2, &(-b[2]));
    }
    reduced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_the_lattice() {
        let h = Mat3::new(2.0, 7.3, -5.1, 0.0, 1.5, 3.2, 0.0, 0.0, 0.9);
        let r = minkowski_reduce(&h);
        // The reduced basis is an integer, unimodular combination of the original one.
        let m = h.try_inverse().unwrap() * r;
        for x in m.iter() {
            assert!((x - x.round()).abs() < 1e-9, "non-integer coefficient {x}");
        }
        assert!((m.determinant().abs() - 1.0).abs() < 1e-9);
        assert!(r.determinant() > 0.0);
    }

    #[test]
    fn wrap_unit_stays_below_one() {
        assert_eq!(wrap_unit(-1e-18), 0.0);
        assert!(wrap_unit(0.999_999) < 1.0);
        assert_eq!(wrap_unit(3.0), 0.0);
    }
}
