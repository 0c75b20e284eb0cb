"""Training callbacks: early stopping, gradient-health recording, and Keras's
ModelCheckpoint, CSVLogger, LambdaCallback and LearningRateScheduler.

A callback sees ``on_train_begin()``, ``on_epoch_begin(epoch)``, ``on_step_end(step, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``; ``self.model`` is the model
being trained. Setting ``model.stop_training = True`` ends training after the epoch.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Callback", "EarlyStopping", "GradientHealth", "health_report", "ModelCheckpoint",
           "CSVLogger", "LambdaCallback", "LearningRateScheduler"]


class Callback:
    """Base class of training callbacks: override the hooks you need.

    ``fit`` sets ``self.model`` before training. ``logs`` holds the running ``loss`` in
    ``on_step_end`` and the epoch's metrics (``loss``, ``accuracy``, ``val_*``,
    ``epoch_time``) in ``on_epoch_end``; ``epoch`` and ``step`` count from 0.
    """

    model = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_step_end(self, step, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class EarlyStopping(Callback):
    """Stop training when a metric has stopped improving (as Keras's).

    Parameters
    ----------
    monitor : str
        A key of the epoch logs, e.g. ``"val_loss"`` (needs validation data),
        ``"val_accuracy"``, ``"loss"``.
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}
        ``auto`` maximises metrics named ``*acc*`` and minimises the rest.
    restore_best_weights : bool
        When training stops early, put back the weights of the best epoch.

    Attributes
    ----------
    best, best_epoch, stopped_epoch
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto'; got {mode!r}")
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best = None
        self.best_epoch = None
        self.stopped_epoch = None
        self._wait = 0
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.stopped_epoch, self._wait = None, None, None, 0
        self._best_weights = None

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitor {self.monitor!r} is not among the logged "
                             f"metrics {sorted(logs or {})}")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = [p.data.copy() for p in self.model.parameters()]
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_weights is not None and \
                self.stopped_epoch is not None:
            for p, w in zip(self.model.parameters(), self._best_weights):
                p.data[...] = w


class GradientHealth(Callback):
    """Records per layer and epoch (means over the epoch's steps): gradient norm, weight
    norm, update-to-weight ratio ``|w_after - w_before| / |w_before|``, the fraction of
    saturated sigmoid/tanh outputs and of dead ReLU units (zero for every sample of a
    batch). ``fit(..., health=True)`` adds one and stores the result in
    ``history.health``.
    """

    def __init__(self):
        self.health = {}
        self._prev = {}
        self._sums = {}
        self._steps = 0
        self._layers = []

    def _dense_layers(self):
        from .layers import Dense
        return [(self.model.layer_name(i), layer, self.model.activation_of(i)[0])
                for i, layer in enumerate(self.model.layers) if isinstance(layer, Dense)]

    def on_train_begin(self, logs=None):
        self._layers = self._dense_layers()  # (name, layer, activation), once per fit
        for name, layer, act in self._layers:
            self._prev[name] = layer.w.data.copy()
            self.health.setdefault(name, {"grad_norm": [], "weight_norm": [],
                                          "update_ratio": [], "saturated": [], "dead": [],
                                          "activation": act})

    def on_epoch_begin(self, epoch, logs=None):
        self._sums = {name: dict.fromkeys(("grad_norm", "weight_norm", "update_ratio",
                                           "saturated", "dead"), 0.0)
                      for name, _, _ in self._layers}
        self._steps = 0

    def on_step_end(self, step, logs=None):
        self._steps += 1
        for name, layer, act in self._layers:
            s = self._sums[name]
            w, prev = layer.w.data, self._prev[name]
            w_norm = float(np.linalg.norm(prev))
            s["grad_norm"] += float(np.linalg.norm(layer.w.grad))
            s["weight_norm"] += float(np.linalg.norm(w))
            np.subtract(w, prev, out=prev)
            s["update_ratio"] += float(np.linalg.norm(prev)) / (w_norm + 1e-12)
            np.copyto(prev, w)
            y = layer.output
            if y is None or y.size == 0:
                continue
            if act == "sigmoid":
                s["saturated"] += float(np.mean((y < 0.01) | (y > 0.99)))
            elif act == "tanh":
                s["saturated"] += float(np.mean(np.abs(y) > 0.99))
            elif act == "relu" and y.ndim == 2:
                s["dead"] += float(np.mean(np.all(y <= 0, axis=0)))

    def on_epoch_end(self, epoch, logs=None):
        n = max(self._steps, 1)
        for name, sums in self._sums.items():
            for key, total in sums.items():
                self.health[name][key].append(total / n)


