"""Runtime control: threads and build facts."""
from __future__ import annotations

import contextlib

from . import _core

__all__ = ["config", "get_num_threads", "set_num_threads", "threads"]


def set_num_threads(n):
    """Use up to ``n`` threads (an int >= 1) in every native function from now on."""
    _core.set_num_threads(n)


def get_num_threads():
    """Threads the native functions may use (starts at ``OMP_NUM_THREADS`` or the core count)."""
    return _core.get_num_threads()


@contextlib.contextmanager
def threads(n):
    """Context manager: run the block with ``n`` threads, then restore the previous count.

    >>> import nncore
    >>> with nncore.threads(1):
    ...     nncore.get_num_threads()
    1
    """
    previous = get_num_threads()
    set_num_threads(n)
    try:
        yield n
    finally:
        set_num_threads(previous)


def config():
    """Facts about this build and machine: version, compiler, OpenMP, CPU features,
    the kernel set in use (``isa``) and those supported, and the GEMM block sizes."""
    return _core.config()
