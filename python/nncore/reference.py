"""The same maths as :mod:`nncore.functional`, in plain NumPy.

Every function here has the name, signature, dtype rules and errors of its native twin.
It is written to be read — like the tutorials' code, one formula per line — and is
the oracle the tests compare the native kernels with, and the "pure Python" side of the
benchmarks. It imports nothing but NumPy and the activation vocabulary
(:mod:`nncore.activations`, plain data).
"""
from __future__ import annotations

import math

import numpy as np

from .activations import FUSABLE

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

# the activations of the matrix product's store (the registry's fused ones)
_ACTIVATIONS = FUSABLE


# --------------------------------------------------------------------------- helpers

def _as_array(x, fn, name):
    """x as an ndarray whose dtype is a real float or an integer."""
    if x is None:
        raise TypeError(f"{fn}: {name} must be an array-like of numbers; got None")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"{fn}: {name} could not be converted to an array ({e})") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: {name} must be a real floating or integer array; "
                        f"got dtype {a.dtype}")
    return a


def _float_dtype(a):
    """float32 for float16/float32, float64 for everything else."""
    if a.dtype.kind == "f" and a.dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _result_dtype(*arrays):
    dtypes = [_float_dtype(a) for a in arrays if a is not None]
    return np.dtype(np.float64) if np.dtype(np.float64) in dtypes else np.dtype(np.float32)


def _as_float(x, fn, name, dtype=None):
    a = _as_array(x, fn, name)
    return a.astype(dtype or _float_dtype(a), copy=False)


def _store(out, value, fn, name="out"):
    """Return value, or copy it into out after checking out."""
    if out is None:
        value = np.asarray(value)
        return value if value.flags.c_contiguous else value.copy(order="C")
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != value.dtype:
        raise TypeError(f"{fn}: {name} must have dtype {value.dtype}; got {out.dtype}")
    if out.shape != value.shape:
        raise ValueError(f"{fn}: {name} must have shape {value.shape}; got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: {name} must be writeable")
    out[...] = value
    return out


def _check_out(out, shape, dtype, fn, name="out"):
    """Checks of out= done before computing (same rules as _store)."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{fn}: {name} must have dtype {dtype}; got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(shape)}; got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: {name} must be writeable")


def _activation_name(activation, fn):
    if activation is None or activation == "linear":
        return "identity"
    if not isinstance(activation, str):
        raise TypeError(f"{fn}: activation must be a str or None; "
                        f"got {type(activation).__name__}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"{fn}: activation must be one of "
                         f"{', '.join(repr(a) for a in _ACTIVATIONS)} (or None); "
                         f"got '{activation}'")
    return activation


def _slope(slope, fn):
    if isinstance(slope, bool) or not isinstance(slope, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: slope must be a real number; got {type(slope).__name__}")
    if not np.isfinite(slope) or slope < 0:
        raise ValueError(f"{fn}: slope must be a finite number >= 0; got {slope}")
    return float(slope)


def _reduction(reduction, fn):
    if not isinstance(reduction, str):
        raise TypeError(f"{fn}: reduction must be a str; got {type(reduction).__name__}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be one of 'mean', 'sum', 'none'; "
                         f"got '{reduction}'")
    return reduction


# ------------------------------------------------------------------ the activations

def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp(-|x|) is at most 1."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _act(name, z, slope):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z * z.dtype.type(slope))
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name in _FROM_INPUT:
        return _FROM_INPUT[name][0](z.astype(np.float64)).astype(z.dtype)
    return z


def _act_derivative_times(name, y, grad_y, slope):
    """grad_y * act'(z), with act' written from the output y = act(z), or for the
    activations whose derivative needs the pre-activation (gelu, silu, ...), y is z."""
    if name in _FROM_INPUT:
        d = _FROM_INPUT[name][1](y.astype(np.float64))
        return (grad_y.astype(np.float64) * d).astype(grad_y.dtype)
    if name == "relu":
        return np.where(y > 0, grad_y, 0).astype(grad_y.dtype)
    if name == "leaky_relu":
        return np.where(y > 0, grad_y, grad_y * grad_y.dtype.type(slope))
    if name == "sigmoid":
        return grad_y * y * (1 - y)
    if name == "tanh":
        return grad_y * (1 - y * y)
    return grad_y


# ---------------------------------------------------------------------------- GEMM

def matmul(a, b, *, trans_a=False, trans_b=False, out=None):
    """op(a) @ op(b), where op transposes when asked."""
    fn = "matmul"
    a, b = _as_array(a, fn, "a"), _as_array(b, fn, "b")
    dtype = _result_dtype(a, b)
    if a.ndim != 2:
        raise ValueError(f"{fn}: a must be 2-D; got shape {a.shape}")
    if b.ndim != 2:
        raise ValueError(f"{fn}: b must be 2-D; got shape {b.shape}")
    a = a.astype(dtype, copy=False).T if trans_a else a.astype(dtype, copy=False)
    b = b.astype(dtype, copy=False).T if trans_b else b.astype(dtype, copy=False)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{fn}: inner dimensions must match: op(a) has shape {a.shape} "
                         f"and op(b) has shape {b.shape}")
    return _store(out, a @ b, fn)


# --------------------------------------------------------------------------- dense

def _dense_args(fn, x, w):
    x, w = _as_array(x, fn, "x"), _as_array(w, fn, "w")
    if x.ndim not in (1, 2):
        raise ValueError(f"{fn}: x must be 1-D (one sample) or 2-D (batch, in); "
                         f"got shape {x.shape}")
    if w.ndim != 2:
        raise ValueError(f"{fn}: w must be 2-D (in, out); got shape {w.shape}")
    if w.shape[0] != x.shape[-1]:
        raise ValueError(f"{fn}: w must have {x.shape[-1]} rows to match x of shape "
                         f"{x.shape}; got w of shape {w.shape}")
    return x, w


def dense_forward(x, w, b=None, activation="identity", *, slope=0.01, out=None, z_out=None):
    """y = act(x @ w + b), with x: (batch, in), w: (in, out), b: (out,); z_out receives
    the pre-activation z = x @ w + b (dense_backward's y for gelu, silu, softplus)."""
    fn = "dense_forward"
    act = _activation_name(activation, fn)
    if act == "leaky_relu":
        slope = _slope(slope, fn)
    x, w = _dense_args(fn, x, w)
    if b is not None:
        b = _as_array(b, fn, "b")
        if b.shape != (w.shape[1],):
            raise ValueError(f"{fn}: b must have shape ({w.shape[1]},) to match w of shape "
                             f"{w.shape}; got b of shape {b.shape}")
    dtype = _result_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    z = x @ w
    if b is not None:
        z = z + b.astype(dtype, copy=False)
    if z_out is not None:
        _store(z_out, z.astype(dtype, copy=False), fn, "z_out")
    return _store(out, _act(act, z, slope).astype(dtype, copy=False), fn)


def dense_backward(x, w, y, grad_y, activation="identity", *, slope=0.01, need_grad_x=True,
                   out=None):
    """Gradients of y = act(x @ w + b): (grad_x, grad_w, grad_b). For gelu, gelu_tanh,
    silu and softplus, y is the pre-activation z = x @ w + b (dense_forward's z_out)."""
    fn = "dense_backward"
    act = _activation_name(activation, fn)
    if act == "leaky_relu":
        slope = _slope(slope, fn)
    x, w = _dense_args(fn, x, w)
    y, grad_y = _as_array(y, fn, "y"), _as_array(grad_y, fn, "grad_y")
    y_shape = (w.shape[1],) if x.ndim == 1 else (x.shape[0], w.shape[1])
    if y.shape != y_shape:
        raise ValueError(f"{fn}: y must have shape {y_shape} to match x of shape {x.shape} "
                         f"and w of shape {w.shape}; got {y.shape}")
    if grad_y.shape != y_shape:
        raise ValueError(f"{fn}: grad_y must have shape {y_shape} (the shape of y); "
                         f"got {grad_y.shape}")
    if out is not None and (not isinstance(out, tuple) or len(out) != 3):
        raise TypeError(f"{fn}: out must be a tuple (grad_x, grad_w, grad_b)")
    dtype = _result_dtype(x, w, y, grad_y)
    x2 = np.atleast_2d(x.astype(dtype, copy=False))
    w = w.astype(dtype, copy=False)
    y2 = np.atleast_2d(y.astype(dtype, copy=False))
    gy2 = np.atleast_2d(grad_y.astype(dtype, copy=False))

    grad_z = _act_derivative_times(act, y2, gy2, slope)   # dL/dz, z = x @ w + b
    grad_w = x2.T @ grad_z                                 # dL/dw
    grad_b = grad_z.sum(axis=0)                            # dL/db
    grad_x = (grad_z @ w.T).reshape(x.shape) if need_grad_x else None   # dL/dx

    gx_out, gw_out, gb_out = out if out is not None else (None, None, None)
    grad_w = _store(gw_out, grad_w.astype(dtype, copy=False), fn, "out[1] (grad_w)")
    grad_b = _store(gb_out, grad_b.astype(dtype, copy=False), fn, "out[2] (grad_b)")
    if need_grad_x:
        grad_x = _store(gx_out, grad_x.astype(dtype, copy=False), fn, "out[0] (grad_x)")
    return grad_x, grad_w, grad_b


# --------------------------------------------------------------------- elementwise

def _elementwise(fn, x, out, f):
    x = _as_float(x, fn, "x")
    return _store(out, np.asarray(f(x), dtype=x.dtype), fn)


def identity(x, *, out=None):
    """y = x, as a float array."""
    return _elementwise("identity", x, out, lambda v: v.copy())


def relu(x, *, out=None):
    """y = max(x, 0)."""
    return _elementwise("relu", x, out, lambda v: np.maximum(v, 0))


def sigmoid(x, *, out=None):
    """y = 1 / (1 + exp(-x)), computed without overflow."""
    return _elementwise("sigmoid", x, out, _sigmoid)


def tanh(x, *, out=None):
    """y = tanh(x)."""
    return _elementwise("tanh", x, out, np.tanh)


def leaky_relu(x, slope=0.01, *, out=None):
    """y = x if x > 0 else slope * x."""
    slope = _slope(slope, "leaky_relu")
    return _elementwise("leaky_relu", x, out, lambda v: _act("leaky_relu", v, slope))


def _backward(fn, y, grad_y, out, act, slope=0.0):
    y, grad_y = _as_array(y, fn, "y"), _as_array(grad_y, fn, "grad_y")
    if y.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of y {y.shape}; "
                         f"got {grad_y.shape}")
    dtype = _result_dtype(y, grad_y)
    y, grad_y = y.astype(dtype, copy=False), grad_y.astype(dtype, copy=False)
    return _store(out, np.asarray(_act_derivative_times(act, y, grad_y, slope), dtype), fn)


