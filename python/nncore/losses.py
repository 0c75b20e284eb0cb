"""Loss objects: call them for the loss, then ``backward()`` for its gradient.

Both come from one fused native call (``nncore.functional.*_and_grad``); the gradient
``backward()`` returns is a new array per loss computed, the caller's to keep.
"""
from __future__ import annotations

import numpy as np

from . import functional as F

__all__ = ["Loss", "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "L1Loss", "HuberLoss",
           "get"]


class Loss:
    """Base class. ``loss = loss_fn(pred, target)`` then ``grad = loss_fn.backward()``."""

    _fn = None
    takes_logits = False  # True for losses that apply softmax/sigmoid themselves
    classification = False
    # The native training engine's name for this loss class (csrc/core/train.h), or None.
    # Read from the class itself: a subclass trains natively only when it says so.
    native = None

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
            cross-entropy. For one output (``pred`` of shape ``(batch, 1)``) a target of
            shape ``(batch,)`` is read as ``(batch, 1)``. Float targets are computed in
            ``pred``'s dtype.
        sample_weight : array_like (batch,), optional
            Weight of each sample: ``mean`` is ``sum(w_i * l_i) / sum(w_i)``.
        """
        pred = np.asarray(pred)
        dtype = pred.dtype if pred.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        pred = pred.astype(dtype, copy=False)
        target = np.asarray(target)
        if not isinstance(self, CrossEntropyLoss):
            if pred.ndim == 2 and pred.shape[1] == 1 and target.shape == pred.shape[:1]:
                target = target.reshape(pred.shape)  # (n,) targets for one output
        if target.dtype.kind == "f" or (target.dtype.kind in "iu" and
                                        target.shape == pred.shape):
            target = target.astype(dtype, copy=False)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.dtype.kind in "fiu":
                sample_weight = sample_weight.astype(dtype, copy=False)
        loss, self._grad = self._fn(pred, target, self.reduction, sample_weight=sample_weight)
        return loss

    forward = __call__

    def backward(self):
        """Gradient of the last loss computed with respect to ``pred`` (an array of its
        own: the next loss computed makes a new one)."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss")
        return self._grad

    def values_per_sample(self, pred):
        """How many values of a sample's prediction ``reduction="mean"`` averages over
        (all its outputs; 1 for cross-entropy, whose loss is one value per sample)."""
        return int(np.prod(np.shape(pred)[1:])) if np.ndim(pred) > 1 else 1

    def mean_of_sum(self, total, samples, pred):
        """The ``reduction="mean"`` value of a loss summed over batches (``total``):
        ``total / (samples * values_per_sample(pred))``, with ``samples`` the number of
        samples or the sum of their weights; the rule the loss kernels apply to a batch."""
        return total / (samples * self.values_per_sample(pred))

    def get_config(self):
        return {"reduction": self.reduction}

    def with_reduction(self, reduction):
        """A new loss of the same kind and options with another ``reduction``."""
        return type(self)(**{**self.get_config(), "reduction": reduction})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MSELoss(Loss):
    """Mean squared error, ``mean((pred - target)**2)`` (``reduction="sum"``: the sum).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.mse_loss_and_grad)
    native = "mse"


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (log-softmax and negative log-likelihood fused).

    Targets are integer class labels ``(batch,)`` or probabilities ``(batch, classes)``.
    Give it logits: a model ending in Softmax gets a warning from ``fit``.

    ``weight`` and ``label_smoothing`` are ``torch.nn.CrossEntropyLoss``'s: each class's
    loss term is scaled by its weight, and the target becomes ``(1 - label_smoothing)``
    times itself plus ``label_smoothing / classes`` on every class. With class labels,
    ``"mean"`` divides by the sum of the weights of the samples' labels (times their
    ``sample_weight``); with probability targets, by the number of samples (the sum of
    ``sample_weight``). Both run as one native probability-target call on the smoothed,
    weighted targets (the python engine trains such a loss).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    weight : array_like (classes,), optional
        Non-negative weight per class.
    label_smoothing : float
        In [0, 1].
    """
    native = "cross_entropy"
    takes_logits = True
    classification = True

    def __init__(self, reduction="mean", weight=None, label_smoothing=0.0):
        super().__init__(reduction)
        if weight is not None:
            weight = np.asarray(weight, np.float64)
            if weight.ndim != 1 or not np.all(np.isfinite(weight)) or np.any(weight < 0):
                raise ValueError(f"CrossEntropyLoss: weight must be a 1-D array of finite "
                                 f"numbers >= 0 (one per class); got shape {weight.shape}")
        if isinstance(label_smoothing, bool) or not isinstance(
                label_smoothing, (int, float, np.floating, np.integer)) or \
                not 0 <= label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1]; "
                             f"got {label_smoothing!r}")
        self.weight, self.label_smoothing = weight, float(label_smoothing)
        self._sum_owner = None
        self._sum_weights = 0.0

    def _fn(self, pred, target, reduction, sample_weight=None, out=None):
        if self.weight is None and not self.label_smoothing:
            return F.cross_entropy_and_grad(pred, target, reduction,
                                            sample_weight=sample_weight, out=out)
        if pred.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: with weight or label_smoothing, pred must be "
                             f"(batch, classes); got shape {pred.shape}")
        targets, scale, shares = self.scaled_targets(target, sample_weight, pred.shape[1],
                                                     pred.dtype)
        # the rows' shares summed in row order (the native engine sums them alike)
        denominator = float(np.cumsum(shares)[-1]) if len(shares) else 0.0
        if reduction == "sum" and self._sum_owner is not None:
            self._sum_owner._sum_weights += denominator
        if reduction == "mean":
            scale = scale / denominator
        return F.cross_entropy_and_grad(pred, targets, "none" if reduction == "none" else "sum",
                                        sample_weight=scale.astype(pred.dtype), out=out)

    def scaled_targets(self, target, sample_weight, classes, dtype):
        """Row by row, what the loss with ``weight`` or ``label_smoothing`` computes from:
        (the smoothed, class-weighted probability targets in ``dtype``, each row's sample
        weight and its share of the ``"mean"`` denominator, both float64). A batch's loss
        is the sum of its rows' cross-entropy with these targets, each times its weight
        over the sum of the batch's shares."""
        fn = "CrossEntropyLoss"
        n = len(target)
        w = np.ones(classes) if self.weight is None else self.weight
        if len(w) != classes:
            raise ValueError(f"{fn}: weight has {len(w)} entries for {classes} classes")
        sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
        eps = self.label_smoothing
        if target.ndim == 1:
            if target.dtype.kind not in "iu":
                raise TypeError(f"{fn}: class labels must be integers; got {target.dtype}")
            if n and (target.min() < 0 or target.max() >= classes):
                raise ValueError(f"{fn}: labels must be in [0, {classes}); got "
                                 f"{target.min()}..{target.max()}")
            w_label = w[target]
            targets = np.tile(w * (eps / classes), (n, 1))
            targets[np.arange(n), target] += (1 - eps) * w_label
            shares = sw * w_label
        else:
            if target.ndim != 2 or target.shape[1] != classes:
                raise ValueError(f"{fn}: probability targets must have {classes} columns "
                                 f"(pred's); got shape {target.shape}")
            targets = (target * (1 - eps) + eps / classes) * w
            shares = sw
        return targets.astype(dtype), sw, shares

    def with_reduction(self, reduction):
        new = type(self)(**{**self.get_config(), "reduction": reduction})
        if reduction == "sum":  # evaluate sums over batches: keep its mean's denominator
            self._sum_weights = 0.0
            new._sum_owner = self
        return new

    def mean_of_sum(self, total, samples, pred):
        if self.weight is not None or self.label_smoothing:
            return total / self._sum_weights if self._sum_weights else float("nan")
        return super().mean_of_sum(total, samples, pred)

    def get_config(self):
        config = {"reduction": self.reduction}
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config

    def values_per_sample(self, pred):
        return 1


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits, the sigmoid applied inside (stable for any logit).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.binary_cross_entropy_with_logits_and_grad)
    native = "bce_logits"
    takes_logits = True
    classification = True


