"""The native engine splits a batch's forward product through the first Dense layer into
even row blocks, one per thread (Trainer::even_rows), where gemm would split it anyway
and the layer's weights fit in half of L2: 256 x 256 x 128 (a 128 KiB float32 or 256 KiB
float64 weight). The engines must still agree bit for bit on 1 and 2 threads, over
batches of even and odd row counts and a ragged last batch, through every activation of
the forward's epilogue and with or without a bias."""
import warnings

import numpy as np
import pytest

import nncore as nc

from .test_engine import assert_same, fit_both


def net(dtype, act="relu", bias=True):
    return nc.Sequential([nc.Dense(256, 128, act, use_bias=bias), nc.Dense(128, 32, "tanh"),
                          nc.Dense(32, 4)], seed=5, dtype=dtype)


def data(n):
    rng = np.random.default_rng(11)
    return rng.standard_normal((n, 256)), rng.integers(0, 4, n)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [256, 251])
def test_first_layer_in_row_blocks_gives_the_python_engines_bits(dtype, threads, batch_size):
    # 700 rows: two full batches and a ragged last one (188 or 198 rows)
    x, y = data(700)
    results = fit_both(lambda: net(dtype), x, y, threads=threads, loss="cross_entropy",
                       make_opt=lambda: nc.SGD(lr=0.05, momentum=0.5), epochs=2,
                       batch_size=batch_size, seed=1, metrics=["accuracy"])
    assert_same(results)
    for before, after in zip(net(dtype).layers, results[1][0].layers):
        assert np.mean(before.w.data != after.w.data) > 0.5


@pytest.mark.parametrize("act,bias", [("identity", True), ("leaky_relu", False),
                                      ("sigmoid", True), ("tanh", False)])
def test_other_activations_and_no_bias(act, bias):
    x, y = data(512)
    assert_same(fit_both(lambda: net("float32", act, bias), x, y, threads=2,
                         loss="cross_entropy", epochs=1, batch_size=256, seed=2))


def test_any_thread_count_gives_the_same_bits():
    x, y = data(600)
    weights = []
    for threads in (1, 2, 3):
        m = net("float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3 threads on a 2-CPU machine say so
            with nc.threads(threads):
                m.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05), epochs=1,
                      batch_size=256, seed=4, verbose=0, engine="native")
        weights.append([p.data.tobytes() for p in m.parameters()])
    assert weights[0] == weights[1] == weights[2]
