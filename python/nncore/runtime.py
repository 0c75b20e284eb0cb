"""Runtime control: threads and build facts.

nncore runs its native functions on its own thread pool, or, in a build made with
``pip install . -Ccmake.define.NNCORE_OPENMP=ON``, on OpenMP: the same tasks, the same
bits (``config()["threads"]["pool"]`` says which). The default thread
count is the number of CPUs this process may use (its affinity mask, capped by a cgroup
``cpu.max`` quota); ``NNCORE_NUM_THREADS``, else ``OMP_NUM_THREADS``, overrides it at
import. threadpoolctl sees and limits the pool (``threadpool_limits(1)`` applies to
nncore) once both are imported, in either order.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings

import numpy as np

from . import _core

__all__ = ["config", "get_num_threads", "set_num_threads", "threads", "manual_seed",
           "default_rng", "fit_seed"]

_warn_lock = threading.Lock()
_warned = False


def set_num_threads(n, *, _stacklevel=2):
    """Use up to ``n`` threads (an int >= 1) in every native function from now on.

    More threads than the CPUs this process may use only slow it down: the first such
    call warns (once per process)."""
    global _warned
    _core.set_num_threads(n)
    if n > _core._usable_cpus():
        with _warn_lock:
            if _warned:
                return
            _warned = True
        warnings.warn(f"nncore.set_num_threads({n}): this process may use only "
                      f"{_core._usable_cpus()} CPUs (affinity/cgroup); more threads than "
                      "CPUs wait for each other", RuntimeWarning, stacklevel=_stacklevel)


def get_num_threads():
    """Threads the native functions may use (starts at ``NNCORE_NUM_THREADS``, else
    ``OMP_NUM_THREADS``, else the usable CPU count)."""
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
    set_num_threads(n, _stacklevel=4)  # the warning points at the caller's `with`
    try:
        yield n
    finally:
        _core.set_num_threads(previous)


def config():
    """Facts about this build and machine: version, compiler, CPU features, the kernel
    set in use (``isa``) and those supported, the GEMM block sizes, ``openmp`` (whether
    this build runs its threads on OpenMP) and ``threads``: the parallel layer's
    description.

    ``threads["pool"]`` is ``"nncore"`` (nncore's own pool: its workers spin
    ``spin_us`` microseconds after a call, then sleep) or ``"openmp"`` (the OpenMP build:
    its threads wait between calls as the OpenMP runtime's ``OMP_WAIT_POLICY`` says,
    shown as ``wait_policy``; ``spin_us`` is None)."""
    c = _core.config()
    stats = _core._pool_stats()
    c["threads"] = {
        "pool": "openmp" if c["openmp"] else "nncore",
        "num_threads": _core.get_num_threads(),
        "usable_cpus": _core._usable_cpus(),
        "workers": stats["workers"],
        "spin_us": stats["spin_us"],
    }
    if c["openmp"]:
        c["threads"]["wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    return c


# --- random streams ------------------------------------------------------------------

_seed_lock = threading.Lock()
_global_rng = None  # set by manual_seed


def manual_seed(seed):
    """Make every random choice nncore makes without a seed repeatable, as
    ``torch.manual_seed``: the initial weights of layers built without ``seed``, Dropout
    seeds, and the shuffle and validation split of a ``fit`` of a model built without
    ``seed`` (and called without ``seed=``) are drawn, in order, from one stream started
    from ``seed``. ``manual_seed(None)`` goes back to fresh entropy. Seeds given to a
    layer, a model or ``fit`` are unaffected.

    Parameters
    ----------
    seed : int >= 0 or None
    """
    global _global_rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"manual_seed: seed must be an int >= 0 or None; got {seed!r}")
    with _seed_lock:
        _global_rng = None if seed is None else np.random.default_rng(int(seed))


def _draw_seed():
    """The next seed of the :func:`manual_seed` stream, or None when it is not set."""
    with _seed_lock:
        return None if _global_rng is None else int(_global_rng.integers(2 ** 63))


def default_rng(seed=None):
    """``numpy.random.default_rng(seed)``; without a seed, a generator drawn from the
    :func:`manual_seed` stream when one is set (else fresh entropy)."""
    return np.random.default_rng(seed if seed is not None else _draw_seed())


def fit_seed(seed, model_seed, fits):
    """The seed of a fit's random stream (its shuffle and validation split).

    ``seed`` (``fit(seed=...)``) when given; else, for a model built with ``seed``, a
    seed derived from the model's seed and ``fits`` (how many fits the model had
    before), so a seeded model trains the same bits every time; else the next seed of
    the :func:`manual_seed` stream, or None (fresh entropy).
    """
    if seed is not None:
        return seed
    if model_seed is None:
        return _draw_seed()
    if not isinstance(model_seed, (int, np.integer)):  # a Generator: draw the base once
        return int(np.random.default_rng(model_seed).integers(2 ** 63))
    words = np.random.SeedSequence([int(model_seed) & ((1 << 64) - 1), int(fits)]) \
        .generate_state(2, np.uint32)
    return (int(words[0]) << 32) | int(words[1])


# --- threadpoolctl -----------------------------------------------------------------

def _register_threadpoolctl(tpc):
    """Register nncore's controller with the threadpoolctl module ``tpc``."""
    if getattr(tpc, "_nncore_registered", False) or not hasattr(tpc, "register"):
        return

    class NncoreController(tpc.LibController):
        user_api = "nncore"
        internal_api = "nncore"
        filename_prefixes = ("_core",)
        check_symbols = ("nncore_threadpool_get_num_threads",
                         "nncore_threadpool_set_num_threads")

        def get_num_threads(self):
            get = getattr(self.dynlib, "nncore_threadpool_get_num_threads", None)
            return None if get is None else get()

        def set_num_threads(self, num_threads):
            self.dynlib.nncore_threadpool_set_num_threads(int(num_threads))

        def get_version(self):
            return _core.__version__

    tpc.register(NncoreController)
    tpc._nncore_registered = True


class _ThreadpoolctlHook:
    """Registers the controller when threadpoolctl is first imported (after nncore)."""

    def find_spec(self, name, path=None, target=None):
        if name != "threadpoolctl":
            return None
        import importlib.util
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader:
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        with contextlib.suppress(Exception):  # threadpoolctl must import regardless
            _register_threadpoolctl(module)


if "threadpoolctl" in sys.modules:
    with contextlib.suppress(Exception):
        _register_threadpoolctl(sys.modules["threadpoolctl"])
else:
    sys.meta_path.insert(0, _ThreadpoolctlHook())
