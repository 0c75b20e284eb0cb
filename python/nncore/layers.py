"""Layers with explicit forward and backward passes.

Each layer keeps what its backward needs next to its forward, as the tutorials teach:
``forward(x)`` stores the input and output, ``backward(grad_y)`` returns the gradient
on the input and sets the gradients of its parameters. All arithmetic runs in
:mod:`nncore.functional`.

What ``forward`` and ``backward`` return is a new array each call: it belongs to the
caller and nncore never writes it again (``[layer.forward(b) for b in batches]`` keeps
every batch's output). Scratch arrays that never leave a layer (pre-activations,
gradients on them) are reused while the batch size stays the same.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import initializers
from ._layer_base import (Layer, Parameter, aligned_copy, aligned_zeros_like, as_input, workspace,
                          as_dtype)
from .activation_layers import (ACTIVATION_LAYERS, GELU, Identity, LeakyReLU, ReLU, Sigmoid,
                                SiLU, Softmax, Softplus, Tanh, activation_layer)
from .activations import FROM_INPUT, canonical
from .runtime import default_rng

__all__ = ["Parameter", "Layer", "Dense", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax",
           "Identity", "GELU", "SiLU", "Softplus", "ACTIVATION_LAYERS", "activation_layer",
           "as_dtype"]


def _renewed(param, values, dtype, name):
    """``param`` (the same Parameter, when there is one) holding ``values`` in ``dtype``
    with a zero gradient."""
    data = aligned_copy(values, dtype)  # a fresh array (values are an initializer's)
    if param is None:
        return Parameter(data, name)
    param.data, param.grad = data, aligned_zeros_like(data)
    return param


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ w + b)``.

    ``Dense(in_features, out_features, activation)`` (PyTorch's ``Linear`` order) or,
    as Keras's ``Dense(units)``, ``Dense(out_features)`` / ``Dense(out_features,
    activation)``: the input width is then inferred when the layer is built, from
    ``Sequential(..., input_shape=...)``, ``model.build`` or the first data the model
    (or the layer) sees. Until then the layer has no weights: ``parameters()`` raises
    ValueError (build the model first, as Keras requires before ``model.weights``).

    Parameters
    ----------
    in_features, out_features : int
        ``w`` has shape ``(in_features, out_features)`` — the layout of Keras's ``Dense``
        kernel and the transpose of PyTorch's ``Linear.weight``. With one width given
        (or ``in_features=None``) it is ``out_features``.
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
        For the initial weights (a model's ``seed`` re-initialises them). Default: fresh
        entropy, or the :func:`nncore.manual_seed` stream when set.
    """

    def __init__(self, in_features=None, out_features=None, activation=None, use_bias=True,
                 init=None, bias_init="zeros", slope=0.01, dtype=None, seed=None, name=None):
        super().__init__(name)
        if isinstance(out_features, str) or (out_features is None and in_features is not None):
            # Keras's Dense(units) / Dense(units, activation): the input width is inferred
            if isinstance(out_features, str):
                if activation is not None:
                    raise ValueError(f"Dense: activation given twice ({out_features!r} and "
                                     f"activation={activation!r})")
                activation = out_features
            in_features, out_features = None, in_features
        for arg, v in (("in_features", in_features), ("out_features", out_features)):
            if (arg == "out_features" or v is not None) and (
                    isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"Dense: {arg} must be a positive int; got {v!r}")
        self.in_features = None if in_features is None else int(in_features)
        self.out_features = int(out_features)
        self.activation = canonical(activation, "Dense")
        self.use_bias = bool(use_bias)
        self.slope = float(slope)
        self.init_name = init if isinstance(init, str) or init is None else \
            getattr(init, "__name__", "custom")
        self._init = initializers.get(init or initializers.default_for(self.activation))
        self._bias_init = initializers.get(bias_init)
        self.declared_dtype = None if dtype is None else as_dtype(dtype)
        self.dtype = self.declared_dtype or np.dtype(np.float32)
        self._w = self._b = None
        self._x = self._y = self._gb_scratch = None
        self._applied = None  # (activation, slope, need_grad_x) of the last forward
        self._build_rng = default_rng(seed)  # for a width inferred later
        self.reset_parameters(self._build_rng)

    @property
    def effective_activation(self):
        """The activation the last forward applied: the layer's own, or the one a model
        fused into it (see :class:`nncore.Sequential`); the layer's own before any."""
        return self.activation if self._applied is None else self._applied[0]

    def reset_parameters(self, rng=None, dtype=None):
        """Re-initialise ``w`` and ``b`` from ``rng`` in ``dtype``. The Parameter objects
        stay the same (an optimiser bound to them keeps them); their values, gradients
        and dtype are new."""
        super().reset_parameters(rng, dtype)
        if self.in_features is None:  # not built: build() makes the weights
            return
        rng = rng if rng is not None else default_rng()
        fan_in, fan_out = self.in_features, self.out_features
        w = self._init((fan_in, fan_out), fan_in, fan_out, rng, self.dtype)
        self._w = _renewed(self._w, w, self.dtype, "w")
        if self.use_bias:
            b = self._bias_init((fan_out,), fan_in, fan_out, rng, self.dtype)
            self._b = _renewed(self._b, b, self.dtype, "b")
        else:
            self._b = None
            self._gb_scratch = np.zeros(fan_out, self.dtype)
        self._x = self._y = self._applied = None

    @property
    def w(self):
        """The weights, a :class:`Parameter` of shape ``(in_features, out_features)``.
        Assigning an array copies it in (shape and dtype checked at once, values cast to
        the layer's dtype), so a bound optimiser keeps training it; assigning a Parameter
        of the same shape and dtype replaces it (an optimiser bound to the old one is then
        refused by ``fit``)."""
        return self._w

    @w.setter
    def w(self, value):
        self._w = self._assigned(self._w, value, "w")

    @property
    def b(self):
        """The bias, a :class:`Parameter` of shape ``(out_features,)``, or None
        (``use_bias=False``). Assigning works as for :attr:`w`."""
        return self._b

    @b.setter
    def b(self, value):
        if self._b is None:
            raise ValueError("Dense.b: this layer has no bias (use_bias=False)")
        self._b = self._assigned(self._b, value, "b")

    def _assigned(self, current, value, name):
        where = f"Dense.{name} = ...: the new {name}"
        if isinstance(value, Parameter):
            if value.shape != current.shape or value.dtype != current.dtype:
                raise ValueError(f"{where} must have shape {current.shape} and dtype "
                                 f"{current.dtype}; got {value.shape} {value.dtype}")
            return value
        current.assign(value, where)
        return current

    def build(self, in_features):
        """Make the weights of a ``Dense(out_features)`` for inputs of ``in_features``
        (an int, or a 1-tuple); a built layer only checks the width. Models call this
        (:meth:`nncore.Sequential.build`); so does the layer's first :meth:`forward`."""
        if isinstance(in_features, tuple) and len(in_features) == 1:
            in_features = in_features[0]
        if self.in_features is not None:
            self.output_features(in_features)
            return
        if isinstance(in_features, tuple):
            self.output_features(in_features)  # the ValueError for samples of >1 dimension
        if isinstance(in_features, bool) or not isinstance(in_features, (int, np.integer)) \
                or in_features < 1:
            raise ValueError(f"Dense.build: in_features must be a positive int; got "
                             f"{in_features!r}")
        self.in_features = int(in_features)
        self.reset_parameters(self._build_rng)

    def unbuild(self):
        """Forget the input width and the weights of a ``Dense(units)`` (a model whose
        build failed leaves its layers as they were)."""
        self.in_features = None
        self._w = self._b = None
        self._x = self._y = self._applied = None

    def _unbuilt(self, what):
        return ValueError(f"Dense({self.out_features}).{what}: the layer's input width is "
                          "not known yet (Keras-style Dense(units)); build it first: "
                          "Sequential(..., input_shape=(features,)), model.build((None, "
                          "features)), or a first fit/predict/forward")

    def set_weights(self, w, b=None):
        """Copy given weights (shape ``(in, out)``) and bias into the layer."""
        if self._w is None:
            raise self._unbuilt("set_weights")
        w = np.asarray(w, self.dtype)
        if w.shape != self._w.shape:
            raise ValueError(f"Dense.set_weights: w must have shape {self._w.shape}; "
                             f"got {w.shape}")
        self._w.data[...] = w
        if b is not None:
            if not self.use_bias:
                raise ValueError("Dense.set_weights: this layer has no bias (use_bias=False)")
            b = np.asarray(b, self.dtype)
            if b.shape != self._b.shape:
                raise ValueError(f"Dense.set_weights: b must have shape {self._b.shape}; "
                                 f"got {b.shape}")
            self._b.data[...] = b

    def forward(self, x, activation=None, slope=None, need_grad_x=True):
        """``activation(x @ w + b)`` for ``x`` of shape ``(batch, in_features)`` or
        ``(in_features,)``, cast to the layer's dtype: a new array, the caller's to keep.

        ``activation`` and ``slope`` replace the layer's own for this pass: a model fuses
        an activation layer that follows a Dense without activation this way, in the
        product's store. ``need_grad_x=False`` makes the next :meth:`backward` skip d loss
        / d input (a model's first layer). :meth:`backward` follows the last forward."""
        x = as_input(x, self.dtype)
        if self._w is None:
            self.build(np.shape(x)[-1])
        act = self.activation if activation is None else canonical(activation, "Dense")
        slope = self.slope if slope is None else float(slope)
        self._applied = (act, slope, bool(need_grad_x))
        self._x = x
        softmax = act == "softmax"
        z = None
        if act in FROM_INPUT:  # backward needs the pre-activation: the store keeps it
            shape = (self.out_features,) if np.ndim(x) == 1 else (len(x), self.out_features)
            z = self._z = workspace(getattr(self, "_z", None), shape, self.dtype)  # stays here
        y = F.dense_forward(x, self._w.data, None if self._b is None else self._b.data,
                            "identity" if softmax else act, slope=slope, z_out=z)
        self._y = F.softmax(y, out=y) if softmax else y
        return self._y

    def backward(self, grad_y):
        """Set ``w.grad`` and ``b.grad`` from ``grad_y`` (d loss / d output, the shape of
        the last output) and return d loss / d input, a new array (None when the last
        forward was told ``need_grad_x=False``: a model's first layer skips it).
        ``w.grad`` and ``b.grad`` are overwritten (``Sequential.backward(...,
        accumulate=True)`` adds to them)."""
        if self._x is None:
            raise RuntimeError("Dense.backward called before forward")
        grad_y = as_input(grad_y, self.dtype)
        act, slope, need_grad_x = self._applied
        gb = self._b.grad if self._b is not None else self._gb_scratch
        if act == "softmax":  # through the softmax, from its output
            self._gz = workspace(getattr(self, "_gz", None), self._y.shape, self.dtype)
            grad_y = F.softmax_backward(self._y, grad_y, out=self._gz)
            act = "identity"
        y_or_z = self._z if act in FROM_INPUT else self._y
        grad_x, _, _ = F.dense_backward(self._x, self._w.data, y_or_z, grad_y, act,
                                        slope=slope, need_grad_x=need_grad_x,
                                        out=(None, self._w.grad, gb))
        return grad_x

    def parameters(self):
        if self._w is None:
            raise self._unbuilt("parameters")
        return [self._w] if self._b is None else [self._w, self._b]

    def output_features(self, in_features):
        if isinstance(in_features, tuple):
            if len(in_features) != 1:
                raise ValueError(f"Dense: takes rows of features, (batch, features); the "
                                 f"previous layer gives samples of shape {in_features}: put "
                                 "a Flatten() before it")
            in_features = in_features[0]
        if in_features is not None and self.in_features is not None and \
                in_features != self.in_features:
            raise ValueError(f"Dense: expects {self.in_features} input features; the "
                             f"previous layer gives {in_features}")
        return self.out_features

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": self.activation, "use_bias": self.use_bias,
                "slope": self.slope}