def identity_backward(y, grad_y, *, out=None):
    """grad_x = grad_y."""
    return _backward("identity_backward", y, grad_y, out, "identity")


def relu_backward(y, grad_y, *, out=None):
    """grad_x = grad_y where y > 0, else 0."""
    return _backward("relu_backward", y, grad_y, out, "relu")


def sigmoid_backward(y, grad_y, *, out=None):
    """grad_x = grad_y * y * (1 - y)."""
    return _backward("sigmoid_backward", y, grad_y, out, "sigmoid")


def tanh_backward(y, grad_y, *, out=None):
    """grad_x = grad_y * (1 - y**2)."""
    return _backward("tanh_backward", y, grad_y, out, "tanh")


def leaky_relu_backward(y, grad_y, slope=0.01, *, out=None):
    """grad_x = grad_y where y > 0, else slope * grad_y."""
    slope = _slope(slope, "leaky_relu_backward")
    return _backward("leaky_relu_backward", y, grad_y, out, "leaky_relu", slope)


# ------------------------------------------------------------------------- softmax

def _axis(axis, ndim, shape, fn):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an int; got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: axis {axis} is out of bounds for x of shape {shape}")
    return int(axis)


def softmax(x, axis=-1, *, out=None):
    """exp(x - max) / sum(exp(x - max)) along axis."""
    fn = "softmax"
    x = _as_float(x, fn, "x")
    axis = _axis(axis, x.ndim, x.shape, fn)
    if x.size == 0:
        return _store(out, x.copy(), fn)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return _store(out, (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype), fn)


def log_softmax(x, axis=-1, *, out=None):
    """x - max - log(sum(exp(x - max))) along axis."""
    fn = "log_softmax"
    x = _as_float(x, fn, "x")
    axis = _axis(axis, x.ndim, x.shape, fn)
    if x.size == 0:
        return _store(out, x.copy(), fn)
    shifted = x - x.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return _store(out, (shifted - lse).astype(x.dtype), fn)


def _softmax_backward_args(fn, y, grad_y, axis):
    y, grad_y = _as_array(y, fn, "y"), _as_array(grad_y, fn, "grad_y")
    if y.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of y {y.shape}; "
                         f"got {grad_y.shape}")
    axis = _axis(axis, y.ndim, y.shape, fn)
    dtype = _result_dtype(y, grad_y)
    return y.astype(dtype, copy=False), grad_y.astype(dtype, copy=False), axis


