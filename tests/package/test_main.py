"""The command line: ``python -m nncore info`` and ``demo`` (the demo runs in test_examples)."""
import json

import pytest

import nncore as nc
from nncore.__main__ import main


def test_info_prints_config(capsys):
    assert main(["info"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["isa"] == nc.config()["isa"] and printed["version"] == nc.__version__


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_demo_is_a_line_per_example_then_the_speed_up_from_nncore_bench(capsys, monkeypatch):
    """The demo prints a line per example and ends with the tutorials' XOR timed by
    nncore.bench's harness (faked here: the test checks what is printed, not a speed)."""
    import nncore.bench
    from nncore.__main__ import SPEED_LABELS, demo
    calls = []

    def fake_bench_training(name, threads, repeats, target, quick, impls=None):
        labels = (nncore.bench.BASE, *impls)
        calls.append((name, threads, labels))
        medians = {"nncore fit (native)": 2e-6, "NumPy loop": 50e-6, "pure Python": 150e-6}
        return {"unit": "us/step", "results": {
            k: {"median_s": medians[k],
                **({"ratio_vs_nncore": medians[k] / 2e-6} if i else {})}
            for i, k in enumerate(labels)}}
    monkeypatch.setattr(nncore.bench, "bench_training", fake_bench_training)
    demo(0.05, 0)
    lines = capsys.readouterr().out.splitlines()
    assert calls == [("xor_3-4-1", 1, SPEED_LABELS)]
    assert SPEED_LABELS == ("nncore fit (native)", "NumPy loop", "pure Python")
    assert [line[:2] for line in lines[1:5]] == ["1.", "2.", "3.", "4."]
    assert lines[1].startswith("1. XOR, the tutorials' 3-4-1 sigmoid network")
    assert lines[5].split() == ["nncore", "fit", "(native)", "2", "us/step"]
    assert lines[6].split()[-3:] == ["nncore", "25x", "faster"] and "NumPy loop" in lines[6]
    assert lines[7].split()[-3:] == ["nncore", "75x", "faster"] and "pure Python" in lines[7]
    assert len(lines) == 9                                  # no per-epoch line anywhere


def test_demo_times_the_real_harness_briefly(capsys):
    from nncore.__main__ import demo
    res = demo(0.01, 0, repeats=1, target=0.001)
    out = capsys.readouterr().out
    assert list(res["results"]) == ["nncore fit (native)", "NumPy loop", "pure Python"]
    for label, row in res["results"].items():
        assert row["median_s"] > 0 and \
            (label == "nncore fit (native)") != ("ratio_vs_nncore" in row)
        assert label in out


def test_demo_with_bars_on_a_terminal_of_0_columns_prints_no_blank_line(monkeypatch, capsys):
    """`python -m nncore demo --verbose 1` where the terminal reports 0 columns: a full
    line per epoch, never an empty one (tqdm drew nothing and left an empty line)."""
    import io
    import os
    import sys

    import nncore.bench
    from nncore.__main__ import demo

    class Terminal(io.StringIO):
        def isatty(self):
            return True

        def fileno(self):
            return 99

    monkeypatch.setattr("os.get_terminal_size", lambda fd=None: os.terminal_size((0, 0)))
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(nncore.bench, "bench_training", lambda *a, impls=(), **k: {
        "results": {label: {"median_s": 1e-6, **({"ratio_vs_nncore": 1.0} if i else {})}
                    for i, label in enumerate((nncore.bench.BASE, *impls))}})
    demo(0.02, 1)
    shown = [line.split("\r")[-1] for line in term.getvalue().split("\n")[:-1]]
    assert shown and all(line.startswith("epoch ") for line in shown), shown[:5]
    assert term.getvalue().endswith("\n")
