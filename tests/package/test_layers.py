import tracemalloc

import numpy as np
import pytest

import nncore as nc
import nncore.reference as R


def test_dense_forward_backward_match_reference(rng):
    layer = nc.Dense(5, 3, activation="tanh", dtype="float64", seed=0)
    x = rng.standard_normal((4, 5))
    y = layer.forward(x)
    np.testing.assert_allclose(y, R.dense_forward(x, layer.w.data, layer.b.data, "tanh"),
                               rtol=1e-12)
    gy = rng.standard_normal((4, 3))
    gx = layer.backward(gy)
    rx, rw, rb = R.dense_backward(x, layer.w.data, y, gy, "tanh")
    np.testing.assert_allclose(gx, rx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.w.grad, rw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.b.grad, rb, rtol=1e-12, atol=1e-14)
    assert [p.name for p in layer.parameters()] == ["w", "b"]
    assert layer.grads()[0] is layer.w.grad


def test_fused_equals_separate_layers(rng):
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    fused = nc.Sequential([nc.Dense(4, 5, "relu"), nc.Dense(5, 3)], seed=3, dtype="float64")
    split = nc.Sequential([nc.Dense(4, 5), nc.ReLU(), nc.Dense(5, 3)], seed=3, dtype="float64")
    assert split._skip == [False, True, False]
    # same seed, same draws: the split model's first Dense uses Glorot, so copy weights
    for a, b in zip(fused.parameters(), split.parameters()):
        b.data[...] = a.data
    loss = nc.CrossEntropyLoss()
    for model in (fused, split):
        loss(model.forward(x), y)
        model.backward(loss.backward())
    np.testing.assert_allclose(fused.forward(x), split.forward(x), rtol=1e-14)
    for a, b in zip(fused.grads(), split.grads()):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_activation_layers_forward_backward(rng):
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    for layer, name in [(nc.ReLU(), "relu"), (nc.Sigmoid(), "sigmoid"), (nc.Tanh(), "tanh"),
                        (nc.Identity(), "identity")]:
        layer.dtype = np.dtype(np.float64)
        y = layer.forward(x)
        np.testing.assert_allclose(y, getattr(R, name)(x), rtol=1e-12)
        np.testing.assert_allclose(layer.backward(g), getattr(R, name + "_backward")(y, g),
                                   rtol=1e-12)
    sm = nc.Softmax()
    sm.dtype = np.dtype(np.float64)
    y = sm.forward(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(sm.backward(g), R.softmax_backward(y, g), rtol=1e-12)
    lr = nc.LeakyReLU(0.2)
    lr.dtype = np.dtype(np.float64)
    np.testing.assert_allclose(lr.forward(x), R.leaky_relu(x, 0.2))


def test_warm_training_step_keeps_no_arrays(rng):
    model = nc.Sequential([nc.Dense(20, 64, "relu"), nc.Dense(64, 32, "tanh"), nc.Dense(32, 5)],
                          seed=0)
    x = rng.standard_normal((16, 20)).astype(np.float32)
    y = rng.integers(0, 5, 16)
    loss = nc.CrossEntropyLoss()
    opt = nc.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step():
        out = model.forward(x)
        loss(out, y)
        model.backward(loss.backward())
        opt.step()
        return out

    first = step()
    step()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(5):
        out = step()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert out is not first  # each output is the caller's (issue 22)
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if s.size_diff > 0)
    assert grown < 16 * 1024, f"warm steps kept {grown} bytes"


def test_summary_and_counts():
    model = nc.Sequential([nc.Dense(784, 128, "relu"), nc.Dense(128, 10)])
    text = model.summary(print_fn=None)
    assert "100,480" in text and "1,290" in text and "101,770" in text
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10


def test_dtypes():
    m32 = nc.Sequential([nc.Dense(3, 2)], seed=0)
    m64 = nc.Sequential([nc.Dense(3, 2)], seed=0, dtype="float64")
    assert m32.parameters()[0].dtype == np.float32
    assert m64.parameters()[0].dtype == np.float64
    np.testing.assert_allclose(m32.parameters()[0].data, m64.parameters()[0].data, rtol=1e-6)
    assert m64.predict(np.ones((2, 3))).dtype == np.float64


