import numpy as np
import pytest

import nncore as nc


def small_model(seed=0):
    return nc.Sequential([nc.Dense(2, 16, "tanh"), nc.Dense(16, 3)], seed=seed)


def test_early_stopping_restores_best_weights(rng):
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)          # noise: validation loss soon stops improving
    model = small_model()
    stopper = nc.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    best = {}

    class Spy(nc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = [p.data.copy() for p in self.model.parameters()]

    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.5), epochs=200,
                        batch_size=8, validation_split=0.25, seed=0, verbose=0,
                        callbacks=[Spy(), stopper])
    assert stopper.stopped_epoch is not None and len(history["loss"]) < 200
    assert stopper.stopped_epoch == stopper.best_epoch + 2       # patience 2
    assert len(history["loss"]) == stopper.stopped_epoch + 1
    for p, w in zip(model.parameters(), best[stopper.best_epoch]):
        np.testing.assert_array_equal(p.data, w)
    assert min(history["val_loss"]) == stopper.best


def test_early_stopping_without_restore_keeps_last_weights(rng):
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = small_model()
    stopper = nc.EarlyStopping(patience=1, restore_best_weights=False)
    last = {}

    class Spy(nc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last["w"] = [p.data.copy() for p in self.model.parameters()]

    model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.5), epochs=200, batch_size=8,
              validation_split=0.25, seed=0, verbose=0, callbacks=[Spy(), stopper])
    assert stopper.stopped_epoch is not None
    for p, w in zip(model.parameters(), last["w"]):
        np.testing.assert_array_equal(p.data, w)


def test_early_stopping_modes_and_errors(rng):
    assert nc.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert nc.EarlyStopping(monitor="loss").mode == "min"
    with pytest.raises(ValueError, match="mode"):
        nc.EarlyStopping(mode="up")
    stopper = nc.EarlyStopping(monitor="accuracy", patience=3, min_delta=0.5)
    stopper.model = small_model()
    stopper.on_train_begin()
    for epoch, acc in enumerate([0.1, 0.5, 0.59, 0.6]):   # +0.5 needed to count
        stopper.on_epoch_end(epoch, {"accuracy": acc})
    assert stopper.best == 0.1 and stopper.stopped_epoch == 3
    with pytest.raises(ValueError, match="val_loss"):
        small_model().fit(rng.standard_normal((8, 2)), rng.integers(0, 3, 8),
                          loss="cross_entropy", epochs=2, verbose=0,
                          callbacks=[nc.EarlyStopping()])   # no validation data


def test_early_stopping_has_keras_defaults():
    import inspect
    defaults = {k: v.default for k, v in
                inspect.signature(nc.EarlyStopping).parameters.items()}
    assert defaults == {"monitor": "val_loss", "min_delta": 0.0, "patience": 0, "verbose": 0,
                        "mode": "auto", "baseline": None, "restore_best_weights": False,
                        "start_from_epoch": 0}


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(patience=-1), ValueError, "patience must be >= 0; got -1"),
    (dict(patience=1.5), TypeError, "patience must be an int"),
    (dict(patience=True), TypeError, "patience must be an int"),
    (dict(start_from_epoch=-2), ValueError, "start_from_epoch must be >= 0"),
    (dict(min_delta=float("nan")), ValueError, "min_delta must be finite"),
    (dict(min_delta="0.1"), TypeError, "min_delta must be a real number"),
    (dict(baseline=float("inf")), ValueError, "baseline must be finite"),
    (dict(monitor=None), TypeError, "monitor must be a str"),
])
def test_early_stopping_arguments_are_checked_when_built(kwargs, error, words):
    with pytest.raises(error, match="^EarlyStopping: " + words.replace("(", r"\(")):
        nc.EarlyStopping(**kwargs)


def watch(stopper, values, key="loss"):
    """Feed ``values`` as epoch logs; the epochs seen before the stop."""
    stopper.model = small_model()
    stopper.model.stop_training = False
    stopper.on_train_begin()
    for epoch, v in enumerate(values):
        stopper.on_epoch_end(epoch, {key: v})
        if stopper.model.stop_training:
            return epoch + 1
    return len(values)