def softmax_backward(y, grad_y, axis=-1, *, out=None):
    """grad_x = y * (grad_y - sum(grad_y * y)) along axis."""
    fn = "softmax_backward"
    y, grad_y, axis = _softmax_backward_args(fn, y, grad_y, axis)
    dot = (grad_y * y).sum(axis=axis, keepdims=True)
    return _store(out, (y * (grad_y - dot)).astype(y.dtype), fn)


def log_softmax_backward(y, grad_y, axis=-1, *, out=None):
    """grad_x = grad_y - exp(y) * sum(grad_y) along axis."""
    fn = "log_softmax_backward"
    y, grad_y, axis = _softmax_backward_args(fn, y, grad_y, axis)
    total = grad_y.sum(axis=axis, keepdims=True)
    return _store(out, (grad_y - np.exp(y) * total).astype(y.dtype), fn)


# -------------------------------------------------------------------------- losses

def _weights(sample_weight, rows, fn):
    if sample_weight is None:
        return None
    w = _as_array(sample_weight, fn, "sample_weight")
    if w.ndim > 1 or w.size != rows:
        raise ValueError(f"{fn}: sample_weight must have shape ({rows},) (one weight per "
                         f"sample); got {w.shape}")
    return w.reshape(rows)


def _reduce(fn, losses_per_sample, weights, per, reduction, none_values):
    """Apply the reduction to per-sample sums of losses."""
    if reduction == "none":
        return none_values
    if reduction == "sum":
        return float(np.sum(losses_per_sample * (1 if weights is None else weights),
                            dtype=np.float64))
    n = losses_per_sample.size * per
    if n == 0:
        raise ValueError(f"{fn}: reduction='mean' of an empty input is undefined; "
                         "use reduction='sum' or 'none'")
    if weights is None:
        return float(np.sum(losses_per_sample, dtype=np.float64) / n)
    total_weight = np.sum(weights, dtype=np.float64)
    if total_weight == 0:
        raise ValueError(f"{fn}: reduction='mean' with sample_weight summing to 0 is "
                         "undefined")
    return float(np.sum(losses_per_sample * weights, dtype=np.float64) / (total_weight * per))


def _mean_scale(fn, weights, rows, per, reduction, dtype):
    """d(reduced loss) / d(per-element loss) for each sample, shaped (rows, 1)."""
    w = np.ones(rows, np.float64) if weights is None else weights.astype(np.float64)
    if reduction == "mean":
        total = rows * per if weights is None else np.sum(w) * per
        if rows * per == 0:
            raise ValueError(f"{fn}: reduction='mean' of an empty input is undefined; "
                             "use reduction='sum' or 'none'")
        if total == 0:
            raise ValueError(f"{fn}: reduction='mean' with sample_weight summing to 0 is "
                             "undefined")
        w = w / total
    return w.astype(dtype).reshape(rows, 1)


def _elementwise_loss_args(fn, first, target, sample_weight, first_name):
    first = _as_array(first, fn, first_name)
    target = _as_array(target, fn, "target")
    if first.shape != target.shape:
        raise ValueError(f"{fn}: target must have the shape of {first_name} {first.shape}; "
                         f"got {target.shape}")
    rows = 1 if first.ndim == 0 else first.shape[0]
    weights = _weights(sample_weight, rows, fn)
    dtype = _result_dtype(first, target, weights)
    first, target = first.astype(dtype, copy=False), target.astype(dtype, copy=False)
    if weights is not None:
        weights = weights.astype(dtype, copy=False)
    per = first.size // rows if rows else 0
    return first, target, weights, rows, per, dtype


def _elementwise_loss(fn, first, target, reduction, sample_weight, out, first_name,
                      loss_fn, grad_fn, want):
    reduction = _reduction(reduction, fn)
    x, t, w, rows, per, dtype = _elementwise_loss_args(fn, first, target, sample_weight,
                                                       first_name)
    grad = None
    if want != "loss":
        _check_out(out, x.shape, dtype, fn)
        scale = _mean_scale(fn, w, rows, per, reduction, dtype)
        grad = (grad_fn(x, t).reshape(rows, per) * scale).reshape(x.shape).astype(dtype)
        grad = _store(out, grad, fn)
        if want == "grad":
            return grad
    losses = loss_fn(x, t).astype(dtype)
    by_row = losses.reshape(rows, per)
    none_values = None
    if reduction == "none":
        none_values = losses if w is None else (by_row * w.reshape(rows, 1)).reshape(x.shape)
        none_values = np.asarray(none_values, dtype)
    value = _reduce(fn, by_row.sum(axis=1, dtype=np.float64), w, per, reduction, none_values)
    return value if want == "loss" else (value, grad)


def _squared_error(p, t):
    return (p - t) ** 2


def _squared_error_grad(p, t):
    return 2 * (p - t)


def mse_loss(pred, target, reduction="mean", *, sample_weight=None):
    """mean((pred - target)**2)."""
    return _elementwise_loss("mse_loss", pred, target, reduction, sample_weight, None, "pred",
                             _squared_error, _squared_error_grad, "loss")


