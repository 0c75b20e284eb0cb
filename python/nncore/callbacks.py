"""Training callbacks: early stopping, gradient-health recording, and Keras's
ModelCheckpoint, CSVLogger, LambdaCallback and LearningRateScheduler.

A callback sees ``on_train_begin()``, ``on_epoch_begin(epoch)``, ``on_step_end(step, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``; ``self.model`` is the model
being trained. Setting ``model.stop_training = True`` ends training after the epoch.
"""
from __future__ import annotations

import math

import numpy as np


__all__ = ["Callback", "EarlyStopping", "GradientHealth", "as_callback_list", "health_report",
           "ModelCheckpoint", "CSVLogger", "LambdaCallback", "LearningRateScheduler"]


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
    """Stop training when a metric has stopped improving, as Keras's ``EarlyStopping``
    (same arguments, defaults and rules).

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs: ``"val_loss"`` (needs validation data),
        ``"val_accuracy"``, ``"loss"``, ``"accuracy"``. A key missing from the logs is a
        ValueError at the end of the first epoch (Keras only warns).
    min_delta : float, default 0
        Smallest change that counts as an improvement (its sign is ignored).
    patience : int, default 0
        Epochs without improvement before stopping; 0 stops at the first epoch that
        does not improve.
    verbose : int, default 0
        1 prints when training stops early and when the best weights are restored.
    mode : {"auto", "min", "max"}, default "auto"
        ``"auto"`` maximises metrics named ``*acc*`` and minimises the rest.
    baseline : float, optional
        A value the metric must beat: epochs that improve on the best so far but not on
        ``baseline`` still count against ``patience``.
    restore_best_weights : bool, default False
        At the end of training (stopped early or not), put back the weights of the best
        epoch. False keeps the weights of the last step.
    start_from_epoch : int, default 0
        Epochs to train before watching the metric (a warm-up that never stops).

    Attributes
    ----------
    best : float
        The best value seen (``inf`` or ``-inf`` before any).
    best_epoch : int or None
        The epoch (from 0) that reached ``best``.
    stopped_epoch : int or None
        The epoch (from 0) after which this callback stopped training; None when it did
        not.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a str (a key of the epoch logs); "
                            f"got {type(monitor).__name__}")
        self.monitor = monitor
        self.min_delta = abs(_real(min_delta, "min_delta"))
        self.patience = _count(patience, "patience")
        self.start_from_epoch = _count(start_from_epoch, "start_from_epoch")
        self.baseline = None if baseline is None else _real(baseline, "baseline")
        self.verbose = verbose
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto'; got {mode!r}")
        self.mode = mode
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = self.stopped_epoch = None
        self.wait = 0
        self._best_weights = None

    def _improves_on(self, value, reference):
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.monitor not in logs:
            raise ValueError(f"EarlyStopping: monitor {self.monitor!r} is not among the logged "
                             f"metrics {sorted(logs or {})}")
        if epoch < self.start_from_epoch:
            return
        value = logs[self.monitor]
        if self.restore_best_weights and self._best_weights is None:
            self._keep_weights(epoch)  # the first watched epoch is the best so far
        self.wait += 1
        if self._improves_on(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self._keep_weights(epoch)
            if self.baseline is None or self._improves_on(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _keep_weights(self, epoch):
        self.best_epoch = epoch
        self._best_weights = self.model.state_dict()  # BatchNorm1d's statistics too

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}")
        if self.restore_best_weights and self._best_weights is not None:
            if self.verbose:
                print(f"EarlyStopping: restoring the weights of epoch {self.best_epoch + 1}")
            self.model.load_state_dict(self._best_weights)


_HEALTH_KEYS = ("grad_norm", "weight_norm", "update_ratio", "saturated", "dead")


def health_activation(act):
    """The activation whose saturation GradientHealth measures (sigmoid, tanh: saturated;
    relu: dead units); any other counts as identity."""
    return act if act in ("sigmoid", "tanh", "relu") else "identity"


def _count(value, name):
    """``value`` as an int >= 0, else an error naming EarlyStopping and ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"EarlyStopping: {name} must be an int >= 0; got {value!r}")
    if value < 0:
        raise ValueError(f"EarlyStopping: {name} must be >= 0; got {value}")
    return int(value)


