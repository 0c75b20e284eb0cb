"""Shared fixtures: a seeded generator, the two dtypes, thread counts, and tolerances;
scripts run under one kernel set."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request):
    with nncore.threads(request.param):
        yield request.param


def scale_error(got, want):
    """Largest absolute difference relative to the scale of the expected output."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.size == 0:
        return 0.0
    finite = np.isfinite(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN positions differ"
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)]), \
        "infinities differ"
    if not finite.any():
        return 0.0
    scale = max(np.max(np.abs(want[finite])), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(got[finite] - want[finite])) / scale)


TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_close(got, want, dtype):
    err = scale_error(got, want)
    assert err <= TOL[np.dtype(dtype)], f"error {err:.3g} relative to the output's scale"


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def layouts(a):
    """The same values in several memory layouts: C, Fortran, a strided slice, reversed."""
    c = np.ascontiguousarray(a)
    yield "C", c
    yield "F", np.asfortranarray(a)
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    big[tuple(slice(None, None, 2) for _ in a.shape)] = a
    yield "sliced", big[tuple(slice(None, None, 2) for _ in a.shape)]
    rev = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
    yield "negative", rev[tuple(slice(None, None, -1) for _ in a.shape)]


def arrays_under_isa(script, isa, tmp_path):
    """Run ``script`` (which saves its arrays with ``np.savez(sys.argv[1], ...)``) in a
    fresh interpreter under the kernel set ``isa`` (NNCORE_ISA); returns its arrays."""
    path = tmp_path / f"{isa}.npz"
    env = dict(os.environ, NNCORE_ISA=isa)
    proc = subprocess.run([sys.executable, "-c", script, str(path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
