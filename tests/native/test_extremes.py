import warnings

import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close


def test_sigmoid_large_magnitudes_without_warnings(dtype):
    x = np.array([-1e3, -100.0, -30.0, 0.0, 30.0, 100.0, 1e3], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            got = F.sigmoid(x)
            want = R.sigmoid(x)
    assert np.all(np.isfinite(got))
    assert_close(got, want, dtype)
    assert got[0] == 0.0 or got[0] < 1e-30
    assert got[-1] == 1.0


@pytest.mark.parametrize("name", ["identity", "relu", "sigmoid", "tanh", "leaky_relu",
                                  "softmax", "log_softmax"])
def test_nan_inf_propagate_like_numpy(name, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0] * 5, dtype)
    with np.errstate(all="ignore"):
        want = getattr(R, name)(x)
    got = getattr(F, name)(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6)


def test_tanh_tiny_and_huge(dtype):
    x = np.array([1e-30, -1e-20, 1e-8, -1e-4, 0.3, 5.0, 20.0, -50.0, 1e4], dtype)
    got = F.tanh(x)
    np.testing.assert_allclose(got, np.tanh(x), rtol=2e-6 if dtype == np.float32 else 1e-14)
