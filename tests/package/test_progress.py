import io
import os
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
    for step in range(1, 4):
        bar.update(step, loss=1.0)
        assert bar._bar is not None                       # tqdm draws while it runs
    assert "epoch 1/1: " in term.getvalue() and "%|" in term.getvalue()
    bar.close(loss=0.5)
    assert screen(term.getvalue()) == [f"epoch 1/1 [{'=' * 30}] 3/3 - "
                                       f"{screen(term.getvalue())[0].split(' - ')[1]} - loss: 0.5"]


# ------------------------------------------------ a terminal's view of a fit (issue 22)

class SizedTerminal(FakeTerminal):
    """A terminal on file descriptor 99 (``os.get_terminal_size`` is patched to say its
    width)."""

    def fileno(self):
        return 99


def screen(text):
    """The lines a terminal shows after ``text``: a carriage return moves back to the
    start of the line, characters overwrite, a newline ends the line (no wrapping)."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    if "".join(line).strip():
        lines.append("".join(line).rstrip())
    return lines


def without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)         # as if tqdm were not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.mark.parametrize("columns, lines", [(None, None), (0, 24), (40, 0), (0, 0), (40, 24)],
                         ids=["unsized", "0-columns", "0-lines", "0x0", "narrow"])
@pytest.mark.parametrize("use_tqdm", [True, False], ids=["tqdm", "built-in"])
@pytest.mark.parametrize("engine", ["native", "python"])
@pytest.mark.parametrize("validation", [0.0, 0.25], ids=["train", "validation"])
def test_each_epoch_ends_with_one_full_line_at_100_percent(rng, monkeypatch, columns, lines,
                                                          use_tqdm, engine, validation):
    if use_tqdm:
        pytest.importorskip("tqdm")
    else:
        without_tqdm(monkeypatch)
    term = FakeTerminal() if columns is None else SizedTerminal()
    if columns is not None:
        monkeypatch.setattr("os.get_terminal_size",
                            lambda fd=None: os.terminal_size((columns, lines)))
    monkeypatch.setattr(sys, "stderr", term)
    x = rng.standard_normal((16, 2)).astype(np.float32)
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    history = model.fit(x, rng.integers(0, 3, 16), loss="cross_entropy", epochs=3,
                        batch_size=4, verbose=1, engine=engine, validation_split=validation)
    assert history.engine == engine
    steps = 3 if validation else 4
    assert "\x1b[" not in term.getvalue()                  # no nested tqdm bars
    lines = screen(term.getvalue())
    assert len(lines) == 3, lines                        # no empty line, nothing left over
    keys = ["loss", "accuracy"] + (["val_loss", "val_accuracy"] if validation else [])
    for epoch, line in enumerate(lines):
        assert line.startswith(f"epoch {epoch + 1}/3 [{'=' * 30}] {steps}/{steps} - "), line
        for key in keys:                                  # the metrics, never cut
            assert f" - {key}: {history[key][epoch]:.4g}" in line, (key, line)


def test_built_in_bar_fits_a_narrow_terminal_while_it_runs(monkeypatch):
    without_tqdm(monkeypatch)
    monkeypatch.setattr("os.get_terminal_size", lambda fd=None: os.terminal_size((40, 24)))
    term = SizedTerminal()
    bar = EpochProgress(1, 1, steps=4, verbose=1, file=term, samples=64)
    bar.update(4, loss=0.123456, accuracy=0.5)
    running = term.getvalue()
    assert running.startswith("\r") and len(running) == 40         # \r + 39 characters
    bar.close(loss=0.5, accuracy=0.25)
    assert screen(term.getvalue())[-1].endswith("loss: 0.5 - accuracy: 0.25")


def test_interrupted_epoch_shows_where_it_stopped(monkeypatch):
    without_tqdm(monkeypatch)
    term = FakeTerminal()
    bar = EpochProgress(1, 2, steps=4, verbose=1, file=term)
    bar.update(2, loss=0.5)
    bar.close(loss=0.5, interrupted=True)
    bar.close(loss=0.5)                                   # a second close writes nothing
    (line,) = screen(term.getvalue())
    assert "] 2/4 - " in line and line.endswith("loss: 0.5 - interrupted: True")


@pytest.mark.parametrize("use_tqdm", [True, False], ids=["tqdm", "built-in"])
def test_next_epoch_drawn_before_this_one_closes(monkeypatch, use_tqdm):
    """The native engine can start epoch 2's bar before epoch 1's line is written."""
    if use_tqdm:
        pytest.importorskip("tqdm")
    else:
        without_tqdm(monkeypatch)
    term = FakeTerminal()
    first = EpochProgress(1, 2, steps=40, verbose=1, file=term, samples=64)
    first.update(20, loss=0.5)
    second = EpochProgress(2, 2, steps=40, verbose=1, file=term, samples=64)
    second.update(30, loss=0.4, a_long_metric_name_that_makes_the_line_longer=1.0)
    first.close(loss=0.5, seconds=0.25)
    second.update(40, loss=0.3)
    second.close(loss=0.3, seconds=0.5)
    text = term.getvalue()
    assert "\x1b[" not in text                            # no nested tqdm bars
    full = f"[{'=' * 30}] 40/40"
    assert screen(text) == [f"epoch 1/2 {full} - 0.25s - 256 samples/s - loss: 0.5",
                            f"epoch 2/2 {full} - 0.50s - 128 samples/s - loss: 0.3"]
