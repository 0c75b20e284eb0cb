"""Dropout, L1Loss and HuberLoss in models: modes, reproducibility, saving, the engine."""
import numpy as np
import pytest

import nncore as nc
import nncore.reference as R


def data(rng, n=48):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, rng.integers(0, 3, n)


def dropout_model(seed=0, p=0.5):
    return nc.Sequential([nc.Dense(4, 16, "relu"), nc.Dropout(p), nc.Dense(16, 3)], seed=seed)


def test_dropout_modes(rng):
    layer = nc.Dropout(0.5, seed=7)
    x = rng.standard_normal((20, 10))
    y = layer.forward(x).copy()
    assert np.any(y == 0) and np.any(y != 0)
    np.testing.assert_array_equal(y[y != 0], 2 * x[y != 0])  # inverted scaling
    g = rng.standard_normal((20, 10))
    np.testing.assert_array_equal(layer.backward(g), np.where(y != 0, 2 * g, 0))
    layer.training = False
    assert layer.forward(x) is x and layer.backward(g) is g


def test_dropout_masks_are_the_reference_twins(rng):
    from nncore.dropout import _mix
    layer = nc.Dropout(0.3, seed=11)
    x = rng.standard_normal((6, 5))
    first = layer.forward(x).copy()
    second = layer.forward(x).copy()
    np.testing.assert_array_equal(first, R.dropout(x, 0.3, _mix(11, 0))[0])
    np.testing.assert_array_equal(second, R.dropout(x, 0.3, _mix(11, 1))[0])
    assert not np.array_equal(first, second)


def test_model_train_eval_and_predict(rng):
    model = dropout_model()
    x, _ = data(rng)
    assert model.training
    a = np.array(model.forward(x))
    b = np.array(model.forward(x))
    assert not np.array_equal(a, b)          # training mode: a new mask each call
    p1, p2 = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(p1, p2)    # predict: no dropout
    assert model.training                    # and the mode is restored
    model.eval()
    np.testing.assert_array_equal(np.array(model.forward(x)), p1)
    assert model.evaluate(x, np.zeros((len(x), 3)), loss="mse")["loss"] == \
        model.evaluate(x, np.zeros((len(x), 3)), loss="mse")["loss"]
    assert model.train() is model and model.layers[1].training


def test_fit_with_dropout_is_reproducible_at_any_thread_count(rng, capsys):
    x, y = data(rng)
    runs = []
    for threads in (1, 2):
        with nc.threads(threads):
            model = dropout_model(seed=3)
            h = model.fit(x, y, loss="cross_entropy", epochs=3, batch_size=16, seed=0,
                          verbose=1)
            runs.append((h.history["loss"], model.get_weights(), h.engine))
    assert runs[0][0] == runs[1][0] and runs[0][2] == "native"
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert "python engine" not in capsys.readouterr().out
    # p = 0 trains exactly as the model without the layer
    plain = nc.Sequential([nc.Dense(4, 16, "relu"), nc.Dense(16, 3)], seed=3)
    h0 = dropout_model(seed=3, p=0.0)
    h0.layers[0].set_weights(*plain.get_weights()[:2])
    h0.layers[2].set_weights(*plain.get_weights()[2:])
    l0 = h0.fit(x, y, loss="cross_entropy", epochs=2, batch_size=16, seed=0, verbose=0)
    lp = plain.fit(x, y, loss="cross_entropy", epochs=2, batch_size=16, seed=0, verbose=0,
                   engine="python")
    assert l0.history["loss"] == lp.history["loss"]


@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_trains_natively_bitwise_as_python(p, dtype, rng):
    x, y = data(rng, n=50)
    fits = {}
    for engine in ("python", "native"):
        model = nc.Sequential([nc.Dense(4, 16, "relu"), nc.Dropout(p), nc.Dense(16, 8),
                               nc.Dropout(p), nc.ReLU(), nc.Dense(8, 3)], seed=4, dtype=dtype)
        h = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                      batch_size=16, seed=1, verbose=0, engine=engine)
        # the masks drawn go on from the same count: the next forward is the same too
        fits[engine] = (h.history, model.get_weights(), [model.layers[i].calls for i in (1, 3)],
                        np.array(model.forward(x)))
        assert h.engine == engine
    (hp, wp, cp, fp), (hn, wn, cn, fn) = fits["python"], fits["native"]
    assert hp["loss"] == hn["loss"] and hp["accuracy"] == hn["accuracy"]
    assert cp == cn == ([0, 0] if p == 0 else [12, 12])  # 4 steps a epoch, 3 epochs
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fp, fn)


