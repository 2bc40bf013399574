"""pymbar on the data files written by thermograd's `est_data` example (cargo xtask bench
estimators), timed like ../../shared/peers/est_pymbar.py: one untimed warm-up call (JAX jit),
then REPS timed calls of the estimator including its uncertainty (MBAR: the constructor, i.e.
the solve, plus compute_free_energy_differences); the median is reported.
Usage: python est_pymbar_files.py DIR K N_PER_STATE REPS [METHODS=bar,mbar] [PYMBAR_JAX=0|1]
Prints `RESULT {json}` lines: method, delta_f, std_err, t_med, pymbar version, JAX on/off.
"""
import json, os, sys, time, statistics as st

kv = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
pos = [a for a in sys.argv[1:] if "=" not in a]
if kv.get("PYMBAR_JAX", os.environ.get("PYMBAR_JAX", "1")) == "0":
    sys.modules["jax"] = None            # pymbar falls back to numpy/scipy
import logging; logging.disable(logging.WARNING)
import numpy as np
import pymbar
if sys.modules.get("jax", 0) is None:
    del sys.modules["jax"]
from pymbar import other_estimators as oe

d, K, NK, REPS = pos[0], int(pos[1]), int(pos[2]), int(pos[3])
jax_on = bool(getattr(pymbar.mbar_solvers, "use_jit", False))
wF = np.fromfile(os.path.join(d, "w_f.bin"), dtype="<f8")
wR = np.fromfile(os.path.join(d, "w_r.bin"), dtype="<f8")
u_kn = np.fromfile(os.path.join(d, "u_kn.bin"), dtype="<f8").reshape(K, K * NK)


def timed(fn):
    out = fn()
    ts = []
    for _ in range(REPS):
        t0 = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t0)
    return out, st.median(ts)


def emit(method, est, err, t, **extra):
    print("RESULT " + json.dumps(dict(code="pymbar", method=method, delta_f=float(est), std_err=float(err), t_med=t,
                                      pymbar=pymbar.__version__, pymbar_jax=jax_on, **extra)), flush=True)


methods = kv.get("METHODS", "bar,mbar").split(",")
if "bar" in methods:
    r, t = timed(lambda: oe.bar(wF, wR))
    emit("BAR", r["Delta_f"], r["dDelta_f"], t, n=len(wF))
if "mbar" in methods:
    r, t = timed(lambda: pymbar.MBAR(u_kn, np.full(K, NK)).compute_free_energy_differences())
    emit("MBAR", r["Delta_f"][0, -1], r["dDelta_f"][0, -1], t, K=K, n_per_state=NK,
         f_k=[float(v) for v in r["Delta_f"][0]])
