"""What a PyTorch, Keras or scikit-learn user tries first (issue 14): (n,) targets, the
loss chosen from the targets, string shortcuts, empty inputs, 1-D predict, dtypes,
weights, softmax outputs, model-file errors."""
import io
import sys
import warnings

import numpy as np
import pytest

import nncore as nc
import nncore.reference as R


def regression(rng, n=64, features=3):
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5][:features]) + 0.1).astype(np.float32)
    return x, y


# ----------------------------------------------------------------- 1. (n,) targets

@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "bce"])
@pytest.mark.parametrize("engine", ["auto", "python"])
def test_single_output_accepts_1d_targets(loss, engine, rng):
    x, y = regression(rng)
    if loss == "bce":
        y = (y > 0).astype(np.float32)
    a = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 1)], seed=0)
    b = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 1)], seed=0)
    ha = a.fit(x, y, loss=loss, epochs=2, batch_size=16, verbose=0, engine=engine, seed=1)
    hb = b.fit(x, y.reshape(-1, 1), loss=loss, epochs=2, batch_size=16, verbose=0,
               engine=engine, seed=1)
    assert ha.history["loss"] == hb.history["loss"]
    assert a.evaluate(x, y) == b.evaluate(x, y.reshape(-1, 1))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


@pytest.mark.parametrize("cls", [nc.MSELoss, nc.BCEWithLogitsLoss, nc.L1Loss, nc.HuberLoss])
def test_loss_objects_accept_1d_targets(cls, rng):
    pred = rng.standard_normal((5, 1))
    t = rng.random(5)
    loss = cls()
    value = loss(pred, t)
    grad = loss.backward().copy()
    assert value == cls()(pred, t.reshape(5, 1))
    assert grad.shape == (5, 1)
    other = cls()
    other(pred, t.reshape(5, 1))
    np.testing.assert_array_equal(grad, other.backward())
    with pytest.raises(ValueError, match="target must have the shape"):
        cls()(rng.standard_normal((5, 2)), t)  # two outputs: no guessing


# ----------------------------------------------------------------- 2. loss inference

def test_loss_inferred_from_labels_and_printed(rng, capsys):
    x = rng.standard_normal((30, 2)).astype(np.float32)
    labels = rng.integers(0, 3, 30)
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    model.fit(x, labels, epochs=1, verbose=1)
    assert isinstance(model.loss, nc.CrossEntropyLoss)
    assert "loss='cross_entropy' chosen from the targets" in capsys.readouterr().out
    model.fit(x, labels, epochs=1, verbose=0)  # keeps the loss, says nothing
    assert capsys.readouterr().out == ""
    fresh = nc.Sequential([nc.Dense(2, 3)], seed=0)
    assert "accuracy" in fresh.evaluate(x, labels)


def test_loss_inference_rule():
    from nncore.targets import infer_loss
    assert infer_loss(np.array([0, 2, 1]), 3)[0] == "cross_entropy"
    assert infer_loss(np.array([[0], [2]]), 3)[0] == "cross_entropy"
    assert infer_loss(np.array([0, 1, 1]), 1)[0] == "mse"
    assert infer_loss(np.array([0.5, 1.0]), 3)[0] == "mse"
    assert infer_loss(np.zeros((2, 3)), 3)[0] == "mse"


def test_loss_inferred_mse_silent_at_verbose_0(rng, capsys):
    x, y = regression(rng)
    model = nc.Sequential([nc.Dense(3, 1)], seed=0)
    model.fit(x, y, epochs=1, verbose=0)
    assert isinstance(model.loss, nc.MSELoss)
    assert capsys.readouterr().out == ""


def test_shape_errors_name_the_fix(rng):
    x = rng.standard_normal((8, 2)).astype(np.float32)
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    with pytest.raises(ValueError, match="loss='cross_entropy'.*one_hot"):
        model.fit(x, rng.integers(0, 3, 8), loss="mse", verbose=0)
    with pytest.raises(ValueError, match="give the last Dense layer 2 outputs"):
        model.fit(x, np.zeros((8, 2)), loss="mse", verbose=0)
    with pytest.raises(ValueError, match=r"y\[\d\] = 5 is out of range.*6 outputs"):
        model.fit(x, np.array([0, 1, 2, 5, 0, 1, 2, 0]), loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="class labels \\(8,\\) or probabilities \\(8, 3\\)"):
        model.fit(x, np.zeros((8, 2)), loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="non-integer values"):
        model.fit(x, np.full(8, 0.5), loss="cross_entropy", verbose=0)


# ----------------------------------------------------------------- 3. shortcuts

