"""threadpoolctl sees nncore's pool and limits it, whichever of the two is imported
first (threadpoolctl comes with scikit-learn, in the test extra)."""
import subprocess
import sys
import textwrap

import pytest

import nncore

threadpoolctl = pytest.importorskip("threadpoolctl")


def nncore_entries():
    return [d for d in threadpoolctl.threadpool_info() if d["internal_api"] == "nncore"]


def test_threadpool_info_reports_nncore():
    with nncore.threads(2):
        (entry,) = nncore_entries()
        assert entry["user_api"] == "nncore"
        assert entry["num_threads"] == 2
        assert entry["version"] == nncore.__version__
        assert "_core" in entry["filepath"]


def test_threadpool_limits_limits_nncore_and_restores():
    with nncore.threads(2):
        with threadpoolctl.threadpool_limits(1):
            assert nncore.get_num_threads() == 1
            assert nncore_entries()[0]["num_threads"] == 1
        assert nncore.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(limits=1, user_api="nncore"):
            assert nncore.get_num_threads() == 1
        assert nncore.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(limits={"nncore": 1}):
            assert nncore.get_num_threads() == 1
        assert nncore.get_num_threads() == 2
        with nncore.threads(1):
            assert nncore_entries()[0]["num_threads"] == 1


@pytest.mark.parametrize("first", ["nncore", "threadpoolctl"])
def test_either_import_order(first):
    second = "threadpoolctl" if first == "nncore" else "nncore"
    code = f"""
        import {first}, {second}
        import nncore, threadpoolctl
        nncore.set_num_threads(2)
        names = [d["internal_api"] for d in threadpoolctl.threadpool_info()]
        with threadpoolctl.threadpool_limits(1):
            inside = nncore.get_num_threads()
        print(names.count("nncore"), inside, nncore.get_num_threads())
    """
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1", "2"]
