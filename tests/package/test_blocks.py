"""Residual blocks, Flatten, Keras-style shape inference (Dense(units)) and the
container habits of Sequential (Sequential(a, b), add, len, [i], slices, iteration)."""
import numpy as np
import pytest

import nncore as nc


def _mnist1d_mlp(seed=0, dtype=None):
    return nc.Sequential(nc.Dense(40, 256, "relu"), nc.Residual(nc.Dense(256, 256, "relu")),
                         nc.Dense(256, 10), seed=seed, dtype=dtype)


def _deep_model(dtype="float64", seed=3):
    """Every kind of layer inside residual blocks, nested."""
    return nc.Sequential(
        nc.Flatten(), nc.Dense(12, 6, "tanh"),
        nc.Residual(nc.Dense(6, 6, "gelu"), nc.Dense(6, 6), nc.SiLU(),
                    nc.Residual(nc.Dense(6, 6, "softplus"), nc.Sigmoid())),
        nc.Residual(nc.Dense(6, 4, "leaky_relu", slope=0.2), nc.GELU("tanh"),
                    nc.Dropout(0.3), nc.Dense(4, 6)),
        nc.Dense(6, 3), seed=seed, dtype=dtype, input_shape=(3, 4))


# ------------------------------------------------------------------ gradients

def _sum_loss_grads(model, x, r):
    """Gradients of L = sum(model(x) * r) by nncore's backward: (input, [params])."""
    model.set_input_grad(True)
    model.forward(x)
    gx = model.backward(r)
    return np.array(gx), [p.grad.copy() for p in model.parameters()]


