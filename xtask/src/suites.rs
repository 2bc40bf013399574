//! The comparisons of `cargo xtask bench`: what each suite runs on each side, how the
//! outputs are read, and what "the same answer" means for it.
//!
//! thermograd sides are examples of the physics crates (built by the harness) that
//! print `RESULT {json}`; peers are the scripts in `../shared/peers` (LAMMPS, OpenMM,
//! JAX-MD, numpy) and, where a peer has to read thermograd's exact inputs, the small
//! scripts in `xtask/peers/` (pymbar, scikit-learn, JAX-MD's Behler–Parrinello).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::bench::{num, result_line, Case, Env, Obs, Parse, Side, Suite};
use crate::json::Json;

/// Builds suite `name` (running any one-off set-up, such as writing input data).
pub fn build(name: &str, env: &Env) -> Result<Suite, String> {
    match name {
        "md" => Ok(md(env)),
        "neighbors" => Ok(neighbors(env)),
        "estimators" => estimators(env),
        "gpr" => Ok(gpr(env)),
        "nn" => Ok(nn(env)),
        other => Err(format!("unknown suite {other}")),
    }
}

fn obj(pairs: &[(&str, f64)]) -> Json {
    Json::Obj(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Json::Num(*v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Parser of a `RESULT {json}` line on stdout (or stderr), timed by `key`.
fn result_timed_by(key: &'static str, on_stderr: bool) -> Parse {
    Box::new(move |out, err| {
        let json = result_line(if on_stderr { err } else { out })?;
        Ok(Obs {
            secs: num(&json, key)?,
            json,
        })
    })
}

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

fn threads_list(env: &Env) -> Vec<usize> {
    [1, 2].into_iter().filter(|&t| t <= env.cores).collect()
}

fn data_dir(env: &Env, sub: &str) -> Result<PathBuf, String> {
    let d = env.data.join(sub);
    std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    Ok(d)
}

// ---------------------------------------------------------------------------------
// LAMMPS

/// `lmp -sf opt` (under `mpirun` for more than one rank) on the peers' `in.lj`.
fn lammps_side(
    env: &Env,
    cells: usize,
    steps: usize,
    ranks: usize,
    parse: Parse,
) -> Result<Side, String> {
    let lmp = env.lmp.clone().ok_or("LAMMPS (`lmp`) is not installed")?;
    let input = env.peers.join("lj_lammps.in");
    if !input.is_file() {
        return Err(format!("{} is missing", input.display()));
    }
    let lmp_args: Vec<String> = vec![
        "-in".into(),
        input.display().to_string(),
        "-var".into(),
        "n".into(),
        cells.to_string(),
        "-var".into(),
        "steps".into(),
        steps.to_string(),
        "-log".into(),
        "none".into(),
        "-nocite".into(),
        // The OPT package's lj/cut/opt: LAMMPS's fastest CPU pair style, the one the
        // reference numbers of the performance goals were measured with.
        "-sf".into(),
        "opt".into(),
    ];
    let label = if ranks > 1 {
        format!("LAMMPS OPT ({ranks} MPI ranks)")
    } else {
        "LAMMPS OPT".to_owned()
    };
    let side = if ranks > 1 {
        let mpirun = env
            .mpirun
            .clone()
            .ok_or("mpirun is not installed (LAMMPS runs 2 threads as 2 MPI ranks)")?;
        Side::new(label, mpirun, parse)
            .args(["--allow-run-as-root", "--oversubscribe", "-np"])
            .args([ranks.to_string(), "--bind-to".into(), "core".into()])
            .args([lmp.display().to_string()])
            .args(lmp_args)
    } else {
        Side::new(label, lmp, parse).args(lmp_args)
    };
    Ok(side.pin(ranks).cwd(&env.data))
}

/// Reads a LAMMPS log: loop time, thermo rows (TotEng per atom), neighbor statistics.
fn parse_lammps(out: &str) -> Result<BTreeMap<&'static str, f64>, String> {
    let mut m = BTreeMap::new();
    let mut energies = Vec::new();
    let mut in_thermo = false;
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("Step ") {
            in_thermo = true;
            continue;
        }
        if let Some(rest) = t.strip_prefix("Loop time of ") {
            in_thermo = false;
            let secs: f64 = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("unreadable `Loop time` line")?;
            m.insert("loop_s", secs);
        } else if in_thermo {
            let cols: Vec<f64> = t
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if cols.len() == 6 {
                energies.push(cols[4]);
            }
        } else if t.starts_with("Neigh ") && t.contains('|') {
            let avg = t
                .split('|')
                .nth(2)
                .and_then(|s| s.trim().parse().ok())
                .ok_or("unreadable `Neigh` timing row")?;
            m.insert("neigh_s", avg);
        } else if let Some(v) = t.strip_prefix("Neighbor list builds =") {
            m.insert(
                "builds",
                v.trim().parse().map_err(|_| "unreadable builds count")?,
            );
        } else if let Some(v) = t.strip_prefix("Total # of neighbors =") {
            m.insert(
                "pairs",
                v.trim().parse().map_err(|_| "unreadable neighbor count")?,
            );
        }
    }
    if let (Some(&e0), Some(&e1)) = (energies.first(), energies.last()) {
        m.insert("e0", e0);
        m.insert("e_end", e1);
    }
    Ok(m)
}

// ---------------------------------------------------------------------------------
// md

fn md(env: &Env) -> Suite {
    let mut skipped = Vec::new();
    let mut cases = Vec::new();
    let sizes: &[usize] = if env.quick { &[4000] } else { &[4000, 32000] };
    let steps = if env.quick { 200 } else { 1000 };
    for &n in sizes {
        let cells = ((n / 4) as f64).cbrt().round() as usize;
        for t in threads_list(env) {
            let ours = Side::new(
                "thermograd",
                env.example("lj_bench"),
                result_timed_by("wall_s", false),
            )
            .args([n, steps, t])
            .pin(t);
            let mut peers = Vec::new();
            let e0_check = |tol: f64| {
                move |a: &Json, b: &Json| -> Result<String, String> {
                    let (ea, eb) = (num(a, "e0")?, num(b, "e0")?);
                    let d = rel_diff(ea, eb);
                    if d <= tol {
                        Ok(format!(
                            "E/N at step 0 {ea:.7} vs {eb:.7} (rel. diff {d:.1e})"
                        ))
                    } else {
                        Err(format!(
                            "E/N at step 0 {ea:.9} vs {eb:.9} (rel. diff {d:.1e} > {tol:.0e})"
                        ))
                    }
                }
            };
            let lammps_parse: Parse = Box::new(|out, _| {
                let m = parse_lammps(out)?;
                let secs = *m.get("loop_s").ok_or("no `Loop time` line")?;
                let pairs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
                Ok(Obs {
                    secs,
                    json: obj(&pairs),
                })
            });
            match lammps_side(env, cells, steps, t, lammps_parse) {
                Ok(side) => peers.push(side.check(e0_check(1e-6))),
                Err(e) => push_once(&mut skipped, format!("LAMMPS: skipped, {e}")),
            }
            match &env.python {
                Some(py) => {
                    let pp = env.peers.display().to_string();
                    peers.push(
                        Side::new("OpenMM (CPU)", py, result_timed_by("wall_s", false))
                            .args([env.peers.join("lj_openmm.py").display().to_string()])
                            .args([
                                format!("N={n}"),
                                format!("STEPS={steps}"),
                                format!("THREADS={t}"),
                                "FORCE=nb".into(),
                            ])
                            .env("PYTHONPATH", &pp)
                            .pin(t)
                            .cwd(&env.data)
                            .check(e0_check(1e-5)),
                    );
                    if env.quick && t > 1 {
                        push_once(
                            &mut skipped,
                            "JAX-MD: 1 thread only in --quick (its XLA compile takes ~30 s per run)".into(),
                        );
                    } else {
                        let mut side =
                            Side::new("JAX-MD (f32)", py, result_timed_by("wall_s", false))
                                .args([env.peers.join("lj_jaxmd.py").display().to_string()])
                                .args([
                                    format!("N={n}"),
                                    format!("STEPS={steps}"),
                                    format!("THREADS={t}"),
                                ])
                                .env("PYTHONPATH", &pp)
                                .pin(t)
                                .cwd(&env.data)
                                .check(e0_check(1e-5));
                        if t == 1 {
                            side = side.env("XLA_FLAGS", XLA_ONE_THREAD);
                        }
                        peers.push(side);
                    }
                }
                None => push_once(&mut skipped, env.no_python("OpenMM and JAX-MD")),
            }
            cases.push(Case {
                name: format!(
                    "LJ in.lj N={n}, {steps} steps, {t} thread{}",
                    if t > 1 { "s" } else { "" }
                ),
                rate: Some(((n * steps) as f64 / 1e6, "M atom-steps/s")),
                ours,
                peers,
                self_check: Some(Box::new(|j: &Json| {
                    // The largest excursion of E/N from its start, over the samples.
                    let e0 = num(j, "e0")?;
                    let energies = j.nums("energies").ok_or("no `energies` in the result")?;
                    let drift =
                        energies
                            .iter()
                            .map(|e| (e - e0) / e0.abs())
                            .fold(0.0f64, |m, d| {
                                if d.abs() > m.abs() || d.is_nan() {
                                    d
                                } else {
                                    m
                                }
                            });
                    if drift.is_finite() && drift.abs() < 1e-2 {
                        Ok(format!("thermograd max. rel. energy change {drift:+.1e}"))
                    } else {
                        Err(format!(
                            "energy not conserved: rel. change {drift:+.1e} from E/N = {e0}"
                        ))
                    }
                })),
            });
        }
    }
    Suite {
        name: "md",
        cases,
        skipped,
    }
}

const XLA_ONE_THREAD: &str = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1";

// ---------------------------------------------------------------------------------
// neighbors

fn neighbors(env: &Env) -> Suite {
    let mut skipped = Vec::new();
    let mut cases = Vec::new();
    let sizes: &[usize] = if env.quick { &[4000] } else { &[4000, 32000] };
    let steps = if env.quick { 100 } else { 400 };
    for &n in sizes {
        let cells = ((n / 4) as f64).cbrt().round() as usize;
        // LAMMPS' count on the initial lattice (`run 0`), to check ours against.
        let count_parse: Parse = Box::new(|out, _| {
            let m = parse_lammps(out)?;
            let pairs = *m
                .get("pairs")
                .ok_or("LAMMPS `run 0` printed no neighbor count")?;
            Ok(Obs {
                secs: 0.0,
                json: obj(&[("pairs", pairs)]),
            })
        });
        let count = match lammps_side(env, cells, 0, 1, count_parse)
            .and_then(|side| side.run(env))
            .and_then(|obs| num(&obs.json, "pairs"))
        {
            Ok(c) => Some(c),
            Err(e) => {
                push_once(&mut skipped, format!("LAMMPS: skipped, {e}"));
                None
            }
        };
        for t in threads_list(env) {
            let ours = Side::new(
                "thermograd",
                env.example("nl_bench"),
                result_timed_by("build_s", false),
            )
            .args([n, 5, t])
            .pin(t);
            let mut peers = Vec::new();
            let parse: Parse = Box::new(|out, _| {
                let m = parse_lammps(out)?;
                let neigh = *m.get("neigh_s").ok_or("no `Neigh` timing row")?;
                let builds = *m.get("builds").ok_or("no build count")?;
                if builds < 1.0 {
                    return Err("LAMMPS built no neighbor list during the run".into());
                }
                Ok(Obs {
                    secs: neigh / builds,
                    json: obj(&[("builds", builds), ("neigh_s", neigh)]),
                })
            });
            match (lammps_side(env, cells, steps, t, parse), count) {
                (Ok(side), Some(count)) => peers.push(side.check(move |a, _| {
                    let ours = num(a, "pairs")?;
                    if ours == count {
                        Ok(format!(
                            "{ours} pairs within 2.8 on the fcc lattice, as LAMMPS (run 0)"
                        ))
                    } else {
                        Err(format!(
                            "{ours} pairs vs LAMMPS' {count} on the fcc lattice"
                        ))
                    }
                })),
                (Err(e), _) => push_once(&mut skipped, format!("LAMMPS: skipped, {e}")),
                // Already noted when the `run 0` count failed.
                (Ok(_), None) => {}
            }
            cases.push(Case {
                name: format!(
                    "Verlet list build N={n}, {t} thread{}",
                    if t > 1 { "s" } else { "" }
                ),
                rate: Some((n as f64 / 1e6, "M atoms/s")),
                ours,
                peers,
                self_check: None,
            });
        }
    }
    if !skipped.iter().any(|s| s.starts_with("LAMMPS")) {
        skipped.push(
            "LAMMPS' time per build is its `Neigh` time over a short in.lj run \
             (the melting liquid, one build every 20 steps) divided by the builds; \
             thermograd's is the median of 5 rebuilds on the fcc lattice"
                .into(),
        );
    }
    Suite {
        name: "neighbors",
        cases,
        skipped,
    }
}

fn push_once(lines: &mut Vec<String>, line: String) {
    if !lines.contains(&line) {
        lines.push(line);
    }
}

// ---------------------------------------------------------------------------------
// estimators

/// Reads a line `NAME … delta_f=… std_err=… t_med=…` of `peer_compare`.
fn peer_compare_line(out: &str, name: &str) -> Result<BTreeMap<String, f64>, String> {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .ok_or_else(|| format!("no `{name}` line"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v)))
        .collect())
}

