"""nncore's optimisers against torch.optim step for step (float64, 1e-12): AdamW,
RMSprop, amsgrad, parameter groups, and state_dict round trips in mid-training."""
import numpy as np
import pytest

import nncore as nc

SHAPES = [(3, 4), (4,), (17,)]
CASES = [
    ("AdamW", dict()), ("AdamW", dict(weight_decay=0.2, amsgrad=True, betas=(0.8, 0.99))),
    ("Adam", dict(amsgrad=True)), ("Adam", dict(amsgrad=True, weight_decay=0.05)),
    ("RMSprop", dict()), ("RMSprop", dict(momentum=0.9)), ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(alpha=0.9, eps=1e-5, weight_decay=0.01, momentum=0.5, centered=True)),
    ("SGD", dict(momentum=0.9, nesterov=True)),
]


def _pair(kind, options, groups=None, seed=5):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    data = [rng.standard_normal(s) for s in SHAPES]
    ours = [nc.Parameter(d.copy()) for d in data]
    theirs = [torch.tensor(d.copy(), requires_grad=True) for d in data]
    if groups is None:
        opt = getattr(nc, kind)(ours, lr=0.03, **options)
        topt = getattr(torch.optim, kind)(theirs, lr=0.03, **options)
    else:  # groups: list of (indices, overrides)
        opt = getattr(nc, kind)([{"params": [ours[i] for i in idx], **o} for idx, o in groups],
                                lr=0.03, **options)
        topt = getattr(torch.optim, kind)([{"params": [theirs[i] for i in idx], **o}
                                           for idx, o in groups], lr=0.03, **options)
    return ours, theirs, opt, topt


def _step(ours, theirs, opt, topt, rng):
    import torch
    for p, tp in zip(ours, theirs):
        g = rng.standard_normal(p.shape)
        p.grad[...] = g
        tp.grad = torch.tensor(g)
    opt.step()
    topt.step()


def _close(ours, theirs, msg=""):
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=msg)


@pytest.mark.parametrize("kind, options", CASES)
def test_matches_torch_for_many_steps(kind, options):
    ours, theirs, opt, topt = _pair(kind, options)
    rng = np.random.default_rng(1)
    for step in range(50):
        _step(ours, theirs, opt, topt, rng)
        _close(ours, theirs, f"step {step + 1}")


@pytest.mark.parametrize("kind, options, groups", [
    ("SGD", dict(momentum=0.9), [([0], dict(lr=0.1)), ([1, 2], dict(weight_decay=0.1))]),
    ("Adam", dict(), [([0, 2], dict(lr=0.1, amsgrad=True)), ([1], dict(betas=(0.5, 0.9)))]),
    ("AdamW", dict(), [([2], dict(weight_decay=0.0)), ([0, 1], dict(lr=0.005))]),
    ("RMSprop", dict(), [([1], dict(momentum=0.9, centered=True)), ([0, 2], dict(lr=0.001))]),
])
def test_param_groups_match_torch(kind, options, groups):
    ours, theirs, opt, topt = _pair(kind, options, groups)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    rng = np.random.default_rng(2)
    for step in range(30):
        _step(ours, theirs, opt, topt, rng)
        _close(ours, theirs, f"step {step + 1}")


@pytest.mark.parametrize("kind, options", CASES)
def test_state_dict_resume_gives_the_same_bits(kind, options):
    """Train 7 steps, save the state, go on 8 more; a fresh optimiser over copies of the
    parameters loaded with that state gives the same bits for the 8 steps."""
    ours, theirs, opt, topt = _pair(kind, options)
    rng = np.random.default_rng(3)
    for _ in range(7):
        _step(ours, theirs, opt, topt, rng)
    saved = opt.state_dict()
    copies = [nc.Parameter(p.data.copy()) for p in ours]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(8)]
    for gs in grads:
        for p, g in zip(ours, gs):
            p.grad[...] = g
        opt.step()
    resumed = getattr(nc, kind)(copies, lr=0.5)  # hyper-parameters come from the state
    resumed.load_state_dict(saved)
    for gs in grads:
        for p, g in zip(copies, gs):
            p.grad[...] = g
        resumed.step()
    for a, b in zip(ours, copies):
        np.testing.assert_array_equal(a.data, b.data)
    # the dict is a copy: stepping did not change it
    assert saved["steps"] == 7


def test_param_group_errors():
    p, q = nc.Parameter(np.zeros(3)), nc.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="param group 0 has keys"):
        nc.SGD([{"params": [p], "betas": (0.9, 0.9)}])
    with pytest.raises(ValueError, match="more than one param group"):
        nc.Adam([{"params": [p]}, {"params": [p, q]}])
    with pytest.raises(ValueError, match="param group 1: lr"):
        nc.Adam([{"params": [p]}, {"params": [q], "lr": -1}])
    with pytest.raises(TypeError, match="not a mix"):
        nc.Adam([p, {"params": [q]}])
    opt = nc.RMSprop([{"params": [p]}, {"params": [q]}])
    with pytest.raises(ValueError, match="saved groups hold"):
        opt.load_state_dict(nc.RMSprop([p, q]).state_dict())


def test_setting_a_hyper_parameter_sets_every_group():
    p, q = nc.Parameter(np.zeros(3)), nc.Parameter(np.zeros(2))
    opt = nc.AdamW([{"params": [p], "lr": 0.1}, {"params": [q]}], lr=0.01)
    assert opt.lr == 0.1 and opt.param_groups[1]["lr"] == 0.01
    opt.lr = 0.5
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]


@pytest.mark.parametrize("optimizer", [nc.AdamW(lr=0.01), nc.RMSprop(lr=0.01),
                                       nc.Adam(lr=0.01, amsgrad=True)])
def test_new_optimizers_fit_natively(optimizer):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    model = nc.Sequential([nc.Dense(3, 8, "relu"), nc.Dense(8, 2)], seed=0)
    h = model.fit(x, y, loss="cross_entropy", optimizer=optimizer, epochs=3, verbose=0)
    assert h.engine == "native"  # bitwise as python: tests/package/test_engine.py
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_new_optimizers_survive_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 1))
    for opt in (nc.AdamW(lr=0.01, amsgrad=True), nc.RMSprop(momentum=0.9, centered=True)):
        model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 1)], seed=0)
        model.fit(x, y, loss="mse", optimizer=opt, epochs=2, verbose=0)
        loaded = nc.load(model.save(tmp_path / "m"))
        assert type(loaded.optimizer) is type(opt)
        for a, b in zip(model.fit(x, y, epochs=1, verbose=0, shuffle=False) and
                        model.parameters(),
                        loaded.fit(x, y, epochs=1, verbose=0, shuffle=False) and
                        loaded.parameters()):
            np.testing.assert_array_equal(a.data, b.data)
