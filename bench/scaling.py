"""Do two cores pay? nncore's native ``fit`` epoch at 1 and 2 threads on a deterministic
sample of MLP shapes (issue 21: 2-4 hidden layers, widths 16-512, batches 16-512,
classification or regression), interleaved in one process.

    python bench/scaling.py                  # 20 shapes, about 2-3 minutes
    python bench/scaling.py --quick          # smoke run
    python bench/scaling.py --shapes 40 --seed 3 --json out.json
    python bench/scaling.py --products       # the same shapes' GEMMs, one by one
    python bench/scaling.py --named          # + the workloads of python -m nncore bench

For each shape the 1-thread and the 2-thread epoch alternate (rotating start) after a
warm-up; the 1-thread runs are pinned to one CPU, the 2-thread runs use both (the
harness of ``nncore.bench``). The table gives the median ms per epoch, the median of the
paired ratios time(2 threads) / time(1 thread) (above 1: the second core costs time),
and each run's share of the FMA peak of the cores it used (the epoch's GEMM FLOPs:
forward, weight gradients, input gradients but the first layer's). Thread counts never
change results (nncore's tiling is fixed by the shapes), only the time.

``--products`` times, instead of epochs, each matrix product the native trainer makes for
those shapes (per layer: forward x @ W, weight gradient x^T @ gz, input gradient
gz @ W^T but the first layer's; ``nncore.functional.matmul`` into a preallocated
output) at 1 and 2 threads, sorted by FLOPs: where a second thread starts to pay.
"""
from __future__ import annotations

import argparse
import json
import random
import sys

import numpy as np

import nncore as nc
from nncore import _bench_workloads as W
from nncore import bench as B

WIDTHS = (16, 32, 64, 128, 256, 512)
BATCHES = (16, 32, 64, 128, 256, 512)


