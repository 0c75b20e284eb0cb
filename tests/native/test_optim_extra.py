"""The AdamW, amsgrad and RMSprop kernels: against their NumPy twins (every kernel set
runs these under NNCORE_ISA), against torch.optim (float64, 1e-12), and their checks."""
import numpy as np
import pytest

import nncore._core as C
import nncore.functional as F
import nncore.reference as R
from conftest import assert_close

RMS_OPTIONS = [dict(), dict(momentum=0.9), dict(centered=True),
               dict(momentum=0.5, centered=True, weight_decay=0.01, alpha=0.9, eps=1e-6)]


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled, wd", [(False, 0.0), (False, 0.05), (True, 0.0),
                                           (True, 0.1)])
@pytest.mark.parametrize("n", [1, 17, 70000])
def test_adam_variants_match_reference(amsgrad, decoupled, wd, n, dtype, threads, rng):
    p1 = rng.standard_normal(n).astype(dtype)
    p2 = p1.copy()
    s1 = [np.zeros_like(p1) for _ in range(3)]
    s2 = [np.zeros_like(p1) for _ in range(3)]
    for step in range(1, 5):
        g = rng.standard_normal(n).astype(dtype)
        g_before = g.copy()
        F.adam_step(p1, g, s1[0], s1[1], s1[2] if amsgrad else None, step=step, lr=0.01,
                    weight_decay=wd, decoupled_weight_decay=decoupled)
        R.adam_step(p2, g, s2[0], s2[1], s2[2] if amsgrad else None, step=step, lr=0.01,
                    weight_decay=wd, decoupled_weight_decay=decoupled)
        np.testing.assert_array_equal(g, g_before)
    assert_close(p1, p2, dtype)
    for a, b in zip(s1, s2):
        assert_close(a, b, dtype)
    if not amsgrad:
        assert not s1[2].any()


@pytest.mark.parametrize("options", RMS_OPTIONS)
@pytest.mark.parametrize("n", [1, 17, 70000])
def test_rmsprop_matches_reference(options, n, dtype, threads, rng):
    p1 = rng.standard_normal(n).astype(dtype)
    p2 = p1.copy()
    s1 = [np.zeros_like(p1) for _ in range(3)]
    s2 = [np.zeros_like(p1) for _ in range(3)]
    for _ in range(4):
        g = rng.standard_normal(n).astype(dtype)
        F.rmsprop_step(p1, g, *s1, lr=0.01, **options)
        R.rmsprop_step(p2, g, *s2, lr=0.01, **options)
    assert_close(p1, p2, dtype)
    for a, b in zip(s1, s2):
        assert_close(a, b, dtype)


def _torch_run(torch_cls, step_fn, options, steps=40):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    p = rng.standard_normal(23)
    tp = torch.tensor(p.copy(), requires_grad=True)
    topt = torch_cls([tp], **options)
    state = [np.zeros_like(p) for _ in range(3)]
    for t in range(1, steps + 1):
        g = rng.standard_normal(23)
        tp.grad = torch.tensor(g)
        topt.step()
        step_fn(p, g, state, t)
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"step {t}")


@pytest.mark.parametrize("cls, options", [
    ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)), ("Adam", dict(lr=0.02, amsgrad=True,
                                                       weight_decay=0.1, betas=(0.5, 0.9)))])
def test_adam_variants_match_torch(cls, options):
    torch = pytest.importorskip("torch")
    o = dict(options)
    ams = o.pop("amsgrad", False)
    b1, b2 = o.pop("betas", (0.9, 0.999))
    wd = o.pop("weight_decay", 0.01 if cls == "AdamW" else 0.0)

    def step(p, g, s, t):
        F.adam_step(p, g, s[0], s[1], s[2] if ams else None, step=t, beta1=b1, beta2=b2,
                    weight_decay=wd, decoupled_weight_decay=cls == "AdamW", **o)
    _torch_run(getattr(torch.optim, cls), step, options)


@pytest.mark.parametrize("options", RMS_OPTIONS)
def test_rmsprop_matches_torch(options):
    torch = pytest.importorskip("torch")

    def step(p, g, s, t):
        F.rmsprop_step(p, g, *s, lr=0.01, **options)
    _torch_run(torch.optim.RMSprop, step, dict(lr=0.01, **options))


def test_step_all_is_step_in_order(rng):
    shapes = [(3, 4), (5,), (40,)]
    for fn, fn_all, kw in [
            (F.adam_step, C.adam_step_all, dict(step=2, lr=0.1, weight_decay=0.1,
                                                decoupled_weight_decay=True)),
            (F.rmsprop_step, C.rmsprop_step_all, dict(lr=0.1, momentum=0.9, centered=True,
                                                      weight_decay=0.1))]:
        ps = [rng.standard_normal(s) for s in shapes]
        gs = [rng.standard_normal(s) for s in shapes]
        st = [[rng.random(s) for s in shapes] for _ in range(3)]
        qs = [p.copy() for p in ps]
        su = [[a.copy() for a in col] for col in st]
        fn_all(ps, gs, *st, no_decay=[False, True, False], **kw)
        for i, (q, g) in enumerate(zip(qs, gs)):
            k = dict(kw, weight_decay=0.0) if i == 1 else kw
            fn(q, g, su[0][i], su[1][i], su[2][i], **k)
        for a, b in zip(ps, qs):
            np.testing.assert_array_equal(a, b)
        for col, ucol in zip(st, su):
            for a, b in zip(col, ucol):
                np.testing.assert_array_equal(a, b)


def test_errors_name_the_argument():
    p = np.zeros(3)
    with pytest.raises(ValueError, match="rmsprop_step: alpha must be in"):
        F.rmsprop_step(p, np.zeros(3), np.zeros(3), alpha=1.5)
    with pytest.raises(ValueError, match="rmsprop_step: grad_avg must have the shape"):
        F.rmsprop_step(p, np.zeros(3), np.zeros(3), None, np.zeros(4), centered=True)
    with pytest.raises(TypeError, match="rmsprop_step: momentum_buffer must be a numpy"):
        F.rmsprop_step(p, np.zeros(3), np.zeros(3), momentum=0.9)
    with pytest.raises(ValueError, match="adam_step: max_v must have the shape"):
        F.adam_step(p, np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2), step=1)
    with pytest.raises(ValueError, match="rmsprop_step_all: square_avg must have one array"):
        C.rmsprop_step_all([p], [np.zeros(3)], [])
    for mod in (F, R):
        with pytest.raises(ValueError, match="rmsprop_step: alpha"):
            mod.rmsprop_step(p, np.zeros(3), np.zeros(3), alpha=2.0)
    np.testing.assert_array_equal(p, 0)
