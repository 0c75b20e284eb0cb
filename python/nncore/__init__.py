"""nncore: dense neural networks on the CPU.

Native C++17 kernels (OpenMP, SIMD) behind a NumPy API, and a small Python layer for
models, losses, optimisers and training with explicit, layer-by-layer backpropagation.

    >>> import nncore as nc
    >>> nc.functional.dense_forward([[1.0, 2.0]], [[0.5], [0.25]], [0.1], "relu")
    array([[1.1]])
"""
from . import functional, reference
from .runtime import config, get_num_threads, set_num_threads, threads

__version__ = functional._core.__version__

__all__ = [
    "functional", "reference", "config", "get_num_threads", "set_num_threads", "threads",
]

# --- Python layer (models, losses, optimisers, training) ---------------------------
# Exports of the Python layer are added below this line.
