"""The native engine lays the rows of an activation between two Dense layers, and of the
gradient on it, a cache line further apart when they are a multiple of 4 KiB (1024
float32 or 512 float64 values) and the batch is larger than 512 KiB of them (Trainer's
plan_row_strides): the products then read and write strided rows. The engines must still
agree bit for bit (weights, gradients, optimiser state, History with a metric), on 1 and 2
threads, over a ragged last batch, and nothing of the padding may show: the metric reads
the last layer's outputs, health=True reads the hidden ones (and turns the padding off)."""
import numpy as np
import pytest

import nncore as nc

from .test_engine import assert_same, fit_both

WIDTH = {"float32": 1024, "float64": 512}


def net(dtype, acts=("relu", "tanh")):
    w = WIDTH[dtype]
    # 40 -> w -> w -> w -> 3: two padded activations (outputs of layers 0 and 1) and an
    # unpadded one before the 3-wide head
    return nc.Sequential([nc.Dense(40, w, acts[0]), nc.Dense(w, w, acts[1]),
                          nc.Dense(w, w, "relu"), nc.Dense(w, 3)], seed=3, dtype=dtype)


def data(n=330):
    rng = np.random.default_rng(7)
    return rng.standard_normal((n, 40)), rng.integers(0, 3, n)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_padded_activations_give_the_python_engines_bits(dtype, threads):
    x, y = data()
    # batches of 150, 150, 30: the first two padded (150 rows of 4 KiB > 512 KiB), the
    # last one a ragged batch in the same buffers
    results = fit_both(lambda: net(dtype), x, y, threads=threads, loss="cross_entropy",
                       make_opt=lambda: nc.SGD(lr=0.05, momentum=0.5), epochs=2,
                       batch_size=150, seed=1, metrics=["accuracy"])
    assert_same(results)
    # the step moved every layer's weights
    for before, after in zip(net(dtype).layers, results[1][0].layers):
        assert np.mean(before.w.data != after.w.data) > 0.5


@pytest.mark.parametrize("acts", [("identity", "leaky_relu"), ("sigmoid", "identity")])
def test_padded_rows_with_other_activations(acts):
    x, y = data(300)
    assert_same(fit_both(lambda: net("float32", acts), x, y, threads=1,
                         loss="cross_entropy", epochs=1, batch_size=300, seed=2))


def test_health_sees_the_hidden_outputs():
    """health=True reads each Dense layer's outputs (dead units, saturation): the same
    sums from both engines."""
    x, y = data(300)
    hs = []
    for engine in ("python", "native"):
        m = net("float32")
        h = m.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05), epochs=1,
                  batch_size=150, seed=1, verbose=0, engine=engine, health=True)
        hs.append(h)
    assert hs[0].health and hs[0].health == hs[1].health
