import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, layouts, numeric_grad

ACTS = ["identity", "relu", "sigmoid", "tanh", "leaky_relu"]


def make(rng, batch, n_in, n_out, dtype):
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(max(n_in, 1))).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("batch, n_in, n_out", [(1, 1, 1), (1, 17, 3), (3, 33, 65),
                                                (17, 129, 33), (65, 257, 17), (129, 64, 257)])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
def test_dense_forward_matches_reference(batch, n_in, n_out, act, bias, dtype, threads, rng):
    x, w, b = make(rng, batch, n_in, n_out, dtype)
    b = b if bias else None
    got = F.dense_forward(x, w, b, act)
    assert got.dtype == dtype
    assert_close(got, R.dense_forward(x.astype(np.float64), w.astype(np.float64),
                                      None if b is None else b.astype(np.float64), act), dtype)


@pytest.mark.parametrize("batch, n_in, n_out", [(1, 1, 1), (3, 33, 65), (17, 129, 33),
                                                (65, 257, 17)])
@pytest.mark.parametrize("act", ACTS)
def test_dense_backward_matches_reference(batch, n_in, n_out, act, dtype, threads, rng):
    x, w, b = make(rng, batch, n_in, n_out, dtype)
    y = R.dense_forward(x, w, b, act)
    gy = rng.standard_normal(y.shape).astype(dtype)
    before = [a.copy() for a in (x, w, y, gy)]
    gx, gw, gb = F.dense_backward(x, w, y, gy, act)
    rx, rw, rb = R.dense_backward(*(a.astype(np.float64) for a in (x, w, y, gy)), act)
    for got, want in [(gx, rx), (gw, rw), (gb, rb)]:
        assert got.dtype == dtype
        assert_close(got, want, dtype)
    for a, a0 in zip((x, w, y, gy), before):
        np.testing.assert_array_equal(a, a0)
    gx2, gw2, gb2 = F.dense_backward(x, w, y, gy, act, need_grad_x=False)
    assert gx2 is None
    np.testing.assert_array_equal(gw2, gw)
    np.testing.assert_array_equal(gb2, gb)


def test_dense_layouts_and_one_sample(dtype, rng):
    x, w, b = make(rng, 9, 13, 7, dtype)
    want = R.dense_forward(x.astype(np.float64), w.astype(np.float64), b, "tanh")
    for _, xl in layouts(x):
        for _, wl in layouts(w):
            assert_close(F.dense_forward(xl, wl, b, "tanh"), want, dtype)
    one = F.dense_forward(x[3], w, b, "tanh")
    assert one.shape == (7,)
    assert_close(one, want[3], dtype)
    y = R.dense_forward(x[3], w, b, "tanh")
    gx, gw, gb = F.dense_backward(x[3], w, y, np.ones(7, dtype), "tanh")
    rx, rw, rb = R.dense_backward(x[3], w, y, np.ones(7, dtype), "tanh")
    assert gx.shape == (13,)
    for g, r in [(gx, rx), (gw, rw), (gb, rb)]:
        assert_close(g, r, dtype)


def test_dense_out_buffers(dtype, rng):
    x, w, b = make(rng, 8, 5, 4, dtype)
    out = np.empty((8, 4), dtype)
    assert F.dense_forward(x, w, b, "relu", out=out) is out
    assert_close(out, R.dense_forward(x, w, b, "relu"), dtype)
    gy = rng.standard_normal((8, 4)).astype(dtype)
    bufs = (np.empty((8, 5), dtype), np.empty((5, 4), dtype), np.empty(4, dtype))
    res = F.dense_backward(x, w, out, gy, "relu", out=bufs)
    assert all(r is o for r, o in zip(res, bufs))
    for g, r in zip(res, R.dense_backward(x, w, out, gy, "relu")):
        assert_close(g, r, dtype)


def test_dense_leaky_slope(rng):
    x, w, b = make(rng, 6, 4, 3, np.float64)
    for slope in (0.0, 0.2, 1.5):
        y = F.dense_forward(x, w, b, "leaky_relu", slope=slope)
        assert_close(y, R.dense_forward(x, w, b, "leaky_relu", slope=slope), np.float64)
        gy = rng.standard_normal(y.shape)
        for g, r in zip(F.dense_backward(x, w, y, gy, "leaky_relu", slope=slope),
                        R.dense_backward(x, w, y, gy, "leaky_relu", slope=slope)):
            assert_close(g, r, np.float64)


def test_dense_zero_batch(dtype):
    x = np.zeros((0, 5), dtype)
    w = np.ones((5, 3), dtype)
    y = F.dense_forward(x, w, np.ones(3, dtype), "sigmoid")
    assert y.shape == (0, 3)
    gx, gw, gb = F.dense_backward(x, w, y, np.zeros((0, 3), dtype), "sigmoid")
    assert gx.shape == (0, 5)
    np.testing.assert_array_equal(gw, np.zeros((5, 3)))
    np.testing.assert_array_equal(gb, np.zeros(3))
    # zero inputs: the output is act(b)
    y = F.dense_forward(np.zeros((2, 0), dtype), np.zeros((0, 3), dtype), [0.0, 1.0, -1.0],
                        "relu")
    np.testing.assert_array_equal(y, [[0, 1, 0], [0, 1, 0]])


@pytest.mark.parametrize("act", ACTS)
def test_dense_end_to_end_gradient(act, rng):
    """Forward then backward agree with central differences of sum(forward * R)."""
    x, w, b = make(rng, 4, 5, 3, np.float64)
    x += 0.1  # keep relu kinks away from zero
    weights_r = rng.standard_normal((4, 3))

    def loss(x_, w_, b_):
        return float(np.sum(F.dense_forward(x_, w_, b_, act) * weights_r))

    y = F.dense_forward(x, w, b, act)
    gx, gw, gb = F.dense_backward(x, w, y, weights_r, act)
    np.testing.assert_allclose(gx, numeric_grad(lambda v: loss(v, w, b), x), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(gw, numeric_grad(lambda v: loss(x, v, b), w), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(gb, numeric_grad(lambda v: loss(x, w, v), b), rtol=1e-6,
                               atol=1e-8)
