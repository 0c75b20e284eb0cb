"""``python -m nncore bench``: what the native core buys on this machine.

Times nncore's native functions against the same maths in NumPy (:mod:`nncore.reference`)
and in pure Python, and whole training runs (``fit``) against a plain NumPy loop, pure
Python and, when installed, PyTorch, scikit-learn and JAX (a jitted step driven from
Python, and the whole epoch as one ``jax.lax.scan`` program) — interleaved in one process
(implementations in rotating order each round), medians with [min-max], and paired
ratios (other / nncore per round, then the median: above 1, nncore is faster). Every
training row also gives its share of the FMA peak measured in the same run.

    python -m nncore bench --quick              # under a minute
    python -m nncore bench --threads 1,2 --json out.json --plot out.png
    python -m nncore bench --rss                # + peak memory of an MNIST-shaped epoch
    python -m nncore bench --idioms             # fit idioms (heads, Dropout, gelu, health)

Needs only NumPy; PyTorch, scikit-learn and JAX columns appear when they import.

This module is also the one timing harness of the repository's ``bench/`` scripts:
machine facts (CPU, NumPy's BLAS and its kernel), thread limits for every library
alike (1-thread runs pinned to one CPU), interleaved timing with paired ratios, the FMA
peak and the printed tables.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

import nncore as nc
from nncore import _bench_workloads as W
from nncore import reference as R
from nncore._bench_workloads import WORKLOADS, implementations, pure_python, workload_data

# ======================================================================= the harness
# ----------------------------------------------------------------- machine facts

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SEEN_VAR = "NNCORE_BENCH_OPENBLAS_ENV_SEEN"   # what the first process saw, for the header


def settle_openblas_env(argv, command):
    """Re-execute ``command + argv`` without the OpenBLAS variables that slow NumPy on
    some machines (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) unless ``--keep-openblas-env`` is
    in ``argv``. OpenBLAS reads them when it loads, so the new process sees NumPy at its
    best; what the first process saw is kept for the header (:func:`openblas_env_text`)."""
    if _SEEN_VAR not in os.environ:
        os.environ[_SEEN_VAR] = json.dumps({v: os.environ.get(v) for v in OPENBLAS_VARS})
    if "--keep-openblas-env" in argv:
        return
    if any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *command, *argv], env)


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
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # optional: without it NumPy's BLAS threads are not limited
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
    for v in OPENBLAS_VARS:
        now, before = os.environ.get(v), seen.get(v)
        if now is not None:
            parts.append(f"{v}={now} (kept: --keep-openblas-env)")
        elif before is not None:
            parts.append(f"{v} unset by the bench (was {before})")
        else:
            parts.append(f"{v} not set")
    return ", ".join(parts)


def load_average():
    return tuple(round(v, 2) for v in os.getloadavg()) if hasattr(os, "getloadavg") else None


def import_peers(torch=True, jax=True, sklearn=True):
    """Import the optional peer libraries now, before any thread limit or CPU pinning
    (a limit set before a library is imported does not reach it). JAX is told to use
    the CPU. Returns {name: module} of those that import."""
    peers = {}
    if torch:
        with contextlib.suppress(Exception):
            import torch as _torch
            peers["torch"] = _torch
    if sklearn:
        with contextlib.suppress(Exception):
            import sklearn as _sklearn
            peers["sklearn"] = _sklearn
    if jax:
        jx = W.import_jax()
        if jx is not None:
            peers["jax"] = jx
    with contextlib.suppress(ImportError):
        import threadpoolctl  # noqa: F401  (loads before the limits, like the rest)
    return peers


def machine_info(peers=None):
    peers = {} if peers is None else peers
    c = nc.config()
    torch, jax = peers.get("torch"), peers.get("jax")
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "openblas_env": openblas_env_text(),
        "nncore": c["version"],
        "nncore_isa": c["isa"],
        "nncore_openmp": c["openmp"],
        "nncore_gemm_blocks": c.get("gemm_blocks"),
        "torch": torch.__version__ if torch is not None else "not used",
        "jax": (f"{jax.__version__} on {jax.devices()[0].platform}" if jax is not None
                else "not used"),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average": load_average(),
    }


def table_header(machine, threads, extra=()):
    """The lines that open every table (called inside the thread limits)."""
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores | threads: {threads}"
        + (f" (pinned to CPU {pinned_cpu()})" if pinned_cpu() is not None else ""),
        f"NumPy {machine['numpy']}, BLAS: {blas_text(numpy_blas())}",
        f"nncore isa: {machine['nncore_isa']}, OpenMP: {machine['nncore_openmp']} | "
        f"PyTorch: {machine['torch']} | JAX: {machine.get('jax', 'not used')}",
        f"env: {machine['openblas_env']} | load average {load_average()}",
    ]
    return lines + list(extra)


# ----------------------------------------------------------------- thread limits

_PINNED = []   # the CPU the process is pinned to, while it is


def pinned_cpu():
    return _PINNED[-1] if _PINNED else None


def _tasks():
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def _set_affinity(cpus):
    """Every thread of the process onto ``cpus``; {thread id: its mask before}. A thread
    started later inherits its creator's mask (sched_setaffinity(0) alone moves only
    the calling thread, not the pools libraries have started)."""
    saved = {}
    for tid in _tasks():
        with contextlib.suppress(OSError):
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    return saved


def _restore_affinity(saved, default):
    for tid in _tasks():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, saved.get(tid, default))


class Limits:
    """Run with n threads in nncore, NumPy's BLAS and PyTorch alike; with ``pin`` (the
    default) the whole process is also held to one CPU when n == 1 and spread over all
    its usable CPUs otherwise (XLA's thread pool obeys no other limit). Import every
    library first (:func:`import_peers`), then limit."""

    def __init__(self, n, pin=True):
        self.n, self.pin = n, pin

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(nc.threads(self.n))
        with contextlib.suppress(ImportError):
            from threadpoolctl import threadpool_limits
            self._stack.enter_context(threadpool_limits(self.n, user_api="blas"))
        torch = sys.modules.get("torch")
        if torch is not None:
            prev = torch.get_num_threads()
            torch.set_num_threads(self.n)
            self._stack.callback(torch.set_num_threads, prev)
        if self.pin and hasattr(os, "sched_setaffinity"):
            usable = os.sched_getaffinity(0)
            cpus = {max(usable)} if self.n == 1 else usable
            saved = _set_affinity(cpus)
            _PINNED.append(max(usable) if self.n == 1 else None)
            self._stack.callback(_PINNED.pop)
            self._stack.callback(_restore_affinity, saved, usable)
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)


def thread_limits(n, pin=True):
    """:class:`Limits` (n threads for every library; 1 thread pinned to one CPU)."""
    return Limits(n, pin)


# ----------------------------------------------------------------- timing

class Timer:
    """Interleaved timing: each implementation is warmed up and calibrated (a sample is
    ``n`` back-to-back calls lasting about ``target`` seconds, at most ``max_calls``),
    then every repeat runs each once in a rotating order. With more than one thread a
    ``cooldown`` sleep precedes each sample (from ``cooldown_from`` threads on), so one
    library's spinning workers do not steal the cores of the next."""

    def __init__(self, repeats, target, cooldown=0.0, max_calls=None, cooldown_from=2):
        self.repeats, self.target, self.cooldown = repeats, target, cooldown
        self.max_calls, self.cooldown_from = max_calls, cooldown_from

    def _cap(self, n):
        return max(1, min(n, self.max_calls) if self.max_calls else n)

    def calls_per_sample(self, fn, threads):
        """Warm up `fn` and return the number of calls that last about `target` s."""
        if threads >= self.cooldown_from and self.cooldown:
            time.sleep(self.cooldown)
        fn()
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-9)
        n = self._cap(int(self.target / one))
        if n > 1:          # warm-up of a whole sample, then re-estimate
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            n = self._cap(int(self.target / max((time.perf_counter() - t0) / n, 1e-9)))
        return n

    def measure(self, impls, threads, contexts=None):
        """({name: [seconds per call, one per repeat]}, {name: calls per sample}),
        implementations interleaved. ``contexts[name]``, when given, makes the context
        manager a sample of that implementation runs in (entered outside the clock)."""
        contexts = contexts or {}
        names = list(impls)
        calls = {}
        for name in names:
            with contexts.get(name, contextlib.nullcontext)():
                calls[name] = self.calls_per_sample(impls[name], threads)
        samples = {name: [] for name in names}
        for r in range(self.repeats):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                fn, n = impls[name], calls[name]
                with contexts.get(name, contextlib.nullcontext)():
                    if threads >= self.cooldown_from and self.cooldown:
                        time.sleep(self.cooldown)
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn()
                    samples[name].append((time.perf_counter() - t0) / n)
        return samples, calls


