"""scikit-learn GaussianProcessRegressor on the data files written by thermograd's
`gpr_bench values` (cargo xtask bench gpr): RBF(1.0), alpha = 1e-4, optimizer=None (fixed
hyperparameters, as ../../shared/peers/gpr_sklearn.py's 'fixed' mode), fit then predict mean
and std at the test points. Compares with thermograd's predictions (mean.bin, std.bin).
Usage: python gpr_sklearn_files.py DIR D [THREADS=<all>]
Prints `RESULT {json}`: fit_s, predict_s, max |Δmean| and max |Δstd| against thermograd.
"""
import json, os, sys, time
import numpy as np
import sklearn
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF
from threadpoolctl import threadpool_limits

kv = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
pos = [a for a in sys.argv[1:] if "=" not in a]
d, D = pos[0], int(pos[1])
THREADS = int(kv.get("THREADS", len(os.sched_getaffinity(0))))
rd = lambda name: np.fromfile(os.path.join(d, name), dtype="<f8")
X, y, Xt = rd("x.bin").reshape(-1, D), rd("y.bin"), rd("xt.bin").reshape(-1, D)
with threadpool_limits(THREADS, user_api="blas"):
    gp = GaussianProcessRegressor(RBF(1.0), alpha=1e-4, optimizer=None)
    t0 = time.perf_counter(); gp.fit(X, y); fit_s = time.perf_counter() - t0
    t0 = time.perf_counter(); mu, sd = gp.predict(Xt, return_std=True); predict_s = time.perf_counter() - t0
ref_mu, ref_sd = rd("mean.bin"), rd("std.bin")
print("RESULT " + json.dumps(dict(code="scikit-learn", n=len(y), dim=D, m=len(Xt), threads=THREADS, fit_s=fit_s,
                                  predict_s=predict_s, max_dmean=float(np.abs(mu - ref_mu).max()),
                                  max_dstd=float(np.abs(sd - ref_sd).max()), sklearn=sklearn.__version__)), flush=True)
