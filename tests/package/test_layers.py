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


def test_warm_training_step_allocates_no_arrays(rng):
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
    assert out is first  # the output workspace is reused
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if s.size_diff > 0)
    assert grown < 16 * 1024, f"a warm step allocated {grown} bytes"


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


@pytest.mark.parametrize("kwargs, word", [({"in_features": 0, "out_features": 3}, "in_features"),
                                          ({"in_features": 3, "out_features": 2.5},
                                           "out_features"),
                                          ({"in_features": 3, "out_features": 2,
                                            "activation": "gelu"}, "activation"),
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


def test_initializers_defaults_and_seed():
    relu = nc.Dense(100, 100, "relu", seed=1)
    sig = nc.Dense(100, 100, "sigmoid", seed=1)
    assert relu.w.data.std() == pytest.approx(np.sqrt(2 / 100), rel=0.1)      # He
    assert sig.w.data.std() == pytest.approx(np.sqrt(2 / 200), rel=0.1)       # Glorot
    again = nc.Dense(100, 100, "relu", seed=1)
    np.testing.assert_array_equal(relu.w.data, again.w.data)
    const = nc.Dense(2, 2, init=nc.initializers.constant(0.5))
    np.testing.assert_array_equal(const.w.data, 0.5)
    for name in ["zeros", "glorot_normal", "xavier_uniform", "he_normal", "kaiming_uniform",
                 "normal", "uniform"]:
        assert nc.Dense(4, 3, init=name).w.shape == (4, 3)
