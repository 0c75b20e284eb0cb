"""One training epoch of MLPs with normalisation layers next to the plain MLP of the same
widths, interleaved: Dense+BatchNorm1d+ReLU and Dense+LayerNorm+GELU hidden blocks, and
how much of the epoch the normalisation kernels themselves take.

    python bench/norms_bench.py                 # 1 thread
    python bench/norms_bench.py --threads 2 --rounds 7

Columns (median seconds per epoch over the rounds, each round runs every model once in a
rotating order; ratios are medians of per-round ratios):
- ``plain relu``: Dense(relu) blocks; every model trains on the engine ``--engine``
  names (default python; ``--engine native`` for the issue's target, the norms and GELU
  being native ops of the engine now);
- ``plain gelu``: Dense(gelu) blocks (the LayerNorm model's activation without the norm);
- ``bn relu`` / ``ln gelu``: Dense, BatchNorm1d / LayerNorm, ReLU / GELU blocks;
- ``bn kernels`` / ``ln kernels``: the epoch's calls of batch_norm (+ backward) and
  layer_norm (+ backward) alone, on the same shapes, as a share of the model's epoch.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

import nncore as nc
import nncore.functional as F


def model(kind, sizes, seed=0):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        if last:
            layers.append(nc.Dense(a, b))
        elif kind == "plain relu":
            layers.append(nc.Dense(a, b, "relu"))
        elif kind == "plain gelu":
            layers.append(nc.Dense(a, b, "gelu"))
        elif kind == "bn relu":
            layers += [nc.Dense(a, b), nc.BatchNorm1d(b), nc.ReLU()]
        elif kind == "ln gelu":
            layers += [nc.Dense(a, b), nc.LayerNorm(b), nc.GELU()]
    return nc.Sequential(layers, seed=seed)


def epoch_timer(kind, sizes, x, y, batch, engine):
    m = model(kind, sizes)
    opt = nc.SGD(lr=0.01, momentum=0.9)
    m.fit(x[:batch * 2], y[:batch * 2], loss="cross_entropy", optimizer=opt, epochs=1,
          batch_size=batch, verbose=0, engine=engine)  # warm the workspaces

    def run():
        t = time.perf_counter()
        m.fit(x, y, loss="cross_entropy", epochs=1, batch_size=batch, shuffle=False,
              verbose=0, engine=engine)
        return time.perf_counter() - t
    return run


def kernel_timer(kind, sizes, n, batch, rng):
    """The norm calls of one epoch (forward and backward per hidden block and batch)."""
    hidden = sizes[1:-1]
    xs = [rng.standard_normal((batch, h)).astype(np.float32) for h in hidden]
    gys = [rng.standard_normal((batch, h)).astype(np.float32) for h in hidden]
    ws = [np.ones(h, np.float32) for h in hidden]
    bs = [np.zeros(h, np.float32) for h in hidden]
    rms = [np.zeros(h, np.float32) for h in hidden]
    rvs = [np.ones(h, np.float32) for h in hidden]
    outs = [(np.empty_like(v), np.empty(v.shape[1] if kind == "bn relu" else v.shape[0],
                                        np.float32),
             np.empty(v.shape[1] if kind == "bn relu" else v.shape[0], np.float32))
            for v in xs]
    gouts = [(np.empty_like(v), np.empty(v.shape[1], np.float32),
              np.empty(v.shape[1], np.float32)) for v in xs]
    steps = n // batch

    def run():
        t = time.perf_counter()
        for _ in range(steps):
            for x, gy, w, b, rm, rv, o, go in zip(xs, gys, ws, bs, rms, rvs, outs, gouts):
                if kind == "bn relu":
                    _, mean, rstd = F.batch_norm(x, rm, rv, w, b, True, out=o)
                    F.batch_norm_backward(x, mean, rstd, gy, w, True, out=go)
                else:
                    _, mean, rstd = F.layer_norm(x, w, b, out=o)
                    F.layer_norm_backward(x, mean, rstd, gy, w, out=go)
        return time.perf_counter() - t
    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--sizes", default="784,256,256,10")
    p.add_argument("--engine", default="python", choices=["python", "native", "auto"])
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], args.rows)
    nc.set_num_threads(args.threads)
    cfg = nc.config()
    print(f"machine: {platform.processor() or platform.machine()}, {nc.get_num_threads()} "
          f"thread(s), nncore isa: {cfg['isa']}, numpy {np.__version__}; widths {sizes}, "
          f"{args.rows} rows, batch {args.batch}, float32, SGD(momentum), engine "
          f"{args.engine} for every model")
    kinds = ["plain relu", "plain gelu", "bn relu", "ln gelu"]
    # the native engine runs only the relu MLP; the others fall back to python (auto)
    engines = {"plain relu": args.engine, "plain gelu": "auto" if args.engine == "native"
               else args.engine, "bn relu": "python", "ln gelu": "python"}
    timers = {k: epoch_timer(k, sizes, x, y, args.batch, engines[k]) for k in kinds}
    timers["bn kernels"] = kernel_timer("bn relu", sizes, args.rows, args.batch, rng)
    timers["ln kernels"] = kernel_timer("ln gelu", sizes, args.rows, args.batch, rng)
    times = {k: [] for k in timers}
    names = list(timers)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            times[k].append(timers[k]())
    med = {k: statistics.median(v) for k, v in times.items()}

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))
    print("\n| model | median s/epoch [min-max] | vs plain relu | vs plain gelu | "
          "norm kernels' share |")
    print("| --- | --- | --- | --- | --- |")
    for k in kinds:
        share = ""
        if k == "bn relu":
            share = f"{ratio('bn kernels', 'bn relu'):.0%}"
        if k == "ln gelu":
            share = f"{ratio('ln kernels', 'ln gelu'):.0%}"
        print(f"| {k} | {med[k]:.3f} [{min(times[k]):.3f}-{max(times[k]):.3f}] | "
              f"{ratio(k, 'plain relu'):.2f}x | {ratio(k, 'plain gelu'):.2f}x | {share} |")
    print(f"| bn kernels alone | {med['bn kernels']:.4f} | | | |")
    print(f"| ln kernels alone | {med['ln kernels']:.4f} | | | |")


if __name__ == "__main__":
    main()
