"""The activation vocabulary: every activation nncore knows, defined once.

Layers, the model's fusion plan, saving, the reference twin, the ONNX and PyTorch faces,
the initialisers and the scikit-learn estimators all read this table; none keeps a list
of its own. Adding an activation means its kernel and reference twin, one entry here,
its layer class in :mod:`nncore.layers` (when it is a layer) and tests
(``tests/test_activation_registry.py`` checks the table against the native core).

This module imports nothing from nncore: it is data, at the bottom of the house.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Activation", "ACTIVATIONS", "FUSABLE", "FROM_INPUT", "SKLEARN_NAMES",
           "canonical", "default_init"]


@dataclass(frozen=True)
class Activation:
    """One activation.

    name : its name everywhere (``Dense(..., activation=name)``, the kernels, saving).
    fused : applied in the matrix product's store (the native ``dense_forward``'s
        ``activation``); backward from the output, unless ``from_input``.
    from_input : its derivative needs the pre-activation z, not the output: a fused
        ``dense_forward`` keeps z (``z_out=``, written by the same store) and
        ``dense_backward`` takes it in place of the output. On its own (a layer) it is
        ``kernel`` / ``kernel + "_backward"`` in :mod:`nncore.functional`, with
        ``kernel_args`` after the input.
    layer : the name of its layer class in :mod:`nncore.layers` (None: no layer of its
        own; ``"gelu_tanh"`` is ``GELU(approximate="tanh")``).
    torch : the ``torch.nn`` module it maps to (None: no counterpart); ``gelu_tanh`` is
        ``nn.GELU(approximate="tanh")``.
    onnx : the ONNX operator of the same function (None: composed or not exported).
    init : the default weight initialiser of a Dense layer with this activation.
    """
    name: str
    fused: bool = False
    from_input: bool = False
    layer: str | None = None
    torch: str | None = None
    onnx: str | None = None
    init: str = "glorot_uniform"
    kernel: str | None = None
    kernel_args: tuple = ()


ACTIVATIONS = {a.name: a for a in (
    Activation("identity", fused=True, layer="Identity", torch="Identity", onnx="Identity"),
    Activation("relu", fused=True, layer="ReLU", torch="ReLU", onnx="Relu",
               init="he_uniform"),
    Activation("sigmoid", fused=True, layer="Sigmoid", torch="Sigmoid", onnx="Sigmoid"),
    Activation("tanh", fused=True, layer="Tanh", torch="Tanh", onnx="Tanh"),
    Activation("leaky_relu", fused=True, layer="LeakyReLU", torch="LeakyReLU",
               onnx="LeakyRelu", init="he_uniform"),
    Activation("softmax", layer="Softmax", torch="Softmax", onnx="Softmax"),
    Activation("gelu", fused=True, from_input=True, layer="GELU", torch="GELU", kernel="gelu"),
    Activation("gelu_tanh", fused=True, from_input=True, torch="GELU", kernel="gelu",
               kernel_args=("tanh",)),
    Activation("silu", fused=True, from_input=True, layer="SiLU", torch="SiLU",
               kernel="silu"),
    Activation("softplus", fused=True, from_input=True, layer="Softplus", torch="Softplus",
               kernel="softplus"),
)}

#: Activations the GEMM epilogue applies (the native ``dense_forward`` accepts these).
FUSABLE = tuple(n for n, a in ACTIVATIONS.items() if a.fused)
#: Activations whose backward works from the pre-activation (fused ones among them: the
#: dense layer keeps z for them).
FROM_INPUT = tuple(n for n, a in ACTIVATIONS.items() if a.from_input)
#: scikit-learn's activation names -> nncore's.
SKLEARN_NAMES = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh",
                 "relu": "relu"}


def canonical(activation, fn=None):
    """The activation's name (``None`` and Keras's ``"linear"`` are ``"identity"``);
    ValueError naming ``fn`` for an unknown one."""
    if activation is None or activation == "linear":
        return "identity"
    if activation not in ACTIVATIONS:
        where = f"{fn}: " if fn else ""
        raise ValueError(f"{where}activation must be one of {tuple(ACTIVATIONS)} or None; "
                         f"got {activation!r}")
    return activation


def default_init(activation):
    """He for ReLU-family activations, Glorot otherwise (Keras/PyTorch practice)."""
    a = ACTIVATIONS.get(activation)
    return a.init if a is not None else "glorot_uniform"
