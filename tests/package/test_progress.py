import io
import sys

import numpy as np
import pytest

import nncore as nc
from nncore.progress import EpochProgress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def fit(rng, verbose):
    x = rng.standard_normal((16, 2)).astype(np.float32)
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    model.fit(x, rng.integers(0, 3, 16), loss="cross_entropy", epochs=3, batch_size=4,
              verbose=verbose)


@pytest.mark.parametrize("verbose", [1, 2])
def test_one_line_per_epoch_when_not_a_tty(rng, capsys, verbose):
    fit(rng, verbose)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 3 and "\r" not in err
    assert lines[0].startswith("epoch 1/3") and "loss" in lines[0] and "accuracy" in lines[0]


def test_silent_when_verbose_0(rng, capsys):
    fit(rng, 0)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


def test_built_in_bar_on_a_terminal(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)         # as if tqdm were not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    term = FakeTerminal()
    bar = EpochProgress(2, 5, steps=4, verbose=1, file=term)
    for step in range(1, 5):
        bar.update(step, loss=0.5)
    bar.close(loss=0.25, accuracy=0.75)
    text = term.getvalue()
    assert "\repoch 2/5 [" in text and "4/4" in text
    assert text.endswith("\n") and "loss: 0.25 - accuracy: 0.75" in text.splitlines()[-1]


def test_tqdm_bar_on_a_terminal():
    pytest.importorskip("tqdm")
    term = FakeTerminal()
    bar = EpochProgress(1, 1, steps=3, verbose=1, file=term)
    assert bar._bar is not None
    for step in range(1, 4):
        bar.update(step, loss=1.0)
    bar.close(loss=0.5)
    assert "epoch 1/1" in term.getvalue()
