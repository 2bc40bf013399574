//! Malformed inputs, one test per case (issue #11): extended XYZ and `.npy` files from the
//! corpus in `tests/data/bad/`, MD checkpoints and NN model files damaged on purpose. Each
//! case must be an error whose message names the file and the problem; none may panic.
//! Inputs that crashed a parser (found with the fuzz targets in `fuzz/` or while writing
//! them; see `fuzz/README.md`) are kept here as regression tests.

use std::path::{Path, PathBuf};

use thermograd::md::{
    fcc_lattice, read_extxyz, Csvr, ForceField, LennardJonesConfig, MdError, PotentialSum,
    Simulation, SpeciesTable, State, ThermostatConfig, VelocityVerlet,
};
use thermograd::nn::file::{self, Dtype};
use thermograd::nn::{
    Activation, AngularKind, BehlerParrinello, BehlerParrinelloConfig, Mlp, MlpConfig, ModelFile,
    NnError, SymmetryFunctions,
};
use thermograd::train::formats::read_npy;
use thermograd::train::{SplinePair, TrainError};

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("robustness_inputs");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Reads a corpus file, expects a parse error at `line` whose message contains every
/// one of `needles` and the file name; returns the message.
fn xyz_error(name: &str, line: usize, needles: &[&str]) -> String {
    let path = bad(name);
    let mut table = SpeciesTable::default();
    let err = match read_extxyz(&path, &mut table) {
        Ok(frames) => panic!("{name}: read {} frames, expected an error", frames.len()),
        Err(e) => e,
    };
    let message = err.to_string();
    match err {
        MdError::Parse { line: l, .. } => assert_eq!(l, line, "{message}"),
        other => panic!("{name}: expected a parse error, got {other:?}"),
    }
    assert!(message.contains(name), "{message}");
    assert!(message.contains(&format!("line {line}")), "{message}");
    for n in needles {
        assert!(message.contains(n), "`{n}` missing from: {message}");
    }
    message
}

#[test]
fn extxyz_truncated_mid_line() {
    // The last atom line is cut inside a number: two of three coordinates remain.
    xyz_error(
        "extxyz_truncated.xyz",
        5,
        &["expected 4 columns", "found 3"],
    );
}

#[test]
fn extxyz_fewer_atom_lines_than_the_count() {
    xyz_error(
        "extxyz_too_few_atoms.xyz",
        5,
        &["file ends after 2 of 4 atom lines"],
    );
}

#[test]
fn extxyz_more_atom_lines_than_the_count() {
    xyz_error(
        "extxyz_too_many_atoms.xyz",
        5,
        &["frame 1 declares 2 atoms but has more atom lines"],
    );
}

#[test]
fn extxyz_wrong_column_count() {
    xyz_error(
        "extxyz_wrong_columns.xyz",
        4,
        &["expected 7 columns from Properties, found 6"],
    );
}

#[test]
fn extxyz_nan_position() {
    xyz_error(
        "extxyz_nan_position.xyz",
        4,
        &["position", "`NaN` is not finite"],
    );
}

#[test]
fn extxyz_infinite_force() {
    xyz_error(
        "extxyz_inf_force.xyz",
        4,
        &["force", "`-inf` is not finite"],
    );
}

#[test]
fn extxyz_nan_energy() {
    xyz_error("extxyz_nan_energy.xyz", 2, &["energy `nan` is not finite"]);
}

#[test]
fn extxyz_lattice_with_eight_numbers() {
    xyz_error(
        "extxyz_lattice_eight_numbers.xyz",
        2,
        &["Lattice", "not nine finite numbers"],
    );
}

#[test]
fn extxyz_singular_lattice() {
    // a and c are parallel: zero volume.
    xyz_error("extxyz_lattice_singular.xyz", 2, &["invalid Lattice"]);
}

#[test]
fn extxyz_unterminated_lattice_quote() {
    xyz_error(
        "extxyz_lattice_unterminated.xyz",
        2,
        &["Lattice", "missing closing quote"],
    );
}

#[test]
fn extxyz_numeric_species() {
    // Atomic numbers where names belong would otherwise be taken as species "18".
    xyz_error(
        "extxyz_numeric_species.xyz",
        3,
        &["species `18` is a number"],
    );
}

