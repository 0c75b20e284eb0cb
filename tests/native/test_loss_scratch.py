"""Losses around the sizes where their scratch moves from the stack to the heap (weighted
rows: 64, cross-entropy rows: 256, one block of elements: 8192) against the NumPy twins,
float64, and the single-block path against a loss summed over many blocks."""
import numpy as np
import pytest

from nncore import functional as F
from nncore import reference as R


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 255, 256, 257, 8193])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits", "l1_loss"])
def test_elementwise_losses_match_the_reference(rows, weighted, name, rng):
    p = rng.standard_normal((rows, 3))
    t = rng.random((rows, 3))
    w = rng.random(rows) if weighted else None
    for reduction in ("mean", "sum"):
        got_v, got_g = getattr(F, name + "_and_grad")(p, t, reduction, sample_weight=w)
        want_v, want_g = getattr(R, name + "_and_grad")(p, t, reduction, sample_weight=w)
        np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
        np.testing.assert_allclose(got_g, want_g, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("rows", [1, 255, 256, 257, 600])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_the_reference(rows, weighted, rng):
    x = rng.standard_normal((rows, 5))
    y = rng.integers(0, 5, rows)
    w = rng.random(rows) if weighted else None
    got_v, got_g = F.cross_entropy_and_grad(x, y, "mean", sample_weight=w)
    want_v, want_g = R.cross_entropy_and_grad(x, y, "mean", sample_weight=w)
    np.testing.assert_allclose(got_v, want_v, rtol=1e-12)
    np.testing.assert_allclose(got_g, want_g, rtol=1e-12, atol=1e-300)


def test_a_zero_loss_is_plus_zero_on_the_single_block_path():
    # the sum starts from +0.0 as the blocks' sum does: -0.0 never comes out
    p = np.zeros((2, 2), np.float32)
    v = F.mse_loss(p, p)
    assert v == 0 and not np.signbit(v)