@pytest.mark.parametrize("name, cls", [
    ("mse", nc.MSELoss), ("mae", nc.L1Loss), ("l1", nc.L1Loss), ("huber", nc.HuberLoss),
    ("bce", nc.BCEWithLogitsLoss), ("binary_crossentropy", nc.BCEWithLogitsLoss),
    ("cross_entropy", nc.CrossEntropyLoss), ("categorical_crossentropy", nc.CrossEntropyLoss),
    ("sparse_categorical_crossentropy", nc.CrossEntropyLoss)])
def test_loss_aliases(name, cls):
    assert type(nc.losses.get(name)) is cls


@pytest.mark.parametrize("name, cls, lr", [("sgd", nc.SGD, 0.01), ("adam", nc.Adam, 1e-3),
                                           ("Adam", nc.Adam, 1e-3)])
def test_optimizer_strings(name, cls, lr, rng):
    x, y = regression(rng)
    model = nc.Sequential([nc.Dense(3, 1)], seed=0)
    model.fit(x, y, optimizer=name, epochs=1, verbose=0)
    assert type(model.optimizer) is cls and model.optimizer.lr == lr
    assert model.optimizer.steps == 2


# ----------------------------------------------------------------- 4. empty inputs

def test_empty_inputs_raise(rng):
    model = nc.Sequential([nc.Dense(2, 1)], seed=0)
    empty = np.zeros((0, 2), np.float32)
    for call in (lambda: model.fit(empty, np.zeros(0), verbose=0),
                 lambda: model.evaluate(empty, np.zeros(0)),
                 lambda: model.predict(empty),
                 lambda: model.train_on_batch(empty, np.zeros(0))):
        with pytest.raises(ValueError, match="x is empty"):
            call()
    with pytest.raises(ValueError, match="y is empty"):
        model.fit(np.zeros((3, 2)), np.zeros(0), verbose=0)


# ----------------------------------------------------------------- 5. 1-D predict

def test_predict_one_sample(rng):
    model = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=0)
    x = rng.standard_normal((5, 3))
    full = model.predict(x)
    one = model.predict(x[2])
    assert one.shape == (2,)
    np.testing.assert_array_equal(one, full[2])
    np.testing.assert_array_equal(model.predict_proba(x[2]), model.predict_proba(x)[2])
    np.testing.assert_allclose(model.predict_proba(x[2]).sum(), 1, rtol=1e-6)


# ----------------------------------------------------------------- 6. dtypes

def test_sequential_takes_the_layers_dtype():
    model = nc.Sequential([nc.Dense(2, 3, dtype="float64"), nc.Dense(3, 1)], seed=0)
    assert model.dtype == np.float64
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.predict(np.zeros((1, 2))).dtype == np.float64
    assert nc.Sequential([nc.Dense(2, 3)]).dtype == np.float32
    assert nc.Sequential([nc.Dense(2, 3)], dtype="float64").dtype == np.float64


def test_sequential_dtype_conflicts_raise():
    with pytest.raises(ValueError, match="layer 0 has dtype='float64' but layer 1 has "
                                         "dtype='float32'"):
        nc.Sequential([nc.Dense(2, 3, dtype="float64"), nc.Dense(3, 1, dtype="float32")])
    with pytest.raises(ValueError, match="dtype='float32' but layer 0 was given "
                                         "dtype='float64'"):
        nc.Sequential([nc.Dense(2, 3, dtype="float64")], dtype="float32")


# ----------------------------------------------------------------- 7. weights

