"""The base of every layer: :class:`Layer`, :class:`Parameter`, the dtype rule, the
scratch arrays a layer keeps to itself and the layers' forward and backward hooks
(:class:`RemovableHandle`). :mod:`nncore.layers` is the public face; this module imports
nothing from nncore."""
from __future__ import annotations

import numpy as np

__all__ = ["Parameter", "Layer", "RemovableHandle", "as_dtype", "model_dtype",
           "hook_generation", "FLOATS", "as_input", "workspace", "aligned_empty",
           "aligned_copy", "aligned_zeros_like"]

_DTYPES = {"float32": np.float32, "float64": np.float64}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_dtype(dtype):
    """float32 or float64 from a name or NumPy dtype; ValueError otherwise."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d.name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return d


#: Where a parameter's values and gradient start: a cache line (and an AVX-512 vector).
#: The native kernels' vector loads and stores of them then never straddle two lines
#: (NumPy's arrays start 16 bytes apart at worst): tabular 20-64-64-1 b32 one-epoch fit,
#: one core, avx512, min of 40 interleaved in one process, loaded machine: 2.39-2.43 ms
#: as NumPy placed them, 2.31-2.36 aligned, 2.46-2.49 all 32 bytes off.
ALIGN = 64


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` whose data starts
    on an :data:`ALIGN`-byte boundary (the memory is its base's)."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(d) for d in shape)
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= d
    buf = np.empty(nbytes + ALIGN, np.uint8)
    start = -buf.ctypes.data % ALIGN
    return buf[start:start + nbytes].view(dtype).reshape(shape)


def aligned_copy(values, dtype=None):
    """``values`` copied into an :func:`aligned_empty` array (of ``dtype``, default the
    values' own)."""
    values = np.asarray(values, dtype)
    out = aligned_empty(values.shape, values.dtype)
    out[...] = values
    return out


def aligned_zeros_like(a):
    """Zeros of ``a``'s shape and dtype in an :func:`aligned_empty` array (a gradient, an
    optimiser's state: SGD with momentum's epoch 0.6% faster with its velocity aligned)."""
    out = aligned_empty(np.shape(a), np.asarray(a).dtype)
    out[...] = 0
    return out


class Parameter(np.lib.mixins.NDArrayOperatorsMixin):
    """A trainable array and its gradient (``data`` and ``grad``, same shape and dtype).

    Array-like, as a PyTorch Parameter: ``np.asarray(p)`` is ``p.data`` (no copy),
    arithmetic and NumPy functions give new arrays (``p * 2``, ``np.exp(p)``, ``p.T``,
    ``p[0]``, ``p.copy()``), in-place operators and item assignment write into ``data``
    (``p[0] = 1``, ``p -= 0.1 * p.grad``), and the repr shows the values. ``==`` is
    identity (so Parameters work in lists and sets); compare values with
    ``np.asarray(p) == ...``.
    """

    __slots__ = ("data", "grad", "name")
    __hash__ = object.__hash__

    def __init__(self, data, name="param"):
        self.data = np.ascontiguousarray(data)
        self.grad = aligned_zeros_like(self.data)
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def T(self):
        return self.data.T

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]

    def __setitem__(self, index, value):
        self.data[index] = value

    def copy(self):
        """A copy of the values (an ndarray)."""
        return self.data.copy()

    def numpy(self):
        """The values (``data`` itself, as ``tensor.numpy()`` shares memory)."""
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __array__(self, dtype=None, copy=None):
        if copy:
            return self.data.astype(dtype or self.data.dtype, copy=True)
        if dtype is None or np.dtype(dtype) == self.data.dtype:
            return self.data
        if copy is False:
            raise ValueError(f"Parameter {self.name}: its {self.data.dtype} values cannot "
                             f"be read as {np.dtype(dtype)} without a copy")
        return self.data.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(a.data if isinstance(a, Parameter) else a for a in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(a.data if isinstance(a, Parameter) else a for a in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None and len(out) == 1 and isinstance(out[0], Parameter):
            return out[0]  # p += 1 keeps p a Parameter
        return result

    def assign(self, value, where="Parameter"):
        """Copy ``value`` into ``data`` (cast to its dtype), after checking it: TypeError
        for a non-real dtype, ValueError for another shape or NaN/inf. The Parameter
        stays the same object, so an optimiser bound to it keeps training it."""
        a = np.asarray(value)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{where}: must hold real numbers; got dtype {a.dtype}")
        if a.shape != self.data.shape:
            raise ValueError(f"{where}: must have shape {self.data.shape}; got {a.shape}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: contains NaN or infinity")
        self.data[...] = a

    def __repr__(self):
        return f"Parameter containing ({self.name}):\n{np.array_repr(self.data)}"


def as_input(a, dtype):
    """``a`` as an array of ``dtype``; no copy when it already is one."""
    return np.asarray(a, dtype=dtype)


def workspace(buf, shape, dtype):
    """buf when it already has this shape and dtype, else a new empty array."""
    if buf is not None and buf.shape == shape and buf.dtype == dtype:
        return buf
    return np.empty(shape, dtype)


# --- hooks ------------------------------------------------------------------------------
# Counts every registration and removal of a hook on any layer, so that a model can tell
# cheaply whether its fusion plan (which never fuses a hooked layer) is still current.
_hook_changes = [0]


def hook_generation():
    """A number that changes whenever a hook is registered on or removed from any layer."""
    return _hook_changes[0]


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` takes the hook off (also as a
    context manager: the hook is removed at the end of the ``with`` block), as PyTorch's
    ``torch.utils.hooks.RemovableHandle``."""

    _next_id = 0

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        """Remove the hook (a second call does nothing)."""
        if self.hooks.pop(self.id, None) is not None:
            _hook_changes[0] += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def _register(layer, attr, fn, kind):
    if not callable(fn):
        raise TypeError(f"{type(layer).__name__}.register_{kind}_hook: hook must be callable; "
                        f"got {type(fn).__name__}")
    hooks = layer.__dict__.get(attr)
    if hooks is None:
        hooks = {}
        setattr(layer, attr, hooks)
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    _hook_changes[0] += 1
    return handle


class Layer:
    """Base class: a step of a network with forward, backward and (maybe) parameters.

    Hooks (PyTorch's convention): :meth:`register_forward_hook` and
    :meth:`register_full_backward_hook` (alias :meth:`register_backward_hook`) run during
    :meth:`nncore.Sequential.forward` / ``backward`` and when the layer is called
    (``layer(x)``; ``layer.forward(x)`` runs no hook, as in PyTorch).
    """

    activation = None  # for activation layers: the name nncore.functional uses
    declared_dtype = None  # the dtype the layer was given, if any (Sequential checks them)
    training = True  # set by Sequential.train() / eval()

    def __init__(self, name=None):
        self.name = name
        self.dtype = np.dtype(np.float32)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_y):
        raise NotImplementedError

    def __call__(self, x):
        """``forward(x)`` followed by the forward hooks."""
        return self.run_forward_hooks(x, self.forward(x))

    # -------------------------------------------------------------------- hooks

    def register_forward_hook(self, hook):
        """Call ``hook(layer, inputs, output)`` after every forward of this layer in a
        model (``inputs`` is the tuple ``(x,)``). A hook that returns something other
        than None replaces the output: the next layer (and the next hook) gets it. The
        model's backward then treats the gradient arriving at the replacement as the
        gradient of the layer's own output (nncore has no autograd to differentiate the
        replacement). Returns a :class:`RemovableHandle`.

        A model with hooks trains on the python engine, and a hooked layer is never fused
        with its neighbour: a ``Dense`` without activation followed by an activation
        layer runs as two calls when either has a hook, so the Dense's hook sees
        ``z = x @ w + b`` and the activation's hook sees ``z`` in and ``f(z)`` out (the
        same bits as the fused call)."""
        return _register(self, "_forward_hooks", hook, "forward")

    def register_full_backward_hook(self, hook):
        """Call ``hook(layer, grad_input, grad_output)`` after every backward of this layer
        in a model: ``grad_output = (dL/d output,)``, ``grad_input = (dL/d input,)``
        (``(None,)`` for a model's first layer, which skips it; see
        :meth:`nncore.Sequential.set_input_grad`). A hook that returns a tuple (or an
        array) replaces ``grad_input``: the previous layer gets it. Parameter gradients
        are already set when the hook runs. Returns a :class:`RemovableHandle`."""
        return _register(self, "_backward_hooks", hook, "full_backward")

    def register_backward_hook(self, hook):
        """The same as :meth:`register_full_backward_hook`. (PyTorch deprecates this name
        because its hook saw only a module's last operation; an nncore layer's backward
        is one step, so both names mean the full hook.)"""
        return self.register_full_backward_hook(hook)

    def has_hooks(self):
        """Whether any forward or backward hook is registered on this layer."""
        d = self.__dict__
        return bool(d.get("_forward_hooks")) or bool(d.get("_backward_hooks"))

    def run_forward_hooks(self, x, y):
        """``y`` after this layer's forward hooks (each may replace it); ``y`` itself when
        there are none. :class:`nncore.Sequential` calls it after each layer's forward."""
        hooks = self.__dict__.get("_forward_hooks")
        if hooks:
            for fn in list(hooks.values()):
                r = fn(self, (x,), y)
                if r is not None:
                    y = r
        return y

    def run_backward_hooks(self, grad_x, grad_y):
        """``grad_x`` (dL/d input) after this layer's backward hooks, which see
        ``(grad_x,)`` and ``(grad_y,)`` and may replace the first; ``grad_x`` itself when
        there are none."""
        hooks = self.__dict__.get("_backward_hooks")
        if hooks:
            for fn in list(hooks.values()):
                r = fn(self, (grad_x,), (grad_y,))
                if r is not None:
                    grad_x = r[0] if isinstance(r, (tuple, list)) else r
        return grad_x

    def parameters(self):
        """The layer's trainable :class:`Parameter` objects (none by default)."""
        return []

    @property
    def output(self):
        """The layer's last output (the array its last forward returned), or None before
        the first forward."""
        return getattr(self, "_y", None)

    def grads(self):
        """The gradients of :meth:`parameters`, in the same order."""
        return [p.grad for p in self.parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad.fill(0)

    def output_features(self, in_features):
        return in_features

    def reset_parameters(self, rng=None, dtype=None):
        """Re-initialise parameters from ``rng`` (a NumPy Generator) in ``dtype``."""
        if dtype is not None:
            self.dtype = as_dtype(dtype)

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def model_dtype(layers, dtype):
    """The model's dtype from ``dtype`` and the dtypes the layers were given."""
    declared = {}
    for i, layer in enumerate(layers):
        d = getattr(layer, "declared_dtype", None)
        if d is not None:
            declared.setdefault(d.name, i)
    if dtype is not None:
        d = as_dtype(dtype)
        other = [name for name in declared if name != d.name]
        if other:
            raise ValueError(f"Sequential: dtype={d.name!r} but layer {declared[other[0]]} "
                             f"was given dtype={other[0]!r}: give both the same dtype, or "
                             "leave one out")
        return d
    if len(declared) > 1:
        (a, i), (b, j) = list(declared.items())[:2]
        raise ValueError(f"Sequential: layer {i} has dtype={a!r} but layer {j} has "
                         f"dtype={b!r}: give every layer the same dtype (or pass it to "
                         "Sequential only)")
    return as_dtype(next(iter(declared), "float32"))
