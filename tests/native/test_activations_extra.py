"""gelu (exact and tanh), silu, softplus: native against the NumPy twins, numerical
gradients, PyTorch (when installed), errors."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, numeric_grad

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
