"""The native training engine against the python one: the same bits for the same seed.

engine="python" (python/nncore/training.py) is the specification; engine="native"
(csrc/core/train.cpp) must reproduce its weights, optimiser state and History exactly,
for every layer, loss, optimiser option, schedule, clipping, weighting and thread count.
"""
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import nncore as nc

DTYPES = ["float32", "float64"]


def data(kind, n=97, features=6, outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    if kind == "labels":
        y = rng.integers(0, outputs, n)
    elif kind == "probs":
        y = rng.dirichlet(np.ones(outputs), n)
    elif kind == "binary":
        y = (rng.random((n, outputs)) > 0.5).astype(float)
    else:
        y = rng.standard_normal((n, outputs))
    return x, y


def model(dtype, acts=("relu", "tanh"), features=6, outputs=3, extra=(), bias=True):
    layers = [nc.Dense(features, 8, acts[0], use_bias=bias), nc.Dense(8, 5, acts[1])]
    layers += [layer() for layer in extra]
    layers.append(nc.Dense(5, outputs))
    return nc.Sequential(layers, seed=3, dtype=dtype)


def fit_both(make_model, x, y, threads=None, make_opt=None, make_sched=None, **kw):
    """Fit twin models with each engine; returns [(model, history), ...]."""
    results = []
    for engine in ("python", "native"):
        m = make_model()
        opt = make_opt() if make_opt else nc.SGD(lr=0.05)
        if make_sched is not None:
            opt.bind(m.parameters())
            kw["lr_scheduler"] = make_sched(opt)
        ctx = nc.threads(threads) if threads else nc.threads(nc.get_num_threads())
        with ctx:
            h = m.fit(x, y, optimizer=opt, verbose=0, engine=engine, **kw)
        results.append((m, h))
    return results


def assert_same(results):
    (m1, h1), (m2, h2) = results
    assert h1.engine == "python" and h2.engine == "native"
    for (name, p1), (_, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert p1.data.tobytes() == p2.data.tobytes(), f"{name} differs between engines"
        assert p1.grad.tobytes() == p2.grad.tobytes(), f"{name}.grad differs"
    assert m1.optimizer.steps == m2.optimizer.steps
    s1, s2 = m1.optimizer.state_arrays(), m2.optimizer.state_arrays()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert s1[k].tobytes() == s2[k].tobytes(), f"optimizer state {k} differs"
    assert h1.epochs == h2.epochs
    assert set(h1.keys()) == set(h2.keys())
    for k in h1.keys():
        if k != "epoch_time":
            assert h1[k] == h2[k], f"history[{k!r}] differs"
    assert h1.interrupted == h2.interrupted


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("acts", [("relu", "tanh"), ("sigmoid", "leaky_relu"),
                                  ("identity", "relu")])
@pytest.mark.parametrize("threads", [1, 2])
def test_activations_and_threads(dtype, acts, threads):
    x, y = data("labels")
    assert_same(fit_both(lambda: model(dtype, acts), x, y, threads=threads,
                         loss="cross_entropy", epochs=3, batch_size=16, seed=1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,loss", [("regression", "mse"), ("binary", "bce_with_logits"),
                                       ("labels", "cross_entropy"),
                                       ("probs", "cross_entropy")])
def test_losses(dtype, kind, loss):
    x, y = data(kind)
    assert_same(fit_both(lambda: model(dtype), x, y, loss=loss, epochs=3, batch_size=10,
                         seed=2))


@pytest.mark.parametrize("extra", [[nc.ReLU], [nc.Tanh, nc.Sigmoid], [nc.LeakyReLU],
                                   [nc.Identity]])
def test_activation_layers_fused_or_alone(extra):
    # Dense(identity) + activation fuses; a second activation runs as a layer of its own.
    x, y = data("labels")
    make = lambda: model("float64", ("relu", "identity"), extra=[e for e in extra])
    assert_same(fit_both(make, x, y, loss="cross_entropy", epochs=2, batch_size=20, seed=0))


def test_first_layer_an_activation_and_no_bias():
    x, y = data("regression")
    make = lambda: nc.Sequential([nc.Tanh(), nc.Dense(6, 4, "relu", use_bias=False),
                                  nc.Dense(4, 3, use_bias=False)], seed=1, dtype="float64")
    assert_same(fit_both(make, x, y, loss="mse", epochs=3, batch_size=8, seed=0))


OPTIMIZERS = {
    "sgd": lambda: nc.SGD(lr=0.05),
    "momentum": lambda: nc.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: nc.SGD(lr=0.05, momentum=0.8, nesterov=True),
    "dampening_wd": lambda: nc.SGD(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.01),
    "adam": lambda: nc.Adam(lr=0.01),
    "adam_wd": lambda: nc.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "clip_norm": lambda: nc.SGD(lr=0.5, momentum=0.9, clip_norm=0.1),
    "clip_value": lambda: nc.Adam(lr=0.01, clip_value=0.01),
    "clip_both": lambda: nc.SGD(lr=0.3, clip_value=0.05, clip_norm=0.2),
    "adamw": lambda: nc.AdamW(lr=0.01, weight_decay=0.05),
    "adam_amsgrad_decay": lambda: nc.Adam(lr=0.01, amsgrad=True, weight_decay=0.01),
    "adamw_amsgrad_clip": lambda: nc.AdamW(lr=0.01, amsgrad=True, clip_norm=0.5),
    "rmsprop": lambda: nc.RMSprop(lr=0.005),
    "rmsprop_momentum_centered": lambda: nc.RMSprop(lr=0.005, momentum=0.9, centered=True,
                                                    weight_decay=0.01),
}


GROUPED = {  # parameter groups: each its own rate and options
    "sgd": lambda m: nc.SGD([{"params": m.layers[0].parameters(), "momentum": 0.9},
                             {"params": m.layers[1].parameters(), "lr": 0.01}], lr=0.05),
    "adamw_amsgrad": lambda m: nc.AdamW([{"params": m.layers[0].parameters(), "amsgrad": True},
                                         {"params": m.layers[1].parameters(), "lr": 3e-3,
                                          "weight_decay": 0.0}], lr=0.01),
    "rmsprop": lambda m: nc.RMSprop([{"params": m.layers[0].parameters(), "centered": True},
                                     {"params": m.layers[1].parameters(), "momentum": 0.5}],
                                    lr=0.004),
}


@pytest.mark.parametrize("schedule", [False, True])
@pytest.mark.parametrize("name", sorted(GROUPED))
def test_parameter_groups_train_natively_bitwise_as_python(name, schedule):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((60, 5))
    y = rng.integers(0, 3, 60)
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential([nc.Dense(5, 12, "relu"), nc.Dense(12, 3)], seed=1)
        opt = GROUPED[name](m)
        kw = {"lr_scheduler": nc.StepLR(opt, step_size=1, gamma=0.5)} if schedule else {}
        h = m.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=16, seed=0,
                  verbose=0, engine=engine, **kw)
        assert h.engine == engine
        runs[engine] = (h.history["loss"], m.get_weights(), opt.state_arrays(),
                        [g["lr"] for g in opt.param_groups])
    (lp, wp, sp, rp), (ln, wn, sn, rn) = runs["python"], runs["native"]
    assert lp == ln and rp == rn and sp.keys() == sn.keys()
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)
    for k in sp:
        np.testing.assert_array_equal(sp[k], sn[k])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_and_clipping(dtype, name):
    x, y = data("labels")
    assert_same(fit_both(lambda: model(dtype), x, y, make_opt=OPTIMIZERS[name],
                         loss="cross_entropy", epochs=3, batch_size=16, seed=4))


