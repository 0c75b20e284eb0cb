"""gelu (exact and tanh), silu, softplus, the activations whose backward takes the
pre-activation: native against the NumPy twins over sizes (whole vectors, groups of four
and tails) and layouts, numerical gradients, PyTorch (when installed), limits and errors;
fused into dense_forward / dense_backward, against the unfused product and activation.
The kernel sets (NNCORE_ISA) are compared in test_isa.py and test_kernel_sets_agree.py."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, layouts, numeric_grad

CASES = [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("softplus", {})]
IDS = ["gelu", "gelu_tanh", "silu", "softplus"]


def values(rng, dtype, shape=(37, 29)):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.flat[:8] = [0.0, -0.0, 20.0, 20.5, -30.0, 30.0, 1e-8, -1e-8]
    return x


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_matches_reference(name, kw, dtype, threads, rng):
    x = values(rng, dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    before = x.copy()
    y = getattr(F, name)(x, **kw)
    assert y.dtype == dtype
    assert_close(y, getattr(R, name)(x, **kw), dtype)
    gx = getattr(F, name + "_backward")(x, g, **kw)
    assert_close(gx, getattr(R, name + "_backward")(x, g, **kw), dtype)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_gradient_is_numerical(name, kw, rng):
    x = rng.standard_normal((3, 7)) * 3
    g = rng.standard_normal((3, 7))
    f = lambda v: float(np.sum(getattr(F, name)(v, **kw) * g))  # noqa: E731
    np.testing.assert_allclose(getattr(F, name + "_backward")(x, g, **kw), numeric_grad(f, x),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_in_place_and_thread_bits(name, kw, rng):
    x = rng.standard_normal(40_000)
    want = getattr(F, name)(x, **kw)
    with nncore.threads(1):
        one = getattr(F, name)(x, **kw)
    np.testing.assert_array_equal(one, want)
    getattr(F, name)(x, **kw, out=x)
    np.testing.assert_array_equal(x, want)


def test_values_by_hand():
    assert F.gelu(np.array([0.0]))[0] == 0
    np.testing.assert_allclose(F.gelu(np.array([1.0])), [0.8413447460685429], rtol=1e-15)
    np.testing.assert_allclose(F.silu(np.array([1.0])), [1 / (1 + np.exp(-1))], rtol=1e-15)
    np.testing.assert_allclose(F.softplus(np.array([0.0, 25.0])), [np.log(2), 25.0],
                               rtol=1e-15)


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_matches_torch(name, kw, rng):
    torch = pytest.importorskip("torch")
    x = values(rng, np.float64)
    g = rng.standard_normal(x.shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, name)(tx, **kw)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(getattr(F, name)(x, **kw), ty.detach().numpy(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(getattr(F, name + "_backward")(x, g, **kw), tx.grad.numpy(),
                               rtol=1e-10, atol=1e-12)


def test_errors():
    for mod in (F, R):
        with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
            mod.gelu(np.zeros(3), "erf")
        with pytest.raises(ValueError, match="silu_backward: grad_y must have the shape of x"):
            mod.silu_backward(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="softplus: x"):
        F.softplus(np.zeros(2, bool))


SIZES = [1, 3, 17, 33, 65, 129, 257, 1000, 16385, 40000]
FUSED = ["gelu", "gelu_tanh", "silu", "softplus"]


def unfused(name):
    """(forward, backward) of a fused name as the standalone functions."""
    kw = {"approximate": "tanh"} if name == "gelu_tanh" else {}
    fn = "gelu" if name == "gelu_tanh" else name
    return (lambda z: getattr(F, fn)(z, **kw),
            lambda z, g: getattr(F, fn + "_backward")(z, g, **kw))


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
@pytest.mark.parametrize("n", SIZES)
def test_sizes_match_reference(name, kw, n, dtype, threads, rng):
    x = (rng.standard_normal(n) * 5).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    assert_close(getattr(F, name)(x, **kw), getattr(R, name)(x, **kw), dtype)
    assert_close(getattr(F, name + "_backward")(x, g, **kw),
                 getattr(R, name + "_backward")(x.astype(np.float64), g, **kw), dtype)


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_layouts(name, kw, dtype, rng):
    x0 = (rng.standard_normal((17, 33)) * 4).astype(dtype)
    g0 = rng.standard_normal((17, 33)).astype(dtype)
    want = getattr(R, name)(x0, **kw)
    gwant = getattr(R, name + "_backward")(x0, g0, **kw)
    for (_, x), (_, g) in zip(layouts(x0), layouts(g0)):
        assert_close(getattr(F, name)(x, **kw), want, dtype)
        assert_close(getattr(F, name + "_backward")(x, g, **kw), gwant, dtype)


def ulps(got, want, dtype):
    """|got - want| in ulps of want (want in float64, the spacing of dtype)."""
    spacing = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / np.maximum(spacing,
                                                               np.finfo(dtype).smallest_subnormal)


ROOTS = {"gelu": -0.7518, "gelu_tanh": -0.7524, "silu": -1.2785}  # of the derivatives


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_float32_within_a_few_ulps_of_torch_float64(name, kw):
    # torch in float64 at the float32 inputs is the exact value to ~1e-16: the float32
    # kernels are within a few ulps of it where the function is well conditioned (gelu's
    # tanh form loses |x f'(x) / f(x)| ulps in its tail, as any float32 evaluation of its
    # argument does); near a root of the derivative the error is a few ulps of 1.
    torch = pytest.importorskip("torch")
    x = np.linspace(-5, 5, 4001).astype(np.float32)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = getattr(torch.nn.functional, name)(tx, **kw)
    ty.backward(torch.ones_like(tx))
    y, d = ty.detach().numpy(), tx.grad.numpy()
    well = np.abs(x) <= (3 if kw else 5)
    # (tanh form: |x f'/f| is 10 at x = -3)
    assert ulps(getattr(F, name)(x, **kw), y, np.float32)[well].max() <= (12 if kw else 6)
    got = getattr(F, name + "_backward")(x, np.ones_like(x), **kw)
    far = np.abs(x - ROOTS.get("gelu_tanh" if kw else name, 99)) > 0.25
    assert ulps(got, d, np.float32)[well & far].max() <= (24 if kw else 12)
    assert np.abs(got - d).max() <= 4 * np.finfo(np.float32).eps


@pytest.mark.parametrize("dtype, edge", [(np.float32, 13.0), (np.float64, 37.0)],
                         ids=["float32", "float64"])
def test_gelu_within_a_few_ulps_over_the_normal_range(dtype, edge):
    # gelu's normal tail Phi(-t) is computed relative to its size, not to 1: a few ulps up
    # to |x| where phi(x) leaves the normal numbers (beyond, the subnormal tail keeps fewer
    # bits), against mpmath (torch's float64 gelu, x (1 + erf(x / sqrt 2)) / 2, cancels
    # below x = -8).
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    x = np.concatenate([np.linspace(-edge, edge, 801), np.linspace(-3, 3, 401)]).astype(dtype)
    y = np.array([float(mp.mpf(float(v)) * mp.ncdf(float(v))) for v in x])
    d = np.array([float(mp.ncdf(float(v)) + mp.mpf(float(v)) * mp.npdf(float(v))) for v in x])
    far = np.abs(x - ROOTS["gelu"]) > 0.25
    assert ulps(F.gelu(x), y, dtype).max() <= 6
    assert ulps(F.gelu_backward(x, np.ones_like(x)), d, dtype)[far].max() <= 8


@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_limits_and_special_values(name, kw):
    for dtype in (np.float32, np.float64):
        x = np.array([-np.inf, -1e30, -1e4, -0.0, 0.0, 1e4, 1e30, np.inf, np.nan], dtype)
        y = getattr(F, name)(x, **kw)
        d = getattr(F, name + "_backward")(x, np.ones_like(x), **kw)
        big = np.array([1e4, 1e30, np.inf], dtype)
        if name == "softplus":
            np.testing.assert_array_equal(y[:3], 0)
            np.testing.assert_array_equal(y[3:5], np.log(2).astype(dtype))
        else:  # x * (something that tends to 0 below, 1 above): -0, then x itself
            np.testing.assert_array_equal(y[:3], 0)
            assert np.all(np.signbit(y[:4])) and not np.signbit(y[4])
            np.testing.assert_array_equal(y[3:5], 0)
        np.testing.assert_array_equal(y[5:8], big)
        np.testing.assert_array_equal(d[:3], 0)
        np.testing.assert_array_equal(d[5:8], 1)
        np.testing.assert_array_equal(d[3:5], 0.5)
        assert np.isnan(y[8]) and np.isnan(d[8])


def make(rng, batch, n_in, n_out, dtype):
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) * 2 / np.sqrt(max(n_in, 1))).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return x, w, b


# gemm_direct (tiny), one packed tile with edges, several k-blocks and tiles
DENSE_SHAPES = [(1, 1, 1), (2, 3, 4), (3, 33, 65), (17, 129, 33), (64, 784, 256),
                (129, 300, 70)]


@pytest.mark.parametrize("batch, n_in, n_out", DENSE_SHAPES)
@pytest.mark.parametrize("name", FUSED)
def test_fused_dense_equals_product_then_activation(batch, n_in, n_out, name, dtype, threads,
                                                     rng):
    x, w, b = make(rng, batch, n_in, n_out, dtype)
    fwd, bwd = unfused(name)
    z = np.empty((batch, n_out), dtype)
    y = F.dense_forward(x, w, b, name, z_out=z)
    z_plain = F.dense_forward(x, w, b)
    # the same sums and the same activation kernel: the same bits
    np.testing.assert_array_equal(z, z_plain)
    np.testing.assert_array_equal(y, fwd(z_plain))
    assert_close(y, R.dense_forward(x.astype(np.float64), w.astype(np.float64), b, name), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.dense_backward(x, w, z, gy, name)
    rx, rw, rb = F.dense_backward(x, w, z, bwd(z, gy), "identity")
    for got, want in [(gx, rx), (gw, rw), (gb, rb)]:
        np.testing.assert_array_equal(got, want)
    ref = R.dense_backward(*(a.astype(np.float64) for a in (x, w, z, gy)), name)
    for got, want in zip((gx, gw, gb), ref):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("name", FUSED)
def test_fused_dense_same_bits_for_any_thread_count(name, dtype, rng):
    x, w, b = make(rng, 200, 300, 130, dtype)
    gy = rng.standard_normal((200, 130)).astype(dtype)
    runs = []
    for n in (1, 2):
        with nncore.threads(n):
            z = np.empty((200, 130), dtype)
            y = F.dense_forward(x, w, b, name, z_out=z)
            runs.append((y, z) + F.dense_backward(x, w, z, gy, name))
    for a, b2 in zip(*runs):
        np.testing.assert_array_equal(a, b2)


@pytest.mark.parametrize("name", FUSED)
def test_fused_dense_gradient_is_numerical(name, rng):
    x, w, b = make(rng, 4, 5, 3, np.float64)
    r = rng.standard_normal((4, 3))

    def loss(x_, w_, b_):
        return float(np.sum(F.dense_forward(x_, w_, b_, name) * r))

    z = np.empty((4, 3))
    F.dense_forward(x, w, b, name, z_out=z)
    gx, gw, gb = F.dense_backward(x, w, z, r, name)
    for got, i, v in [(gx, 0, x), (gw, 1, w), (gb, 2, b)]:
        def f(u, i=i):
            args = [x, w, b]
            args[i] = u
            return loss(*args)
        np.testing.assert_allclose(got, numeric_grad(f, v), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", FUSED)
def test_fused_dense_matches_torch(name, rng):
    torch = pytest.importorskip("torch")
    x, w, b = make(rng, 9, 13, 7, np.float64)
    gy = rng.standard_normal((9, 7))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    kw = {"approximate": "tanh"} if name == "gelu_tanh" else {}
    act = getattr(torch.nn.functional, "gelu" if name == "gelu_tanh" else name)
    ty = act(tx @ tw + tb, **kw)
    ty.backward(torch.tensor(gy))
    z = np.empty((9, 7))
    np.testing.assert_allclose(F.dense_forward(x, w, b, name, z_out=z), ty.detach().numpy(),
                               rtol=1e-12, atol=1e-15)
    for got, t in zip(F.dense_backward(x, w, z, gy, name), (tx, tw, tb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_z_out_one_sample_and_errors(rng):
    x, w, b = make(rng, 1, 5, 4, np.float64)
    z = np.empty(4)
    y = F.dense_forward(x[0], w, b, "silu", z_out=z)
    np.testing.assert_array_equal(z, F.dense_forward(x[0], w, b))
    np.testing.assert_array_equal(y, F.silu(z))
    for mod in (F, R):
        with pytest.raises(ValueError, match="dense_forward: z_out"):
            mod.dense_forward(x, w, b, "gelu", z_out=np.empty((1, 3)))
        with pytest.raises(TypeError, match="dense_forward: z_out"):
            mod.dense_forward(x, w, b, "gelu", z_out=np.empty((1, 4), np.float32))
    # no inputs (k = 0): z is the bias, y its activation
    z = np.empty((2, 3))
    y = F.dense_forward(np.zeros((2, 0)), np.zeros((0, 3)), [-1.0, 0.0, 2.0], "gelu", z_out=z)
    np.testing.assert_array_equal(z, [[-1.0, 0.0, 2.0]] * 2)
    np.testing.assert_array_equal(y, F.gelu(z))
    out = np.empty((1, 4))
    with pytest.raises(ValueError, match="z_out must not share memory"):
        F.dense_forward(x, w, b, "gelu", out=out, z_out=out)


@pytest.mark.parametrize("name", FUSED)
def test_dense_layer_keeps_z_and_matches_the_unfused_layers(name, dtype, rng):
    # Dense(name) against Dense(identity) followed by the standalone activation
    x = rng.standard_normal((16, 10)).astype(dtype)
    gy = rng.standard_normal((16, 6)).astype(dtype)
    fused = nncore.Dense(10, 6, activation=name, dtype=dtype, seed=1)
    plain = nncore.Dense(10, 6, dtype=dtype, seed=1)
    plain.set_weights(fused.w.data, fused.b.data)
    fwd, bwd = unfused(name)
    z = plain.forward(x).copy()
    np.testing.assert_array_equal(fused.forward(x), fwd(z))
    gx = fused.backward(gy)
    np.testing.assert_array_equal(gx, plain.backward(bwd(z, gy)))
    np.testing.assert_array_equal(fused.w.grad, plain.w.grad)
    np.testing.assert_array_equal(fused.b.grad, plain.b.grad)