def mse_loss_backward(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """d mse_loss / d pred = 2 (pred - target) / n."""
    return _elementwise_loss("mse_loss", pred, target, reduction, sample_weight, out, "pred",
                             _squared_error, _squared_error_grad, "grad")


def mse_loss_and_grad(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """(mse_loss, mse_loss_backward)."""
    return _elementwise_loss("mse_loss", pred, target, reduction, sample_weight, out, "pred",
                             _squared_error, _squared_error_grad, "both")


def _bce(z, t):
    """max(z, 0) - z*t + log(1 + exp(-|z|)): never overflows."""
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def _bce_grad(z, t):
    return _sigmoid(z) - t


def binary_cross_entropy_with_logits(logits, target, reduction="mean", *, sample_weight=None):
    """Binary cross-entropy of sigmoid(logits) against target, from the logits."""
    return _elementwise_loss("binary_cross_entropy_with_logits", logits, target, reduction,
                             sample_weight, None, "logits", _bce, _bce_grad, "loss")


def binary_cross_entropy_with_logits_backward(logits, target, reduction="mean", *,
                                              sample_weight=None, out=None):
    """d bce / d logits = (sigmoid(logits) - target) / n."""
    return _elementwise_loss("binary_cross_entropy_with_logits", logits, target, reduction,
                             sample_weight, out, "logits", _bce, _bce_grad, "grad")


def binary_cross_entropy_with_logits_and_grad(logits, target, reduction="mean", *,
                                              sample_weight=None, out=None):
    """(loss, grad) of binary_cross_entropy_with_logits."""
    return _elementwise_loss("binary_cross_entropy_with_logits", logits, target, reduction,
                             sample_weight, out, "logits", _bce, _bce_grad, "both")


def _cross_entropy(logits, target, reduction, sample_weight, out, want):
    fn = "cross_entropy"
    reduction = _reduction(reduction, fn)
    z = _as_array(logits, fn, "logits")
    t = _as_array(target, fn, "target")
    if z.ndim not in (1, 2):
        raise ValueError(f"{fn}: logits must be 2-D (batch, classes) or 1-D (classes,); "
                         f"got shape {z.shape}")
    one = z.ndim == 1
    z2 = z.reshape(1, -1) if one else z
    rows, classes = z2.shape
    probabilities = t.dtype.kind == "f" and t.shape == z.shape
    if classes == 0 and (probabilities or t.shape == (() if one else (rows,))):
        raise ValueError(f"{fn}: logits must have at least one class; got 0 columns")
    if not probabilities:
        label_shape = () if one else (rows,)
        if t.shape != label_shape:
            raise ValueError(f"{fn}: target must be class labels of shape {label_shape} or "
                             f"probabilities of shape {z.shape} to match logits; "
                             f"got {t.shape}")
        labels = t.reshape(rows)
        for i, v in enumerate(labels):
            if t.dtype.kind == "f" and not (np.isfinite(v) and np.floor(v) == v):
                raise ValueError(f"{fn}: target[{i}] = {v} is not a whole number "
                                 "(class labels must be integers)")
            if not 0 <= v < classes:
                raise ValueError(f"{fn}: target[{i}] = {v} is out of range for "
                                 f"{classes} classes")
        labels = labels.astype(np.int64)
    weights = _weights(sample_weight, rows, fn)
    dtype = _result_dtype(z, t if probabilities else None, weights)
    z2 = z2.astype(dtype, copy=False)

    # log_softmax, row by row, max-shifted
    shifted = z2 - z2.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    if probabilities:
        p = t.reshape(rows, classes).astype(dtype, copy=False)
        losses = -(p * log_probs).sum(axis=1)
        onehot = p
    else:
        losses = -log_probs[np.arange(rows), labels]
        onehot = np.zeros_like(z2)
        onehot[np.arange(rows), labels] = 1

    grad = None
    if want != "loss":
        _check_out(out, z.shape, dtype, fn)
        # d/dz of -sum_k t_k log_softmax_k = sum(t) * softmax - t
        softmax_ = np.exp(log_probs)
        g = onehot.sum(axis=1, keepdims=True) * softmax_ - onehot
        scale = _mean_scale(fn, weights, rows, 1, reduction, dtype)
        grad = _store(out, (g * scale).astype(dtype).reshape(z.shape), fn)
        if want == "grad":
            return grad
    none_values = None
    if reduction == "none":
        nv = losses if weights is None else losses * weights.astype(dtype)
        none_values = np.asarray(nv, dtype).reshape(() if one else (rows,))
    w = None if weights is None else weights.astype(dtype)
    value = _reduce(fn, losses.astype(np.float64), w, 1, reduction, none_values)
    return value if want == "loss" else (value, grad)


def cross_entropy(logits, target, reduction="mean", *, sample_weight=None):
    """-log_softmax(logits)[target], or -sum(target * log_softmax(logits)) for probabilities."""
    return _cross_entropy(logits, target, reduction, sample_weight, None, "loss")


def cross_entropy_backward(logits, target, reduction="mean", *, sample_weight=None, out=None):
    """d cross_entropy / d logits = (softmax(logits) - onehot(target)) / batch."""
    return _cross_entropy(logits, target, reduction, sample_weight, out, "grad")


def cross_entropy_and_grad(logits, target, reduction="mean", *, sample_weight=None, out=None):
    """(cross_entropy, cross_entropy_backward)."""
    return _cross_entropy(logits, target, reduction, sample_weight, out, "both")


# ---------------------------------------------------------------------- optimisers

def _param(param, fn, name="param"):
    if not isinstance(param, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray updated in place; "
                        f"got {type(param).__name__}")
    if param.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: {name} must have dtype float32 or float64; got {param.dtype}")
    if not param.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be C-contiguous")
    if not param.flags.writeable:
        raise ValueError(f"{fn}: {name} must be writeable")
    return param


def _state(a, param, fn, name):
    _param(a, fn, name)
    if a.dtype != param.dtype:
        raise ValueError(f"{fn}: {name} must have dtype {param.dtype} like param")
    if a.shape != param.shape:
        raise ValueError(f"{fn}: {name} must have the shape of param {param.shape}; "
                         f"got {a.shape}")
    return a


def _nonneg(v, fn, name):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number; got {type(v).__name__}")
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{fn}: {name} must be a finite number >= 0; got {v}")
    return float(v)


def sgd_step(param, grad, velocity=None, *, lr, momentum=0.0, weight_decay=0.0,
             nesterov=False, dampening=0.0, first=False):
    """param -= lr * step, as torch.optim.SGD (on the first step velocity = g, undamped)."""
    fn = "sgd_step"
    _param(param, fn)
    grad = _as_float(grad, fn, "grad", param.dtype)
    lr, momentum = _nonneg(lr, fn, "lr"), _nonneg(momentum, fn, "momentum")
    weight_decay = _nonneg(weight_decay, fn, "weight_decay")
    dampening = _nonneg(dampening, fn, "dampening")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"{fn}: nesterov requires momentum > 0 and dampening == 0")
    if momentum != 0 and velocity is None:
        raise ValueError(f"{fn}: velocity must be an array when momentum > 0; got None")
    if grad.shape != param.shape:
        raise ValueError(f"{fn}: grad must have the shape of param {param.shape}; "
                         f"got {grad.shape}")
    t = param.dtype.type
    g = grad + t(weight_decay) * param
    if momentum != 0:
        _state(velocity, param, fn, "velocity")
        if first:
            velocity[...] = g
        else:
            velocity[...] = t(momentum) * velocity + t(1 - dampening) * g
        g = g + t(momentum) * velocity if nesterov else velocity
    param -= t(lr) * g


def adam_step(param, grad, m, v, max_v=None, *, step, lr=1e-3, beta1=0.9, beta2=0.999,
              eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False):
    """One Adam update, as torch.optim.Adam (m and v start at zero; step counts from 1);
    ``max_v`` turns on amsgrad, ``decoupled_weight_decay`` is torch.optim.AdamW."""
    fn = "adam_step"
    _param(param, fn)
    grad = _as_float(grad, fn, "grad", param.dtype)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"{fn}: step must be an int; got {type(step).__name__}")
    if step < 1:
        raise ValueError(f"{fn}: step must be >= 1 (it counts updates from 1); got {step}")
    lr, eps = _nonneg(lr, fn, "lr"), _nonneg(eps, fn, "eps")
    beta1, beta2 = _nonneg(beta1, fn, "beta1"), _nonneg(beta2, fn, "beta2")
    weight_decay = _nonneg(weight_decay, fn, "weight_decay")
    if beta1 >= 1 or beta2 >= 1:
        raise ValueError(f"{fn}: beta1 and beta2 must be in [0, 1); got {beta1} and {beta2}")
    if grad.shape != param.shape:
        raise ValueError(f"{fn}: grad must have the shape of param {param.shape}; "
                         f"got {grad.shape}")
    _state(m, param, fn, "m")
    _state(v, param, fn, "v")
    if max_v is not None:
        _state(max_v, param, fn, "max_v")
    t = param.dtype.type
    if decoupled_weight_decay:
        g = grad
        if weight_decay:
            param *= t(1 - lr * weight_decay)
    else:
        g = grad + t(weight_decay) * param
    m[...] = t(beta1) * m + t(1 - beta1) * g
    v[...] = t(beta2) * v + t(1 - beta2) * g * g
    u = v
    if max_v is not None:
        np.maximum(max_v, v, out=max_v)
        u = max_v
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    denom = np.sqrt(u) / t(np.sqrt(bias_correction2)) + t(eps)
    param -= t(lr / bias_correction1) * m / denom