class L1Loss(Loss):
    """Mean absolute error, ``mean(|pred - target|)`` (PyTorch's ``L1Loss``, Keras's
    ``"mae"``). The gradient is ``sign(pred - target)`` (0 where they are equal).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    """
    _fn = staticmethod(F.l1_loss_and_grad)
    native = "l1"


class HuberLoss(Loss):
    """Huber loss (PyTorch's ``HuberLoss``): with ``d = pred - target``, ``0.5 * d**2``
    where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``; quadratic near the target,
    linear (robust to outliers) beyond ``delta``.

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}
    delta : float > 0
    """

    native = "huber"

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating,
                                                             np.integer)):
            raise TypeError(f"HuberLoss: delta must be a real number; got "
                            f"{type(delta).__name__}")
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"HuberLoss: delta must be a finite number > 0; got {delta!r}")
        self.delta = float(delta)

    def _fn(self, pred, target, reduction, sample_weight=None, out=None):
        return F.huber_loss_and_grad(pred, target, reduction, self.delta,
                                     sample_weight=sample_weight, out=out)

    def get_config(self):
        return {"reduction": self.reduction, "delta": self.delta}


_BY_NAME = {
    "mae": L1Loss, "l1": L1Loss, "l1_loss": L1Loss, "mean_absolute_error": L1Loss,
    "huber": HuberLoss, "huber_loss": HuberLoss, "bce": BCEWithLogitsLoss,
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
