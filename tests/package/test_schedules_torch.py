"""The schedules against torch.optim.lr_scheduler: the rate of every param group after
every step (float64, 1e-12), momentum cycling, and in fit (per epoch and per batch)."""
import numpy as np
import pytest

import nncore as nc

torch = pytest.importorskip("torch")
TS = torch.optim.lr_scheduler
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


def _pair(kind="SGD", lrs=(0.1, 0.02), **opt_kw):
    ours = [nc.Parameter(np.zeros(3)) for _ in lrs]
    theirs = [torch.zeros(3, requires_grad=True) for _ in lrs]
    opt = getattr(nc, kind)([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)], **opt_kw)
    topt = getattr(torch.optim, kind)([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)],
                                      **opt_kw)
    return opt, topt


def _compare(opt, topt, sched, tsched, steps, keys=("lr",), values=None):
    for k in keys:
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert g[k] == pytest.approx(tg[k], rel=1e-12, abs=1e-15), (k, "initial")
    for step in range(steps):
        if values is None:
            sched.step()
            tsched.step()
        else:
            sched.step(values[step])
            tsched.step(values[step])
        for k in keys:
            for g, tg in zip(opt.param_groups, topt.param_groups):
                assert np.allclose(g[k], tg[k], rtol=1e-12, atol=1e-15), (k, step + 1)


def _fns():
    return [lambda e: 0.95 ** e, lambda e: 1.0 / (1 + e)]


@pytest.mark.parametrize("make", [
    lambda o, m: m.StepLR(o, step_size=3, gamma=0.5),
    lambda o, m: m.ExponentialLR(o, gamma=0.9),
    lambda o, m: m.CosineAnnealingLR(o, T_max=40, eta_min=0.001),  # held after T_max
    lambda o, m: m.LambdaLR(o, lr_lambda=lambda e: 0.9 ** e),
    lambda o, m: m.LambdaLR(o, lr_lambda=_fns()),
    lambda o, m: m.LinearLR(o),
    lambda o, m: m.LinearLR(o, start_factor=0.1, end_factor=0.5, total_iters=12),
])
def test_schedules_match_torch(make):
    opt, topt = _pair()
    _compare(opt, topt, make(opt, nc), make(topt, TS), 40)


def test_sequential_warmup_then_cosine_matches_torch():
    opt, topt = _pair()
    sched = nc.SequentialLR(opt, [nc.LinearLR(opt, start_factor=0.01, total_iters=5),
                                  nc.CosineAnnealingLR(opt, T_max=25)], milestones=[5])
    tsched = TS.SequentialLR(topt, [TS.LinearLR(topt, start_factor=0.01, total_iters=5),
                                    TS.CosineAnnealingLR(topt, T_max=25)], milestones=[5])
    _compare(opt, topt, sched, tsched, 30)


@pytest.mark.parametrize("kind, kw", [("SGD", dict(momentum=0.9)), ("Adam", dict()),
                                      ("AdamW", dict())])
@pytest.mark.parametrize("options", [dict(), dict(anneal_strategy="linear", pct_start=0.4),
                                     dict(three_phase=True, div_factor=10.0),
                                     dict(cycle_momentum=False)])
def test_one_cycle_matches_torch_rates_and_momentum(kind, kw, options):
    opt, topt = _pair(kind, **kw)
    sched = nc.OneCycleLR(opt, max_lr=[0.5, 0.05], total_steps=37, **options)
    tsched = TS.OneCycleLR(topt, max_lr=[0.5, 0.05], total_steps=37, **options)
    keys = ("lr", "betas" if kind != "SGD" else "momentum")
    _compare(opt, topt, sched, tsched, 37, keys=keys)
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()


@pytest.mark.parametrize("options", [dict(), dict(mode="max", factor=0.5, patience=2,
                                                   cooldown=1, min_lr=[0.01, 0.005]),
                                     dict(threshold_mode="abs", threshold=0.1, patience=0)])
def test_reduce_on_plateau_matches_torch(options):
    opt, topt = _pair()
    values = list(np.r_[np.linspace(1, 0.5, 5), np.full(20, 0.5), np.linspace(0.5, 0.9, 15)])
    _compare(opt, topt, nc.ReduceLROnPlateau(opt, **options),
             TS.ReduceLROnPlateau(topt, **options), len(values), values=values)


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4))
    return x, (x[:, 0] > 0).astype(np.int64)


def _model():
    return nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 2)], seed=0)


