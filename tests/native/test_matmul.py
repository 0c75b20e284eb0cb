import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _core
import nncore.reference as R
from conftest import assert_close, layouts

SHAPES = [(1, 1, 1), (1, 17, 3), (3, 1, 5), (17, 33, 65), (65, 129, 1), (33, 257, 129),
          (129, 65, 257), (200, 300, 100)]


def oracle(a, b, ta, tb):
    """float64 reference on the same values (a sharper oracle for float32)."""
    return R.matmul(a.astype(np.float64), b.astype(np.float64), trans_a=ta, trans_b=tb)


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_matches_reference(m, k, n, ta, tb, dtype, threads, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    a_before, b_before = a.copy(), b.copy()
    got = F.matmul(a, b, trans_a=ta, trans_b=tb)
    assert got.dtype == dtype and got.shape == (m, n)
    assert_close(got, oracle(a, b, ta, tb), dtype)
    assert_close(got, R.matmul(a, b, trans_a=ta, trans_b=tb), dtype)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)


@pytest.mark.parametrize("m, k, n", [(5, 7, 3), (37, 129, 61)])
def test_matmul_any_layout(m, k, n, dtype, rng):
    a0 = rng.standard_normal((m, k)).astype(dtype)
    b0 = rng.standard_normal((k, n)).astype(dtype)
    want = oracle(a0, b0, False, False)
    for name_a, a in layouts(a0):
        for name_b, b in layouts(b0):
            assert_close(F.matmul(a, b), want, dtype)
    assert_close(F.matmul(a0.T.copy().T, b0), want, dtype)
    # a broadcast (zero-stride) operand
    a_b = np.broadcast_to(a0[:1], (m, k))
    assert_close(F.matmul(a_b, b0), oracle(np.ascontiguousarray(a_b), b0, False, False), dtype)


def test_matmul_out(dtype, rng):
    a = rng.standard_normal((20, 30)).astype(dtype)
    b = rng.standard_normal((30, 10)).astype(dtype)
    out = np.full((20, 10), np.nan, dtype)
    res = F.matmul(a, b, out=out)
    assert res is out
    assert_close(out, oracle(a, b, False, False), dtype)


def test_matmul_promotion(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((3, 2))
    assert F.matmul(a, b).dtype == np.float64
    assert F.matmul(a, a.T.copy()).dtype == np.float32
    assert F.matmul([[1, 2]], [[3], [4]]).dtype == np.float64
    assert F.matmul(a.astype(np.float16), a.T.astype(np.float16)).dtype == np.float32
    np.testing.assert_array_equal(F.matmul([[1, 2]], [[3], [4]]), [[11.0]])


@pytest.mark.parametrize("m, k, n", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_matmul_empty(m, k, n, dtype):
    a = np.ones((m, k), dtype)
    b = np.ones((k, n), dtype)
    got = F.matmul(a, b)
    np.testing.assert_array_equal(got, R.matmul(a, b))
    assert got.shape == (m, n)


def test_matmul_nan_inf_propagate(dtype):
    a = np.array([[np.nan, 1.0], [np.inf, 0.0], [1.0, 2.0]], dtype)
    b = np.array([[1.0, 0.0], [2.0, 3.0]], dtype)
    with np.errstate(invalid="ignore"):
        want = R.matmul(a, b)
    got = F.matmul(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isfinite(want)], want[np.isfinite(want)])


# The driver's regimes (core/gemm.cpp): the tasks pack B's column panels (a layer's weights
# in a small batch's forward and input-gradient products, also transposed), or A's row
# panels (the activations of a weight-gradient product); a row-major B read in place (its
# whole panels; the last, partial one packed); K so deep that C is made in several row
# chunks that reuse the B panels the first chunk's tasks packed.
DRIVER_CASES = [((64, 784, 256), False, False), ((64, 128, 256), False, True),
                ((784, 64, 256), True, False), ((256, 64, 1024), True, False),
                ((30, 512, 200), False, False), ((30, 512, 200), True, False),
                ((40, 100_000, 70), False, False)]


@pytest.mark.parametrize("shape, ta, tb", DRIVER_CASES)
def test_matmul_driver_regimes_bitwise_for_any_threads_and_schedule(shape, ta, tb, dtype):
    m, k, n = shape
    rng = np.random.default_rng(3)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    want = oracle(a, b, ta, tb)
    with nncore.threads(1):
        one = F.matmul(a, b, trans_a=ta, trans_b=tb)
    tol = 3e-5 if dtype == np.float32 else 1e-12
    assert np.max(np.abs(one - want)) / np.max(np.abs(want)) < tol
    try:
        for mode, nt in [("normal", 2), ("shuffle", 2), ("shuffle", 3), ("caller_only", 2),
                         ("slow_worker", 2)]:
            _core._set_debug_schedule(mode)
            with nncore.threads(nt):
                got = F.matmul(a, b, trans_a=ta, trans_b=tb)
            assert np.array_equal(got, one), (mode, nt)
    finally:
        _core._set_debug_schedule("normal")


@pytest.mark.parametrize("n", [200, 256])
def test_matmul_b_read_in_place_with_a_row_stride_beyond_its_width(n, dtype):
    """A row-major B whose rows lie further apart than its width (columns of a wider
    array): the panels read in place must step by the row stride."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((30, 512)).astype(dtype)
    wide = rng.standard_normal((512, 300)).astype(dtype)
    b = wide[:, 7:7 + n]
    got = F.matmul(a, b)
    assert_close(got, oracle(a, np.ascontiguousarray(b), False, False), dtype)
    assert np.array_equal(got, F.matmul(a, np.ascontiguousarray(b)))
