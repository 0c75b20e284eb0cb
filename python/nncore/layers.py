"""Layers with explicit forward and backward passes.

Each layer keeps what its backward needs next to its forward, as the tutorials teach:
``forward(x)`` stores the input and output, ``backward(grad_y)`` returns the gradient
on the input and sets the gradients of its parameters. All arithmetic runs in
:mod:`nncore.functional`.

Outputs and gradients are written into per-layer workspaces that are reused while the
batch size stays the same, so a warm training step allocates no new arrays. Copy a
returned array if you need it after the next call.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import initializers
from ._layer_base import Layer, Parameter, _as_input, _workspace, as_dtype
from .activation_layers import (ACTIVATION_LAYERS, GELU, Identity, LeakyReLU, ReLU, Sigmoid,
                                SiLU, Softmax, Softplus, Tanh, activation_layer)
from .activations import FROM_INPUT, canonical

__all__ = ["Parameter", "Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax",
           "Identity", "GELU", "SiLU", "Softplus", "ACTIVATION_LAYERS", "activation_layer",
           "as_dtype"]


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ w + b)``.

    Parameters
    ----------
    in_features, out_features : int
        ``w`` has shape ``(in_features, out_features)`` — the layout of Keras's ``Dense``
        kernel and the transpose of PyTorch's ``Linear.weight``.
    activation : {None, "identity", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", \
"gelu", "gelu_tanh", "silu", "softplus"}
        Fused into the matrix product's store (gelu is exact, ``"gelu_tanh"`` PyTorch's
        ``approximate="tanh"``; gelu, silu and softplus, whose backward needs the
        pre-activation, have the store keep it too); softmax (over each row) follows it
        as a second native call. A last
        ``"softmax"`` layer outputs probabilities; trained with cross-entropy, the loss
        is computed exactly from the logits before it.
    use_bias : bool
    init : str or callable
        Weight initialiser (see :mod:`nncore.initializers`); default He for ReLU-family
        activations, Glorot otherwise.
    bias_init : str or callable
    slope : float
        Negative slope for ``leaky_relu``.
    dtype : "float32" or "float64", optional
        Default: the model's dtype (float32 outside a model).
    seed : int or numpy.random.Generator, optional
        For the initial weights (a model's ``seed`` re-initialises them).
    """

    def __init__(self, in_features, out_features, activation=None, use_bias=True, init=None,
                 bias_init="zeros", slope=0.01, dtype=None, seed=None, name=None):
        super().__init__(name)
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Dense: {arg} must be a positive int; got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = canonical(activation, "Dense")
        self.use_bias = bool(use_bias)
        self.slope = float(slope)
        self.init_name = init if isinstance(init, str) or init is None else \
            getattr(init, "__name__", "custom")
        self._init = initializers.get(init or initializers.default_for(self.activation))
        self._bias_init = initializers.get(bias_init)
        self.declared_dtype = None if dtype is None else as_dtype(dtype)
        self.dtype = self.declared_dtype or np.dtype(np.float32)
        self.w = self.b = None
        self._x = self._y = self._gx = self._gb_scratch = None
        self._applied = None  # (activation, slope, need_grad_x) of the last forward
        self.reset_parameters(np.random.default_rng(seed))

    @property
    def effective_activation(self):
        """The activation the last forward applied: the layer's own, or the one a model
        fused into it (see :class:`nncore.Sequential`); the layer's own before any."""
        return self.activation if self._applied is None else self._applied[0]

    def reset_parameters(self, rng=None, dtype=None):
        super().reset_parameters(rng, dtype)
        rng = rng if rng is not None else np.random.default_rng()
        fan_in, fan_out = self.in_features, self.out_features
        w = self._init((fan_in, fan_out), fan_in, fan_out, rng, self.dtype)
        self.w = Parameter(np.asarray(w, self.dtype), "w")
        if self.use_bias:
            b = self._bias_init((fan_out,), fan_in, fan_out, rng, self.dtype)
            self.b = Parameter(np.asarray(b, self.dtype), "b")
        else:
            self.b = None
            self._gb_scratch = np.zeros(fan_out, self.dtype)
        self._x = self._y = self._gx = self._applied = None

    def set_weights(self, w, b=None):
        """Copy given weights (shape ``(in, out)``) and bias into the layer."""
        w = np.asarray(w, self.dtype)
        if w.shape != self.w.shape:
            raise ValueError(f"Dense.set_weights: w must have shape {self.w.shape}; "
                             f"got {w.shape}")
        self.w.data[...] = w
        if b is not None:
            if not self.use_bias:
                raise ValueError("Dense.set_weights: this layer has no bias (use_bias=False)")
            b = np.asarray(b, self.dtype)
            if b.shape != self.b.shape:
                raise ValueError(f"Dense.set_weights: b must have shape {self.b.shape}; "
                                 f"got {b.shape}")
            self.b.data[...] = b

    def forward(self, x, activation=None, slope=None, need_grad_x=True):
        """``activation(x @ w + b)`` for ``x`` of shape ``(batch, in_features)`` or
        ``(in_features,)``, cast to the layer's dtype. Returns the layer's output workspace
        (reused while the batch size stays the same).

        ``activation`` and ``slope`` replace the layer's own for this pass: a model fuses
        an activation layer that follows a Dense without activation this way, in the
        product's store. ``need_grad_x=False`` makes the next :meth:`backward` skip d loss
        / d input (a model's first layer). :meth:`backward` follows the last forward."""
        x = _as_input(x, self.dtype)
        act = self.activation if activation is None else canonical(activation, "Dense")
        slope = self.slope if slope is None else float(slope)
        self._applied = (act, slope, bool(need_grad_x))
        shape = (self.out_features,) if np.ndim(x) == 1 else (len(x), self.out_features)
        self._y = _workspace(self._y, shape, self.dtype)
        self._x = x
        softmax = act == "softmax"
        z = None
        if act in FROM_INPUT:  # backward needs the pre-activation: the store keeps it
            z = self._z = _workspace(getattr(self, "_z", None), shape, self.dtype)
        F.dense_forward(x, self.w.data, None if self.b is None else self.b.data,
                        "identity" if softmax else act, slope=slope, out=self._y, z_out=z)
        if softmax:
            F.softmax(self._y, out=self._y)
        return self._y

    def backward(self, grad_y):
        """Set ``w.grad`` and ``b.grad`` from ``grad_y`` (d loss / d output, the shape of
        the last output) and return d loss / d input (None when the last forward was told
        ``need_grad_x=False``: a model's first layer skips it)."""
        if self._x is None:
            raise RuntimeError("Dense.backward called before forward")
        grad_y = _as_input(grad_y, self.dtype)
        act, slope, need_grad_x = self._applied
        gx = None
        if need_grad_x:
            self._gx = _workspace(self._gx, np.shape(self._x), self.dtype)
            gx = self._gx
        gb = self.b.grad if self.b is not None else self._gb_scratch
        if act == "softmax":  # through the softmax, from its output
            self._gz = _workspace(getattr(self, "_gz", None), self._y.shape, self.dtype)
            grad_y = F.softmax_backward(self._y, grad_y, out=self._gz)
            act = "identity"
        y_or_z = self._z if act in FROM_INPUT else self._y
        grad_x, _, _ = F.dense_backward(self._x, self.w.data, y_or_z, grad_y, act, slope=slope,
                                        need_grad_x=need_grad_x,
                                        out=(gx, self.w.grad, gb))
        return grad_x

    def parameters(self):
        return [self.w] if self.b is None else [self.w, self.b]

    def output_features(self, in_features):
        if in_features is not None and in_features != self.in_features:
            raise ValueError(f"Dense: expects {self.in_features} input features; the "
                             f"previous layer gives {in_features}")
        return self.out_features

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": self.activation, "use_bias": self.use_bias,
                "slope": self.slope}