def summarise(samples, calls=None, base="nncore"):
    """Per implementation: median, min and max seconds, the samples, the calls per
    sample, and (for all but `base`) the median of the paired ratios other / base."""
    out = {}
    for name, ts in samples.items():
        row = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
               "samples_s": ts, "calls_per_sample": (calls or {}).get(name)}
        if name != base and base in samples:
            row["ratio_vs_nncore"] = statistics.median(
                t / b for t, b in zip(ts, samples[base]))
        out[name] = row
    return out


def interleaved(units, per_unit, repeats, target):
    """Seconds per step (or per epoch) of each unit, interleaved (:class:`Timer`).
    per_unit[name]: (epochs per call, steps it stands for)."""
    impls = {name: (lambda f, e: lambda: f(e))(units[name], per_unit[name][0])
             for name in units}
    samples, _ = Timer(repeats, target, max_calls=1000).measure(impls, threads=1)
    return {name: [t / per_unit[name][1] for t in ts] for name, ts in samples.items()}


# ----------------------------------------------------------------- the limit

def fma_peak(threads, seconds=0.2, bits=32):
    """GFLOP/s of the active kernel set's FMA loop on `threads` threads
    (``nncore._core._fma_peak_gflops``)."""
    return nc._core._fma_peak_gflops(bits, threads, seconds)