def health_report(health, vanish_ratio=1e-3, explode_norm=1e3):
    """A table of the last epoch's gradient health per layer, with flags.

    A layer is flagged VANISHING when its gradient norm is below ``vanish_ratio`` times
    the largest layer's, EXPLODING when above ``explode_norm`` or non-finite.
    Returns ``(text, flags)`` where flags maps layer names to "vanishing"/"exploding".
    """
    if not health:
        return "no gradient-health records (train with health=True)", {}
    last = {name: {k: (v[-1] if isinstance(v, list) and v else v) for k, v in rec.items()}
            for name, rec in health.items()}
    finite = [r["grad_norm"] for r in last.values() if math.isfinite(r["grad_norm"])]
    largest = max(finite) if finite else 0.0
    flags = {}
    lines = [f"{'layer':<12} {'activation':<10} {'grad norm':>11} {'weight norm':>11} "
             f"{'update/w':>10} {'saturated':>9} {'dead':>6}  flag"]
    for name, r in last.items():
        g = r["grad_norm"]
        flag = ""
        if not math.isfinite(g) or g > explode_norm:
            flag = "EXPLODING"
        elif largest > 0 and g < vanish_ratio * largest:
            flag = "VANISHING"
        if flag:
            flags[name] = flag.lower()
        lines.append(f"{name:<12} {r['activation']:<10} {g:>11.3e} {r['weight_norm']:>11.3e} "
                     f"{r['update_ratio']:>10.2e} {r['saturated']:>9.1%} {r['dead']:>6.1%}  "
                     f"{flag}")
    return "\n".join(lines), flags


# ------------------------------------------------- Keras's checkpoint, logger, lambdas

def _monitor_mode(monitor, mode, name):
    """'min' or 'max': ``auto`` maximises accuracies, AUC, precision, recall, F1 and R2."""
    if mode == "auto":
        higher = ("acc", "auc", "precision", "recall", "f1", "r2")
        mode = "max" if any(h in monitor for h in higher) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{name}: mode must be 'min', 'max' or 'auto'; got {mode!r}")
    return mode


