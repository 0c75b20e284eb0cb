import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close


@pytest.mark.parametrize("momentum, nesterov, wd, damp", [(0.0, False, 0.0, 0.0),
                                                          (0.9, False, 0.0, 0.0),
                                                          (0.9, True, 1e-2, 0.0),
                                                          (0.5, False, 1e-3, 0.1)])
@pytest.mark.parametrize("n", [1, 17, 70000])
def test_sgd_step_matches_reference(momentum, nesterov, wd, damp, n, dtype, threads, rng):
    p1 = rng.standard_normal(n).astype(dtype)
    p2 = p1.copy()
    v1, v2 = np.zeros_like(p1), np.zeros_like(p1)
    for _ in range(3):
        g = rng.standard_normal(n).astype(dtype)
        g_before = g.copy()
        F.sgd_step(p1, g, v1, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd,
                   dampening=damp)
        R.sgd_step(p2, g, v2, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd,
                   dampening=damp)
        np.testing.assert_array_equal(g, g_before)
    assert_close(p1, p2, dtype)
    assert_close(v1, v2, dtype)


def test_sgd_known_value():
    p = np.array([1.0, 2.0])
    F.sgd_step(p, [0.5, -1.0], lr=0.1)
    np.testing.assert_allclose(p, [0.95, 2.1])


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_adam_step_matches_reference(wd, dtype, rng):
    p1 = rng.standard_normal((7, 5)).astype(dtype)
    p2 = p1.copy()
    m1, m2, v1, v2 = (np.zeros_like(p1) for _ in range(4))
    for step in range(1, 5):
        g = rng.standard_normal((7, 5)).astype(dtype)
        F.adam_step(p1, g, m1, v1, step=step, lr=0.01, weight_decay=wd)
        R.adam_step(p2, g, m2, v2, step=step, lr=0.01, weight_decay=wd)
    assert_close(p1, p2, dtype)
    assert_close(m1, m2, dtype)
    assert_close(v1, v2, dtype)


def test_adam_first_step_is_lr_times_sign():
    """With zero state, Adam's first update is lr * g / (|g| + eps) = lr * sign(g)."""
    p = np.zeros(3)
    F.adam_step(p, [2.0, -3.0, 0.5], np.zeros(3), np.zeros(3), step=1, lr=0.1, eps=0.0)
    np.testing.assert_allclose(p, [-0.1, 0.1, -0.1])
