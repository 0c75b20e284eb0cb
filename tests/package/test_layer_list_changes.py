"""model.layers changed in place (insert, append, del, item assignment) or replaced after
the model was made or trained: both engines, predict and train_on_batch run the layers
as they now are, as a model made with those layers does (PyTorch's Sequential.insert /
append / del work the same way). Before, the model kept its old plan: the python engine
skipped an inserted layer and the native engine applied the wrong activations."""
import copy

import numpy as np
import pytest

import nncore as nc


def _data(n=48, d=5, k=1, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((n, k)).astype(np.float32))


def _base():
    return nc.Sequential([nc.Dense(5, 8, "relu"), nc.Dense(8, 1)], seed=3)


def _fit(model, x, y, engine, epochs=2):
    h = model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.05), epochs=epochs, batch_size=16,
                  seed=0, verbose=0, engine=engine)
    return h.history["loss"]


def _fresh(layers):
    """A model made now of (copies of) `layers`: what the changed model must equal."""
    return nc.Sequential([copy.deepcopy(layer) for layer in layers])


def _manual_forward(layers, x):
    """The layers' maths in plain NumPy: Dense x @ w + b with its activation, then each
    activation layer's."""
    for layer in layers:
        if isinstance(layer, nc.Dense):
            x = x @ layer.w.data + (layer.b.data if layer.b is not None else 0)
            act = layer.activation
        else:
            act = layer.activation
        if act == "relu":
            x = np.maximum(x, 0)
        elif act == "leaky_relu":
            x = np.where(x > 0, x, layer.slope * x)
        elif act == "tanh":
            x = np.tanh(x)
        elif act == "sigmoid":
            x = 1 / (1 + np.exp(-x))
        else:
            assert act == "identity", act
    return x


CHANGES = {
    "insert": lambda m: m.layers.insert(1, nc.Tanh()),
    "append": lambda m: m.layers.append(nc.Sigmoid()),
    "delete": lambda m: m.layers.__delitem__(0) or m.layers.insert(0, nc.Dense(5, 8, "tanh")),
    "assign": lambda m: m.layers.__setitem__(1, nc.Dense(8, 1, "sigmoid")),
    "replace": lambda m: setattr(m, "layers", [m.layers[0], nc.ReLU(), nc.Dense(8, 1)]),
    "fusable": lambda m: (m.layers.__setitem__(0, nc.Dense(5, 8)),
                          m.layers.insert(1, nc.LeakyReLU(0.2))),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_forward_after_a_change_is_the_layers_maths(change):
    x, _ = _data()
    model = _base()
    model.predict(x)  # planned and built before the change
    CHANGES[change](model)
    got = model.predict(x)  # a seeded model initialises new layers from its seed, as add()
    want = _manual_forward(model.layers, x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(model.forward(x), want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("engine", ["python", "native"])
def test_fit_after_a_change_trains_the_changed_layers(change, engine):
    x, y = _data()
    model = _base()
    _fit(model, x, y, engine, epochs=1)  # trained, planned, engine kept
    CHANGES[change](model)
    model.parameters()  # the new layers initialised from the model's seed, as add() does
    twin = _fresh(model.layers)
    got = _fit(model, x, y, engine)
    want = _fit(twin, x, y, engine)
    assert got == want
    for p, q in zip(model.parameters(), twin.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_engines_agree_after_a_change(change):
    x, y = _data()
    runs = {}
    for engine in ("python", "native"):
        model = _base()
        _fit(model, x, y, engine, epochs=1)
        CHANGES[change](model)
        runs[engine] = (_fit(model, x, y, engine), [p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(runs["python"][0], runs["native"][0], rtol=1e-5)
    for a, b in zip(runs["python"][1], runs["native"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_train_on_batch_after_a_change():
    x, y = _data()
    model = _base()
    opt = nc.SGD(lr=0.05)
    model.train_on_batch(x, y, loss="mse", optimizer=opt)
    model.layers.insert(1, nc.Tanh())
    twin = _fresh(model.layers)
    got = model.train_on_batch(x, y, loss="mse", optimizer=opt)
    want = twin.train_on_batch(x, y, loss="mse", optimizer=nc.SGD(lr=0.05))
    assert got == want
    for p, q in zip(model.parameters(), twin.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


def test_a_new_layer_gets_the_models_dtype_and_mode():
    x, _ = _data()
    model = nc.Sequential([nc.Dense(5, 8, "relu"), nc.Dense(8, 1)], dtype="float64")
    model.layers.insert(1, nc.Dense(8, 8, "tanh"))
    model.layers.insert(2, nc.Dropout(0.5))
    assert model.predict(x).dtype == np.float64
    assert model.layers[1].w.data.dtype == np.float64
    assert model.layers[2].training is True
    model.eval()
    assert model.layers[2].training is False


def test_an_inserted_lazy_dense_is_built():
    x, _ = _data()
    model = _base()
    model.layers.insert(1, nc.Dense(16, activation="relu"))
    model.layers[2] = nc.Dense(16, 1)
    assert model.predict(x).shape == (48, 1)
    assert model.layers[1].w.data.shape == (8, 16)
    assert len(model.parameters()) == 6


def test_bad_changes_raise_naming_the_item_until_fixed():
    x, _ = _data()
    model = _base()
    model.layers.insert(1, "tanh")
    with pytest.raises(ValueError, match=r"model.layers\[1\].*str"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"model.layers\[1\]"):
        model.parameters()
    model.layers[1] = nc.Tanh()
    assert model.predict(x).shape == (48, 1)
    model.layers.append(nc.Dense(3, 2))  # takes 3 features, gets 1
    with pytest.raises(ValueError):
        model.predict(x)
    model.layers.pop()
    assert model.predict(x).shape == (48, 1)
    model.layers = 5
    with pytest.raises(ValueError, match="list of nncore layers"):
        model.predict(x)


def test_summary_and_add_see_the_change():
    model = _base()
    model.layers.insert(1, nc.Tanh())
    model.add(nc.Sigmoid())
    assert [type(layer).__name__ for layer in model.layers] == \
        ["Dense", "Tanh", "Dense", "Sigmoid"]
    assert [s.index for s in model.steps] == [0, 1, 2]  # the Sigmoid fused into its Dense
