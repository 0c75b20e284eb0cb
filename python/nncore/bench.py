"""``python -m nncore bench``: what the native core buys on this machine.

Times nncore's native functions against the same maths in NumPy (:mod:`nncore.reference`)
and in pure Python, and whole training runs (``fit``) against a plain NumPy loop, pure
Python and, when installed, PyTorch and scikit-learn — interleaved in one process
(implementations in rotating order each round), medians with [min-max], and paired
ratios (other / nncore per round, then the median: above 1, nncore is faster).

    python -m nncore bench --quick              # under a minute
    python -m nncore bench --threads 1,2 --json out.json --plot out.png
    python -m nncore bench --rss                # + peak memory of an MNIST-shaped epoch

Needs only NumPy; PyTorch and scikit-learn columns appear when they import.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

import nncore as nc
from nncore import reference as R
from nncore._bench_workloads import WORKLOADS, implementations, pure_python, workload_data

# ----------------------------------------------------------------- timing

def thread_limits(n, torch=True):
    """Context managers limiting nncore, NumPy's BLAS and (with ``torch``) PyTorch to n
    threads."""
    import contextlib
    stack = contextlib.ExitStack()
    stack.enter_context(nc.threads(n))
    try:
        from threadpoolctl import threadpool_limits
        stack.enter_context(threadpool_limits(n))
    except ImportError:
        pass
    if not torch:
        return stack
    try:
        import torch
        prev = torch.get_num_threads()
        torch.set_num_threads(n)
        stack.callback(torch.set_num_threads, prev)
    except ImportError:
        pass
    return stack


def interleaved(units, per_unit, repeats, target):
    """Seconds per step (or per epoch) of each unit, round-robin with a rotating start.
    per_unit[name]: (epochs per call, steps it stands for). Each is calibrated first so
    that one sample lasts about `target` seconds."""
    names = list(units)
    calls = {}
    for name in names:
        epochs, _ = per_unit[name]
        units[name](epochs)  # warm-up
        t0 = time.perf_counter()
        units[name](epochs)
        one = max(time.perf_counter() - t0, 1e-9)
        calls[name] = max(1, min(1000, int(target / one)))
    samples = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            epochs, steps = per_unit[name]
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                units[name](epochs)
            samples[name].append((time.perf_counter() - t0) / (calls[name] * steps))
    return samples


def summary(samples, base):
    rows = {}
    for name, ts in samples.items():
        row = {"median": statistics.median(ts), "min": min(ts), "max": max(ts)}
        if name != base:
            row["ratio"] = statistics.median(t / b for t, b in zip(ts, samples[base]))
        rows[name] = row
    return rows


def bench_training(name, threads, repeats, target, quick, labels=None):
    """One workload's training speed per implementation (all of them, or ``labels``;
    the first is the base of the ratios: nncore fit (native))."""
    x, y = workload_data(name)
    _, _, _, _, batch, n, _, _ = WORKLOADS[name]
    steps = math.ceil(n / (batch or n))
    units = implementations(name, x, y, pure=True, optional=labels is None or any(
        label in labels for label in ("PyTorch", "scikit-learn")))
    if labels is not None:
        units = {label: units[label] for label in labels}
    per_unit = {}
    for label in units:
        if name.startswith("xor"):
            per_unit[label] = (2000 if "native" in label else 200, 2000 if "native" in label
                               else 200)
        else:
            per_unit[label] = (1, 1)  # seconds per epoch
    if "pure Python" in units and name.startswith("tabular"):
        limit = 3 if quick else 10
        units["pure Python"] = pure_python(name, x, y, max_steps=limit)
        per_unit["pure Python"] = (1, limit / steps)  # scaled to an epoch
    if name.startswith("xor") and "scikit-learn" in units:
        per_unit["scikit-learn"] = (200, 200)
    with thread_limits(threads, torch="PyTorch" in units):
        samples = interleaved(units, per_unit, repeats, target)
    unit = "us/step" if name.startswith("xor") else "s/epoch"
    scale = 1e6 if unit == "us/step" else 1.0
    res = summary({k: [t * scale for t in v] for k, v in samples.items()},
                  "nncore fit (native)")
    return {"workload": name, "threads": threads, "unit": unit, "results": res}


# ----------------------------------------------------------------- kernels

def bench_kernels(threads, repeats, target):
    """matmul, dense forward/backward, an activation and a loss: native vs NumPy
    (nncore.reference) vs pure Python (small sizes)."""
    from nncore import functional as F
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256), dtype=np.float32)
    x = rng.standard_normal((64, 784), dtype=np.float32)
    w = rng.standard_normal((784, 256), dtype=np.float32) / 28
    b = np.zeros(256, np.float32)
    y = F.dense_forward(x, w, b, "relu")
    gy = np.ones_like(y)
    z = rng.standard_normal(1_000_000, dtype=np.float32)
    logits = rng.standard_normal((4096, 10), dtype=np.float32)
    labels = rng.integers(0, 10, 4096)
    small = rng.standard_normal((16, 16)).tolist()

    def py_matmul():
        return [[sum(r[k] * small[k][j] for k in range(16)) for j in range(16)] for r in small]
    cases = {
        "matmul 256^3": {"native": lambda: F.matmul(a, a), "NumPy": lambda: R.matmul(a, a)},
        "matmul 16^3": {"native": lambda: F.matmul(a[:16, :16], a[:16, :16]),
                        "NumPy": lambda: R.matmul(a[:16, :16], a[:16, :16]),
                        "pure Python": py_matmul},
        "dense_forward 64x784x256 relu": {
            "native": lambda: F.dense_forward(x, w, b, "relu"),
            "NumPy": lambda: R.dense_forward(x, w, b, "relu")},
        "dense_backward 64x784x256 relu": {
            "native": lambda: F.dense_backward(x, w, y, gy, "relu"),
            "NumPy": lambda: R.dense_backward(x, w, y, gy, "relu")},
        "sigmoid 1M": {"native": lambda: F.sigmoid(z), "NumPy": lambda: R.sigmoid(z)},
        "cross_entropy_and_grad 4096x10": {
            "native": lambda: F.cross_entropy_and_grad(logits, labels),
            "NumPy": lambda: R.cross_entropy_and_grad(logits, labels)},
    }
    out = []
    with thread_limits(threads):
        for case, fns in cases.items():
            units = {k: (lambda f: lambda epochs: f())(f) for k, f in fns.items()}
            samples = interleaved(units, {k: (1, 1) for k in units}, repeats, target)
            res = summary({k: [t * 1e6 for t in v] for k, v in samples.items()}, "native")
            out.append({"kernel": case, "threads": threads, "unit": "us/call", "results": res})
    return out


# ----------------------------------------------------------------- memory

_RSS_CHILD = """
import resource, sys
from nncore import bench
name, label = sys.argv[1], sys.argv[2]
x, y = bench.workload_data(name)
if label != "data only":
    with bench.thread_limits(1):
        bench.implementations(name, x, y, pure=False)[label](1)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_rss(name):
    """Peak resident set size (MiB) of one epoch of each implementation, each in its own
    process (the data alone as the floor), at one thread."""
    import subprocess
    x, y = workload_data(name)
    labels = ["data only"] + list(implementations(name, x, y, pure=False))
    res = {}
    for label in labels:
        out = subprocess.run([sys.executable, "-c", _RSS_CHILD, name, label], check=True,
                             capture_output=True, text=True).stdout
        res[label] = int(out.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    return {"rss": name, "unit": "MiB", "results": res}


def print_rss(entry):
    print(f"\n## peak RSS, one epoch of {entry['rss']} in its own process (MiB, 1 thread)")
    base = entry["results"].get("NumPy loop")
    for label, mib in entry["results"].items():
        rel = f"  x{mib / base:.2f} of NumPy loop" if base and label != "data only" else ""
        print(f"  {label:<22} {mib:>8.1f}{rel}")


# ----------------------------------------------------------------- report

def _fmt(row):
    def f(v):
        return f"{v:.3g}"
    return f"{f(row['median'])} [{f(row['min'])}-{f(row['max'])}]"


def print_table(title, entries, key):
    print(f"\n## {title}")
    for e in entries:
        base = next(iter(e["results"]))
        print(f"\n{e[key]} ({e['unit']}, {e['threads']} thread(s); ratio = other / {base})")
        for name, row in e["results"].items():
            ratio = f"  x{row['ratio']:.2f}" if "ratio" in row else ""
            print(f"  {name:<22} {_fmt(row):>26}{ratio}")


def plot(entries, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    train = [e for e in entries if "workload" in e]
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.9 * len(train)))
    labels, values = [], []
    for e in train:
        for name, row in e["results"].items():
            if "ratio" in row:
                labels.append(f"{e['workload']} @{e['threads']}t: {name}")
                values.append(row["ratio"])
    ax.barh(range(len(values)), values, color="tab:blue")
    ax.axvline(1, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.set_xlabel("time of other / time of nncore fit (native)   (> 1: nncore faster)")
    ax.set_title("nncore training speed-up, end to end")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nncore bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="XOR and tabular only, fewer rounds")
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default: "
                   "1 and the usable CPU count)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--plot", help="draw the training ratios to this PNG (matplotlib)")
    p.add_argument("--workloads", help="comma-separated subset of " + ", ".join(WORKLOADS))
    p.add_argument("--repeats", type=int, help="rounds per implementation (default 5, quick 3)")
    p.add_argument("--rss", nargs="?", const="mnist_784-256-128-10", metavar="WORKLOAD",
                   help="also the peak memory of one epoch of WORKLOAD (default the "
                   "MNIST-shaped one) per implementation, each in its own process")
    args = p.parse_args(argv)
    if args.rss and args.rss not in WORKLOADS:
        p.error(f"--rss: unknown workload {args.rss!r}; choose from {', '.join(WORKLOADS)}")
    if args.threads:
        threads = [int(t) for t in args.threads.split(",")]
    else:
        threads = sorted({1, nc.get_num_threads()})
    names = args.workloads.split(",") if args.workloads else [
        n for n in WORKLOADS if not (args.quick and n.split("_")[0] in ("mnist", "wide"))]
    repeats, target = (3, 0.05) if args.quick else (5, 0.3)
    if args.repeats is not None:
        if args.repeats < 1:
            p.error(f"--repeats must be >= 1; got {args.repeats}")
        repeats = args.repeats
    cfg = nc.config()
    print(f"nncore {nc.__version__}, kernel set {cfg['isa']}, cpu features "
          f"{','.join(cfg['cpu_features'])}, numpy {np.__version__}")
    entries = []
    for t in threads:
        entries += bench_kernels(t, repeats, target / 2)
    print_table("kernels", entries, "kernel")
    train = []
    for t in threads:
        for name in names:
            train.append(bench_training(name, t, repeats, target, args.quick))
            print_table("training", train[-1:], "workload")
    entries += train
    if args.rss:
        entries.append(bench_rss(args.rss))
        print_rss(entries[-1])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "entries": entries}, f, indent=1)
    if args.plot:
        print("plot:", plot(entries, args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