def rmsprop_step(param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, lr=1e-2,
                 alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """One RMSprop update, as torch.optim.RMSprop (the state arrays start at zero)."""
    fn = "rmsprop_step"
    _param(param, fn)
    grad = _as_float(grad, fn, "grad", param.dtype)
    lr, alpha, eps = _nonneg(lr, fn, "lr"), _nonneg(alpha, fn, "alpha"), _nonneg(eps, fn, "eps")
    weight_decay = _nonneg(weight_decay, fn, "weight_decay")
    momentum = _nonneg(momentum, fn, "momentum")
    if alpha > 1:
        raise ValueError(f"{fn}: alpha must be in [0, 1]; got {alpha}")
    if grad.shape != param.shape:
        raise ValueError(f"{fn}: grad must have the shape of param {param.shape}; "
                         f"got {grad.shape}")
    _state(square_avg, param, fn, "square_avg")
    t = param.dtype.type
    g = grad + t(weight_decay) * param
    square_avg[...] = t(alpha) * square_avg + t(1 - alpha) * g * g
    if centered:
        _state(grad_avg, param, fn, "grad_avg")
        grad_avg[...] = t(alpha) * grad_avg + t(1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + t(eps)
    else:
        avg = np.sqrt(square_avg) + t(eps)
    if momentum != 0:
        _state(momentum_buffer, param, fn, "momentum_buffer")
        momentum_buffer[...] = t(momentum) * momentum_buffer + g / avg
        param -= t(lr) * momentum_buffer
    else:
        param -= t(lr) * (g / avg)


def clip_grad_norm_(grads, max_norm):
    """Global-norm clipping in place, as torch.nn.utils.clip_grad_norm_; returns the norm."""
    grads = list(grads)
    total = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    if total > max_norm and total > 0:
        for g in grads:
            g *= g.dtype.type(max_norm / (total + 1e-6))
    return total


def clip_grad_value_(grads, clip_value):
    """Every gradient element into [-clip_value, clip_value], in place."""
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)


def count_correct(out, target):
    """Correct predictions: argmax against labels (or the target's argmax) for several
    outputs; (out > 0) against (target > 0.5) for one."""
    out = np.asarray(out)
    target = np.asarray(target)
    if out.shape[1] > 1:
        truth = target if target.ndim == 1 else target.argmax(axis=1)
        return int(np.sum(out.argmax(axis=1) == truth))
    return int(np.sum((out[:, 0] > 0) == (target.reshape(len(target)) > 0.5)))


def layer_health(w, prev, grad_w, y, activation):
    """(grad_norm, weight_norm, update_ratio, saturated, dead) of a Dense layer after a
    training step, in float64: the twin of the statistics :class:`nncore.GradientHealth`
    records (``nncore._core._layer_health``, which has no public functional name).
    ``prev`` holds the weights before the step and is set to ``w``; ``y`` is the layer's
    output (rows x units), compared with the thresholds in its own dtype."""
    w64, p64, g64 = (np.asarray(a, dtype=np.float64) for a in (w, prev, grad_w))
    change = w64 - p64
    grad_norm = math.sqrt(np.sum(g64 * g64))
    weight_norm = math.sqrt(np.sum(w64 * w64))
    update_ratio = math.sqrt(np.sum(change * change)) / (math.sqrt(np.sum(p64 * p64)) + 1e-12)
    y = np.asarray(y)
    t = y.dtype.type
    saturated = dead = 0.0
    if y.size and activation == "sigmoid":
        saturated = float(np.mean((y < t(0.01)) | (y > t(0.99))))
    elif y.size and activation == "tanh":
        saturated = float(np.mean(np.abs(y) > t(0.99)))
    elif y.size and activation == "relu":
        dead = float(np.mean(np.all(y <= 0, axis=0)))  # a NaN keeps its unit alive
    prev[...] = w
    return grad_norm, weight_norm, update_ratio, saturated, dead


# --------------------------------------------------- L1 and Huber losses, dropout

__all__ += ["l1_loss", "l1_loss_backward", "l1_loss_and_grad", "huber_loss",
            "huber_loss_backward", "huber_loss_and_grad", "dropout", "dropout_backward"]


def _abs_error(p, t):
    return np.abs(p - t)


def _abs_error_grad(p, t):
    return np.sign(p - t)


def l1_loss(pred, target, reduction="mean", *, sample_weight=None):
    """mean(|pred - target|)."""
    return _elementwise_loss("l1_loss", pred, target, reduction, sample_weight, None, "pred",
                             _abs_error, _abs_error_grad, "loss")


def l1_loss_backward(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """d l1_loss / d pred = sign(pred - target) / n."""
    return _elementwise_loss("l1_loss", pred, target, reduction, sample_weight, out, "pred",
                             _abs_error, _abs_error_grad, "grad")


def l1_loss_and_grad(pred, target, reduction="mean", *, sample_weight=None, out=None):
    """(l1_loss, l1_loss_backward)."""
    return _elementwise_loss("l1_loss", pred, target, reduction, sample_weight, out, "pred",
                             _abs_error, _abs_error_grad, "both")


def _huber(delta):
    def loss(p, t):
        d = p - t
        return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))

    def grad(p, t):
        return np.clip(p - t, -delta, delta)
    return loss, grad


def _delta(delta, fn):
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: delta must be a real number; got {type(delta).__name__}")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"{fn}: delta must be a finite number > 0; got {delta}")
    return float(delta)


