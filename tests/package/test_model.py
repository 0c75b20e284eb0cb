import re
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
    from nncore.training import split_train_validation as _split_indices
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


def test_diverging_training_names_epoch_step_and_layer(rng):
    x = rng.standard_normal((32, 2)).astype(np.float32) * 10
    y = rng.standard_normal((32, 3)).astype(np.float32) * 10
    model = nc.Sequential([nc.Dense(2, 16, "relu"), nc.Dense(16, 3)], seed=0)
    with pytest.raises(nc.NonFiniteLossError) as info:
        model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=10.0), epochs=50, batch_size=8,
                  verbose=0)
    message = str(info.value)
    assert re.search(r"at epoch \d+, step \d+", message) and "dense_" in message


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
    # the handler fit found (Python's default_int_handler, or SIG_IGN in a process
    # started in the background) is the one it leaves
    handler = signal.getsignal(signal.SIGINT)

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
    assert signal.getsignal(signal.SIGINT) == handler


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


def test_nan_loss_names_the_exact_epoch_step_and_layer(rng):
    x = rng.standard_normal((32, 2)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 8, "tanh"), nc.Dense(8, 3)],
                          seed=0)
    kept = {}

    class Poison(nc.Callback):             # after epoch 2, step 3: a NaN weight in layer 1
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_step_end(self, step, logs=None):
            if (self.epoch, step) == (1, 2):
                self.model.layers[1].w.data[0, 0] = np.nan
                kept["w"] = [p.data.copy() for p in self.model.parameters()]

    with pytest.raises(nc.NonFiniteLossError) as info:
        model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1), epochs=5, batch_size=8,
                  shuffle=False, verbose=0, callbacks=[Poison()])
    message = str(info.value)
    assert "loss became nan at epoch 2, step 4" in message
    assert "layer 'dense_1' (parameter w)" in message
    for p, w in zip(model.parameters(), kept["w"]):      # no update from the NaN step
        np.testing.assert_array_equal(p.data, w)


def test_overflowing_loss_names_the_largest_layer():
    model = nc.Sequential([nc.Dense(1, 1, use_bias=False, init=nc.initializers.constant(1e20))])
    with pytest.raises(nc.NonFiniteLossError, match=r"epoch 1, step 1.*still finite.*dense_0"):
        model.fit(np.ones((2, 1)), np.zeros((2, 1)), loss="mse", verbose=0)


def test_nonfinite_loss_can_be_allowed():
    model = nc.Sequential([nc.Dense(1, 1, use_bias=False, init=nc.initializers.constant(1e20))])
    history = model.fit(np.ones((2, 1)), np.zeros((2, 1)), loss="mse", epochs=2, verbose=0,
                        optimizer=nc.SGD(lr=0.0), stop_on_nonfinite=False)
    assert history["loss"] == [float("inf")] * 2


def test_two_runs_with_the_same_seed_are_bitwise_identical():
    x, y = nc.spirals(n=50, classes=3, seed=2)
    runs = []
    for _ in range(2):
        model = nc.Sequential([nc.Dense(2, 16, "relu"), nc.Dense(16, 3)], seed=4)
        history = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                            batch_size=16, seed=9, validation_split=0.2, verbose=0)
        runs.append(([p.data.copy() for p in model.parameters()], history["loss"],
                     history["val_loss"]))
    for a, b in zip(runs[0][0], runs[1][0]):
        assert np.array_equal(a, b)
    assert runs[0][1:] == runs[1][1:]
    other = nc.Sequential([nc.Dense(2, 16, "relu"), nc.Dense(16, 3)], seed=4)
    other.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3, batch_size=16,
              seed=10, validation_split=0.2, verbose=0)
    assert not np.array_equal(other.parameters()[0].data, runs[0][0][0])


def test_zero_sample_weight_is_leaving_samples_out(rng):
    x = rng.standard_normal((20, 2))
    y = rng.standard_normal((20, 1))
    keep = np.arange(20) % 3 != 0

    def train(xs, ys, sw=None):
        model = nc.Sequential([nc.Dense(2, 4, "tanh"), nc.Dense(4, 1)], seed=0, dtype="float64")
        model.fit(xs, ys, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=5, batch_size=None,
                  shuffle=False, sample_weight=sw, verbose=0)
        return model.parameters()

    for a, b in zip(train(x, y, keep.astype(float)), train(x[keep], y[keep])):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)


