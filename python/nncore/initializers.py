"""Weight initialisers, reproducible from one NumPy Generator.

Each initialiser is called as ``init(shape, fan_in, fan_out, rng, dtype)`` and returns a
new array. Names follow Keras and PyTorch: ``"glorot_uniform"`` is ``"xavier_uniform"``,
``"he_normal"`` is ``"kaiming_normal"``.
"""
from __future__ import annotations

import numpy as np

from .activations import default_init

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "glorot_normal", "glorot_uniform",
           "he_normal", "he_uniform", "get", "default_for"]


def zeros(shape, fan_in, fan_out, rng, dtype):
    return np.zeros(shape, dtype)


def ones(shape, fan_in, fan_out, rng, dtype):
    return np.ones(shape, dtype)


def constant(value):
    """Every weight equal to ``value``."""
    def init(shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, value, dtype)
    init.__name__ = f"constant({value!r})"
    return init


def normal(std=0.05, mean=0.0):
    """Normal(mean, std)."""
    def init(shape, fan_in, fan_out, rng, dtype):
        return (mean + std * rng.standard_normal(shape)).astype(dtype)
    init.__name__ = f"normal(std={std!r})"
    return init


def uniform(low=-0.05, high=0.05):
    """Uniform on [low, high)."""
    def init(shape, fan_in, fan_out, rng, dtype):
        return rng.uniform(low, high, shape).astype(dtype)
    init.__name__ = f"uniform({low!r}, {high!r})"
    return init


def glorot_normal(shape, fan_in, fan_out, rng, dtype):
    """Glorot/Xavier normal: std = sqrt(2 / (fan_in + fan_out))."""
    std = np.sqrt(2.0 / max(fan_in + fan_out, 1))
    return (std * rng.standard_normal(shape)).astype(dtype)


def glorot_uniform(shape, fan_in, fan_out, rng, dtype):
    """Glorot/Xavier uniform: limit = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / max(fan_in + fan_out, 1))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape, fan_in, fan_out, rng, dtype):
    """He/Kaiming normal: std = sqrt(2 / fan_in), for ReLU-family layers."""
    std = np.sqrt(2.0 / max(fan_in, 1))
    return (std * rng.standard_normal(shape)).astype(dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype):
    """He/Kaiming uniform: limit = sqrt(6 / fan_in)."""
    limit = np.sqrt(6.0 / max(fan_in, 1))
    return rng.uniform(-limit, limit, shape).astype(dtype)


_BY_NAME = {
    "zeros": zeros, "ones": ones,
    "glorot_normal": glorot_normal, "glorot_uniform": glorot_uniform,
    "xavier_normal": glorot_normal, "xavier_uniform": glorot_uniform,
    "he_normal": he_normal, "he_uniform": he_uniform,
    "kaiming_normal": he_normal, "kaiming_uniform": he_uniform,
    "normal": normal(), "uniform": uniform(),
}


def get(init):
    """An initialiser from a name or a callable."""
    if callable(init):
        return init
    if isinstance(init, str) and init in _BY_NAME:
        return _BY_NAME[init]
    raise ValueError(f"init must be a callable or one of {sorted(_BY_NAME)}; got {init!r}")


def default_for(activation):
    """He for ReLU-family activations, Glorot otherwise (Keras/PyTorch practice): the
    registry's ``init`` (:mod:`nncore.activations`)."""
    return default_init(activation)
