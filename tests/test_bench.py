"""The benchmark's smoke run works end to end (no timing is asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_bench_quick_runs(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1",
                           "--repeats", "1", "--target", "0.001", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    for heading in ["## matmul", "## dense layers", "## activations and losses",
                    "numpy_blas", "nncore_isa"]:
        assert heading in proc.stdout
    data = json.loads(out.read_text())
    assert {"machine", "matmul", "dense", "elementwise", "peak_gflops"} <= set(data)
    row = data["matmul"][0]["results"]["nncore"]
    assert row["median_s"] > 0 and row["gflops"] > 0
