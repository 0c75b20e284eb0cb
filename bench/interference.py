"""Threads that share the machine: nncore next to NumPy (OpenBLAS) and PyTorch.

    python bench/interference.py              # about 2-4 minutes
    python bench/interference.py --quick      # smoke run
    python bench/interference.py --moves      # woken workers move off the caller's CPU
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/interference.py

Prints, in one interleaved run (each repeat runs every case once, in rotating order):
1. interference: a 256x256x256 float32 matmul of one library right after another's
   (nncore after NumPy, after PyTorch when installed; NumPy and PyTorch after nncore's
   matmul and after a short native fit, whose chunk keeps the workers on the job until
   it returns), each against the same call after a call of its own library ("alone"),
   at 1 and 2 threads. A library whose workers keep spinning after a call takes the
   cores the next call needs: the ratio shows it (target <= 1.3x). A fit also leaves
   the matmul's operands out of cache: the 1-thread rows after a fit, where nncore has
   no worker at all, show what that alone costs. Two controls take the fit's place: the
   same 4 steps as a plain NumPy loop, and a Python busy wait as long as nncore's fit
   (no nncore, no BLAS, hardly any memory touched): what the pause alone costs the next
   call (its own threads gone to sleep, its operands evicted by whatever else ran).
   Also how long nncore's workers take to sleep after a matmul and after a fit return
   (the grace period).
2. the MNIST-shaped fit epoch (784-256-128-10, batch 64, SGD): nncore's native engine at
   1 and 2 threads and the plain NumPy loop at 2 threads (nncore._bench_workloads),
   per step and scaled to a 60,000-row epoch.
3. throughput of 8 Python threads making small nncore calls at once, against one
   Python thread (calls per second).

A pool worker woken on the CPU its caller runs on (Linux puts it there when no CPU is
idle, e.g. while OpenBLAS's or OpenMP's threads spin after their calls) stays there by
default; --moves makes it move off for the run, to compare (the 2-thread table says how
many wake-ups moved).

Thread limits apply to all libraries alike (nncore.threads, threadpoolctl for the BLAS,
torch.set_num_threads). The header names the BLAS kernel threadpoolctl reports: run with
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset to see NumPy at its best. Timings on a shared
machine are noisy: the header prints the load average; compare ratios, not times.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np

import nncore as nc
import nncore.functional as F
from nncore import _bench_workloads as W
from nncore import bench as B

try:
    import threadpoolctl
except ImportError:  # pragma: no cover - threadpoolctl comes with the bench extra
    threadpoolctl = None
try:
    import torch
except ImportError:
    torch = None


def header():
    c = nc.config()
    print(f"nncore {c['version']} isa={c['isa']} pool={c['threads']}")
    print(f"load average: {os.getloadavg()}, usable CPUs: {c['threads']['usable_cpus']}")
    print("OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s" % (
        os.environ.get("OPENBLAS_CORETYPE"), os.environ.get("OPENBLAS_L2_SIZE")))
    if threadpoolctl:
        for d in threadpoolctl.threadpool_info():
            if d.get("user_api") == "blas":
                print(f"BLAS: {d['internal_api']} {d.get('version')} "
                      f"kernel={d.get('architecture')} threads={d['num_threads']}")
    print(f"torch: {torch.__version__ if torch else 'not installed'}")
    print()


def limits(n):
    return B.thread_limits(n)


def grace_period_us(call):
    """Time from an nncore call's return until every worker sleeps (median of 20); None
    in the OpenMP build, whose runtime's sleepers nncore cannot see."""
    if nc.config()["openmp"]:
        return None
    out = []
    for _ in range(20):
        call()
        t0 = time.perf_counter()
        workers = nc._core._pool_stats()["workers"]
        while nc._core._pool_stats()["sleeping"] < workers:
            if time.perf_counter() - t0 > 0.5:
                break
        out.append((time.perf_counter() - t0) * 1e6)
        time.sleep(0.002)
    return statistics.median(out)


