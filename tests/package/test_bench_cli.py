"""`python -m nncore bench` runs from the installed package and prints its tables; the
harness it shares with bench/ (limits, pinning, FLOP counts) and the JAX peers."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest


def _bench(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "nncore", "bench", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_bench_quick_smoke(tmp_path):
    out = tmp_path / "b.json"
    r = _bench("--quick", "--threads", "1", "--workloads", "xor_2-4-1", "--json", str(out),
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "## kernels" in r.stdout and "## training" in r.stdout
    assert "BLAS: " in r.stdout and "kernel " in r.stdout      # which BLAS kernel NumPy uses
    assert "FMA peak, 1 thread(s) pinned" in r.stdout and "% of peak" in r.stdout
    data = json.loads(out.read_text())
    train = [e for e in data["entries"] if e.get("workload") == "xor_2-4-1"]
    assert train and "NumPy loop" in train[0]["results"]
    row = train[0]["results"]["NumPy loop"]
    assert row["ratio_vs_nncore"] > 0 and row["pct_peak"] > 0
    assert train[0]["peak_gflops"] > 0 and len(train[0]["peak_samples"]) == 4


def test_bench_jax_columns_when_jax_imports(tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "b.json"
    r = _bench("--quick", "--threads", "1,2", "--no-kernels", "--repeats", "1",
               "--workloads", "tabular_20-64-64-1", "--impls", "JAX step,JAX scan",
               "--json", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "JAX step" in r.stdout and "JAX scan" in r.stdout and "on cpu" in r.stdout
    data = json.loads(out.read_text())
    assert [sorted(e["results"]) for e in data["entries"]] == [
        ["JAX scan", "JAX step", "nncore fit (native)"]] * 2
    assert [e["threads"] for e in data["entries"]] == [1, 2]


def test_bench_no_jax_option_leaves_jax_out(tmp_path):
    r = _bench("--quick", "--threads", "1", "--no-kernels", "--repeats", "1", "--no-jax",
               "--no-torch", "--workloads", "xor_2-4-1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [line.split("  ")[1] for line in r.stdout.splitlines() if line.startswith("  ")]
    assert "NumPy loop" in rows and "nncore fit (native)" in rows
    assert not {"JAX step", "JAX scan", "PyTorch"} & set(rows)
    assert "PyTorch not used, JAX not used" in r.stdout


def test_bench_idioms_table_names_the_engine_of_each_row(tmp_path):
    out = tmp_path / "i.json"
    r = _bench("--idioms", "--quick", "--repeats", "1", "--json", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "## fit idioms" in r.stdout
    entries = json.loads(out.read_text())["entries"]
    assert len(entries) == 2
    from nncore._bench_workloads import IDIOMS
    for e in entries:
        assert list(e["results"]) == list(IDIOMS) and e["threads"] == 1
        for idiom, row in e["results"].items():
            assert row["engine"] in ("native", "python")
            assert ("why_python" in row) == (row["engine"] == "python"), (idiom, row)
            if idiom != "logits head":
                assert row["ratio_vs_nncore"] > 0


def test_bench_rejects_bad_options():
    r = _bench("--workloads", "nope")
    assert r.returncode == 2 and "--workloads: unknown" in r.stderr
    r = _bench("--threads", "0")
    assert r.returncode == 2 and "--threads takes positive ints" in r.stderr


def test_bench_rss_each_implementation_in_its_own_process():
    from nncore import bench
    entry = bench.bench_rss("tabular_20-64-64-1")
    assert entry["rss"] == "tabular_20-64-64-1" and entry["unit"] == "MiB"
    rss = dict(entry["results"])
    floor = rss.pop("data only")
    assert floor > 10  # MiB: at least Python, NumPy and the data
    assert {"nncore fit (native)", "nncore fit (python)", "NumPy loop"} <= set(rss)
    for label, mib in rss.items():  # training holds the data and more
        assert mib >= 0.95 * floor, (label, mib, floor)


def test_bench_rss_unknown_workload_is_an_error():
    r = _bench("--rss", "nope", timeout=120)
    assert r.returncode == 2 and "--rss: unknown workload 'nope'" in r.stderr


# ----------------------------------------------------------------- the harness

def _affinities():
    return {int(t): os.sched_getaffinity(int(t)) for t in os.listdir("/proc/self/task")}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux affinity and two usable CPUs")
def test_limits_pin_every_thread_to_one_cpu_and_restore():
    import nncore as nc
    from nncore import bench
    before = _affinities()
    usable = os.sched_getaffinity(0)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)   # a pool a library started earlier
    worker.start()
    try:
        with bench.Limits(1):
            assert nc.get_num_threads() == 1
            pinned = _affinities()
            assert all(mask == {max(usable)} for mask in pinned.values()), pinned
            assert worker.native_id in pinned and bench.pinned_cpu() == max(usable)
        with bench.Limits(2):
            assert all(mask == usable for mask in _affinities().values())
            assert bench.pinned_cpu() is None
        after = _affinities()
        assert all(after[t] == before.get(t, usable) for t in after), (before, after)
    finally:
        stop.set()
        worker.join()


def test_timer_interleaves_and_ratios_pair_the_rounds():
    from nncore import bench
    order = []
    impls = {"nncore": lambda: order.append("a"), "other": lambda: order.append("b")}
    samples, calls = bench.Timer(repeats=4, target=0.0).measure(impls, threads=1)
    assert calls == {"nncore": 1, "other": 1}
    timed = order[-8:]   # after the warm-ups: rotating start, one call each per round
    assert timed == ["a", "b", "b", "a", "a", "b", "b", "a"]
    res = bench.summarise({"nncore": [1.0, 2.0, 4.0], "other": [2.0, 2.0, 2.0]})
    assert res["other"]["ratio_vs_nncore"] == 1.0       # median of 2, 1, 0.5
    assert res["nncore"]["median_s"] == 2.0 and "ratio_vs_nncore" not in res["nncore"]


def test_epoch_flops_counts_forward_weight_and_input_gradients():
    from nncore import bench
    # 784-256-128-10, 64 rows: forward and weight gradients of 3 layers, input
    # gradients of the last two only
    fwd = 2 * 64 * (784 * 256 + 256 * 128 + 128 * 10)
    dx = 2 * 64 * (256 * 128 + 128 * 10)
    assert bench.epoch_flops((784, 256, 128, 10), 64) == 2 * fwd + dx


# ----------------------------------------------------------------- JAX, the same maths

@pytest.mark.parametrize("name", ["xor_2-4-1", "xor_3-4-1", "tabular_20-64-64-1"])
def test_jax_peers_train_the_numpy_loops_net(name):
    pytest.importorskip("jax")
    from nncore import _bench_workloads as W
    x, y = W.workload_data(name)
    if name.startswith("tabular"):
        x, y = x[:1000], y[:1000]    # 31 full batches and a partial one
    epochs = 50 if name.startswith("xor") else 2
    units = {"numpy": W.numpy_loop(name, x, y), "step": W.jax_step(name, x, y),
             "scan": W.jax_scan(name, x, y)}
    start = units["numpy"].weights()
    for unit in units.values():
        unit(epochs)
    want = units["numpy"].weights()
    assert any(not np.allclose(a, b) for a, b in zip(start, want))   # it trained
    for label in ("step", "scan"):
        for a, b in zip(units[label].weights(), want):
            assert a.dtype == np.float32 and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=label)
