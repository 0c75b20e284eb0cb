"""The batched optimiser entries (one native call per step, used by nncore.optim) are
bitwise the per-parameter functions applied in order, and check every entry before
updating any."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _core


def _params(rng, dtypes, shapes=((3, 4), (4,), (4, 2), (2,))):
    return [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]


@pytest.mark.parametrize("momentum, nesterov, wd, damp", [(0.0, False, 0.0, 0.0),
                                                          (0.9, False, 0.0, 0.0),
                                                          (0.9, True, 1e-2, 0.0),
                                                          (0.5, False, 1e-3, 0.1)])
@pytest.mark.parametrize("dtypes", [["f4"] * 4, ["f8"] * 4, ["f4", "f8", "f8", "f4"]])
def test_sgd_step_all_is_sgd_step_in_order(momentum, nesterov, wd, damp, dtypes, threads, rng):
    ps = _params(rng, dtypes)
    qs = [p.copy() for p in ps]
    vp = [np.zeros_like(p) for p in ps]
    vq = [np.zeros_like(p) for p in ps]
    for _ in range(3):
        gs = [rng.standard_normal(p.shape).astype(p.dtype) for p in ps]
        before = [g.copy() for g in gs]
        _core.sgd_step_all(ps, gs, vp if momentum else None, lr=0.1, momentum=momentum,
                           nesterov=nesterov, weight_decay=wd, dampening=damp)
        for q, g, v in zip(qs, gs, vq):
            F.sgd_step(q, g, v, lr=0.1, momentum=momentum, nesterov=nesterov,
                       weight_decay=wd, dampening=damp)
        for g, b in zip(gs, before):
            np.testing.assert_array_equal(g, b)
    for a, b in zip(ps + vp, qs + vq):
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtypes", [["f4"] * 4, ["f8"] * 4, ["f8", "f4", "f4", "f8"]])
def test_adam_step_all_is_adam_step_in_order(dtypes, threads, rng):
    ps = _params(rng, dtypes)
    qs = [p.copy() for p in ps]
    mp, vp, mq, vq = ([np.zeros_like(p) for p in ps] for _ in range(4))
    for step in range(1, 4):
        gs = [rng.standard_normal(p.shape).astype(p.dtype) for p in ps]
        _core.adam_step_all(ps, gs, mp, vp, step=step, lr=0.01, weight_decay=1e-3)
        for q, g, m, v in zip(qs, gs, mq, vq):
            F.adam_step(q, g, m, v, step=step, lr=0.01, weight_decay=1e-3)
    for a, b in zip(ps + mp + vp, qs + mq + vq):
        assert a.tobytes() == b.tobytes()


def test_optimizer_step_uses_one_call_and_matches_functional(rng):
    # nncore.SGD / Adam step() through the batched entry, against the per-parameter
    # functional API driven by hand.
    model = nncore.Sequential([nncore.Dense(3, 4, activation="relu"), nncore.Dense(4, 2)],
                              seed=0)
    for opt_cls, kw in [(nncore.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                        (nncore.Adam, {"lr": 0.01})]:
        params = model.parameters()
        data = [p.data.copy() for p in params]
        opt = opt_cls(params, **kw)
        for p in params:
            p.grad[...] = rng.standard_normal(p.grad.shape)
        grads = [p.grad.copy() for p in params]
        opt.step()
        for i, (d, g) in enumerate(zip(data, grads)):
            if opt_cls is nncore.SGD:
                F.sgd_step(d, g, np.zeros_like(d), **kw)
            else:
                F.adam_step(d, g, np.zeros_like(d), np.zeros_like(d), step=1, **kw)
            assert d.tobytes() == params[i].data.tobytes()


def test_step_all_errors_leave_every_parameter_untouched(rng):
    ps = _params(rng, ["f8"] * 4)
    before = [p.copy() for p in ps]
    gs = [np.ones_like(p) for p in ps]
    gs[2] = np.ones(3)
    with pytest.raises(ValueError, match=r"sgd_step_all: grads\[2\] must have the shape of "
                                         r"params\[2\] \(4, 2\)"):
        _core.sgd_step_all(ps, gs, None, lr=0.1)
    with pytest.raises(ValueError, match=r"adam_step_all: v\[1\] must have the shape"):
        _core.adam_step_all(ps, [np.ones_like(p) for p in ps], [np.zeros_like(p) for p in ps],
                            [np.zeros_like(p) for p in ps[:1]] + [np.zeros(7)] * 3, step=1)
    with pytest.raises(ValueError, match="velocities"):
        _core.sgd_step_all(ps, [np.ones_like(p) for p in ps], None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grads must have one array per parameter"):
        _core.sgd_step_all(ps, gs[:3], None, lr=0.1)
    with pytest.raises(TypeError, match=r"params\[0\]"):
        _core.sgd_step_all([[1.0, 2.0]], [[1.0, 1.0]], None, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        _core.sgd_step_all(ps, [np.ones_like(p) for p in ps], None, lr=-1.0)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p, b)


def test_no_decay_flags_match_per_parameter_weight_decay_zero(rng):
    ps = _params(rng, ["f4", "f8", "f4", "f8"])
    flags = [False, True, False, True]
    for kind in ("sgd", "adam"):
        a = [p.copy() for p in ps]
        b = [p.copy() for p in ps]
        s1a, s2a, s1b, s2b = ([np.zeros_like(p) for p in ps] for _ in range(4))
        gs = [rng.standard_normal(p.shape).astype(p.dtype) for p in ps]
        if kind == "sgd":
            _core.sgd_step_all(a, gs, s1a, lr=0.1, momentum=0.9, weight_decay=0.1,
                               no_decay=flags)
            for p, g, v, f in zip(b, gs, s1b, flags):
                F.sgd_step(p, g, v, lr=0.1, momentum=0.9, weight_decay=0.0 if f else 0.1)
        else:
            _core.adam_step_all(a, gs, s1a, s2a, step=1, lr=0.01, weight_decay=0.1,
                                no_decay=flags)
            for p, g, m, v, f in zip(b, gs, s1b, s2b, flags):
                F.adam_step(p, g, m, v, step=1, lr=0.01, weight_decay=0.0 if f else 0.1)
        for x, y in zip(a, b):
            assert x.tobytes() == y.tobytes()
    with pytest.raises(ValueError, match="no_decay must have one flag per parameter"):
        _core.sgd_step_all(ps, gs, None, lr=0.1, no_decay=[True])
    with pytest.raises(TypeError, match=r"no_decay\[0\]"):
        _core.sgd_step_all(ps, gs, None, lr=0.1, no_decay=[1, 0, 0, 0])
