"""Data-parallel training over MPI: mpiexec -n 2 and -n 3 against one-process runs.

Every rank of every scenario must end with the same weights (bitwise), the same History
and the same parameters before every step (checksums recorded in each reduction); rank 0's
result must equal the one-process fit with the same arguments (float64: relative 1e-9,
float32: 1e-5; the sums over ranks round differently from the one-process batch sums).
Faults (a rank raising, killed, hanging; models that differ) must end the job with an
error within the timeout. CI installs the [mpi] extra: a missing mpi4py or mpiexec fails.
"""
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scenarios import SCENARIOS, scenario  # noqa: E402

DOCS = HERE.parents[1] / "docs" / "distributed.md"
TIMEOUT = 4.0  # NNCORE_DIST_TIMEOUT for the fault runs (seconds)


def _mpiexec():
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpiexec not found next to sys.executable nor on PATH: install the MPI "
                    "extra (pip install '.[mpi]', which brings mpi4py and mpich)")
    probe = subprocess.run([sys.executable, "-c", "import mpi4py"], capture_output=True)
    if probe.returncode:
        pytest.fail("mpi4py is not installed: pip install '.[mpi]'")
    return found


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", NNCORE_DIST_TIMEOUT=str(TIMEOUT))
    env.pop("PYTHONPATH", None)
    return env


def _launch(procs, out, names):
    cmd = [_mpiexec(), "-n", str(procs), sys.executable, str(HERE / "worker.py"), str(out),
           *names]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(), cwd=str(out))


