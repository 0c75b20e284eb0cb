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
