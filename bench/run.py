"""nncore benchmarks: native kernels against the same maths in NumPy (nncore.reference)
and, when installed, PyTorch — interleaved in one process, medians and paired ratios.

    python bench/run.py                 # full run (a few minutes)
    python bench/run.py --quick         # smoke run (CI)
    python bench/run.py --json out.json --plot out.png --threads 1,2 --only matmul,dense

NumPy is compared at its best: unless --keep-openblas-env is given, the script re-runs
itself with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they slow OpenBLAS on some
machines) and reports the BLAS kernel threadpoolctl sees.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_openblas_env(argv):
    if any(v in os.environ for v in _OPENBLAS_VARS) and "--keep-openblas-env" not in argv:
        env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
        env["NNCORE_BENCH_UNSET"] = ",".join(v for v in _OPENBLAS_VARS if v in os.environ)
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], env)


if __name__ == "__main__":
    _reexec_without_openblas_env(sys.argv[1:])

import numpy as np  # noqa: E402  (after the environment is settled)

import nncore  # noqa: E402
import nncore.functional as F  # noqa: E402
import nncore.reference as R  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # optional: without it NumPy's BLAS threads are not pinned
    threadpool_info = threadpool_limits = None

try:
    import torch
except ImportError:
    torch = None


# ----------------------------------------------------------------------- machine

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info():
    if threadpool_info is None:
        return "unknown (pip install threadpoolctl)"
    parts = []
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            parts.append(f"{lib.get('internal_api')} {lib.get('version')} "
                         f"kernel={lib.get('architecture')} threads={lib.get('num_threads')}")
    return "; ".join(parts) or "none found"


def machine_header():
    c = nncore.config()
    env = ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in _OPENBLAS_VARS)
    unset = os.environ.get("NNCORE_BENCH_UNSET")
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": blas_info(),
        "openblas_env": env + (f" (unset by run.py: {unset})" if unset else ""),
        "nncore": c["version"],
        "nncore_isa": c["isa"],
        "openmp": c["openmp"],
        "torch": torch.__version__ if torch is not None else "not installed",
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


# ----------------------------------------------------------------------- timing

class Limits:
    """Run with n threads in nncore, NumPy's BLAS and PyTorch alike."""

    def __init__(self, n):
        self.n = n
        self._blas = None

    def __enter__(self):
        self._nn = nncore.threads(self.n)
        self._nn.__enter__()
        if threadpool_limits is not None:
            self._blas = threadpool_limits(self.n)
        if torch is not None:
            self._torch_prev = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if torch is not None:
            torch.set_num_threads(self._torch_prev)
        if self._blas is not None:
            self._blas.unregister()
        self._nn.__exit__(*exc)