def huber_loss(pred, target, reduction="mean", delta=1.0, *, sample_weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2), with d = pred - target."""
    loss, grad = _huber(_delta(delta, "huber_loss"))
    return _elementwise_loss("huber_loss", pred, target, reduction, sample_weight, None,
                             "pred", loss, grad, "loss")


def huber_loss_backward(pred, target, reduction="mean", delta=1.0, *, sample_weight=None,
                        out=None):
    """d huber_loss / d pred = clip(pred - target, -delta, delta) / n."""
    loss, grad = _huber(_delta(delta, "huber_loss"))
    return _elementwise_loss("huber_loss", pred, target, reduction, sample_weight, out,
                             "pred", loss, grad, "grad")


def huber_loss_and_grad(pred, target, reduction="mean", delta=1.0, *, sample_weight=None,
                        out=None):
    """(huber_loss, huber_loss_backward)."""
    loss, grad = _huber(_delta(delta, "huber_loss"))
    return _elementwise_loss("huber_loss", pred, target, reduction, sample_weight, out,
                             "pred", loss, grad, "both")


def _dropout_uniform(seed, n):
    """u(seed, i) for i < n: splitmix64 of seed + (i + 1) * golden, top 53 bits / 2**53."""
    z = np.uint64(seed) + (np.arange(1, n + 1, dtype=np.uint64) *
                           np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def dropout(x, p, seed, *, out=None, mask=None):
    """(x * mask, mask): mask = 1 / (1 - p) where u(seed, i) >= p, else 0."""
    fn = "dropout"
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: p must be a real number; got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"{fn}: p must be in [0, 1]; got {p}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int; got {type(seed).__name__}")
    if not 0 <= int(seed) < 2 ** 64:
        raise ValueError(f"{fn}: seed must be in [0, 2**64); got {seed}")
    x = _as_float(x, fn, "x")
    scale = x.dtype.type(1.0 / (1.0 - p)) if p < 1 else x.dtype.type(0)
    with np.errstate(over="ignore"):
        keep = _dropout_uniform(int(seed), x.size).reshape(x.shape) >= p
    m = np.where(keep, scale, x.dtype.type(0)).astype(x.dtype)
    y = (x * m).astype(x.dtype)
    return _store(out, y, fn), _store(mask, m, fn, "mask")


def dropout_backward(mask, grad_y, *, out=None):
    """grad_y * mask."""
    fn = "dropout_backward"
    mask, grad_y = _as_array(mask, fn, "mask"), _as_array(grad_y, fn, "grad_y")
    if mask.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of mask {mask.shape}; got "
                         f"{grad_y.shape}")
    dtype = _result_dtype(mask, grad_y)
    return _store(out, (grad_y.astype(dtype) * mask.astype(dtype)).astype(dtype), fn)


# --------------------------------------------------- gelu, silu, softplus

__all__ += ["gelu", "gelu_backward", "silu", "silu_backward", "softplus", "softplus_backward"]


def _approximate(approximate, fn):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{fn}: approximate must be 'none' or 'tanh'; got {approximate!r}")
    return approximate


def _erfc(x):
    """erfc elementwise (math.erfc: NumPy has none)."""
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


def _gelu(x, approximate):
    """x Phi(x) = 0.5 x erfc(-x / sqrt 2) (= 0.5 x (1 + erf(x / sqrt 2)), without its
    cancellation for x << 0); tanh form: 0.5 x (1 + tanh(u)) = x sigmoid(2u)."""
    if approximate == "tanh":
        u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
        return x * _sig(2 * u)
    return 0.5 * x * _erfc(-x / np.sqrt(2))


def _gelu_derivative(x, approximate):
    """Phi(x) + x phi(x); tanh form: s + 2 x s (1 - s) u'(x), s = sigmoid(2u)."""
    if approximate == "tanh":
        k, c = np.sqrt(2 / np.pi), 0.044715
        s = _sig(2 * k * (x + c * x ** 3))
        return s + 2 * x * s * _sig(-2 * k * (x + c * x ** 3)) * k * (1 + 3 * c * x ** 2)
    return 0.5 * _erfc(-x / np.sqrt(2)) + x * np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi)


def _silu(x):
    return x * _sig(x)


def _silu_derivative(x):
    s = _sig(x)
    return s * (1 + x * (1 - s))


def _softplus(x):
    with np.errstate(over="ignore"):
        return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def _softplus_derivative(x):
    return np.where(x > 20, 1.0, _sig(x))


# The activations whose derivative needs the pre-activation: (forward, derivative) of
# float64 values, for dense_forward / dense_backward.
_FROM_INPUT = {
    "gelu": (lambda x: _gelu(x, "none"), lambda x: _gelu_derivative(x, "none")),
    "gelu_tanh": (lambda x: _gelu(x, "tanh"), lambda x: _gelu_derivative(x, "tanh")),
    "silu": (_silu, _silu_derivative),
    "softplus": (_softplus, _softplus_derivative),
}


def _sig(x):
    """sigmoid without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def gelu(x, approximate="none", *, out=None):
    """0.5 x (1 + erf(x / sqrt 2)), or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    fn = "gelu"
    _approximate(approximate, fn)
    x = _as_float(x, fn, "x")
    return _store(out, _gelu(x.astype(np.float64), approximate).astype(x.dtype), fn)


def gelu_backward(x, grad_y, approximate="none", *, out=None):
    """grad_y * gelu'(x): Phi(x) + x phi(x) (exact form)."""
    fn = "gelu_backward"
    _approximate(approximate, fn)
    x, grad_y = _as_array(x, fn, "x"), _as_array(grad_y, fn, "grad_y")
    if x.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of x {x.shape}; got {grad_y.shape}")
    dtype = _result_dtype(x, grad_y)
    d = _gelu_derivative(x.astype(np.float64), approximate)
    return _store(out, (grad_y.astype(np.float64) * d).astype(dtype), fn)


def silu(x, *, out=None):
    """x * sigmoid(x)."""
    x = _as_float(x, "silu", "x")
    return _store(out, _silu(x.astype(np.float64)).astype(x.dtype), "silu")


def silu_backward(x, grad_y, *, out=None):
    """grad_y * s (1 + x (1 - s)), s = sigmoid(x)."""
    fn = "silu_backward"
    x, grad_y = _as_array(x, fn, "x"), _as_array(grad_y, fn, "grad_y")
    if x.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of x {x.shape}; got {grad_y.shape}")
    dtype = _result_dtype(x, grad_y)
    d = _silu_derivative(x.astype(np.float64))
    return _store(out, (grad_y.astype(np.float64) * d).astype(dtype), fn)


def softplus(x, *, out=None):
    """log(1 + exp(x)); x where x > 20."""
    x = _as_float(x, "softplus", "x")
    return _store(out, _softplus(x.astype(np.float64)).astype(x.dtype), "softplus")


