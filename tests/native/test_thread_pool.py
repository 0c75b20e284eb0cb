"""nncore's thread pool: the same bits for any thread count and any schedule, workers
that sleep after a call, the default thread count, the over-subscription warning,
fork, and many Python threads at once."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import nncore
import nncore.functional as F
from nncore import _core

SCHEDULES = ["normal", "shuffle", "caller_only", "slow_worker"]
# The grace period and the sleepers are the pool's; the OpenMP build (NNCORE_OPENMP=ON)
# has its own checks in test_parallel_builds.py.
pool_only = pytest.mark.skipif(nncore.config()["openmp"],
                               reason="nncore's own pool only (this is the OpenMP build)")


def every_op(dtype, seed=7):
    """Every native function family, at sizes that use several threads (odd sizes: edge
    tiles of the GEMM; several chunks for the elementwise loops and losses)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((203, 257)).astype(dtype)
    b = rng.standard_normal((257, 301)).astype(dtype)
    x = rng.standard_normal((64, 784)).astype(dtype)
    w = (rng.standard_normal((784, 256)) / 28).astype(dtype)
    bias = rng.standard_normal(256).astype(dtype)
    big = rng.standard_normal((3000, 70)).astype(dtype)
    labels = rng.integers(0, 70, 3000)
    probs = rng.dirichlet(np.ones(70), 3000).astype(dtype)
    sw = rng.random(3000).astype(dtype)
    out = {"mm": F.matmul(a, b), "mm_tt": F.matmul(b, a, trans_a=True, trans_b=True)}
    for act in ["relu", "tanh", "sigmoid", "leaky_relu"]:
        y = F.dense_forward(x, w, bias, act)
        gy = np.ascontiguousarray(y[::-1])
        out["fwd_" + act] = y
        out["bwd_" + act] = F.dense_backward(x, w, y, gy, act)
    out["bwd_identity"] = F.dense_backward(x, w, out["fwd_relu"], out["fwd_tanh"])
    # a layer of 700 outputs at 384 rows: its activation backward in 3 column chunks on the
    # threads, its output gradient packed by several tasks for the weight gradient
    xw = rng.standard_normal((384, 800)).astype(dtype)
    ww = (rng.standard_normal((800, 700)) / 28).astype(dtype)
    bw = rng.standard_normal(700).astype(dtype)
    for act in ["relu", "tanh"]:
        y = F.dense_forward(xw, ww, bw, act)
        out["wide_" + act] = (y, F.dense_backward(xw, ww, y, np.ascontiguousarray(y[::-1]), act))
    out["ce"] = F.cross_entropy_and_grad(big, labels)
    out["ce_w"] = F.cross_entropy_and_grad(big, labels, sample_weight=sw)
    out["ce_probs"] = F.cross_entropy_and_grad(big, probs)
    out["mse"] = F.mse_loss_and_grad(big, big[::-1])
    out["mse_w"] = F.mse_loss_and_grad(big, big[::-1], sample_weight=sw)
    out["bce"] = F.binary_cross_entropy_with_logits_and_grad(big, (big > 0.3).astype(dtype))
    out["softmax"] = F.softmax(big)
    out["softmax0"] = F.log_softmax(big, axis=0)
    out["softmax_bwd"] = F.softmax_backward(out["softmax"], big)
    out["softmax0_bwd"] = F.log_softmax_backward(out["softmax0"], big, axis=0)
    huge = rng.standard_normal(300_000).astype(dtype)
    out["sigmoid"] = F.sigmoid(huge)
    out["tanh_bwd"] = F.tanh_backward(F.tanh(huge), huge)
    p, g, v = huge.copy(), huge[::-1].copy(), np.zeros_like(huge)
    _core.sgd_step(p, g, v, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True,
                   dampening=0.0)
    m2, v2, p2 = np.zeros_like(huge), np.zeros_like(huge), huge.copy()
    _core.adam_step(p2, g, m2, v2, step=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.01)
    out["sgd"], out["adam"] = (p, v), (p2, m2, v2)
    return out


def flat(v):
    if isinstance(v, (tuple, list)):
        return [x for item in v for x in flat(item)]
    return [np.asarray(v)]


def assert_bitwise(ref, got, label):
    assert ref.keys() == got.keys()
    for key in ref:
        for p, q in zip(flat(ref[key]), flat(got[key])):
            assert p.dtype == q.dtype and p.shape == q.shape
            assert np.array_equal(p, q, equal_nan=True), f"{key} differs ({label})"