def epoch_flops(sizes, rows):
    """FLOPs of the GEMMs of one epoch over `rows` rows of an MLP with these layer sizes:
    forward, weight gradients, and input gradients of every layer but the first
    (2*m*n*k each)."""
    prods = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2.0 * rows * (2 * sum(prods) + sum(prods[1:]))


# ----------------------------------------------------------------- printing

IMPL_ORDER = ["nncore", "numpy", "reference", "torch", "torch_mm"]


def _fmt_time(med, lo, hi):
    unit, scale = ("s", 1.0) if med >= 10 else ("ms", 1e3) if med >= 1e-2 else ("us", 1e6)

    def f(v):
        v *= scale
        return f"{v:.0f}" if v >= 1000 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    return f"{f(med)} [{f(lo)}-{f(hi)}] {unit}"


def print_table(title, header, rows, extra=None):
    """A table with one column per implementation (bench/run.py). extra: (label,
    function of a result dict -> str) for the per-implementation throughput columns."""
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


def _fmt(row, scale):
    def f(v):
        return f"{v * scale:.3g}"
    return f"{f(row['median_s'])} [{f(row['min_s'])}-{f(row['max_s'])}]"


def _pct(v):
    return f"{v:5.1f}%" if v >= 1 else f"{v:.2g}%".rjust(6)