def shapes(count, seed):
    """`count` MLP shapes drawn deterministically: (layer sizes, batch, loss)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        hidden = [rnd.choice(WIDTHS) for _ in range(rnd.choice((2, 3, 4)))]
        classify = rnd.random() < 0.5
        sizes = (rnd.choice(WIDTHS), *hidden, 10 if classify else 1)
        out.append((sizes, rnd.choice(BATCHES), "cross_entropy" if classify else "mse"))
    return out


def rows_for(sizes, batch, flops):
    """Rows of an epoch of about `flops` GEMM FLOPs: a whole number of batches, 4 at
    least, 65536 rows at most."""
    per_row = B.epoch_flops(sizes, 1)
    rows = int(flops / per_row) // batch * batch
    return max(4 * batch, min(rows, 65536 // batch * batch))


def fit_unit(sizes, batch, loss, x, y):
    layers = [nc.Dense(a, b, "relu" if i < len(sizes) - 2 else None)
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    model = nc.Sequential(layers, seed=0)
    opt = nc.SGD(lr=0.01)

    def unit():
        model.fit(x, y, loss=loss, optimizer=opt, epochs=1, batch_size=batch, seed=0,
                  verbose=0, engine="native")
    return unit


def products(shape_list):
    """{(m, k, n, trans_a, trans_b): count} of the GEMMs of one step of each shape."""
    out = {}
    for sizes, batch, _ in shape_list:
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            keys = [(batch, a, b, False, False), (a, batch, b, True, False)]
            if i:
                keys.append((batch, b, a, False, True))
            for key in keys:
                out[key] = out.get(key, 0) + 1
    return out


def bench_products(shape_list, timer, peaks):
    import nncore.functional as F
    rng = np.random.default_rng(0)
    head = f"{'m x k x n':<22}{'MFLOP':>8}{'1t us':>9}{'2t us':>9}{'t2/t1':>7}{'1t %pk':>8}"
    print(head)
    print("-" * len(head))
    rows = []
    for (m, k, n, ta, tb) in sorted(products(shape_list), key=lambda s: s[0] * s[1] * s[2]):
        a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)

        def call():
            F.matmul(a, b, trans_a=ta, trans_b=tb, out=c)
        samples, _ = timer.measure({"1": call, "2": call}, threads=2,
                                   contexts={"1": lambda: B.Limits(1), "2": lambda: B.Limits(2)})
        res = B.summarise(samples, base="1")
        f = 2.0 * m * k * n
        t1, t2, ratio = res["1"]["median_s"], res["2"]["median_s"], res["2"]["ratio_vs_nncore"]
        rows.append({"m": m, "k": k, "n": n, "trans_a": ta, "trans_b": tb, "flops": f,
                     "t1_s": t1, "t2_s": t2, "t2_over_t1": ratio})
        name = f"{m}x{k}x{n}" + (" TN" if ta else " NT" if tb else "")
        print(f"{name:<22}{f / 1e6:>8.2f}{t1 * 1e6:>9.1f}{t2 * 1e6:>9.1f}{ratio:>7.2f}"
              f"{100 * f / t1 / 1e9 / peaks[1]:>7.0f}%{'  <- slower' if ratio > 1 else ''}")
        sys.stdout.flush()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="4 shapes, small epochs, 1 round")
    p.add_argument("--shapes", type=int, default=20, help="how many shapes (default 20)")
    p.add_argument("--seed", type=int, default=21, help="of the shape sample (default 21)")
    p.add_argument("--repeats", type=int, default=None, help="rounds (default 7, quick 1)")
    p.add_argument("--flops", type=float, default=None,
                   help="GEMM FLOPs of an epoch (default 1.5e9, quick 5e7)")
    p.add_argument("--json", metavar="PATH", help="write the rows to PATH")
    p.add_argument("--named", action="store_true",
                   help="also the workloads of python -m nncore bench (XOR per 2000-epoch "
                   "call, the others one epoch)")
    p.add_argument("--products", action="store_true",
                   help="time the shapes' matrix products one by one instead of epochs")
    args = p.parse_args(argv)
    count = 4 if args.quick else args.shapes
    repeats = args.repeats or (1 if args.quick else 7)
    flops = args.flops or (5e7 if args.quick else 1.5e9)
    if count < 1 or repeats < 1 or flops <= 0:
        p.error("--shapes and --repeats must be >= 1, --flops > 0")
    B.import_peers(torch=False, jax=False, sklearn=False)
    machine = B.machine_info()
    peaks = {}
    for t in (1, 2):
        with B.Limits(t):
            peaks[t] = max(B.fma_peak(t, 0.05 if args.quick else 0.2) for _ in range(2))
    print("# 2 threads against 1: nncore fit (native engine), one epoch, SGD")
    for line in B.table_header(machine, "1 (pinned) and 2, interleaved"):
        print(f"- {line}")
    print(f"- FMA peak float32: 1 thread {peaks[1]:.0f} GFLOP/s, 2 threads {peaks[2]:.0f}")
    print(f"- {repeats} rounds after a warm-up; t2/t1 = median of paired ratios "
          "(> 1: 2 threads slower)\n")
    head = (f"{'shape':<28}{'batch':>6}{'rows':>7}  {'loss':<13}{'1t ms':>9}{'2t ms':>9}"
            f"{'t2/t1':>7}{'1t %pk':>8}{'2t %pk':>8}")
    timer = B.Timer(repeats, target=0.0 if args.quick else 0.1, cooldown=0.02)
    if args.products:
        timer.target = 0.0 if args.quick else 0.02
        rows = bench_products(shapes(count, args.seed), timer, peaks)
        slower = [r for r in rows if r["t2_over_t1"] > 1.0]
        print(f"\n{len(slower)} of {len(rows)} products slower at 2 threads; load average "
              f"at the end {B.load_average()}")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"machine": machine, "peaks": peaks, "products": rows}, fh,
                          indent=1, default=str)
        return 0
    print(head)
    print("-" * len(head))
    rows = []
    cases = [(sizes, batch, loss, None) for sizes, batch, loss in shapes(count, args.seed)]
    if args.named:
        cases += [(w[0], w[4] or w[5], w[3], name) for name, w in W.WORKLOADS.items()]
    for sizes, batch, loss, name in cases:
        if name is None:
            n = rows_for(sizes, batch, flops)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((n, sizes[0]), dtype=np.float32)
            y = rng.integers(0, sizes[-1], n) if loss == "cross_entropy" else \
                rng.standard_normal((n, 1), dtype=np.float32)
            impls = {"1": fit_unit(sizes, batch, loss, x, y),
                     "2": fit_unit(sizes, batch, loss, x, y)}
        else:   # a named workload: its data, nncore fit as python -m nncore bench runs it
            x, y = W.workload_data(name)
            n = len(x)
            epochs = 2000 if name.startswith("xor") else 1
            impls = {k: (lambda u: lambda: u(epochs))(W.nncore_fit(name, x, y, "native"))
                     for k in ("1", "2")}
        samples, _ = timer.measure(impls, threads=2,
                                   contexts={"1": lambda: B.Limits(1), "2": lambda: B.Limits(2)})
        res = B.summarise(samples, base="1")
        f = B.epoch_flops(sizes, n)
        if name is not None and name.startswith("xor"):
            f *= 2000
        t1, t2 = res["1"]["median_s"], res["2"]["median_s"]
        ratio = res["2"]["ratio_vs_nncore"]
        row = {"sizes": list(sizes), "batch": batch, "rows": n, "loss": loss, "flops": f,
               "workload": name,
               "t1_s": t1, "t2_s": t2, "t2_over_t1": ratio,
               "pct_peak_1": 100 * f / t1 / 1e9 / peaks[1],
               "pct_peak_2": 100 * f / t2 / 1e9 / peaks[2], "samples": samples}
        rows.append(row)
        flag = "  <- slower" if ratio > 1.0 else ""
        label = name if name and name.startswith("xor") else '-'.join(map(str, sizes))
        if name and name.startswith("xor"):
            label += " x2000"
        print(f"{label:<28}{batch:>6}{n:>7}  {loss:<13}{t1 * 1e3:>9.2f}"
              f"{t2 * 1e3:>9.2f}{ratio:>7.2f}{row['pct_peak_1']:>7.0f}%{row['pct_peak_2']:>7.0f}%"
              f"{flag}")
        sys.stdout.flush()
    slower = [r for r in rows if r["t2_over_t1"] > 1.0]
    ratios = [r["t2_over_t1"] for r in rows]
    print(f"\n{len(slower)} of {len(rows)} shapes slower at 2 threads; t2/t1 median "
          f"{np.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}; "
          f"load average at the end {B.load_average()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "peaks": peaks, "rows": rows}, fh, indent=1,
                      default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
