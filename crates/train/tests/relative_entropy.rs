//! Relative entropy: the gradient estimator against the analytic gradient of a Gaussian
//! (harmonic) model and against finite differences of the loss, exact resume, and a
//! coarse-grained bead RDF moving to its reference.

mod common;

use std::sync::Arc;

use common::{lj, slow};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use thermograd_geometry::{LinearMap, SimBox, Vec3};
use thermograd_md::{
    fcc_lattice, Bond, BondedPrior, Configuration, Evaluation, ForceField, Langevin, Potential,
    PotentialSum, RdfConfig, RunConfig, Simulation, SoftSphereConfig, State, ThermostatConfig,
    Topology,
};
use thermograd_nn::{AdamConfig, Frame, NnError, Trainable};
use thermograd_train::{
    Cotangents, Dataset, EnergyModel, OptimizerConfig, RelativeEntropy, RelativeEntropyConfig,
    ReweightingConfig, SamplerConfig, SplinePairConfig, Structure,
};

/// Harmonic tether of every particle to the origin, `U = ½ k Σ |r_i|²`: its Boltzmann
/// distribution is Gaussian with variance `kT/k` per coordinate.
#[derive(Clone, Debug)]
struct Tether {
    k: f64,
}

impl Potential for Tether {
    fn cutoff(&self) -> Option<f64> {
        None
    }
    fn add_to(&self, c: &Configuration<'_>, out: &mut Evaluation) -> thermograd_md::Result<()> {
        for (r, f) in c.positions.iter().zip(&mut out.forces) {
            out.energy += 0.5 * self.k * r.norm_squared();
            *f -= self.k * r;
            out.virial -= self.k * r * r.transpose();
        }
        Ok(())
    }
}

impl Trainable for Tether {
    fn n_parameters(&self) -> usize {
        1
    }
    fn parameters(&self) -> Vec<f64> {
        vec![self.k]
    }
    fn set_parameters(&mut self, p: &[f64]) -> Result<(), NnError> {
        self.k = p[0];
        Ok(())
    }
}

impl EnergyModel for Tether {
    fn evaluate_frames(&self, frames: &[Frame]) -> thermograd_train::Result<Vec<Evaluation>> {
        frames
            .iter()
            .map(|f| {
                let mut e = Evaluation::zeros(f.positions.len());
                let c = Configuration {
                    positions: &f.positions,
                    species: &f.species,
                    simbox: &f.simbox,
                    neighbors: None,
                };
                self.add_to(&c, &mut e)?;
                Ok(e)
            })
            .collect()
    }
    fn parameter_vjp(
        &self,
        frames: &[Frame],
        cot: &Cotangents<'_>,
    ) -> thermograd_train::Result<Vec<f64>> {
        cot.check(frames)?;
        let mut g = 0.0;
        for (s, f) in frames.iter().enumerate() {
            for r in &f.positions {
                g += cot.energy[s] * 0.5 * r.norm_squared();
            }
        }
        Ok(vec![g])
    }
}

const N: usize = 4; // particles, so d = 12 Gaussian coordinates
const K_REF: f64 = 2.0;

fn gaussian_reference(frames: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, (1.0 / K_REF).sqrt()).unwrap();
    let structures = (0..frames)
        .map(|_| {
            let positions = (0..N)
                .map(|_| Vec3::from_fn(|_, _| normal.sample(&mut rng)))
                .collect();
            Structure::new(positions, vec![0; N], SimBox::open())
        })
        .collect();
    Dataset::new(structures, Default::default()).unwrap()
}

fn tether_trainer(
    k: f64,
    samples: usize,
    checkpoint: Option<std::path::PathBuf>,
    updates: usize,
) -> RelativeEntropy<Tether> {
    let start = State::new(
        (0..N)
            .map(|i| Vec3::new(i as f64 * 0.1, 0.0, 0.0))
            .collect(),
        vec![1.0; N],
        vec![0; N],
        SimBox::open(),
    )
    .unwrap();
    RelativeEntropyConfig {
        sampler: SamplerConfig {
            kt: 1.0,
            dt: 0.05,
            friction_time: 0.5,
            equilibration_steps: 200,
            samples,
            stride: 20,
            skin: 0.0,
            seed: 17,
            pressure: None,
        },
        updates,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.05,
                ..Default::default()
            },
            ..Default::default()
        },
        reweighting: ReweightingConfig {
            ess_threshold: 0.5,
            ..Default::default()
        },
        reference_batch: Some(500),
        seed: 3,
        checkpoint,
        metrics: None,
        progress: false,
    }
    .build(Tether { k }, gaussian_reference(2000, 5), start, None)
    .unwrap()
}

