"""JAX-MD Behler-Parrinello energy + forces on the configuration written by thermograd's
`bp_bench` example (cargo xtask bench nn), with the same symmetry functions (params.json):
energy.behler_parrinello_neighbor_list, Dense neighbor list (dr_threshold 0, built once,
outside the timing), jit(value_and_grad), one untimed compile call then REPS timed calls
(median). Checks the descriptors against thermograd's (descriptors.bin): radial columns are
equal; JAX-MD's angular sum runs over ordered neighbour pairs (j, k) and thermograd's over
j < k, so JAX-MD's angular columns are twice thermograd's.
Usage: python bp_jaxmd_files.py DIR REPS [X64=0|1] [THREADS=1]
  THREADS=1 also needs XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  (set by the caller, before jax is imported).
Prints `RESULT {json}`: t_med, energy, max relative descriptor difference.
"""
import json, os, sys, time, statistics as st

kv = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
pos = [a for a in sys.argv[1:] if "=" not in a]
if kv.get("X64", "0") == "1":
    os.environ["JAX_ENABLE_X64"] = "1"
import numpy as np
import jax, jax.numpy as jnp
from jax_md import space, energy, partition

d, REPS = pos[0], int(pos[1])
p = json.load(open(os.path.join(d, "params.json")))
dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
R = jnp.asarray(np.fromfile(os.path.join(d, "positions.bin"), dtype="<f8").reshape(-1, 3), dtype)
L = float(p["box"])
R = jnp.mod(R, L)
disp, _ = space.periodic(jnp.asarray(L, dtype))
sym_kwargs = dict(radial_etas=jnp.asarray(p["radial_etas"], dtype), angular_etas=jnp.asarray(p["angular_etas"], dtype),
                  lambdas=jnp.asarray(p["lambdas"], dtype), zetas=jnp.asarray(p["zetas"], dtype),
                  cutoff_distance=float(p["cutoff"]))
neighbor_fn, energy_fn = energy.behler_parrinello_neighbor_list(
    disp, L, key=jax.random.PRNGKey(0), mlp_sizes=tuple(p["mlp_sizes"]), sym_kwargs=sym_kwargs,
    dr_threshold=0.0, format=partition.Dense)
nbrs = neighbor_fn.allocate(R)
vg = jax.jit(jax.value_and_grad(lambda r, nb: energy_fn(r, neighbor=nb)))
t0 = time.perf_counter(); e, g = vg(R, nbrs); jax.block_until_ready(g); compile_s = time.perf_counter() - t0
ts = []
for _ in range(REPS):
    t0 = time.perf_counter(); e, g = vg(R, nbrs); jax.block_until_ready(g); ts.append(time.perf_counter() - t0)

from jax_md._nn import behler_parrinello as bp
sym = np.asarray(bp.symmetry_functions_neighbor_list(disp, None, **sym_kwargs)(R, nbrs), dtype=np.float64)
ours = np.fromfile(os.path.join(d, "descriptors.bin"), dtype="<f8").reshape(sym.shape)
nr = len(p["radial_etas"])
ours_as_jax = ours.copy()
ours_as_jax[:, nr:] *= 2.0
scale = np.abs(ours_as_jax).max(axis=0)
rel = float((np.abs(sym - ours_as_jax).max(axis=0) / np.where(scale > 0, scale, 1.0)).max())
forces = -np.asarray(g, dtype=np.float64)
print("RESULT " + json.dumps(dict(code="jax-md-" + ("f64" if dtype == jnp.float64 else "f32"), N=int(R.shape[0]),
                                  t_med=st.median(ts), t_min=min(ts), compile_s=compile_s, energy=float(e),
                                  max_net_force=float(np.abs(forces.sum(0)).max()), descriptor_max_rel_diff=rel,
                                  nbr_capacity=int(nbrs.idx.shape[-1]), jax=jax.__version__)), flush=True)
