"""Targets: the loss chosen when none is given, and targets checked (and reshaped) against
the model's outputs, with errors that name the likely fix.

The rule for ``loss=None`` (``fit``, ``evaluate``, ``train_on_batch``):

- integer class labels ``y`` of shape ``(n,)`` (or ``(n, 1)``) and a model with several
  outputs: ``"cross_entropy"``;
- anything else: ``"mse"``.

A single-output model accepts ``y`` of shape ``(n,)`` for every elementwise loss (MSE,
L1, Huber, binary cross-entropy), as Keras does: it is read as ``(n, 1)``.
"""
from __future__ import annotations

import numpy as np

from . import _core
from . import losses as losses_mod

__all__ = ["infer_loss", "check_targets", "output_features"]


def output_features(model):
    """Number of outputs of ``model`` (its last layer's features)."""
    features = None
    for layer in model.layers:
        features = layer.output_features(features)
    return features


def _outputs(k):
    return f"{k} output" if k == 1 else f"{k} outputs"


def infer_loss(y, out_features):
    """``("cross_entropy" | "mse", why)`` for targets ``y`` and a model with
    ``out_features`` outputs (the rule in this module's docstring)."""
    y = np.asarray(y)
    labels = y.dtype.kind in "iu" and (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1))
    if labels and out_features is not None and out_features > 1:
        return "cross_entropy", f"integer class labels and {out_features} outputs"
    if labels:
        return "mse", "integer targets but one output (pass loss='bce' for 0/1 labels)"
    return "mse", "real-valued targets"


def check_targets(y, loss_fn, out_features, dtype, fn="fit", name="y"):
    """``y`` as the loss wants it for a model with ``out_features`` outputs: int64 labels
    for cross-entropy, else ``dtype`` of shape ``(n, out_features)`` (``(n,)`` is read as
    ``(n, 1)`` for one output). ValueError naming the likely fix otherwise."""
    y = np.asarray(y)
    n = len(y)
    ce = isinstance(loss_fn, losses_mod.CrossEntropyLoss)
    loss_name = type(loss_fn).__name__
    if ce:
        if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "iu":
            y = y.reshape(n)
        if y.ndim == 1:
            # the losses' own rule (csrc/core/labels.h), with a fit-time message
            bad, why = _core._first_bad_label(y, -1 if out_features is None else out_features)
            if why == "not_whole":
                raise ValueError(
                    f"{fn}: {name} of shape {y.shape} holds non-integer values but "
                    f"{loss_name} reads 1-D targets as class labels: pass integer labels "
                    f"in [0, {out_features}), or probabilities of shape "
                    f"({n}, {out_features})")
            if why == "out_of_range":
                if y[bad] < 0:
                    fix = (f"class labels count from 0, so map {name}'s values to 0, 1, ... "
                           f"(np.unique({name}, return_inverse=True)[1] does)")
                else:
                    fix = (f"give the last Dense layer {int(y.max()) + 1} outputs, or fix the "
                           "labels")
                    if out_features == 1:
                        fix += " (for 0/1 labels and one output, use loss='bce')"
                raise ValueError(
                    f"{fn}: {name}[{bad}] = {y[bad]} is out of range for a model with "
                    f"{_outputs(out_features)} (class labels must be in [0, {out_features})): "
                    f"{fix}")
            return y.astype(np.int64)
        if y.ndim == 2 and (out_features is None or y.shape[1] == out_features):
            return y.astype(dtype, copy=False)
        raise ValueError(
            f"{fn}: {name} has shape {y.shape} but {loss_name} wants class labels ({n},) or "
            f"probabilities ({n}, {out_features}) for a model with {_outputs(out_features)}")
    if y.ndim == 1 and out_features == 1:
        y = y.reshape(n, 1)
    expected = (n, out_features)
    if out_features is not None and y.shape != expected:
        hint = ""
        if y.ndim == 1 and y.dtype.kind in "iu" and out_features > 1:
            hint = (f": {name} looks like class labels, so use loss='cross_entropy' (or "
                    f"one-hot them with nc.one_hot({name}, {out_features}))")
        elif y.ndim == 1:
            hint = f": give the last Dense layer 1 output, or {name} the shape {expected}"
        elif y.ndim == 2:
            hint = (f": give the last Dense layer {y.shape[1]} outputs, or {name} "
                    f"{out_features} columns")
        raise ValueError(f"{fn}: {name} has shape {y.shape} but the model has {out_features} "
                         f"outputs, so {loss_name} needs {name} of shape {expected}{hint}")
    if isinstance(loss_fn, losses_mod.BCEWithLogitsLoss):
        outside = (y < 0) | (y > 1)
        if outside.any():
            idx = tuple(int(i) for i in np.argwhere(outside)[0])
            at = idx[0] if y.shape[1:] == (1,) else idx
            raise ValueError(
                f"{fn}: {name}[{at}] = {y[idx]} is outside [0, 1]: {loss_name} wants 0/1 "
                "labels (or probabilities); for more than two classes use "
                "loss='cross_entropy' with one output per class")
    return y.astype(dtype, copy=False)
