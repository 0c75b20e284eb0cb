import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, numeric_grad


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [((1,), -1), ((5,), 0), ((3, 17), -1), ((17, 3), 0),
                                         ((4, 33, 5), 1), ((2, 3, 129), -1), ((65, 257), 1),
                                         ((3, 4, 5), -3)])
def test_softmax_matches_reference(name, shape, axis, dtype, threads, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    got = getattr(F, name)(x, axis)
    assert got.dtype == dtype
    assert_close(got, getattr(R, name)(x, axis), dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    y = getattr(R, name)(x, axis)
    assert_close(getattr(F, name + "_backward")(y, gy, axis),
                 getattr(R, name + "_backward")(y, gy, axis), dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_inplace_layouts_empty(name, dtype, rng):
    x = rng.standard_normal((6, 7)).astype(dtype)
    want = getattr(R, name)(x)
    buf = x.copy()
    assert getattr(F, name)(buf, out=buf) is buf
    assert_close(buf, want, dtype)
    assert_close(getattr(F, name)(np.asfortranarray(x)), want, dtype)
    assert_close(getattr(F, name)(x[:, ::-1])[:, ::-1], want, dtype)
    assert_close(getattr(F, name)(x.T, axis=0), want.T, dtype)
    assert getattr(F, name)(np.zeros((0, 3), dtype)).shape == (0, 3)
    assert getattr(F, name)(np.zeros((3, 0), dtype)).shape == (3, 0)


def test_softmax_extreme_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, 1e4 - 2]], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        want_s, want_l = R.softmax(x), R.log_softmax(x)
    s, ls = F.softmax(x), F.log_softmax(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    assert_close(s, want_s, dtype)
    assert_close(ls, want_l, dtype)
    np.testing.assert_allclose(s.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_backward_numeric(name, rng):
    x = rng.standard_normal((3, 5))
    r = rng.standard_normal((3, 5))
    f = getattr(F, name)
    got = getattr(F, name + "_backward")(f(x), r)
    want = numeric_grad(lambda v: float(np.sum(f(v) * r)), x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_softmax_nan_propagates():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]])
    with np.errstate(invalid="ignore"):
        want = R.softmax(x)
    got = F.softmax(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert_close(got[1], want[1], np.float64)
