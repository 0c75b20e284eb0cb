"""Layer hooks: PyTorch's calling convention, replacement outputs and gradients, handles,
the unfused plan of a hooked layer, and training on the python engine."""
import numpy as np
import pytest

import nncore as nc


def _model(seed=0):
    return nc.Sequential([nc.Dense(3, 4), nc.ReLU(), nc.Dense(4, 2, "sigmoid")], seed=seed,
                         dtype="float64")


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((5, 3)), rng.standard_normal((5, 2))


def test_forward_hooks_see_each_layer_of_a_fused_pair():
    model = _model()
    x, _ = _data()
    assert model._skip == [False, True, False]  # Dense + ReLU fused without hooks
    seen = []
    h1 = model.layers[0].register_forward_hook(
        lambda m, inputs, out: seen.append((m, inputs[0].copy(), out.copy())))
    h2 = model.layers[1].register_forward_hook(
        lambda m, inputs, out: seen.append((m, inputs[0].copy(), out.copy())))
    out = model.forward(x).copy()
    assert model._skip == [False, False, False]  # hooked: two calls
    (m0, x0, z), (m1, z1, a) = seen
    assert m0 is model.layers[0] and m1 is model.layers[1]
    np.testing.assert_array_equal(x0, x)
    w, b = model.layers[0].w.data, model.layers[0].b.data
    np.testing.assert_allclose(z, x @ w + b, rtol=1e-14)
    np.testing.assert_array_equal(z1, z)
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    h1.remove()
    h2.remove()
    assert not model.has_hooks() and model._skip == [False, True, False]
    np.testing.assert_array_equal(model.forward(x), out)  # the same bits fused
    assert len(seen) == 2  # removed hooks do not run


def test_a_forward_hook_replaces_the_output():
    model = _model()
    x, _ = _data()
    plain = model.forward(x).copy()
    with model.layers[1].register_forward_hook(lambda m, inputs, out: out * 0):
        np.testing.assert_allclose(model.forward(x), 1 / (1 + np.exp(-model.layers[2].b.data))
                                   * np.ones((5, 1)), rtol=1e-14)
    np.testing.assert_array_equal(model.forward(x), plain)


def test_backward_hooks_see_and_replace_the_gradients():
    model = _model()
    x, y = _data()
    model.set_input_grad(True)
    loss = nc.MSELoss()
    calls = []

    def hook(m, grad_input, grad_output):
        calls.append((m, grad_input[0].copy(), grad_output[0].copy()))

    handles = [layer.register_full_backward_hook(hook) for layer in model.layers]
    loss(model.forward(x), y)
    grad = loss.backward().copy()
    gx = model.backward(grad)
    assert [c[0] for c in calls] == model.layers[::-1]
    np.testing.assert_array_equal(calls[0][2], grad)
    np.testing.assert_array_equal(calls[-1][1], gx)
    for (_, gi, _), (_, _, go) in zip(calls, calls[1:]):
        np.testing.assert_array_equal(gi, go)  # a layer's dL/d input is the next one's
    for h in handles:
        h.remove()
    # a replacement: zero the gradient reaching the first Dense, so its grads are zero
    with model.layers[1].register_backward_hook(lambda m, gi, go: (np.zeros_like(gi[0]),)):
        loss(model.forward(x), y)
        model.backward(loss.backward())
    assert not np.any(model.layers[0].w.grad) and np.any(model.layers[2].w.grad)


def test_first_layer_backward_hook_gets_none_without_input_grad():
    model = _model()
    x, y = _data()
    got = []
    model.layers[0].register_full_backward_hook(lambda m, gi, go: got.append(gi))
    loss = nc.MSELoss()
    loss(model.forward(x), y)
    model.backward(loss.backward())
    assert got == [(None,)]


def test_calling_a_layer_runs_its_hooks_and_forward_does_not():
    layer = nc.Dense(2, 2, seed=0)
    seen = []
    layer.register_forward_hook(lambda m, i, o: seen.append(1))
    layer.forward(np.ones((1, 2)))
    assert seen == []
    layer(np.ones((1, 2)))
    assert seen == [1]


def test_a_hooked_model_trains_on_the_python_engine_with_the_same_bits(capsys):
    x, y = _data()
    plain, hooked = _model(1), _model(1)
    h = plain.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=3, batch_size=2, seed=0,
                  verbose=0)
    assert h.engine == "native"
    count = []
    hooked.layers[1].register_forward_hook(lambda m, i, o: count.append(1))
    h = hooked.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=3, batch_size=2, seed=0,
                   verbose=2)
    assert h.engine == "python" and len(count) == 9
    assert "python engine runs this fit (a layer has hooks" in capsys.readouterr().out
    for p, q in zip(plain.parameters(), hooked.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="hooks"):
        hooked.fit(x, y, loss="mse", epochs=1, engine="native", verbose=0)


def test_handles_and_bad_hooks():
    layer = nc.ReLU()
    h = layer.register_forward_hook(lambda *a: None)
    assert layer.has_hooks()
    h.remove()
    h.remove()  # a second remove does nothing
    assert not layer.has_hooks()
    with pytest.raises(TypeError, match="register_forward_hook: hook must be callable"):
        layer.register_forward_hook(3)
    with pytest.raises(TypeError, match="callable"):
        layer.register_full_backward_hook(None)
