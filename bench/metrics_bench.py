"""What fit(metrics=["accuracy", "f1", "auc"]) costs on the MNIST-shaped epoch
(784-256-128-10, batch 64), native engine: the same fit with and without the metrics,
interleaved, medians and the median of per-round ratios (issue 24's target: <= 1.05).

    taskset -c 0 python bench/metrics_bench.py --rows 60000 --rounds 5

Each fit is timed by the wall clock and by the process's CPU time (steadier on a shared
machine: time spent waiting for the CPU is not counted). A second table times the
metrics alone, as the native engine runs them after each epoch (one update over the
epoch's kept outputs, then result()), on outputs of the epoch's shape, by the calling
thread's CPU time; its last column is their share of the loss-only epoch.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import nncore as nc
from nncore import metrics as M

METRICS = ["accuracy", "f1", "auc"]


def _median_ms(f, repeats):
    """Median thread CPU time of f() in ms."""
    ts = []
    for _ in range(repeats):
        t = time.thread_time()
        f()
        ts.append(time.thread_time() - t)
    return statistics.median(ts) * 1e3


def metrics_alone(rows, classes, repeats, rng):
    """{name: (update ms, result ms)} of each metric and of the list, on float32 outputs."""
    out = rng.standard_normal((rows, classes), dtype=np.float32)
    y = rng.integers(0, classes, rows)
    times = {}
    for metric in [M.get(n) for n in METRICS] + [M.MetricList(METRICS)]:
        name = getattr(metric, "name", "all three")

        def update(metric=metric):
            metric.reset()
            metric.update(out, y)
        update()
        times[name] = (_median_ms(update, repeats), _median_ms(metric.result, repeats))
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=60000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--engine", default="native", choices=["python", "native"])
    p.add_argument("--repeats", type=int, default=21, help="of the metrics-alone timings")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.rows)
    variants = {"loss only": None, "accuracy, f1, auc": METRICS}
    models = {k: nc.Sequential([nc.Dense(784, 256, "relu"), nc.Dense(256, 128, "relu"),
                                nc.Dense(128, 10)], seed=0) for k in variants}
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    with nc.threads(args.threads):
        for k, m in models.items():  # warm-up
            m.fit(x[:640], y[:640], loss="cross_entropy", epochs=1, batch_size=64,
                  verbose=0, metrics=variants[k], engine=args.engine)
        names = list(variants)
        for r in range(args.rounds):
            for k in names[r % 2:] + names[:r % 2]:
                t, c = time.perf_counter(), time.process_time()
                h = models[k].fit(x, y, loss="cross_entropy", epochs=1, batch_size=64,
                                  verbose=0, metrics=variants[k], engine=args.engine)
                cpu[k].append(time.process_time() - c)
                wall[k].append(time.perf_counter() - t)
                assert h.engine == args.engine
        alone = metrics_alone(args.rows, 10, args.repeats, rng)
    print(f"machine: {platform.machine()}, {args.threads} thread(s), nncore isa "
          f"{nc.config()['isa']}, {args.rows} rows, engine {args.engine}")
    print("| fit | wall s/epoch [min-max] | vs loss only | CPU s/epoch [min-max] | "
          "vs loss only |")
    print("| --- | --- | --- | --- | --- |")
    for k in variants:
        cells = []
        for times in (wall, cpu):
            ts, base = times[k], times["loss only"]
            ratio = statistics.median(t / b for t, b in zip(ts, base))
            cells.append(f"{statistics.median(ts):.3f} [{min(ts):.3f}-{max(ts):.3f}] | "
                         f"{ratio:.3f}x")
        print(f"| {k} | " + " | ".join(cells) + " |")
    epoch_ms = statistics.median(cpu["loss only"]) * 1e3
    print()
    print(f"metrics alone ({args.rows}x10 float32 outputs, thread CPU time, median of "
          f"{args.repeats}):")
    print("| metric | update ms | result ms | share of the loss-only epoch (CPU) |")
    print("| --- | --- | --- | --- |")
    for name, (u, r) in alone.items():
        print(f"| {name} | {u:.2f} | {r:.2f} | {100 * (u + r) / epoch_ms:.1f}% |")


if __name__ == "__main__":
    main()
