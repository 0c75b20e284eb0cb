import numpy as np
import pytest

import nncore as nc
from nncore import initializers as I


def test_defaults_he_for_relu_glorot_otherwise():
    relu = nc.Dense(200, 100, "relu", seed=1)
    leaky = nc.Dense(200, 100, "leaky_relu", seed=1)
    sig = nc.Dense(200, 100, "sigmoid", seed=1)
    lin = nc.Dense(200, 100, seed=1)
    assert relu.w.data.std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)     # He
    assert leaky.w.data.std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert sig.w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)      # Glorot
    assert lin.w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.05)
    assert np.all(relu.b.data == 0)


@pytest.mark.parametrize("name, std, limit", [
    ("glorot_normal", np.sqrt(2 / 500), None), ("xavier_normal", np.sqrt(2 / 500), None),
    ("glorot_uniform", np.sqrt(2 / 500), np.sqrt(6 / 500)),
    ("xavier_uniform", np.sqrt(2 / 500), np.sqrt(6 / 500)),
    ("he_normal", np.sqrt(2 / 300), None), ("kaiming_normal", np.sqrt(2 / 300), None),
    ("he_uniform", np.sqrt(2 / 300), np.sqrt(6 / 300)),
    ("kaiming_uniform", np.sqrt(2 / 300), np.sqrt(6 / 300)),
    ("normal", 0.05, None), ("uniform", 0.05 / np.sqrt(3), 0.05), ("zeros", 0.0, 0.0),
    ("ones", 0.0, None)])
def test_named_initializers(name, std, limit):
    w = nc.Dense(300, 200, init=name, seed=0).w.data
    assert w.shape == (300, 200) and w.dtype == np.float32
    assert w.std() == pytest.approx(std, rel=0.05, abs=1e-12)
    if limit is not None:
        assert np.abs(w).max() <= limit


def test_constant_normal_uniform_factories_and_callables():
    np.testing.assert_array_equal(nc.Dense(2, 2, init=I.constant(0.5)).w.data, 0.5)
    w = nc.Dense(100, 100, init=I.uniform(1.0, 2.0), seed=0).w.data
    assert 1.0 <= w.min() and w.max() < 2.0
    w = nc.Dense(100, 100, init=I.normal(std=3.0, mean=1.0), seed=0, dtype="float64").w.data
    assert w.mean() == pytest.approx(1.0, abs=0.1) and w.std() == pytest.approx(3.0, rel=0.05)

    def eye(shape, fan_in, fan_out, rng, dtype):
        return np.eye(*shape, dtype=dtype)

    np.testing.assert_array_equal(nc.Dense(3, 3, init=eye).w.data, np.eye(3))
    layer = nc.Dense(3, 3, bias_init=I.constant(-1.0))
    np.testing.assert_array_equal(layer.b.data, -1.0)


def test_reproducible_from_one_seed():
    a = nc.Dense(50, 40, "relu", seed=7).w.data
    np.testing.assert_array_equal(a, nc.Dense(50, 40, "relu", seed=7).w.data)
    assert not np.array_equal(a, nc.Dense(50, 40, "relu", seed=8).w.data)

    def build(seed):
        return nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 3)], seed=seed)

    for p, q in zip(build(3).parameters(), build(3).parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(build(3).parameters()[0].data, build(4).parameters()[0].data)
    f32 = nc.Sequential([nc.Dense(4, 8)], seed=3)
    f64 = nc.Sequential([nc.Dense(4, 8)], seed=3, dtype="float64")
    np.testing.assert_allclose(f32.parameters()[0].data, f64.parameters()[0].data, rtol=1e-6)


def test_unknown_initializer():
    with pytest.raises(ValueError, match="init must be"):
        nc.Dense(2, 2, init="orthogonal")
    with pytest.raises(ValueError, match="init must be"):
        I.get(3)