def print_entries(title, entries, key):
    """One block per entry, one line per implementation (``python -m nncore bench``)."""
    print(f"\n## {title}")
    for e in entries:
        base = next(iter(e["results"]))
        scale = e.get("scale", 1.0)
        note = f", {e['note']}" if e.get("note") else ""
        print(f"\n{e[key]} ({e['unit']}, {e['threads']} thread(s){note}; "
              f"ratio = other / {base})")
        for name, row in e["results"].items():
            ratio = f"  x{row['ratio_vs_nncore']:.2f}" if "ratio_vs_nncore" in row else ""
            ratio = ratio.ljust(9)
            peak = f"  {_pct(row['pct_peak'])} of peak" if "pct_peak" in row else ""
            engine = f"  engine {row['engine']}" if "engine" in row else ""
            print(f"  {name:<22} {_fmt(row, scale):>26}{ratio}{peak}{engine}")
            if row.get("why_python"):
                print(f"  {'':<22} (python engine: {row['why_python']})")
            for w in row.get("warnings", ()):
                print(f"  {'':<22} (fit warns: {w})")


def plot_kernels(results, path):
    """bench/run.py's chart: GFLOP/s, speed relative to nncore, GB/s."""
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


# ======================================================================= the CLI
# ----------------------------------------------------------------- training

BASE = "nncore fit (native)"


def _per_unit(name, label, quick):
    """(epochs per call, steps that call stands for): XOR is timed per step."""
    if not name.startswith("xor"):
        return 1, 1
    many = label == BASE or label == "JAX scan"
    return (2000, 2000) if many else (200, 200)


def bench_training(name, threads, repeats, target, quick, peak=None, impls=None,
                   cooldown=0.0):
    """One workload at `threads` threads (inside :class:`Limits`): every implementation
    interleaved, seconds per step (XOR) or per epoch, % of the FMA peak `peak`."""
    x, y = workload_data(name)
    sizes, _, _, _, batch, n, _, _ = WORKLOADS[name]
    steps = math.ceil(n / (batch or n))
    units = implementations(name, x, y, pure=True,
                            only=None if impls is None else [BASE, *impls])
    per_unit = {label: _per_unit(name, label, quick) for label in units}
    if "pure Python" in units and name.startswith("tabular"):
        limit = 3 if quick else 10
        units["pure Python"] = pure_python(name, x, y, max_steps=limit)
        per_unit["pure Python"] = (1, limit / steps)  # scaled to an epoch
    if name.startswith("xor") and "scikit-learn" in units:
        per_unit["scikit-learn"] = (200, 200)
    fns = {k: (lambda f, e: lambda: f(e))(units[k], per_unit[k][0]) for k in units}
    with Limits(threads):
        # the cool-down at 1 thread too: pinned, every library's threads share one CPU
        samples, calls = Timer(repeats, target, cooldown, max_calls=1000,
                               cooldown_from=1).measure(fns, threads)
    samples = {k: [t / per_unit[k][1] for t in v] for k, v in samples.items()}
    res = summarise(samples, calls, BASE)
    flops = epoch_flops(sizes, n)   # XOR: an epoch is one full-batch step
    for row in res.values():
        row["gflops"] = flops / row["median_s"] / 1e9
        if peak:
            row["pct_peak"] = 100.0 * row["gflops"] / peak
    xor = name.startswith("xor")
    return {"workload": name, "threads": threads, "unit": "us/step" if xor else "s/epoch",
            "scale": 1e6 if xor else 1.0, "flops": flops, "peak_gflops": peak,
            "note": f"{flops / 1e9:.3g} GFLOP per {'step' if xor else 'epoch'}",
            "results": res}


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
    timer = Timer(repeats, target, max_calls=1000)
    with Limits(threads):
        for case, fns in cases.items():
            samples, calls = timer.measure(fns, threads)
            out.append({"kernel": case, "threads": threads, "unit": "us/call", "scale": 1e6,
                        "results": summarise(samples, calls, "native")})
    return out


# ----------------------------------------------------------------- idioms (issue 20)

