"""fit's native trainer kept between fits (training/engines.py _trainer_for,
_Trainer.same_spec / restart): a later fit of the same model restarts the last fit's
trainer only when nothing but the data and the counters changed, and every change of
weights, shapes, dtypes, layers, loss, batching or optimiser options makes a new one. In
every case the native engine's weights, optimiser state and History equal the python
engine's bit for bit, fit after fit."""
import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import nncore as nc


def data(n=90, features=6, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, features)).astype(np.float32),
            rng.standard_normal((n, outputs)).astype(np.float32))


def make_model(extra=()):
    layers = [nc.Dense(6, 8, "relu"), *[layer() for layer in extra], nc.Dense(8, 5, "tanh"),
              nc.Dense(5, 2)]
    return nc.Sequential(layers, seed=3)


def kept(m):
    return m.kept_trainer.trainer if m.kept_trainer is not None else None


def assert_same(m1, h1, m2, h2):
    assert h1.engine == "python" and h2.engine == "native"
    for (name, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert p1.data.tobytes() == p2.data.tobytes(), f"{name} differs between engines"
        assert p1.grad.tobytes() == p2.grad.tobytes(), f"{name}.grad differs"
    assert m1.optimizer.steps == m2.optimizer.steps
    s1, s2 = m1.optimizer.state_arrays(), m2.optimizer.state_arrays()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert s1[k].tobytes() == s2[k].tobytes(), f"optimizer state {k} differs"
    for k in h1.keys():
        if k != "epoch_time":
            assert h1[k] == h2[k], f"history[{k!r}] differs"


def run_both(changes, extra=(), make_opt=lambda: nc.SGD(lr=0.05), **fit_kw):
    """Twin models fitted by each engine, a fit, then for each change: the change made to
    both twins (change(model, x, y) -> (x, y, fit keywords)) and another fit. Returns, per
    fit after the first, whether the native twin's trainer was the one kept before."""
    x, y = data()
    twins = []
    for engine in ("python", "native"):
        m = make_model(extra)
        opt = make_opt()
        kw = dict(loss="mse", optimizer=opt, epochs=2, batch_size=16, verbose=0,
                  engine=engine, **fit_kw)
        twins.append([engine, m, x, y, kw])
    reused = []
    for i, change in enumerate([None, *changes]):
        before = kept(twins[1][1])
        for twin in twins:
            engine, m, xx, yy, kw = twin
            if change is not None:
                xx, yy, more = change(m, xx, yy)
                kw = {**kw, **more}
                twin[2:] = [xx, yy, kw]
            twin.append(m.fit(xx, yy, seed=i, **kw))
        (_, m1, *_, h1), (_, m2, *_, h2) = twins
        assert_same(m1, h1, m2, h2)
        if change is not None:
            reused.append(before is not None and kept(m2) is before)
        for twin in twins:
            twin.pop()
    return reused


def same(m, x, y):
    return x, y, {}


def test_fits_of_the_same_spec_restart_the_kept_trainer():
    # the same arrays, then new rows of the same shape: the kept trainer each time
    def new_rows(m, x, y):
        return x[::-1].copy(), y[::-1].copy(), {}
    assert run_both([same, same, new_rows, same]) == [True] * 4


def test_a_list_or_float64_x_converted_each_fit_still_restarts():
    def as_float64(m, x, y):
        return x.astype(np.float64), y, {}
    assert run_both([as_float64, as_float64]) == [True, True]


CHANGES = {
    "weight replaced": lambda m, x, y: (
        setattr(m.layers[1].w, "data", m.layers[1].w.data.copy()), (x, y, {}))[1],
    "bias replaced": lambda m, x, y: (
        setattr(m.layers[0].b, "data", m.layers[0].b.data + np.float32(0.5)), (x, y, {}))[1],
    "activation": lambda m, x, y: (setattr(m.layers[1], "activation", "sigmoid"),
                                   (x, y, {}))[1],
    "learning rate": lambda m, x, y: (setattr(m.optimizer, "lr", 0.02), (x, y, {}))[1],
    "momentum": lambda m, x, y: (m.optimizer.param_groups[0].update(momentum=0.9),
                                 (x, y, {}))[1],
    "weight decay": lambda m, x, y: (m.optimizer.param_groups[0].update(weight_decay=0.1),
                                     (x, y, {}))[1],
    "clip_norm": lambda m, x, y: (setattr(m.optimizer, "clip_norm", 0.5), (x, y, {}))[1],
    "batch size": lambda m, x, y: (x, y, {"batch_size": 7}),
    "rows": lambda m, x, y: (x[:61], y[:61], {}),
    "loss": lambda m, x, y: (x, y, {"loss": "huber"}),
    "no shuffle": lambda m, x, y: (x, y, {"shuffle": False}),
    "new optimizer with momentum": lambda m, x, y: (
        x, y, {"optimizer": nc.SGD(lr=0.05, momentum=0.5)}),
    "sample weights": lambda m, x, y: (x, y, {"sample_weight": np.linspace(0, 1, len(x))}),
    "gradient replaced": lambda m, x, y: (
        setattr(m.layers[2].w, "grad", np.zeros_like(m.layers[2].w.grad)), (x, y, {}))[1],
    "leaky slope": lambda m, x, y: (m.layers[0].__dict__.update(activation="leaky_relu",
                                                                slope=0.2), (x, y, {}))[1],
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_change_makes_a_new_trainer_and_the_same_bits(name):
    reused = run_both([CHANGES[name], same])
    assert reused == [False, True], reused  # new for the change, kept for the next fit


def test_dropout_counts_and_p_carry_over():
    def new_p(m, x, y):
        m.layers[1].p = 0.3
        return x, y, {}
    assert run_both([same, new_p, same], extra=[lambda: nc.Dropout(0.2, seed=5)]) == \
        [True, False, True]


def test_adam_state_and_steps_carry_over():
    assert run_both([same, same], make_opt=lambda: nc.Adam(lr=0.01)) == [True, True]


def test_health_and_validation_runs_do_not_reuse_but_agree():
    # health=True keeps the weights it saw: never reused; validation runs reuse
    assert run_both([same], health=True) == [False]
    assert run_both([same], validation_split=0.2) == [True]


def test_a_reshaped_or_retyped_array_is_not_the_same_spec():
    from nncore.training import engines
    from nncore.training.run import prepare
    m = make_model()
    x, y = data()
    m.fit(x, y, loss="mse", epochs=1, verbose=0, engine="native")
    trainer = kept(m)
    run = prepare(model=m, x=x, y=y, loss="mse", optimizer=m.optimizer, batch_size=32)
    spec = engines.trainer_spec(m, run, True, True, engines._schedule_spec(None, m.optimizer))
    assert trainer.same_spec(spec)
    w = m.layers[0].w.data
    w.shape = (w.size,)
    assert not trainer.same_spec(spec)
    w.shape = (6, 8)
    assert trainer.same_spec(spec)
    g = m.layers[2].w.grad
    g.dtype = np.int32  # the same bytes, another dtype
    assert not trainer.same_spec(spec)
    g.dtype = np.float32
    assert trainer.same_spec(spec)
    assert not trainer.same_spec({**spec, "n": 89})
    assert not trainer.same_spec({**spec, "x": x[:89]})
    assert not trainer.same_spec({**spec, "huber_delta": np.float64(1.0)})  # unknown type
    assert not trainer.same_spec([spec])


def test_a_failed_fit_leaves_no_trainer_half_way_and_the_next_agrees():
    x, y = data()
    bad = x.copy()
    bad[:, 0] = 1e30  # overflows to inf in the first step
    twins = []
    for engine in ("python", "native"):
        m = make_model()
        opt = nc.SGD(lr=0.05)
        m.fit(x, y, loss="mse", optimizer=opt, epochs=1, verbose=0, engine=engine, seed=0)
        with pytest.raises(nc.NonFiniteLossError):
            m.fit(bad, y * 1e30, optimizer=opt, epochs=1, verbose=0, engine=engine, seed=1)
        h = m.fit(x, y, optimizer=opt, epochs=2, verbose=0, engine=engine, seed=2)
        twins.append((m, h))
    assert_same(*twins[0], *twins[1])


def test_copies_and_pickles_of_a_fitted_model_keep_no_trainer():
    m = make_model()
    x, y = data()
    m.fit(x, y, loss="mse", epochs=1, verbose=0, engine="native")
    assert kept(m) is not None
    for twin in (copy.deepcopy(m), copy.copy(m.kept_trainer), pickle.loads(pickle.dumps(
            m.kept_trainer))):
        holder = twin.kept_trainer if isinstance(twin, nc.Sequential) else twin
        assert holder.trainer is None
    twin = copy.deepcopy(m)
    h1 = m.fit(x, y, epochs=1, verbose=0, engine="native", seed=4)
    h2 = twin.fit(x, y, epochs=1, verbose=0, engine="native", seed=4)
    assert h1["loss"] == h2["loss"]
    for p1, p2 in zip(m.parameters(), twin.parameters()):
        assert p1.data.tobytes() == p2.data.tobytes()


def test_the_kept_trainer_holds_no_data_and_runs_only_after_a_restart():
    m = make_model()
    x, y = data()
    w = np.linspace(0, 1, len(x)).astype(np.float32)
    refs = [weakref.ref(a) for a in (x, y, w)]
    m.fit(x, y, loss="mse", epochs=1, verbose=0, engine="native", sample_weight=w)
    trainer = kept(m)
    assert trainer is not None
    del x, y, w
    gc.collect()
    assert [r() for r in refs] == [None, None, None]  # the model keeps no rows
    with pytest.raises(ValueError, match="restart"):
        trainer.run(1, 1.0, 0.05, None, 0)