/// KL(p_ref ‖ p_k) of centred Gaussians with precisions `K_REF` and `k` in `d` dims.
fn s_rel(k: f64) -> f64 {
    let d = (3 * N) as f64;
    0.5 * d * (k / K_REF - 1.0 - (k / K_REF).ln())
}

fn ds_rel(k: f64) -> f64 {
    0.5 * (3 * N) as f64 * (1.0 / K_REF - 1.0 / k)
}

#[test]
fn gradient_matches_the_gaussian_answer_and_finite_differences() {
    let samples = 2000;
    let mut trainer = tether_trainer(1.0, samples, None, 1);
    let at_sampled = trainer.loss().unwrap();
    // Standard error of β(⟨½Σr²⟩_ref − ⟨½Σr²⟩_k): Var(½Σr²) = d σ⁴/2 per sample,
    // σ² = 1/k; MD samples 20 steps apart are taken as independent to within the
    // 4σ margin.
    let d = (3 * N) as f64;
    let se = |k: f64, n: f64| (d / 2.0).sqrt() / k / n.sqrt();
    let sigma = se(K_REF, 2000.0).hypot(se(1.0, samples as f64));
    let g = at_sampled.gradient[0];
    assert!(
        (g - ds_rel(1.0)).abs() < 4.0 * sigma,
        "gradient {g} vs {} ± {sigma}",
        ds_rel(1.0)
    );

    // Reweighted to k = 1.15 without resampling: still the analytic gradient, and the
    // exact derivative of the loss estimator.
    let k1 = 1.15;
    trainer.set_parameters(&[k1]).unwrap();
    let moved = trainer.loss().unwrap();
    assert!(!moved.resampled);
    assert!(moved.ess < samples as f64);
    let sigma1 = se(K_REF, 2000.0).hypot(se(k1, moved.ess));
    assert!(
        (moved.gradient[0] - ds_rel(k1)).abs() < 4.0 * sigma1,
        "gradient {} vs {} ± {sigma1}",
        moved.gradient[0],
        ds_rel(k1)
    );
    let h = 1e-5;
    trainer.set_parameters(&[k1 + h]).unwrap();
    let up = trainer.loss().unwrap().loss;
    trainer.set_parameters(&[k1 - h]).unwrap();
    let down = trainer.loss().unwrap().loss;
    let fd = (up - down) / (2.0 * h);
    assert!(
        (fd - moved.gradient[0]).abs() < 1e-6 * moved.gradient[0].abs().max(1.0),
        "{fd} vs {}",
        moved.gradient[0]
    );
    // The loss differs from S_rel by a constant: compare differences.
    let ds = moved.loss - at_sampled.loss;
    let exact = s_rel(k1) - s_rel(1.0);
    assert!(
        (ds - exact).abs() < 0.1 * exact.abs() + 0.05,
        "ΔL {ds} vs ΔS_rel {exact}"
    );
}

#[test]
fn training_converges_to_the_reference_precision_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ckpt = dir.join("re.ckpt");
    let mut full = tether_trainer(1.0, 200, None, 40);
    full.train().unwrap();
    let k = full.model().k;
    assert!((k - K_REF).abs() < 0.2, "k = {k}, reference {K_REF}");
    assert!(full.history().iter().filter(|u| u.resampled).count() > 1);
    let mut first = tether_trainer(1.0, 200, Some(ckpt.clone()), 40);
    for _ in 0..17 {
        first.update().unwrap();
    }
    drop(first);
    let mut second = tether_trainer(1.0, 200, Some(ckpt.clone()), 40);
    second.resume(&ckpt).unwrap();
    second.train().unwrap();
    assert_eq!(second.model().k, k);
    assert_eq!(second.free_energy_steps(), full.free_energy_steps());
    // The tracked free energy of a Gaussian: F(k) − F(k₀) = (d/2) kT ln(k/k₀), here
    // with k₀ = 1 and kT = 1 (BAR between reference sets, EXP to the final k).
    let at_end = full.loss().unwrap();
    let exact = 0.5 * (3 * N) as f64 * k.ln();
    let err = full.free_energy_steps().last().unwrap().std_err;
    eprintln!(
        "free energy {} vs exact {exact} (BAR std err {err})",
        at_end.free_energy
    );
    assert!((at_end.free_energy - exact).abs() < 4.0 * err + 0.05);
}

// ---------------------------------------------------------------------------------------
// Coarse-graining diatomics to beads (slow)