def bench_idioms(repeats, target, quick, threads=1):
    """``fit`` as people write it, at `threads` threads: each idiom of
    :data:`nncore._bench_workloads.IDIOMS` on each net of ``IDIOM_NETS``, interleaved,
    seconds per fit call, ratio to the logits head, and which engine ran."""
    out = []
    for net in W.IDIOM_NETS:
        units, engines = {}, {}
        for idiom in W.IDIOMS:
            unit, engine, why, warned = W.idiom_fit(net, idiom, quick)
            units[idiom], engines[idiom] = unit, (engine, why, warned)
        with Limits(threads):
            samples, calls = Timer(repeats, target, max_calls=100).measure(units, threads)
        res = summarise(samples, calls, W.IDIOMS[0])
        for idiom, row in res.items():
            row["engine"], why, warned = engines[idiom]
            if why:
                row["why_python"] = why
            if warned:
                row["warnings"] = warned
        out.append({"idioms": W.idiom_title(net, quick), "threads": threads,
                    "unit": "s per fit call", "results": res})
    return out


# ----------------------------------------------------------------- memory

_RSS_CHILD = """
import sys
from nncore import bench
name, label = sys.argv[1], sys.argv[2]
x, y = bench.workload_data(name)
if label != "data only":
    with bench.thread_limits(1):
        bench.implementations(name, x, y, pure=False, only=[label])[label](1)
print(bench.peak_rss_kib())
"""


