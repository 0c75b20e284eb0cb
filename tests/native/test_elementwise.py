import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, layouts, numeric_grad

SIZES = [1, 3, 17, 33, 65, 129, 257, 16385, 40000]
FORWARD = ["identity", "relu", "sigmoid", "tanh", "leaky_relu"]


def call(module, name, *args, **kw):
    return getattr(module, name)(*args, **kw)


@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("n", SIZES)
def test_activation_matches_reference(name, n, dtype, threads, rng):
    x = (rng.standard_normal(n) * 4).astype(dtype)
    x_before = x.copy()
    got = call(F, name, x)
    assert got.dtype == dtype and got.shape == x.shape
    assert_close(got, call(R, name, x), dtype)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("name", FORWARD)
def test_activation_layouts_out_and_inplace(name, dtype, rng):
    x0 = (rng.standard_normal((17, 33)) * 3).astype(dtype)
    want = call(R, name, x0)
    for _, x in layouts(x0):
        assert_close(call(F, name, x), want, dtype)
    out = np.empty_like(x0)
    assert call(F, name, x0, out=out) is out
    assert_close(out, want, dtype)
    inplace = x0.copy()
    assert call(F, name, inplace, out=inplace) is inplace
    assert_close(inplace, want, dtype)
    assert call(F, name, np.zeros((0, 4), dtype)).shape == (0, 4)
    scalar = call(F, name, dtype.type(0.5))
    assert scalar.shape == () and scalar.dtype == dtype


@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("n", [1, 17, 129, 40000])
def test_activation_backward_matches_reference(name, n, dtype, threads, rng):
    y = call(R, name, (rng.standard_normal(n) * 3).astype(dtype))
    gy = rng.standard_normal(n).astype(dtype)
    got = call(F, name + "_backward", y, gy)
    # float64 oracle on the same values: 1 - y*y near |y| = 1 cancels, and the native
    # kernel (fused multiply-add) is more accurate there than float32 NumPy
    want = call(R, name + "_backward", y.astype(np.float64), gy.astype(np.float64))
    assert_close(got, want, dtype)
    inplace = gy.copy()
    call(F, name + "_backward", y, inplace, out=inplace)
    assert_close(inplace, got, dtype)


@pytest.mark.parametrize("name", FORWARD)
def test_activation_backward_numeric(name, rng):
    x = rng.standard_normal(12) * 2
    x[np.abs(x) < 1e-3] = 0.5  # away from the relu kink
    r = rng.standard_normal(12)
    y = call(F, name, x)
    got = call(F, name + "_backward", y, r)
    want = numeric_grad(lambda v: float(np.sum(call(F, name, v) * r)), x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_leaky_relu_slope(rng):
    x = rng.standard_normal(50)
    for slope in (0.0, 0.01, 0.3, 2.0):
        assert_close(F.leaky_relu(x, slope), R.leaky_relu(x, slope), np.float64)
        assert_close(F.leaky_relu_backward(F.leaky_relu(x, slope), x, slope),
                     R.leaky_relu_backward(R.leaky_relu(x, slope), x, slope), np.float64)


def test_integer_input_becomes_float64():
    got = F.relu([-2, 0, 3])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [0.0, 0.0, 3.0])
    assert F.sigmoid(np.array([1, 2], np.int8)).dtype == np.float64
    assert F.tanh(np.array([1, 2], np.float16)).dtype == np.float32
    assert F.relu_backward(np.ones(2, np.float32), np.ones(2)).dtype == np.float64


def _beyond_l3(dtype):
    """Element count whose output is at least the last-level cache (where the kernels
    switch to non-temporal stores), capped at 128 MiB of output."""
    import nncore
    l3 = nncore.config()["caches"].get("L3") or 32 << 20
    return min(l3, 128 << 20) // np.dtype(dtype).itemsize + 37


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_beyond_the_cache_streams_the_same_values(name, dtype, rng):
    n = _beyond_l3(dtype)
    x = (rng.standard_normal(n) * 4).astype(dtype)
    for offset in (0, 1, 3):  # outputs aligned and not aligned to a vector
        out = np.full(n + offset, 7.0, dtype)[offset:]
        got = call(F, name, x, out=out)
        assert got is out
        # the same values as the cached path on a small slice, and as the reference
        np.testing.assert_array_equal(got[-5000:], call(F, name, x[-5000:]))
        np.testing.assert_array_equal(got[:5000], call(F, name, x[:5000]))
        assert_close(got[:: 997], call(R, name, x[:: 997]), dtype)
    # in place
    y = x.copy()
    call(F, name, y, out=y)
    np.testing.assert_array_equal(y, call(F, name, x))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_backward_beyond_the_cache(name, dtype, rng):
    n = _beyond_l3(dtype)
    y = call(R, name, rng.standard_normal(n).astype(dtype))
    gy = rng.standard_normal(n).astype(dtype)
    out = np.empty(n + 1, dtype)[1:]
    got = call(F, name + "_backward", y, gy, out=out)
    np.testing.assert_array_equal(got[:5000], call(F, name + "_backward", y[:5000], gy[:5000]))
    assert_close(got[::991], call(R, name + "_backward", y[::991], gy[::991]), dtype)