def _real(value, name):
    """``value`` as a finite float, else an error naming EarlyStopping and ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"EarlyStopping: {name} must be a real number; got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"EarlyStopping: {name} must be finite; got {value}")
    return float(value)


def as_callback_list(callbacks, fn="fit"):
    """``callbacks`` as a new list: None gives ``[]``, one callback gives ``[callback]``
    (``fit(callbacks=EarlyStopping())`` works as ``callbacks=[EarlyStopping()]``), any
    other iterable its items. TypeError naming ``fn`` for an item that is not a callback
    (an object without the :class:`Callback` hooks)."""
    if callbacks is None:
        return []
    if _is_callback(callbacks):
        return [callbacks]
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"{fn}: callbacks must be a Callback or a list of them; got "
                        f"{type(callbacks).__name__}")
    items = list(callbacks)
    for i, c in enumerate(items):
        if not _is_callback(c):
            raise TypeError(f"{fn}: callbacks[{i}] is a {type(c).__name__}, not a callback "
                            "(subclass nncore.Callback and override the hooks you need)")
    return items


_HOOKS = ("on_train_begin", "on_epoch_begin", "on_step_end", "on_epoch_end", "on_train_end")


def _is_callback(obj):
    return isinstance(obj, Callback) or (
        not isinstance(obj, type) and all(callable(getattr(obj, h, None)) for h in _HOOKS))


class GradientHealth(Callback):
    """Records per layer and epoch (means over the epoch's steps): gradient norm, weight
    norm, update-to-weight ratio ``|w_after - w_before| / |w_before|``, the fraction of
    saturated sigmoid/tanh outputs and of dead ReLU units (zero for every sample of a
    batch). ``fit(..., health=True)`` adds one and stores the result in
    ``history.health``.

    The norms are square roots of sums of squares taken by the kernel sets in a fixed
    order (float32 weights: runs of 16 squares in float, within about 1e-6 of the float64
    values of ``nncore.reference.layer_health``; float64: every operation in double), so
    they are the same under every kernel set, at any thread count and on both engines.
    ``w_before`` is the weights as the step found them (taken afresh at each epoch's
    start, so a callback may change the weights between epochs).
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
        self._sums = {name: dict.fromkeys(_HEALTH_KEYS, 0.0) for name, _, _ in self._layers}
        self._steps = 0
        for name, layer, _ in self._layers:  # the weights before the epoch's first step,
            np.copyto(self._prev[name], layer.w.data)  # whatever changed them since

    def on_step_end(self, step, logs=None):
        from . import _core
        self._steps += 1
        for name, layer, act in self._layers:
            y = layer.output
            if y is None or y.ndim != 2:
                y = layer.w.data[:0]
            stats = _core._layer_health(layer.w.data, self._prev[name], layer.w.grad, y,
                                        health_activation(act))
            self.add_step(name, stats)

    def add_step(self, name, stats):
        """Add one step's ``(grad_norm, weight_norm, update_ratio, saturated, dead)`` of
        layer ``name`` to the epoch's sums (the native engine hands its steps here too)."""
        s = self._sums[name]
        for key, value in zip(_HEALTH_KEYS, stats):
            s[key] += value

    def set_epoch_sums(self, sums, steps):
        """The epoch's sums as the native engine gathered them: 5 values a Dense layer,
        in :data:`_HEALTH_KEYS` order, over ``steps`` steps."""
        for k, (name, _, _) in enumerate(self._layers):
            self._sums[name] = dict(zip(_HEALTH_KEYS, sums[5 * k:5 * k + 5]))
        self._steps = steps

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