def peak_rss_kib():
    """This process's peak resident set size in KiB: Linux's VmHWM, which starts afresh
    with the process's own memory at exec. ``getrusage``'s ``ru_maxrss`` does not: Linux
    keeps the parent's peak across fork and exec, so a child started by a bench that had
    trained with JAX and PyTorch reported the parent's 2137 MiB for every implementation,
    the data alone included. ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


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
        res[label] = int(out.split()[-1]) / 1024  # KiB
    return {"rss": name, "unit": "MiB", "results": res}


def print_rss(entry):
    print(f"\n## peak RSS, one epoch of {entry['rss']} in its own process (MiB, 1 thread)")
    base = entry["results"].get("NumPy loop")
    for label, mib in entry["results"].items():
        rel = f"  x{mib / base:.2f} of NumPy loop" if base and label != "data only" else ""
        print(f"  {label:<22} {mib:>8.1f}{rel}")


# ----------------------------------------------------------------- report

def plot(entries, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    train = [e for e in entries if "workload" in e]
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.9 * len(train)))
    labels, values = [], []
    for e in train:
        for name, row in e["results"].items():
            if "ratio_vs_nncore" in row:
                labels.append(f"{e['workload']} @{e['threads']}t: {name}")
                values.append(row["ratio_vs_nncore"])
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


def _peak_samples(threads, seconds):
    with Limits(threads):
        return [fma_peak(threads, seconds) for _ in range(2)]


def parse_threads(text, parser):
    """``--threads`` ("1,2") as a list of positive ints; the parser's error otherwise (the
    bench CLI and bench/run.py)."""
    try:
        threads = [int(t) for t in text.split(",")]
    except ValueError:
        threads = [0]
    if any(t < 1 for t in threads):
        parser.error("--threads takes positive ints, e.g. 1,2")
    return threads


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m nncore bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="XOR and tabular only, fewer rounds")
    p.add_argument("--threads", default=None, help="comma-separated thread counts (default: "
                   "1 and the usable CPU count)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--plot", help="draw the training ratios to this PNG (matplotlib)")
    p.add_argument("--workloads", help="comma-separated subset of " + ", ".join(WORKLOADS))
    p.add_argument("--impls", help="comma-separated training implementations to time "
                   "besides nncore fit (native), e.g. 'JAX scan,NumPy loop,PyTorch' "
                   "(default: every one that imports)")
    p.add_argument("--repeats", type=int, help="rounds per implementation (default 5, quick 3)")
    p.add_argument("--rss", nargs="?", const="mnist_784-256-128-10", metavar="WORKLOAD",
                   help="also the peak memory of one epoch of WORKLOAD (default the "
                   "MNIST-shaped one) per implementation, each in its own process")
    p.add_argument("--idioms", action="store_true", help="only the fit idioms table "
                   "(issue 20): logits, softmax and sigmoid heads, Dropout, gelu, "
                   "health=True, native engine, 1 thread, ratios to the logits head")
    p.add_argument("--no-kernels", action="store_true", help="skip the kernel table")
    p.add_argument("--no-jax", action="store_true", help="do not import JAX")
    p.add_argument("--no-torch", action="store_true", help="do not import PyTorch")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: re-run "
                   "without them, so that NumPy runs at its best)")
    args = p.parse_args(argv)
    if args.rss and args.rss not in WORKLOADS:
        p.error(f"--rss: unknown workload {args.rss!r}; choose from {', '.join(WORKLOADS)}")
    if args.threads:
        threads = parse_threads(args.threads, p)
    else:
        threads = sorted({1, nc.get_num_threads()})
    names = args.workloads.split(",") if args.workloads else [
        n for n in WORKLOADS if not (args.quick and n.split("_")[0] in ("mnist", "wide"))]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        p.error(f"--workloads: unknown {unknown}; choose from {', '.join(WORKLOADS)}")
    repeats, target = (3, 0.05) if args.quick else (5, 0.3)
    if args.repeats is not None:
        if args.repeats < 1:
            p.error(f"--repeats must be >= 1; got {args.repeats}")
        repeats = args.repeats
    settle_openblas_env(argv, ["-m", "nncore", "bench"])
    peers = import_peers(torch=not args.no_torch, jax=not args.no_jax)
    impls = [s.strip() for s in args.impls.split(",")] if args.impls else None
    if args.no_jax or args.no_torch:
        drop = (["JAX step", "JAX scan"] if args.no_jax else []) + \
            (["PyTorch"] if args.no_torch else [])
        impls = [k for k in (impls or W.LABELS) if k not in drop]
    cfg = nc.config()
    machine = machine_info(peers)
    print(f"nncore {nc.__version__}, kernel set {cfg['isa']}, cpu features "
          f"{','.join(cfg['cpu_features'])}, numpy {np.__version__}")
    print(f"{machine['cpu']}, {machine['cores']} cores; NumPy's BLAS: "
          f"{blas_text(numpy_blas())}; {machine['openblas_env']}")
    print(f"PyTorch {machine['torch']}, JAX {machine['jax']}; load average "
          f"{machine['load_average']}; 1-thread rows pinned to one CPU")
    entries = []
    if args.idioms:
        entries = bench_idioms(repeats, target, args.quick)
        print_entries("fit idioms (native engine when it can, 1 thread; ratio = idiom / "
                      "logits head)", entries, "idioms")
    else:
        if not args.no_kernels:
            for t in threads:
                entries += bench_kernels(t, repeats, target / 2)
            print_entries("kernels", entries, "kernel")
        train = []
        peak_s = 0.05 if args.quick else 0.2
        for t in threads:
            before = _peak_samples(t, peak_s)
            block = [bench_training(name, t, repeats, target, args.quick, max(before),
                                    impls, cooldown=0.0 if args.quick else 0.05)
                     for name in names]
            after = _peak_samples(t, peak_s)
            peak = max(before + after)
            for e in block:   # the highest of the samples around the block
                e["peak_gflops"], e["peak_samples"] = peak, before + after
                for row in e["results"].values():
                    row["pct_peak"] = 100.0 * row["gflops"] / peak
            print(f"\nFMA peak, {t} thread(s){' pinned' if t == 1 else ''}: {peak:.0f} "
                  f"GFLOP/s float32 (samples {', '.join(f'{v:.0f}' for v in before + after)}"
                  "); % of peak = the epoch's GEMM FLOPs (forward, weight gradients, input "
                  "gradients but the first layer's) / time / peak")
            print_entries("training", block, "workload")
            train += block
        entries += train
    if args.rss:
        entries.append(bench_rss(args.rss))
        print_rss(entries[-1])
    print(f"\nload average at the end: {load_average()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "machine": machine, "entries": entries}, f, indent=1,
                      default=str)
    if args.plot:
        print("plot:", plot(entries, args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