fn estimators(env: &Env) -> Result<Suite, String> {
    let mut skipped = Vec::new();
    let dir = data_dir(env, "estimators")?;
    let (n_bar, k, n_k) = (1_000_000usize, 20usize, 10_000usize);
    let out = Command::new(env.example("est_data"))
        .args([
            dir.display().to_string(),
            n_bar.to_string(),
            k.to_string(),
            n_k.to_string(),
            "1".into(),
        ])
        .output()
        .map_err(|e| format!("cannot run est_data: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let exact: BTreeMap<String, f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("EXACT "))
        .ok_or("est_data printed no EXACT line")?
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v)))
        .collect();
    let reps_inner = "3";
    let file = |name: &str| dir.join(name).display().to_string();
    let mut cases = Vec::new();
    for method in ["BAR", "MBAR"] {
        let (args, name, exact_value): (Vec<String>, String, f64) = if method == "BAR" {
            (
                vec![
                    "two-state".into(),
                    file("w_f.bin"),
                    file("w_r.bin"),
                    reps_inner.into(),
                ],
                format!("BAR, 2 × 10^{} work values", (n_bar as f64).log10().round()),
                exact["bar"],
            )
        } else {
            (
                vec![
                    "mbar".into(),
                    file("u_kn.bin"),
                    k.to_string(),
                    n_k.to_string(),
                    reps_inner.into(),
                ],
                format!("MBAR, K = {k} states × {n_k} samples"),
                exact["mbar"],
            )
        };
        let ours = Side::new(
            "thermograd",
            env.example("peer_compare"),
            Box::new(move |out, _| {
                let m = peer_compare_line(out, method)?;
                let delta_f = if method == "BAR" {
                    *m.get("delta_f").ok_or("no delta_f")?
                } else {
                    let f_k = out
                        .lines()
                        .find_map(|l| l.strip_prefix("f_k "))
                        .ok_or("no f_k line")?;
                    f_k.split_whitespace()
                        .last()
                        .and_then(|v| v.parse().ok())
                        .ok_or("unreadable f_k")?
                };
                let mut pairs = vec![("delta_f", delta_f)];
                if let Some(s) = m.get("std_err") {
                    pairs.push(("std_err", *s));
                }
                Ok(Obs {
                    secs: *m.get("t_med").ok_or("no t_med")?,
                    json: obj(&pairs),
                })
            }),
        )
        .args(args);
        let mut peers = Vec::new();
        match &env.python {
            Some(py) => peers.push(
                Side::new("pymbar", py, result_timed_by("t_med", false))
                    .args([
                        env.root
                            .join("xtask/peers/est_pymbar_files.py")
                            .display()
                            .to_string(),
                        dir.display().to_string(),
                        k.to_string(),
                        n_k.to_string(),
                        reps_inner.into(),
                        format!("METHODS={}", method.to_lowercase()),
                    ])
                    .check(|a, b| {
                        let (x, y) = (num(a, "delta_f")?, num(b, "delta_f")?);
                        if (x - y).abs() <= 1e-6 {
                            Ok(format!(
                                "ΔF {x:.6} vs {y:.6} kT (diff {:.1e})",
                                (x - y).abs()
                            ))
                        } else {
                            Err(format!("ΔF {x:.9} vs {y:.9} kT"))
                        }
                    }),
            ),
            None => push_once(&mut skipped, env.no_python("pymbar")),
        }
        cases.push(Case {
            name,
            rate: None,
            ours,
            peers,
            self_check: Some(Box::new(move |j: &Json| {
                let d = num(j, "delta_f")?;
                let err = (d - exact_value).abs();
                match j.num("std_err") {
                    Some(s) if err > 4.0 * s => Err(format!("ΔF {d:.5} is {err:.1e} from the exact {exact_value:.5}, more than 4 σ ({s:.1e})")),
                    _ => Ok(format!("exact {exact_value:.5}, thermograd off by {err:.1e}")),
                }
            })),
        });
    }
    Ok(Suite {
        name: "estimators",
        cases,
        skipped,
    })
}