SCHEDULES = {
    "step": lambda opt: nc.StepLR(opt, step_size=2, gamma=0.5),
    "exponential": lambda opt: nc.ExponentialLR(opt, gamma=0.9),
    "cosine": lambda opt: nc.CosineAnnealingLR(opt, T_max=3, eta_min=0.001),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("batch_size", [None, 32])
def test_schedules_over_many_epochs_per_call(name, batch_size):
    # Full batch: many epochs run in one native call, the schedule stepped natively.
    x, y = data("regression", n=40)
    results = fit_both(lambda: model("float64"), x, y, make_sched=SCHEDULES[name],
                       make_opt=lambda: nc.SGD(lr=0.1, momentum=0.5), loss="mse",
                       epochs=12, batch_size=batch_size, seed=0)
    assert_same(results)
    assert len(set(results[1][1]["lr"])) > 1  # the rate did change


@pytest.mark.parametrize("dtype", DTYPES)
def test_class_and_sample_weights(dtype):
    x, y = data("labels")
    w = np.random.default_rng(5).random(len(x))
    assert_same(fit_both(lambda: model(dtype), x, y, loss="cross_entropy", epochs=2,
                         batch_size=16, seed=0, sample_weight=w,
                         class_weight={0: 2.0, 1: 0.5, 2: 1.0}))


def test_validation_split_and_early_stopping():
    x, y = data("labels", n=150)
    results = fit_both(lambda: model("float64"), x, y, loss="cross_entropy", epochs=30,
                       batch_size=16, seed=0, validation_split=0.2,
                       make_opt=lambda: nc.SGD(lr=0.5, momentum=0.9),
                       callbacks=[nc.EarlyStopping(patience=2, restore_best_weights=True)])
    assert_same(results)
    assert len(results[1][1]["loss"]) < 30  # it stopped early


def test_validation_data_no_shuffle_and_a_ragged_last_batch():
    x, y = data("binary", n=53)
    xv, yv = data("binary", n=20, seed=9)
    assert_same(fit_both(lambda: model("float32"), x, y, loss="bce_with_logits", epochs=3,
                         batch_size=7, shuffle=False, validation_data=(xv, yv)))


def test_repeated_fits_continue_the_same_state():
    x, y = data("labels")
    results = []
    for engine in ("python", "native"):
        m = model("float32")
        opt = nc.Adam(lr=0.01)
        for seed in (0, 1):
            h = m.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=16,
                      seed=seed, verbose=0, engine=engine)
        results.append((m, h))
    assert_same(results)


