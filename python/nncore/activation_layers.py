"""The activation layers: elementwise ones whose backward works from the output
(ReLU, Sigmoid, Tanh, Identity, LeakyReLU, Softmax) and those whose backward works from
the input (GELU, SiLU, Softplus). Their names come from the activation registry
(:mod:`nncore.activations`); all arithmetic runs in :mod:`nncore.functional`."""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._layer_base import FLOATS, Layer, as_input
from .activations import ACTIVATIONS, FROM_INPUT

__all__ = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax", "Identity", "GELU", "SiLU",
           "Softplus", "ACTIVATION_LAYERS", "activation_layer"]


def _kernels(a):
    """(forward, backward) native calls of a from-input activation of the registry."""
    fwd, bwd = getattr(F, a.kernel), getattr(F, a.kernel + "_backward")
    return (lambda z, out: fwd(z, *a.kernel_args, out=out),
            lambda z, g, out: bwd(z, g, *a.kernel_args, out=out))


# Activations whose derivative needs the pre-activation: applied after the product (not
# fused into its store), forward and backward from the pre-activation z.
FROM_INPUT_KERNELS = {n: _kernels(ACTIVATIONS[n]) for n in FROM_INPUT}


class ElementwiseActivation(Layer):
    """An activation applied elementwise; backward works from its output."""

    def __init__(self, name=None):
        super().__init__(name)
        self._y = None

    def _forward(self, x, out):
        return getattr(F, self.activation)(x, out=out)

    def _backward(self, y, grad_y, out):
        return getattr(F, self.activation + "_backward")(y, grad_y, out=out)

    def forward(self, x):
        """The activation of ``x``, in ``x``'s float dtype (other inputs are cast to the
        layer's dtype): a new array, the caller's to keep."""
        x = np.asarray(x)
        if x.dtype not in FLOATS:
            x = x.astype(self.dtype)
        self._y = self._forward(x, None)
        return self._y

    def backward(self, grad_y):
        """d loss / d input from ``grad_y`` (d loss / d output), through the derivative
        taken at the stored output: a new array."""
        if self._y is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_y = as_input(grad_y, self._y.dtype)
        return self._backward(self._y, grad_y, None)


class ReLU(ElementwiseActivation):
    """``max(x, 0)``."""
    activation = "relu"


class Sigmoid(ElementwiseActivation):
    """``1 / (1 + exp(-x))``."""
    activation = "sigmoid"


class Tanh(ElementwiseActivation):
    """``tanh(x)``."""
    activation = "tanh"


class Identity(ElementwiseActivation):
    """``x``."""
    activation = "identity"


class LeakyReLU(ElementwiseActivation):
    """``x if x > 0 else slope * x``."""
    activation = "leaky_relu"

    def __init__(self, slope=0.01, name=None):
        super().__init__(name)
        if not np.isfinite(slope) or slope < 0:
            raise ValueError(f"LeakyReLU: slope must be a finite number >= 0; got {slope!r}")
        self.slope = float(slope)

    def _forward(self, x, out):
        return F.leaky_relu(x, self.slope, out=out)

    def _backward(self, y, grad_y, out):
        return F.leaky_relu_backward(y, grad_y, self.slope, out=out)

    def get_config(self):
        return {"slope": self.slope}


class Softmax(ElementwiseActivation):
    """Softmax along ``axis``. With a logits loss, leave it out and use ``predict_proba``."""
    activation = "softmax"

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = int(axis)

    def _forward(self, x, out):
        return F.softmax(x, self.axis, out=out)

    def _backward(self, y, grad_y, out):
        return F.softmax_backward(y, grad_y, self.axis, out=out)

    def get_config(self):
        return {"axis": self.axis}


class _FromInput(Layer):
    """An activation whose backward works from its input (gelu, silu, softplus)."""

    def __init__(self, name=None):
        super().__init__(name)
        self._x = self._y = None

    def forward(self, x):
        """The activation of ``x``, in ``x``'s float dtype (other inputs are cast to the
        layer's dtype): a new array, the caller's to keep."""
        x = np.asarray(x)
        if x.dtype not in FLOATS:
            x = x.astype(self.dtype)
        self._x = x
        self._y = FROM_INPUT_KERNELS[self.activation][0](x, None)
        return self._y

    def backward(self, grad_y):
        """d loss / d input from ``grad_y``, through the derivative at the stored input
        (a new array)."""
        if self._x is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_y = as_input(grad_y, self._x.dtype)
        return FROM_INPUT_KERNELS[self.activation][1](self._x, grad_y, None)


class GELU(_FromInput):
    """GELU, as ``torch.nn.GELU``: ``x * Phi(x)`` (``approximate="none"``) or its tanh
    approximation (``approximate="tanh"``)."""

    def __init__(self, approximate="none", name=None):
        super().__init__(name)
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate
        self.activation = "gelu" if approximate == "none" else "gelu_tanh"

    def get_config(self):
        return {"approximate": self.approximate}


class SiLU(_FromInput):
    """SiLU (swish), ``x * sigmoid(x)``."""
    activation = "silu"


class Softplus(_FromInput):
    """``log(1 + exp(x))`` (``x`` where ``x > 20``), as ``torch.nn.Softplus()``."""
    activation = "softplus"


#: Activation name -> its layer class (from the registry's ``layer`` names).
ACTIVATION_LAYERS = {n: globals()[a.layer] for n, a in ACTIVATIONS.items() if a.layer}


def activation_layer(name, **kwargs):
    """The activation layer for a name (``"relu"`` -> ``ReLU()``)."""
    if name not in ACTIVATION_LAYERS:
        raise ValueError(f"unknown activation layer {name!r}; "
                         f"expected one of {sorted(ACTIVATION_LAYERS)}")
    return ACTIVATION_LAYERS[name](**kwargs)
