"""Property-based tests: for any input hypothesis draws, every public function of
nncore.functional either matches nncore.reference or raises the same kind of error.

Inputs: shapes including 0 and 1, float32/float64/float16/int/bool/complex dtypes, and
C, Fortran, transposed, sliced, negative-stride and broadcast (zero-stride) layouts,
Python scalars and nested lists. The example budget is fixed (EXAMPLES per function) and
derandomised, so CI time is bounded and a failure reproduces.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncore.functional as F
import nncore.reference as R

EXAMPLES = 40
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                   suppress_health_check=list(HealthCheck))

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_,
          np.complex64]
LAYOUTS = ["C", "F", "T", "slice", "reverse", "broadcast", "list"]


def apply_layout(a, layout):
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "T" and a.ndim >= 2:
        return np.ascontiguousarray(a.T).T
    if layout == "slice" and a.ndim >= 1:
        big = np.repeat(a, 2, axis=-1) if a.shape[-1] else a
        return big[..., ::2] if a.shape[-1] else a
    if layout == "reverse" and a.ndim >= 1:
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if layout == "broadcast" and a.ndim >= 1 and a.shape[0] >= 1:
        return np.broadcast_to(a[:1], a.shape)
    if layout == "list":
        return a.tolist()
    return a


@st.composite
def arrays(draw, shape, dtypes=DTYPES, scale=3.0):
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) * scale
    if np.dtype(dtype).kind in "iu":
        a = np.round(a)
        if np.dtype(dtype).kind == "u":
            a = np.abs(a)
    a = a.astype(dtype)
    return apply_layout(a, draw(st.sampled_from(LAYOUTS)))


dims = st.integers(0, 9)
pos_dims = st.integers(1, 9)


def tolerance(result):
    dtype = np.asarray(result).dtype
    return 2e-5 if dtype == np.float32 else 1e-11


def same_outcome(fn, *args, **kwargs):
    """Run F.fn and R.fn; both raise the same class, or both return close values."""
    try:
        want = getattr(R, fn)(*args, **kwargs)
    except (TypeError, ValueError, MemoryError) as e:
        with pytest.raises(type(e)):
            getattr(F, fn)(*args, **kwargs)
        return
    got = getattr(F, fn)(*args, **kwargs)
    check_close(got, want)


def check_close(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            check_close(g, w)
        return
    if want is None:
        assert got is None
        return
    if isinstance(want, float):
        assert isinstance(got, float)
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    if want.size == 0:
        return
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    scale = max(float(np.max(np.abs(want[finite]))) if finite.any() else 0.0, 1e-30)
    err = float(np.max(np.abs(got[finite].astype(np.float64) - want[finite]))) if finite.any() \
        else 0.0
    assert err <= tolerance(want) * max(scale, 1.0), (err, scale)


@PROFILE
@given(st.data(), pos_dims, pos_dims, pos_dims, st.booleans(), st.booleans())
def test_matmul(data, m, k, n, ta, tb):
    a = data.draw(arrays((k, m) if ta else (m, k)))
    b = data.draw(arrays((n, k) if tb else (k, n)))
    same_outcome("matmul", a, b, trans_a=ta, trans_b=tb)


ACTS = ["identity", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", None, 3]


@PROFILE
@given(st.data(), dims, pos_dims, pos_dims, st.sampled_from(ACTS), st.booleans(),
       st.booleans())
def test_dense_forward_backward(data, batch, n_in, n_out, act, bias, one):
    x = data.draw(arrays((n_in,) if one else (batch, n_in)))
    w = data.draw(arrays((n_in, n_out)))
    b = data.draw(arrays((n_out,))) if bias else None
    same_outcome("dense_forward", x, w, b, act)
    y_shape = (n_out,) if one else (batch, n_out)
    y = data.draw(arrays(y_shape, [np.float32, np.float64]))
    gy = data.draw(arrays(y_shape))
    same_outcome("dense_backward", x, w, y, gy, act, need_grad_x=data.draw(st.booleans()))


SHAPES = st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple)


@PROFILE
@given(st.data(), SHAPES, st.sampled_from(["identity", "relu", "sigmoid", "tanh",
                                           "leaky_relu"]))
def test_activations(data, shape, name):
    x = data.draw(arrays(shape, scale=30.0))
    same_outcome(name, x)
    if data.draw(st.booleans()) and isinstance(x, np.ndarray) and x.dtype in (np.float32,
                                                                              np.float64):
        buf = np.array(x, order="C")       # in place: out is the input itself
        want = getattr(R, name)(buf.copy())
        check_close(getattr(F, name)(buf, out=buf), want)
    y = data.draw(arrays(shape))
    gy = data.draw(arrays(shape))
    same_outcome(name + "_backward", y, gy)


@PROFILE
@given(st.data(), SHAPES, st.integers(-4, 3), st.sampled_from(["softmax", "log_softmax"]))
def test_softmax(data, shape, axis, name):
    x = data.draw(arrays(shape, scale=20.0))
    same_outcome(name, x, axis)
    y = data.draw(arrays(shape))
    same_outcome(name + "_backward", y, data.draw(arrays(shape)), axis)


@PROFILE
@given(st.data(), dims, pos_dims, st.sampled_from(["mean", "sum", "none", "avg"]),
       st.sampled_from(["mse_loss", "binary_cross_entropy_with_logits"]),
       st.sampled_from(["", "_backward", "_and_grad"]), st.booleans())
def test_elementwise_losses(data, batch, width, reduction, name, suffix, weighted):
    shape = data.draw(st.sampled_from([(batch, width), (batch,), ()]))
    p = data.draw(arrays(shape))
    t = data.draw(arrays(shape))
    sw = data.draw(arrays((shape[0] if shape else 1,), [np.float32, np.float64])) \
        if weighted else None
    if sw is not None and not isinstance(sw, list):
        sw = np.abs(np.asarray(sw)) + 0.5
    same_outcome(name + suffix, p, t, reduction, sample_weight=sw)


@PROFILE
@given(st.data(), dims, st.integers(0, 7), st.sampled_from(["mean", "sum", "none"]),
       st.sampled_from(["", "_backward", "_and_grad"]), st.sampled_from(["int", "float",
                                                                          "probs", "bad"]))
def test_cross_entropy(data, batch, classes, reduction, suffix, kind):
    z = data.draw(arrays((batch, classes), scale=10.0))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    if kind == "int":
        t = rng.integers(0, max(classes, 1), batch)
    elif kind == "float":
        t = rng.integers(0, max(classes, 1), batch).astype(np.float64)
    elif kind == "probs":
        t = rng.random((batch, classes))
    else:
        t = rng.integers(-3, classes + 3, batch)
    same_outcome("cross_entropy" + suffix, z, t, reduction)


@PROFILE
@given(st.data(), SHAPES, st.booleans(), st.booleans())
def test_optimiser_steps(data, shape, momentum, adam):
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    p = rng.standard_normal(shape).astype(dtype)
    g = data.draw(arrays(shape))
    p1, p2 = p.copy(), p.copy()
    if adam:
        m1, v1, m2, v2 = (np.zeros_like(p) for _ in range(4))
        step = data.draw(st.integers(0, 3))
        outcome = []
        for params in ((F, p1, m1, v1), (R, p2, m2, v2)):
            mod, pp, mm, vv = params
            try:
                mod.adam_step(pp, g, mm, vv, step=step, lr=0.01)
                outcome.append(None)
            except (TypeError, ValueError) as e:
                outcome.append(type(e))
        assert outcome[0] == outcome[1]
    else:
        v1, v2 = np.zeros_like(p), np.zeros_like(p)
        kw = {"lr": 0.1, "momentum": 0.9 if momentum else 0.0}
        outcome = []
        for mod, pp, vv in ((F, p1, v1), (R, p2, v2)):
            try:
                mod.sgd_step(pp, g, vv, **kw)
                outcome.append(None)
            except (TypeError, ValueError) as e:
                outcome.append(type(e))
        assert outcome[0] == outcome[1]
    check_close(p1, p2)