// ---------------------------------------------------------------------------------
// gpr

fn gpr(env: &Env) -> Suite {
    let mut skipped = Vec::new();
    let mut cases = Vec::new();
    let sizes: &[usize] = if env.quick { &[2000] } else { &[2000, 5000] };
    for &n in sizes {
        let dir = env.data.join(format!("gpr-values-{n}"));
        let dir_s = dir.display().to_string();
        let total = |key_a: &'static str, key_b: &'static str| -> Parse {
            Box::new(move |out, _| {
                let json = result_line(out)?;
                Ok(Obs {
                    secs: num(&json, key_a)? + num(&json, key_b)?,
                    json,
                })
            })
        };
        let ours = Side::new(
            "thermograd",
            env.example("gpr_bench"),
            total("fit_s", "predict_s"),
        )
        .args(["values", &dir_s, &n.to_string(), "2", "1000", "0"]);
        let mut peers = Vec::new();
        match &env.python {
            Some(py) => peers.push(
                Side::new("scikit-learn", py, total("fit_s", "predict_s"))
                    .args([
                        env.root
                            .join("xtask/peers/gpr_sklearn_files.py")
                            .display()
                            .to_string(),
                        dir_s.clone(),
                        "2".into(),
                        format!("THREADS={}", env.cores),
                    ])
                    .check(|_, b| {
                        let (dm, ds) = (num(b, "max_dmean")?, num(b, "max_dstd")?);
                        if dm <= 1e-6 && ds <= 1e-6 {
                            Ok(format!(
                                "predictions agree: largest mean difference {dm:.1e}, std {ds:.1e}"
                            ))
                        } else {
                            Err(format!(
                                "largest mean difference {dm:.1e}, std {ds:.1e} (> 1e-6)"
                            ))
                        }
                    }),
            ),
            None => push_once(&mut skipped, env.no_python("scikit-learn")),
        }
        std::fs::create_dir_all(&dir).ok();
        cases.push(Case {
            name: format!("exact GP fit + predict, {n} values in 2-D, 1000 test points (mean+std)"),
            rate: None,
            ours,
            peers,
            self_check: None,
        });
    }
    let chol_sizes: &[usize] = if env.quick { &[4000] } else { &[4000, 10_000] };
    for &n in chol_sizes {
        for t in threads_list(env) {
            let flops = (n as f64).powi(3) / 3.0;
            let ours = Side::new(
                "thermograd (faer)",
                env.example("gpr_bench"),
                result_timed_by("t_med", false),
            )
            .args(["chol".to_owned(), n.to_string(), "3".into()])
            .env("RAYON_NUM_THREADS", t)
            .pin(t);
            let mut peers = Vec::new();
            match &env.python {
                Some(py) => peers.push(
                    Side::new("numpy (OpenBLAS)", py, result_timed_by("t_med", true))
                        .args([
                            env.peers.join("chol_numpy.py").display().to_string(),
                            format!("NS={n}"),
                            format!("THREADS={t}"),
                            "REPS=3".into(),
                            "GEMM=0".into(),
                        ])
                        .pin(t)
                        .check(|_, _| {
                            Ok("both factorisations checked in-process (pivots > 0; L Lᵀ = A on a block)".into())
                        }),
                ),
                None => push_once(&mut skipped, env.no_python("numpy")),
            }
            cases.push(Case {
                name: format!("Cholesky n={n}, {t} thread{}", if t > 1 { "s" } else { "" }),
                rate: Some((flops / 1e9, "GFLOP/s")),
                ours,
                peers,
                self_check: None,
            });
        }
    }
    if !env.quick {
        // Issue #6's target; no peer conditions on gradients.
        cases.push(Case {
            name: "gradient GP, 5000 2-D gradients, fit + mean+std on a 100×100 grid".into(),
            rate: None,
            ours: Side::new(
                "thermograd",
                env.example("perf"),
                result_timed_by("total_s", false),
            )
            .args(["5000"]),
            peers: Vec::new(),
            self_check: None,
        });
        skipped.push("the gradient-observation GP has no peer (scikit-learn cannot condition on derivatives)".into());
    }
    skipped.dedup();
    Suite {
        name: "gpr",
        cases,
        skipped,
    }
}

