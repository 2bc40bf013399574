"""Writes the NumPy fixtures of the dataset tests with the Python standard library only
(struct + zipfile), following the NPY format specification
(https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html), so that the
reader is tested against files it did not write. Values are simple closed forms that the
tests recompute.

Run from this directory: python3 make_fixtures.py
"""
import struct
import zipfile


def npy(descr, shape, values, fortran=False):
    fmt = {"<f8": "<d", ">f8": ">d", "<f4": "<f", "<i8": "<q", "<i4": "<i", "|u1": "<B"}[descr]
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr,
        "True" if fortran else "False",
        "".join("%d, " % s for s in shape) if len(shape) == 1 else ", ".join(str(s) for s in shape),
    )
    # Pad with spaces and a newline so that magic + 2 + 2 + header is a multiple of 64.
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    out = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")
    return out + b"".join(struct.pack(fmt, v) for v in values)


def c_to_fortran(shape, values):
    # Reorder C-order values so that the first index runs fastest.
    import itertools
    strides = []
    s = 1
    for d in reversed(shape):
        strides.insert(0, s)
        s *= d
    out = []
    for idx in itertools.product(*[range(d) for d in reversed(shape)]):
        idx = tuple(reversed(idx))
        out.append(values[sum(i * st for i, st in zip(idx, strides))])
    return out


D, N = 2, 3
# R[d, i, c] = d + 0.1 i + 0.01 c ; F = -R (as float32) ; U[d] = -1.5 d ; box 2, 3, 4.
R = [d + 0.1 * i + 0.01 * c for d in range(D) for i in range(N) for c in range(3)]
F = [-x for x in R]
U = [-1.5 * d for d in range(D)]
species = [0, 1, 1]

with zipfile.ZipFile("chemtrain_style.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("R.npy", npy("<f8", (D, N, 3), c_to_fortran((D, N, 3), R), fortran=True))
    z.writestr("F.npy", npy("<f4", (D, N, 3), F))
    z.writestr("U.npy", npy("<f8", (D,), U))
    z.writestr("box.npy", npy("<f8", (3,), [2.0, 3.0, 4.0]))
    z.writestr("species.npy", npy("<i8", (N,), species))

with open("big_endian.npy", "wb") as f:
    f.write(npy(">f8", (2, 3), [0.5 * k for k in range(6)]))
