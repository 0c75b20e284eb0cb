"""`python -m nncore bench` runs from the installed package and prints its tables."""
import json
import subprocess
import sys


def test_bench_quick_smoke(tmp_path):
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, "-m", "nncore", "bench", "--quick", "--threads", "1",
                        "--workloads", "xor_2-4-1", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "## kernels" in r.stdout and "## training" in r.stdout
    data = json.loads(out.read_text())
    train = [e for e in data["entries"] if e.get("workload") == "xor_2-4-1"]
    assert train and "NumPy loop" in train[0]["results"]
    assert train[0]["results"]["NumPy loop"]["ratio"] > 0


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
    r = subprocess.run([sys.executable, "-m", "nncore", "bench", "--rss", "nope"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--rss: unknown workload 'nope'" in r.stderr