def test_get_set_weights_roundtrip(rng):
    a = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=0)
    b = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=1)
    w = a.get_weights()
    assert [x.shape for x in w] == [(3, 4), (4,), (4, 2), (2,)]
    w[0][0, 0] = 123.0  # a copy: the model is unchanged
    assert a.parameters()[0].data[0, 0] != 123.0
    b.set_weights(a.get_weights())
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_set_weights_checks_before_writing():
    model = nc.Sequential([nc.Dense(3, 4), nc.Dense(4, 2)], seed=0)
    before = model.get_weights()
    bad = model.get_weights()
    bad[2] = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"weights\[2\] \(dense_1.w\) must have shape "
                                         r"\(4, 2\); got \(2, 4\)"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="4 parameter arrays; got 3"):
        model.set_weights(before[:3])
    wrong = model.get_weights()
    wrong[0] = wrong[0].astype(complex)
    with pytest.raises(TypeError, match="real numbers"):
        model.set_weights(wrong)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_state_dict_roundtrip_and_checks(rng):
    a = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=0)
    b = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=1)
    sd = a.state_dict()
    assert list(sd) == [name for name, _ in a.named_parameters()]
    b.load_state_dict(sd)
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(KeyError, match="missing keys \\['dense_1.b'\\]"):
        b.load_state_dict({k: v for k, v in sd.items() if k != "dense_1.b"})
    with pytest.raises(KeyError, match="unexpected keys \\['extra'\\]"):
        b.load_state_dict({**sd, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="'dense_0.b' must have shape \\(4,\\)"):
        b.load_state_dict({**sd, "dense_0.b": np.zeros(5)})
    b.load_state_dict({"dense_0.b": np.ones(4)}, strict=False)
    np.testing.assert_array_equal(b.state_dict()["dense_0.b"], np.ones(4))


def test_set_weights_keeps_the_optimizer_bound(rng):
    x, y = regression(rng)
    model = nc.Sequential([nc.Dense(3, 1)], seed=0)
    model.fit(x, y, epochs=1, verbose=0)
    model.set_weights([np.zeros((3, 1)), np.zeros(1)])
    model.fit(x, y, epochs=1, verbose=0)  # trains the same arrays
    assert np.any(model.get_weights()[0] != 0)


# ----------------------------------------------------------------- 8. softmax activation

def test_dense_softmax_outputs_probabilities(rng):
    model = nc.Sequential([nc.Dense(3, 4, "softmax")], seed=0, dtype="float64")
    x = rng.standard_normal((6, 3))
    w, b = model.get_weights()
    np.testing.assert_allclose(model.predict(x), R.softmax(x @ w + b), rtol=1e-12)
    np.testing.assert_array_equal(model.predict_proba(x), model.predict(x))


def test_dense_softmax_with_cross_entropy_is_exact(rng):
    x = rng.standard_normal((40, 3))
    labels = rng.integers(0, 4, 40)
    probs = nc.Sequential([nc.Dense(3, 8, "tanh"), nc.Dense(8, 4, "softmax")], seed=2,
                          dtype="float64")
    logits = nc.Sequential([nc.Dense(3, 8, "tanh"), nc.Dense(8, 4)], seed=2, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "expects logits" warning: handled exactly
        hp = probs.fit(x, labels, loss="cross_entropy", epochs=3, batch_size=8, verbose=0,
                       seed=0)
    hl = logits.fit(x, labels, loss="cross_entropy", epochs=3, batch_size=8, verbose=0, seed=0,
                    engine="python")
    assert hp.engine == "native"  # the engine leaves the softmax out, as python does
    assert hp.history["loss"] == hl.history["loss"]
    for a, b in zip(probs.get_weights(), logits.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(probs.evaluate(x, labels)["loss"],
                               logits.evaluate(x, labels)["loss"], rtol=1e-12)
    np.testing.assert_allclose(probs.predict(x), logits.predict_proba(x), rtol=1e-10)


def test_dense_softmax_gradient_with_mse(rng):
    model = nc.Sequential([nc.Dense(3, 4, "softmax")], seed=0, dtype="float64")
    err = nc.gradcheck(model, rng.standard_normal((5, 3)), rng.random((5, 4)), loss="mse")
    assert max(err.values()) < 1e-6


# ----------------------------------------------------------------- 10. progress

class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_built_in_bar_shows_eta_and_rate(monkeypatch):
    from nncore.progress import EpochProgress
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    term = FakeTerminal()
    bar = EpochProgress(1, 2, steps=4, verbose=1, file=term, samples=128)
    bar.update(1, loss=0.5)
    bar.update(4, loss=0.4)
    bar.close(loss=0.4)
    text = term.getvalue()
    assert "ETA" in text and "samples/s" in text and "1/4" in text and "4/4" in text


def test_tqdm_bar_shows_rate():
    pytest.importorskip("tqdm")
    from nncore.progress import EpochProgress
    term = FakeTerminal()
    bar = EpochProgress(1, 1, steps=2, verbose=1, file=term, samples=64)
    bar.update(1, loss=1.0)
    bar.close(loss=0.5)
    assert "samples/s" in term.getvalue()


# ----------------------------------------------------------------- 12. model files

def test_object_array_file_error_speaks_of_the_model_file(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __nncore__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(nc.ModelFileError) as e:
        nc.load(path)
    msg = str(e.value)
    assert "allow_pickle" not in msg and "Python objects" in msg and "evil.npz" in msg


def test_truncated_file_error(tmp_path):
    model = nc.Sequential([nc.Dense(2, 1)], seed=0)
    path = model.save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(nc.ModelFileError, match="truncated or corrupt") as e:
        nc.load(tmp_path / "cut.npz")
    assert "BadZipFile" not in str(e.value) and "pickle" not in str(e.value)


def test_huber_loss_saved_with_delta(tmp_path, rng):
    x, y = regression(rng)
    model = nc.Sequential([nc.Dense(3, 1)], seed=0)
    model.fit(x, y, loss=nc.HuberLoss(delta=0.25), epochs=1, verbose=0)
    back = nc.load(model.save(tmp_path / "h.npz"))
    assert isinstance(back.loss, nc.HuberLoss) and back.loss.delta == 0.25
