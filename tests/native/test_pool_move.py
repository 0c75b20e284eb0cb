"""A pool worker woken on its caller's CPU moves off it (core/pool.cpp leave_caller_cpu):
the same bits, the worker's affinity as it was, no move when it may run on one CPU only.
Debug schedule 'always_move' makes every wake-up move, as the OS cannot be made to wake
the worker on the caller's CPU on demand. Each check runs in a fresh process: a fresh
pool, an affinity of its own."""
import os
import subprocess
import sys
import textwrap

import pytest

import nncore
from nncore import _core

linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="the move uses Linux's CPU affinity")
pool_only = pytest.mark.skipif(nncore.config()["openmp"],
                               reason="nncore's own pool only (this is the OpenMP build)")

# Runs 6 2-thread products, each after every worker sleeps (so each call wakes them),
# against the same products on one thread; prints the moves counted and whether every
# thread of the process still has the affinity the process started with.
PROBE = textwrap.dedent("""
    import os, sys, time, warnings
    if len(sys.argv) > 2:
        os.sched_setaffinity(0, {int(sys.argv[2])})
    start = os.sched_getaffinity(0)
    import numpy as np
    import nncore
    import nncore.functional as F
    from nncore import _core

    def asleep():
        deadline = time.monotonic() + 15
        s = _core._pool_stats()
        while s["sleeping"] < s["workers"] and time.monotonic() < deadline:
            time.sleep(0.001)
            s = _core._pool_stats()
        return s["sleeping"] == s["workers"]

    rng = np.random.default_rng(3)
    a = rng.standard_normal((256, 300)).astype(np.float32)
    b = rng.standard_normal((300, 257)).astype(np.float32)
    with nncore.threads(1):
        want = [F.matmul(a * k, b) for k in range(6)]
    _core._set_debug_schedule(sys.argv[1])
    warnings.simplefilter("ignore")  # 2 threads on one CPU warns
    pinned = len(sys.argv) > 2

    def moved(since):
        # a woken worker may run long after the call (the caller took every task): wait
        # for its move (up to 15 s; 50 ms when it has nowhere to go)
        deadline = time.monotonic() + (0.05 if pinned else 15)
        while _core._pool_stats()["moves"] == since and time.monotonic() < deadline:
            time.sleep(0.001)

    same = True
    with nncore.threads(2):
        F.matmul(a, b)  # starts the worker
        moves = _core._pool_stats()["moves"]
        for k in range(6):
            assert asleep()
            now = _core._pool_stats()["moves"]
            same = same and np.array_equal(F.matmul(a * k, b), want[k])
            moved(now)
    assert asleep()  # every worker is back asleep: done with its move
    kept = all(os.sched_getaffinity(int(t)) == start for t in os.listdir("/proc/self/task"))
    print(same, _core._pool_stats()["moves"] - moves, kept, _core._pool_stats()["jobs"])
""")


def probe(mode, cpu=None):
    args = [mode] if cpu is None else [mode, str(cpu)]
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    same, moves, kept, jobs = out.stdout.split()
    return same == "True", int(moves), kept == "True", int(jobs)


@linux
@pool_only
@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to move between")
def test_woken_worker_moves_keeps_bits_and_affinity():
    same, moves, kept, jobs = probe("always_move")
    assert jobs >= 7  # the products ran on the pool
    assert same
    assert moves == 6  # each call woke the worker, and it moved
    assert kept  # its affinity is the process's again


@linux
@pool_only
def test_worker_limited_to_the_callers_cpu_stays():
    cpu = min(os.sched_getaffinity(0))
    same, moves, kept, jobs = probe("always_move", cpu)
    assert jobs >= 7
    assert same
    assert moves == 0  # nowhere else to go
    assert kept


@linux
@pool_only
def test_moves_can_be_turned_off():
    code = textwrap.dedent("""
        from nncore import _core
        assert _core._pool_stats()["move"] is False  # the default
        _core._set_move_workers(True)
        assert _core._pool_stats()["move"] is True
        _core._set_move_workers(False)
        assert _core._pool_stats()["move"] is False
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.skipif(not nncore.config()["openmp"], reason="the OpenMP build's answers")
def test_openmp_build_does_not_move():
    assert _core._pool_stats()["moves"] is None
    assert _core._pool_stats()["move"] is False
    with pytest.raises(RuntimeError, match="_set_move_workers"):
        _core._set_move_workers(True)
