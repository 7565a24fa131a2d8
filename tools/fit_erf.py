#!/usr/bin/env python3
"""fit_erf.py — the polynomial coefficients of the vectorised erf in
src/tensor/cpu/cpu_activation_avx512.c (GELU, GEGLU), fitted here so that they can be checked and
refitted. Needs only Debian's python3-numpy. Prints the C initialisers.

Two pieces, each a least-squares fit reweighted towards minimax relative error (Lawson):
  |x| < 1:    erf(x) = x * A(x^2),                   A of degree 6 (relative error ~1e-9)
  |x| >= 1/2: erfc(x) = exp(-x^2) * B(1 / (1 + x)),  B of degree 10 on x in [1/2, 10]
The kernel uses A below 1/2 only (near -1, 1 + erf would cancel). Evaluated in float, B is
within 2.3e-7 of the exact value (the rounding of t and of each Horner step): two float steps.
"""
from math import erf, erfc, exp

import numpy as np


def fit(xs, f, var, deg, iters=40):
    A = np.stack([var ** k for k in range(deg + 1)], 1)
    w = np.ones_like(xs)
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(A * w[:, None], f * w, rcond=None)
        r = np.abs(A @ c - f) / np.abs(f)
        w = w * (1 + r / r.max())
    return c, r.max()


def show(name, c, err):
    print(f"/* {name}: relative error {err:.2g} (coefficient k of t^k, highest first) */")
    print("{" + ", ".join(f"{v:.9e}f" for v in c[::-1]) + "}")


xa = np.linspace(1e-4, 1.0, 4000)
ca, ea = fit(xa, np.array([erf(x) / x for x in xa]), xa * xa, 6)
show("A: erf(x)/x in x^2, |x| < 1", ca, ea)
xb = np.linspace(0.5, 10.0, 8000)
cb, eb = fit(xb, np.array([erfc(x) * exp(x * x) for x in xb]), 1 / (1 + xb), 10)
show("B: erfc(x) exp(x^2) in 1/(1+x), 0.5 <= x <= 10", cb, eb)
