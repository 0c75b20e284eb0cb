"""Training callbacks: early stopping and gradient-health recording.

A callback sees ``on_train_begin()``, ``on_epoch_begin(epoch)``, ``on_step_end(step, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``; ``self.model`` is the model
being trained. Setting ``model.stop_training = True`` ends training after the epoch.
"""
from __future__ import annotations

import math

import numpy as np


__all__ = ["Callback", "EarlyStopping", "GradientHealth", "as_callback_list", "health_report"]


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
        self._best_weights = [p.data.copy() for p in self.model.parameters()]

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}")
        if self.restore_best_weights and self._best_weights is not None:
            if self.verbose:
                print(f"EarlyStopping: restoring the weights of epoch {self.best_epoch + 1}")
            for p, w in zip(self.model.parameters(), self._best_weights):
                p.data[...] = w


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