def test_auto_picks_native_and_says_why_not():
    x, y = data("labels")
    h = model("float32").fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert h.engine == "native"
    m = nc.Sequential([nc.Dense(6, 3), nc.Softmax()], seed=0)
    with warnings.catch_warnings():  # a last Softmax with cross-entropy: the logits, exactly
        warnings.simplefilter("error")
        h = m.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert h.engine == "native"  # the loss applies the last softmax: the engine leaves it out
    inner = nc.Sequential([nc.Dense(6, 3), nc.Softmax(axis=0), nc.Dense(3, 3)], seed=0)
    h = inner.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert h.engine == "python"  # a softmax over the batch axis has no native op
    with pytest.raises(ValueError, match="Softmax"):
        inner.fit(x, y, loss="cross_entropy", epochs=1, verbose=0, engine="native")
    with pytest.raises(ValueError, match="engine must be one of"):
        m.fit(x, y, epochs=1, engine="fast")


class _PerStep(nc.Callback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, step, logs=None):
        self.steps += 1


def test_auto_falls_back_for_per_step_callbacks_with_a_notice(capsys):
    x, y = data("labels")
    cb = _PerStep()
    h = model("float32").fit(x, y, loss="cross_entropy", epochs=1, verbose=1, callbacks=[cb])
    assert h.engine == "python" and cb.steps > 0
    assert "python engine runs this fit (the callback _PerStep needs per-step hooks)" in \
        capsys.readouterr().out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_health_is_gathered_natively_bitwise_as_python(dtype, threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((90, 6))
    y = rng.integers(0, 3, 90)
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential([nc.Dense(6, 16, "relu"), nc.Dense(16, 8, "sigmoid"),
                           nc.Dense(8, 8), nc.Tanh(), nc.Dense(8, 3)], seed=2, dtype=dtype)
        with nc.threads(threads):
            h = m.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.5, momentum=0.9),
                      epochs=3, batch_size=16, seed=0, health=True, verbose=0,
                      validation_split=0.2, engine=engine)
        assert h.engine == engine
        runs[engine] = (h.health, h.history, m.get_weights())
    (hp, lp, wp), (hn, ln, wn) = runs["python"], runs["native"]
    assert hp == hn and lp["loss"] == ln["loss"]
    assert set(hp) == {"dense_0", "dense_1", "dense_2", "dense_4"}
    assert hp["dense_2"]["activation"] == "tanh" and len(hp["dense_0"]["dead"]) == 3
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)


