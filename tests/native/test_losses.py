import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, numeric_grad

LOSSES = ["mse_loss", "binary_cross_entropy_with_logits", "cross_entropy"]
REDUCTIONS = ["mean", "sum", "none"]


def inputs(name, rng, batch, width, dtype, probs=False):
    x = (rng.standard_normal((batch, width)) * 3).astype(dtype)
    if name == "cross_entropy" and not probs:
        t = rng.integers(0, width, batch)
    elif name == "cross_entropy":
        t = rng.random((batch, width)).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    elif name == "binary_cross_entropy_with_logits":
        t = rng.random((batch, width)).astype(dtype)
    else:
        t = rng.standard_normal((batch, width)).astype(dtype)
    return x, t


def loss_value(v):
    return np.asarray(v, dtype=np.float64)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch, width", [(1, 1), (1, 3), (3, 17), (17, 33), (129, 10),
                                          (1000, 65)])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_matches_reference(name, reduction, batch, width, weighted, dtype, threads, rng):
    if name == "cross_entropy" and width == 1:
        width = 2
    x, t = inputs(name, rng, batch, width, dtype)
    sw = rng.random(batch).astype(dtype) if weighted else None
    x_before = x.copy()
    got = getattr(F, name)(x, t, reduction, sample_weight=sw)
    # float64 oracle on the same values (float32 rounding in the reference's own
    # softmax - onehot can exceed the float32 tolerance for confident rows)
    want = getattr(R, name)(x.astype(np.float64), t, reduction, sample_weight=sw)
    if reduction == "none":
        assert got.dtype == dtype and got.shape == want.shape
        assert getattr(R, name)(x, t, reduction, sample_weight=sw).dtype == dtype
    else:
        assert isinstance(got, float)
    assert_close(loss_value(got), loss_value(want), dtype)
    g = getattr(F, name + "_backward")(x, t, reduction, sample_weight=sw)
    assert_close(g, getattr(R, name + "_backward")(x.astype(np.float64), t, reduction,
                                                   sample_weight=sw), dtype)
    both = getattr(F, name + "_and_grad")(x, t, reduction, sample_weight=sw)
    assert_close(loss_value(both[0]), loss_value(want), dtype)
    np.testing.assert_array_equal(both[1], g)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(reduction, dtype, rng):
    x, p = inputs("cross_entropy", rng, 9, 5, dtype, probs=True)
    assert_close(loss_value(F.cross_entropy(x, p, reduction)),
                 loss_value(R.cross_entropy(x, p, reduction)), dtype)
    assert_close(F.cross_entropy_backward(x, p, reduction),
                 R.cross_entropy_backward(x, p, reduction), dtype)


def test_cross_entropy_one_sample_and_float_labels(rng):
    x = rng.standard_normal(4)
    assert_close(F.cross_entropy(x, 2), R.cross_entropy(x, 2), np.float64)
    assert F.cross_entropy_backward(x, 2).shape == (4,)
    z = rng.standard_normal((3, 4))
    assert F.cross_entropy(z, np.array([0.0, 3.0, 1.0])) == F.cross_entropy(z, [0, 3, 1])
    assert F.cross_entropy(z, np.array([0, 3, 1], np.uint8)) == F.cross_entropy(z, [0, 3, 1])


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_gradient_numeric(name, reduction, weighted, rng):
    x, t = inputs(name, rng, 4, 3, np.float64)
    sw = rng.random(4) + 0.5 if weighted else None

    def f(v):
        return float(np.sum(getattr(F, name)(v, t, reduction, sample_weight=sw)))

    g = getattr(F, name + "_backward")(x, t, reduction, sample_weight=sw)
    np.testing.assert_allclose(g, numeric_grad(f, x), rtol=1e-6, atol=1e-7)


def test_cross_entropy_probability_gradient_numeric(rng):
    x, p = inputs("cross_entropy", rng, 4, 3, np.float64, probs=True)
    g = F.cross_entropy_backward(x, p)
    np.testing.assert_allclose(g, numeric_grad(lambda v: F.cross_entropy(v, p), x),
                               rtol=1e-6, atol=1e-9)


