"""Data-parallel training on this machine: 2 ranks x 1 thread against 1 rank x 1 thread
and 1 rank x 2 threads, on the MNIST-shaped workload (784-256-128-10, relu, cross-entropy,
60 000 random float32 rows; python -m nncore bench's ``mnist_784-256-128-10``).

    python bench/distributed_bench.py [--rounds 3] [--batch 64 256] [--epochs 1] [--rows N]

Each configuration is a fresh process (mpiexec -n 2 for the 2-rank runs) that times one
``fit`` after a warm-up epoch; the configurations are interleaved round by round and the
median is reported with the spread (the machine is shared: timings are noisy). For the
2-rank runs it also reports the time spent in the per-step Allreduce (waiting for the other
rank included), from rank 0. Target (issue 13): 2 ranks >= 1.7x one rank x 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def worker(args):
    import nncore as nc
    from nncore.bench import workload_data

    distributed = args.procs > 1
    if distributed:
        import nncore.distributed as dist
        from nncore.training import data_parallel as _dist_fit
        reduce_seconds = [0.0]

        def timed(original):
            def wrapper(self, *scalars):
                t0 = time.perf_counter()
                result = original(self, *scalars)
                reduce_seconds[0] += time.perf_counter() - t0
                return result
            return wrapper
        _dist_fit.DataParallel.reduce = timed(_dist_fit.DataParallel.reduce)
        _dist_fit.DataParallel.native_hook = timed(_dist_fit.DataParallel.native_hook)
    nc.set_num_threads(args.threads)
    x, y = workload_data("mnist_784-256-128-10")
    x, y = x[:args.rows], y[:args.rows]
    model = nc.Sequential([nc.Dense(784, 256, "relu"), nc.Dense(256, 128, "relu"),
                           nc.Dense(128, 10)], seed=0)
    kw = dict(loss="cross_entropy", batch_size=args.batch, verbose=0, seed=0,
              engine=args.engine)
    if distributed:
        kw["distributed"] = True
    opt = nc.SGD(lr=0.01, momentum=0.9)
    model.fit(x[:4096], y[:4096], optimizer=opt, epochs=1, **kw)  # warm-up
    if distributed:
        dist.barrier()
        reduce_seconds[0] = 0.0
    t0 = time.perf_counter()
    h = model.fit(x, y, optimizer=opt, epochs=args.epochs, **kw)
    if distributed:
        dist.barrier()
    seconds = time.perf_counter() - t0
    if not distributed or dist.rank() == 0:
        print(json.dumps({"seconds": seconds, "engine": h.engine,
                          "reduce_seconds": reduce_seconds[0] if distributed else 0.0,
                          "loss": h["loss"][-1]}))


def launch(procs, threads, args, engine, extra_env=None):
    cmd = [sys.executable, __file__, "--worker", "--procs", str(procs), "--threads",
           str(threads), "--batch", str(args.batch_one), "--epochs", str(args.epochs),
           "--rows", str(args.rows),
           "--engine", engine]
    if procs > 1:
        local = Path(sys.executable).parent / "mpiexec"
        mpiexec = str(local) if local.exists() else shutil.which("mpiexec")
        cmd = [mpiexec, "-n", str(procs)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **(extra_env or {}))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--python-engine", action="store_true",
                    help="also time 2 ranks with engine='python'")
    ap.add_argument("--heavy-yield", action="store_true",
                    help="also time 2 ranks with MPIR_CVAR_ENABLE_HEAVY_YIELD=1 (MPICH "
                         "yields the core while it waits: helps when cores are shared)")
    args = ap.parse_args()
    if args.worker:
        args.batch = args.batch[0]
        return worker(args)
    configs = [("1 rank x 1 thread", 1, 1, "auto", None),
               ("1 rank x 2 threads", 1, 2, "auto", None),
               ("2 ranks x 1 thread", 2, 1, "auto", None)]
    if args.heavy_yield:
        configs += [("2 ranks x 1 thread, heavy yield", 2, 1, "auto",
                     {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"})]
    if args.python_engine:
        configs += [("1 rank x 1 thread, python engine", 1, 1, "python", None),
                    ("2 ranks x 1 thread, python engine", 2, 1, "python", None)]
    print(f"MNIST-shaped 784-256-128-10, {args.rows} rows, {args.epochs} epoch(s), float32, "
          f"{args.rounds} interleaved rounds; medians (min-max)")
    for batch in args.batch:
        args.batch_one = batch
        times = {name: [] for name, *_ in configs}
        reduce = {name: [] for name, *_ in configs}
        for _ in range(args.rounds):
            for name, procs, threads, engine, extra_env in configs:
                r = launch(procs, threads, args, engine, extra_env)
                times[name].append(r["seconds"])
                reduce[name].append(r["reduce_seconds"])
        base = statistics.median(times["1 rank x 1 thread"])
        base_py = statistics.median(times.get("1 rank x 1 thread, python engine", [1.0]))
        print(f"\nglobal batch {batch} ({-(-args.rows // batch)} steps per epoch)")
        for name, *_ in configs:
            t = statistics.median(times[name])
            ref = base_py if "python" in name else base
            extra = ""
            if "2 ranks" in name:
                extra = f"; in Allreduce {statistics.median(reduce[name]):.2f} s"
            print(f"  {name:36s} {t:7.2f} s ({min(times[name]):.2f}-{max(times[name]):.2f})"
                  f"  speed-up {ref / t:4.2f}x{extra}")


if __name__ == "__main__":
    main()
