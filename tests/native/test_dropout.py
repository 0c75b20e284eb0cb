"""Dropout: native masks bit for bit equal to the NumPy twin's, at any thread count."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R


@pytest.mark.parametrize("shape", [(1,), (7, 9), (300, 257)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_matches_reference_bitwise(shape, p, dtype, threads, rng):
    x = rng.standard_normal(shape).astype(dtype)
    before = x.copy()
    y, mask = F.dropout(x, p, 2 ** 63 + 17)
    y_ref, mask_ref = R.dropout(x, p, 2 ** 63 + 17)
    assert y.dtype == dtype and mask.dtype == dtype
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(x, before)
    g = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(F.dropout_backward(mask, g), R.dropout_backward(mask, g))


def test_statistics_and_scaling(rng):
    x = np.ones(200_000)
    y, mask = F.dropout(x, 0.3, 5)
    kept = mask != 0
    assert abs(kept.mean() - 0.7) < 0.005          # 5 sigma is about 0.0051
    np.testing.assert_array_equal(y[kept], np.full(kept.sum(), 1 / 0.7))
    assert abs(y.mean() - 1.0) < 0.01               # inverted: the mean is kept
    assert not np.array_equal(F.dropout(x, 0.3, 6)[1], mask)   # another seed, another mask


def test_same_bits_for_any_thread_count(rng):
    x = rng.standard_normal((1000, 100)).astype(np.float32)
    got = []
    for n in (1, 2):
        with nncore.threads(n):
            got.append(F.dropout(x, 0.4, 99)[1])
    np.testing.assert_array_equal(got[0], got[1])


def test_in_place_and_out(rng):
    x = rng.standard_normal((5, 6))
    y_ref, m_ref = R.dropout(x, 0.5, 3)
    mask = np.empty_like(x)
    y, m = F.dropout(x, 0.5, 3, out=x, mask=mask)
    assert y is x and m is mask
    np.testing.assert_array_equal(x, y_ref)
    np.testing.assert_array_equal(mask, m_ref)


def test_errors():
    x = np.zeros((2, 3))
    for mod in (F, R):
        with pytest.raises(ValueError, match="dropout: p must be in \\[0, 1\\]"):
            mod.dropout(x, 1.5, 0)
        with pytest.raises(ValueError, match="seed must be in"):
            mod.dropout(x, 0.5, -1)
        with pytest.raises(TypeError, match="seed must be an int"):
            mod.dropout(x, 0.5, 1.5)
        with pytest.raises(ValueError, match="grad_y must have the shape of mask"):
            mod.dropout_backward(x, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="dropout: x"):
        F.dropout(np.zeros(3, complex), 0.5, 0)