def calibrate(fn, target):
    """Calls per sample so that a sample lasts about `target` seconds."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(target / one))


COOLDOWN = [0.0]


def measure(impls, repeats, target):
    """Interleaved timing: each repeat runs every implementation once, in turn.

    Between samples the script sleeps COOLDOWN seconds: OpenBLAS's and PyTorch's worker
    threads keep spinning for a while after a call (OpenBLAS about 2**28 cycles), and on
    a 2-core machine they would steal the core the next implementation's threads need.

    Returns {name: [seconds per call, one per repeat]}.
    """
    numbers = {name: calibrate(fn, target) for name, fn in impls.items()}
    samples = {name: [] for name in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            n = numbers[name]
            if COOLDOWN[0]:
                time.sleep(COOLDOWN[0])
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def summarise(samples, base="nncore"):
    """Medians, min/max and median paired ratio (other time / nncore time)."""
    out = {}
    for name, ts in samples.items():
        row = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts)}
        if name != base and base in samples:
            ratios = [t / b for t, b in zip(ts, samples[base])]
            row["ratio_vs_nncore"] = statistics.median(ratios)
        out[name] = row
    return out


# ----------------------------------------------------------------------- cases

def matmul_cases(quick):
    sizes = [(64, 64, 64), (128, 784, 256), (256, 256, 256), (512, 512, 512)]
    if not quick:
        sizes += [(1024, 1024, 1024), (2048, 2048, 2048)]
    cases = [(m, k, n, False, False) for m, k, n in sizes]
    t = 128 if quick else 512
    cases += [(t, t, t, ta, tb) for ta, tb in [(True, False), (False, True), (True, True)]]
    return cases


def bench_matmul(args, threads, peaks, rng):
    rows = []
    for dtype in (np.float32, np.float64):
        for m, k, n, ta, tb in matmul_cases(args.quick):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            out = np.empty((m, n), dtype)
            at, bt = (a.T if ta else a), (b.T if tb else b)
            impls = {
                "nncore": lambda: F.matmul(a, b, trans_a=ta, trans_b=tb, out=out),
                "numpy": lambda: np.matmul(at, bt, out=out),
            }
            if torch is not None:
                ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
                tat, tbt = (ta_.T if ta else ta_), (tb_.T if tb else tb_)
                tout = torch.from_numpy(out)
                impls["torch"] = lambda: torch.matmul(tat, tbt, out=tout)
            with Limits(threads):
                res = summarise(measure(impls, args.repeats, args.target))
            flops = 2.0 * m * n * k
            peak = peaks[(np.dtype(dtype).name, threads)]
            for impl, r in res.items():
                r["gflops"] = flops / r["median_s"] / 1e9
                r["pct_peak"] = 100 * r["gflops"] / peak
            shape = f"{m}x{k}x{n}" + (f" {'T' if ta else 'N'}{'T' if tb else 'N'}"
                                     if ta or tb else "")
            rows.append({"dtype": np.dtype(dtype).name, "shape": shape, "threads": threads,
                         "results": res})
    return rows


def dense_stack(sizes, batch, dtype, rng):
    ws = [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(dtype)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(o, dtype) for o in sizes[1:]]
    acts = ["relu"] * (len(ws) - 1) + ["identity"]
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    gy = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    return x, ws, bs, acts, gy


def nncore_stack(x, ws, bs, acts, gy):
    ys = [np.empty((len(x), w.shape[1]), x.dtype) for w in ws]
    grads = [(np.empty((len(x), w.shape[0]), x.dtype) if i else None,
              np.empty_like(w), np.empty_like(b)) for i, (w, b) in enumerate(zip(ws, bs))]

    def forward():
        h = x
        for w, b, a, y in zip(ws, bs, acts, ys):
            h = F.dense_forward(h, w, b, a, out=y)
        return h

    def forward_backward():
        forward()
        g = gy
        for i in reversed(range(len(ws))):
            inp = x if i == 0 else ys[i - 1]
            g, _, _ = F.dense_backward(inp, ws[i], ys[i], g, acts[i], need_grad_x=i > 0,
                                       out=grads[i])
    return forward, forward_backward


def reference_stack(x, ws, bs, acts, gy):
    def forward():
        h, ys = x, []
        for w, b, a in zip(ws, bs, acts):
            h = R.dense_forward(h, w, b, a)
            ys.append(h)
        return ys

    def forward_backward():
        ys = forward()
        g = gy
        for i in reversed(range(len(ws))):
            inp = x if i == 0 else ys[i - 1]
            g, _, _ = R.dense_backward(inp, ws[i], ys[i], g, acts[i], need_grad_x=i > 0)
    return forward, forward_backward


def torch_stack(x, ws, bs, acts, gy):
    """The same maths in PyTorch, written out (no autograd): addmm, relu, and the
    backward matrix products."""
    tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
    tw = [torch.from_numpy(w) for w in ws]
    tb = [torch.from_numpy(b) for b in bs]

    def forward():
        h, ys = tx, []
        for w, b, a in zip(tw, tb, acts):
            h = torch.addmm(b, h, w)
            if a == "relu":
                h = torch.relu(h)
            ys.append(h)
        return ys

    def forward_backward():
        ys = forward()
        g = tgy
        for i in reversed(range(len(tw))):
            inp = tx if i == 0 else ys[i - 1]
            gz = g * (ys[i] > 0) if acts[i] == "relu" else g
            torch.mm(inp.T, gz)
            gz.sum(0)
            if i > 0:
                g = torch.mm(gz, tw[i].T)
    return forward, forward_backward


def bench_dense(args, threads, rng):
    rows = []
    configs = [("784-256-128-10", [784, 256, 128, 10], 64), ("1024-1024", [1024, 1024], 256)]
    for name, sizes, batch in configs:
        for dtype in (np.float32,):
            stack = dense_stack(sizes, batch, dtype, rng)
            nf, nfb = nncore_stack(*stack)
            rf, rfb = reference_stack(*stack)
            for mode, impls in [("forward", {"nncore": nf, "numpy": rf}),
                                ("forward+backward", {"nncore": nfb, "numpy": rfb})]:
                if torch is not None:
                    tf, tfb = torch_stack(*stack)
                    impls["torch"] = tf if mode == "forward" else tfb
                with Limits(threads):
                    res = summarise(measure(impls, args.repeats, args.target))
                rows.append({"dtype": np.dtype(dtype).name, "shape": f"{name} batch {batch}",
                             "mode": mode, "threads": threads, "results": res})
    return rows


def bench_memory(args, threads, rng, bandwidth):
    rows = []
    n = (1 << 20) if args.quick else (64 << 20)
    x = rng.standard_normal(n).astype(np.float32)
    y = np.empty_like(x)
    g = rng.standard_normal(n).astype(np.float32)
    elementwise = [
        ("relu", lambda: F.relu(x, out=y), lambda: np.maximum(x, 0, out=y), 2),
        ("sigmoid", lambda: F.sigmoid(x, out=y), lambda: R.sigmoid(x, out=y), 2),
        ("tanh", lambda: F.tanh(x, out=y), lambda: np.tanh(x, out=y), 2),
        ("relu_backward", lambda: F.relu_backward(x, g, out=y),
         lambda: R.relu_backward(x, g, out=y), 3),
    ]
    rows_n = n // 16 if args.quick else (4 << 20)
    z = rng.standard_normal((rows_n, 10)).astype(np.float32)
    labels = rng.integers(0, 10, rows_n)
    zg = np.empty_like(z)
    t = rng.random(n).astype(np.float32)
    losses = [
        ("cross_entropy_and_grad", lambda: F.cross_entropy_and_grad(z, labels, out=zg),
         lambda: R.cross_entropy_and_grad(z, labels, out=zg), 2 * z.nbytes / x.nbytes + 0.2),
        ("mse_loss_and_grad", lambda: F.mse_loss_and_grad(x, t, out=y),
         lambda: R.mse_loss_and_grad(x, t, out=y), 3),
        ("bce_with_logits_and_grad",
         lambda: F.binary_cross_entropy_with_logits_and_grad(x, t, out=y),
         lambda: R.binary_cross_entropy_with_logits_and_grad(x, t, out=y), 3),
    ]
    for name, nn_fn, np_fn, arrays in elementwise + losses:
        with Limits(threads):
            res = summarise(measure({"nncore": nn_fn, "numpy": np_fn}, args.repeats,
                                    args.target))
        moved = arrays * x.nbytes
        for r in res.values():
            r["gbps"] = moved / r["median_s"] / 1e9
            r["pct_bandwidth"] = 100 * r["gbps"] / bandwidth[threads]
        rows.append({"dtype": "float32", "shape": f"{name} ({n:,} elements)" if "cross" not in
                     name else f"{name} ({rows_n:,}x10)", "threads": threads, "results": res})
    return rows


def measure_bandwidth(args, threads, rng):
    """GB/s of a large copy (np.copyto; read + write counted) with this many threads."""
    n = (1 << 20) if args.quick else (64 << 20)
    a = rng.standard_normal(n).astype(np.float32)
    b = np.empty_like(a)
    with Limits(threads):
        s = measure({"nncore": lambda: F.identity(a, out=b),
                     "numpy": lambda: np.copyto(b, a)}, args.repeats, args.target)
    best = min(statistics.median(s["numpy"]), statistics.median(s["nncore"]))
    return 2 * a.nbytes / best / 1e9


# ----------------------------------------------------------------------- report

def fmt_time(s):
    return f"{s * 1e6:9.1f} us" if s < 1e-2 else f"{s * 1e3:9.2f} ms"


def print_table(title, rows, extra):
    print(f"\n## {title}")
    impls = sorted({k for r in rows for k in r["results"]}, key=["nncore", "numpy", "torch"].index)
    head = f"{'case':<42} {'thr':>3} " + " ".join(f"{i + ' median':>14}" for i in impls)
    head += "  " + " ".join(f"{i + '/nncore':>13}" for i in impls if i != "nncore")
    if extra:
        head += "  " + " ".join(f"{i + ' ' + extra[1]:>16}" for i in impls)
    print(head)
    print("-" * len(head))
    for r in rows:
        case = (r.get("mode", "") + " " if "mode" in r else "") + r["shape"] + f" {r['dtype']}"
        line = f"{case:<42} {r['threads']:>3} "
        line += " ".join(f"{fmt_time(r['results'][i]['median_s']):>14}" for i in impls)
        line += "  " + " ".join(f"{r['results'][i].get('ratio_vs_nncore', float('nan')):>12.2f}x"
                               for i in impls if i != "nncore")
        if extra:
            key, label, f = extra
            line += "  " + " ".join(f"{f(r['results'][i]):>16}" for i in impls)
        print(line)


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot: matplotlib is not installed (pip install matplotlib); no {path}")
        return
    rows = [r for r in results["matmul"] if r["dtype"] == "float32"]
    labels = [f"{r['shape']}\n{r['threads']}t" for r in rows]
    impls = [i for i in ("nncore", "numpy", "torch") if i in rows[0]["results"]]
    fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.9), 4.5))
    width = 0.8 / len(impls)
    for j, impl in enumerate(impls):
        ax.bar([i + j * width for i in range(len(rows))],
               [r["results"][impl]["gflops"] for r in rows], width, label=impl)
    ax.set_xticks([i + width * (len(impls) - 1) / 2 for i in range(len(rows))])
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("GFLOP/s (float32 matmul)")
    ax.set_title(f"{results['machine']['cpu']}, nncore {results['machine']['nncore_isa']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot written to {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (CI)")
    p.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    p.add_argument("--repeats", type=int, default=None, help="samples per implementation")
    p.add_argument("--target", type=float, default=None, help="seconds per sample")
    p.add_argument("--only", default="matmul,dense,elementwise",
                   help="sections: matmul,dense,elementwise")
    p.add_argument("--json", help="write all measurements to this file")
    p.add_argument("--plot", help="write a bar chart PNG (needs matplotlib)")
    p.add_argument("--cooldown", type=float, default=None,
                   help="seconds to sleep before each sample (default 0.15, quick 0)")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="do not unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.target = args.target or (0.005 if args.quick else 0.03)
    COOLDOWN[0] = args.cooldown if args.cooldown is not None else (0.0 if args.quick else 0.15)
    threads = [int(t) for t in args.threads.split(",")]
    if any(t < 1 for t in threads):
        p.error("--threads must list positive ints")
    sections = set(args.only.split(","))
    rng = np.random.default_rng(0)

    machine = machine_header()
    print("# nncore benchmark")
    for k, v in machine.items():
        print(f"- {k}: {v}")
    peaks = {}
    for t in threads:
        for bits, name in ((32, "float32"), (64, "float64")):
            peaks[(name, t)] = nncore._core._fma_peak_gflops(bits, t, 0.05 if args.quick else 0.3)
    print("- measured FMA peak (GFLOP/s): " + ", ".join(
        f"{name} {t}t {v:.0f}" for (name, t), v in peaks.items()))
    results = {"machine": machine, "args": vars(args),
               "peak_gflops": {f"{k[0]}/{k[1]}": v for k, v in peaks.items()}}

    if "matmul" in sections:
        rows = [r for t in threads for r in bench_matmul(args, t, peaks, rng)]
        results["matmul"] = rows
        print_table("matmul (GFLOP/s and % of measured peak)", rows,
                    ("gflops", "GF/s %peak",
                     lambda r: f"{r['gflops']:.0f} {r['pct_peak']:.0f}%"))
    if "dense" in sections:
        rows = [r for t in threads for r in bench_dense(args, t, rng)]
        results["dense"] = rows
        print_table("dense layers (numpy = nncore.reference; torch = the same maths)", rows, None)
    if "elementwise" in sections:
        bandwidth = {t: measure_bandwidth(args, t, rng) for t in threads}
        results["bandwidth_gbps"] = bandwidth
        print("\n- measured copy bandwidth (GB/s): " +
              ", ".join(f"{t}t {v:.1f}" for t, v in bandwidth.items()))
        rows = [r for t in threads for r in bench_memory(args, t, rng, bandwidth)]
        results["elementwise"] = rows
        print_table("activations and losses (GB/s moved, % of copy bandwidth)", rows,
                    ("gbps", "GB/s %bw", lambda r: f"{r['gbps']:.1f} {r['pct_bandwidth']:.0f}%"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nJSON written to {args.json}")
    if args.plot and "matmul" in results:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