FAULTS = {"raise": 2, "kill": 3, "mismatch": 2, "mismatch_optimizer": 3, "hang": 2,
          "hang_in_step": 3}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every launch at once (they mostly wait): the scenarios on 2 and 3 ranks, and each
    fault. Returns {key: (returncode, output, seconds, out_dir)}."""
    started, jobs = time.monotonic(), {}
    for procs in (2, 3):
        out = tmp_path_factory.mktemp(f"np{procs}")
        jobs[procs] = (_launch(procs, out, SCENARIOS + ["readme_loop"]), out)
    docs = tmp_path_factory.mktemp("docs")  # docs/distributed.md's first example
    block = re.search(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S).group(1)
    (docs / "train.py").write_text(block)
    jobs["docs"] = (subprocess.Popen([_mpiexec(), "-n", "2", sys.executable, "train.py"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=_env(), cwd=str(docs)), docs)
    for kind, procs in FAULTS.items():
        out = tmp_path_factory.mktemp(f"fault_{kind}")
        jobs[kind] = (_launch(procs, out, [f"fault:{kind}"]), out)
    results = {}

    def wait(key, proc, out):
        try:
            text, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
            text += "\n[the test killed this launch after 120 s: it hung]"
        results[key] = (proc.returncode, text, time.monotonic() - started, out)

    waiters = [threading.Thread(target=wait, args=(key, *job)) for key, job in jobs.items()]
    for t in waiters:
        t.start()
    for t in waiters:
        t.join()
    return results


def _records(runs, procs, name):
    rc, text, _, out = runs[procs]
    assert rc == 0, text[-3000:]
    return [pickle.load(open(out / f"{name}.{r}", "rb")) for r in range(procs)]


def _rel(got, want):
    return float(np.max(np.abs(np.asarray(got, np.float64) - want)) /
                 max(np.max(np.abs(want)), 1e-300))


TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-5}


@pytest.mark.parametrize("procs", [2, 3])
@pytest.mark.parametrize("name", SCENARIOS)
def test_fit_equals_one_process(runs, procs, name):
    recs = _records(runs, procs, name)
    model, x, y, kw = scenario(name)
    history = model.fit(x, y, verbose=0, **kw)
    tol = TOL[model.dtype]
    first = recs[0]
    for r in recs[1:]:  # bitwise the same on every rank, before every step and after
        assert r["checksums"] == first["checksums"], f"rank {r['rank']} diverged"
        for a, b in zip(r["weights"], first["weights"]):
            assert np.array_equal(a, b)
        assert r["history"] == first["history"]
    steps = sum(-(-int(len(x) * (0.8 if kw.get("validation_split") else 1)) //
                  kw["batch_size"]) for _ in history.epochs)
    assert len(first["checksums"]) == steps + 1
    for got, p in zip(first["weights"], model.parameters()):
        assert _rel(got, p.data) <= tol, name
    assert first["history"].keys() == history.history.keys()
    assert len(first["history"]["loss"]) == len(history.history["loss"])
    for key, values in history.history.items():
        if key == "epoch_time":
            continue
        assert _rel(first["history"][key], np.array(values)) <= tol * 10, key
    expect = "python" if kw.get("engine") == "python" else "native"
    assert first["engine"] == expect


@pytest.mark.parametrize("procs", [2, 3])
def test_engines_agree_bitwise(runs, procs):
    for a, b in [("sgd64_native", "sgd64_python"), ("adam32_native", "adam32_python"),
                 ("sharded64", "sharded64_python")]:
        ra, rb = _records(runs, procs, a)[0], _records(runs, procs, b)[0]
        assert ra["checksums"] == rb["checksums"]
        assert {k: v for k, v in ra["history"].items() if k != "epoch_time"} == \
            {k: v for k, v in rb["history"].items() if k != "epoch_time"}


@pytest.mark.parametrize("procs", [2, 3])
def test_progress_from_rank_0_only(runs, procs):
    text = runs[procs][1]
    lines = [ln for ln in text.splitlines() if ln.startswith("epoch 1/")]
    assert len(lines) == len(SCENARIOS), text[-3000:]


@pytest.mark.parametrize("procs", [2, 3])
def test_readme_loop_with_two_added_lines(runs, procs):
    import nncore as nc
    import nncore.distributed as dist
    recs = _records(runs, procs, "readme_loop")
    for r in recs[1:]:
        for a, b in zip(r["weights"], recs[0]["weights"]):
            assert np.array_equal(a, b)
    x, y = scenario("sgd64_native")[1:3]
    x, y = x[:96], y[:96]
    # one process: global batch k is every rank's batch k together (equal shard sizes)
    parts = [dist.shard(x, y, rank=r, world_size=procs) for r in range(procs)]
    order = np.random.default_rng(0).permutation(len(parts[0][0]))
    batches = [np.concatenate([p[0][order[s:s + 16]] for p in parts]) for s in
               range(0, len(order), 16)]
    labels = [np.concatenate([p[1][order[s:s + 16]] for p in parts]) for s in
              range(0, len(order), 16)]
    model = nc.Sequential([nc.Dense(6, 16, "relu"), nc.Dense(16, 3)], seed=0,
                          dtype=np.float64)
    opt = nc.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nc.CrossEntropyLoss()
    for _ in range(2):
        for xb, yb in zip(batches, labels):
            loss_fn(model.forward(xb), yb)
            model.backward(loss_fn.backward())
            opt.step()
    for got, p in zip(recs[0]["weights"], model.parameters()):
        assert _rel(got, p.data) <= 1e-9
    saved = nc.load(str(runs[procs][3] / "readme_loop.npz"))  # dist.save, from rank 0
    for a, b in zip(saved.parameters(), recs[0]["weights"]):
        assert np.array_equal(a.data, b)


def test_docs_example_runs(runs):
    import nncore as nc
    rc, text, _, out = runs["docs"]
    assert rc == 0, text[-3000:]
    assert text.count("epoch 10/10") == 1  # progress from rank 0 only
    assert nc.load(str(out / "model.npz")).evaluate(*nc.spirals(n=2000, classes=3, seed=0))[
        "accuracy"] > 0.5


def _fault(runs, kind):
    rc, text, seconds, _ = runs[kind]
    assert rc != 0, text[-3000:]
    assert "the test killed this launch" not in text, text[-3000:]
    assert "finished" not in text, text[-3000:]
    assert seconds < TIMEOUT + 30, f"the job took {seconds:.1f} s to end"
    return text


def test_fault_rank_raises(runs):
    text = _fault(runs, "raise")
    assert "boom on rank 1" in text and "rank 1: fit raised RuntimeError" in text


def test_fault_rank_killed(runs):
    _fault(runs, "kill")


@pytest.mark.parametrize("kind, where", [("hang", "allgather"),
                                         ("hang_in_step", "the gradient allreduce of step")])
def test_fault_rank_hangs(runs, kind, where):
    # before training (in the start-up check) and in the middle of it (native engine)
    text = _fault(runs, kind)
    assert f"waited more than {TIMEOUT:g} s for the other ranks in {where}" in text, \
        text[-3000:]


@pytest.mark.parametrize("kind, what", [("mismatch", "layers"),
                                        ("mismatch_optimizer", "optimizer")])
def test_fault_models_differ(runs, kind, what):
    text = _fault(runs, kind)
    message = f"DistributedError: fit(distributed=...): the ranks disagree on {what}"
    assert text.count(message) == FAULTS[kind], text[-3000:]  # on every rank


def test_mpi4py_imported_only_when_used():
    code = (
        "import sys, numpy as np, nncore as nc, nncore.distributed as dist\n"
        "m = nc.Sequential([nc.Dense(2, 3)], seed=0)\n"
        "m.fit(np.ones((4, 2)), np.ones((4, 3)), verbose=0)\n"
        "assert 'mpi4py' not in sys.modules, 'imported by fit or nncore.distributed'\n"
        "assert dist.world_size() == 1 and dist.rank() == 0 and not dist.is_distributed()\n"
        "assert 'mpi4py' in sys.modules\n"
        "print('OK')\n")
    _mpiexec()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=60)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr


def test_bad_mode_is_rejected_before_mpi():
    import nncore as nc
    m = nc.Sequential([nc.Dense(2, 3)], seed=0)
    with pytest.raises(ValueError, match="distributed must be"):
        m.fit(np.ones((4, 2)), np.ones((4, 3)), verbose=0, distributed="ring")


def test_shard_parts_cover_the_rows_once():
    import nncore.distributed as dist
    x = np.arange(10)
    parts = [dist.shard(x, rank=r, world_size=3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 4]
    assert np.array_equal(np.concatenate(parts), x)
    with pytest.raises(ValueError, match="rows"):
        dist.shard(x, x[:3], rank=0, world_size=2)
