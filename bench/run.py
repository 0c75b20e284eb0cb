"""nncore benchmarks: native kernels against NumPy (OpenBLAS, and the same maths in
`nncore.reference`) and, when installed, PyTorch — interleaved in one process, medians
with min/max, and paired ratios.

    python bench/run.py                 # full run (several minutes)
    python bench/run.py --quick         # smoke run (CI, well under a minute)
    python bench/run.py --json out.json --plot out.png --threads 1,2 --only matmul,dense

Method
- Every repeat runs each implementation once, round-robin (the starting implementation
  rotates), so drift of the machine's speed hits all alike. Before timing, each
  implementation is warmed up and calibrated: a sample is `n` back-to-back calls timed
  with `time.perf_counter`, `n` chosen so that a sample lasts about --target seconds.
- Tables show the median time per call with [min-max] over the repeats, and paired
  ratios: for each repeat, time(other) / time(nncore), then the median of those
  (above 1: nncore is faster).
- Thread counts apply to all libraries alike: nncore via `nncore.threads(n)`, NumPy's
  BLAS via threadpoolctl's `threadpool_limits(n, user_api="blas")`, PyTorch via
  `torch.set_num_threads(n)`; 1-thread tables also pin the process to one CPU
  (every thread, `os.sched_setaffinity`). With more than one thread, each sample is preceded by a
  short sleep (--cooldown) so that one library's still-spinning worker threads do not
  steal the cores the next one needs.
- GEMM figures are also given as GFLOP/s and % of the FMA peak that the extension
  measures (`nncore._core._fma_peak_gflops`, an FMA loop in the active kernel set),
  sampled before and after each matmul table (the highest sample is used).
- Elementwise and loss figures are also given as GB/s moved (bytes read + written, once
  each) and % of a memory bandwidth measured here with NumPy on arrays of the same size:
  the higher of `np.copyto(b, a)` (2 arrays) and `np.add(a, b, out=c)` (3 arrays), each
  split over as many Python threads as the table's thread count (NumPy releases the GIL).
- NumPy is compared at its best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (which some
  machines set and which slow OpenBLAS) are removed by re-executing this script without
  them (OpenBLAS reads them when it loads), unless --keep-openblas-env is given. Each table's
  header states the BLAS and the kernel OpenBLAS reports (threadpoolctl `architecture`).

The harness (timing, limits, machine facts, tables) is `nncore.bench`, shared with
`python -m nncore bench`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import numpy as np

import nncore
import nncore.functional as F
import nncore.reference as R
from nncore import bench as H
from nncore.bench import (Limits, Timer, machine_info, parse_threads, plot_kernels,
                          print_table, summarise, table_header)

SECTIONS = ("matmul", "dense", "elementwise", "losses")

torch = None


# ----------------------------------------------------------------------- matmul

def matmul_cases(quick):
    sizes = [(64, 64, 64), (128, 784, 256), (256, 256, 256), (512, 512, 512),
             (1024, 1024, 1024)]
    if not quick:
        sizes.append((2048, 2048, 2048))
    cases = [(m, k, n, False, False) for m, k, n in sizes]
    t = 256 if quick else 512
    cases += [(t, t, t, ta, tb) for ta, tb in [(True, False), (False, True), (True, True)]]
    return cases


def measure_peaks(threads, seconds, samples=2):
    return {name: [nncore._core._fma_peak_gflops(bits, threads, seconds)
                   for _ in range(samples)]
            for bits, name in ((32, "float32"), (64, "float64"))}


def bench_matmul(args, timer, threads, rng):
    cases = matmul_cases(args.quick)
    if args.quick:
        cases = [c for c in cases if c[0] <= 256]
    peak_s = 0.05 if args.quick else 0.2
    peaks = measure_peaks(threads, peak_s)
    rows = []
    for dtype in (np.float32, np.float64):
        for m, k, n, ta, tb in cases:
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            out = np.empty((m, n), dtype)
            at, bt = (a.T if ta else a), (b.T if tb else b)
            impls = {
                "nncore": lambda: F.matmul(a, b, trans_a=ta, trans_b=tb, out=out),
                "numpy": lambda: np.matmul(at, bt, out=out),
            }
            if torch is not None:
                xa, xb = torch.from_numpy(a), torch.from_numpy(b)
                xat, xbt = (xa.T if ta else xa), (xb.T if tb else xb)
                xo = torch.empty((m, n), dtype=xa.dtype)
                impls["torch"] = lambda: torch.matmul(xat, xbt, out=xo)
            samples, calls = timer.measure(impls, threads)
            res = summarise(samples, calls)
            for r in res.values():
                r["gflops"] = 2.0 * m * n * k / r["median_s"] / 1e9
            shape = f"{m}x{k}x{n}" + (f" {'T' if ta else 'N'}{'T' if tb else 'N'}"
                                     if ta or tb else "")
            rows.append({"section": "matmul", "case": f"{shape} {np.dtype(dtype).name}",
                         "shape": shape, "dtype": np.dtype(dtype).name, "threads": threads,
                         "results": res})
    after = measure_peaks(threads, peak_s)
    for name in peaks:
        peaks[name] += after[name]
    for row in rows:
        peak = max(peaks[row["dtype"]])
        for r in row["results"].values():
            r["pct_peak"] = 100 * r["gflops"] / peak
    return rows, peaks


# ----------------------------------------------------------------------- dense

def dense_stack(sizes, batch, dtype, rng):
    ws = [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(dtype)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [(0.1 * rng.standard_normal(o)).astype(dtype) for o in sizes[1:]]
    acts = ["relu"] * (len(ws) - 1) + ["identity"]
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    gy = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    return x, ws, bs, acts, gy


def nncore_stack(x, ws, bs, acts, gy):
    """F.dense_forward / F.dense_backward with every output preallocated (out=)."""
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
    """The same calls in nncore.reference (NumPy; allocates its results)."""
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


def torch_autograd_stack(x, ws, bs, acts, gy):
    """PyTorch as it is used: torch.nn.functional.linear (weights in PyTorch's
    (out, in) layout) and relu; forward under no_grad, forward+backward with autograd
    (grads set to None before each step, as zero_grad does)."""
    tf = torch.nn.functional
    tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
    params = [torch.from_numpy(np.ascontiguousarray(w.T)).requires_grad_() for w in ws]
    params += [torch.from_numpy(b.copy()).requires_grad_() for b in bs]
    tw, tb = params[:len(ws)], params[len(ws):]

    def run():
        h = tx
        for w, b, a in zip(tw, tb, acts):
            h = tf.linear(h, w, b)
            if a == "relu":
                h = tf.relu(h)
        return h

    def forward():
        with torch.no_grad():
            return run()

    def forward_backward():
        for p in params:
            p.grad = None
        run().backward(tgy)
    return forward, forward_backward


def torch_manual_stack(x, ws, bs, acts, gy):
    """The same maths in PyTorch written out without autograd: addmm, relu, and the
    backward matrix products (grad_z = grad_y * (y > 0), grad_w = x^T grad_z,
    grad_b = sum(grad_z), grad_x = grad_z w^T)."""
    tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
    tw = [torch.from_numpy(w) for w in ws]
    tb = [torch.from_numpy(b) for b in bs]

    def forward():
        h, ys = tx, []
        for w, b, a in zip(tw, tb, acts):
            h = torch.addmm(b, h, w)
            if a == "relu":
                h = torch.relu_(h)
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


DENSE_CONFIGS = [("784-256-128-10", [784, 256, 128, 10], 64),
                 ("1024-1024", [1024, 1024], 256)]


def bench_dense(args, timer, threads, rng):
    rows = []
    for name, sizes, batch in DENSE_CONFIGS:
        stack = dense_stack(sizes, batch, np.float32, rng)
        fns = {"nncore": nncore_stack(*stack), "reference": reference_stack(*stack)}
        if torch is not None:
            fns["torch"] = torch_autograd_stack(*stack)
            fns["torch_mm"] = torch_manual_stack(*stack)
        flops = sum(2.0 * batch * i * o for i, o in zip(sizes[:-1], sizes[1:]))
        for j, mode in enumerate(("forward", "forward+backward")):
            impls = {impl: pair[j] for impl, pair in fns.items()}
            samples, calls = timer.measure(impls, threads)
            res = summarise(samples, calls)
            # forward: 1 product per layer; backward: grad_w per layer, grad_x but the first
            f = flops if j == 0 else 2 * flops + flops - 2.0 * batch * sizes[0] * sizes[1]
            for r in res.values():
                r["gflops"] = f / r["median_s"] / 1e9
            rows.append({"section": "dense", "case": f"{mode} {name} b{batch} float32",
                         "shape": f"{name} batch {batch}", "mode": mode, "dtype": "float32",
                         "threads": threads, "results": res})
    return rows


# ----------------------------------------------------------------------- memory-bound

def _split(n, parts):
    step = -(-n // parts)
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def measure_bandwidth(timer, threads, n, rng):
    """GB/s (read + write bytes) of np.copyto and np.add over `threads` Python threads."""
    from concurrent.futures import ThreadPoolExecutor
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    c = np.empty_like(a)
    pieces = _split(n, threads)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def run(f):
        if pool is None:
            return lambda: f(slice(None))
        return lambda: list(pool.map(f, pieces))

    impls = {"copy": run(lambda s: np.copyto(c[s], a[s])),
             "add": run(lambda s: np.add(a[s], b[s], out=c[s]))}
    samples, _ = timer.measure(impls, threads)
    if pool is not None:
        pool.shutdown()
    moved = {"copy": 2 * a.nbytes, "add": 3 * a.nbytes}
    gbps = {k: moved[k] / statistics.median(v) / 1e9 for k, v in samples.items()}
    best = max(gbps, key=gbps.get)
    return {"gbps": gbps[best], "method": best, "all_gbps": gbps}


def _bandwidth_rows(rows, bandwidth):
    for row in rows:
        for r in row["results"].values():
            r["gbps"] = row["bytes"] / r["median_s"] / 1e9
            r["pct_bandwidth"] = 100 * r["gbps"] / bandwidth["gbps"]
    return rows


def bench_elementwise(args, timer, threads, rng, bandwidth):
    n = (1 << 20) if args.quick else (64 << 20)
    x = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    y = np.empty_like(x)
    t = {}
    if torch is not None:
        tx, tg, ty = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(y)
        t = {"relu": lambda: torch.clamp_min(tx, 0, out=ty),
             "sigmoid": lambda: torch.sigmoid(tx, out=ty),
             "tanh": lambda: torch.tanh(tx, out=ty),
             "relu_backward": lambda: torch.mul(tg, tx > 0, out=ty)}
    cases = [("relu", lambda: F.relu(x, out=y), lambda: R.relu(x, out=y), 2),
             ("sigmoid", lambda: F.sigmoid(x, out=y), lambda: R.sigmoid(x, out=y), 2),
             ("tanh", lambda: F.tanh(x, out=y), lambda: R.tanh(x, out=y), 2),
             ("relu_backward", lambda: F.relu_backward(x, g, out=y),
              lambda: R.relu_backward(x, g, out=y), 3)]
    rows = []
    for name, nn_fn, ref_fn, arrays in cases:
        impls = {"nncore": nn_fn, "reference": ref_fn}
        if name in t:
            impls["torch"] = t[name]
        samples, calls = timer.measure(impls, threads)
        rows.append({"section": "elementwise", "case": f"{name} ({n:,}) float32",
                     "dtype": "float32", "threads": threads, "bytes": arrays * x.nbytes,
                     "results": summarise(samples, calls)})
    return _bandwidth_rows(rows, bandwidth)


def bench_losses(args, timer, threads, rng, bandwidth):
    n = (1 << 20) if args.quick else (16 << 20)
    rows_ce = n // 16 if args.quick else (1 << 20)
    p = rng.standard_normal(n).astype(np.float32)
    tgt = rng.random(n).astype(np.float32)
    gp = np.empty_like(p)
    z = rng.standard_normal((rows_ce, 10)).astype(np.float32)
    labels = rng.integers(0, 10, rows_ce)
    gz = np.empty_like(z)
    cases = [
        ("mse_loss_and_grad", f"({n:,})",
         lambda: F.mse_loss_and_grad(p, tgt, out=gp),
         lambda: R.mse_loss_and_grad(p, tgt, out=gp), 3 * p.nbytes),
        ("cross_entropy_and_grad", f"({rows_ce:,}, 10) int labels",
         lambda: F.cross_entropy_and_grad(z, labels, out=gz),
         lambda: R.cross_entropy_and_grad(z, labels, out=gz),
         2 * z.nbytes + labels.nbytes),
        ("bce_with_logits_and_grad", f"({n:,})",
         lambda: F.binary_cross_entropy_with_logits_and_grad(p, tgt, out=gp),
         lambda: R.binary_cross_entropy_with_logits_and_grad(p, tgt, out=gp), 3 * p.nbytes),
    ]
    t = {}
    if torch is not None:
        tf = torch.nn.functional
        tp = torch.from_numpy(p.copy()).requires_grad_()
        tt = torch.from_numpy(tgt)
        tz = torch.from_numpy(z.copy()).requires_grad_()
        tl = torch.from_numpy(labels)

        def step(param, loss_fn):
            def run():
                param.grad = None
                loss = loss_fn()
                loss.backward()
                return loss.item()
            return run
        t = {"mse_loss_and_grad": step(tp, lambda: tf.mse_loss(tp, tt)),
             "cross_entropy_and_grad": step(tz, lambda: tf.cross_entropy(tz, tl)),
             "bce_with_logits_and_grad":
                 step(tp, lambda: tf.binary_cross_entropy_with_logits(tp, tt))}
    rows = []
    for name, shape, nn_fn, ref_fn, nbytes in cases:
        impls = {"nncore": nn_fn, "reference": ref_fn}
        if name in t:
            impls["torch"] = t[name]
        samples, calls = timer.measure(impls, threads)
        rows.append({"section": "losses", "case": f"{name} {shape} float32",
                     "dtype": "float32", "threads": threads, "bytes": nbytes,
                     "results": summarise(samples, calls)})
    return _bandwidth_rows(rows, bandwidth)


# ----------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes, few repeats: a smoke run for CI")
    p.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="samples per implementation (default 7, quick 3)")
    p.add_argument("--target", type=float, default=None,
                   help="seconds per sample (default 0.03, quick 0.005)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help="comma-separated sections: " + ",".join(SECTIONS))
    p.add_argument("--json", metavar="PATH", help="write all measurements to PATH")
    p.add_argument("--plot", metavar="PATH", help="write a bar chart PNG (needs matplotlib)")
    p.add_argument("--cooldown", type=float, default=None,
                   help="seconds of sleep before each multi-thread sample "
                        "(default 0.15, quick 0.02)")
    p.add_argument("--no-torch", action="store_true", help="do not import PyTorch")
    p.add_argument("--keep-openblas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (default: unset them)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.target = args.target or (0.005 if args.quick else 0.03)
    if args.cooldown is None:
        args.cooldown = 0.02 if args.quick else 0.15
    threads = parse_threads(args.threads, p)
    sections = [s for s in args.only.split(",") if s]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown section(s) {bad}; valid: {','.join(SECTIONS)}")
    if args.repeats < 1 or args.target <= 0:
        p.error("--repeats must be >= 1 and --target > 0")
    global torch
    peers = H.import_peers(torch=not args.no_torch, jax=False, sklearn=False)
    torch = peers.get("torch")

    timer = Timer(args.repeats, args.target, args.cooldown)
    rng = np.random.default_rng(0)
    machine = machine_info(peers)
    print("# nncore benchmark")
    print(f"- {machine['date']}, load average {machine['load_average']}")
    command = [os.path.basename(sys.executable), "bench/run.py"] + (argv or [])
    print(f"- command: {' '.join(command)}")
    print(f"- repeats {args.repeats}, ~{args.target * 1e3:g} ms per sample, "
          f"cooldown {args.cooldown:g} s before multi-thread samples; ratios are "
          "median paired time(other)/time(nncore): > 1 means nncore is faster")
    if torch is None:
        print("- PyTorch: not used (not installed or --no-torch)")
    results = {"machine": machine, "args": vars(args), "tables": [], "peak_gflops": {},
               "bandwidth": {}}
    bw_n = (1 << 20) if args.quick else (64 << 20)

    for section in sections:
        results[section] = []
        for t in threads:
            with Limits(t):
                extra_header = []
                if section == "matmul":
                    rows, peaks = bench_matmul(args, timer, t, rng)
                    results["peak_gflops"][str(t)] = peaks
                    extra_header.append(
                        "FMA peak (nncore._core._fma_peak_gflops, samples before and after "
                        "the table; max used): " + ", ".join(
                            f"{k} {max(v):.0f} GFLOP/s (samples "
                            f"{', '.join(f'{x:.0f}' for x in v)})" for k, v in peaks.items()))
                    extra = ("GFLOP/s %peak",
                             lambda r: f"{r['gflops']:.0f} {r['pct_peak']:.0f}%")
                    title = "op(a) @ op(b), GFLOP/s and % of the measured FMA peak"
                elif section == "dense":
                    rows = bench_dense(args, timer, t, rng)
                    extra_header.append(
                        "reference = the same F.dense_* calls in nncore.reference (NumPy); "
                        "torch = torch.nn.functional.linear/relu + autograd backward; "
                        "torch_mm = the same maths as manual addmm/mm without autograd; "
                        "nncore writes into preallocated out= arrays")
                    extra = ("GFLOP/s", lambda r: f"{r['gflops']:.1f}")
                    title = "dense stacks, float32"
                else:
                    if str(t) not in results["bandwidth"]:
                        results["bandwidth"][str(t)] = measure_bandwidth(timer, t, bw_n, rng)
                    bw = results["bandwidth"][str(t)]
                    fn = bench_elementwise if section == "elementwise" else bench_losses
                    rows = fn(args, timer, t, rng, bw)
                    extra_header.append(
                        f"memory bandwidth: {bw['gbps']:.1f} GB/s (NumPy {bw['method']} on "
                        f"{bw_n:,} float32 over {t} thread(s); "
                        + ", ".join(f"{k} {v:.1f}" for k, v in bw["all_gbps"].items())
                        + " GB/s); GB/s counts bytes read + written once each")
                    extra = ("GB/s %bw", lambda r: f"{r['gbps']:.1f} {r['pct_bandwidth']:.0f}%")
                    title = ("activations, GB/s and % of measured bandwidth"
                             if section == "elementwise"
                             else "losses (*_and_grad: loss and gradient in one call), GB/s")
                header = table_header(machine, t, extra_header)
            results[section] += rows
            results["tables"].append({"section": section, "threads": t, "header": header})
            print_table(f"{section}: {title}, {t} thread{'s' if t > 1 else ''}", header,
                        rows, extra)
            sys.stdout.flush()

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
        print(f"\nJSON written to {args.json}")
    if args.plot:
        plot_kernels(results, args.plot)
    return 0


if __name__ == "__main__":
    # OpenBLAS reads its variables when it loads: re-run without them (NumPy at its best)
    H.settle_openblas_env(sys.argv[1:], [os.path.abspath(__file__)])
    sys.exit(main(sys.argv[1:]))
