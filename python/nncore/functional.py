"""Native kernels with a NumPy interface.

Every function here runs in C++ (OpenMP threads, SIMD), releases the GIL, and has a
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


def matmul(a, b, *, trans_a=False, trans_b=False, out=None):
    """Matrix product ``op(a) @ op(b)`` with the native blocked GEMM.

    Parameters
    ----------
    a : array_like, shape (m, k), or (k, m) when ``trans_a``
    b : array_like, shape (k, n), or (n, k) when ``trans_b``
    trans_a, trans_b : bool
        Use the transpose of the operand (no copy is made).
    out : ndarray, shape (m, n), optional
        Must not share memory with ``a`` or ``b``.

    Returns
    -------
    ndarray, shape (m, n)

    Examples
    --------
    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]])
    array([[11.]])
    """
    return _core.matmul(a, b, bool(trans_a), bool(trans_b), out)


def dense_forward(x, w, b=None, activation="identity", *, slope=0.01, out=None):
    """A dense layer: ``activation(x @ w + b)``, bias and activation fused into the GEMM.

    Parameters
    ----------
    x : array_like, shape (batch, in) or (in,)
        Inputs; a 1-D ``x`` is one sample and gives a 1-D result.
    w : array_like, shape (in, out)
        Weights (the transpose of PyTorch's ``Linear.weight``).
    b : array_like, shape (out,), optional
        Bias.
    activation : {"identity", "relu", "sigmoid", "tanh", "leaky_relu"} or None
    slope : float
        Negative slope of ``leaky_relu`` (>= 0).
    out : ndarray, shape (batch, out), optional
        Must not share memory with the inputs.

    Returns
    -------
    ndarray, shape (batch, out) or (out,)

    Examples
    --------
    >>> dense_forward([[1.0, -2.0]], [[1.0], [1.0]], [0.5], "relu")
    array([[0.]])
    """
    return _core.dense_forward(x, w, b, activation, slope, out)


def dense_backward(x, w, y, grad_y, activation="identity", *, slope=0.01, need_grad_x=True,
                   out=None):
    """Gradients of a dense layer ``y = activation(x @ w + b)``.

    With ``grad_z = grad_y * activation'(y)`` (the derivative written from the output):
    ``grad_w = x.T @ grad_z``, ``grad_b = grad_z.sum(0)``, ``grad_x = grad_z @ w.T``.

    Parameters
    ----------
    x : array_like, shape (batch, in) or (in,)
        The layer's input.
    w : array_like, shape (in, out)
    y : array_like, shape (batch, out) or (out,)
        The layer's output (after the activation).
    grad_y : array_like, shape of ``y``
        Gradient of the loss with respect to ``y``.
    activation : str or None
        The activation the forward pass used.
    slope : float
        Negative slope of ``leaky_relu``.
    need_grad_x : bool
        Compute ``grad_x`` (skip it for a network's first layer).
    out : tuple (grad_x or None, grad_w or None, grad_b or None), optional
        Preallocated outputs; ``None`` entries are allocated.

    Returns
    -------
    grad_x : ndarray of the shape of ``x``, or None when ``need_grad_x`` is False
    grad_w : ndarray, shape (in, out)
    grad_b : ndarray, shape (out,)
    """
    return _core.dense_backward(x, w, y, grad_y, activation, slope, bool(need_grad_x), out)


def _elementwise_doc(name, formula, example):
    return f"""Elementwise ``{formula}``.

    Parameters
    ----------
    x : array_like
    out : ndarray, optional
        Result buffer of the shape and result dtype of ``x``; may be ``x`` itself.

    Returns
    -------
    ndarray of the shape of ``x``, float32 or float64.

    Examples
    --------
    >>> {name}([-1.0, 0.0, 2.0])
    {example}
    """


def identity(x, *, out=None):
    return _core.identity(x, None, out)


def relu(x, *, out=None):
    return _core.relu(x, None, out)


def sigmoid(x, *, out=None):
    return _core.sigmoid(x, None, out)


def tanh(x, *, out=None):
    return _core.tanh(x, None, out)


identity.__doc__ = _elementwise_doc("identity", "y = x (a float copy)",
                                    "array([-1.,  0.,  2.])")
relu.__doc__ = _elementwise_doc("relu", "y = max(x, 0)", "array([0., 0., 2.])")
sigmoid.__doc__ = _elementwise_doc("sigmoid", "y = 1 / (1 + exp(-x))",
                                   "array([0.26894142, 0.5       , 0.88079708])")
tanh.__doc__ = _elementwise_doc("tanh", "y = tanh(x)",
                                "array([-0.76159416,  0.        ,  0.96402758])")


def leaky_relu(x, slope=0.01, *, out=None):
    """Elementwise ``y = x if x > 0 else slope * x``.

    Parameters
    ----------
    x : array_like
    slope : float
        Negative slope, >= 0.
    out : ndarray, optional
        Result buffer; may be ``x`` itself.
    """
    return _core.leaky_relu(x, slope, out)


def _backward_doc(formula):
    return f"""Gradient through the activation from its output: ``grad_x = {formula}``.

    Parameters
    ----------
    y : array_like
        The activation's output.
    grad_y : array_like, shape of ``y``
        Gradient of the loss with respect to ``y``.
    out : ndarray, optional
        Result buffer; may be ``y`` or ``grad_y``.

    Returns
    -------
    ndarray of the shape of ``y``
    """


def identity_backward(y, grad_y, *, out=None):
    return _core.identity_backward(y, grad_y, None, out)


def relu_backward(y, grad_y, *, out=None):
    return _core.relu_backward(y, grad_y, None, out)


def sigmoid_backward(y, grad_y, *, out=None):
    return _core.sigmoid_backward(y, grad_y, None, out)


def tanh_backward(y, grad_y, *, out=None):
    return _core.tanh_backward(y, grad_y, None, out)


def leaky_relu_backward(y, grad_y, slope=0.01, *, out=None):
    return _core.leaky_relu_backward(y, grad_y, slope, out)


identity_backward.__doc__ = _backward_doc("grad_y")
relu_backward.__doc__ = _backward_doc("grad_y where y > 0, else 0")
sigmoid_backward.__doc__ = _backward_doc("grad_y * y * (1 - y)")
tanh_backward.__doc__ = _backward_doc("grad_y * (1 - y**2)")
leaky_relu_backward.__doc__ = _backward_doc("grad_y where y > 0, else slope * grad_y")


def softmax(x, axis=-1, *, out=None):
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``, stable for any scale.

    Parameters
    ----------
    x : array_like
    axis : int
    out : ndarray, optional
        Result buffer; may be ``x`` itself.
    """
    return _core.softmax(x, axis, out)


def log_softmax(x, axis=-1, *, out=None):
    """Log-softmax along ``axis``: ``x - max - log(sum(exp(x - max)))``.

    Parameters
    ----------
    x : array_like
    axis : int
    out : ndarray, optional
        Result buffer; may be ``x`` itself.
    """
    return _core.log_softmax(x, axis, out)


def softmax_backward(y, grad_y, axis=-1, *, out=None):
    """Gradient through softmax from its output: ``y * (grad_y - sum(grad_y * y, axis))``."""
    return _core.softmax_backward(y, grad_y, axis, out)


def log_softmax_backward(y, grad_y, axis=-1, *, out=None):
    """Gradient through log-softmax from its output: ``grad_y - exp(y) * sum(grad_y, axis)``."""
    return _core.log_softmax_backward(y, grad_y, axis, out)


_LOSS_NOTES = """
    reduction : {"mean", "sum", "none"}
        ``"mean"``/``"sum"`` return a float; ``"none"`` an array of per-{unit} losses,
        whose backward is the gradient of their sum.
    sample_weight : array_like, shape (batch,), optional
        Weights each sample: ``mean = sum(w_i * l_i) / sum(w_i){per}``.
    """


def mse_loss(pred, target, reduction="mean", *, sample_weight=None):
    """Mean squared error, ``mean((pred - target)**2)`` over all elements.

    Parameters
    ----------
    pred, target : array_like of the same shape (no broadcasting)
    """
    return _core.mse_loss(pred, target, reduction, sample_weight, None)


def mse_loss_backward(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """Gradient of :func:`mse_loss` with respect to ``pred``: ``2 * (pred - target) / n``."""
    return _core.mse_loss_backward(pred, target, reduction, sample_weight, out)


def mse_loss_and_grad(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """``(mse_loss(...), mse_loss_backward(...))`` in one pass; ``out`` receives the gradient."""
    return _core.mse_loss_and_grad(pred, target, reduction, sample_weight, out)


def cross_entropy(logits, target, reduction="mean", *, sample_weight=None):
    """Cross-entropy on logits: log-softmax then negative log-likelihood, fused and stable.

    Parameters
    ----------
    logits : array_like, shape (batch, classes) or (classes,)
    target : array_like
        Integer class labels of shape (batch,) (whole-number floats accepted), or
        probabilities of the shape of ``logits``. Labels outside ``[0, classes)`` raise
        ValueError.
    """
    return _core.cross_entropy(logits, target, reduction, sample_weight, None)


def cross_entropy_backward(logits, target, reduction="mean", *, sample_weight=None, out=None):
    """Gradient of :func:`cross_entropy` w.r.t. ``logits``: ``(softmax - onehot) / batch``."""
    return _core.cross_entropy_backward(logits, target, reduction, sample_weight, out)


def cross_entropy_and_grad(logits, target, reduction="mean", *, sample_weight=None, out=None):
    """``(cross_entropy(...), cross_entropy_backward(...))`` in one pass."""
    return _core.cross_entropy_and_grad(logits, target, reduction, sample_weight, out)


def binary_cross_entropy_with_logits(logits, target, reduction="mean", *, sample_weight=None):
    """Binary cross-entropy on logits: ``max(z, 0) - z*t + log1p(exp(-|z|))``, elementwise.

    Takes logits, not probabilities (as PyTorch's ``binary_cross_entropy_with_logits``);
    finite for any magnitude.

    Parameters
    ----------
    logits, target : array_like of the same shape; targets in [0, 1]
    """
    return _core.binary_cross_entropy_with_logits(logits, target, reduction, sample_weight,
                                                  None)


def binary_cross_entropy_with_logits_backward(logits, target, reduction="mean", *,
                                              sample_weight=None, out=None):
    """Gradient of :func:`binary_cross_entropy_with_logits`: ``(sigmoid(z) - t) / n``."""
    return _core.binary_cross_entropy_with_logits_backward(logits, target, reduction,
                                                           sample_weight, out)


def binary_cross_entropy_with_logits_and_grad(logits, target, reduction="mean", *,
                                              sample_weight=None, out=None):
    """``(loss, grad)`` of :func:`binary_cross_entropy_with_logits` in one pass."""
    return _core.binary_cross_entropy_with_logits_and_grad(logits, target, reduction,
                                                           sample_weight, out)


for _f, _unit, _per in [
    (mse_loss, "element", " / per_sample_elements"),
    (cross_entropy, "sample", ""),
    (binary_cross_entropy_with_logits, "element", " / per_sample_elements"),
]:
    _f.__doc__ = _f.__doc__.rstrip() + _LOSS_NOTES.replace("{unit}", _unit).replace("{per}", _per)


def sgd_step(param, grad, velocity=None, *, lr, momentum=0.0, weight_decay=0.0,
             nesterov=False, dampening=0.0):
    """One SGD update in place, as ``torch.optim.SGD``.

    ``g = grad + weight_decay * param``; with momentum,
    ``velocity = momentum * velocity + (1 - dampening) * g`` and the step is ``velocity``
    (or ``g + momentum * velocity`` with ``nesterov``); ``param -= lr * step``.

    Parameters
    ----------
    param : ndarray, float32 or float64, C-contiguous, writeable
    grad : array_like, shape of ``param``
    velocity : ndarray like ``param``, required when ``momentum > 0``; start it at zeros.
    """
    _core.sgd_step(param, grad, velocity, lr, momentum, weight_decay, bool(nesterov),
                   dampening)


def adam_step(param, grad, m, v, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0):
    """One Adam update in place, as ``torch.optim.Adam``.

    ``m`` and ``v`` (arrays like ``param``, starting at zeros) hold the moment estimates;
    ``step`` counts updates from 1 for the bias correction.
    """
    _core.adam_step(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay)


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