def test_layer_health_against_numpy(rng):
    from nncore import _core
    w_before = rng.standard_normal((7, 5))
    w = w_before + 0.01 * rng.standard_normal((7, 5))
    g = rng.standard_normal((7, 5))
    y = np.abs(rng.standard_normal((9, 5)))
    y[:, 2] = 0.0                      # a dead unit (relu)
    prev = w_before.copy()
    gn, wn, ratio, sat, dead = _core._layer_health(w, prev, g, y, "relu")
    np.testing.assert_array_equal(prev, w)   # prev becomes the new weights
    assert gn == pytest.approx(np.sqrt(np.sum(g ** 2)), rel=1e-14)
    assert wn == pytest.approx(np.sqrt(np.sum(w ** 2)), rel=1e-14)
    assert ratio == pytest.approx(np.sqrt(np.sum((w - w_before) ** 2)) /
                                  np.sqrt(np.sum(w_before ** 2)), rel=1e-12)
    assert dead == 1 / 5 and sat == 0.0
    s = 1 / (1 + np.exp(-4 * rng.standard_normal((9, 5))))
    assert _core._layer_health(w, prev, g, s, "sigmoid")[3] == np.mean((s < 0.01) | (s > 0.99))
    t = np.tanh(4 * rng.standard_normal((9, 5)))
    assert _core._layer_health(w, prev, g, t, "tanh")[3] == np.mean(np.abs(t) > 0.99)


@pytest.mark.parametrize("engine", ["python", "native"])
def test_nonfinite_loss_names_the_same_place(engine):
    x, y = data("regression")
    m = model("float32")
    with pytest.raises(nc.NonFiniteLossError) as info:
        m.fit(x, y * 1e30, loss="mse", optimizer=nc.SGD(lr=10.0), epochs=5, batch_size=8,
              seed=0, verbose=0, engine=engine)
    message = str(info.value)
    assert "epoch" in message and "step" in message and "layer" in message
    test_nonfinite_loss_names_the_same_place.messages[engine] = message
    if len(test_nonfinite_loss_names_the_same_place.messages) == 2:
        msgs = test_nonfinite_loss_names_the_same_place.messages
        assert msgs["python"] == msgs["native"]


test_nonfinite_loss_names_the_same_place.messages = {}


def test_ctrl_c_stops_a_long_native_epoch_quickly_and_keeps_the_model():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200_000, 64)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    m = nc.Sequential([nc.Dense(64, 256, "relu"), nc.Dense(256, 10)], seed=0)
    sent = []

    def interrupt():
        # Once training has run (the first chunk has returned): a Ctrl-C before fit has
        # set up its handler is a plain KeyboardInterrupt, as it should be, and a slow
        # machine (or a sanitizer build) can take longer than any fixed delay to get here.
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            opt = getattr(m, "optimizer", None)
            if opt is not None and opt.steps > 0:
                break
            time.sleep(0.01)
        time.sleep(0.2)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.warns(RuntimeWarning, match="interrupted at epoch"):
        h = m.fit(x, y, loss="cross_entropy", epochs=50, batch_size=32, verbose=0,
                  engine="native")
    stopped = time.perf_counter()
    assert h.interrupted and h.engine == "native"
    assert stopped - sent[0] < 1.0  # a chunk is 0.05 s of work
    assert m.optimizer.steps > 0
    assert all(np.all(np.isfinite(p.data)) for p in m.parameters())
    # The model goes on training from where it stopped.
    m.fit(x[:64], y[:64], loss="cross_entropy", epochs=1, verbose=0)


