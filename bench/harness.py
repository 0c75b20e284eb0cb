"""The benchmark harness of bench/run.py: machine facts (CPU, BLAS and its kernel, the
OpenBLAS variables), thread limits for every library alike, interleaved timing with
paired ratios, the tables and the plot. The cases themselves are in run.py.

Nothing here imports NumPy or nncore at module level: run.py settles the OpenBLAS
environment (and may re-execute itself) before NumPy is first imported.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # optional: without it NumPy's BLAS threads are not pinned
    threadpool_info = threadpool_limits = None

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SEEN_VAR = "NNCORE_BENCH_OPENBLAS_ENV_SEEN"   # what the first process saw, for the header
SECTIONS = ("matmul", "dense", "elementwise", "losses")


def settle_openblas_env(argv, script):
    """Re-execute without the OpenBLAS variables (before NumPy is imported)."""
    if _SEEN_VAR not in os.environ:
        os.environ[_SEEN_VAR] = json.dumps({v: os.environ.get(v) for v in _OPENBLAS_VARS})
    if "--keep-openblas-env" in argv:
        return
    if any(v in os.environ for v in _OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, os.path.abspath(script), *argv], env)


torch = None


def import_torch():
    global torch
    try:
        import torch as _torch
    except Exception:  # optional, never required
        return None
    torch = _torch
    return torch


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


def numpy_blas():
    """threadpoolctl's view of NumPy's BLAS (num_threads as currently limited)."""
    if threadpool_info is None:
        return [{"internal_api": "unknown (pip install threadpoolctl)"}]
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    mine = [lib for lib in libs if "numpy" in lib.get("filepath", "")] or libs
    keys = ("internal_api", "version", "architecture", "threading_layer", "num_threads",
            "filepath")
    return [{k: lib.get(k) for k in keys} for lib in mine] or [{"internal_api": "none found"}]


def blas_text(blas):
    return "; ".join(f"{b.get('internal_api')} {b.get('version')}, kernel "
                     f"{b.get('architecture')}, num_threads {b.get('num_threads')}"
                     for b in blas)


def openblas_env_text():
    seen = json.loads(os.environ.get(_SEEN_VAR, "{}"))
    parts = []
    for v in _OPENBLAS_VARS:
        now, before = os.environ.get(v), seen.get(v)
        if now is not None:
            parts.append(f"{v}={now} (kept: --keep-openblas-env)")
        elif before is not None:
            parts.append(f"{v} unset by run.py (was {before})")
        else:
            parts.append(f"{v} not set")
    return ", ".join(parts)


def machine_info():
    import numpy as np
    import nncore
    c = nncore.config()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "openblas_env": openblas_env_text(),
        "nncore": c["version"],
        "nncore_isa": c["isa"],
        "nncore_openmp": c["openmp"],
        "nncore_gemm_blocks": c.get("gemm_blocks"),
        "torch": torch.__version__ if torch is not None else "not installed",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def table_header(machine, threads, extra=()):
    """The lines that open every table (called inside the thread limits)."""
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores | threads: {threads}",
        f"NumPy {machine['numpy']}, BLAS: {blas_text(numpy_blas())}",
        f"nncore isa: {machine['nncore_isa']}, OpenMP: {machine['nncore_openmp']} | "
        f"PyTorch: {machine['torch']}",
        f"env: {machine['openblas_env']}",
    ]
    return lines + list(extra)


# ----------------------------------------------------------------------- timing

class Limits:
    """Run with n threads in nncore, NumPy's BLAS and PyTorch alike."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import nncore
        self._nn = nncore.threads(self.n)
        self._nn.__enter__()
        self._blas = (threadpool_limits(self.n, user_api="blas")
                      if threadpool_limits is not None else None)
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


class Timer:
    def __init__(self, repeats, target, cooldown):
        self.repeats, self.target, self.cooldown = repeats, target, cooldown

    def calls_per_sample(self, fn, threads):
        """Warm up `fn` and return the number of calls that last about `target` s."""
        if threads > 1 and self.cooldown:
            time.sleep(self.cooldown)
        fn()
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        n = max(1, int(self.target / one))
        if n > 1:          # warm-up of a whole sample, then re-estimate
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            n = max(1, int(self.target / max((time.perf_counter() - t0) / n, 1e-8)))
        return n

    def measure(self, impls, threads):
        """{name: [seconds per call, one per repeat]}, implementations interleaved."""
        names = list(impls)
        calls = {name: self.calls_per_sample(impls[name], threads) for name in names}
        samples = {name: [] for name in names}
        for r in range(self.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                fn, n = impls[name], calls[name]
                if threads > 1 and self.cooldown:
                    time.sleep(self.cooldown)
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - t0) / n)
        return samples, calls