def test_one_cycle_steps_per_batch_in_fit_as_a_hand_loop():
    x, y = _data()
    m1, m2 = _model(), _model()
    o1, o2 = nc.SGD(m1.parameters(), lr=0.1), nc.SGD(m2.parameters(), lr=0.1)
    s1 = nc.OneCycleLR(o1, max_lr=0.5, epochs=3, steps_per_epoch=4)
    h = m1.fit(x, y, loss="cross_entropy", optimizer=o1, lr_scheduler=s1, epochs=3,
               batch_size=16, shuffle=False, verbose=0)
    assert h.engine == "native"  # one step a call, the schedule stepped between
    s2 = nc.OneCycleLR(o2, max_lr=0.5, epochs=3, steps_per_epoch=4)
    loss_fn = nc.CrossEntropyLoss()
    rates = []
    for _ in range(3):
        for xb, yb in nc.batches(x, y, batch_size=16):
            loss_fn(m2.forward(xb), yb)
            m2.backward(loss_fn.backward())
            o2.step()
            m2.zero_grad()
            s2.step()
        rates.append(o2.lr)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert h.history["learning_rate"] == rates


def test_reduce_on_plateau_in_fit_reads_the_monitored_log():
    x, y = _data()
    model = _model()
    opt = nc.SGD(model.parameters(), lr=1e-3)  # slow: never 50% better, a plateau
    sched = nc.ReduceLROnPlateau(opt, patience=1, factor=0.5, threshold=0.5)
    h = model.fit(x, y, loss="cross_entropy", optimizer=opt, lr_scheduler=sched, epochs=6,
                  validation_split=0.25, verbose=0, seed=0)
    assert h.history["learning_rate"] == pytest.approx(
        [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4], rel=1e-15)
    with pytest.warns(RuntimeWarning, match="monitored value 'val_f1'"):
        model.fit(x, y, optimizer=opt, epochs=1, verbose=0,
                  lr_scheduler=nc.ReduceLROnPlateau(opt, monitor="val_f1"))


def test_schedule_state_dict_resumes_the_same_rates():
    opt, _ = _pair()
    sched = nc.SequentialLR(opt, [nc.LinearLR(opt, total_iters=4),
                                  nc.ExponentialLR(opt, gamma=0.8)], milestones=[4])
    for _ in range(6):
        sched.step()
    saved, opt_saved = sched.state_dict(), opt.state_dict()
    later = [sched.step() for _ in range(5)]
    opt2, _ = _pair()
    sched2 = nc.SequentialLR(opt2, [nc.LinearLR(opt2, total_iters=4),
                                    nc.ExponentialLR(opt2, gamma=0.8)], milestones=[4])
    opt2.load_state_dict(opt_saved)
    sched2.load_state_dict(saved)
    assert [sched2.step() for _ in range(5)] == later


def test_schedules_on_an_unbound_optimizer_act_once_fit_binds_it():
    x, y = _data()
    runs = []
    for bound in (True, False):
        model = _model()
        opt = nc.SGD(model.parameters() if bound else None, lr=0.1)
        sched = nc.OneCycleLR(opt, max_lr=0.3, epochs=2, steps_per_epoch=4)
        model.fit(x, y, loss="cross_entropy", optimizer=opt, lr_scheduler=sched, epochs=2,
                  batch_size=16, shuffle=False, verbose=0)
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    opt = nc.Adam(lr=0.1)
    plateau = nc.ReduceLROnPlateau(opt, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    assert opt.lr == pytest.approx(0.01)


@pytest.mark.parametrize("make", [
    lambda m, groups: (m.AdamW(groups, lr=1e-3, amsgrad=True),
                       lambda o: m_sched(m).OneCycleLR(o, max_lr=[0.02, 0.01], total_steps=12)),
    lambda m, groups: (m.RMSprop(groups, lr=1e-3, momentum=0.5, centered=True),
                       lambda o: m_sched(m).LinearLR(o, start_factor=0.2, total_iters=6)),
])
def test_fit_trains_as_a_torch_loop_with_groups_and_a_per_batch_schedule(make):
    """fit (python engine, float64) against the same training written in torch: AdamW or
    RMSprop over two param groups, a schedule stepped after every batch."""
    x, y = _data()
    model = nc.Sequential([nc.Dense(4, 8, "tanh"), nc.Dense(8, 2)], seed=0, dtype="float64")
    tmodel = model.to_torch().double()
    ours, sched_of = make(nc, [{"params": model.layers[0].parameters()},
                               {"params": model.layers[1].parameters(), "lr": 5e-3}])
    sched = sched_of(ours)
    sched.interval = "step"
    theirs, tsched_of = make(torch.optim, [{"params": list(tmodel[0].parameters())},
                                           {"params": list(tmodel[-1].parameters()),
                                            "lr": 5e-3}])
    tsched = tsched_of(theirs)
    h = model.fit(x, y, loss="cross_entropy", optimizer=ours, lr_scheduler=sched, epochs=3,
                  batch_size=16, shuffle=False, verbose=0)
    assert h.engine == "native"
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(3):
        for i in range(0, 64, 16):
            theirs.zero_grad()
            torch.nn.functional.cross_entropy(tmodel(xt[i:i + 16]), yt[i:i + 16]).backward()
            theirs.step()
            tsched.step()
    ref = nc.Sequential.from_torch(tmodel, dtype="float64")
    for a, b in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=1e-12)


def m_sched(m):
    return nc if m is nc else TS