#[test]
fn extxyz_bad_atom_count() {
    xyz_error(
        "extxyz_bad_count.xyz",
        1,
        &["expected an atom count, found `two`"],
    );
}

#[test]
fn extxyz_empty_file() {
    xyz_error("extxyz_empty.xyz", 1, &["no frames", "empty"]);
}

#[test]
fn extxyz_huge_atom_count_is_not_allocated() {
    // 3·10¹² atoms claimed, one atom line present: the parser used to allocate the
    // frame's vectors for the claimed count and abort.
    xyz_error(
        "extxyz_huge_atom_count.xyz",
        4,
        &["file ends after 1 of 3000000000000 atom lines"],
    );
}

#[test]
fn extxyz_properties_column_count_overflow() {
    // A column count of u64::MAX used to overflow the column total (a panic in debug
    // builds, a wrong total in release).
    xyz_error(
        "extxyz_properties_count_overflow.xyz",
        2,
        &["Properties", "too many columns"],
    );
}

fn small_sim(cells: usize, integrator: &str) -> Simulation {
    let (positions, simbox) = fcc_lattice(cells, 0.8).unwrap();
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox).unwrap();
    state.thermalize(1.0, 5).unwrap();
    let lj = LennardJonesConfig::single(1.0, 1.0, 1.5).build().unwrap();
    let ff = ForceField::new(PotentialSum::new().with(lj), 0.3).unwrap();
    let integrator: Box<dyn thermograd::md::Integrator> = match integrator {
        "nve" => Box::new(VelocityVerlet::new(0.005).unwrap()),
        _ => Box::new(
            Csvr::new(ThermostatConfig {
                dt: 0.005,
                kt: 1.0,
                tau: 0.1,
                seed: 9,
            })
            .unwrap(),
        ),
    };
    Simulation::new(state, ff, integrator).unwrap()
}

fn checkpoint_error(sim: &mut Simulation, path: &Path) -> (MdError, String) {
    let err = sim.load_checkpoint(path).expect_err("loading must fail");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the file: {message}"
    );
    (err, message)
}

#[test]
fn checkpoint_truncated_at_every_length_class() {
    let path = scratch("truncated.ckpt");
    let mut sim = small_sim(2, "nve");
    sim.run(5).unwrap();
    sim.save_checkpoint(&path).unwrap();
    let full = std::fs::read(&path).unwrap();
    // Cut inside the magic, the version, the state and the checksum.
    for keep in [0, 5, 10, 64, full.len() / 2, full.len() - 9, full.len() - 1] {
        std::fs::write(&path, &full[..keep]).unwrap();
        let before = sim.state().clone();
        let (err, message) = checkpoint_error(&mut sim, &path);
        assert!(
            matches!(err, MdError::CorruptCheckpoint { .. }),
            "{keep} bytes: {message}"
        );
        assert!(
            [
                "not a thermograd MD checkpoint",
                "truncated",
                "checksum mismatch"
            ]
            .iter()
            .any(|n| message.contains(n)),
            "{keep} bytes: {message}"
        );
        assert_eq!(
            sim.state(),
            &before,
            "a failed load must not change the state"
        );
    }
}

