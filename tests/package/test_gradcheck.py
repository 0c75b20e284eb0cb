import numpy as np
import pytest

import nncore as nc


@pytest.mark.parametrize("act", ["identity", "relu", "sigmoid", "tanh", "leaky_relu"])
def test_gradcheck_agrees(act):
    model = nc.Sequential([nc.Dense(3, 5, act), nc.Dense(5, 2)], seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)) + 0.05
    report = nc.gradcheck(model, x, rng.integers(0, 2, 4), loss="cross_entropy")
    assert set(report) == {"dense_0.w", "dense_0.b", "dense_1.w", "dense_1.b"}
    assert max(report.values()) < 1e-5, report
    assert model.dtype == np.float32                    # the model itself is untouched


@pytest.mark.parametrize("loss", ["mse", "bce_with_logits"])
def test_gradcheck_other_losses_and_layers(loss):
    model = nc.Sequential([nc.Dense(3, 4), nc.Tanh(), nc.Dense(4, 2), nc.Sigmoid()], seed=2)
    rng = np.random.default_rng(1)
    y = rng.random((5, 2)) if loss == "mse" else rng.integers(0, 2, (5, 2))
    report = nc.gradcheck(model, rng.standard_normal((5, 3)), y, loss=loss)
    assert max(report.values()) < 1e-5, report


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 2)], seed=1)
    rng = np.random.default_rng(0)
    original = nc.Dense.backward

    def wrong(self, grad_y):
        out = original(self, grad_y)
        self.w.grad *= 1.1
        return out

    monkeypatch.setattr(nc.Dense, "backward", wrong)
    report = nc.gradcheck(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    assert report["dense_0.w"] > 0.05 and report["dense_1.w"] > 0.05
    assert report["dense_0.b"] < 1e-5
