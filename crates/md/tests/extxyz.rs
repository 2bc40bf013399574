//! Extended XYZ: round trips (triclinic, orthorhombic, open; with and without forces and
//! energy), a hand-written ASE-style file, and errors that name the file and line.

mod support;

use std::io::Cursor;

use thermograd_md::*;

#[test]
fn frames_round_trip_exactly() {
    let table = SpeciesTable::new(vec!["Na".into(), "Cl".into(), "O".into()]).unwrap();
    let tri = support::sheared_crystal(1, 0.7, 0.1, 3, 61);
    let mut with_forces = Frame::from_state(&tri, None);
    with_forces.forces = Some(
        (0..4)
            .map(|k| Vec3::new(0.1 * k as f64, -1.0 / 3.0, 1e-17))
            .collect(),
    );
    with_forces.energy = Some(-12.345678901234567);
    let (positions, cubic) = fcc_lattice(1, 0.5).unwrap();
    let plain = Frame {
        positions: positions.clone(),
        simbox: cubic,
        species: vec![2, 2, 0, 1],
        forces: None,
        energy: None,
    };
    let open = Frame {
        positions,
        simbox: SimBox::open(),
        species: vec![0, 1, 0, 1],
        forces: None,
        energy: Some(0.5),
    };
    let frames = vec![with_forces, plain, open];

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("round_trip.xyz");
    let mut writer = ExtxyzWriter::create(&path, table.clone()).unwrap();
    for f in &frames {
        writer.write_frame(f).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);

    let text = std::fs::read_to_string(&path).unwrap();
    let second_line = text.lines().nth(1).unwrap();
    assert!(second_line.starts_with("Lattice=\""), "{second_line}");
    assert!(second_line.contains("Properties=species:S:1:pos:R:3:forces:R:3"));
    assert!(second_line.contains("energy=-12.345678901234567"));
    assert!(second_line.contains("pbc=\"T T T\""));

    let mut read_table = table.clone();
    let back = read_extxyz(&path, &mut read_table).unwrap();
    assert_eq!(read_table, table);
    assert_eq!(back, frames);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn reads_a_hand_written_ase_file() {
    // As ASE writes it: extra per-atom columns (Z, a tag), extra info keys, a triclinic
    // lattice given row by row, lower-case booleans, a blank line between frames.
    let text = r#"3
Lattice="5.0 0.0 0.0 1.0 6.0 0.0 0.5 0.5 7.0" Properties=species:S:1:pos:R:3:Z:I:1:forces:R:3:tag:S:1 energy=-3.25 free_energy=-3.3 config_type=md pbc="T T T"
O   0.0 0.0 0.0   8   0.5 -0.5 0.0  a
H   0.9 0.1 0.0   1  -0.25 0.25 0.0 b
H  -0.3 0.9 0.0   1  -0.25 0.25 0.0 c

2
pbc="F F F" Properties=species:S:1:pos:R:3
H 0 0 0
Ar 1e-1 2.5E+0 -3
"#;
    let mut table = SpeciesTable::default();
    let frames = parse_extxyz(Cursor::new(text), "water.xyz", &mut table).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(table.names(), ["O", "H", "Ar"]);
    let f = &frames[0];
    let h = f.simbox.cell().unwrap();
    // Lattice vectors are the columns of the cell matrix.
    assert_eq!(h.column(1).into_owned(), Vec3::new(1.0, 6.0, 0.0));
    assert_eq!(h.column(2).into_owned(), Vec3::new(0.5, 0.5, 7.0));
    assert_eq!(f.species, vec![0, 1, 1]);
    assert_eq!(f.positions[2], Vec3::new(-0.3, 0.9, 0.0));
    assert_eq!(f.forces.as_ref().unwrap()[0], Vec3::new(0.5, -0.5, 0.0));
    assert_eq!(f.energy, Some(-3.25));
    let g = &frames[1];
    assert!(!g.simbox.is_periodic());
    assert_eq!(g.species, vec![1, 2]);
    assert_eq!(g.positions[1], Vec3::new(0.1, 2.5, -3.0));
    assert!(g.forces.is_none() && g.energy.is_none());
}

fn parse_error(text: &str) -> (usize, String) {
    let mut table = SpeciesTable::default();
    match parse_extxyz(Cursor::new(text), "broken.xyz", &mut table) {
        Err(e @ MdError::Parse { line, .. }) => {
            let message = e.to_string();
            assert!(message.contains("broken.xyz"), "{message}");
            assert!(message.contains(&format!("line {line}")), "{message}");
            (line, message)
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn malformed_files_are_errors_with_file_and_line() {
    let header = "Lattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"";
    // Truncated: two atoms announced, one given.
    let (line, message) = parse_error(&format!("2\n{header}\nAr 0 0 0\n"));
    assert_eq!(line, 4);
    assert!(message.contains("1 of 2"), "{message}");
    // Wrong column count.
    let (line, _) = parse_error(&format!("2\n{header}\nAr 0 0 0\nAr 1 1\n"));
    assert_eq!(line, 4);
    // NaN and garbage numbers.
    let (line, message) = parse_error(&format!("1\n{header}\nAr 0 nan 0\n"));
    assert_eq!(line, 3);
    assert!(message.contains("not finite"), "{message}");
    let (line, _) = parse_error(&format!("1\n{header}\nAr 0 x 0\n"));
    assert_eq!(line, 3);
    // A bad atom count, a missing comment line, a non-finite energy, a bad lattice,
    // partial periodicity, missing positions.
    assert_eq!(parse_error("two\n").0, 1);
    assert_eq!(parse_error("1\n").0, 2);
    assert_eq!(parse_error("1\nenergy=NaN\nAr 0 0 0\n").0, 2);
    assert_eq!(
        parse_error("1\nLattice=\"1 0 0 0 1 0\" pbc=\"T T T\"\nAr 0 0 0\n").0,
        2
    );
    assert_eq!(
        parse_error("1\nLattice=\"4 0 0 0 4 0 0 0 4\" pbc=\"T T F\"\nAr 0 0 0\n").0,
        2
    );
    assert_eq!(parse_error("1\nProperties=species:S:1\nAr\n").0, 2);
    // A second frame that is cut short names its own line.
    let (line, _) = parse_error(&format!("1\n{header}\nAr 0 0 0\n1\n{header}\n"));
    assert_eq!(line, 6);
    // Reading a missing file is an I/O error naming it.
    let mut table = SpeciesTable::default();
    let err = read_extxyz("/nonexistent/thermograd.xyz", &mut table).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/thermograd.xyz"));
}

#[test]
fn writer_rejects_unknown_species() {
    let table = SpeciesTable::new(vec!["Ar".into()]).unwrap();
    let mut w = ExtxyzWriter::new(Vec::new(), table, "<memory>");
    let frame = Frame {
        positions: vec![Vec3::zeros(); 2],
        simbox: SimBox::open(),
        species: vec![0, 1],
        forces: None,
        energy: None,
    };
    assert!(matches!(
        w.write_frame(&frame),
        Err(MdError::UnknownSpecies { atom: 1, .. })
    ));
    assert!(SpeciesTable::new(vec!["A".into(), "A".into()]).is_err());
    assert!(SpeciesTable::new(vec!["A B".into()]).is_err());
}
