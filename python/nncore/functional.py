"""Native kernels with a NumPy interface.

Every function here runs in C++ (nncore's thread pool, SIMD), releases the GIL, and has a
plain-NumPy twin of the same name and signature in :mod:`nncore.reference`.

Common rules (details in ``docs/functional.md``):

* Inputs are array-likes. Computation is in float32 or float64: the result dtype is
  the promotion of the floating inputs (float16 counts as float32; integer inputs
  make float64). bool, complex, object and string inputs raise ``TypeError``.
* Any memory layout is accepted; C-contiguous arrays take the fast path. Inputs are
  never modified unless passed as ``out=``.
* ``out=`` must have exactly the result's shape and dtype and be writeable and
  C-contiguous; elementwise functions accept ``out`` being an input (in place).
* Weights follow ``x @ w + b``: ``x: (batch, in)``, ``w: (in, out)``, ``b: (out,)``,
  the layout of Keras's ``Dense`` kernel and the transpose of PyTorch's
  ``Linear.weight``.
* Results are bitwise identical for any thread count.
"""
from __future__ import annotations

from . import _core

# The native functions themselves: their signatures (argument names, defaults,
# keyword-only markers) and docstrings are declared once, at their binding in
# csrc/bindings/<family>.cpp; _core.pyi repeats them for type checkers, and
# tests/native/test_signatures.py holds the three (and nncore.reference) together.
from ._core import (  # noqa: F401  (re-exported)
    matmul, dense_forward, dense_backward,
    identity, relu, sigmoid, tanh, leaky_relu,
    identity_backward, relu_backward, sigmoid_backward, tanh_backward, leaky_relu_backward,
    softmax, log_softmax, softmax_backward, log_softmax_backward,
    mse_loss, mse_loss_backward, mse_loss_and_grad,
    cross_entropy, cross_entropy_backward, cross_entropy_and_grad,
    binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward,
    binary_cross_entropy_with_logits_and_grad,
    sgd_step, adam_step, rmsprop_step,
)

__all__ = [
    "matmul", "dense_forward", "dense_backward",
    "identity", "relu", "sigmoid", "tanh", "leaky_relu",
    "identity_backward", "relu_backward", "sigmoid_backward", "tanh_backward",
    "leaky_relu_backward",
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "mse_loss", "mse_loss_backward", "mse_loss_and_grad",
    "cross_entropy", "cross_entropy_backward", "cross_entropy_and_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_and_grad",
    "sgd_step", "adam_step", "rmsprop_step", "clip_grad_norm_", "clip_grad_value_", "count_correct",
]


# One-line wrappers where the binding wants a list (any iterable is accepted here).
def clip_grad_norm_(grads, max_norm):
    """Scale every gradient in place so their global L2 norm is at most ``max_norm``.

    The norm is the square root of the sum, array by array, of each array's sum of
    squares; when it exceeds ``max_norm`` every element is multiplied by
    ``max_norm / (norm + 1e-6)`` (as ``torch.nn.utils.clip_grad_norm_``).

    Parameters
    ----------
    grads : list of ndarray, all float32 or all float64, C-contiguous, writeable
    max_norm : float >= 0

    Returns
    -------
    float
        The norm before clipping.
    """
    return _core.clip_grad_norm_(list(grads), max_norm)


def clip_grad_value_(grads, clip_value):
    """Clip every element of every gradient into ``[-clip_value, clip_value]``, in place
    (NaN stays NaN)."""
    _core.clip_grad_value_(list(grads), clip_value)


def count_correct(out, target):
    """Number of correct predictions of ``out`` (batch, outputs) for ``target``.

    Several outputs: a row is correct when its argmax (the first maximum; NaN counts as
    the maximum, as ``numpy.argmax``) equals the integer label, or the argmax of the
    target row. One output: when ``out > 0`` agrees with ``target > 0.5``.

    >>> count_correct([[0.1, 2.0], [3.0, -1.0]], [1, 1])
    1
    """
    return _core.count_correct(out, target)


# L1 and Huber losses, dropout, gelu / silu / softplus (bindings/losses.cpp,
# dropout.cpp, activations.cpp).
from ._core import (  # noqa: E402,F401  (re-exported)
    l1_loss, l1_loss_backward, l1_loss_and_grad, huber_loss, huber_loss_backward,
    huber_loss_and_grad, dropout, dropout_backward,
    gelu, gelu_backward, silu, silu_backward, softplus, softplus_backward,
)

__all__ += ["l1_loss", "l1_loss_backward", "l1_loss_and_grad", "huber_loss",
            "huber_loss_backward", "huber_loss_and_grad", "dropout", "dropout_backward",
            "gelu", "gelu_backward", "silu", "silu_backward", "softplus", "softplus_backward"]


# layer and batch normalisation (bindings/norms.cpp).
from ._core import (  # noqa: E402,F401  (re-exported)
    layer_norm, layer_norm_backward, batch_norm, batch_norm_backward,
)

__all__ += ["layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"]


# the metrics' counts and areas (bindings/metrics.cpp).
from ._core import confusion_matrix, roc_auc  # noqa: E402,F401  (re-exported)

__all__ += ["confusion_matrix", "roc_auc"]


# help(nncore.functional) and doctest list the re-exported functions as this module's own.
for _name in __all__:
    _f = globals()[_name]
    if getattr(_f, "__module__", None) == _core.__name__:
        _f.__module__ = __name__
del _name, _f
