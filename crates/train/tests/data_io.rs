//! Dataset readers and writers: round trips, unit conversion, files written by other
//! tools (NPY fixtures from the format specification), and malformed input.

use std::path::PathBuf;

use thermograd_geometry::{Mat3, SimBox, Vec3};
use thermograd_train::formats::{
    read_extxyz, read_npy, read_npz, read_npz_dataset, write_extxyz, write_npz_dataset,
};
use thermograd_train::{Dataset, NpzKeys, Structure, TrainError, UnitConversion, UnitSet};

fn tmpdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("thermograd-train-{name}-"))
        .tempdir()
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn sample_dataset() -> Dataset {
    let boxes = [
        SimBox::orthorhombic([3.0, 3.5, 4.0]).unwrap(),
        SimBox::triclinic(Mat3::new(3.0, 0.4, 0.2, 0.0, 3.1, -0.3, 0.0, 0.0, 2.9)).unwrap(),
    ];
    let structures = (0..4)
        .map(|k| {
            let x = k as f64;
            let mut s = Structure::new(
                vec![
                    Vec3::new(0.1 + x / 7.0, 0.2, 0.3),
                    Vec3::new(1.1, 1.2 - x / 3.0, 1.3),
                    Vec3::new(2.0, 0.5, 2.5 + x / 11.0),
                ],
                vec![0, 1, 0],
                boxes[k % 2].clone(),
            );
            s.energy = Some(-1.25 - x / 3.0);
            s.forces = Some(vec![
                Vec3::new(0.5, -0.25, x / 9.0),
                Vec3::new(-0.5, 0.25, 0.0),
                Vec3::new(0.0, 0.0, -x / 9.0),
            ]);
            s.virial = Some(Mat3::new(1.0, 0.1, 0.2, 0.1, 2.0, 0.3, 0.2, 0.3, 3.0 + x));
            s
        })
        .collect();
    let names = thermograd_md::SpeciesTable::new(vec!["Ar".into(), "Kr".into()]).unwrap();
    Dataset::new(structures, names).unwrap()
}

fn assert_close(a: &Dataset, b: &Dataset, tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.structures().iter().zip(b.structures()) {
        assert_eq!(x.species, y.species);
        for (p, q) in x.positions.iter().zip(&y.positions) {
            assert!((p - q).norm() <= tol * p.norm().max(1.0), "{p} vs {q}");
        }
        let (hx, hy) = (x.simbox.cell().unwrap(), y.simbox.cell().unwrap());
        assert!((hx - hy).norm() <= tol * hx.norm());
        assert!((x.energy.unwrap() - y.energy.unwrap()).abs() <= tol * 2.0);
        for (p, q) in x
            .forces
            .as_ref()
            .unwrap()
            .iter()
            .zip(y.forces.as_ref().unwrap())
        {
            assert!((p - q).norm() <= tol);
        }
        let (wx, wy) = (x.virial.unwrap(), y.virial.unwrap());
        assert!((wx - wy).norm() <= tol * wx.norm());
    }
}

#[test]
fn extxyz_round_trip_is_exact_and_keeps_virials() {
    let tmp = tmpdir("xyz");
    let dir = tmp.path();
    let data = sample_dataset();
    let path = dir.join("a.extxyz");
    write_extxyz(&path, &data, &UnitConversion::IDENTITY).unwrap();
    let back = read_extxyz(&path, &UnitConversion::IDENTITY).unwrap();
    assert_eq!(back.structures(), data.structures());
    assert_eq!(back.species().names(), data.species().names());
}

#[test]
fn extxyz_units_convert_at_the_boundary() {
    let tmp = tmpdir("xyz-units");
    let dir = tmp.path();
    let data = sample_dataset();
    let path = dir.join("ase.extxyz");
    // Internal units are GROMACS; the file is in Å and eV.
    let units = UnitConversion::between(UnitSet::ASE, UnitSet::GROMACS);
    write_extxyz(&path, &data, &units).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // The first atom's x of frame 0 is 0.1 nm = 1 Å; energy −1.25 kJ/mol in eV.
    let line = text.lines().nth(2).unwrap();
    let x: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((x - 1.0).abs() < 1e-12, "{line}");
    let e_ev = -1.25 / 96.485_332_123_310_02;
    let comment = text.lines().nth(1).unwrap();
    let e: f64 = comment
        .split("energy=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((e - e_ev).abs() < 1e-15, "{comment}");
    let back = read_extxyz(&path, &units).unwrap();
    assert_close(&back, &data, 1e-12);
}

#[test]
fn extxyz_stress_is_read_as_minus_volume_times_stress() {
    let tmp = tmpdir("xyz-stress");
    let dir = tmp.path();
    let path = dir.join("stress.extxyz");
    std::fs::write(
        &path,
        "1\nLattice=\"2 0 0 0 2 0 0 0 2\" Properties=species:S:1:pos:R:3 stress=\"-1 0 0 0 -2 0 0 0 -3\" pbc=\"T T T\"\nH 0 0 0\n",
    )
    .unwrap();
    let d = read_extxyz(&path, &UnitConversion::IDENTITY).unwrap();
    let w = d.structures()[0].virial.unwrap();
    assert_eq!(w, Mat3::from_diagonal(&Vec3::new(8.0, 16.0, 24.0)));
}

#[test]
fn malformed_extxyz_names_the_file_and_line() {
    let tmp = tmpdir("xyz-bad");
    let dir = tmp.path();
    let path = dir.join("broken.extxyz");
    std::fs::write(
        &path,
        "2\nProperties=species:S:1:pos:R:3 virial=\"1 2 3\"\nH 0 0 0\nH 1 0 0\n",
    )
    .unwrap();
    let err = read_extxyz(&path, &UnitConversion::IDENTITY).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("broken.extxyz") && msg.contains("line 2"),
        "{msg}"
    );
    std::fs::write(&path, "2\nProperties=species:S:1:pos:R:3\nH 0 0 0\n").unwrap();
    let msg = read_extxyz(&path, &UnitConversion::IDENTITY)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("broken.extxyz"), "{msg}");
}

