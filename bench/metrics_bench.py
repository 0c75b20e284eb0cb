"""What fit(metrics=["accuracy", "f1", "auc"]) costs on the MNIST-shaped epoch
(784-256-128-10, batch 64), native engine: the same fit with and without the metrics,
interleaved, medians and the median of per-round ratios (issue 24's target: <= 1.05).

    taskset -c 0 python bench/metrics_bench.py --rows 60000 --rounds 5
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import nncore as nc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=60000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--engine", default="native", choices=["python", "native"])
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.rows)
    variants = {"loss only": None, "accuracy, f1, auc": ["accuracy", "f1", "auc"]}
    models = {k: nc.Sequential([nc.Dense(784, 256, "relu"), nc.Dense(256, 128, "relu"),
                                nc.Dense(128, 10)], seed=0) for k in variants}
    times = {k: [] for k in variants}
    with nc.threads(args.threads):
        for k, m in models.items():  # warm-up
            m.fit(x[:640], y[:640], loss="cross_entropy", epochs=1, batch_size=64,
                  verbose=0, metrics=variants[k], engine=args.engine)
        names = list(variants)
        for r in range(args.rounds):
            for k in names[r % 2:] + names[:r % 2]:
                t = time.perf_counter()
                h = models[k].fit(x, y, loss="cross_entropy", epochs=1, batch_size=64,
                                  verbose=0, metrics=variants[k], engine=args.engine)
                times[k].append(time.perf_counter() - t)
                assert h.engine == args.engine
    base = times["loss only"]
    print(f"machine: {platform.machine()}, {args.threads} thread(s), nncore isa "
          f"{nc.config()['isa']}, {args.rows} rows, engine {args.engine}")
    print("| fit | median s/epoch [min-max] | vs loss only |")
    print("| --- | --- | --- |")
    for k, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"| {k} | {statistics.median(ts):.3f} [{min(ts):.3f}-{max(ts):.3f}] | "
              f"{ratio:.3f}x |")


if __name__ == "__main__":
    main()