def test_early_stopping_patience_baseline_and_warm_up_as_keras():
    # patience 0 (Keras's default): the first epoch that does not improve stops
    assert watch(nc.EarlyStopping(monitor="loss"), [3.0, 2.0, 2.5, 1.0]) == 3
    # a baseline of 1.5 not beaten: improving epochs still count against patience 2,
    # Keras's rule: the wait restarts only when both the best and the baseline are beaten
    stopper = nc.EarlyStopping(monitor="loss", patience=2, baseline=1.5)
    assert watch(stopper, [3.0, 2.0, 2.5, 2.6, 1.0]) == 3 and stopper.best == 2.0
    assert watch(nc.EarlyStopping(monitor="loss", patience=2, baseline=2.5),
                 [3.0, 2.0, 2.5, 2.6, 1.0]) == 4
    # start_from_epoch: the first two epochs are not watched (and never stop)
    stopper = nc.EarlyStopping(monitor="loss", start_from_epoch=2)
    assert watch(stopper, [1.0, 5.0, 4.0, 3.0, 3.5]) == 5
    assert stopper.best == 3.0 and stopper.best_epoch == 3 and stopper.stopped_epoch == 4


def test_early_stopping_restores_best_weights_when_training_runs_to_the_end(rng):
    """Keras 3: with restore_best_weights, the best epoch's weights come back at the end
    of training even when patience never ran out."""
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    seen = []

    class Spy(nc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([p.data.copy() for p in self.model.parameters()])

    stopper = nc.EarlyStopping(patience=100, restore_best_weights=True)
    model = small_model()
    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.5), epochs=30,
                        batch_size=8, validation_split=0.25, seed=0, verbose=0,
                        callbacks=[Spy(), stopper])
    best = int(np.argmin(history["val_loss"]))
    assert stopper.stopped_epoch is None and best < 29 and stopper.best_epoch == best
    for p, w in zip(model.parameters(), seen[best]):
        np.testing.assert_array_equal(p.data, w)


def test_a_single_callback_needs_no_list(rng):
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    kw = dict(loss="cross_entropy", optimizer="sgd", epochs=50, batch_size=8,
              validation_split=0.25, seed=0, verbose=0)
    alone, listed = nc.EarlyStopping(patience=1), nc.EarlyStopping(patience=1)
    h1 = small_model().fit(x, y, callbacks=alone, **kw)
    h2 = small_model().fit(x, y, callbacks=[listed], **kw)
    assert alone.stopped_epoch is not None and alone.stopped_epoch == listed.stopped_epoch
    assert h1["val_loss"] == h2["val_loss"]
    assert nc.callbacks.as_callback_list(None) == []
    assert nc.callbacks.as_callback_list((alone, listed)) == [alone, listed]


@pytest.mark.parametrize("bad, words", [
    (nc.EarlyStopping, "callbacks must be a Callback or a list"),       # the class, not one
    ("early", "callbacks must be a Callback or a list"),
    ([nc.EarlyStopping(), print], r"callbacks\[1\] is a builtin_function_or_method, not a "
                                  "callback"),
])
def test_callbacks_that_are_not_callbacks_are_named(rng, bad, words):
    with pytest.raises(TypeError, match="^fit: " + words):
        small_model().fit(rng.standard_normal((8, 2)), rng.integers(0, 3, 8),
                          loss="cross_entropy", epochs=1, verbose=0, callbacks=bad)


