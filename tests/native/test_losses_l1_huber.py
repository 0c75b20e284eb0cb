"""L1 and Huber losses: native against the NumPy twin, numerical gradients, PyTorch's
definitions (when installed), errors."""
import numpy as np
import pytest

import nncore.functional as F
import nncore.reference as R
from conftest import assert_close, numeric_grad

REDUCTIONS = ["mean", "sum", "none"]


def call(mod, name, which, p, t, reduction, delta, w, **kw):
    fn = getattr(mod, name + which)
    if name == "huber_loss":
        return fn(p, t, reduction, delta, sample_weight=w, **kw)
    return fn(p, t, reduction, sample_weight=w, **kw)


@pytest.mark.parametrize("name", ["l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("batch, width", [(1, 1), (3, 17), (129, 10), (3000, 7)])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_reference(name, reduction, batch, width, weighted, dtype, threads, rng):
    p = (rng.standard_normal((batch, width)) * 2).astype(dtype)
    t = rng.standard_normal((batch, width)).astype(dtype)
    t[0, 0] = p[0, 0]  # d = 0: gradient 0 for L1 (as PyTorch)
    w = rng.random(batch).astype(dtype) if weighted else None
    before = p.copy(), t.copy()
    for which in ("", "_backward"):
        got = call(F, name, which, p, t, reduction, 0.7, w)
        want = call(R, name, which, p, t, reduction, 0.7, w)
        assert_close(got, want, dtype)
    value, grad = call(F, name, "_and_grad", p, t, reduction, 0.7, w)
    assert_close(grad, call(R, name, "_backward", p, t, reduction, 0.7, w), dtype)
    assert_close(value, call(R, name, "", p, t, reduction, 0.7, w), dtype)
    if name == "l1_loss":
        assert grad[0, 0] == 0
    np.testing.assert_array_equal(p, before[0])
    np.testing.assert_array_equal(t, before[1])


@pytest.mark.parametrize("name", ["l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_is_numerical(name, reduction, rng):
    p = rng.standard_normal((4, 5)) * 2
    t = rng.standard_normal((4, 5))
    w = rng.random(4)
    # keep every |d| away from the kinks (0 for L1, delta for Huber)
    d = p - t
    d[np.abs(d) < 0.05] += 0.2
    d[np.abs(np.abs(d) - 0.7) < 0.05] += 0.2
    p = t + d
    f = lambda q: call(F, name, "", q, t, reduction, 0.7, w)  # noqa: E731
    np.testing.assert_allclose(call(F, name, "_backward", p, t, reduction, 0.7, w),
                               numeric_grad(f, p), rtol=1e-6, atol=1e-8)


def test_values_by_hand():
    p = np.array([[0.0, 3.0, -0.5]])
    t = np.zeros((1, 3))
    assert F.l1_loss(p, t) == pytest.approx(3.5 / 3)
    # huber, delta=1: 0, 1 * (3 - 0.5) = 2.5, 0.5 * 0.25 = 0.125
    assert F.huber_loss(p, t, "sum") == pytest.approx(2.625)
    np.testing.assert_array_equal(F.huber_loss_backward(p, t, "sum", 2.0), [[0.0, 2.0, -0.5]])
    np.testing.assert_array_equal(F.l1_loss_backward(p, t, "sum"), [[0.0, 1.0, -1.0]])


def test_same_bits_for_any_thread_count(rng):
    import nncore
    p = rng.standard_normal((5000, 9))
    t = rng.standard_normal((5000, 9))
    out = []
    for n in (1, 2):
        with nncore.threads(n):
            out.append(F.huber_loss_and_grad(p, t, "mean", 0.3))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_errors():
    p = np.zeros((3, 2))
    with pytest.raises(ValueError, match="huber_loss: target must have the shape of pred"):
        F.huber_loss(p, np.zeros((3,)))
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        F.huber_loss(p, p, "mean", 0.0)
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        R.huber_loss(p, p, "mean", -1.0)
    with pytest.raises(ValueError, match="l1_loss: reduction"):
        F.l1_loss(p, p, "avg")
    with pytest.raises(ValueError, match="sample_weight must have shape \\(3,\\)"):
        F.l1_loss(p, p, sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="empty"):
        F.l1_loss(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(TypeError, match="l1_loss: pred"):
        F.l1_loss(np.zeros((2, 2), complex), p[:2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_torch(reduction, rng):
    torch = pytest.importorskip("torch")
    p = rng.standard_normal((6, 4)) * 2
    t = rng.standard_normal((6, 4))
    for name, delta in (("l1_loss", None), ("huber_loss", 0.8)):
        tp = torch.tensor(p, requires_grad=True)
        kw = {} if delta is None else {"delta": delta}
        ref = getattr(torch.nn.functional, name)(tp, torch.tensor(t), reduction=reduction, **kw)
        ref.sum().backward()
        got, grad = call(F, name, "_and_grad", p, t, reduction, delta or 1.0, None)
        np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-12)
