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
    sgd_step, adam_step,
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
    "sgd_step", "adam_step", "clip_grad_norm_", "clip_grad_value_", "count_correct",
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


# --------------------------------------------------- L1 and Huber losses, dropout

__all__ += ["l1_loss", "l1_loss_backward", "l1_loss_and_grad", "huber_loss",
            "huber_loss_backward", "huber_loss_and_grad", "dropout", "dropout_backward"]


def l1_loss(pred, target, reduction="mean", *, sample_weight=None):
    """Mean absolute error, ``mean(|pred - target|)`` over all elements (PyTorch's
    ``l1_loss``).

    Parameters
    ----------
    pred, target : array_like of the same shape (no broadcasting)
    """
    return _core.l1_loss(pred, target, reduction, sample_weight, None)


def l1_loss_backward(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """Gradient of :func:`l1_loss` w.r.t. ``pred``: ``sign(pred - target) / n`` (0 where
    they are equal, as PyTorch)."""
    return _core.l1_loss_backward(pred, target, reduction, sample_weight, out)


def l1_loss_and_grad(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """``(l1_loss(...), l1_loss_backward(...))`` in one pass."""
    return _core.l1_loss_and_grad(pred, target, reduction, sample_weight, out)


def huber_loss(pred, target, reduction="mean", delta=1.0, *, sample_weight=None):
    """Huber loss (PyTorch's ``huber_loss``): with ``d = pred - target``, ``0.5 * d**2``
    where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``.

    Parameters
    ----------
    pred, target : array_like of the same shape (no broadcasting)
    delta : float > 0
    """
    return _core.huber_loss(pred, target, reduction, delta, sample_weight, None)


def huber_loss_backward(pred, target, reduction="mean", delta=1.0, *, sample_weight=None,
                        out=None):
    """Gradient of :func:`huber_loss` w.r.t. ``pred``: ``clip(pred - target, -delta,
    delta) / n``."""
    return _core.huber_loss_backward(pred, target, reduction, delta, sample_weight, out)


def huber_loss_and_grad(pred, target, reduction="mean", delta=1.0, *, sample_weight=None,
                        out=None):
    """``(huber_loss(...), huber_loss_backward(...))`` in one pass."""
    return _core.huber_loss_and_grad(pred, target, reduction, delta, sample_weight, out)


# The notes a loss's docstring ends with (the native losses carry them at their m.def).
_LOSS_NOTES = """
    reduction : {"mean", "sum", "none"}
        ``"mean"``/``"sum"`` return a float; ``"none"`` an array of per-{unit} losses,
        whose backward is the gradient of their sum.
    sample_weight : array_like, shape (batch,), optional
        Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i){per}``.
    """

for _f, _unit, _per in [(l1_loss, "element", " / per_sample_elements"),
                        (huber_loss, "element", " / per_sample_elements")]:
    _f.__doc__ = _f.__doc__.rstrip() + _LOSS_NOTES.replace("{unit}", _unit).replace("{per}", _per)


def dropout(x, p, seed, *, out=None, mask=None):
    """Inverted dropout: ``(x * mask, mask)`` where ``mask`` is ``1 / (1 - p)`` for kept
    elements and 0 for dropped ones (all 0 when ``p = 1``).

    Element ``i`` (flat, C order) is kept when ``u(seed, i) >= p``, ``u`` being a
    counter-based uniform number (splitmix64 of ``seed + (i + 1) * 0x9E3779B97F4A7C15``,
    top 53 bits): the same mask for any thread count, and reproducible in NumPy
    (:func:`nncore.reference.dropout`).

    Parameters
    ----------
    x : array_like
    p : float in [0, 1]
        Probability of dropping an element.
    seed : int in [0, 2**64)
    out, mask : ndarray, optional
        Receive the result and the mask (``out`` may be ``x``).
    """
    return _core.dropout(x, p, seed, out, mask)


def dropout_backward(mask, grad_y, *, out=None):
    """Gradient through :func:`dropout`: ``grad_y * mask``."""
    return _core.dropout_backward(mask, grad_y, out)


# --------------------------------------------------- gelu, silu, softplus

__all__ += ["gelu", "gelu_backward", "silu", "silu_backward", "softplus", "softplus_backward"]


def gelu(x, approximate="none", *, out=None):
    """GELU, as ``torch.nn.functional.gelu``: ``0.5 * x * (1 + erf(x / sqrt(2)))``, or with
    ``approximate="tanh"`` ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.
    """
    return _core.gelu(x, approximate, out)


def gelu_backward(x, grad_y, approximate="none", *, out=None):
    """Gradient through :func:`gelu` from its **input** ``x`` (the derivative is not a
    function of the output): ``grad_y * (Phi(x) + x * phi(x))`` for the exact form."""
    return _core.gelu_backward(x, grad_y, approximate, out)


def silu(x, *, out=None):
    """SiLU (swish), ``x * sigmoid(x)``."""
    return _core.silu(x, out)


def silu_backward(x, grad_y, *, out=None):
    """Gradient through :func:`silu` from its input ``x``:
    ``grad_y * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``."""
    return _core.silu_backward(x, grad_y, out)


def softplus(x, *, out=None):
    """``log(1 + exp(x))``, and ``x`` itself where ``x > 20`` (as ``torch.nn.functional.softplus``
    with ``beta=1, threshold=20``)."""
    return _core.softplus(x, out)


def softplus_backward(x, grad_y, *, out=None):
    """Gradient through :func:`softplus` from its input ``x``: ``grad_y * sigmoid(x)``
    (``grad_y`` where ``x > 20``)."""
    return _core.softplus_backward(x, grad_y, out)


# help(nncore.functional) and doctest list the re-exported functions as this module's own.
for _name in __all__:
    _f = globals()[_name]
    if getattr(_f, "__module__", None) == _core.__name__:
        _f.__module__ = __name__
del _name, _f