def test_dropout_train_on_batch_natively_as_python(rng):
    x, y = data(rng, n=16)
    out = {}
    for engine in ("python", "native"):
        model = dropout_model(seed=2)
        if engine == "python":  # a layer the native engine does not know: python step
            model.set_input_grad(False)
        losses = []
        for _ in range(3):
            if engine == "python":
                with model._mode(True):
                    o = model.forward(x)
                    fn = nc.CrossEntropyLoss()
                    losses.append(fn(o, y))
                    model.backward(fn.backward())
                opt = model.optimizer or nc.SGD(model.parameters(), lr=0.01)
                model.optimizer = opt
                opt.step()
            else:
                losses.append(model.train_on_batch(x, y, loss="cross_entropy"))
        out[engine] = (losses, model.get_weights(), model.layers[1].calls)
    assert out["python"][0] == pytest.approx(out["native"][0], rel=0, abs=0)
    assert out["python"][2] == out["native"][2] == 3
    for a, b in zip(out["python"][1], out["native"][1]):
        np.testing.assert_array_equal(a, b)


def test_dropout_saved_and_loaded(tmp_path, rng):
    x, y = data(rng)
    model = dropout_model(seed=5)
    model.fit(x, y, loss="cross_entropy", epochs=1, batch_size=16, seed=0, verbose=0)
    back = nc.load(model.save(tmp_path / "d.npz"))
    assert isinstance(back.layers[1], nc.Dropout) and back.layers[1].p == 0.5
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    # the next masks continue the same stream
    np.testing.assert_array_equal(np.array(back.forward(x)), np.array(model.forward(x)))


def test_dropout_argument_errors():
    with pytest.raises(ValueError, match="Dropout: p must be in \\[0, 1\\)"):
        nc.Dropout(1.0)
    with pytest.raises(TypeError, match="Dropout: p must be a real number"):
        nc.Dropout("half")


@pytest.mark.parametrize("loss", [nc.L1Loss(), nc.HuberLoss(delta=0.5), "mae", "huber"])
def test_fit_with_l1_and_huber(loss, rng):
    x = rng.standard_normal((64, 3))
    y = x @ np.array([1.0, -1.0, 2.0]) + 0.5
    model = nc.Sequential([nc.Dense(3, 1)], seed=0, dtype="float64")
    h = model.fit(x, y, loss=loss, optimizer=nc.SGD(lr=0.05), epochs=30, batch_size=16,
                  seed=0, verbose=0)
    assert h.engine == "native"
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    value = model.evaluate(x, y)["loss"]
    fn = nc.losses.get(loss)
    want = R.l1_loss(model.predict(x), y.reshape(-1, 1)) if isinstance(fn, nc.L1Loss) else \
        R.huber_loss(model.predict(x), y.reshape(-1, 1), "mean", fn.delta)
    assert value == pytest.approx(want, rel=1e-12)


def test_huber_loss_object(rng):
    p = rng.standard_normal((4, 3))
    t = rng.standard_normal((4, 3))
    w = rng.random(4)
    loss = nc.HuberLoss(reduction="sum", delta=0.3)
    assert loss(p, t, sample_weight=w) == pytest.approx(
        R.huber_loss(p, t, "sum", 0.3, sample_weight=w), rel=1e-12)
    np.testing.assert_allclose(loss.backward(),
                               R.huber_loss_backward(p, t, "sum", 0.3, sample_weight=w),
                               rtol=1e-12)
    assert repr(loss) == "HuberLoss(reduction='sum', delta=0.3)"
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        nc.HuberLoss(delta=0)


@pytest.mark.parametrize("act, layer", [("gelu", lambda: nc.GELU()),
                                        ("gelu_tanh", lambda: nc.GELU(approximate="tanh")),
                                        ("silu", lambda: nc.SiLU()),
                                        ("softplus", lambda: nc.Softplus())])
def test_gelu_silu_softplus_in_dense_and_as_layers(act, layer, rng, tmp_path):
    x = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 2))
    fused = nc.Sequential([nc.Dense(3, 5, act), nc.Dense(5, 2)], seed=4, dtype="float64")
    split = nc.Sequential([nc.Dense(3, 5), layer(), nc.Dense(5, 2)], seed=4, dtype="float64")
    split.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused.predict(x), split.predict(x))
    for model in (fused, split):
        err = nc.gradcheck(model, x, y, loss="mse")
        assert max(err.values()) < 1e-6, err
    h = fused.fit(x, y, loss="mse", epochs=2, batch_size=3, seed=0, verbose=0)
    assert h.engine == "native"  # fused into the product's store
    back = nc.load(split.save(tmp_path / "a.npz"))
    np.testing.assert_array_equal(back.predict(x), split.predict(x))
    back = nc.load(fused.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(back.predict(x), fused.predict(x))
