"""The prepared run: what every engine needs to train a model, checked and built once by
:func:`prepare` (``fit``, ``train_on_batch``, the scikit-learn estimators and
data-parallel training all call it). Only this module sets a field of a :class:`Run`."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy as np

from .. import callbacks as cb
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optim as optim_mod
from .. import targets as targets_mod
from .. import weights as weights_mod
from .._inputs import check_split, check_x, check_y, warn_probability_output
from ..data import split_indices
from ..optim import SGD, Optimizer

__all__ = ["Run", "prepare", "resolve_loss", "bind_optimizer", "sample_weights",
           "split_train_validation"]


@dataclasses.dataclass
class Run:
    """A prepared training run: the data (after the validation split), the loss, the
    optimiser bound to the model, the callbacks, and the batching."""

    x: np.ndarray                       # (n, features) in the model's dtype
    y: np.ndarray                       # targets the loss accepts
    weights: Optional[np.ndarray]       # per-sample weights (sample x class weight) or None
    x_val: Optional[np.ndarray]
    y_val: Optional[np.ndarray]
    w_val: Optional[np.ndarray]
    loss_fn: Any                        # a nncore Loss
    optimizer: Any                      # a nncore Optimizer, bound to the model
    callbacks: list
    health_cb: Any                      # the GradientHealth of health=True, or None
    n: int                              # training rows (data parallel, sharded: global)
    batch_size: int
    steps: int                          # steps an epoch
    epochs: int
    # Data-parallel training (:mod:`nncore.training.data_parallel`) sets these through
    # :meth:`for_data_parallel`.
    n_local: Optional[int] = None       # sharded: this rank's rows
    evaluate: Optional[Callable] = None  # validation over the ranks (sharded), else None
    native_spec: dict = dataclasses.field(default_factory=dict)  # extra trainer fields
    # fit(metrics=...): the metrics gathered over each epoch's steps (and validation)
    metrics: Any = None
    # a schedule stepped after every batch (its ``interval`` is "step"), else None
    batch_schedule: Any = None

    def for_data_parallel(self, *, native_spec, n_global=None, batch_size=None,
                          evaluate=None):
        """Data-parallel settings: the native engine's extra spec fields and, for sharded
        data, the global row count, the global batch and the validation over the ranks."""
        self.native_spec = dict(native_spec)
        if n_global is not None:
            self.n_local = self.n
            self.n = n_global
            self.batch_size = n_global if batch_size is None else int(batch_size)
            self.steps = math.ceil(n_global / self.batch_size)
        if evaluate is not None:
            self.evaluate = evaluate


def prepare(*, model, x, y, loss, optimizer=None, epochs=1, batch_size=None,
            validation_data=None, validation_split=0.0, class_weight=None,
            sample_weight=None, callbacks=None, health=False, seed=None, allow_empty=False,
            metrics=None, batch_schedule=None, fn="fit"):
    """Check the inputs against the model and build the :class:`Run` (``fn`` names the
    caller in error messages). ``batch_size=None`` is the whole set; ``metrics`` are
    :mod:`nncore.metrics` names or objects; ``batch_schedule`` a schedule stepped after
    every batch."""
    loss_fn = losses_mod.get(loss)
    model.loss = loss_fn
    x = check_x(model, x, "x", fn, allow_empty=allow_empty)
    y = check_y(model, y, len(x), loss_fn, "y", fn, allow_empty=allow_empty)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"{fn}: epochs must be an int >= 0; got {epochs!r}")
    warn_probability_output(model, loss_fn)
    weights = sample_weights(model, y, len(x), class_weight, sample_weight, loss_fn)

    if validation_data is not None:
        x_val, y_val = validation_data
        x_val = check_x(model, x_val, "validation_data[0]")
        y_val = check_y(model, y_val, len(x_val), loss_fn, "validation_data[1]")
        w_val = None
    elif validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"{fn}: validation_split must be in (0, 1); got "
                             f"{validation_split!r}")
        train_idx, val_idx = split_train_validation(y, validation_split, seed, loss_fn)
        check_split(train_idx, val_idx, validation_split, fn, allow_empty)
        x_val, y_val = x[val_idx], y[val_idx]
        w_val = None if weights is None else weights[val_idx]
        x, y = x[train_idx], y[train_idx]
        weights = None if weights is None else weights[train_idx]
    else:
        x_val = y_val = w_val = None

    optimizer = bind_optimizer(model, optimizer, fn)

    callbacks = cb.as_callback_list(callbacks, fn)
    health_cb = None
    if health:
        health_cb = cb.GradientHealth()
        callbacks.append(health_cb)
    for c in callbacks:
        c.model = model
    n = len(x)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"{fn}: batch_size must be a positive int or None; got "
                         f"{batch_size!r}")
    bs = n if batch_size is None else int(batch_size)
    steps = max(math.ceil(n / bs), 1) if n else 0
    return Run(x=x, y=y, weights=weights, x_val=x_val, y_val=y_val, w_val=w_val,
               loss_fn=loss_fn, optimizer=optimizer, callbacks=callbacks,
               health_cb=health_cb, n=n, batch_size=bs, steps=steps, epochs=epochs,
               metrics=metrics_mod.MetricList(metrics) if metrics else None,
               batch_schedule=batch_schedule)


def resolve_loss(model, loss, y, verbose, fn):
    """The loss to train with: ``loss`` when given, else the model's last, else chosen
    from the targets (:func:`nncore.targets.infer_loss`, printed at ``verbose >= 1``)."""
    if loss is not None:
        return loss
    if model.loss is not None:
        return model.loss
    name, why = targets_mod.infer_loss(y, targets_mod.output_features(model))
    if verbose >= 1:
        print(f"{fn}: loss={name!r} chosen from the targets ({why}); pass loss= to choose")
    return name


def bind_optimizer(model, optimizer, fn):
    """The optimiser to train with (default: the model's last, else SGD(lr=0.01)), bound
    to the model's parameters and kept on the model."""
    if optimizer is None:
        optimizer = model.optimizer or SGD(lr=0.01)
    optimizer = optim_mod.get(optimizer)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{fn}: optimizer must be an nncore optimizer; got "
                        f"{type(optimizer).__name__}")
    if not optimizer.bound:
        optimizer.bind(model.parameters())
    optim_mod.check_bound_to(optimizer, model, fn)
    model.optimizer = optimizer
    return optimizer


def sample_weights(model, y, n, class_weight, sample_weight, loss_fn):
    """Per-sample weights from ``sample_weight`` times ``class_weight`` (or None)."""
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, np.float64)
        if w.shape != (n,):
            raise ValueError(f"fit: sample_weight must have shape ({n},); got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("fit: sample_weight must be finite and >= 0")
    if class_weight is not None:
        if not loss_fn.classification:
            raise ValueError("fit: class_weight needs a classification loss")
        cw = weights_mod.class_weights(y, class_weight,
                                       max(targets_mod.output_features(model), 2))
        w = cw if w is None else w * cw
    return None if w is None else w.astype(model.dtype)


def split_train_validation(y, fraction, seed, loss_fn):
    """Seeded train/validation indices, stratified by class for classification."""
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    stratify = loss_fn.classification and (y.ndim == 1 or y.shape[1] == 1)
    return split_indices(len(y), fraction, rng, y.reshape(len(y)) if stratify else None)
