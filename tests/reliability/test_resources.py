"""Memory: impossible shapes raise MemoryError/ValueError, repeated calls do not leak
memory or references, and 64-bit indexing works past 2**31 elements (opt-in: -m slow)."""
import gc
import os
import sys

import numpy as np
import pytest

import nncore.functional as F


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_impossible_allocations_raise():
    huge = np.broadcast_to(np.float32(1.0), (2**40, 2**10))
    with pytest.raises((MemoryError, ValueError)):
        F.relu(huge)
    with pytest.raises((MemoryError, ValueError)):
        F.matmul(np.broadcast_to(np.float32(1), (2**31, 1)),
                 np.broadcast_to(np.float32(1), (1, 2**31)))
    with pytest.raises((MemoryError, ValueError)):
        F.dense_forward(huge, np.ones((2**10, 2), np.float32))


def calls():
    """One small call of every binding, with inputs whose reference counts we watch."""
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    w = np.ones((4, 2)) / 4
    b = np.zeros(2)
    y = F.dense_forward(x, w, b, "tanh")
    labels = np.array([0, 1, 1])
    p = np.ones(4)
    v, m, s = np.zeros(4), np.zeros(4), np.zeros(4)
    out = np.empty((3, 4))
    fns = [
        lambda: F.matmul(x, w), lambda: F.dense_forward(x, w, b, "relu"),
        lambda: F.dense_backward(x, w, y, y, "tanh"),
        lambda: F.relu(x), lambda: F.sigmoid(x, out=out), lambda: F.tanh(x),
        lambda: F.leaky_relu(x), lambda: F.identity(x),
        lambda: F.relu_backward(x, x), lambda: F.sigmoid_backward(x, x),
        lambda: F.tanh_backward(x, x), lambda: F.leaky_relu_backward(x, x),
        lambda: F.identity_backward(x, x),
        lambda: F.softmax(x), lambda: F.log_softmax(x), lambda: F.softmax_backward(x, x),
        lambda: F.log_softmax_backward(x, x),
        lambda: F.mse_loss(x, x), lambda: F.mse_loss_backward(x, x),
        lambda: F.mse_loss_and_grad(x, x, "none"),
        lambda: F.cross_entropy(x, labels), lambda: F.cross_entropy_backward(x, labels),
        lambda: F.cross_entropy_and_grad(x, labels, sample_weight=[1.0, 2.0, 3.0]),
        lambda: F.binary_cross_entropy_with_logits(x, x * 0),
        lambda: F.binary_cross_entropy_with_logits_backward(x, x * 0),
        lambda: F.binary_cross_entropy_with_logits_and_grad(x, x * 0),
        lambda: F.sgd_step(p, p * 0, v, lr=0.1, momentum=0.5),
        lambda: F.adam_step(p, p * 0, m, s, step=1),
        lambda: _expect_error(lambda: F.relu(np.ones(2, complex))),
        lambda: _expect_error(lambda: F.cross_entropy(x, [0, 9, 1])),
    ]
    return fns, [x, w, b, y, labels, p, v, m, s, out]


def _expect_error(fn):
    try:
        fn()
    except (TypeError, ValueError):
        return
    raise AssertionError("expected an error")


def test_no_leaks_over_100000_calls():
    fns, watched = calls()
    refs = [sys.getrefcount(a) for a in watched]
    per_fn = 100_000 // len(fns) + 1
    for fn in fns:          # warm up: workspaces, caches
        for _ in range(200):
            fn()
    gc.collect()
    start = rss_bytes()
    total = 0
    for fn in fns:
        for _ in range(per_fn):
            fn()
            total += 1
    gc.collect()
    grown = rss_bytes() - start
    assert total >= 100_000
    assert grown < 4 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over {total} calls"
    assert [sys.getrefcount(a) for a in watched] == refs


@pytest.mark.slow
def test_64bit_indexing_past_2_31_elements():
    """relu and a loss over 2**31 + 17 float32 values (8.6 GB): the last elements are
    processed like the first."""
    n = 2**31 + 17
    x = np.full(n, -1.0, np.float32)
    x[-5:] = 2.0
    F.relu(x, out=x)
    assert x[0] == 0.0 and x[-1] == 2.0 and x[-6] == 0.0
    assert float(np.sum(x[-8:])) == 10.0
    loss = F.mse_loss(x[-2**20:], np.zeros(2**20, np.float32), "sum")
    assert loss == pytest.approx(20.0)
