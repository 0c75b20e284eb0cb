"""Progress display for training: a bar per epoch on a terminal (tqdm when installed,
a built-in one otherwise), one line per epoch when the output is not a terminal."""
from __future__ import annotations

import sys
import time

__all__ = ["EpochProgress"]


def _fmt(logs):
    return " - ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in logs.items())


class EpochProgress:
    """Shows one epoch: ``update(n_done, **metrics)`` per step, ``close(**logs)`` at the end."""

    def __init__(self, epoch, epochs, steps, verbose=1, file=None, samples=None):
        self.file = file or sys.stderr
        self.samples = samples  # per epoch, for samples/s
        self.verbose = verbose
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.tty = verbose == 1 and hasattr(self.file, "isatty") and self.file.isatty()
        self.start = time.perf_counter()
        self._bar = None
        self._last = 0.0
        if self.tty:
            try:
                from tqdm.auto import tqdm
                self._bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", file=self.file,
                                 leave=True, dynamic_ncols=True)
            except ImportError:
                self._bar = None

    def _rate(self, done):
        """Samples per second so far (None without a sample count or time)."""
        elapsed = time.perf_counter() - self.start
        if not self.samples or elapsed <= 0 or not self.steps:
            return None
        return self.samples * min(done, self.steps) / self.steps / elapsed

    def update(self, done, **metrics):
        if not self.tty:
            return
        rate = self._rate(done)
        if self._bar is not None:
            self._bar.n = done
            post = {k: f"{v:.4g}" for k, v in metrics.items()}
            if rate is not None:
                post["samples/s"] = f"{rate:.4g}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.refresh()
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self.steps:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(self.steps, 1))
        bar = "=" * filled + ">" * (filled < width) + "." * (width - filled - 1)
        elapsed = now - self.start
        eta = elapsed / done * (self.steps - done) if done else 0.0
        extra = f" - ETA {eta:.1f}s" if done < self.steps else f" - {elapsed:.1f}s"
        if rate is not None:
            extra += f" - {rate:.4g} samples/s"
        self.file.write(f"\repoch {self.epoch}/{self.epochs} [{bar[:width]}] {done}/{self.steps}"
                        f"{extra} - {_fmt(metrics)}")
        self.file.flush()

    def close(self, **logs):
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        line = f"epoch {self.epoch}/{self.epochs} - {elapsed:.2f}s - {_fmt(logs)}"
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt(logs))
            self._bar.close()
            return
        if self.tty:
            self.file.write("\r" + line + " " * 10 + "\n")
        else:
            self.file.write(line + "\n")
        self.file.flush()
