"""Small MLPs (the tabular kind: a few layers 16-512 wide, batches 16-512) on the native
engine's packed-product path, against the python step bit for bit: the native step sums
the bias gradient of a Dense layer without an activation itself (no call per row), and
the optimiser kernels keep their constants in registers; neither may change a bit of the
weights, gradients, optimiser state or History, at any thread count, with or without
bias, over a last batch with rows left over."""
import numpy as np
import pytest

import nncore as nc

from .test_engine import assert_same, fit_both

# (layer sizes, batch size, rows): every product above the direct path's 1024
# multiply-adds, so that the layers take dense_forward / dense_backward
SHAPES = [((20, 64, 64, 1), 32, 100),     # the tabular workload's net, 4 rows left over
          ((16, 48, 3), 16, 37),          # a narrow output, 5 rows left over
          ((12, 40, 24, 16, 10), 24, 60)]  # three hidden layers, 12 rows left over


def net(sizes, hidden, bias, dtype="float32", seed=3):
    layers = [nc.Dense(a, b, hidden, use_bias=bias) for a, b in zip(sizes[:-2], sizes[1:-1])]
    layers.append(nc.Dense(sizes[-2], sizes[-1], use_bias=bias))  # no activation: identity
    return nc.Sequential(layers, seed=seed, dtype=dtype)


def regression(sizes, rows, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, sizes[0])).astype(np.float32),
            rng.standard_normal((rows, sizes[-1])).astype(np.float32))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("hidden", ["relu", "tanh", "identity", "gelu"])
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_regression_matches_the_python_step(shape, hidden, bias, threads):
    sizes, batch, rows = SHAPES[shape]
    x, y = regression(sizes, rows)
    results = fit_both(lambda: net(sizes, hidden, bias), x, y, threads=threads, loss="mse",
                       make_opt=lambda: nc.SGD(lr=0.05), epochs=3, batch_size=batch, seed=1)
    assert_same(results)
    # the step changed the output layer's bias (when there is one): the sums were used
    if bias:
        before = net(sizes, hidden, bias).layers[-1].b.data
        assert not np.array_equal(results[1][0].layers[-1].b.data, before)


@pytest.mark.parametrize("opt", ["momentum", "adam", "rmsprop"])
@pytest.mark.parametrize("threads", [1, 2])
def test_classification_and_optimisers_match_the_python_step(opt, threads):
    sizes, batch, rows = SHAPES[2]
    rng = np.random.default_rng(4)
    x = rng.standard_normal((rows, sizes[0]))
    y = rng.integers(0, sizes[-1], rows)
    make_opt = {"momentum": lambda: nc.SGD(lr=0.05, momentum=0.9, weight_decay=0.01),
                "adam": lambda: nc.Adam(lr=0.01, amsgrad=True),
                "rmsprop": lambda: nc.RMSprop(lr=0.005, momentum=0.5, centered=True)}[opt]
    for dtype in ("float32", "float64"):
        assert_same(fit_both(lambda: net(sizes, "relu", True, dtype), x, y, threads=threads,
                             loss="cross_entropy", make_opt=make_opt, epochs=2,
                             batch_size=batch, seed=2))
