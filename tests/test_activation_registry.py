"""The activation registry (nncore.activations) against what the rest of nncore has: the
native core, its reference twin, the layer classes and PyTorch's names. Each check fails
when an entry names something that does not exist, or the core accepts a name the
registry does not know."""
import importlib.util

import numpy as np
import pytest

import nncore
from nncore import functional as F
from nncore import layers as L
from nncore import reference as R
from nncore.activations import ACTIVATIONS, FROM_INPUT, FUSABLE, canonical


def _xwb():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((3, 4)), rng.standard_normal((4, 2)),
            rng.standard_normal(2))


@pytest.mark.parametrize("name", FUSABLE)
def test_every_fused_activation_is_accepted_by_the_native_and_reference_dense(name):
    x, w, b = _xwb()
    y = F.dense_forward(x, w, b, name)
    np.testing.assert_allclose(y, R.dense_forward(x, w, b, name), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - set(FUSABLE)) + ["swish"])
def test_the_native_dense_rejects_every_name_that_is_not_fused(name):
    x, w, b = _xwb()
    with pytest.raises(ValueError, match="activation"):
        F.dense_forward(x, w, b, name)


def test_the_native_core_fuses_exactly_the_registrys_fused_activations():
    # the core's own list (the error message names it) is the registry's
    x, w, b = _xwb()
    with pytest.raises(ValueError) as err:
        F.dense_forward(x, w, b, "no_such_activation")
    for name in FUSABLE:
        assert name in str(err.value)


@pytest.mark.parametrize("name", FROM_INPUT)
def test_every_from_input_activation_has_native_and_reference_kernels(name):
    a = ACTIVATIONS[name]
    z = np.linspace(-3, 3, 13)
    y = getattr(F, a.kernel)(z, *a.kernel_args)
    np.testing.assert_allclose(y, getattr(R, a.kernel)(z, *a.kernel_args), rtol=1e-12)
    g = getattr(F, a.kernel + "_backward")(np.ones_like(z), z, *a.kernel_args)
    assert g.shape == z.shape


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.layer])
def test_every_layer_name_is_a_layer_class_that_the_model_reads_back(name):
    cls = getattr(L, ACTIVATIONS[name].layer)
    assert issubclass(cls, L.Layer)
    assert L.ACTIVATION_LAYERS[name] is cls
    assert getattr(nncore, cls.__name__) is cls


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_builds_a_dense_layer_that_runs(name):
    model = nncore.Sequential([L.Dense(4, 3, activation=name, seed=0)])
    y = model.predict(np.ones((2, 4)))
    assert y.shape == (2, 3) and np.all(np.isfinite(y))


def test_canonical_names_and_rejects():
    assert canonical(None) == "identity" and canonical("linear") == "identity"
    with pytest.raises(ValueError, match=r"Dense: activation must be one of .*'swish'"):
        canonical("swish", "Dense")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.torch])
def test_every_torch_name_is_a_torch_module(name):
    import torch
    assert issubclass(getattr(torch.nn, ACTIVATIONS[name].torch), torch.nn.Module)


@pytest.mark.parametrize("name", [n for n in FROM_INPUT if ACTIVATIONS[n].fused])
def test_every_fused_from_input_activation_takes_z_in_the_native_and_reference_dense(name):
    # dense_forward keeps z (z_out), dense_backward takes it in place of y; both twins
    x, w, b = _xwb()
    gy = np.ones((3, 2))
    results = []
    for mod in (F, R):
        z = np.empty((3, 2))
        y = mod.dense_forward(x, w, b, name, z_out=z)
        np.testing.assert_allclose(z, x @ w + b, rtol=1e-12)
        results.append((y,) + mod.dense_backward(x, w, z, gy, name))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
