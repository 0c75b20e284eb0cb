"""Loss objects: call them for the loss, then ``backward()`` for its gradient.

Both come from one fused native call (``nncore.functional.*_and_grad``), and the
gradient is written into a buffer reused while the batch shape stays the same.
"""
from __future__ import annotations

import numpy as np

from . import functional as F

__all__ = ["Loss", "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "get"]


class Loss:
    """Base class. ``loss = loss_fn(pred, target)`` then ``grad = loss_fn.backward()``."""

    _fn = None
    takes_logits = False  # True for losses that apply softmax/sigmoid themselves
    classification = False

    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or "
                             f"'none'; got {reduction!r}")
        self.reduction = reduction
        self._grad = None

    def __call__(self, pred, target, sample_weight=None):
        """The loss of ``pred`` against ``target`` (a float, or an array for
        ``reduction="none"``); the gradient is kept for :meth:`backward`.

        Parameters
        ----------
        pred : array_like
            Network outputs (logits for the logits losses); float32 or float64 (other
            types are computed in float64).
        target : array_like
            Same shape as ``pred``, or integer class labels ``(batch,)`` for
            cross-entropy. Float targets are computed in ``pred``'s dtype.
        sample_weight : array_like (batch,), optional
            Weight of each sample: ``mean`` is ``sum(w_i * l_i) / sum(w_i)``.
        """
        pred = np.asarray(pred)
        dtype = pred.dtype if pred.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        pred = pred.astype(dtype, copy=False)
        target = np.asarray(target)
        if target.dtype.kind == "f" or (target.dtype.kind in "iu" and
                                        target.shape == pred.shape):
            target = target.astype(dtype, copy=False)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.dtype.kind in "fiu":
                sample_weight = sample_weight.astype(dtype, copy=False)
        if self._grad is None or self._grad.shape != pred.shape or self._grad.dtype != dtype:
            self._grad = np.empty(pred.shape, dtype)
        loss, _ = self._fn(pred, target, self.reduction, sample_weight=sample_weight,
                           out=self._grad)
        return loss

    forward = __call__

    def backward(self):
        """Gradient of the last loss computed with respect to ``pred``."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss")
        return self._grad

    def get_config(self):
        return {"reduction": self.reduction}

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(Loss):
    """Mean squared error, ``mean((pred - target)**2)`` (``reduction="sum"``: the sum).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.mse_loss_and_grad)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (log-softmax and negative log-likelihood fused).

    Targets are integer class labels ``(batch,)`` or probabilities ``(batch, classes)``.
    Give it logits: a model ending in Softmax gets a warning from ``fit``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.cross_entropy_and_grad)
    takes_logits = True
    classification = True


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits, the sigmoid applied inside (stable for any logit).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.binary_cross_entropy_with_logits_and_grad)
    takes_logits = True
    classification = True


_BY_NAME = {
    "mse": MSELoss, "mse_loss": MSELoss, "mean_squared_error": MSELoss,
    "cross_entropy": CrossEntropyLoss, "categorical_crossentropy": CrossEntropyLoss,
    "sparse_categorical_crossentropy": CrossEntropyLoss,
    "bce_with_logits": BCEWithLogitsLoss, "binary_cross_entropy_with_logits": BCEWithLogitsLoss,
    "binary_crossentropy": BCEWithLogitsLoss,
}


def get(loss):
    """A loss object from an instance or a name (``"mse"``, ``"cross_entropy"``, ...)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _BY_NAME:
        return _BY_NAME[loss]()
    raise ValueError(f"loss must be a Loss instance or one of {sorted(_BY_NAME)}; got {loss!r}")
