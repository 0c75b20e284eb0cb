"""The two builds of the parallel layer: nncore's own pool (the default) and OpenMP
(``pip install . -Ccmake.define.NNCORE_OPENMP=ON``). Both run the same tasks, so they give
the same bits: every test here runs on either build, and ``.ci/run`` runs this file on
both, with NNCORE_OTHER_BUILD_PYTHON naming the other build's interpreter so that the
digests of the two builds are compared.

Run as a script, this file prints the digest of this build's results as JSON.
"""
import hashlib
import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _core

OPENMP = nncore.config()["openmp"]


def results(dtype):
    """Every native family at sizes that use both threads, and two training runs."""
    rng = np.random.default_rng(2026)
    a = rng.standard_normal((203, 257)).astype(dtype)
    b = rng.standard_normal((257, 301)).astype(dtype)
    x = rng.standard_normal((96, 300)).astype(dtype)
    w = (rng.standard_normal((300, 200)) / 17).astype(dtype)
    bias = rng.standard_normal(200).astype(dtype)
    big = rng.standard_normal((3000, 70)).astype(dtype)
    labels = rng.integers(0, 70, 3000)
    out = {"mm": F.matmul(a, b), "mm_tt": F.matmul(b, a, trans_a=True, trans_b=True)}
    for act in ["relu", "tanh", "sigmoid"]:
        y = F.dense_forward(x, w, bias, act)
        out["dense_" + act] = (y, F.dense_backward(x, w, y, np.ascontiguousarray(y[::-1]), act))
    out["ce"] = F.cross_entropy_and_grad(big, labels)
    out["mse"] = F.mse_loss_and_grad(big, big[::-1])
    out["softmax"] = F.log_softmax(big, axis=0)
    out["tanh"] = F.tanh(rng.standard_normal(300_000).astype(dtype))
    xt = rng.random((512, 784)).astype(dtype)
    yt = rng.integers(0, 10, 512)
    for engine in ["native", "python"]:
        # MNIST-shaped: layer 1's products on both threads, its weight update in their hook
        model = nncore.Sequential([nncore.Dense(784, 256, "relu"), nncore.Dense(256, 128, "relu"),
                                   nncore.Dense(128, 10)], seed=1, dtype=np.dtype(dtype).name)
        hist = model.fit(xt, yt, loss="cross_entropy", optimizer=nncore.Adam(lr=1e-3),
                         epochs=2, batch_size=64, verbose=0, engine=engine, seed=5)
        out["fit_" + engine] = ([p.data for p in model.parameters()],
                                np.array(hist.history["loss"]))
    return out


def digests(threads):
    """{name: sha256 of the result's bytes} at `threads` threads, both dtypes."""
    found = {}
    with nncore.threads(threads):
        for dtype in (np.float32, np.float64):
            for name, value in results(dtype).items():
                h = hashlib.sha256()
                stack = [value]
                while stack:
                    v = stack.pop()
                    if isinstance(v, (tuple, list)):
                        stack.extend(reversed(v))
                    else:
                        arr = np.ascontiguousarray(v)
                        h.update(str((arr.dtype, arr.shape)).encode())
                        h.update(arr.tobytes())
                found[f"{name}/{np.dtype(dtype).name}"] = h.hexdigest()
    return found


def test_same_bits_at_one_and_two_threads():
    jobs = _core._pool_stats()["jobs"]
    two = digests(2)
    assert _core._pool_stats()["jobs"] > jobs + 50  # the parallel layer ran them
    assert digests(1) == two


def test_same_bits_as_the_other_build():
    other = os.environ.get("NNCORE_OTHER_BUILD_PYTHON")
    if not other:
        pytest.skip("set NNCORE_OTHER_BUILD_PYTHON to the other build's python (.ci/run does)")
    r = subprocess.run(shlex.split(other) + [__file__], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    assert theirs["openmp"] != OPENMP, "NNCORE_OTHER_BUILD_PYTHON runs this same build"
    assert theirs["isa"] == nncore.config()["isa"]
    assert digests(2) == theirs["digests"]


def test_config_says_which_layer_runs():
    c = nncore.config()
    assert isinstance(c["openmp"], bool)
    assert c["threads"]["pool"] == ("openmp" if c["openmp"] else "nncore")
    stats = _core._pool_stats()
    if OPENMP:
        assert c["threads"]["spin_us"] is None and stats["sleeping"] is None
        assert c["threads"]["wait_policy"] == os.environ.get("OMP_WAIT_POLICY")
        with pytest.raises(RuntimeError, match="_set_spin_us: .*OpenMP.*OMP_WAIT_POLICY"):
            _core._set_spin_us(10)
    else:
        assert c["threads"]["spin_us"] == stats["spin_us"] == 50.0
        assert "wait_policy" not in c["threads"]


@pytest.mark.parametrize("threads", [2, 3])
def test_each_item_runs_once_on_a_thread_of_the_call(threads):
    ids, inner = _core._parallel_probe(1000, threads)
    assert len(ids) == 1000 and set(ids) <= set(range(threads))
    assert inner == [0] * 1000
    # a call that runs alone (one thread, or one item) is thread 0
    assert _core._parallel_probe(50, 1)[0] == [0] * 50
    assert _core._parallel_probe(1, threads)[0] == [0]


def test_a_nested_call_runs_alone_on_its_thread():
    serial = _core._pool_stats()["serial"]
    ids, inner = _core._parallel_probe(64, 2, nested=True)
    assert inner == [0] * 64  # inside a task a parallel_for is thread 0 of its own
    assert _core._pool_stats()["serial"] >= serial + 64


@pytest.mark.parametrize("throw_at", [0, 517, 999])
def test_an_exception_in_a_task_reaches_the_caller(throw_at):
    with pytest.raises(ValueError, match=f"_parallel_probe: item {throw_at} threw"):
        _core._parallel_probe(1000, 2, throw_at=throw_at)
    # and the layer runs the next call in full
    ids, _ = _core._parallel_probe(1000, 2)
    assert len(ids) == 1000 and set(ids) <= {0, 1}


@pytest.mark.parametrize("throw_at", [0, 517, 999])
def test_a_hot_call_that_throws_ends_its_guard(throw_at):
    """The guard the native trainer holds for a chunk (HotPool) ends with the call, also
    when a task throws: nothing is left spinning or counted hot, and the next call,
    hot or not, runs in full."""
    started = _core._pool_stats()["hot_guards"]
    with pytest.raises(ValueError, match=f"_parallel_probe: item {throw_at} threw"):
        _core._parallel_probe(1000, 2, throw_at=throw_at, hot=True)
    stats = _core._pool_stats()
    assert stats["hot"] == 0 and stats["hot_guards"] == started + 1
    for hot in (True, False):
        ids, _ = _core._parallel_probe(1000, 2, hot=hot)
        assert len(ids) == 1000 and set(ids) <= {0, 1}
    assert _core._pool_stats()["hot"] == 0


def test_a_nested_call_in_a_hot_call_runs_alone():
    ids, inner = _core._parallel_probe(64, 2, nested=True, hot=True)
    assert inner == [0] * 64 and set(ids) <= {0, 1}
    assert _core._pool_stats()["hot"] == 0


def test_one_thread_takes_no_hot_guard():
    started = _core._pool_stats()["hot_guards"]
    assert _core._parallel_probe(100, 1, hot=True)[0] == [0] * 100
    assert _core._pool_stats()["hot_guards"] == started


if __name__ == "__main__":
    print(json.dumps({"openmp": OPENMP, "isa": nncore.config()["isa"],
                      "digests": digests(2)}))