#[test]
fn checkpoint_with_a_flipped_bit_is_caught_by_the_checksum() {
    let path = scratch("flipped.ckpt");
    let mut sim = small_sim(2, "nve");
    sim.save_checkpoint(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (err, message) = checkpoint_error(&mut sim, &path);
    assert!(
        matches!(err, MdError::CorruptCheckpoint { .. }),
        "{message}"
    );
    assert!(message.contains("checksum mismatch"), "{message}");
}

#[test]
fn checkpoint_from_a_different_system() {
    let path = scratch("other_system.ckpt");
    // 32 atoms saved, 108 atoms resuming.
    small_sim(2, "nve").save_checkpoint(&path).unwrap();
    let mut big = small_sim(3, "nve");
    let (err, message) = checkpoint_error(&mut big, &path);
    assert!(
        matches!(err, MdError::CheckpointMismatch { .. }),
        "{message}"
    );
    assert!(
        message.contains("32 atoms in the checkpoint, 108 in this simulation"),
        "{message}"
    );
    assert_eq!(big.state().n_atoms(), 108);
}

#[test]
fn checkpoint_from_a_different_integrator() {
    let path = scratch("other_integrator.ckpt");
    small_sim(2, "csvr").save_checkpoint(&path).unwrap();
    let mut nve = small_sim(2, "nve");
    let (_, message) = checkpoint_error(&mut nve, &path);
    assert!(
        message.contains("written by integrator `csvr`, resuming with `velocity-verlet`"),
        "{message}"
    );
}

/// FNV-1a 64, the checksum of MD checkpoints, so that a test can alter one and keep it
/// consistent.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn checkpoint_with_a_neighbor_list_of_other_atoms() {
    // The neighbor-list record (positions at the last rebuild) holds one atom fewer than
    // the state; the checksum is correct, so only the loader's own check can catch it.
    let path = scratch("short_list.ckpt");
    let mut sim = small_sim(2, "nve");
    sim.save_checkpoint(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let body = &bytes[..bytes.len() - 8];
    // Right after construction the list was built at the current positions: find
    // `Some`, the length 32 and the first position, as bincode writes them.
    let mut pattern = vec![1u8];
    pattern.extend_from_slice(&32u64.to_le_bytes());
    for x in sim.state().positions[0].iter() {
        pattern.extend_from_slice(&x.to_le_bytes());
    }
    let at = body
        .windows(pattern.len())
        .rposition(|w| w == pattern.as_slice())
        .expect("the neighbor-list record is in the checkpoint");
    let mut damaged = body[..at + 1].to_vec();
    damaged.extend_from_slice(&31u64.to_le_bytes());
    let positions = at + 9;
    damaged.extend_from_slice(&body[positions..positions + 31 * 24]);
    damaged.extend_from_slice(&body[positions + 32 * 24..]);
    let sum = fnv1a(&damaged);
    damaged.extend_from_slice(&sum.to_le_bytes());
    std::fs::write(&path, &damaged).unwrap();
    let before = sim.state().clone();
    let (err, message) = checkpoint_error(&mut sim, &path);
    assert!(
        matches!(err, MdError::CorruptCheckpoint { .. }),
        "{message}"
    );
    assert!(
        message.contains("the neighbor list was built for 31 atoms, the state has 32"),
        "{message}"
    );
    assert_eq!(sim.state(), &before);
}

#[test]
fn checkpoint_whose_state_cannot_be_evaluated_changes_nothing() {
    // Found by the `md_checkpoint` fuzz target (fuzz/known_crashes/
    // md_checkpoint_failed_load_changed_state): an atom 10^170 box lengths away, with a
    // correct checksum, was rejected only after the state had been replaced. The load
    // must fail naming the file and leave state, thermostat and neighbor list as they
    // were: the simulation then continues exactly like one that never tried.
    let path = scratch("far_atom.ckpt");
    let mut sim = small_sim(2, "csvr");
    let mut twin = small_sim(2, "csvr");
    sim.run(3).unwrap();
    sim.save_checkpoint(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let body = &bytes[..bytes.len() - 8];
    let x = sim.state().positions[5][1].to_le_bytes();
    let at: Vec<usize> = body
        .windows(8)
        .enumerate()
        .filter(|(_, w)| *w == x)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(at.len(), 1, "the coordinate occurs once in the checkpoint");
    let mut damaged = body.to_vec();
    damaged[at[0]..at[0] + 8].copy_from_slice(&(-1e170f64).to_le_bytes());
    let sum = fnv1a(&damaged);
    damaged.extend_from_slice(&sum.to_le_bytes());
    std::fs::write(&path, &damaged).unwrap();
    // Move on, so that the checkpoint's thermostat state and neighbor list differ from
    // the simulation's.
    sim.run(20).unwrap();
    twin.run(23).unwrap();
    let before = sim.state().clone();
    let (err, message) = checkpoint_error(&mut sim, &path);
    assert!(
        matches!(err, MdError::CorruptCheckpoint { .. }),
        "{message}"
    );
    assert!(
        message.contains("its state cannot be evaluated"),
        "{message}"
    );
    assert_eq!(sim.state(), &before);
    sim.run(40).unwrap();
    twin.run(40).unwrap();
    assert_eq!(sim.state(), twin.state());
    assert_eq!(
        sim.evaluation().energy.to_bits(),
        twin.evaluation().energy.to_bits()
    );
}

#[test]
fn checkpoint_with_a_box_too_long_to_compute_with() {
    // Found by the `md_checkpoint` fuzz target (fuzz/known_crashes/
    // md_checkpoint_huge_box_endless_images): the neighbor-list record's box edge patched
    // to 1.2·10²²², checksum repaired. Its perpendicular widths overflowed to zero and
    // rebuilding the list added periodic images until the memory ran out.
    let path = scratch("huge_box.ckpt");
    let mut sim = small_sim(2, "nve");
    sim.save_checkpoint(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut body = bytes[..bytes.len() - 8].to_vec();
    // The record ends with the three edge lengths of the orthorhombic box.
    let edge = sim.state().simbox.cell().unwrap()[(0, 0)];
    let at = body.len() - 24;
    assert_eq!(
        body[at..at + 8],
        edge.to_le_bytes(),
        "the box record ends the body"
    );
    body[at..at + 8].copy_from_slice(&1.191038737933063e222f64.to_le_bytes());
    let sum = fnv1a(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    std::fs::write(&path, &body).unwrap();
    let before = sim.state().clone();
    let (err, message) = checkpoint_error(&mut sim, &path);
    assert!(
        matches!(err, MdError::CorruptCheckpoint { .. }),
        "{message}"
    );
    assert!(message.contains("too long to compute with"), "{message}");
    assert_eq!(sim.state(), &before);
}

#[test]
fn checkpoint_that_is_not_one() {
    let path = bad("not_a_checkpoint.ckpt");
    let mut sim = small_sim(2, "nve");
    let (_, message) = checkpoint_error(&mut sim, &path);
    assert!(
        message.contains("not a thermograd MD checkpoint"),
        "{message}"
    );
}

fn mlp(hidden: usize) -> Mlp {
    MlpConfig {
        inputs: 3,
        hidden: vec![hidden],
        outputs: 1,
        activation: Activation::Tanh,
    }
    .build(1)
    .unwrap()
}

/// Loads `path` as an MLP expecting the 3-8-1 architecture, checks that the error names
/// the file and returns what was wrong (the error inside the file wrapper) and the text.
fn model_error(path: &Path) -> (NnError, String) {
    let expected = MlpConfig {
        inputs: 3,
        hidden: vec![8],
        outputs: 1,
        activation: Activation::Tanh,
    };
    let err = Mlp::load_expecting(path, &expected).expect_err("loading must fail");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the file: {message}"
    );
    let NnError::File {
        path: named,
        source,
    } = err
    else {
        panic!("expected an error naming the file, got {err:?}");
    };
    assert_eq!(named, path);
    (*source, message)
}

#[test]
fn model_file_truncated() {
    let path = scratch("truncated.tgnn");
    let bytes = mlp(8).to_bytes().unwrap();
    for keep in [0, 7, 12, 30, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let (err, message) = model_error(&path);
        assert!(matches!(err, NnError::CorruptFile { .. }), "{message}");
        assert!(
            message.contains("truncated") || message.contains("bad magic"),
            "{keep} bytes: {message}"
        );
    }
}

#[test]
fn model_file_bad_checksum() {
    let path = scratch("checksum.tgnn");
    let mut bytes = mlp(8).to_bytes().unwrap();
    let k = bytes.len() - 20; // inside the parameters
    bytes[k] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let (_, message) = model_error(&path);
    assert!(message.contains("checksum mismatch"), "{message}");
}

#[test]
fn model_file_of_another_architecture() {
    let path = scratch("arch.tgnn");
    mlp(5).save(&path).unwrap();
    let (err, message) = model_error(&path);
    assert!(
        matches!(err, NnError::WrongArchitecture { .. }),
        "{message}"
    );
    assert!(message.contains("expected"), "{message}");
}

#[test]
fn model_file_of_another_dtype() {
    let path = scratch("dtype.tgnn");
    let (mut header, params) = file::decode(&mlp(8).to_bytes().unwrap()).unwrap();
    header.dtype = Dtype::F32;
    file::write(&path, &header, &params).unwrap();
    let (err, message) = model_error(&path);
    assert!(matches!(err, NnError::WrongDtype { .. }), "{message}");
    assert!(
        message.contains("f32") && message.contains("f64"),
        "{message}"
    );
}

#[test]
fn model_file_that_is_text() {
    let (_, message) = model_error(&bad("not_a_model.tgnn"));
    assert!(message.contains("bad magic"), "{message}");
}

/// Reads a corpus `.npy` file, expects a format error naming the file and containing
/// every one of `needles`.
fn npy_error(name: &str, needles: &[&str]) {
    let path = bad(name);
    let err = read_npy(&path).expect_err("reading must fail");
    let message = err.to_string();
    assert!(
        matches!(err, TrainError::Format { .. }),
        "{name}: expected a format error, got {message}"
    );
    assert!(message.contains(name), "{message}");
    for n in needles {
        assert!(message.contains(n), "`{n}` missing from: {message}");
    }
}

#[test]
fn npy_shape_whose_product_overflows() {
    // 2³² · 2³² · 2 values: npyz multiplied the dimensions unchecked, a panic in debug
    // builds.
    npy_error(
        "npy_shape_overflow.npy",
        &["shape [4294967296, 4294967296, 2]", "16 data bytes"],
    );
}

#[test]
fn npy_zero_length_shape_with_overflowing_strides() {
    // No values at all, but the strides of the other two dimensions overflow.
    npy_error(
        "npy_zero_dim_stride_overflow.npy",
        &["shape [0, 4294967296, 4294967296]", "0 data"],
    );
}

#[test]
fn npy_header_claiming_a_trillion_values() {
    // A 10¹²-value header over 16 bytes of data is refused before any value is read.
    npy_error(
        "npy_huge_shape.npy",
        &["shape [1000000000000]", "16 data bytes"],
    );
}

#[test]
fn npy_header_with_deeply_nested_brackets() {
    // Found by the `train_npy` fuzz target (fuzz/known_crashes/
    // train_npy_nested_brackets_timeout): npyz parses the header as a Python literal in
    // a time that about doubles with every unclosed bracket; the fuzz input, with 36, was
    // still being parsed when libFuzzer stopped it after 74 s.
    npy_error(
        "npy_nested_brackets.npy",
        &["array: the header nests brackets 42 levels deep"],
    );
}

#[test]
fn spline_model_claiming_too_many_species() {
    // A valid, checksummed file whose architecture claims 2³³ species: found by the
    // `nn_model_file` fuzz target, it overflowed the knot-value count while building.
    let path = bad("spline_species_overflow.tgnn");
    let err = SplinePair::load(&path).expect_err("loading must fail");
    let message = err.to_string();
    assert!(
        message.contains("spline_species_overflow.tgnn"),
        "{message}"
    );
    assert!(
        matches!(err.cause(), NnError::CorruptFile { .. }),
        "{message}"
    );
    assert!(message.contains("too many knot values"), "{message}");
}

#[test]
fn behler_parrinello_model_claiming_too_many_species() {
    // Found by the `nn_model_file` fuzz target: a checksummed file whose architecture
    // claims 2³³ species overflowed the descriptor count while being validated. The
    // architecture is bincode of the config, which starts with the descriptors' cutoff
    // (8 bytes) and species count (8 bytes).
    let path = scratch("bp_species.tgnn");
    let bp = BehlerParrinelloConfig {
        descriptors: SymmetryFunctions::standard(3.0, 2, 3, AngularKind::G5),
        hidden: vec![3],
        activation: Activation::Tanh,
    }
    .build(2)
    .unwrap();
    let (mut header, params) = file::decode(&bp.to_bytes().unwrap()).unwrap();
    assert_eq!(header.architecture[8..16], 2u64.to_le_bytes());
    header.architecture[8..16].copy_from_slice(&(1u64 << 33).to_le_bytes());
    file::write(&path, &header, &params).unwrap();
    let err = BehlerParrinello::load(&path).expect_err("loading must fail");
    let message = err.to_string();
    assert!(message.contains("bp_species.tgnn"), "{message}");
    assert!(
        matches!(err.cause(), NnError::CorruptFile { .. }),
        "{message}"
    );
    assert!(message.contains("too many descriptors"), "{message}");
}