def test_warm_step_with_adam_and_clipping_allocates_no_arrays(rng):
    model = nc.Sequential([nc.Dense(20, 64), nc.ReLU(), nc.Dense(64, 5)], seed=0,
                          dtype="float64")
    x = rng.standard_normal((16, 20))
    y = rng.standard_normal((16, 5))
    loss = nc.MSELoss()
    opt = nc.Adam(model.parameters(), lr=1e-3, clip_norm=1.0, clip_value=0.5)
    for _ in range(2):
        loss(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(5):
        loss(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 16 * 1024, f"warm steps kept {grown} bytes"


@pytest.mark.parametrize("kwargs, word", [({"in_features": 0, "out_features": 3}, "in_features"),
                                          ({"in_features": 3, "out_features": 2.5},
                                           "out_features"),
                                          ({"in_features": 3, "out_features": 2,
                                            "activation": "swish"}, "activation"),
                                          ({"in_features": 3, "out_features": 2,
                                            "dtype": "int32"}, "dtype"),
                                          ({"in_features": 3, "out_features": 2,
                                            "init": "bogus"}, "init")])
def test_dense_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        nc.Dense(**kwargs)


def test_sequential_shape_mismatch():
    with pytest.raises(ValueError, match="expects 5 input features"):
        nc.Sequential([nc.Dense(3, 4), nc.Dense(5, 2)])


@pytest.mark.parametrize("act, layer", [("relu", nc.ReLU()), ("sigmoid", nc.Sigmoid()),
                                        ("tanh", nc.Tanh()), ("identity", nc.Identity()),
                                        ("leaky_relu", nc.LeakyReLU(0.2))])
def test_every_fusable_activation_fuses_exactly(rng, act, layer):
    x = rng.standard_normal((7, 4))
    g = rng.standard_normal((7, 3))
    split = nc.Sequential([nc.Dense(4, 5), layer, nc.Dense(5, 3)], seed=1, dtype="float64")
    assert split._skip == [False, True, False]
    slope = 0.2 if act == "leaky_relu" else 0.01
    w, b = split.layers[0].w.data, split.layers[0].b.data
    want = R.dense_forward(x, w, b, act, slope=slope)
    split.forward(x)
    np.testing.assert_allclose(split.layers[0].output, want, rtol=1e-12, atol=1e-15)
    split.backward(g)
    _, gw, gb = R.dense_backward(x, w, want, split.layers[2].backward(g), act, slope=slope)
    np.testing.assert_allclose(split.layers[0].w.grad, gw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(split.layers[0].b.grad, gb, rtol=1e-12, atol=1e-14)


def test_the_fusion_plan_is_the_models_and_leaves_the_layers_as_given(rng):
    x = rng.standard_normal((6, 4))
    dense = nc.Dense(4, 3, seed=0, dtype="float64")
    alone = np.array(dense.forward(x))
    relu = nc.Sequential([dense, nc.ReLU()], dtype="float64")
    sig = nc.Sequential([dense, nc.Sigmoid()], dtype="float64")
    assert relu._skip == sig._skip == [False, True]
    np.testing.assert_array_equal(dense.forward(x), alone)  # the layer is still linear
    np.testing.assert_allclose(relu.forward(x), np.maximum(alone, 0), rtol=1e-12)
    np.testing.assert_allclose(sig.forward(x), 1 / (1 + np.exp(-alone)), rtol=1e-12)
    assert relu.activation_of(0) == ("relu", 0.01) and sig.activation_of(0)[0] == "sigmoid"
    assert dense.activation == "identity"


def test_softmax_layer_is_not_fused():
    model = nc.Sequential([nc.Dense(3, 4), nc.Softmax()])
    assert model._skip == [False, False]
    np.testing.assert_allclose(model.forward(np.ones((2, 3))).sum(axis=1), 1.0, rtol=1e-6)


def test_one_sample_input_and_returned_arrays_are_the_callers(rng):
    layer = nc.Dense(3, 2, "relu", seed=0)
    assert layer.forward(np.ones(3, np.float32)).shape == (2,)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    first = layer.forward(x)
    kept = first.copy()
    assert layer.forward(x + 1) is not first        # same batch size: still a new array
    np.testing.assert_array_equal(first, kept)
    gx = layer.backward(np.ones((5, 2), np.float32))
    assert layer.backward(np.ones((5, 2), np.float32)) is not gx


def test_first_layer_skips_its_input_gradient(rng):
    model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 2)], seed=0, dtype="float64")
    x = rng.standard_normal((5, 3))
    model.forward(x)
    assert model.backward(np.ones((5, 2))) is None
    model.set_input_grad(True)
    model.forward(x)
    gx = model.backward(np.ones((5, 2)))
    w0, w1 = model.layers[0].w.data, model.layers[1].w.data
    h = R.dense_forward(x, w0, model.layers[0].b.data, "tanh")
    want = R.tanh_backward(h, np.ones((5, 2)) @ w1.T) @ w0.T
    np.testing.assert_allclose(gx, want, rtol=1e-12)


def test_zero_grad_and_grads(rng):
    model = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=0)
    model.forward(rng.standard_normal((4, 3)).astype(np.float32))
    model.backward(np.ones((4, 2), np.float32))
    assert any(np.any(g != 0) for g in model.grads())
    model.zero_grad()
    assert all(np.all(g == 0) for g in model.grads())
    assert [n for n, _ in model.named_parameters()] == ["dense_0.w", "dense_0.b", "dense_1.w",
                                                       "dense_1.b"]


def test_layer_errors():
    layer = nc.Dense(2, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        nc.ReLU().backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="shape"):
        layer.set_weights(np.ones((3, 2)))
    with pytest.raises(ValueError, match="use_bias"):
        nc.Dense(2, 2, use_bias=False).set_weights(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="slope"):
        nc.LeakyReLU(-1.0)
    with pytest.raises(ValueError, match="no layers yet; add them"):
        nc.Sequential([]).predict(np.ones((1, 2)))  # Sequential() is a model to add() to
    with pytest.raises(ValueError, match="layers"):
        nc.Sequential([nc.Dense(2, 2), "relu"])


def test_inputs_of_another_dtype_are_cast(rng):
    """A float32 model takes float64 / integer data and gradients, as Keras does."""
    model = nc.Sequential([nc.Dense(3, 4), nc.ReLU(), nc.Dense(4, 2)], seed=0)
    x64 = rng.standard_normal((5, 3))
    out = model.forward(x64)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.forward(x64.astype(np.float32)), rtol=1e-6)
    assert model.forward([[1, 2, 3]]).dtype == np.float32
    model.forward(x64)
    model.backward(np.ones((5, 2)))                       # float64 gradient
    assert model.parameters()[0].grad.dtype == np.float32
    relu = nc.ReLU()
    assert relu(np.ones((2, 2))).dtype == np.float64      # a lone activation keeps floats
    assert relu([[1, -2]]).tolist() == [[1.0, 0.0]]