def test_callback_hooks_are_called_in_order(rng):
    calls = []

    class Recorder(nc.Callback):
        def on_train_begin(self, logs=None):
            calls.append("begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"e{epoch}")

        def on_step_end(self, step, logs=None):
            calls.append(f"s{step}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"/e{epoch}")
            assert "loss" in logs and "accuracy" in logs

        def on_train_end(self, logs=None):
            calls.append("end")

    small_model().fit(rng.standard_normal((10, 2)), rng.integers(0, 3, 10), loss="cross_entropy",
                      epochs=2, batch_size=5, verbose=0, callbacks=[Recorder()])
    assert calls == ["begin", "e0", "s0", "s1", "/e0", "e1", "s0", "s1", "/e1", "end"]


def test_gradient_health_flags_deep_sigmoid_not_relu():
    x, y = nc.spirals(n=60, classes=3, seed=0)
    flags = {}
    for act in ("sigmoid", "relu"):
        layers = [nc.Dense(2, 16, act)] + [nc.Dense(16, 16, act) for _ in range(7)] + \
            [nc.Dense(16, 3)]
        model = nc.Sequential(layers, seed=0)
        history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05), epochs=2,
                            batch_size=32, health=True, verbose=0)
        assert set(history.health) == {f"dense_{i}" for i in range(9)}
        for rec in history.health.values():
            assert len(rec["grad_norm"]) == 2 and all(v > 0 for v in rec["update_ratio"])
        text, flags[act] = nc.health_report(history.health)
        assert "grad norm" in text and history.health_report() == text
    assert flags["sigmoid"].get("dense_0") == "vanishing"
    assert flags["relu"] == {}


def test_health_records_the_right_numbers(rng):
    model = nc.Sequential([nc.Dense(3, 2, "sigmoid")], seed=0, dtype="float64")
    x = rng.standard_normal((4, 3))
    y = rng.random((4, 2))
    w0 = model.layers[0].w.data.copy()
    history = model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=1, batch_size=None,
                        health=True, verbose=0)
    rec = history.health["dense_0"]
    w1 = model.layers[0].w.data
    grad = (w0 - w1) / 0.1                                      # plain SGD: w -= lr * grad
    assert rec["grad_norm"][0] == pytest.approx(np.linalg.norm(grad), rel=1e-9)
    assert rec["weight_norm"][0] == pytest.approx(np.linalg.norm(w1), rel=1e-12)
    assert rec["update_ratio"][0] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0),
                                                   rel=1e-9)
    assert rec["activation"] == "sigmoid"


def test_dead_relu_and_saturation_are_measured():
    model = nc.Sequential([nc.Dense(2, 4, "relu", bias_init=nc.initializers.constant(-100.0)),
                           nc.Dense(4, 3, "sigmoid", bias_init=nc.initializers.constant(50.0)),
                           nc.Dense(3, 2, "tanh"), nc.Dense(2, 1)], seed=0)
    # seed=0: the tanh layer's weights are fixed (|z| <= 0.8 here); unseeded, about 3% of
    # draws put a unit past 0.99 and the last assertion failed by chance.
    x = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32)
    history = model.fit(x, np.zeros((16, 1), np.float32), loss="mse", epochs=1, health=True,
                        optimizer=nc.SGD(lr=0.0), verbose=0)
    assert history.health["dense_0"]["dead"][0] == 1.0
    assert history.health["dense_1"]["saturated"][0] == 1.0
    assert history.health["dense_2"]["saturated"][0] == 0.0


def test_health_report_flags_exploding_and_handles_empty():
    rec = {"weight_norm": [1.0], "update_ratio": [0.1], "saturated": [0.0], "dead": [0.0],
           "activation": "relu"}
    health = {"a": {**rec, "grad_norm": [1e5]}, "b": {**rec, "grad_norm": [float("nan")]},
              "c": {**rec, "grad_norm": [1.0]}}
    text, flags = nc.health_report(health)
    assert flags == {"a": "exploding", "b": "exploding", "c": "vanishing"}
    assert "EXPLODING" in text and "VANISHING" in text
    assert nc.health_report({})[1] == {}


def test_history_plot_writes_png(tmp_path):
    x, y = nc.spirals(n=30, classes=3, seed=0)
    model = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 3)], seed=0)
    history = model.fit(x, y, loss="cross_entropy", epochs=3, health=True,
                        validation_split=0.2, verbose=0)
    assert len(history["val_accuracy"]) == 3 and len(history.health["dense_0"]["grad_norm"]) == 3
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            history.plot(tmp_path / "h.png")
        return
    path = history.plot(tmp_path / "h.png")
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
