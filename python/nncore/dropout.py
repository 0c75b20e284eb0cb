"""Dropout: inverted dropout with reproducible, thread-count-independent masks."""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._layer_base import Layer, workspace
from .runtime import default_rng

__all__ = ["Dropout"]

_MASK64 = (1 << 64) - 1


def _mix(seed, k):
    """splitmix64 of ``seed + k * golden``: the seed of a layer's ``k``-th mask."""
    z = (seed + (k + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class Dropout(Layer):
    """Inverted dropout: in training mode each element is zeroed with probability ``p``
    and the rest are scaled by ``1 / (1 - p)``; in eval mode (``model.eval()``,
    ``predict``, ``evaluate``) it is the identity.

    Masks come from :func:`nncore.functional.dropout`, seeded per call from the layer's
    seed (set from the model's ``seed``) and a call count, so a run is reproducible bit
    for bit at any thread count. The seed and the count are saved with the model.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping an element.
    seed : int, optional
        The layer's seed; a model's ``seed`` replaces it. Default: drawn at random (from
        :func:`nncore.manual_seed`'s stream when set).
    """

    def __init__(self, p=0.5, seed=None, calls=0, name=None):
        super().__init__(name)
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"Dropout: p must be a real number; got {type(p).__name__}")
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1); got {p!r}")
        self.p = float(p)
        self.seed = int(default_rng().integers(2 ** 63)) if seed is None else \
            int(seed) & _MASK64
        self.calls = int(calls)
        self._mask = self._y = None

    def reset_parameters(self, rng=None, dtype=None):
        super().reset_parameters(rng, dtype)
        if rng is not None:
            self.seed = int(rng.integers(2 ** 63))
            self.calls = 0

    def forward(self, x):
        """``x`` with elements dropped and the rest scaled (training mode), or ``x``
        itself (eval mode, or ``p = 0``)."""
        x = np.asarray(x)
        if not self.training or self.p == 0:
            self._mask = None
            self._y = x
            return x
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(self.dtype)
        self._mask = workspace(self._mask, x.shape, x.dtype)  # never leaves the layer
        self._y, _ = F.dropout(x, self.p, _mix(self.seed, self.calls), mask=self._mask)
        self.calls += 1
        return self._y

    @property
    def mask(self):
        """The mask of the last forward (0 for a dropped element, ``1 / (1 - p)`` for a
        kept one), or None when it dropped nothing (eval mode, ``p = 0``)."""
        return self._mask

    def backward(self, grad_y):
        """``grad_y`` times the last mask (``grad_y`` itself in eval mode)."""
        if self._y is None:
            raise RuntimeError("Dropout.backward called before forward")
        if self._mask is None:
            return grad_y
        grad_y = np.asarray(grad_y, self._mask.dtype)
        return F.dropout_backward(self._mask, grad_y)

    def get_config(self):
        return {"p": self.p, "seed": self.seed, "calls": self.calls}