def softplus_backward(x, grad_y, *, out=None):
    """grad_y * sigmoid(x); grad_y where x > 20."""
    fn = "softplus_backward"
    x, grad_y = _as_array(x, fn, "x"), _as_array(grad_y, fn, "grad_y")
    if x.shape != grad_y.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of x {x.shape}; got {grad_y.shape}")
    dtype = _result_dtype(x, grad_y)
    x64 = x.astype(np.float64)
    d = np.where(x64 > 20, 1.0, _sig(x64))
    return _store(out, (grad_y.astype(np.float64) * d).astype(dtype), fn)


# --------------------------------------------------- layer and batch normalisation

__all__ += ["layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"]


def _feature_vec(v, n, x, fn, name):
    """None, or a per-feature vector of shape (n,)."""
    if v is None:
        return None
    v = _as_array(v, fn, name)
    if v.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},) to match the {n} features of "
                         f"x of shape {x.shape}; got {v.shape}")
    return v


def _out3(out, fn, what):
    if out is None:
        return None, None, None
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(f"{fn}: out must be a tuple {what}; got {type(out).__name__}")
    return out


def _layer_features(x, fn):
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must be at least 1-D (normalised over its last axis); got "
                         f"shape {x.shape}")
    if x.shape[-1] < 1:
        raise ValueError(f"{fn}: x must have at least one feature (last axis); got shape "
                         f"{x.shape}")
    return x.shape[-1]


def layer_norm(x, weight=None, bias=None, eps=1e-5, *, out=None):
    """(y, mean, rstd): each row (last axis) of x normalised, then * weight + bias."""
    fn = "layer_norm"
    x = _as_array(x, fn, "x")
    n = _layer_features(x, fn)
    weight = _feature_vec(weight, n, x, fn, "weight")
    bias = _feature_vec(bias, n, x, fn, "bias")
    eps = _nonneg(eps, fn, "eps")
    y_out, mean_out, rstd_out = _out3(out, fn, "(y, mean, rstd)")
    dtype = _result_dtype(x, weight, bias)
    x64 = x.astype(np.float64)

    mean = x64.mean(axis=-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=-1, keepdims=True)   # biased, as torch
    rstd = 1.0 / np.sqrt(var + eps)
    y = (x64 - mean) * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias

    return (_store(y_out, y.astype(dtype), fn, "out[0] (y)"),
            _store(mean_out, mean[..., 0].astype(dtype), fn, "out[1] (mean)"),
            _store(rstd_out, rstd[..., 0].astype(dtype), fn, "out[2] (rstd)"))


