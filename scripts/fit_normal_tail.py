"""The coefficients of NormalTail in csrc/kernels/act_math.h, and their error.

Phi(-t) = exp(-t^2 / 2) h(Z) / (2 (1 + sqrt2 t)) with Z = (t - c) / (t + c), where
h(Z) = (1 + 2z) erfcx(z), z = t / sqrt 2, is flat (1 <= h < 1.13) on the whole half-line
t >= 0 (Z in [-1, 1)). h is interpolated at the Chebyshev points of degree n - 1 in 50-digit
arithmetic and written in monomial form for Horner's rule; the script prints the
coefficients rounded to the dtype and the largest relative error of Horner's rule in that
dtype over Z in [-1, 1] (below an ulp for both entries of act_math.h).

    python scripts/fit_normal_tail.py float32 3.0 11
    python scripts/fit_normal_tail.py float64 4.25 25

With `phi` first, the coefficients of PhiPoly in csrc/kernels/simd/vec_math.h instead:
exp(r) / sqrt(2 pi) for |r| <= ln2 / 2 (the SIMD sets' exp after its reduction, with the
normal density's factor folded in), the Chebyshev interpolant with n terms, and the largest
relative error of Horner's rule with fused multiply-adds in that dtype:

    python scripts/fit_normal_tail.py phi float32 7
    python scripts/fit_normal_tail.py phi float64 12

Needs mpmath (not a dependency of nncore).
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def h(Z, K):
    """(1 + 2z) erfcx(z) at z = K (1 + Z) / (1 - Z); its limit 2 / sqrt(pi) at Z = 1."""
    if Z >= 1:
        return 2 / mp.sqrt(mp.pi)
    z = K * (1 + Z) / (1 - Z)
    return (1 + 2 * z) * mp.erfc(z) * mp.exp(z * z)


def chebyshev_interpolant(f, degree):
    """Coefficients of sum c_j T_j(Z) through f at the degree + 1 Chebyshev points."""
    m = degree + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / m) for k in range(m)]
    values = [f(x) for x in nodes]
    c = [2 * sum(values[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / m) for k in range(m)) / m
         for j in range(m)]
    c[0] /= 2
    return c


def monomial(c):
    """sum c_j T_j(Z) as sum a_i Z^i."""
    T = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for n in range(2, len(c)):
        a = [mp.mpf(0)] + [2 * v for v in T[n - 1]]
        b = T[n - 2] + [mp.mpf(0)] * (len(a) - len(T[n - 2]))
        T.append([x - y for x, y in zip(a, b)])
    out = [mp.mpf(0)] * len(c)
    for j, cj in enumerate(c):
        for i, t in enumerate(T[j]):
            out[i] += cj * t
    return out


def main(dtype, c, n):
    dtype, c, n = np.dtype(dtype), mp.mpf(c), int(n)
    K = c / mp.sqrt(2)  # Z = (t - c) / (t + c) = (z - K) / (z + K)
    p = [dtype.type(float(v)) for v in monomial(chebyshev_interpolant(lambda Z: h(Z, K), n - 1))]
    worst = 0.0
    for Z in np.linspace(-1, 1, 1001).astype(dtype):
        v = p[-1]
        for a in reversed(p[:-1]):
            v = dtype.type(v * Z + a)
        exact = h(mp.mpf(float(Z)), K)
        worst = max(worst, abs(float((mp.mpf(float(v)) - exact) / exact)))
    fmt = (lambda v: "%.9ef" % v) if dtype == np.float32 else repr
    print(", ".join(fmt(float(v)) for v in p))
    print(f"{dtype} c = {float(c)} n = {n}: largest relative error of h "
          f"{worst:.3g} = {worst / np.finfo(dtype).eps:.2f} ulp")


def main_phi(dtype, n):
    dtype, n = np.dtype(dtype), int(n)
    L = mp.log(2) / 2 * mp.mpf("1.0001")  # a little beyond the reduction's ln2 / 2
    k = 1 / mp.sqrt(2 * mp.pi)
    c = monomial(chebyshev_interpolant(lambda Z: k * mp.exp(L * Z), n - 1))  # in r / L
    p = [dtype.type(float(ci / L ** i)) for i, ci in enumerate(c)]
    worst = 0.0
    for r in np.linspace(-float(L), float(L), 20001).astype(dtype):
        v = mp.mpf(float(p[-1]))
        for a in reversed(p[:-1]):  # an fma: exact product and sum, one rounding
            v = mp.mpf(float(dtype.type(float(v * mp.mpf(float(r)) + mp.mpf(float(a))))))
        exact = k * mp.exp(mp.mpf(float(r)))
        worst = max(worst, abs(float((v - exact) / exact)))
    fmt = (lambda v: "%.9ef" % v) if dtype == np.float32 else repr
    print(", ".join(fmt(float(v)) for v in p))
    print(f"{dtype} phi n = {n}: largest relative error {worst:.3g} = "
          f"{worst / np.finfo(dtype).eps:.2f} ulp")


if __name__ == "__main__":
    if sys.argv[1:2] == ["phi"]:
        main_phi(*sys.argv[2:])
    else:
        main(*(sys.argv[1:] or ["float64", "4.25", "25"]))
