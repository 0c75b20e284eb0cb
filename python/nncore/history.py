"""What ``fit`` recorded: per-epoch logs, gradient health, and a plot of both."""
from __future__ import annotations

from . import callbacks as cb

__all__ = ["History"]


class History:
    """What ``fit`` recorded: ``history[key]`` is a list with one value per epoch for
    ``loss``, ``accuracy`` (classification), each ``fit(metrics=...)`` entry, ``val_*``,
    ``epoch_time`` and ``learning_rate`` (the rate the epoch trained with); ``health``
    holds the gradient-health records when ``fit(..., health=True)``; ``engine`` says
    which training engine ran (``"native"`` or ``"python"``)."""

    def __init__(self):
        self._history = {}
        self.health = {}
        self._epochs = []
        # extend()'s columns not yet turned into lists: (epochs, {key: values}) in order
        self._pending = []
        self.interrupted = False
        self.engine = None  # "native" or "python": which training engine ran

    @property
    def history(self):
        """{key: list of one value per epoch}."""
        if self._pending:
            self._flush()
        return self._history

    @history.setter
    def history(self, value):
        self._pending = []
        self._history = value

    @property
    def epochs(self):
        """The epochs recorded (0-based), in order."""
        if self._pending:
            self._flush()
        return self._epochs

    @epochs.setter
    def epochs(self, value):
        self._flush()
        self._epochs = value

    def _flush(self):
        """Turn the columns extend() kept into the lists' values (Python floats from
        float64 arrays: the same values)."""
        pending, self._pending = self._pending, []
        for epochs, columns in pending:
            self._epochs.extend(epochs)
            for k, values in columns.items():
                self._history.setdefault(k, []).extend(
                    values.tolist() if hasattr(values, "tolist") else values)

    def append(self, epoch, logs):
        self.epochs.append(epoch)
        for k, v in logs.items():
            self._history.setdefault(k, []).append(v)

    def extend(self, epochs, columns):
        """Append many epochs at once: ``columns`` maps each key to its values (a list or
        a 1-D NumPy array; an array's values become Python floats when the history is
        read, so a long native fit makes no object per epoch)."""
        self._pending.append((epochs, dict(columns)))

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def keys(self):
        return self.history.keys()

    def __repr__(self):
        """One line: the epochs, the engine, and each metric's first and last value,
        e.g. ``<History 30 epochs (native engine): loss 1.09 -> 0.213, accuracy 0.36 ->
        0.93>``. ``history.history`` holds every value."""
        n = len(self.epochs)
        if not n:
            return "<History: no epochs>"
        head = f"{n} epoch{'s' * (n != 1)}"
        if self.engine:
            head += f" ({self.engine} engine)"
        if self.interrupted:
            head += ", interrupted"
        parts = []
        for key, values in self.history.items():
            if key == "epoch_time" or not values:
                continue
            first, last = _short(values[0]), _short(values[-1])
            parts.append(f"{key} {first}" if n == 1 else f"{key} {first} -> {last}")
        if self.health:
            parts.append(f"gradient health of {len(self.health)} layers (health_report())")
        return f"<History {head}: {', '.join(parts)}>"

    def health_report(self, **kwargs):
        """Text table of per-layer gradient health with VANISHING/EXPLODING flags."""
        return cb.health_report(self.health, **kwargs)[0]

    def plot(self, path="history.png"):
        """Draw the loss curves, the metric curves (accuracy and every ``metrics=`` entry,
        training and validation) and per-layer gradient norms (when recorded) to a PNG.
        Needs matplotlib."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from e
        panels = 2 + bool(self.health)
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
        epochs = [e + 1 for e in self.epochs]
        for key in ("loss", "val_loss"):
            if key in self.history:
                axes[0].plot(epochs, self.history[key], label=key)
        axes[0].set_xlabel("epoch")
        axes[0].set_title("loss")
        axes[0].legend()
        # every metric (accuracy, f1, auc, mae, ... and their val_ twins) in the second panel
        skip = ("loss", "val_loss", "epoch_time", "lr", "learning_rate")
        for key in self.history:
            if key not in skip:
                axes[1].plot(epochs, self.history[key], label=key)
        axes[1].set_xlabel("epoch")
        axes[1].set_title("metrics" if set(self.history) - set(skip) - {
            "accuracy", "val_accuracy"} else "accuracy")
        if axes[1].lines:
            axes[1].legend()
        if self.health:
            for name, rec in self.health.items():
                axes[2].semilogy(epochs[:len(rec["grad_norm"])], rec["grad_norm"], label=name)
            axes[2].set_xlabel("epoch")
            axes[2].set_title("gradient norm per layer")
            axes[2].legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