class ModelCheckpoint(Callback):
    """Save the model after every epoch, or only when a monitored value improves, as
    Keras's ``ModelCheckpoint``. Each file is nncore's model file (:meth:`Sequential.save`,
    written atomically): weights, optimiser state and step count, so ``nncore.load`` of a
    checkpoint trains on exactly as the model did.

    Parameters
    ----------
    filepath : str or os.PathLike
        May hold ``{epoch}`` (counted from 1) and any log, e.g.
        ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``.
    monitor : str
        The log compared by ``save_best_only``.
    verbose : int
        1 prints a line per save.
    save_best_only : bool
        Save only when ``monitor`` improved on the best value so far.
    save_weights_only : bool
        Leave the optimiser out of the file.
    mode : {"auto", "min", "max"}
        ``auto`` maximises accuracies, AUC, precision, recall, F1 and R2, minimises the rest.
    save_freq : "epoch"
        Keras's other choice (every n batches) is not supported.
    initial_value_threshold : float, optional
        The value to beat before the first save (``save_best_only``).

    Attributes
    ----------
    best : float
    last_path : str or None
        The file written last.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        import os
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch'; got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.monitor, self.verbose = monitor, int(verbose)
        self.save_best_only, self.save_weights_only = bool(save_best_only), \
            bool(save_weights_only)
        self.mode = _monitor_mode(monitor, mode, "ModelCheckpoint")
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = None
        self.last_path = None

    def on_train_begin(self, logs=None):
        if self.best is None and self.initial_value_threshold is not None:
            self.best = float(self.initial_value_threshold)

    def _improved(self, value):
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                import warnings
                warnings.warn(f"ModelCheckpoint: can save best model only with "
                              f"{self.monitor!r} available among the logs {sorted(logs)}; "
                              "skipping", RuntimeWarning, stacklevel=2)
                return
            if not self._improved(value):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            previous, self.best = self.best, value
            before = math.inf if previous is None else previous
            reason = f"{self.monitor} improved from {before:.5f} to {value:.5f}, "
        else:
            reason = ""
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self._save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: {reason}saving model to {self.last_path}")

    def _save(self, path):
        model = self.model
        optimizer = model.optimizer
        if self.save_weights_only:
            model.optimizer = None
        try:
            self.last_path = model.save(path)
        finally:
            model.optimizer = optimizer


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file, as Keras's ``CSVLogger``: a header
    ``epoch,<log names sorted>``, then one row per epoch (``epoch`` from 0).

    Parameters
    ----------
    filename : str or os.PathLike
    separator : str
    append : bool
        Append to an existing file (no second header) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        import os
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        import os
        had_rows = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self._header_written = had_rows

    def on_epoch_end(self, epoch, logs=None):
        import csv
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.sep)
            if not self._header_written:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's ``LambdaCallback``: ``on_epoch_begin
    (epoch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_batch_end(batch, logs)`` (also
    ``on_train_batch_end``; given, it makes the fit run on the python engine, which
    has per-step hooks).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_batch_end=None, on_train_batch_end=None):
        if on_batch_end is not None and on_train_batch_end is not None:
            raise ValueError("LambdaCallback: give on_batch_end or on_train_batch_end, not "
                             "both")
        self._fns = {"epoch_begin": on_epoch_begin, "epoch_end": on_epoch_end,
                     "train_begin": on_train_begin, "train_end": on_train_end,
                     "batch_end": on_batch_end or on_train_batch_end}
        if self._fns["batch_end"] is not None:
            self.__class__ = _LambdaBatchCallback

    def on_epoch_begin(self, epoch, logs=None):
        if self._fns["epoch_begin"] is not None:
            self._fns["epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._fns["epoch_end"] is not None:
            self._fns["epoch_end"](epoch, logs)

    def on_train_begin(self, logs=None):
        if self._fns["train_begin"] is not None:
            self._fns["train_begin"](logs)

    def on_train_end(self, logs=None):
        if self._fns["train_end"] is not None:
            self._fns["train_end"](logs)


class _LambdaBatchCallback(LambdaCallback):
    """A LambdaCallback with a per-batch function (its own class, so the engines see a
    per-step hook only when there is one)."""

    def on_step_end(self, step, logs=None):
        self._fns["batch_end"](step, logs)


class LearningRateScheduler(Callback):
    """Set the optimiser's learning rate at the start of every epoch from
    ``schedule(epoch, lr)`` (or ``schedule(epoch)``), as Keras's
    ``LearningRateScheduler``; ``epoch`` counts from 0. The rate of each epoch is logged
    as ``learning_rate``.

    Parameters
    ----------
    schedule : callable
    verbose : int
        1 prints the rate set at each epoch.
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable; got "
                            f"{type(schedule).__name__}")
        self.schedule, self.verbose = schedule, int(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, optimizer.lr)
        except TypeError:  # a one-argument schedule, as Keras allows
            lr = self.schedule(epoch)
        lr = float(lr)
        if not (math.isfinite(lr) and lr >= 0):
            raise ValueError(f"LearningRateScheduler: schedule({epoch}) gave {lr!r}; a "
                             "learning rate must be a finite number >= 0")
        optimizer.lr = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")