// ---------------------------------------------------------------------------------
// nn

fn nn(env: &Env) -> Suite {
    let mut skipped = Vec::new();
    let mut cases = Vec::new();
    let cells_list: &[usize] = if env.quick { &[6] } else { &[6, 10] };
    for &cells in cells_list {
        let n = 4 * cells.pow(3);
        let dir = env.data.join(format!("nn-{cells}"));
        let dir_s = dir.display().to_string();
        let ours = Side::new(
            "thermograd",
            env.example("bp_bench"),
            result_timed_by("t_med", false),
        )
        .args([dir_s.clone(), cells.to_string(), "3".into(), "1".into()])
        .pin(1);
        let mut peers = Vec::new();
        match &env.python {
            Some(py) => {
                // f64 is what thermograd computes in; JAX-MD's default is f32. f64 at the
                // larger size takes minutes per run, so only at the small one.
                let precisions: &[bool] = if env.quick || cells > 6 {
                    &[false]
                } else {
                    &[false, true]
                };
                for &x64 in precisions {
                    let tol = if x64 { 1e-5 } else { 1e-3 };
                    peers.push(
                        Side::new(
                            if x64 { "JAX-MD (f64)" } else { "JAX-MD (f32)" },
                            py,
                            result_timed_by("t_med", false),
                        )
                        .args([
                            env.root
                                .join("xtask/peers/bp_jaxmd_files.py")
                                .display()
                                .to_string(),
                            dir_s.clone(),
                            "3".into(),
                            format!("X64={}", u8::from(x64)),
                        ])
                        .env("XLA_FLAGS", XLA_ONE_THREAD)
                        .pin(1)
                        .check(move |_, b| {
                            let d = num(b, "descriptor_max_rel_diff")?;
                            if d <= tol {
                                Ok(format!("same descriptors (max rel. diff {d:.1e})"))
                            } else {
                                Err(format!(
                                    "descriptors differ by {d:.1e} relative (> {tol:.0e})"
                                ))
                            }
                        }),
                    );
                }
            }
            None => push_once(&mut skipped, env.no_python("JAX-MD")),
        }
        std::fs::create_dir_all(&dir).ok();
        cases.push(Case {
            name: format!("Behler–Parrinello energy+forces, N={n}, 1 thread"),
            rate: Some((n as f64 / 1e3, "k atoms/s")),
            ours,
            peers,
            self_check: Some(Box::new(|j: &Json| {
                let f = num(j, "max_net_force")?;
                if f < 1e-8 {
                    Ok(format!("thermograd net force {f:.0e}"))
                } else {
                    Err(format!("net force {f:.1e} ≠ 0"))
                }
            })),
        });
    }
    if env.python.is_some() {
        skipped.push(
            "the networks' weights differ between the sides (each initialises its own), so \
             energies are not compared; the descriptors, which dominate the cost, are \
             (JAX-MD adds 1e-7 to distances inside its cosines, hence the f64 tolerance of 1e-5)"
                .into(),
        );
    }
    skipped.dedup();
    Suite {
        name: "nn",
        cases,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMMPS_LOG: &str = "\
Step Temp PotEng KinEng TotEng Press 
       0 1.44 -6.773368053 2.15946 -4.613908053 -5.019973182 
     100 0.7571533404 -5.75814257 1.135446078 -4.622696492 0.2085022168 
Loop time of 0.431033 on 1 procs for 200 steps with 4000 atoms

Section |  min time  |  avg time  |  max time  |%varavg| %total
---------------------------------------------------------------
Pair    | 0.34659    | 0.34659    | 0.34659    |   0.0 | 80.41
Neigh   | 0.069572   | 0.069600   | 0.069572   |   0.0 | 16.14

Total # of neighbors = 149765
Neighbor list builds = 10
";

    #[test]
    fn reads_lammps_and_peer_compare() {
        let m = parse_lammps(LAMMPS_LOG).unwrap();
        assert_eq!(m["loop_s"], 0.431033);
        assert_eq!(m["e0"], -4.613908053);
        assert_eq!(m["e_end"], -4.622696492);
        assert_eq!(m["neigh_s"], 0.0696);
        assert_eq!(m["builds"], 10.0);
        assert_eq!(m["pairs"], 149765.0);
        let p = peer_compare_line(
            "EXP n=10 delta_f=1e0 t_med=0.1\nBAR n=10 delta_f=1.5e0 std_err=2e-3 t_med=0.25\n",
            "BAR",
        )
        .unwrap();
        assert_eq!(p["delta_f"], 1.5);
        assert_eq!(p["t_med"], 0.25);
        assert!(peer_compare_line("", "BAR").is_err());
        assert!(rel_diff(1.0, 1.0 + 1e-9) < 2e-9);
    }
}