def test_class_weight_is_a_sample_weight_per_class(rng):
    x = rng.standard_normal((40, 2)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)

    def train(**kwargs):
        model = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 2)], seed=0)
        history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.1), epochs=2,
                            batch_size=8, seed=0, verbose=0, **kwargs)
        return history["loss"], model.parameters()

    loss_cw, p_cw = train(class_weight={1: 3.0})
    loss_sw, p_sw = train(sample_weight=np.where(y == 1, 3.0, 1.0))
    loss_none, p_none = train()
    assert loss_cw == loss_sw and loss_cw != loss_none
    for a, b in zip(p_cw, p_sw):
        assert np.array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="sample_weight"):
        train(sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        train(sample_weight=-np.ones(40))
    with pytest.raises(TypeError, match="class_weight"):
        train(class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="class_weight"):
        nc.Sequential([nc.Dense(2, 1)]).fit(x, y[:, None], loss="mse", class_weight={1: 2.0},
                                            verbose=0)


def test_validation_data_and_split(rng):
    x, y = nc.spirals(n=40, classes=2, seed=0)
    model = small_model()
    history = model.fit(x, y, loss="cross_entropy", epochs=2, verbose=0,
                        validation_data=(x[:10], y[:10]))
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(x[:10], y[:10])["loss"])
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, loss="cross_entropy", validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[0\]"):
        model.fit(x, y, loss="cross_entropy", validation_data=(np.ones((3, 5)), [0, 1, 0]),
                  verbose=0)


def test_fit_argument_errors(rng):
    x = rng.standard_normal((8, 2))
    y = rng.integers(0, 3, 8)
    model = small_model()
    for kwargs, exc, word in [({"batch_size": 0}, ValueError, "batch_size"),
                              ({"batch_size": 2.5}, ValueError, "batch_size"),
                              ({"epochs": -1}, ValueError, "epochs"),
                              ({"optimizer": 42}, TypeError, "optimizer"),
                              ({"optimizer": "adagrad"}, ValueError, "optimizer"),
                              ({"loss": "hinge"}, ValueError, "loss")]:
        with pytest.raises(exc, match=word):
            model.fit(x, y, **{"loss": "cross_entropy", "verbose": 0, **kwargs})
    with pytest.raises(ValueError, match="one target per sample"):
        model.fit(x, y[:5], loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="2-D"):
        model.fit(x[:, 0], y, loss="cross_entropy", verbose=0)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        model.fit(x.astype(complex), y, loss="cross_entropy", verbose=0)


def test_predict_proba_and_binary_classification(rng):
    x = rng.standard_normal((60, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)[:, None]
    model = nc.Sequential([nc.Dense(2, 1)], seed=0)
    history = model.fit(x, y, loss="bce_with_logits", optimizer=nc.SGD(lr=0.5), epochs=30,
                        batch_size=None, verbose=0)
    assert history["accuracy"][-1] > 0.95
    logits = model.predict(x)
    np.testing.assert_allclose(model.predict_proba(x), 1 / (1 + np.exp(-logits)), rtol=1e-5)
    ends_in_softmax = nc.Sequential([nc.Dense(2, 3), nc.Softmax()], seed=0)
    np.testing.assert_array_equal(ends_in_softmax.predict_proba(x), ends_in_softmax.predict(x))


def test_summary_marks_fused_layers():
    model = nc.Sequential([nc.Dense(4, 8), nc.ReLU(), nc.Dense(8, 2, "sigmoid")],
                          dtype="float64")
    text = model.summary(print_fn=None)
    assert "fused into previous" in text and "Dense(sigmoid)" in text
    assert "(None, 8)" in text and "(None, 2)" in text and "float64" in text


def test_ctrl_c_at_the_end_of_an_epoch_stops_before_the_next(rng):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = small_model()

    class Interrupt(nc.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                signal.raise_signal(signal.SIGINT)
                self.weights = [p.data.copy() for p in self.model.parameters()]

    cb = Interrupt()
    with pytest.warns(RuntimeWarning, match="interrupted after epoch 2"):
        history = model.fit(x, y, loss="cross_entropy", epochs=5, batch_size=4, verbose=0,
                            callbacks=[cb])
    assert history.interrupted and len(history["loss"]) == 2
    for p, w in zip(model.parameters(), cb.weights):
        np.testing.assert_array_equal(p.data, w)


@pytest.mark.parametrize("engine", ["native", "python"])
def test_fit_checks_the_layer_widths_of_a_built_model_every_time(engine):
    # fit checks x against a built model without rebuilding it, but still walks the
    # layers' widths: a layer replaced by one of another width is the same ValueError
    x = np.zeros((4, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    model = nc.Sequential([nc.Dense(2, 4, "sigmoid"), nc.Dense(4, 1)], seed=0)
    model.fit(x, y, loss="mse", epochs=1, verbose=0, engine=engine)
    model.layers[1] = nc.Dense(3, 1)
    with pytest.raises(ValueError, match="Dense: expects 3 input features; the previous "
                                         "layer gives 4"):
        model.fit(x, y, loss="mse", epochs=1, verbose=0, engine=engine)
    with pytest.raises(ValueError, match="fit: x has 3 features; the first layer expects 2"):
        model.fit(np.zeros((4, 3), np.float32), y, loss="mse", verbose=0, engine=engine)
