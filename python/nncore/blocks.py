"""Layers that shape the network rather than compute a product: :class:`Residual`
(``x + f(x)``) and :class:`Flatten`, and the walk over layers that gives their widths,
builds the layers whose input width is inferred (``Dense(64)``) and initialises them.

A layer's width is an int (features of ``(batch, features)`` rows) or, before a
:class:`Flatten`, a tuple (the shape of one sample, ``(batch, *shape)``); None when not
known yet.
"""
from __future__ import annotations

import math

import numpy as np

from ._layer_base import FLOATS, Layer, as_input, workspace, model_dtype
from .dropout import Dropout
from .layers import Dense
from .norms import BatchNorm1d, LayerNorm

__all__ = ["Residual", "Flatten", "sample_width", "input_width", "output_width",
           "build_layers", "init_layer", "is_built", "named_parameters_of",
           "buffer_slots_of", "takes_nd_input"]


def sample_width(shape, fn="Sequential"):
    """The width of samples of ``shape`` (an int, or a tuple of ints): an int for 1-D
    samples, a tuple for more dimensions; ValueError naming ``fn`` otherwise."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"{fn}: input_shape must be an int or a tuple of positive ints "
                         f"(one sample's shape, without the batch); got {shape!r}") from None
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                            and d > 0 for d in shape):
        raise ValueError(f"{fn}: input_shape must be a tuple of positive ints (one "
                         f"sample's shape, without the batch); got {shape!r}")
    shape = tuple(int(d) for d in shape)
    return shape[0] if len(shape) == 1 else shape


def output_width(layers, width):
    """The width after ``layers`` for inputs of ``width`` (checked layer by layer: each
    layer raises ValueError for a width it cannot take)."""
    for layer in layers:
        width = layer.output_features(width)
    return width


_PASS = object()  # a layer that keeps any width (an activation, Dropout)


def _requirement(layers):
    for layer in layers:
        if isinstance(layer, Dense):
            return layer.in_features  # None: inferred at build
        if isinstance(layer, Residual):
            inner = _requirement(layer.layers)
            if inner is not _PASS:
                return inner
        elif isinstance(layer, Flatten):
            return None  # any sample shape whose size the next layer takes
        elif isinstance(layer, (LayerNorm, BatchNorm1d)):
            return layer.features
    return _PASS


def input_width(layers):
    """The input width the first layers fix (a Dense's ``in_features`` or a norm's
    ``features``, also inside a Residual), or None when they take any (a lazy Dense, a Flatten, only activations)."""
    width = _requirement(layers)
    return None if width is _PASS else width


def takes_nd_input(layers):
    """Whether the layers take samples of more than one dimension: a Flatten comes
    before any layer that fixes a width (activation layers and Dropout may precede it)."""
    for layer in layers:
        if isinstance(layer, Flatten):
            return True
        if not (isinstance(layer, Dropout) or
                (layer.activation is not None and not isinstance(layer, Dense))):
            return False
    return False


def is_built(layer):
    """Whether every width in ``layer`` is known (a lazy Dense is not until built)."""
    if isinstance(layer, Dense):
        return layer.in_features is not None
    if isinstance(layer, Residual):
        return all(is_built(child) for child in layer.layers)
    return True


def build_layers(layers, width):
    """Build the lazy layers among ``layers`` for inputs of ``width`` (a Dense's
    ``in_features`` becomes the width before it); returns the width after them. When a
    width does not fit (ValueError), the layers are left unbuilt, as they were."""
    lazy = _unbuilt_dense(layers)
    try:
        for layer in layers:
            if isinstance(layer, (Dense, Residual)) and not is_built(layer):
                layer.build(width)
            width = layer.output_features(width)
    except ValueError:
        for layer in lazy:
            layer.unbuild()
        raise
    return width


def _unbuilt_dense(layers):
    found = []
    for layer in layers:
        if isinstance(layer, Dense) and layer.in_features is None:
            found.append(layer)
        elif isinstance(layer, Residual):
            found += _unbuilt_dense(layer.layers)
    return found


def init_layer(layer, rng, dtype):
    """What a model does to each of its layers: re-initialise from ``rng`` (a model with
    a seed), else only cast to ``dtype``, keeping a Dense's weights."""
    if rng is None and layer.dtype == dtype:
        return
    if rng is None and isinstance(layer, Dense) and layer.w is not None:
        w, b = layer.w.data, layer.b.data if layer.b is not None else None
        layer.reset_parameters(np.random.default_rng(0), dtype)
        layer.set_weights(w, b)
    else:
        layer.reset_parameters(rng, dtype)