#[test]
fn npz_round_trip_is_exact() {
    let tmp = tmpdir("npz");
    let dir = tmp.path();
    let data = sample_dataset();
    let path = dir.join("a.npz");
    let keys = NpzKeys::default();
    write_npz_dataset(&path, &data, &keys, &UnitConversion::IDENTITY).unwrap();
    let back = read_npz_dataset(&path, &keys, &UnitConversion::IDENTITY).unwrap();
    for (x, y) in back.structures().iter().zip(data.structures()) {
        assert_eq!(x.positions, y.positions);
        assert_eq!(x.forces, y.forces);
        assert_eq!(x.energy, y.energy);
        assert_eq!(x.virial, y.virial);
        assert_eq!(x.species, y.species);
        assert_eq!(x.simbox.cell(), y.simbox.cell());
    }
    // With a conversion, values change on disk and come back.
    let units = UnitConversion::between(UnitSet::ASE, UnitSet::GROMACS);
    write_npz_dataset(&path, &data, &keys, &units).unwrap();
    let raw = read_npz(&path).unwrap();
    assert!((raw["R"].data[0] - 1.0).abs() < 1e-12);
    let back = read_npz_dataset(&path, &keys, &units).unwrap();
    assert_close(&back, &data, 1e-12);
}

#[test]
fn npz_written_by_the_format_specification_is_read() {
    // Deflated archive, Fortran-order f8 positions, f4 forces, i8 species, a box vector
    // (see tests/data/make_fixtures.py for the closed forms).
    let d = read_npz_dataset(
        fixture("chemtrain_style.npz"),
        &NpzKeys::default(),
        &UnitConversion::IDENTITY,
    )
    .unwrap();
    assert_eq!(d.len(), 2);
    for (k, s) in d.structures().iter().enumerate() {
        assert_eq!(s.species, vec![0, 1, 1]);
        assert_eq!(s.energy, Some(-1.5 * k as f64));
        assert_eq!(s.simbox.lengths().unwrap(), Vec3::new(2.0, 3.0, 4.0));
        for (i, (r, f)) in s
            .positions
            .iter()
            .zip(s.forces.as_ref().unwrap())
            .enumerate()
        {
            for c in 0..3 {
                let expect = k as f64 + 0.1 * i as f64 + 0.01 * c as f64;
                assert_eq!(r[c], expect);
                assert_eq!(f[c], f64::from(-expect as f32));
            }
        }
    }
    let a = read_npy(fixture("big_endian.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
}

#[test]
fn malformed_npz_is_an_error_naming_the_file() {
    let tmp = tmpdir("npz-bad");
    let dir = tmp.path();
    let path = dir.join("truncated.npz");
    let bytes = std::fs::read(fixture("chemtrain_style.npz")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_npz(&path).unwrap_err();
    assert!(matches!(err, TrainError::Format { .. }));
    assert!(err.to_string().contains("truncated.npz"), "{err}");
    // Forces whose shape does not match the positions.
    let mut arrays = read_npz(fixture("chemtrain_style.npz")).unwrap();
    arrays.get_mut("F").unwrap().shape = vec![2, 9];
    let err = thermograd_train::formats::dataset_from_arrays(
        &arrays,
        &NpzKeys::default(),
        &UnitConversion::IDENTITY,
        &path,
    )
    .unwrap_err();
    assert!(err.to_string().contains("forces"), "{err}");
    let missing = read_npz_dataset(
        fixture("chemtrain_style.npz"),
        &NpzKeys {
            positions: "coords".into(),
            ..Default::default()
        },
        &UnitConversion::IDENTITY,
    )
    .unwrap_err();
    assert!(missing.to_string().contains("coords"), "{missing}");
}

#[test]
fn npy_round_trip_is_exact() {
    let tmp = tmpdir("npy");
    let dir = tmp.path();
    let path = dir.join("a.npy");
    let a = thermograd_train::NpyArray::new(
        vec![2, 2, 3],
        (0..12).map(|k| (k as f64).sqrt() - 1.5).collect(),
    )
    .unwrap();
    thermograd_train::formats::write_npy(&path, &a).unwrap();
    assert_eq!(read_npy(&path).unwrap(), a);
    assert!(thermograd_train::NpyArray::new(vec![2, 2], vec![0.0; 3]).is_err());
}