def layer_norm_backward(x, mean, rstd, grad_y, weight=None, *, out=None):
    """(grad_x, grad_weight, grad_bias) through layer_norm."""
    fn = "layer_norm_backward"
    x = _as_array(x, fn, "x")
    n = _layer_features(x, fn)
    mean, rstd = _as_array(mean, fn, "mean"), _as_array(rstd, fn, "rstd")
    grad_y = _as_array(grad_y, fn, "grad_y")
    for name, s in (("mean", mean), ("rstd", rstd)):
        if s.shape != x.shape[:-1]:
            raise ValueError(f"{fn}: {name} must have shape {x.shape[:-1]} (one value per row "
                             f"of x of shape {x.shape}); got {s.shape}")
    if grad_y.shape != x.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of x {x.shape}; got "
                         f"{grad_y.shape}")
    weight = _feature_vec(weight, n, x, fn, "weight")
    gx_out, gw_out, gb_out = _out3(out, fn, "(grad_x, grad_weight, grad_bias)")
    dtype = _result_dtype(x, mean, rstd, grad_y, weight)
    x64, gy = x.astype(np.float64), grad_y.astype(np.float64)
    mean64 = mean.astype(np.float64)[..., None]
    rstd64 = rstd.astype(np.float64)[..., None]

    xhat = (x64 - mean64) * rstd64
    g = gy * weight if weight is not None else gy                       # dL/dxhat
    grad_x = rstd64 * (g - g.mean(axis=-1, keepdims=True)
                       - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    grad_weight = (gy * xhat).reshape(-1, n).sum(axis=0)
    grad_bias = gy.reshape(-1, n).sum(axis=0)

    return (_store(gx_out, grad_x.astype(dtype), fn, "out[0] (grad_x)"),
            _store(gw_out, grad_weight.astype(dtype), fn, "out[1] (grad_weight)"),
            _store(gb_out, grad_bias.astype(dtype), fn, "out[2] (grad_bias)"))


def _batch_features(x, fn):
    if x.ndim != 2:
        raise ValueError(f"{fn}: x must be 2-D (batch, features); got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{fn}: x must have at least one feature; got shape {x.shape}")
    return x.shape[1]


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5, *, out=None):
    """(y, mean, rstd): each feature (column) of x normalised over the batch, as torch's
    F.batch_norm (the running statistics are updated in place when training)."""
    fn = "batch_norm"
    x = _as_array(x, fn, "x")
    n = _batch_features(x, fn)
    batch = x.shape[0]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    running = running_mean is not None
    if not training and not running:
        raise ValueError(f"{fn}: training=False normalises with the running statistics: "
                         "running_mean and running_var are required")
    if training and batch < 2:
        raise ValueError(f"{fn}: training needs more than one row in x to compute batch "
                         f"statistics; got x of shape {x.shape}")
    rm = _feature_vec(running_mean, n, x, fn, "running_mean")
    rv = _feature_vec(running_var, n, x, fn, "running_var")
    weight = _feature_vec(weight, n, x, fn, "weight")
    bias = _feature_vec(bias, n, x, fn, "bias")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.integer,
                                                               np.floating)):
        raise TypeError(f"{fn}: momentum must be a real number; got {type(momentum).__name__}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"{fn}: momentum must be in [0, 1]; got {momentum}")
    eps = _nonneg(eps, fn, "eps")
    y_out, mean_out, rstd_out = _out3(out, fn, "(y, mean, rstd)")
    dtype = _result_dtype(x, weight, bias)
    if running and training:
        _check_out(running_mean, (n,), dtype, fn, "running_mean")
        _check_out(running_var, (n,), dtype, fn, "running_var")
    x64 = x.astype(np.float64)

    if training:
        mean = x64.mean(axis=0)
        var = ((x64 - mean) ** 2).mean(axis=0)                 # biased: normalises
        if running:
            unbiased = var * batch / (batch - 1)               # unbiased: running estimate
            running_mean[...] = momentum * mean + (1 - momentum) * rm.astype(np.float64)
            running_var[...] = momentum * unbiased + (1 - momentum) * rv.astype(np.float64)
    else:
        mean, var = rm.astype(np.float64), rv.astype(np.float64)
    rstd = 1.0 / np.sqrt(var + eps)
    y = (x64 - mean) * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias

    return (_store(y_out, y.astype(dtype), fn, "out[0] (y)"),
            _store(mean_out, mean.astype(dtype), fn, "out[1] (mean)"),
            _store(rstd_out, rstd.astype(dtype), fn, "out[2] (rstd)"))


def batch_norm_backward(x, mean, rstd, grad_y, weight=None, training=False, *, out=None):
    """(grad_x, grad_weight, grad_bias) through batch_norm."""
    fn = "batch_norm_backward"
    x = _as_array(x, fn, "x")
    n = _batch_features(x, fn)
    grad_y = _as_array(grad_y, fn, "grad_y")
    if grad_y.shape != x.shape:
        raise ValueError(f"{fn}: grad_y must have the shape of x {x.shape}; got "
                         f"{grad_y.shape}")
    mean = _feature_vec(mean, n, x, fn, "mean")
    rstd = _feature_vec(rstd, n, x, fn, "rstd")
    if mean is None or rstd is None:
        raise TypeError(f"{fn}: mean and rstd must be array-likes of numbers; got None")
    weight = _feature_vec(weight, n, x, fn, "weight")
    gx_out, gw_out, gb_out = _out3(out, fn, "(grad_x, grad_weight, grad_bias)")
    dtype = _result_dtype(x, mean, rstd, grad_y, weight)
    x64, gy = x.astype(np.float64), grad_y.astype(np.float64)
    rstd64 = rstd.astype(np.float64)
    batch = x.shape[0]

    xhat = (x64 - mean.astype(np.float64)) * rstd64
    grad_weight = (gy * xhat).sum(axis=0)
    grad_bias = gy.sum(axis=0)
    scale = rstd64 * (weight.astype(np.float64) if weight is not None else 1.0)
    if training:   # the mean and variance depend on x too
        grad_x = scale / batch * (batch * gy - grad_bias - xhat * grad_weight)
    else:          # running statistics: constants
        grad_x = scale * gy

    return (_store(gx_out, grad_x.astype(dtype), fn, "out[0] (grad_x)"),
            _store(gw_out, grad_weight.astype(dtype), fn, "out[1] (grad_weight)"),
            _store(gb_out, grad_bias.astype(dtype), fn, "out[2] (grad_bias)"))


# ----------------------------------------------------------------- metrics' counts

__all__ += ["confusion_matrix", "roc_auc"]


def _class_labels(t, classes, fn):
    """1-D labels as int64, each a whole number in [0, classes)."""
    bad_whole = ~(np.isfinite(t) & (np.floor(t) == t)) if t.dtype.kind == "f" else \
        np.zeros(t.shape, bool)
    bad_range = (t < 0) | (t >= classes)
    for i in np.flatnonzero(bad_whole | bad_range)[:1]:
        if bad_whole[i]:
            raise ValueError(f"{fn}: target[{i}] = {t[i]} is not a whole number "
                             "(class labels must be integers)")
        raise ValueError(f"{fn}: target[{i}] = {t[i]} is out of range for {classes} classes")
    return t.astype(np.int64)


def confusion_matrix(out, target, sample_weight=None, *, threshold=0.0):
    """m[i, j]: the (weighted) count of rows of true class i predicted j. Several outputs:
    predicted = argmax of the row, true = the label or the argmax of the target row; one
    output: predicted = out > threshold, true = the label or target > 0.5."""
    fn = "confusion_matrix"
    o = _as_array(out, fn, "out")
    t = _as_array(target, fn, "target")
    if o.ndim != 2 or o.shape[1] < 1:
        raise ValueError(f"{fn}: out must be 2-D (batch, outputs) with at least one output; "
                         f"got shape {o.shape}")
    rows, cols = o.shape
    classes = cols if cols > 1 else 2
    column = t.ndim == 1 or (cols == 1 and t.shape == (rows, 1))
    if not (t.ndim >= 1 and t.shape[0] == rows and (column or t.shape == o.shape)):
        raise ValueError(f"{fn}: target must be labels of shape ({rows},) or have the shape "
                         f"of out {o.shape}; got {t.shape}")
    w = _weights(sample_weight, rows, fn)
    if cols > 1:
        pred = o.argmax(axis=1)
        true = _class_labels(t, classes, fn) if t.ndim == 1 else t.argmax(axis=1)
    else:
        pred = (o[:, 0].astype(np.float64) > threshold).astype(np.int64)
        t = t.reshape(rows)
        true = (t > 0.5).astype(np.int64) if t.dtype.kind == "f" else \
            _class_labels(t, classes, fn)
    m = np.zeros((classes, classes))
    np.add.at(m, (true, pred), 1.0 if w is None else w.astype(np.float64))
    return m


def _binary_roc_auc(score, positive, w):
    """The trapezoid under the ROC curve, whose points are (false, true positive rate)
    at each distinct score taken as the threshold, highest first (sklearn's roc_curve);
    NaN without positive or negative weight, or with a NaN score."""
    if np.isnan(score).any():
        return float("nan")
    order = np.argsort(-score, kind="stable")
    score, positive, w = score[order], positive[order], w[order]
    tps = np.cumsum(w * positive)
    fps = np.cumsum(w * ~positive)
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # the end of each threshold
    tps, fps = np.r_[0.0, tps[last]], np.r_[0.0, fps[last]]
    if not (tps[-1] > 0 and fps[-1] > 0):
        return float("nan")
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def roc_auc(score, target, sample_weight=None):
    """Area under the ROC curve: a 1-D score, positive where target == 1; a 2-D score,
    one-vs-rest, column c positive where target == c (an array of one area per class)."""
    fn = "roc_auc"
    s = _as_array(score, fn, "score")
    t = _as_array(target, fn, "target")
    if not (s.ndim == 1 or (s.ndim == 2 and s.shape[1] >= 2)):
        raise ValueError(f"{fn}: score must be 1-D (n,) for one binary problem or 2-D "
                         f"(n, classes) with classes >= 2 for one-vs-rest; got shape {s.shape}")
    n = s.shape[0]
    if t.shape != (n,):
        raise ValueError(f"{fn}: target must be class labels of shape ({n},) to match score "
                         f"of shape {s.shape}; got {t.shape}")
    labels = _class_labels(t, 2 if s.ndim == 1 else s.shape[1], fn)
    w = _weights(sample_weight, n, fn)
    w = np.ones(n) if w is None else w.astype(np.float64)
    s = s.astype(_float_dtype(s))
    if s.ndim == 1:
        return _binary_roc_auc(s, labels == 1, w)
    return np.array([_binary_roc_auc(s[:, c], labels == c, w) for c in range(s.shape[1])])