def test_native_fit_continues_numpys_random_stream():
    # After a native fit the generator state is where the python engine leaves it: a
    # second epoch's shuffle (and so the whole run) matches across engines (tested
    # above); here the raw permutation is checked against numpy for awkward sizes.
    for n in (1, 2, 3, 5, 64, 1000, 4097):
        x, y = data("regression", n=n)
        assert_same(fit_both(lambda: model("float64"), x, y, loss="mse", epochs=2,
                             batch_size=max(n // 3, 1), seed=n))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,kind", [("cross_entropy", "labels"), ("mse", "regression")])
def test_train_on_batch_native_equals_the_python_step(dtype, loss, kind):
    x, y = data(kind, n=40)
    native, python = model(dtype), model(dtype)
    opt_n, opt_p = nc.SGD(lr=0.1, momentum=0.9), nc.SGD(lr=0.1, momentum=0.9)
    opt_p.bind(python.parameters())
    loss_p = nc.losses.get(loss)
    w = np.random.default_rng(1).random(40)
    for step in range(6):
        sl = slice(10 * (step % 4), 10 * (step % 4) + 10)
        got = native.train_on_batch(x[sl], y[sl], loss=loss, optimizer=opt_n,
                                    sample_weight=w[sl])
        out = python.forward(x[sl].astype(dtype))
        want = loss_p(out, y[sl] if kind == "labels" else y[sl].astype(dtype),
                      sample_weight=w[sl].astype(dtype))
        python.backward(loss_p.backward())
        opt_p.step()
        assert got == want
    assert native.batch_engine is not None  # the native path ran (and was reused)
    for p, q in zip(native.parameters(), python.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


NORM_MODELS = {
    "bn_relu": lambda d: [nc.Dense(6, 16), nc.BatchNorm1d(16), nc.ReLU(), nc.Dense(16, 3)],
    "bn_first_cumulative": lambda d: [nc.BatchNorm1d(6, momentum=None), nc.Dense(6, 8, "tanh"),
                                      nc.BatchNorm1d(8, affine=False), nc.Dense(8, 3)],
    "bn_untracked": lambda d: [nc.Dense(6, 8), nc.BatchNorm1d(8, track_running_stats=False),
                               nc.Sigmoid(), nc.Dense(8, 3)],
    "ln": lambda d: [nc.Dense(6, 16, "relu"), nc.LayerNorm(16), nc.Dense(16, 8),
                     nc.LayerNorm(8, elementwise_affine=False), nc.Tanh(), nc.Dense(8, 3)],
    "ln_first_dropout": lambda d: [nc.LayerNorm(6), nc.Dense(6, 8, "relu"), nc.Dropout(0.2),
                                   nc.Dense(8, 3)],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(NORM_MODELS))
def test_norm_layers_train_natively_bitwise_as_python(name, threads, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((70, 6)) * 3 + 1
    y = rng.integers(0, 3, 70)
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential(NORM_MODELS[name](dtype), seed=3, dtype=dtype)
        with nc.threads(threads):
            h = m.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                      batch_size=16, seed=0, verbose=0, validation_split=0.2,
                      engine=engine)
        assert h.engine == engine
        buffers = [{k: np.array(v) for k, v in layer.buffers().items()}
                   for layer in m.layers if hasattr(layer, "buffers")]
        runs[engine] = (h.history, m.get_weights(), buffers, m.predict(x))
    (hp, wp, bp, pp), (hn, wn, bn, pn) = runs["python"], runs["native"]
    assert hp["loss"] == hn["loss"] and hp["val_loss"] == hn["val_loss"]
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(bp, bn):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(pp, pn)


def test_batch_norm_with_a_last_batch_of_one_row_says_so():
    x = np.random.default_rng(0).standard_normal((33, 4))
    m = nc.Sequential([nc.Dense(4, 5), nc.BatchNorm1d(5), nc.Dense(5, 1)], seed=0)
    with pytest.raises(ValueError, match="batch statistics need more than one row"):
        m.fit(x, x[:, 0], loss="mse", batch_size=8, epochs=1, verbose=0)  # 33 = 4 * 8 + 1
    with pytest.raises(ValueError, match="engine='native' cannot run.*batch of one row"):
        m.fit(x, x[:, 0], loss="mse", batch_size=8, epochs=1, verbose=0, engine="native")



BLOCK_MODELS = {
    "mnist1d": lambda: [nc.Dense(8, 16, "relu"), nc.Residual(nc.Dense(16, 16, "relu")),
                        nc.Dense(16, 3)],
    "first_nested": lambda: [nc.Residual(nc.Dense(8, 8), nc.Tanh(),
                                         nc.Residual(nc.Dense(8, 8, "sigmoid"),
                                                     nc.Dropout(0.2))),
                             nc.Dense(8, 3, "softmax")],
    "flatten_norms": lambda: [nc.Flatten(), nc.Dense(8, 12), nc.BatchNorm1d(12), nc.ReLU(),
                              nc.Residual(nc.LayerNorm(12), nc.Dense(12, 12, "leaky_relu")),
                              nc.Dense(3)],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(BLOCK_MODELS))
def test_residual_and_flatten_train_natively_bitwise_as_python(name, threads, dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((70, 8))
    if name == "flatten_norms":
        x = x.reshape(70, 2, 4)
    y = rng.integers(0, 3, 70)
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential(*BLOCK_MODELS[name](), seed=3, dtype=dtype)
        with nc.threads(threads):
            h = m.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                      batch_size=16, seed=0, verbose=0, validation_split=0.2, health=True,
                      engine=engine)
        assert h.engine == engine
        runs[engine] = (h.history, h.health, m.get_weights(), m.predict(x))
    (hp, healthp, wp, pp), (hn, healthn, wn, pn) = runs["python"], runs["native"]
    assert {k: v for k, v in hp.items() if k != "epoch_time"} == \
        {k: v for k, v in hn.items() if k != "epoch_time"}
    top_dense = {"mnist1d": {"dense_0", "dense_2"}, "first_nested": {"dense_1"},
                 "flatten_norms": {"dense_1", "dense_5"}}[name]  # not those inside a block
    assert healthp == healthn and set(healthp) == top_dense
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pp, pn)


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("shuffle", [True, False])
def test_metrics_are_gathered_natively_as_python(shuffle, weighted):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((90, 6))
    y = rng.integers(0, 3, 90)
    w = rng.random(90)
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential([nc.Dense(6, 10, "relu"), nc.Dense(10, 3)], seed=2)
        h = m.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1), epochs=3,
                  batch_size=16, seed=0, verbose=0, shuffle=shuffle,
                  sample_weight=w if weighted else None,
                  metrics=["accuracy", "f1", "auc", "top_k_accuracy", "precision"],
                  validation_split=0.2, engine=engine)
        assert h.engine == engine
        runs[engine] = {k: v for k, v in h.history.items() if k != "epoch_time"}
    assert runs["python"] == runs["native"]
    assert list(runs["python"]) == list(runs["native"])  # the same columns, in order
    assert {"f1", "val_f1", "auc", "val_auc", "learning_rate"} <= set(runs["native"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_softmax_inside_the_model_trains_natively(threads, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 5))
    y = rng.standard_normal((50, 2))
    runs = {}
    for engine in ("python", "native"):
        m = nc.Sequential([nc.Dense(5, 6, "softmax"), nc.Dense(6, 4), nc.Softmax(),
                           nc.Dense(4, 2)], seed=1, dtype=dtype)
        with nc.threads(threads):
            h = m.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.3), epochs=3, batch_size=8,
                      seed=0, verbose=0, engine=engine)
        assert h.engine == engine
        runs[engine] = (h.history["loss"], m.get_weights())
    assert runs["python"][0] == runs["native"][0]
    for a, b in zip(runs["python"][1], runs["native"][1]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="Softmax.*has no native op"):
        nc.Sequential([nc.Dense(5, 6), nc.Softmax(axis=0), nc.Dense(6, 2)], seed=1).fit(
            x, y, loss="mse", epochs=1, verbose=0, engine="native")