def test_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype)
    t = np.array([1, 1])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        want = R.cross_entropy(z, t, "none")
        want_g = R.cross_entropy_backward(z, t)
    got = F.cross_entropy(z, t, "none")
    assert np.all(np.isfinite(got))
    assert_close(got, want, dtype)
    assert_close(F.cross_entropy_backward(z, t), want_g, dtype)
    zb = np.array([200.0, -200.0, 200.0, -200.0, 0.0], dtype)
    tb = np.array([0.0, 1.0, 1.0, 0.0, 0.5], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        want_b = R.binary_cross_entropy_with_logits(zb, tb, "none")
    got_b = F.binary_cross_entropy_with_logits(zb, tb, "none")
    assert np.all(np.isfinite(got_b))
    assert_close(got_b, want_b, dtype)
    np.testing.assert_allclose(got_b[:2], [200.0, 200.0], rtol=1e-6)


def test_empty_batches(dtype):
    z = np.zeros((0, 3), dtype)
    assert F.cross_entropy(z, np.zeros(0, np.int64), "sum") == 0.0
    assert F.cross_entropy(z, np.zeros(0, np.int64), "none").shape == (0,)
    assert F.mse_loss(z, z, "sum") == 0.0
    assert F.binary_cross_entropy_with_logits_backward(z, z, "sum").shape == (0, 3)
    for name in LOSSES:
        t = np.zeros(0, np.int64) if name == "cross_entropy" else z
        with pytest.raises(ValueError, match="mean"):
            getattr(F, name)(z, t)
        with pytest.raises(ValueError, match="mean"):
            getattr(R, name)(z, t)


def test_zero_total_weight_mean_raises():
    with pytest.raises(ValueError, match="sample_weight"):
        F.mse_loss([[1.0], [2.0]], [[0.0], [0.0]], sample_weight=[0.0, 0.0])
    with pytest.raises(ValueError, match="sample_weight"):
        R.mse_loss([[1.0], [2.0]], [[0.0], [0.0]], sample_weight=[0.0, 0.0])


def test_known_values():
    """Hand-computed values, independent of both implementations."""
    assert F.mse_loss([1.0, 2.0], [0.0, 0.0]) == pytest.approx(2.5)
    assert F.mse_loss([[1.0], [3.0]], [[0.0], [0.0]], sample_weight=[3.0, 1.0]) == \
        pytest.approx((3 * 1 + 1 * 9) / 4)
    assert F.cross_entropy([[0.0, 0.0]], [1]) == pytest.approx(np.log(2))
    assert F.binary_cross_entropy_with_logits([0.0], [1.0]) == pytest.approx(np.log(2))
    np.testing.assert_allclose(F.cross_entropy_backward([[0.0, 0.0]], [1]), [[0.5, -0.5]])


def test_nan_propagates_in_losses():
    z = np.array([[np.nan, 1.0], [0.0, 1.0]])
    got = F.cross_entropy(z, [0, 1], "none")
    assert np.isnan(got[0]) and np.isfinite(got[1])
    assert np.isnan(F.mse_loss([np.nan, 1.0], [0.0, 0.0]))
    assert np.isinf(F.mse_loss([np.inf, 1.0], [0.0, 0.0]))


@pytest.mark.parametrize("classes", [1, 2, 7, 10, 16, 31, 32, 33])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_labels_whole_row_blocks(classes, weighted, dtype, threads, rng):
    # 1,045 rows: whole blocks of 8 and 16 rows (one row per SIMD lane, up to 32 classes)
    # and tails, in the 512-row blocks the threads share; some rows very confident.
    rows = 1045
    x = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    x[::17, 0] += 60
    t = rng.integers(0, classes, rows)
    t[::34] = 0  # confident rows whose label is the max
    sw = rng.random(rows).astype(dtype) if weighted else None
    for reduction in ["mean", "none"]:
        loss, g = F.cross_entropy_and_grad(x, t, reduction, sample_weight=sw)
        want, want_g = R.cross_entropy_and_grad(x.astype(np.float64), t, reduction,
                                                sample_weight=sw)
        assert_close(loss_value(loss), loss_value(want), dtype)
        assert_close(g, want_g, dtype)
    # A confident row (x[0, 0] leads by ~60) with label 0: its loss, log1p(sum of
    # exp(x_j - x_0)) ~ 1e-26, is accurate in relative terms (the reference's
    # log-sum-exp minus x_0 cancels to 0 here, so the oracle is written out).
    row = F.cross_entropy(x[:1], [0], "none")
    x64 = x[0].astype(np.float64)
    want_row = np.log1p(np.exp(x64[1:] - x64[0]).sum())
    np.testing.assert_allclose(row, [want_row], rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-44 if dtype == np.float32 else 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cross_entropy_non_finite_row_leaves_its_block_exact(bad, dtype, rng):
    x = (rng.standard_normal((40, 10)) * 3).astype(dtype)
    t = rng.integers(0, 10, 40)
    x[13, 4] = bad
    loss, g = F.cross_entropy_and_grad(x, t, "none")
    with np.errstate(invalid="ignore"):  # inf - inf in the reference's shift
        want, want_g = R.cross_entropy_and_grad(x.astype(np.float64), t, "none")
    ok = np.arange(40) != 13
    assert_close(loss[ok], want[ok], dtype)
    assert_close(g[ok], want_g[ok], dtype)
    if bad == -np.inf:  # exp(-inf) = 0: the row stays finite, as in the reference
        assert np.isfinite(loss[13]) and np.isfinite(want[13])
    else:
        assert not np.isfinite(loss[13]) or np.isnan(loss[13])
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(want.astype(dtype)))