def _central(f, a, eps=1e-6):
    """d f / d a by central differences, a modified in place and restored."""
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f()
        flat[i] = keep - eps
        down = f()
        flat[i] = keep
        gflat[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("make, shape", [
    (lambda: nc.Sequential(nc.Dense(5, 7, "relu"), nc.Residual(nc.Dense(7, 7, "tanh")),
                           nc.Dense(7, 3), seed=1, dtype="float64"), (6, 5)),
    (lambda: _deep_model().eval(), (5, 3, 4)),
    (lambda: nc.Sequential(nc.Flatten(), nc.Dense(12, 2, "sigmoid"), seed=2, dtype="float64"),
     (4, 2, 3, 2)),
], ids=["residual", "nested", "flatten"])
def test_gradients_match_central_differences(make, shape):
    model = make()
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    r = rng.normal(size=model.predict(x).shape)
    gx, grads = _sum_loss_grads(model, x, r)

    def loss():
        return float(np.sum(np.array(model.forward(x)) * r))

    np.testing.assert_allclose(gx, _central(loss, x), rtol=1e-6, atol=1e-8)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(g, _central(loss, p.data), rtol=1e-6, atol=1e-8)


def test_residual_gradients_match_torch_autograd():
    """The MNIST-1D block, h + relu(h W2 + b2), against autograd written out in torch
    (not through nncore's torch export), float64 to 1e-10."""
    torch = pytest.importorskip("torch")
    model = nc.Sequential(nc.Dense(40, 32, "relu"),
                          nc.Residual(nc.Dense(32, 32, "relu"), nc.Dense(32, 32, "tanh")),
                          nc.Dense(32, 10), seed=4, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 40))
    y = rng.integers(0, 10, 16)
    loss_fn = nc.CrossEntropyLoss()
    model.set_input_grad(True)
    loss = loss_fn(model.forward(x), y)
    gx = np.array(model.backward(loss_fn.backward()))

    ws = [torch.tensor(p.data, requires_grad=True) for p in model.parameters()]
    xt = torch.tensor(x, requires_grad=True)
    h = torch.relu(xt @ ws[0] + ws[1])
    h = h + torch.tanh(torch.relu(h @ ws[2] + ws[3]) @ ws[4] + ws[5])
    out = h @ ws[6] + ws[7]
    want = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    want.backward()
    assert abs(loss - want.item()) < 1e-12
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    for p, w in zip(model.parameters(), ws):
        np.testing.assert_allclose(p.grad, w.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_flatten_gradients_match_torch_autograd():
    torch = pytest.importorskip("torch")
    model = nc.Sequential(nc.Flatten(), nc.Dense(12, 5, "gelu"), nc.Dense(5, 2), seed=5,
                          dtype="float64")
    x = np.random.default_rng(2).normal(size=(7, 3, 4))
    r = np.random.default_rng(3).normal(size=(7, 2))
    gx, grads = _sum_loss_grads(model, x, r)
    assert gx.shape == x.shape
    ws = [torch.tensor(p.data, requires_grad=True) for p in model.parameters()]
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.gelu(torch.flatten(xt, 1) @ ws[0] + ws[1]) @ ws[2] + ws[3]
    (out * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    for g, w in zip(grads, ws):
        np.testing.assert_allclose(g, w.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_residual_forward_is_x_plus_f_x(rng):
    inner = nc.Dense(4, 4, "tanh", dtype="float64", seed=0)
    block = nc.Residual(inner)
    x = rng.normal(size=(3, 4))
    want = x + np.tanh(x @ inner.w.data + inner.b.data)
    np.testing.assert_allclose(block.forward(x), want, rtol=1e-14)
    g = rng.normal(size=(3, 4))
    gx = np.array(block.backward(g))
    d = (1 - np.tanh(x @ inner.w.data + inner.b.data) ** 2) * g
    np.testing.assert_allclose(gx, g + d @ inner.w.data.T, rtol=1e-13)


def test_dropout_inside_a_residual_follows_the_model_mode(rng):
    model = nc.Sequential(nc.Dense(4, 8), nc.Residual(nc.Dropout(0.5), nc.Dense(8, 8)),
                          nc.Dense(8, 2), seed=0)
    inner = model[1].layers[0]
    model.eval()
    assert not inner.training
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.array(model.forward(x)), model.predict(x))
    model.train()
    assert inner.training
    assert not np.array_equal(np.array(model.forward(x)), model.predict(x))


# ------------------------------------------------------------------ shape checks

def test_residual_checks_its_width_when_built():
    with pytest.raises(ValueError, match="Residual: its layers map 4 features to 5"):
        nc.Residual(nc.Dense(4, 5))
    with pytest.raises(ValueError, match="Dense: expects 8 input features"):
        nc.Sequential(nc.Dense(3, 4), nc.Residual(nc.Dense(8, 8)))
    with pytest.raises(ValueError, match="Residual: its layers map 4 features to 6"):
        nc.Sequential(nc.Dense(3, 4), nc.Residual(nc.Dense(6)))  # Dense(6) can never fit
    lazy = nc.Sequential(nc.Residual(nc.Dense(6)), nc.Dense(2))  # the width comes later
    with pytest.raises(ValueError, match="Residual: its layers map 3 features to 6"):
        lazy.build((None, 3))
    lazy.build((None, 6))
    assert lazy[0].layers[0].w.shape == (6, 6)
    with pytest.raises(ValueError, match="Flatten"):
        nc.Residual(nc.Flatten())
    with pytest.raises(ValueError, match="Residual: give one or more nncore layers"):
        nc.Residual()


def test_flatten_models_take_nd_inputs_others_do_not(rng):
    x = rng.normal(size=(20, 3, 4))
    y = rng.integers(0, 2, 20)
    model = nc.Sequential(nc.Flatten(), nc.Dense(12, 2), seed=0)
    history = model.fit(x, y, loss="cross_entropy", epochs=2, verbose=0)
    assert history.engine == "native"  # the engine gets the rows flattened
    assert model.predict(x).shape == (20, 2)
    assert set(model.evaluate(x, y)) == {"loss", "accuracy"}
    assert model.input_shape == (3, 4)  # the first data fixes it, as in Keras
    with pytest.raises(ValueError, match=r"x has samples of shape \(3, 5\); the first layer "
                                         r"expects \(3, 4\)"):
        model.predict(rng.normal(size=(2, 3, 5)))
    fresh = nc.Sequential(nc.Flatten(), nc.Dense(12, 2), seed=0)
    with pytest.raises(ValueError, match="Dense: expects 12 input features; the previous "
                                         "layer gives 15"):
        fresh.predict(rng.normal(size=(2, 3, 5)))
    plain = nc.Sequential(nc.Dense(12, 2))
    with pytest.raises(ValueError, match="x must be 2-D"):
        plain.predict(x)
    with pytest.raises(ValueError, match="put a Flatten"):
        nc.Sequential(nc.Dense(4), input_shape=(3, 4))


# ------------------------------------------------------------------ shape inference

def test_keras_style_dense_infers_its_input_width(rng):
    layer = nc.Dense(64, "relu")
    assert (layer.in_features, layer.out_features, layer.activation) == (None, 64, "relu")
    assert nc.Dense(64, activation="tanh").activation == "tanh"
    assert nc.Dense(out_features=8).out_features == 8
    assert nc.Dense(3, 5, "sigmoid").in_features == 3  # PyTorch's order keeps working
    with pytest.raises(ValueError, match="activation given twice"):
        nc.Dense(4, "relu", activation="tanh")
    with pytest.raises(ValueError, match="out_features must be a positive int"):
        nc.Dense()
    with pytest.raises(ValueError, match=r"not known yet.*build it first"):
        layer.parameters()
    out = layer.forward(rng.normal(size=(2, 7)))  # a layer alone builds at its first input
    assert out.shape == (2, 64) and layer.w.shape == (7, 64)


def test_unbuilt_model_refuses_parameters_and_builds_at_first_data(rng):
    model = nc.Sequential(nc.Dense(16, "relu"), nc.Dense(3), seed=0)
    assert not model.built and model.input_shape is None
    for call in (model.parameters, model.named_parameters, model.summary, model.to_onnx):
        with pytest.raises(ValueError, match="not built yet|input shape is not known"):
            call()
    with pytest.raises(ValueError, match="not built yet"):
        nc.Adam(model.parameters())
    x = rng.normal(size=(30, 5))
    y = rng.integers(0, 3, 30)
    model.fit(x, y, optimizer=nc.Adam(lr=0.01), epochs=1, verbose=0)
    assert model.built and model.input_shape == (5,)
    assert [p.shape for p in model.parameters()] == [(5, 16), (16,), (16, 3), (3,)]
    with pytest.raises(ValueError, match="x has 6 features; the first layer expects 5"):
        model.predict(rng.normal(size=(2, 6)))


@pytest.mark.parametrize("how", ["input_shape", "build", "first_data", "forward"])
def test_inferred_widths_give_the_weights_of_the_written_model(how, rng):
    x = rng.normal(size=(4, 40))
    want = _mnist1d_mlp(seed=7)
    kw = {"input_shape": (40,)} if how == "input_shape" else {}
    model = nc.Sequential(nc.Dense(256, "relu"), nc.Residual(nc.Dense(256, "relu")),
                          nc.Dense(10), seed=7, **kw)
    if how == "build":
        model.build((None, 40))
    out = model.predict(x) if how != "forward" else np.array(model.forward(x))
    assert model.input_shape == (40,)
    for a, b in zip(model.get_weights(), want.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out, want.predict(x) if how != "forward" else want.forward(x))


def test_build_errors():
    model = nc.Sequential(nc.Dense(4))
    with pytest.raises(ValueError, match="batch first"):
        model.build((40,))
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        nc.Sequential(nc.Dense(4), input_shape=(0,))
    with pytest.raises(ValueError, match="expects 3 input features"):
        nc.Sequential(nc.Dense(3, 4), input_shape=5)


# ------------------------------------------------------------------ container habits

def test_sequential_takes_layers_as_arguments_or_a_list(rng):
    a = nc.Sequential(nc.Dense(3, 4, "relu"), nc.Dense(4, 2), seed=1)
    b = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=1)
    c = nc.Sequential((layer for layer in [nc.Dense(3, 4, "relu"), nc.Dense(4, 2)]), seed=1)
    x = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    np.testing.assert_array_equal(a.predict(x), c.predict(x))
    with pytest.raises(ValueError, match="got str"):
        nc.Sequential(nc.Dense(3, 4), "relu")


def test_add_len_index_slice_iterate(rng):
    model = nc.Sequential(seed=0)
    assert len(model) == 0
    assert model.add(nc.Dense(40, 256, "relu")) is model
    model.add(nc.Residual(nc.Dense(256, 256, "relu")))
    model.add(nc.Dense(10))  # Keras's Dense(units) after add: built from the model's width
    assert model.built and model[2].in_features == 256
    x = rng.normal(size=(3, 40))
    np.testing.assert_array_equal(model.predict(x), _mnist1d_mlp(seed=0).predict(x))
    assert len(model) == 3
    assert isinstance(model[1], nc.Residual) and model[-1] is model.layers[-1]
    assert list(model) == model.layers
    head = model[:2]
    assert isinstance(head, nc.Sequential) and head.layers == model.layers[:2]
    assert head[0] is model[0]  # the same layer objects, as PyTorch's slices
    np.testing.assert_array_equal(model[2:].predict(head.predict(x)), model.predict(x))
    with pytest.raises(ValueError, match="expects 11 input features; the previous layer "
                                         "gives 10"):
        model.add(nc.Dense(11, 2))
    with pytest.raises(ValueError, match="must be an nncore layer"):
        model.add("relu")
    keras = nc.Sequential()
    keras.add(nc.Dense(8, "relu"))
    keras.add(nc.Dense(1))
    keras.fit(rng.normal(size=(10, 3)), rng.normal(size=10), epochs=1, verbose=0)
    assert keras.input_shape == (3,)


def test_add_takes_the_dtype_of_the_first_layer_that_names_one():
    model = nc.Sequential()
    model.add(nc.Dense(3, 4, dtype="float64"))
    assert model.dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        model.add(nc.Dense(4, 2, dtype="float32"))


def test_named_parameters_inside_residuals_are_unique():
    names = [n for n, _ in _deep_model().named_parameters()]
    assert len(names) == len(set(names))
    assert "residual_2.3.0.w" in names and "residual_3.3.b" in names
    state = _deep_model(seed=1).state_dict()
    model = _deep_model(seed=2)
    model.load_state_dict(state)
    for a, (name, b) in zip(model.get_weights(), state.items()):
        np.testing.assert_array_equal(a, b)


def test_summary_shows_residual_layers_indented():
    text = _mnist1d_mlp().summary(print_fn=None)
    lines = text.splitlines()
    block = next(i for i, line in enumerate(lines) if line.startswith("residual_1"))
    assert lines[block + 1].startswith("  dense_0") and "65,792" in lines[block]
    assert "total params: 78,858" in text
    flat = nc.Sequential(nc.Flatten(), nc.Dense(12, 2), input_shape=(3, 4))
    assert "(None, 12)" in flat.summary(print_fn=None)


# ------------------------------------------------------------------ engines and saving

def test_engines_on_residual_models(rng):
    x = rng.normal(size=(64, 40)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = _mnist1d_mlp()
    auto = model.fit(x, y, optimizer=nc.Adam(lr=1e-2), epochs=2, seed=0, verbose=0)
    assert auto.engine == "native"  # the block's begin and end are trainer steps
    again = _mnist1d_mlp()
    again.fit(x, y, optimizer=nc.Adam(lr=1e-2), epochs=2, seed=0, verbose=0, engine="python")
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.train_on_batch(x, y) > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, dtype, rng):
    model = _deep_model(dtype=dtype)
    x = rng.normal(size=(32, 3, 4))
    y = rng.integers(0, 3, 32)
    model.fit(x, y, optimizer=nc.Adam(lr=1e-2), epochs=2, seed=0, verbose=0)
    back = nc.load(model.save(tmp_path / "m.npz"))
    assert [type(layer) for layer in back] == [type(layer) for layer in model]
    assert back.input_shape == (3, 4) and back.dtype == model.dtype
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    model.fit(x, y, epochs=1, seed=1, verbose=0)
    back.fit(x, y, epochs=1, seed=1, verbose=0)  # optimiser state and Dropout seeds came too
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_load_of_an_unbuilt_model(tmp_path, rng):
    model = nc.Sequential(nc.Dense(8, "relu"), nc.Residual(nc.Dense(8)), nc.Dense(2))
    back = nc.load(model.save(tmp_path / "lazy.npz"))
    assert not back.built and back[0].out_features == 8
    assert back.predict(rng.normal(size=(3, 5))).shape == (3, 2)


def test_unbuilt_dense_errors_and_bias_free_build(rng):
    layer = nc.Dense(3, use_bias=False)
    with pytest.raises(ValueError, match=r"Dense\(3\)\.set_weights: .*not known yet"):
        layer.set_weights(np.ones((2, 3)))
    model = nc.Sequential(layer, input_shape=(2,), dtype="float64")
    assert [p.shape for p in model.parameters()] == [(2, 3)]
    x = rng.normal(size=(4, 2))
    np.testing.assert_allclose(model.predict(x), x @ layer.w.data, rtol=1e-14)
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nc.Dense(4).build(0)