def _duration(call):
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _busy_wait(seconds):
    """One Python thread spinning for `seconds`: no nncore, no BLAS, hardly any memory."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def interference(threads, repeats, inner):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256), dtype=np.float32)
    b = rng.standard_normal((256, 256), dtype=np.float32)
    name = "mnist_784-256-128-10"
    x, y = W.workload_data(name)
    fit = W.nncore_fit(name, x[:256], y[:256], "native")  # 4 steps of batch 64
    numpy_fit = W.numpy_loop(name, x[:256], y[:256])  # the same 4 steps in plain NumPy
    calls = {"nncore": lambda: F.matmul(a, b), "numpy": lambda: a @ b,
             "nncore fit": lambda: fit(1), "NumPy-loop fit": lambda: numpy_fit(1)}
    with limits(max(threads)):  # controls: how long nncore's fit takes, in a Python spin
        for _ in range(5):
            fit(1)
        fit_s = statistics.median(_duration(lambda: fit(1)) for _ in range(9))
    calls["a busy wait"] = lambda: _busy_wait(fit_s)
    controls = ("NumPy-loop fit", "a busy wait")
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        calls["torch"] = lambda: torch.mm(ta, tb)
    # (timed library, library called just before it)
    cases = [("nncore", "nncore"), ("nncore", "numpy"), ("numpy", "numpy"), ("numpy", "nncore"),
             ("numpy", "nncore fit"), ("numpy", "NumPy-loop fit"), ("numpy", "a busy wait")]
    if torch is not None:
        cases += [("nncore", "torch"), ("torch", "torch"), ("torch", "nncore"),
                  ("torch", "nncore fit"), ("torch", "NumPy-loop fit"), ("torch", "a busy wait")]
    for t in threads:
        with limits(t):
            for f in calls.values():
                for _ in range(20):
                    f()
            stats0 = nc._core._pool_stats()
            samples = {c: [] for c in cases}
            for r in range(repeats):
                order = cases[r % len(cases):] + cases[:r % len(cases)]
                for case in order:
                    timed, before = calls[case[0]], calls[case[1]]
                    ts = []
                    for _ in range(inner):
                        before()
                        t0 = time.perf_counter()
                        timed()
                        ts.append(time.perf_counter() - t0)
                    samples[case].append(statistics.median(ts))
            stats1 = nc._core._pool_stats()
            grace = grace_period_us(calls["nncore"]) if t > 1 else 0.0
            grace_fit = grace_period_us(calls["nncore fit"]) if t > 1 else 0.0
        print(f"interference, 256x256x256 float32 matmul, {t} thread(s): median us [min-max] "
              f"over {repeats} repeats of {inner} pairs")
        for timed, before in cases:
            s = samples[(timed, before)]
            alone = samples[(timed, timed)]
            ratio = statistics.median(x / y for x, y in zip(s, alone))
            label = (f"{timed} alone" if timed == before
                     else f"{timed} right after {before}" if before not in controls
                     else f"(control) {timed} after {before}")
            extra = "" if timed == before else f"   {ratio:.2f}x alone"
            print(f"  {label:36s} {statistics.median(s) * 1e6:8.0f} "
                  f"[{min(s) * 1e6:.0f}-{max(s) * 1e6:.0f}]{extra}")
        if t > 1 and grace is None:
            print("  nncore on OpenMP: its threads wait as OMP_WAIT_POLICY="
                  f"{os.environ.get('OMP_WAIT_POLICY')} GOMP_SPINCOUNT="
                  f"{os.environ.get('GOMP_SPINCOUNT')} say")
        elif t > 1:
            print(f"  nncore workers asleep {grace:.0f} us after a matmul returns, "
                  f"{grace_fit:.0f} us after a native fit returns "
                  f"(spin grace {nc._core._pool_stats()['spin_us']:.0f} us)")
            print(f"  wake-ups of sleeping workers: {stats1['wakeups'] - stats0['wakeups']}, "
                  f"of which moved off the caller's CPU: {stats1['moves'] - stats0['moves']} "
                  f"(moving {'on' if stats1['move'] else 'off'})")
        print()


def fit_epoch(repeats, rows):
    name = "mnist_784-256-128-10"
    x, y = W.workload_data(name)
    x, y = x[:rows], y[:rows]
    steps = (rows + 63) // 64
    units = {}

    def with_threads(unit, n):
        def run(epochs):
            with limits(n):
                unit(epochs)
        return run
    units["nncore 1 thread"] = with_threads(W.nncore_fit(name, x, y, "native"), 1)
    units["nncore 2 threads"] = with_threads(W.nncore_fit(name, x, y, "native"), 2)
    units["NumPy loop 2 threads"] = with_threads(W.numpy_loop(name, x, y), 2)
    per_unit = {k: (1, steps) for k in units}
    samples = B.interleaved(units, per_unit, repeats, target=0.0)
    base = samples["nncore 2 threads"]
    print(f"MNIST-shaped fit (784-256-128-10, batch 64, SGD), {rows} rows an epoch, "
          f"{repeats} interleaved repeats: ms per step [min-max], s per 60,000-row epoch")
    for k, s in samples.items():
        r = statistics.median(a / b for a, b in zip(s, base))
        print(f"  {k:22s} {statistics.median(s) * 1e3:7.3f} [{min(s) * 1e3:.3f}-"
              f"{max(s) * 1e3:.3f}]  {statistics.median(s) * 938:6.2f} s/epoch   "
              f"{r:.2f}x nncore 2 threads' time")
    one, two = samples["nncore 1 thread"], samples["nncore 2 threads"]
    print(f"  2 threads vs 1: {statistics.median(a / b for a, b in zip(one, two)):.2f}x faster; "
          f"vs NumPy loop: {statistics.median(a / b for a, b in zip(samples['NumPy loop 2 threads'], two)):.2f}x")
    print()


def python_threads(seconds):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 256), dtype=np.float32)
    w = rng.standard_normal((256, 128), dtype=np.float32)
    want = F.dense_forward(x, w, None, "relu")

    def rate(k):
        count = [0] * k
        stop = threading.Event()
        bad = []

        def target(i):
            while not stop.is_set():
                if not np.array_equal(F.dense_forward(x, w, None, "relu"), want):
                    bad.append(i)
                count[i] += 1
        ts = [threading.Thread(target=target, args=(i,)) for i in range(k)]
        for t in ts:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in ts:
            t.join()
        assert not bad
        return sum(count) / seconds

    print("8 Python threads calling dense_forward 64x256 -> 128 relu at once (nncore 2 "
          "threads), calls/s")
    with limits(2):
        rows = []
        for r in range(3):
            for k in ((1, 8) if r % 2 == 0 else (8, 1)):
                rows.append((k, rate(k)))
    one = statistics.median(v for k, v in rows if k == 1)
    eight = statistics.median(v for k, v in rows if k == 8)
    print(f"  1 Python thread  {one:9.0f}\n  8 Python threads {eight:9.0f}   "
          f"{eight / one:.2f}x one thread's throughput")
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--moves", action="store_true",
                   help="woken workers move off the caller's CPU (nncore's pool only)")
    args = p.parse_args(argv)
    if args.moves:
        nc._core._set_move_workers(True)
    rep = 3 if args.quick else args.repeats
    header()
    interference((1, 2), rep, 5 if args.quick else 20)
    fit_epoch(rep if args.quick else max(5, rep // 2), 640 if args.quick else 6400)
    python_threads(0.3 if args.quick else 2.0)


if __name__ == "__main__":
    sys.exit(main())