def named_parameters_of(layer):
    """``[(name, Parameter)]`` of one layer: ``"w"``, ``"b"``; inside a Residual
    ``"0.w"`` (the index of the layer in the block, as PyTorch names them)."""
    if isinstance(layer, Residual):
        return layer.named_parameters()
    return [(p.name, p) for p in layer.parameters()]


def buffer_slots_of(layer):
    """``[(name, owner, key)]`` of one layer's buffers (BatchNorm1d's running statistics:
    ``owner.buffers()[key]``); inside a Residual the name is ``"1.running_mean"`` (the
    index of the layer in the block, as PyTorch names them)."""
    if isinstance(layer, Residual):
        return [(f"{j}.{name}", owner, key) for j, inner in enumerate(layer.layers)
                for name, owner, key in buffer_slots_of(inner)]
    return [(key, layer, key) for key in getattr(layer, "buffers", dict)()]


class Residual(Layer):
    """A residual block: ``x + f(x)``, ``f`` the given layers applied in order.

    Forward runs the layers one by one and adds the block's input to their output;
    backward sends the gradient through the layers (each sets its parameters'
    gradients) and adds the gradient of the identity path, so the gradient on the
    input is ``grad + df/dx^T grad``. The layers may be any nncore layers: Dense (with
    any activation, or ``Dense(units)`` with its width inferred), activation layers,
    Dropout, another Residual (not Flatten: it changes the shape). Each layer runs its
    own step (a Dense followed by an activation layer is not fused here, unlike at the
    top of a :class:`nncore.Sequential`).

    Parameters
    ----------
    *layers : Layer
        ``f``; the width it gives must be the width it takes (checked when the widths
        are known: at once for ``Dense(256, 256)``, at the first data or
        ``Sequential(..., input_shape=...)`` for inferred widths).
    name : str, optional

    Examples
    --------
    The MLP of the MNIST-1D benchmark, ``h = relu(W1 x); h = h + relu(W2 h); W3 h``:

    >>> import nncore as nc
    >>> model = nc.Sequential(nc.Dense(40, 256, "relu"),
    ...                       nc.Residual(nc.Dense(256, 256, "relu")),
    ...                       nc.Dense(256, 10))
    """

    def __init__(self, *layers, name=None):
        super().__init__(name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError("Residual: give one or more nncore layers (Residual(Dense(256, "
                             f"256, 'relu'))); got {layers!r}")
        if any(isinstance(layer, Flatten) for layer in layers):
            raise ValueError("Residual: a Flatten changes the shape, so x + f(x) is not "
                             "defined; put the Flatten before the block")
        self.layers = list(layers)
        declared = [layer.declared_dtype for layer in self.layers
                    if getattr(layer, "declared_dtype", None) is not None]
        self.declared_dtype = declared[0] if declared else None
        self.dtype = model_dtype(self.layers, None)
        self._training = True
        self._y = self._gx = None
        for layer in self.layers:
            init_layer(layer, None, self.dtype)
        width = input_width(self.layers)
        if width is not None and all(is_built(layer) for layer in self.layers):
            self.output_features(width)

    @property
    def training(self):
        """Training mode of the block and its layers (set by ``model.train()``)."""
        return self._training

    @training.setter
    def training(self, mode):
        self._training = bool(mode)
        for layer in self.layers:
            layer.training = self._training

    def build(self, width):
        """Build the block's lazy layers for inputs of ``width`` and check that ``f``
        keeps the width."""
        build_layers(self.layers, width)
        self.output_features(width)

    def forward(self, x):
        """``x + f(x)`` for ``x`` of shape ``(batch, features)`` (cast to the block's
        dtype). Returns the block's output workspace."""
        x = np.asarray(x)
        if x.dtype not in FLOATS:
            x = x.astype(self.dtype)
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        if h.shape != x.shape:
            raise ValueError(f"Residual.forward: its layers map an input of shape {x.shape} "
                             f"to {h.shape}; x + f(x) needs the same shape")
        self._y = workspace(self._y, x.shape, np.result_type(x, h))
        np.add(x, h, out=self._y)
        return self._y

    def backward(self, grad_y):
        """d loss / d input: ``grad_y`` through the layers (setting their parameters'
        gradients) plus ``grad_y`` itself (the identity path)."""
        if self._y is None:
            raise RuntimeError("Residual.backward called before forward")
        grad_y = as_input(grad_y, self._y.dtype)
        g = grad_y
        for layer in reversed(self.layers):
            g = layer.backward(g)
        self._gx = workspace(self._gx, self._y.shape, self._y.dtype)
        np.add(grad_y, g, out=self._gx)
        return self._gx

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """``[("0.w", Parameter), ("0.b", ...), ...]``: the index of the layer in the
        block, then the parameter's name."""
        return [(f"{j}.{name}", p) for j, layer in enumerate(self.layers)
                for name, p in named_parameters_of(layer)]

    def reset_parameters(self, rng=None, dtype=None):
        """Re-initialise the layers from ``rng`` in ``dtype``; with ``rng=None`` only cast
        them to ``dtype``, keeping their weights (what a model without a seed does)."""
        super().reset_parameters(rng, dtype)
        for layer in self.layers:
            init_layer(layer, rng, self.dtype)
        self._y = self._gx = None

    def output_features(self, in_features):
        out = output_width(self.layers, in_features)
        if in_features is not None and out is not None and out != in_features:
            raise ValueError(f"Residual: its layers map {in_features} features to {out}; "
                             "x + f(x) needs the width they take")
        return in_features if in_features is not None else out

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        name = "" if self.name is None else f", name={self.name!r}"
        return f"Residual({inner}{name})"


class Flatten(Layer):
    """``(batch, d1, d2, ...)`` inputs as ``(batch, d1 * d2 * ...)`` rows, as
    ``torch.nn.Flatten()`` (``start_dim=1``) and Keras's ``Flatten``. Backward reshapes
    the gradient back. The output is a reshaped view of the input when its layout
    allows (no copy). A model that starts with Flatten takes inputs of any number of
    dimensions (``fit``, ``predict``, ``evaluate``)."""

    def __init__(self, name=None):
        super().__init__(name)
        self._shape = self._y = None

    def forward(self, x):
        """``x.reshape(len(x), -1)``, in ``x``'s float dtype (other inputs are cast to
        the layer's dtype)."""
        x = np.asarray(x)
        if x.dtype not in FLOATS:
            x = x.astype(self.dtype)
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward: x must have a batch axis and at least one "
                             f"more, (batch, ...); got shape {x.shape}")
        self._shape = x.shape
        self._y = x.reshape(len(x), -1)
        return self._y

    def backward(self, grad_y):
        """``grad_y`` reshaped to the last input's shape."""
        if self._shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        grad_y = np.asarray(grad_y)
        if grad_y.size != math.prod(self._shape):
            raise ValueError(f"Flatten.backward: grad_y of shape {grad_y.shape} does not "
                             f"match the last output ({self._y.shape})")
        return grad_y.reshape(self._shape)

    def output_features(self, in_features):
        if isinstance(in_features, tuple):
            return math.prod(in_features)
        return in_features
