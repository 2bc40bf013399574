//! Malformed inputs, one test per case (issue #11): extended XYZ files from the corpus in
//! `tests/data/bad/`, MD checkpoints and NN model files damaged on purpose. Each case must
//! be an error whose message names the file and the problem; none may panic.

use std::path::{Path, PathBuf};

use thermograd::md::{
    fcc_lattice, read_extxyz, Csvr, ForceField, LennardJonesConfig, MdError, PotentialSum,
    Simulation, SpeciesTable, State, ThermostatConfig, VelocityVerlet,
};
use thermograd::nn::file::{self, Dtype};
use thermograd::nn::{Activation, Mlp, MlpConfig, ModelFile, NnError};

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

/// Loads `path` as an MLP expecting the 3-8-1 architecture and returns the error text.
fn model_error(path: &Path) -> (NnError, String) {
    let expected = MlpConfig {
        inputs: 3,
        hidden: vec![8],
        outputs: 1,
        activation: Activation::Tanh,
    };
    let err = Mlp::load_expecting(path, &expected).expect_err("loading must fail");
    let message = err.to_string();
    (err, message)
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
