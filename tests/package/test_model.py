import signal

import numpy as np
import pytest

import nncore as nc


def small_model(seed=0, dtype="float32"):
    return nc.Sequential([nc.Dense(2, 16, "tanh"), nc.Dense(16, 3)], seed=seed, dtype=dtype)


def test_fit_learns_spirals_and_reports_history():
    x, y = nc.spirals(n=100, classes=3, noise=0.1, seed=0)
    model = nc.Sequential([nc.Dense(2, 64, "relu"), nc.Dense(64, 64, "relu"), nc.Dense(64, 3)],
                          seed=0)
    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=40,
                        batch_size=32, seed=0, validation_split=0.2, verbose=0)
    for key in ["loss", "accuracy", "val_loss", "val_accuracy", "epoch_time"]:
        assert len(history[key]) == 40
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.9
    assert history["val_accuracy"][-1] > 0.85
    probs = model.predict_proba(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [None, 1, 2])
def test_full_mini_and_single_sample_batches(batch_size):
    x, y = nc.xor(np.float64)
    model = nc.Sequential([nc.Dense(2, 8, "tanh"), nc.Dense(8, 1, "sigmoid")], seed=2,
                          dtype="float64")
    epochs = {None: 1500, 1: 400, 2: 700}[batch_size]
    model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.5, momentum=0.9), epochs=epochs,
              batch_size=batch_size, seed=0, verbose=0)
    assert np.max(np.abs(model.predict(x) - y)) < 0.2


def test_same_seed_same_bits_any_thread_count():
    x, y = nc.spirals(n=60, classes=3, seed=1)
    weights = []
    for threads in (1, 2, 2):
        with nc.threads(threads):
            model = small_model()
            model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1, momentum=0.9),
                      epochs=3, batch_size=16, seed=5, verbose=0)
            weights.append([p.data.copy() for p in model.parameters()])
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            assert np.array_equal(a, b)


def test_validation_split_is_stratified_and_seeded():
    from nncore.model import _split_indices
    y = np.array([0] * 80 + [1] * 20)
    train, val = _split_indices(y, 0.25, 3, nc.CrossEntropyLoss())
    assert np.sum(y[val] == 0) == 20 and np.sum(y[val] == 1) == 5
    again = _split_indices(y, 0.25, 3, nc.CrossEntropyLoss())
    np.testing.assert_array_equal(val, again[1])
    assert len(np.intersect1d(train, val)) == 0


def test_class_weight_changes_the_loss(rng):
    x = rng.standard_normal((40, 2)).astype(np.float32)
    y = (x[:, 0] > 1.0).astype(np.int64)
    base = small_model().fit(x, y, loss="cross_entropy", epochs=1, shuffle=False, verbose=0,
                             optimizer=nc.SGD(lr=0.0))
    weighted = small_model().fit(x, y, loss="cross_entropy", epochs=1, shuffle=False,
                                 verbose=0, optimizer=nc.SGD(lr=0.0),
                                 class_weight={1: 10.0})
    assert base["loss"][0] != pytest.approx(weighted["loss"][0])
    with pytest.raises(ValueError, match="sample_weight"):
        small_model().fit(x, y, loss="cross_entropy", sample_weight=np.ones(3), verbose=0)


def test_early_stopping_restores_best_weights(rng):
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)          # noise: validation loss soon stops improving
    model = small_model()
    stopper = nc.EarlyStopping(monitor="val_loss", patience=2)
    best = {}

    class Spy(nc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = [p.data.copy() for p in self.model.parameters()]

    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.5), epochs=200,
                        batch_size=8, validation_split=0.25, seed=0, verbose=0,
                        callbacks=[Spy(), stopper])
    assert stopper.stopped_epoch is not None and len(history["loss"]) < 200
    for p, w in zip(model.parameters(), best[stopper.best_epoch]):
        np.testing.assert_array_equal(p.data, w)
    assert min(history["val_loss"]) == stopper.best


def test_diverging_training_names_epoch_step_and_layer(rng):
    x = rng.standard_normal((32, 2)).astype(np.float32) * 10
    y = rng.standard_normal((32, 3)).astype(np.float32) * 10
    model = nc.Sequential([nc.Dense(2, 16, "relu"), nc.Dense(16, 3)], seed=0)
    with pytest.raises(nc.NonFiniteLossError) as info:
        model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=10.0), epochs=50, batch_size=8,
                  verbose=0)
    message = str(info.value)
    assert "epoch" in message and "step" in message and "dense_" in message


def test_nan_in_data_rejected_before_training():
    x = np.ones((4, 2), np.float32)
    x[2, 1] = np.nan
    model = small_model()
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"x contains NaN.*\(2, 1\)"):
        model.fit(x, [0, 1, 2, 0], loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="y contains NaN"):
        model.fit(np.ones((2, 2)), [[np.inf, 0, 0], [0, 0, 1.0]], loss="mse", verbose=0)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)


def test_ctrl_c_stops_after_a_completed_step(rng):
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = small_model()
    seen = {}

    class Interrupt(nc.Callback):
        def on_step_end(self, step, logs=None):
            if step == 2 and "weights" not in seen:
                signal.raise_signal(signal.SIGINT)
                seen["weights"] = [p.data.copy() for p in self.model.parameters()]

    with pytest.warns(RuntimeWarning, match="interrupted"):
        history = model.fit(x, y, loss="cross_entropy", epochs=5, batch_size=8, verbose=0,
                            callbacks=[Interrupt()])
    assert history.interrupted
    for p, w in zip(model.parameters(), seen["weights"]):
        np.testing.assert_array_equal(p.data, w)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_evaluate_and_predict(rng):
    model = small_model(dtype="float64")
    x = rng.standard_normal((10, 2))
    y = rng.integers(0, 3, 10)
    result = model.evaluate(x, y, loss="cross_entropy", batch_size=3)
    assert result["loss"] == pytest.approx(nc.functional.cross_entropy(model.predict(x), y))
    assert result["accuracy"] == np.mean(model.predict(x).argmax(1) == y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((2, 5)))


def test_optimizer_state_survives_repeated_fit(rng):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = small_model()
    opt = nc.SGD(lr=0.1, momentum=0.9)
    model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=1, verbose=0)
    velocity = opt.state[0]["velocity"].copy()
    assert np.any(velocity != 0)
    model.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)   # reuses model.optimizer
    assert model.optimizer is opt and opt.steps == 2  # one step per fit (16 < 32)


def test_progress_output_one_line_per_epoch_when_not_a_tty(rng, capsys):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    small_model().fit(x, rng.integers(0, 3, 16), loss="cross_entropy", epochs=3, verbose=1)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and "loss" in lines[0] and "accuracy" in lines[0]
