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
