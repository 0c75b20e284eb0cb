"""Same bits for any thread count, and the thread-count API."""
import numpy as np
import pytest

import nncore
import nncore.functional as F


def run_all(rng_seed, dtype):
    rng = np.random.default_rng(rng_seed)
    a = rng.standard_normal((300, 257)).astype(dtype)
    b = rng.standard_normal((257, 301)).astype(dtype)
    x = rng.standard_normal((256, 400)).astype(dtype)
    w = rng.standard_normal((400, 300)).astype(dtype) / 20
    bias = rng.standard_normal(300).astype(dtype)
    out = {"mm": F.matmul(a, b), "mm_tt": F.matmul(b, a, trans_a=True, trans_b=True)}
    for act in ["relu", "tanh", "sigmoid"]:
        y = F.dense_forward(x, w, bias, act)
        gy = np.ascontiguousarray(y[:, ::-1])
        out["fwd_" + act] = y
        out["bwd_" + act] = F.dense_backward(x, w, y, gy, act)
    big = rng.standard_normal((2000, 100)).astype(dtype)
    labels = rng.integers(0, 100, 2000)
    out["ce"] = F.cross_entropy_and_grad(big, labels)
    out["mse"] = F.mse_loss_and_grad(big, big[::-1])
    out["softmax"] = F.softmax(big)
    out["sigmoid"] = F.sigmoid(big)
    return out


def flatten(v):
    if isinstance(v, tuple):
        return [x for item in v for x in flatten(item)]
    return [v]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_across_thread_counts(dtype):
    with nncore.threads(1):
        one = run_all(7, dtype)
    with nncore.threads(2):
        two = run_all(7, dtype)
    with nncore.threads(3):
        three = run_all(7, dtype)
    for key in one:
        for p, q, r in zip(flatten(one[key]), flatten(two[key]), flatten(three[key])):
            assert np.array_equal(p, q), key
            assert np.array_equal(p, r), key


def test_threads_context_manager_restores():
    before = nncore.get_num_threads()
    with nncore.threads(1) as n:
        assert n == 1 and nncore.get_num_threads() == 1
        with nncore.threads(3):
            assert nncore.get_num_threads() == 3
        assert nncore.get_num_threads() == 1
    assert nncore.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with nncore.threads(2):
            raise RuntimeError("inside")
    assert nncore.get_num_threads() == before


def test_config_reports_build():
    c = nncore.config()
    for key in ["version", "compiler", "openmp", "num_threads", "isa", "isa_supported",
                "isa_compiled", "cpu_features", "gemm_blocks"]:
        assert key in c
    assert c["isa"] in c["isa_supported"]
    assert set(c["isa_supported"]) <= set(c["isa_compiled"])
    assert c["version"] == nncore.__version__
    assert c["num_threads"] == nncore.get_num_threads()
