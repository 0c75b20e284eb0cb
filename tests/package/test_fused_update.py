"""The native step updates each layer's parameters right after that layer's backward
(plain steps: no clipping, no health=True, one process). That is the python step's update
only if each layer's input gradient was taken with the weights from before the step and
every update uses the same constants: these cases train nets whose products take both the
direct and the packed path, with parameters over one chunk of the optimiser kernels, for
every optimiser option, and need the engines' weights, state and History bitwise equal."""
import numpy as np
import pytest

import nncore as nc

from .test_engine import OPTIMIZERS, assert_same, fit_both

PLAIN = sorted(k for k in OPTIMIZERS if "clip" not in k)


def deep(dtype, norm=nc.LayerNorm):
    # 6-130: packed products; 130-128: 16640 weights, more than one chunk of the update
    # kernels (split between threads); 2-3: direct products. Large steps, so that a weight
    # updated before its layer's input gradient would show in every later bit.
    return nc.Sequential([nc.Dense(6, 130, "relu"), nc.Dense(130, 128, "tanh"), norm(128),
                          nc.Dense(128, 2, "sigmoid"), nc.Dense(2, 3)], seed=7, dtype=dtype)


def data(n=70, features=6, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", PLAIN)
def test_each_update_after_its_layer_is_the_python_step(name, threads):
    x, y = data()
    results = fit_both(lambda: deep("float32"), x, y, threads=threads,
                       make_opt=OPTIMIZERS[name], loss="cross_entropy", epochs=3,
                       batch_size=32, seed=2)  # the last batch: 6 rows
    assert_same(results)
    trained = results[1][0].layers[0].w.data
    assert not np.array_equal(trained, deep("float32").layers[0].w.data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_groups_and_no_decay_with_batch_norm(dtype):
    x, y = data(n=64)

    def opt():
        return nc.SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=0.05)

    def grouped_model():
        return deep(dtype, nc.BatchNorm1d)

    def make_opt_grouped(m):
        return nc.Adam([{"params": m.layers[0].parameters(), "amsgrad": True},
                        {"params": [p for layer in m.layers[1:] for p in layer.parameters()],
                         "lr": 0.02, "weight_decay": 0.01}], lr=0.01)

    assert_same(fit_both(grouped_model, x, y, make_opt=opt, loss="cross_entropy", epochs=2,
                         batch_size=16, seed=0))
    runs = []
    for engine in ("python", "native"):
        m = grouped_model()
        o = make_opt_grouped(m)
        h = m.fit(x, y, loss="cross_entropy", optimizer=o, epochs=2, batch_size=16, seed=0,
                  verbose=0, engine=engine)
        assert h.engine == engine
        runs.append((h.history["loss"], m.get_weights(), o.state_arrays()))
    (lp, wp, sp), (ln, wn, sn) = runs
    assert lp == ln and sp.keys() == sn.keys()
    for a, b in zip(wp, wn):
        assert a.tobytes() == b.tobytes()
    for k in sp:
        assert sp[k].tobytes() == sn[k].tobytes(), k


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("batch_size", [4, 7, 64])  # 7 and 70 % 64: rows left over
@pytest.mark.parametrize("bias", [True, False])
def test_narrow_layers_on_the_direct_path(width, batch_size, bias):
    # The native step sums a layer of one to four outputs side by side in registers (one
    # output: four rows at a time); each sum is still the direct product's (0 + a0 b0 +
    # a1 b1 + ... in order, then the bias), in forward, weight and input gradients.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((70, 5))
    y = rng.standard_normal((70, width))
    make = lambda: nc.Sequential([nc.Dense(5, width, "tanh", use_bias=bias),
                                  nc.Dense(width, 6, "sigmoid", use_bias=bias),
                                  nc.Dense(6, width, use_bias=bias)], seed=5, dtype="float32")
    assert_same(fit_both(make, x, y, loss="mse", make_opt=lambda: nc.SGD(lr=0.3, momentum=0.5),
                         epochs=3, batch_size=batch_size, seed=1))


def test_xor_full_batch():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    make = lambda: nc.Sequential([nc.Dense(2, 4, "sigmoid"), nc.Dense(4, 1, "sigmoid")],
                                 seed=0)
    assert_same(fit_both(make, x, y, loss="mse", make_opt=lambda: nc.SGD(lr=0.5),
                         epochs=200, seed=0))
