"""What ``fit``, ``evaluate``, ``train_on_batch`` and the scikit-learn estimators check of
their inputs against a model (2-D finite features of the right width, one valid target
per sample), and the two rules about a model's last layer and its loss: a last softmax
(sigmoid) hands a cross-entropy (binary cross-entropy) loss its logits, and a model that
ends in another probability for a logits loss gets a warning."""
from __future__ import annotations

import sys
import warnings

import numpy as np

from . import _core
from . import targets as targets_mod
from .blocks import output_width, takes_nd_input

__all__ = ["check_x", "check_y", "softmax_as_logits", "warn_probability_output"]


def check_x(model, x, name, fn="fit", allow_empty=False):
    """``x`` as a 2-D finite array in the model's dtype with the first layer's width (any
    number of dimensions for a model that starts with a Flatten); TypeError /
    ValueError naming ``name`` (and ``fn``) otherwise. A model whose widths are inferred
    (``Dense(64)``) is built from ``x``'s shape here, as Keras does at the first data."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: {name} must hold real numbers; got dtype {x.dtype}")
    if x.ndim != 2 and not (x.ndim > 2 and takes_nd_input(model.layers)):
        raise ValueError(f"{fn}: {name} must be 2-D (samples, features); got shape {x.shape}")
    if len(x) == 0 and not allow_empty:
        raise ValueError(f"{fn}: {name} is empty (shape {x.shape}): it needs at least "
                         "one sample")
    expected = model.input_shape
    if expected is not None and x.shape[1:] != expected:
        got = f"{x.shape[1]} features" if x.ndim == 2 and len(expected) == 1 else \
            f"samples of shape {x.shape[1:]}"
        raise ValueError(f"{fn}: {name} has {got}; the first layer expects "
                         f"{expected[0] if len(expected) == 1 else expected}")
    if model.built and expected is not None:
        # what build does for a built model given samples of the width it expects: each
        # layer checks the width it gets (a layer replaced since: ValueError)
        output_width(model.layers, x.shape[1] if len(expected) == 1 else expected)
    else:
        model.build((None,) + x.shape[1:])
    x = x.astype(model.dtype, copy=False)
    check_finite(x, name, fn)
    return x


def check_finite(a, name, fn):
    """ValueError naming ``fn``, ``name`` and the first NaN or infinite entry of ``a``
    (its index: an int for 1-D, a tuple otherwise)."""
    if a.dtype.kind != "f":
        return
    if a.size <= 4096:  # small: the entry-by-entry check beats a native call's cost
        if np.isfinite(a).all():
            return
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    elif a.dtype in (np.float32, np.float64) and a.flags.c_contiguous:
        # One native pass at memory speed on the threads (core/finite.h)
        first = _core._first_nonfinite(a)
        if first < 0:
            return
        bad = tuple(int(i) for i in np.unravel_index(first, a.shape))
    else:
        # A NaN or an infinity makes the sum one, so a finite sum clears every entry: one
        # pass and no temporary (a sum that overflows goes on to the entry-by-entry check).
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(a, axis=None)
        if np.isfinite(total) or np.all(np.isfinite(a)):
            return
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    where = bad[0] if len(bad) == 1 else bad
    todo = "before training" if fn in ("fit", "train_on_batch") else f"before {fn}"
    raise ValueError(f"{fn}: {name} contains NaN or infinity (first at index {where}: "
                     f"{a[bad]}); clean the data {todo}")


def check_split(kept, held, fraction, fn="fit", allow_empty=False):
    """ValueError naming ``fn`` and ``validation_split`` when holding out ``fraction``
    left no sample to train on (``kept``) or to validate on (``held``). A rank of a
    sharded fit (``allow_empty``) may hold no rows: the global set is checked there."""
    if allow_empty or (len(kept) and len(held)):
        return
    n = len(kept) + len(held)
    side = "validation" if not len(held) else "training"
    raise ValueError(f"{fn}: validation_split={fraction!r} holds out {len(held)} of {n} "
                     f"sample{'s' * (n != 1)} (rounded per class for classification), which "
                     f"leaves none for {side}: pass more samples, another validation_split "
                     "or validation_data")


def check_y(model, y, n, loss_fn, name="y", fn="fit", allow_empty=False):
    """``y`` as ``n`` finite targets that ``loss_fn`` accepts for the model's outputs
    (:func:`nncore.targets.check_targets`); TypeError / ValueError naming ``name``."""
    y = np.asarray(y)
    if y.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: {name} must hold real numbers; got dtype {y.dtype}")
    if y.ndim == 0 or (len(y) == 0 and not allow_empty):
        raise ValueError(f"{fn}: {name} is empty (shape {y.shape}): it needs one target "
                         f"per sample ({n})")
    if len(y) != n:
        raise ValueError(f"{fn}: {name} must have one target per sample: {n}; got {len(y)}")
    check_finite(y, name, fn)
    return targets_mod.check_targets(y, loss_fn, targets_mod.output_features(model),
                                     model.dtype, fn, name)


def softmax_as_logits(model, loss_fn):
    """Context manager: a model whose last step ends in a probability that ``loss_fn``
    applies itself (softmax with cross-entropy, sigmoid with binary cross-entropy:
    :meth:`nncore.Sequential.logits_head`) outputs the logits before it while the loss
    is computed, so the loss and its gradient are exact (no log of a rounded
    probability, no second sigmoid) and accuracy is that of the probabilities."""
    return _Logits(model if model.logits_head(loss_fn) else None)


def warn_probability_output(model, loss_fn):
    """Warn when the model ends in a softmax/sigmoid but ``loss_fn`` expects logits and
    does not apply that one itself (a sigmoid with cross-entropy, say)."""
    if model.logits_head(loss_fn):
        return  # handled exactly: the loss sees the logits (softmax_as_logits)
    act = model.probability_head()
    if loss_fn.takes_logits and act is not None:
        warnings.warn(f"the model ends in a {act} but {type(loss_fn).__name__} expects "
                      "logits (it applies the softmax/sigmoid itself): remove the final "
                      f"{act} and use predict_proba for probabilities", UserWarning,
                      stacklevel=_user_stacklevel())


def _user_stacklevel():
    """The ``stacklevel`` that points a warning at the first caller outside nncore."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("nncore"):
        frame, level = frame.f_back, level + 1
    return level


class _Logits:
    """Sets the model's ``logits_out`` (its last step runs without its softmax/sigmoid)
    for the length of a ``with`` block; restores what it was."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        if self.model is not None:
            self.before = self.model.logits_out
            self.model.logits_out = True

    def __exit__(self, *exc):
        if self.model is not None:
            self.model.logits_out = self.before
        return False