fn rdf_of(frames: &[Frame], r_max: f64) -> Vec<f64> {
    let mut rdf = RdfConfig {
        r_max,
        n_bins: 40,
        n_species: 1,
    }
    .build()
    .unwrap();
    for f in frames {
        rdf.accumulate(&f.positions, &f.species, &f.simbox).unwrap();
    }
    rdf.curve(0, 0).unwrap().g
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

fn run_frames(
    state: State,
    potential: PotentialSum,
    kt: f64,
    frames: usize,
    seed: u64,
) -> Vec<Frame> {
    let ff = ForceField::new(potential, 0.3).unwrap();
    let integrator = Langevin::new(ThermostatConfig {
        dt: 0.004,
        kt,
        tau: 0.5,
        seed,
    })
    .unwrap();
    let mut sim = Simulation::new(state, ff, Box::new(integrator)).unwrap();
    let mut out = Vec::new();
    let run = RunConfig {
        equilibration_steps: 2000,
        production_steps: 50 * frames as u64,
        stride: 50,
        progress: false,
    };
    sim.run_protocol(&run, &mut |sim: &Simulation| {
        let s = sim.state();
        out.push(Frame {
            positions: s.positions.clone(),
            species: s.species.clone(),
            simbox: s.simbox.clone(),
        });
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn coarse_grained_bead_rdf_moves_to_the_reference() {
    if !slow() {
        return;
    }
    let kt = 1.5;
    // 108 diatomics (LJ atoms, harmonic bond r0 = 1) at 0.25 molecules/σ³.
    let (sites, simbox) = fcc_lattice(3, 0.25).unwrap();
    let n_mol = sites.len();
    let mut positions = Vec::new();
    let mut bonds = Vec::new();
    for (m, s) in sites.iter().enumerate() {
        positions.push(s - Vec3::new(0.5, 0.0, 0.0));
        positions.push(s + Vec3::new(0.5, 0.0, 0.0));
        bonds.push(Bond {
            atoms: [2 * m, 2 * m + 1],
            k: 200.0,
            r0: 1.0,
        });
    }
    let n = positions.len();
    let mut state = State::new(positions, vec![1.0; n], vec![0; n], simbox.clone()).unwrap();
    state.thermalize(kt, 1).unwrap();
    let topology = Topology {
        bonds,
        ..Default::default()
    };
    let fg = PotentialSum::new()
        .with(lj())
        .with(BondedPrior::new(topology, n).unwrap());
    let fg_frames = run_frames(state, fg, kt, 300, 2);
    let groups: Vec<Vec<usize>> = (0..n_mol).map(|m| vec![2 * m, 2 * m + 1]).collect();
    let map = LinearMap::center_of_mass(n, &groups, &vec![1.0; n]).unwrap();
    let fg_data = Dataset::new(
        fg_frames
            .iter()
            .map(|f| Structure::new(f.positions.clone(), f.species.clone(), f.simbox.clone()))
            .collect(),
        Default::default(),
    )
    .unwrap();
    let cg = fg_data
        .coarse_grain(&map, &vec![0; n_mol], Default::default())
        .unwrap();
    let r_max = 3.5;
    let reference_rdf = rdf_of(&cg.frames(), r_max);

    let prior = || {
        let mut c = SoftSphereConfig::single(0.9, 1.0, 12, 1.5);
        c.shift = true;
        c.build().unwrap()
    };
    let mut cg_start = State::new(
        sites.clone(),
        vec![2.0; n_mol],
        vec![0; n_mol],
        simbox.clone(),
    )
    .unwrap();
    cg_start.thermalize(kt, 3).unwrap();
    let model = SplinePairConfig::uniform(0.3, 3.5, 30).build().unwrap();
    let mut trainer = RelativeEntropyConfig {
        sampler: SamplerConfig {
            kt,
            dt: 0.004,
            friction_time: 0.5,
            equilibration_steps: 500,
            samples: 60,
            stride: 50,
            skin: 0.3,
            seed: 4,
            pressure: None,
        },
        updates: 120,
        optimizer: OptimizerConfig {
            adam: AdamConfig {
                learning_rate: 0.03,
                ..Default::default()
            },
            ..Default::default()
        },
        reweighting: ReweightingConfig::default(),
        reference_batch: Some(100),
        seed: 5,
        checkpoint: None,
        metrics: None,
        progress: true,
    }
    .build(model, cg, cg_start.clone(), Some(Arc::new(prior())))
    .unwrap();
    trainer.train().unwrap();
    let trained = trainer.into_model();
    let prior_rdf = rdf_of(
        &run_frames(
            cg_start.clone(),
            PotentialSum::new().with(prior()),
            kt,
            300,
            6,
        ),
        r_max,
    );
    let model_rdf = rdf_of(
        &run_frames(
            cg_start,
            PotentialSum::new().with(prior()).with(trained),
            kt,
            300,
            7,
        ),
        r_max,
    );
    let (before, after) = (
        mse(&prior_rdf, &reference_rdf),
        mse(&model_rdf, &reference_rdf),
    );
    eprintln!(
        "bead RDF MSE: prior {before:.3e} → trained {after:.3e} ({:.1}×)",
        before / after
    );
    assert!(after * 3.0 < before, "bead RDF MSE {before} → {after}");
}
