"""Normalisation layers: :class:`LayerNorm` and :class:`BatchNorm1d`, with PyTorch's
semantics (parameters ``weight`` and ``bias``; BatchNorm1d's buffers ``running_mean``,
``running_var`` and ``num_batches_tracked``; training and eval mode from the model).

All arithmetic runs in :func:`nncore.functional.layer_norm` / :func:`batch_norm` and their
backward passes; each layer keeps what its backward needs (the input, and the mean and
``rstd = 1 / sqrt(var + eps)`` the forward used) next to its forward.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._layer_base import Layer, Parameter, as_input, workspace, as_dtype

__all__ = ["LayerNorm", "BatchNorm1d", "NORM_LAYERS"]


def _features(features, cls):
    if isinstance(features, bool) or not isinstance(features, (int, np.integer)) or features < 1:
        raise ValueError(f"{cls}: features must be a positive int; got {features!r}")
    return int(features)


def _eps(eps, cls):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"{cls}: eps must be a real number; got {type(eps).__name__}")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"{cls}: eps must be a finite number >= 0; got {eps!r}")
    return float(eps)


class _Norm(Layer):
    """What both layers share: the feature count, the affine parameters, the dtype, the
    feature check and the workspaces."""

    def __init__(self, features, eps, affine, dtype, name):
        super().__init__(name)
        cls = type(self).__name__
        self.features = _features(features, cls)
        self.eps = _eps(eps, cls)
        self._affine = bool(affine)
        self.declared_dtype = None if dtype is None else as_dtype(dtype)
        self.dtype = self.declared_dtype or np.dtype(np.float32)
        self.weight = self.bias = self._scratch = None
        self._x = self._y = self._gx = None
        self.reset_parameters(np.random.default_rng(0))

    def _fresh_buffers(self):
        """Set the buffers to their initial values (BatchNorm1d's running statistics)."""

    def _cast_buffers(self):
        """Cast the buffers to ``self.dtype``, keeping their values."""

    def reset_parameters(self, rng=None, dtype=None):
        """``weight = 1``, ``bias = 0`` and fresh running statistics, in ``dtype``; without
        ``rng`` (a model changing the dtype) the current values are kept, cast."""
        super().reset_parameters(rng, dtype)
        n, d = self.features, self.dtype
        if rng is None and self._scratch is not None:  # not the first call: keep values
            if self._affine:
                self.weight = Parameter(self.weight.data.astype(d), "weight")
                self.bias = Parameter(self.bias.data.astype(d), "bias")
            self._cast_buffers()
        else:
            if self._affine:
                self.weight = Parameter(np.ones(n, d), "weight")
                self.bias = Parameter(np.zeros(n, d), "bias")
            self._fresh_buffers()
        self._x = self._y = self._gx = None
        self._scratch = np.zeros((2, n), d)  # parameter gradients nobody keeps

    def parameters(self):
        return [self.weight, self.bias] if self._affine else []

    def _weights(self):
        return (self.weight.data, self.bias.data) if self._affine else (None, None)

    def _grad_out(self, x):
        self._gx = workspace(self._gx, x.shape, self.dtype)
        if self._affine:
            return self._gx, self.weight.grad, self.bias.grad
        return self._gx, self._scratch[0], self._scratch[1]

    def _input(self, x):
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{type(self).__name__}: x must be a real floating or integer "
                            f"array; got dtype {x.dtype}")
        x = as_input(x, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.features:
            raise ValueError(f"{type(self).__name__}: x must have {self.features} features "
                             f"(last axis); got x of shape {x.shape}")
        return x

    def output_features(self, in_features):
        if in_features is not None and in_features != self.features:
            raise ValueError(f"{type(self).__name__}: expects {self.features} input features; "
                             f"the previous layer gives {in_features}")
        return self.features


class LayerNorm(_Norm):
    """Layer normalisation over the last axis, as ``torch.nn.LayerNorm(features)``:
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the biased
    variance of each row (sample). The same in training and eval mode.

    Parameters
    ----------
    features : int
        Size of the last axis (torch's ``normalized_shape`` as one int).
    eps : float
        Added to the variance.
    elementwise_affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros), each of shape ``(features,)``.
    dtype : "float32" or "float64", optional
        Default: the model's dtype (float32 outside a model).
    """

    def __init__(self, features, eps=1e-5, elementwise_affine=True, dtype=None, name=None):
        self.elementwise_affine = bool(elementwise_affine)
        super().__init__(features, eps, elementwise_affine, dtype, name)
        self._mean = self._rstd = None

    def forward(self, x):
        """Each row of ``x`` (shape ``(..., features)``) normalised. Returns the layer's
        output workspace (reused while the shape stays the same)."""
        x = self._input(x)
        self._x = x
        self._y = workspace(self._y, x.shape, self.dtype)
        self._mean = workspace(self._mean, x.shape[:-1], self.dtype)
        self._rstd = workspace(self._rstd, x.shape[:-1], self.dtype)
        w, b = self._weights()
        F.layer_norm(x, w, b, self.eps, out=(self._y, self._mean, self._rstd))
        return self._y

    def backward(self, grad_y):
        """Set ``weight.grad`` and ``bias.grad`` from ``grad_y`` and return d loss /
        d input."""
        if self._x is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        grad_y = as_input(grad_y, self.dtype)
        out = self._grad_out(self._x)
        F.layer_norm_backward(self._x, self._mean, self._rstd, grad_y, self._weights()[0],
                              out=out)
        return self._gx

    def get_config(self):
        return {"features": self.features, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine}


class BatchNorm1d(_Norm):
    """Batch normalisation of ``(batch, features)`` inputs, as ``torch.nn.BatchNorm1d``.

    Training mode: each feature is normalised with the mean and biased variance of the
    batch (at least two rows), and the running statistics follow
    ``running = (1 - momentum) * running + momentum * batch_value``, with the batch's
    unbiased variance for ``running_var``. Eval mode (``model.eval()``, ``predict``,
    ``evaluate``): the running statistics normalise (the batch statistics when
    ``track_running_stats=False``). ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Parameters
    ----------
    features : int
    eps : float
        Added to the variance.
    momentum : float in [0, 1] or None
        Weight of the batch in the running statistics; None: their cumulative average
        (``1 / num_batches_tracked``), as torch.
    affine : bool
        Learn ``weight`` (ones) and ``bias`` (zeros), each of shape ``(features,)``.
    track_running_stats : bool
        Keep ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked``.
    dtype : "float32" or "float64", optional
        Default: the model's dtype (float32 outside a model).
    """

    def __init__(self, features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None, name=None):
        if momentum is not None:
            if isinstance(momentum, bool) or not isinstance(
                    momentum, (int, float, np.integer, np.floating)):
                raise TypeError(f"BatchNorm1d: momentum must be a real number or None; got "
                                f"{type(momentum).__name__}")
            if not 0 <= momentum <= 1:
                raise ValueError(f"BatchNorm1d: momentum must be in [0, 1]; got {momentum!r}")
            momentum = float(momentum)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.running_mean = self.running_var = None
        self.num_batches_tracked = 0
        super().__init__(features, eps, affine, dtype, name)
        self._mean = self._rstd = None
        self._batch_stats = True

    def _fresh_buffers(self):
        if self.track_running_stats:
            self.running_mean = np.zeros(self.features, self.dtype)
            self.running_var = np.ones(self.features, self.dtype)
        self.num_batches_tracked = 0

    def _cast_buffers(self):
        if self.track_running_stats:
            self.running_mean = self.running_mean.astype(self.dtype)
            self.running_var = self.running_var.astype(self.dtype)

    def forward(self, x):
        """``x`` of shape ``(batch, features)`` normalised with the batch statistics
        (training mode, updating the running ones) or the running statistics (eval mode).
        Returns the layer's output workspace."""
        x = self._input(x)
        self._x = x
        # torch: the batch's statistics in training, or whenever there are no running ones
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats and x.ndim == 2 and len(x) < 2:
            raise ValueError(f"BatchNorm1d: batch statistics need more than one row (as in "
                             f"torch.nn.BatchNorm1d); got x of shape {x.shape}. In fit, choose "
                             "a batch_size that leaves no last batch of one row")
        update = self.training and self.track_running_stats
        momentum = 0.0
        if update:
            self.num_batches_tracked += 1
            momentum = self.momentum if self.momentum is not None else \
                1.0 / self.num_batches_tracked
        self._y = workspace(self._y, x.shape, self.dtype)
        self._mean = workspace(self._mean, (self.features,), self.dtype)
        self._rstd = workspace(self._rstd, (self.features,), self.dtype)
        w, b = self._weights()
        track = self.track_running_stats and (update or not self._batch_stats)
        F.batch_norm(x, self.running_mean if track else None,
                     self.running_var if track else None, w, b, self._batch_stats, momentum,
                     self.eps, out=(self._y, self._mean, self._rstd))
        return self._y

    def backward(self, grad_y):
        """Set ``weight.grad`` and ``bias.grad`` from ``grad_y`` and return d loss /
        d input (through the batch statistics when the forward used them)."""
        if self._x is None:
            raise RuntimeError("BatchNorm1d.backward called before forward")
        grad_y = as_input(grad_y, self.dtype)
        out = self._grad_out(self._x)
        F.batch_norm_backward(self._x, self._mean, self._rstd, grad_y, self._weights()[0],
                              self._batch_stats, out=out)
        return self._gx

    def buffers(self):
        """The running statistics: ``{"running_mean", "running_var",
        "num_batches_tracked"}`` (the arrays themselves; empty without
        ``track_running_stats``)."""
        if not self.track_running_stats:
            return {}
        return {"running_mean": self.running_mean, "running_var": self.running_var,
                "num_batches_tracked": np.array(self.num_batches_tracked, np.int64)}

    def load_buffers(self, buffers):
        """Copy ``buffers`` (as :meth:`buffers` returns them, or some of them) into the
        layer; shapes are checked before anything is written (ValueError), unknown names
        are a KeyError."""
        unknown = set(buffers) - {"running_mean", "running_var", "num_batches_tracked"}
        if unknown:
            raise KeyError(f"BatchNorm1d.load_buffers: unknown buffers {sorted(unknown)}; "
                           "it has running_mean, running_var and num_batches_tracked")
        for name in ("running_mean", "running_var"):
            if name in buffers and np.asarray(buffers[name]).shape != (self.features,):
                raise ValueError(f"BatchNorm1d.load_buffers: {name} must have shape "
                                 f"({self.features},); got {np.asarray(buffers[name]).shape}")
        for name in ("running_mean", "running_var"):
            if name in buffers:
                getattr(self, name)[...] = np.asarray(buffers[name])
        if "num_batches_tracked" in buffers:
            self.num_batches_tracked = int(buffers["num_batches_tracked"])

    def get_config(self):
        return {"features": self.features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}


#: The normalisation layer classes, by name.
NORM_LAYERS = {"LayerNorm": LayerNorm, "BatchNorm1d": BatchNorm1d}