def summarise(samples, calls, base="nncore"):
    out = {}
    for name, ts in samples.items():
        row = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
               "samples_s": ts, "calls_per_sample": calls[name]}
        if name != base and base in samples:
            row["ratio_vs_nncore"] = statistics.median(
                t / b for t, b in zip(ts, samples[base]))
        out[name] = row
    return out


# ----------------------------------------------------------------------- report

IMPL_ORDER = ["nncore", "numpy", "reference", "torch", "torch_mm"]


def _fmt_time(med, lo, hi):
    unit, scale = ("s", 1.0) if med >= 10 else ("ms", 1e3) if med >= 1e-2 else ("us", 1e6)

    def f(v):
        v *= scale
        return f"{v:.0f}" if v >= 1000 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    return f"{f(med)} [{f(lo)}-{f(hi)}] {unit}"


def print_table(title, header, rows, extra=None):
    """extra: (label, function of a result dict -> str) for the per-implementation
    throughput columns."""
    print(f"\n## {title}")
    for line in header:
        print(f"- {line}")
    impls = sorted({k for r in rows for k in r["results"]}, key=IMPL_ORDER.index)
    others = [i for i in impls if i != "nncore"]
    cells = [["case"] + [f"{i} median [min-max]" for i in impls]
             + [f"{i}/nncore" for i in others]
             + ([f"{i} {extra[0]}" for i in impls] if extra else [])]
    for r in rows:
        res = r["results"]
        line = [r["case"]]
        line += [_fmt_time(res[i]["median_s"], res[i]["min_s"], res[i]["max_s"])
                 if i in res else "-" for i in impls]
        line += [f"{res[i]['ratio_vs_nncore']:.2f}x" if i in res else "-" for i in others]
        if extra:
            line += [extra[1](res[i]) if i in res else "-" for i in impls]
        cells.append(line)
    widths = [max(len(c[j]) for c in cells) for j in range(len(cells[0]))]
    for k, c in enumerate(cells):
        print("  ".join(s.ljust(w) if j == 0 else s.rjust(w)
                        for j, (s, w) in enumerate(zip(c, widths))))
        if k == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot: matplotlib is not installed (pip install matplotlib); {path} "
              "not written")
        return
    panels = []
    for dtype in ("float32", "float64"):
        rows = [r for r in results.get("matmul", []) if r["dtype"] == dtype]
        if rows:
            panels.append((f"matmul {dtype}: GFLOP/s", rows, lambda r: r["gflops"]))
    if results.get("dense"):
        panels.append(("dense: speed relative to nncore (nncore = 1, higher is faster)",
                       results["dense"], lambda r: 1.0 / r.get("ratio_vs_nncore", 1.0)))
    mem = results.get("elementwise", []) + results.get("losses", [])
    if mem:
        panels.append(("activations and losses: GB/s moved", mem, lambda r: r["gbps"]))
    if not panels:
        print("--plot: nothing to plot")
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(14, 4.2 * len(panels)), squeeze=False)
    for ax, (title, rows, value) in zip(axes[:, 0], panels):
        impls = sorted({k for r in rows for k in r["results"]}, key=IMPL_ORDER.index)
        width = 0.8 / len(impls)
        for j, impl in enumerate(impls):
            xs = [i + j * width for i, r in enumerate(rows) if impl in r["results"]]
            ys = [value(r["results"][impl]) for r in rows if impl in r["results"]]
            ax.bar(xs, ys, width, label=impl)
        ax.set_xticks([i + width * (len(impls) - 1) / 2 for i in range(len(rows))])
        ax.set_xticklabels([f"{r['case']}\n{r['threads']}t" for r in rows], fontsize=6,
                           rotation=30, ha="right")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    m = results["machine"]
    fig.suptitle(f"nncore ({m['nncore_isa']}) vs NumPy {m['numpy']} / PyTorch {m['torch']}"
                 f" on {m['cpu']}, {m['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot written to {path}")
