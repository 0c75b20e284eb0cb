"""The benchmark's smoke run (`bench/run.py --quick`) works end to end.

No timing is asserted: only that it exits 0, prints every table with its header, and
writes JSON with the documented keys.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "run.py"


def _run(*args, env=None):
    # The bench imports whichever nncore this interpreter imports (the installed package
    # in CI); the source tree's python/ is not prepended, as in a fresh clone it holds
    # no compiled _core.
    env = dict(os.environ if env is None else env)
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=ROOT)


def test_bench_quick_runs(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for section in ["matmul", "dense", "elementwise", "losses"]:
        for threads in ["1 thread", "2 threads"]:
            assert f"## {section}: " in text and threads in text
    for header in ["machine: ", "| threads: ", "BLAS: ", "kernel ", "nncore isa: ",
                   "OpenMP: ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "FMA peak",
                   "memory bandwidth: ", "median [min-max]", "numpy/nncore",
                   "reference/nncore", "GFLOP/s %peak", "GB/s %bw"]:
        assert header in text, header
    data = json.loads(out.read_text())
    assert {"machine", "args", "tables", "peak_gflops", "bandwidth", "matmul", "dense",
            "elementwise", "losses"} <= set(data)
    assert {"cpu", "cores", "numpy", "numpy_blas", "nncore_isa", "nncore_openmp",
            "openblas_env"} <= set(data["machine"])
    shapes = {r["shape"] for r in data["matmul"]}
    assert {"64x64x64", "128x784x256", "256x256x256"} <= shapes
    assert {r["threads"] for r in data["matmul"]} == {1, 2}
    row = data["matmul"][0]["results"]
    assert {"nncore", "numpy"} <= set(row)
    assert {"median_s", "min_s", "max_s", "samples_s", "gflops", "pct_peak"} <= set(
        row["nncore"])
    assert "ratio_vs_nncore" in row["numpy"]
    for section in ["elementwise", "losses"]:
        r = data[section][0]["results"]
        assert {"nncore", "reference"} <= set(r)
        assert {"gbps", "pct_bandwidth"} <= set(r["nncore"])
    dense = {(r["shape"], r["mode"]) for r in data["dense"]}
    assert ("784-256-128-10 batch 64", "forward+backward") in dense


def test_bench_unsets_openblas_env(tmp_path):
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", OPENBLAS_L2_SIZE="262144")
    out = tmp_path / "b.json"
    proc = _run("--quick", "--only", "losses", "--threads", "1", "--repeats", "1",
                "--no-torch", "--json", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "OPENBLAS_CORETYPE unset by the bench (was Haswell)" in proc.stdout
    assert "OPENBLAS_L2_SIZE unset by the bench (was 262144)" in proc.stdout
    kept = _run("--quick", "--only", "losses", "--threads", "1", "--repeats", "1",
                "--no-torch", "--keep-openblas-env", env=env)
    assert kept.returncode == 0, kept.stderr
    assert "OPENBLAS_CORETYPE=Haswell (kept" in kept.stdout


def test_bench_rejects_unknown_section():
    proc = _run("--only", "nope")
    assert proc.returncode == 2
    assert "unknown section" in proc.stderr


def test_bench_plot_without_or_with_matplotlib(tmp_path):
    png = tmp_path / "b.png"
    proc = _run("--quick", "--only", "losses", "--threads", "1", "--repeats", "1",
                "--no-torch", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in proc.stdout
    else:
        assert png.stat().st_size > 0


def test_scaling_quick_runs(tmp_path):
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scaling.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "t2/t1" in proc.stdout and "FMA peak float32" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 4
    for r in rows:
        hidden = r["sizes"][1:-1]
        assert 2 <= len(hidden) <= 4 and all(16 <= w <= 512 for w in hidden)
        assert 16 <= r["batch"] <= 512 and r["rows"] % r["batch"] == 0
        assert r["t2_over_t1"] > 0 and r["pct_peak_1"] > 0


def test_scaling_shapes_are_deterministic_and_in_range():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import scaling
    finally:
        sys.path.remove(str(ROOT / "bench"))
    a, b = scaling.shapes(20, 21), scaling.shapes(20, 21)
    assert a == b and a != scaling.shapes(20, 22)
    assert {loss for _, _, loss in a} == {"mse", "cross_entropy"}
    assert {len(s) - 2 for s, _, _ in a} == {2, 3, 4}


def test_peak_rss_of_a_child_is_its_own():
    # bench --rss runs each implementation in a child of a process that may already have
    # grown large (JAX, PyTorch, the data); getrusage's ru_maxrss keeps the parent's peak
    # across fork and exec, so every child reported the parent's figure
    import numpy as np

    parent_block = np.ones(400 * 2**20 // 8)  # 400 MiB resident in this process
    code = ("import numpy as np; from nncore import bench; a = bench.peak_rss_kib(); "
            "b = np.ones(100 * 2**20 // 8); print(a, bench.peak_rss_kib())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    before, after = int(out[0]) / 1024, int(out[1]) / 1024
    assert parent_block.sum() > 0
    assert before < 300, f"the child reported {before:.0f} MiB: the parent's 400 MiB block"
    assert after - before > 90, f"a 100 MiB block moved the peak by {after - before:.0f} MiB"


def test_implementations_import_only_the_libraries_asked_for():
    # bench --rss builds one label per process; an unused PyTorch or scikit-learn import
    # was part of every row's peak (all rows at ~1116 MiB against 349 for the NumPy loop)
    code = ("import sys; import numpy as np; from nncore import bench; "
            "x = np.zeros((8, 20), np.float32); y = np.zeros((8, 1), np.float32); "
            "u = bench.implementations('tabular_20-64-64-1', x, y, pure=False, "
            "only=['NumPy loop']); "
            "print(sorted(u), 'torch' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['NumPy loop'] False False", out


@pytest.mark.parametrize("moves", [False, True])
def test_interference_counts_moves_and_honours_moves(moves):
    """bench/interference.py's 2-thread table says how many wake-ups moved a worker off the
    caller's CPU and whether moving was on: off by default, on with --moves (nncore's pool
    only)."""
    code = (
        "import sys; sys.path.insert(0, 'bench'); import interference as I, nncore as nc\n"
        "if not nc.config()['openmp']:\n"
        "    I.main.__globals__['fit_epoch'] = lambda *a: None\n"
        "    I.main.__globals__['python_threads'] = lambda *a: None\n"
        "    I.interference.__globals__['grace_period_us'] = lambda call: 0.0\n"
        f"    I.main({['--quick', '--moves'] if moves else ['--quick']!r})\n"
        f"    assert nc._core._pool_stats()['move'] is {moves}\n"
        "print('done')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("done")
    if "nncore workers asleep" in proc.stdout:  # the pool's table
        line = next(x for x in proc.stdout.splitlines() if "moved off the caller" in x)
        assert line.rstrip().endswith("(moving on)" if moves else "(moving off)")
        for control in ("NumPy-loop fit", "a busy wait"):  # what a pause alone costs
            assert f"(control) numpy after {control}" in proc.stdout
        if not moves:
            assert "of which moved off the caller's CPU: 0 " in line
