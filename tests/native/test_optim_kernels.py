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


# --------------------------------------------------- torch's first SGD momentum step

def test_sgd_first_step_starts_velocity_at_the_gradient_hand_computed():
    """torch.optim.SGD: buf = g on step 1 (no dampening), then buf = m*buf + (1-d)*g."""
    import nncore as nc
    p = nc.Parameter(np.array([1.0, -2.0]))
    opt = nc.SGD([p], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    p.grad[...] = [0.5, 1.0]
    opt.step()
    # g = [0.5 + 0.1, 1.0 - 0.2] = [0.6, 0.8]; v = g; p = [1 - 0.06, -2 - 0.08]
    np.testing.assert_allclose(opt.state[0]["velocity"], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_allclose(p.data, [0.94, -2.08], rtol=1e-15)
    p.grad[...] = [-1.0, 0.0]
    opt.step()
    # g = [-1 + 0.094, -0.208]; v = 0.9 * [0.6, 0.8] + 0.5 * g = [0.087, 0.616]
    np.testing.assert_allclose(opt.state[0]["velocity"], [0.087, 0.616], rtol=1e-14)
    np.testing.assert_allclose(p.data, [0.94 - 0.0087, -2.08 - 0.0616], rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_first_flag_overwrites_velocity(nesterov, dtype, threads, rng):
    """first=True: velocity = grad + wd * param exactly (NaN there is never read)."""
    n = 70001  # several chunks and a vector tail
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    t = dtype.type
    want_v = g + t(0.01) * p0
    kw = dict(lr=0.1, momentum=0.9, nesterov=nesterov, dampening=0.0 if nesterov else 0.25,
              weight_decay=0.01, first=True)
    for impl in (F, R):
        p, v = p0.copy(), np.full(n, np.nan, dtype)
        impl.sgd_step(p, g, v, **kw)
        np.testing.assert_array_equal(v, want_v)
        step = want_v + t(0.9) * want_v if nesterov else want_v
        np.testing.assert_array_equal(p, p0 - t(0.1) * step)


def test_sgd_first_step_survives_save_and_load(tmp_path):
    """Training 2 + 2 epochs around save/load equals 4 epochs: the step count that marks
    the first step round-trips, so the loaded optimiser does not restart its velocity."""
    import nncore as nc
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = rng.standard_normal((40, 2))

    def model():
        return nc.Sequential([nc.Dense(3, 4, activation="tanh"), nc.Dense(4, 2)], seed=1,
                             dtype="float64")

    def opt():
        return nc.SGD(lr=0.05, momentum=0.9, dampening=0.4)

    whole = model()
    whole.fit(x, y, loss="mse", optimizer=opt(), epochs=4, batch_size=8, shuffle=False,
              verbose=0)
    part = model()
    part.fit(x, y, loss="mse", optimizer=opt(), epochs=2, batch_size=8, shuffle=False,
             verbose=0)
    part.save(tmp_path / "m.npz")
    loaded = nc.load(tmp_path / "m.npz")
    assert loaded.optimizer.steps == 10
    loaded.fit(x, y, loss="mse", optimizer=loaded.optimizer, epochs=2, batch_size=8,
               shuffle=False, verbose=0)
    for a, b in zip(whole.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    # and the first step differs from the old rule (velocity started at zero, damped)
    fresh = model()
    fresh.fit(x[:8], y[:8], loss="mse", optimizer=opt(), epochs=1, batch_size=8,
              shuffle=False, verbose=0)
    v = fresh.optimizer.state[0]["velocity"]
    g = (fresh.parameters()[0].data - model().parameters()[0].data) / -0.05
    np.testing.assert_allclose(v, g, rtol=1e-8, atol=1e-12)


SGD_OPTIONS = [dict(momentum=0.0), dict(momentum=0.9), dict(momentum=0.9, dampening=0.5),
               dict(momentum=0.8, nesterov=True), dict(momentum=0.9, weight_decay=0.01),
               dict(momentum=0.7, dampening=0.2, weight_decay=0.05),
               dict(weight_decay=0.1)]
ADAM_OPTIONS = [dict(), dict(betas=(0.8, 0.99)), dict(eps=1e-4), dict(weight_decay=0.01),
                dict(betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1)]


@pytest.mark.parametrize("kind, options", [("SGD", o) for o in SGD_OPTIONS] +
                         [("Adam", o) for o in ADAM_OPTIONS])
def test_optimizers_match_torch_step_for_step(kind, options):
    torch = pytest.importorskip("torch")
    import nncore as nc
    rng = np.random.default_rng(5)
    shapes = [(3, 4), (4,), (17,)]
    data = [rng.standard_normal(s) for s in shapes]
    ours = [nc.Parameter(d.copy()) for d in data]
    theirs = [torch.tensor(d.copy(), requires_grad=True) for d in data]
    opt = getattr(nc, kind)(ours, lr=0.05, **options)
    topt = getattr(torch.optim, kind)(theirs, lr=0.05, **options)
    for step in range(6):
        grads = [rng.standard_normal(s) for s in shapes]
        for p, tp, g in zip(ours, theirs, grads):
            p.grad[...] = g
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"step {step + 1}")
