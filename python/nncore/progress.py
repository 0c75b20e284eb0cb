"""Progress display for training: a bar per epoch on a terminal (tqdm's while the epoch
runs when tqdm is installed, a built-in one otherwise), one line per epoch when the output
is not a terminal.

Every epoch ends with one full line, the same with or without tqdm::

    epoch 2/5 [==============================] 4/4 - 0.12s - 1.1e+04 samples/s - loss: 0.25

The bar there is full (unless Ctrl-C stopped the epoch) whether or not the engine
reported every step, and the metrics are never cut to the terminal's width. A terminal
that reports no size (0 columns or 0 lines: some containers, ``script`` and editors'
shells do) gets the built-in bar, which needs none: tqdm would draw nothing there and
leave an empty line per epoch.
"""
from __future__ import annotations

import io
import os
import sys
import time

__all__ = ["EpochProgress"]

_WIDTH = 30  # characters of the built-in bar


def _fmt(logs):
    return " - ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in logs.items())


def _size(file):
    """``(columns, lines)`` of the terminal behind ``file``; None when it does not say
    (not a real terminal, e.g. a test's fake). A terminal may report 0 for either."""
    try:
        return tuple(os.get_terminal_size(file.fileno()))
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None


class EpochProgress:
    """Shows one epoch: ``update(n_done, **metrics)`` while it runs, ``close(**logs)`` at
    the end (``close(interrupted=True, ...)`` when Ctrl-C stopped it after ``n_done``
    steps; ``close(seconds=...)`` gives the epoch's time when the bar was made late).

    The native engine may start drawing epoch k+1 before epoch k's line is written: the
    bars share the terminal's line, so the newer one takes it over (k's tqdm bar is
    cleared) and k's full line still comes first.
    """

    _tqdm_owner = None  # the EpochProgress whose tqdm bar is on the screen
    _drawn = {}         # id(file): characters on its current line, from this module

    def __init__(self, epoch, epochs, steps, verbose=1, file=None, samples=None):
        self.file = file or sys.stderr
        self.samples = samples  # per epoch, for samples/s
        self.verbose = verbose
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.tty = verbose == 1 and hasattr(self.file, "isatty") and self.file.isatty()
        size = _size(self.file) if self.tty else None
        self.columns = None if size is None else size[0]
        self.start = time.perf_counter()
        self.done = 0
        self._bar = None        # the tqdm bar, made at the first update
        self._tqdm = self.tty and (size is None or min(size) > 0)  # tqdm needs both
        self._last = 0.0        # when the built-in bar was last drawn
        self._closed = False

    def _rate(self, done, elapsed=None):
        """Samples per second so far (None without a sample count or time)."""
        if elapsed is None:
            elapsed = time.perf_counter() - self.start
        if not self.samples or elapsed <= 0 or not self.steps:
            return None
        return self.samples * min(done, self.steps) / self.steps / elapsed

    def _make_tqdm(self):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._tqdm = False
            return
        owner = EpochProgress._tqdm_owner
        if owner is not None and owner is not self:
            owner._drop_tqdm()  # one bar on the line: a second would nest below it
        EpochProgress._tqdm_owner = self
        # leave=False: close() clears tqdm's line and writes the epoch's full line instead
        self._bar = tqdm(total=self.steps, desc=f"epoch {self.epoch}/{self.epochs}",
                         file=self.file, leave=False, dynamic_ncols=True)

    def _drop_tqdm(self):
        if self._bar is not None:
            self._bar.close()  # leave=False: its line is cleared
            self._bar = None
        if EpochProgress._tqdm_owner is self:
            EpochProgress._tqdm_owner = None

    def update(self, done, **metrics):
        if not self.tty or self._closed:
            return
        self.done = done
        rate = self._rate(done)
        if self._tqdm and self._bar is None:
            self._make_tqdm()
        if self._bar is not None:
            post = {k: f"{v:.4g}" for k, v in metrics.items()}
            if rate is not None:
                post["samples/s"] = f"{rate:.4g}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(done - self._bar.n)
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self.steps:
            return
        self._last = now
        elapsed = now - self.start
        eta = elapsed / done * (self.steps - done) if done else 0.0
        extra = f" - ETA {eta:.1f}s" if done < self.steps else f" - {elapsed:.1f}s"
        if rate is not None:
            extra += f" - {rate:.4g} samples/s"
        line = f"{self._head(done)}{extra} - {_fmt(metrics)}"
        if self.columns:  # a line wider than the terminal would wrap and break the \r
            line = line[:self.columns - 1]
        self._draw(line)

    def _head(self, done):
        filled = int(_WIDTH * min(done, self.steps) / max(self.steps, 1))
        bar = "=" * filled + ">" * (filled < _WIDTH) + "." * (_WIDTH - filled - 1)
        return f"epoch {self.epoch}/{self.epochs} [{bar[:_WIDTH]}] {done}/{self.steps}"

    def _draw(self, line, end=""):
        """Overwrite the built-in bar's line with ``line`` (padded over a longer one)."""
        drawn = EpochProgress._drawn.get(id(self.file), 0)
        self.file.write("\r" + line + " " * max(drawn - len(line), 0) + end)
        EpochProgress._drawn[id(self.file)] = 0 if end else len(line)
        self.file.flush()

    def close(self, interrupted=False, seconds=None, **logs):
        """End the epoch with its full line: the bar at ``steps/steps`` (where it stopped,
        when ``interrupted``), the time (``seconds``, else since the bar was made),
        samples/s and every entry of ``logs``."""
        if self.verbose == 0 or self._closed:
            return
        self._closed = True
        elapsed = time.perf_counter() - self.start if seconds is None else seconds
        self._drop_tqdm()
        if interrupted:
            logs = {**logs, "interrupted": True}
        if not self.tty:
            self.file.write(f"epoch {self.epoch}/{self.epochs} - {elapsed:.2f}s - "
                            f"{_fmt(logs)}\n")
            self.file.flush()
            return
        done = self.done if interrupted else self.steps
        parts = [self._head(done), f"{elapsed:.2f}s"]
        rate = self._rate(done, elapsed)
        if rate is not None:
            parts.append(f"{rate:.4g} samples/s")
        parts.append(_fmt(logs))
        newer = EpochProgress._tqdm_owner  # the next epoch's bar, already drawn
        if newer is not None and newer._bar is not None:
            newer._bar.clear()
        self._draw(" - ".join(parts), end="\n")
        if newer is not None and newer._bar is not None:
            newer._bar.refresh()
