"""Getting and setting a model's parameters as arrays: ``get_weights``/``set_weights``
(Keras's order) and ``state_dict``/``load_state_dict`` (names as
``Sequential.named_parameters``). Values are copied into the existing parameter
arrays, so a bound optimiser keeps working."""
from __future__ import annotations

import numpy as np

__all__ = ["get_weights", "set_weights", "state_dict", "load_state_dict", "class_weights"]


def class_weights(y, class_weight, n_classes, fn="fit"):
    """Per-sample weights from ``class_weight``, for targets ``y`` as the loss reads them.

    Parameters
    ----------
    y : ndarray
        Class labels ``(n,)``, one-hot or probability rows ``(n, classes)`` (the argmax is
        the class) or 0/1 targets ``(n, 1)`` (binary cross-entropy).
    class_weight : dict {label: weight} or "balanced"
        ``"balanced"`` is scikit-learn's ``n_samples / (n_classes * np.bincount(y))``
        over the classes present in ``y``.
    n_classes : int
        The model's classes (its outputs; 2 for one output): a label of ``class_weight``
        outside ``[0, n_classes)`` is a ValueError.

    Returns
    -------
    ndarray (n,), float64
    """
    labels = y if y.ndim == 1 else (y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0])
    labels = np.asarray(labels).astype(np.int64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"{fn}: class_weight must be a dict {{label: weight}}, "
                             f"'balanced' or None; got {class_weight!r}")
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        present = np.count_nonzero(counts)
        per_class = len(labels) / (present * np.maximum(counts, 1))
        return per_class[labels]
    if not isinstance(class_weight, dict):
        raise TypeError(f"{fn}: class_weight must be a dict {{label: weight}} or "
                        f"'balanced'; got {type(class_weight).__name__}")
    per_class = np.ones(n_classes, np.float64)
    for cls, weight in class_weight.items():  # a loop over classes, not samples
        if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or \
                not 0 <= cls < n_classes:
            raise ValueError(f"{fn}: class_weight has class {cls!r}, but the model's classes "
                             f"are 0..{n_classes - 1}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer,
                                                               np.floating)) or \
                not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"{fn}: class_weight[{cls!r}] must be finite and >= 0; "
                             f"got {weight!r}")
        per_class[int(cls)] = weight
    return per_class[labels]


def _checked(value, p, fn, what):
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: {what} must hold real numbers; got dtype {a.dtype}")
    if a.shape != p.shape:
        raise ValueError(f"{fn}: {what} must have shape {p.shape}; got {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{fn}: {what} contains NaN or infinity")
    return a.astype(p.dtype, copy=False)


def get_weights(model):
    """Copies of every parameter, layer by layer: ``[w0, b0, w1, b1, ...]``."""
    return [p.data.copy() for p in model.parameters()]


def set_weights(model, weights):
    """Copy ``weights`` (as :func:`get_weights` returns them) into the model; every shape
    and dtype is checked before anything is written."""
    fn = "set_weights"
    params = model.parameters()
    weights = list(weights)
    if len(weights) != len(params):
        raise ValueError(f"{fn}: the model has {len(params)} parameter arrays; got "
                         f"{len(weights)}")
    names = [name for name, _ in model.named_parameters()]
    values = [_checked(w, p, fn, f"weights[{i}] ({names[i]})")
              for i, (w, p) in enumerate(zip(weights, params))]
    for p, v in zip(params, values):
        p.data[...] = v


def state_dict(model):
    """``{"dense_0.w": array, "dense_0.b": array, ...}`` (copies), then the buffers
    (``"batchnorm1d_1.running_mean"``, ...)."""
    state = {name: p.data.copy() for name, p in model.named_parameters()}
    state.update({name: np.array(a, copy=True) for name, a in model.named_buffers()})
    return state


def _checked_buffer(value, current, fn, name):
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{fn}: {name!r} must hold real numbers; got dtype {a.dtype}")
    if a.shape != np.shape(current):
        raise ValueError(f"{fn}: {name!r} must have shape {np.shape(current)}; got {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{fn}: {name!r} contains NaN or infinity")
    if a.ndim == 0 and (a.dtype.kind == "f" or int(a) < 0):  # num_batches_tracked
        raise ValueError(f"{fn}: {name!r} must be an int >= 0; got {value!r}")
    return a.astype(np.asarray(current).dtype, copy=True)


def load_state_dict(model, state, strict=True):
    """Copy the arrays of ``state`` into the parameters of the same names (checked first:
    KeyError for missing or unexpected names when ``strict``, ValueError for a shape)."""
    fn = "load_state_dict"
    named = dict(model.named_parameters())
    slots = {name: (owner, key) for name, owner, key in model.buffer_slots()}
    if strict:
        known = [*named, *slots]
        missing = [k for k in known if k not in state]
        unexpected = [k for k in state if k not in named and k not in slots]
        if missing or unexpected:
            raise KeyError(f"{fn}: missing keys {missing}, unexpected keys {unexpected}; the "
                           f"model's names are {known}")
    values = {k: _checked(v, named[k], fn, repr(k)) for k, v in state.items() if k in named}
    buffers = {k: _checked_buffer(v, slots[k][0].buffers()[slots[k][1]], fn, k)
               for k, v in state.items() if k in slots}
    for k, v in values.items():
        named[k].data[...] = v
    for k, v in buffers.items():
        owner, key = slots[k]
        owner.load_buffers({key: v})