@pytest.fixture
def schedule():
    def set_(mode):
        _core._set_debug_schedule(mode)
    yield set_
    _core._set_debug_schedule("normal")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_bitwise_for_any_thread_count_and_schedule(dtype, schedule):
    with nncore.threads(1):
        ref = every_op(dtype)
    for mode in SCHEDULES:
        schedule(mode)
        for n in (2, 3, 4):
            jobs = _core._pool_stats()["jobs"]
            with nncore.threads(n):
                got = every_op(dtype)
            # the pool really ran these calls (else the comparison proves nothing)
            assert _core._pool_stats()["jobs"] > jobs + 10
            assert_bitwise(ref, got, f"{n} threads, {mode}")


def fit_mnist_shaped(engine, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((1280, 784), dtype=np.float32)  # 40 steps: > 50 parallel jobs at 2 threads
    y = rng.integers(0, 10, 1280)
    model = nncore.Sequential([nncore.Dense(784, 256, "relu"), nncore.Dense(256, 128, "tanh"),
                               nncore.Dense(128, 10)], seed=1, dtype="float32")
    hist = model.fit(x, y, loss="cross_entropy", optimizer=nncore.Adam(lr=1e-3), epochs=2,
                     batch_size=64, verbose=0, engine=engine, seed=5)
    return [p.data.copy() for p in model.parameters()], hist.history["loss"]


@pytest.mark.parametrize("engine", ["native", "python"])
def test_whole_training_run_bitwise_for_any_thread_count_and_schedule(engine, schedule):
    with nncore.threads(1):
        ref_w, ref_loss = fit_mnist_shaped(engine)
    for mode, n in [("normal", 2), ("shuffle", 2), ("shuffle", 3), ("slow_worker", 2),
                    ("caller_only", 4)]:
        schedule(mode)
        jobs = _core._pool_stats()["jobs"]
        with nncore.threads(n):
            w, loss = fit_mnist_shaped(engine)
        assert _core._pool_stats()["jobs"] > jobs + 50
        assert loss == ref_loss, (mode, n)
        for p, q in zip(ref_w, w):
            assert np.array_equal(p, q), (mode, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_in_several_packed_chunks(dtype, schedule):
    """K so deep that A's rows and B's columns are packed in several chunks each."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((230, 20000)).astype(dtype)
    b = rng.standard_normal((20000, 205)).astype(dtype)
    bias = rng.standard_normal(205).astype(dtype)
    want = a.astype(np.float64) @ b + bias
    with nncore.threads(1):
        one = F.dense_forward(a, b, bias)
    # sums of 20,000 products: errors of a few eps relative to the output's scale
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert np.max(np.abs(one - want)) / np.max(np.abs(want)) < tol
    schedule("shuffle")
    with nncore.threads(2):
        assert np.array_equal(F.dense_forward(a, b, bias), one)


def test_tiny_work_stays_on_one_thread():
    x = np.ones((4, 8), np.float32)
    w = np.ones((8, 3), np.float32)
    with nncore.threads(2):
        F.matmul(x, x.T)
        jobs = _core._pool_stats()["jobs"]
        for _ in range(20):
            F.dense_backward(x, w, F.dense_forward(x, w, None, "relu"), np.ones((4, 3)), "relu")
            F.cross_entropy_and_grad(x, np.zeros(4, int))
        assert _core._pool_stats()["jobs"] == jobs


@pool_only
def test_workers_sleep_after_the_grace_period():
    a = np.ones((256, 256), np.float32)
    with nncore.threads(2):
        F.matmul(a, a)
    stats = _core._pool_stats()
    assert stats["workers"] >= 1 and stats["spin_us"] == 50.0
    # The grace period is 50 us; a loaded machine may not run the worker for a while, so
    # wait up to 15 s for every worker (counted now, not before) to reach its sleep (no
    # time is asserted).
    deadline = time.monotonic() + 15
    now = _core._pool_stats()
    while now["sleeping"] < now["workers"] and time.monotonic() < deadline:
        time.sleep(0.001)
        now = _core._pool_stats()
    assert now["sleeping"] == now["workers"], (stats, now)
    # and a sleeping pool wakes for the next call (same bits as one thread)
    with nncore.threads(1):
        want = F.matmul(a * 0.5, a)
    before = _core._pool_stats()["wakeups"]
    with nncore.threads(2):
        got = F.matmul(a * 0.5, a)
    assert np.array_equal(got, want)
    assert _core._pool_stats()["wakeups"] >= before + 1


def wait_until_all_sleep(seconds=15):
    """The pool's stats once every worker sleeps (a loaded machine may not run a worker
    for a while: up to `seconds`, no time is asserted)."""
    deadline = time.monotonic() + seconds
    now = _core._pool_stats()
    while now["sleeping"] < now["workers"] and time.monotonic() < deadline:
        time.sleep(0.001)
        now = _core._pool_stats()
    return now


def small_fit(x, y, **kw):
    model = nncore.Sequential([nncore.Dense(x.shape[1], 256, "relu"), nncore.Dense(256, 10)],
                              seed=3, dtype="float32")
    model.fit(x, y, loss="cross_entropy", optimizer=nncore.SGD(lr=0.05), epochs=2,
              batch_size=64, verbose=0, engine="native", seed=1, **kw)
    return [p.data.copy() for p in model.parameters()]


@pool_only
def test_a_native_fit_holds_the_workers_then_lets_them_sleep():
    rng = np.random.default_rng(4)
    x = rng.random((640, 784), dtype=np.float32)
    y = rng.integers(0, 10, 640)
    with nncore.threads(1):
        started = _core._pool_stats()["hot_guards"]
        want = small_fit(x, y)
        assert _core._pool_stats()["hot_guards"] == started  # one thread: no guard
    with nncore.threads(2):
        got = small_fit(x, y)
    stats = _core._pool_stats()
    assert stats["hot_guards"] > started and stats["hot"] == 0
    for p, q in zip(want, got):
        assert np.array_equal(p, q)
    now = wait_until_all_sleep()
    assert now["workers"] >= 1 and now["sleeping"] == now["workers"], now


def test_native_fits_on_several_python_threads_at_once():
    """Each fit's chunks hold a guard; the guards overlap, the pool runs one job at a
    time (the others run alone on their own thread), and every fit gets its bits."""
    rng = np.random.default_rng(6)
    x = rng.random((640, 784), dtype=np.float32)
    y = rng.integers(0, 10, 640)
    with nncore.threads(1):
        want = small_fit(x, y)
    results, errors = [None] * 3, []
    barrier = threading.Barrier(3)

    def target(i):
        try:
            barrier.wait()
            results[i] = small_fit(x, y)
        except Exception as e:  # reported to the main thread
            errors.append(e)

    with nncore.threads(2):
        threads = [threading.Thread(target=target, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    for got in results:
        for p, q in zip(want, got):
            assert np.array_equal(p, q)
    assert _core._pool_stats()["hot"] == 0


@pool_only
def test_workers_sleep_after_a_native_fit_stopped_by_a_non_finite_loss():
    rng = np.random.default_rng(5)
    x = rng.random((640, 784), dtype=np.float32)
    y = rng.standard_normal((640, 1)).astype(np.float32) * 1e30  # the loss overflows
    model = nncore.Sequential([nncore.Dense(784, 256, "relu"), nncore.Dense(256, 1)],
                              seed=3, dtype="float32")
    with nncore.threads(2):
        with pytest.raises(nncore.NonFiniteLossError, match="epoch"):
            model.fit(x, y, loss="mse", optimizer=nncore.SGD(lr=10.0), epochs=5,
                      batch_size=64, verbose=0, engine="native")
    assert _core._pool_stats()["hot"] == 0
    now = wait_until_all_sleep()
    assert now["sleeping"] == now["workers"], now
    # and the pool runs the next call in full, with the bits of one thread
    a = rng.standard_normal((300, 300)).astype(np.float32)
    with nncore.threads(1):
        want = F.matmul(a, a)
    with nncore.threads(2):
        assert np.array_equal(F.matmul(a, a), want)


@pool_only
def test_workers_sleep_after_a_hot_call():
    _core._parallel_probe(5000, 2, hot=True)
    stats = wait_until_all_sleep()
    assert stats["hot"] == 0 and stats["sleeping"] == stats["workers"] >= 1, stats


def test_debug_schedule_names_are_checked(schedule):
    with pytest.raises(ValueError, match="_set_debug_schedule"):
        _core._set_debug_schedule("random")
    schedule("shuffle")
    assert _core._debug_schedule() == "shuffle"


def test_eight_python_threads_share_the_pool(schedule):
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((96, 300)).astype(np.float32) for _ in range(8)]
    w = rng.standard_normal((300, 200)).astype(np.float32)
    with nncore.threads(1):
        want = [F.dense_forward(x, w, None, "tanh") for x in xs]
    errors, results = [], [None] * 8
    barrier = threading.Barrier(8)
    serial_before = _core._pool_stats()["serial"]

    def target(i):
        try:
            barrier.wait()
            for _ in range(30):
                results[i] = F.dense_forward(xs[i], w, None, "tanh")
                assert np.array_equal(results[i], want[i])
        except Exception as e:  # reported to the main thread
            errors.append(e)

    with nncore.threads(2):
        threads = [threading.Thread(target=target, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    # Calls that found the pool busy ran alone instead of waiting (counted, not timed).
    assert _core._pool_stats()["serial"] >= serial_before


def run_python(code, env=None, **kw):
    full = dict(os.environ)
    for k in ("NNCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        full.pop(k, None)
    full.update(env or {})
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full,
                       capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_default_thread_count_from_environment_and_affinity():
    show = "import nncore; print(nncore.get_num_threads(), nncore._core._usable_cpus())"
    n, cpus = map(int, run_python(show).split())
    assert 1 <= cpus <= len(os.sched_getaffinity(0))
    assert n == cpus
    assert run_python(show, {"OMP_NUM_THREADS": "3,2"}).split()[0] == "3"
    assert run_python(show, {"NNCORE_NUM_THREADS": "5", "OMP_NUM_THREADS": "3"}).split()[0] == "5"
    assert run_python(show, {"OMP_NUM_THREADS": "junk"}).split()[0] == str(cpus)
    # One CPU in the affinity mask: one thread by default.
    one = run_python("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n" + show)
    assert one.split() == ["1", "1"]


def test_more_threads_than_cpus_warns_once():
    out = run_python("""
        import warnings, nncore
        n = nncore._core._usable_cpus() + 1
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            nncore.set_num_threads(n)
            nncore.set_num_threads(n + 1)
            with nncore.threads(n + 2):
                pass
            nncore.set_num_threads(1)
        msgs = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
        print(len(msgs), "may use only" in msgs[0], nncore.get_num_threads())
    """)
    assert out == "1 True 1"
    where = run_python("""
        import warnings, nncore
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with nncore.threads(nncore._core._usable_cpus() + 1):
                pass
        print(w[0].filename)
    """)
    assert where == "<string>"   # the warning names the caller's line
    quiet = run_python("""
        import warnings, nncore
        warnings.simplefilter("error")
        nncore.set_num_threads(nncore._core._usable_cpus())
        print("ok")
    """)
    assert quiet == "ok"


def test_pool_works_in_a_forked_child():
    out = run_python("""
        import os, numpy as np, nncore, nncore.functional as F
        a = np.arange(300 * 300, dtype=np.float32).reshape(300, 300) / 9e4
        nncore.set_num_threads(2)
        want = F.matmul(a, a)          # the parent's pool has started its worker
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(F.matmul(a, a), want)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out == "0"


def test_a_native_fit_in_a_forked_child():
    """A child forked after a parallel native fit (whose chunks held the workers on the
    job) trains on its own, with the bits of one thread."""
    out = run_python("""
        import os, numpy as np, nncore
        rng = np.random.default_rng(0)
        x = rng.random((640, 784), dtype=np.float32)
        y = rng.integers(0, 10, 640)
        def fit():
            m = nncore.Sequential([nncore.Dense(784, 256, "relu"), nncore.Dense(256, 10)],
                                  seed=3, dtype="float32")
            m.fit(x, y, loss="cross_entropy", epochs=2, batch_size=64, verbose=0,
                  engine="native", seed=1)
            return m.parameters()[0].data.copy()
        with nncore.threads(1):
            want = fit()
        nncore.set_num_threads(2)
        assert np.array_equal(fit(), want)
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(fit(), want) and nncore._core._pool_stats()["hot"] == 0
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out == "0"


@pool_only
def test_config_describes_the_pool():
    c = nncore.config()
    assert c["openmp"] is False
    t = c["threads"]
    assert t["pool"] == "nncore"
    assert t["num_threads"] == nncore.get_num_threads()
    assert t["usable_cpus"] == _core._usable_cpus() == c["max_threads"]
    assert t["spin_us"] == 50.0
