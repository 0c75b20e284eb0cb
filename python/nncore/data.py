"""Data helpers: mini-batches, one-hot labels, splits and two small datasets."""
from __future__ import annotations

import numpy as np

__all__ = ["batches", "one_hot", "train_test_split", "xor", "spirals"]


def batches(x, y=None, batch_size=32, shuffle=False, seed=None, drop_last=False):
    """Yield mini-batches of ``x`` (and ``y``), as a training loop consumes them.

    Parameters
    ----------
    x : array_like (n, ...)
    y : array_like (n, ...), optional
    batch_size : int or None
        Samples per batch; None gives the whole set at once (full-batch descent) and 1
        single-sample (stochastic) descent.
    shuffle : bool
        Visit the samples in a permutation drawn from ``seed`` (the same seed, the same
        order).
    seed : int or numpy.random.Generator, optional
    drop_last : bool
        Leave out a last batch smaller than ``batch_size``.

    Yields
    ------
    (x_batch, y_batch), or x_batch when ``y`` is None
        Views for in-order batches, copies for shuffled ones.
    """
    x = np.asarray(x)
    n = len(x)
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"batches: x and y must have the same length; got {n} and {len(y)}")
    if batch_size is None:
        batch_size = max(n, 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive int or None; got {batch_size!r}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            idx = slice(start, min(start + batch_size, n))
        else:
            idx = order[start:start + batch_size]
        yield x[idx] if y is None else (x[idx], y[idx])


def one_hot(labels, num_classes=None, dtype=np.float32):
    """Integer labels to a one-hot matrix.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
    num_classes : int, optional
        Default ``max(labels) + 1``.
    dtype : default float32

    Returns
    -------
    ndarray (n, num_classes)
        ``out[i, labels[i]] = 1``, zeros elsewhere.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"one_hot: labels must be a 1-D integer array; got shape "
                         f"{labels.shape}, dtype {labels.dtype}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must be in [0, {num_classes}); got "
                         f"[{labels.min()}, {labels.max()}]")
    out = np.zeros((labels.size, num_classes), dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def train_test_split(x, y, test_size=0.25, seed=None, stratify=False):
    """Seeded split into training and test parts, as scikit-learn's.

    Parameters
    ----------
    x, y : array_like, same length n
    test_size : float in (0, 1)
        Fraction of the samples held out (rounded per class when stratified).
    seed : int or numpy.random.Generator, optional
    stratify : bool
        Keep each class's share of ``y`` in both parts.

    Returns
    -------
    x_train, x_test, y_train, y_test : ndarray
        Samples keep their original relative order within each part.
    """
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"train_test_split: x and y must have the same length; got {n} and "
                         f"{len(y)}")
    if not 0 < test_size < 1:
        raise ValueError(f"train_test_split: test_size must be in (0, 1); got {test_size!r}")
    train, test = split_indices(n, test_size, np.random.default_rng(seed),
                                y if stratify else None)
    return x[train], x[test], y[train], y[test]


def split_indices(n, fraction, rng, labels=None):
    """Sorted ``(kept, held_out)`` index arrays holding out ``fraction`` of ``n`` samples,
    drawn from ``rng``; with ``labels``, the same fraction of each class (stratified)."""
    if labels is not None:
        held = [rng.permutation(np.flatnonzero(labels == cls)) for cls in np.unique(labels)]
        held = np.concatenate([m[:int(round(len(m) * fraction))] for m in held])
    else:
        held = rng.permutation(n)[:int(round(n * fraction))]
    held = np.sort(held)
    mask = np.ones(n, bool)
    mask[held] = False
    return np.flatnonzero(mask), held


def xor(dtype=np.float32):
    """The four XOR points.

    Returns
    -------
    x : ndarray (4, 2)
        ``[[0, 0], [0, 1], [1, 0], [1, 1]]``
    y : ndarray (4, 1)
        ``[[0], [1], [1], [0]]``
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = np.array([[0], [1], [1], [0]], dtype)
    return x, y


def spirals(n=100, classes=3, noise=0.2, seed=0, dtype=np.float32):
    """Interleaved spirals, one arm per class (the CS231n toy set).

    Parameters
    ----------
    n : int
        Points per class.
    classes : int
    noise : float
        Standard deviation of the angle noise.
    seed : int, optional
    dtype : default float32

    Returns
    -------
    x : ndarray (n * classes, 2)
        Points within the unit disc.
    y : ndarray of int64 (n * classes,)
        Class labels, ``n`` of each.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n * classes, 2), dtype)
    y = np.zeros(n * classes, np.int64)
    for c in range(classes):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n) + rng.standard_normal(n) * noise
        x[c * n:(c + 1) * n] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        y[c * n:(c + 1) * n] = c
    return x, y
