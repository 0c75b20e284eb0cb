import numpy as np
import pytest

import nncore as nc


def param(values, grad):
    p = nc.Parameter(np.array(values, dtype=np.float64))
    p.grad[...] = grad
    return p


def sgd_by_hand(w, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD's update rule, written out."""
    w = np.array(w, dtype=np.float64)
    v = None
    for g in grads:
        g = np.asarray(g, dtype=np.float64) + weight_decay * w
        if momentum:
            v = g.copy() if v is None else momentum * v + g
            g = g + momentum * v if nesterov else v
        w = w - lr * g
    return w


@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
                                    {"weight_decay": 0.1},
                                    {"momentum": 0.5, "weight_decay": 0.01, "nesterov": True}])
def test_sgd_matches_the_update_rule(kwargs):
    grads = [[0.5, 0.25], [-1.0, 2.0], [0.3, 0.3]]
    p = param([1.0, -2.0], 0)
    opt = nc.SGD([p], lr=0.1, **kwargs)
    for g in grads:
        p.grad[...] = g
        opt.step()
    np.testing.assert_allclose(p.data, sgd_by_hand([1.0, -2.0], grads, 0.1, **kwargs),
                               rtol=1e-14)
    assert opt.steps == 3


def test_adam_matches_the_update_rule():
    p = param([0.5, -0.5], 0)
    opt = nc.Adam([p], lr=0.1, betas=(0.8, 0.9), eps=1e-8)
    w, m, v = np.array([0.5, -0.5]), np.zeros(2), np.zeros(2)
    for t, g in enumerate([[3.0, -0.01], [1.0, 1.0], [-2.0, 0.5]], start=1):
        p.grad[...] = g
        opt.step()
        g = np.array(g)
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        w = w - 0.1 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.9 ** t)) + 1e-8)
    np.testing.assert_allclose(p.data, w, rtol=1e-12)
    np.testing.assert_allclose(opt.state[0]["m"], m, rtol=1e-12)


def test_schedules():
    opt = nc.SGD([nc.Parameter(np.zeros(1))], lr=1.0)
    s = nc.StepLR(opt, step_size=2, gamma=0.5)
    assert [s.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    assert s.get_last_lr() == 0.25
    opt.lr = 1.0
    e = nc.ExponentialLR(opt, gamma=0.9)
    assert e.step() == pytest.approx(0.9) and e.step() == pytest.approx(0.81)
    opt.lr = 1.0
    c = nc.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    assert [round(c.step(), 6) for _ in range(5)] == [0.853553, 0.5, 0.146447, 0.0, 0.0]


def test_schedule_in_fit_sets_lr_per_epoch(rng):
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    opt = nc.SGD(lr=0.8)
    history = model.fit(rng.standard_normal((8, 2)), rng.integers(0, 3, 8), loss="cross_entropy",
                        optimizer=opt, lr_scheduler=nc.StepLR(opt, 1, gamma=0.5), epochs=3,
                        verbose=0)
    assert history["lr"] == [0.8, 0.4, 0.2] and opt.lr == 0.1


def test_gradient_clipping_functions():
    a, b = param([0.0, 0.0], [3.0, 0.0]), param([0.0], [4.0])
    assert nc.clip_grad_norm_([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()), 1.0,
                               rtol=1e-5)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-5)   # direction kept
    a.grad[...] = [0.3, 0.4]
    assert nc.clip_grad_norm_([a], 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, [0.3, 0.4])          # under the limit: untouched
    a.grad[...] = [3.0, -7.0]
    nc.clip_grad_value_([a], 2.0)
    np.testing.assert_array_equal(a.grad, [2.0, -2.0])


def test_optimizer_clips_before_its_update():
    p = param([0.0, 0.0], [30.0, 40.0])
    nc.SGD([p], lr=1.0, clip_norm=5.0).step()
    np.testing.assert_allclose(p.data, [-3.0, -4.0], rtol=1e-6)
    p = param([0.0, 0.0], [30.0, -0.5])
    nc.SGD([p], lr=1.0, clip_value=1.0).step()
    np.testing.assert_array_equal(p.data, [-1.0, 0.5])


def test_update_is_in_place():
    p = param([1.0, 2.0], [1.0, 1.0])
    data, opt = p.data, nc.Adam([p], lr=0.1)
    m = opt.state[0]["m"]
    opt.step()
    assert p.data is data and opt.state[0]["m"] is m and not np.array_equal(data, [1.0, 2.0])


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr"):
        nc.SGD(lr=-1)
    with pytest.raises(ValueError, match="lr"):
        nc.Adam(lr=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        nc.SGD(lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov"):
        nc.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        nc.Adam(betas=(1.0, 0.9))
    with pytest.raises(RuntimeError, match="no parameters"):
        nc.SGD(lr=0.1).step()
    with pytest.raises(ValueError, match="empty"):
        nc.SGD([], lr=0.1)
