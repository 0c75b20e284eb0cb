"""Data-parallel training over MPI (mpi4py), imported only when used.

Launch one process per rank (``mpiexec -n 4 python train.py``; see docs/distributed.md).
Either let ``fit`` do everything::

    model.fit(x, y, ..., distributed=True)           # every rank passes the same (x, y)
    model.fit(x_part, y_part, ..., distributed="sharded")  # each rank passes its part

or keep your own step loop, add two lines and iterate over this rank's part (as with
Horovod)::

    import nncore.distributed as dist
    dist.broadcast_parameters(model)                 # rank 0's initial weights everywhere
    for xb, yb in nc.batches(*dist.shard(x, y), batch_size=64, shuffle=True, seed=0):
        loss = loss_fn(model.forward(xb), yb)
        model.backward(loss_fn.backward())
        dist.allreduce_gradients(model)              # the mean gradient over the ranks
        opt.step()

Faults: every collective this module makes is watched. When a rank waits longer than
:func:`timeout` seconds (``NNCORE_DIST_TIMEOUT``, default 60) for the others, it prints
which collective it was waiting in and aborts the whole job (``MPI_Abort``), so a rank that
died, raised or hangs ends the run with an error instead of a hang. An exception that
escapes on one rank (from ``fit`` or, once this module is in use, from the script) also
aborts the job after printing its traceback.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

__all__ = ["rank", "world_size", "is_distributed", "barrier", "broadcast_parameters",
           "allreduce_gradients", "shard", "save", "timeout", "set_timeout",
           "DistributedError"]


class DistributedError(RuntimeError):
    """The ranks disagree (models, optimisers, data or arguments differ): raised on every
    rank with the same message."""


_MPI = None


def mpi_module():
    """The mpi4py MPI module (imported and initialised at first use)."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError("nncore.distributed needs mpi4py and an MPI library: "
                              "pip install 'nncore[mpi]' (mpi4py and mpich)") from e
        _MPI = MPI
        if MPI.COMM_WORLD.Get_size() > 1:
            _install_excepthook()
    return _MPI


def communicator():
    return mpi_module().COMM_WORLD


def rank():
    """This process's rank (0 .. world_size() - 1); 0 when not launched by MPI."""
    return communicator().Get_rank()


def world_size():
    """The number of ranks (1 when not launched by MPI)."""
    return communicator().Get_size()


_rank, _world_size = rank, world_size


def is_distributed():
    """True when more than one rank runs."""
    return world_size() > 1


# ------------------------------------------------------------------ faults

_timeout = float(os.environ.get("NNCORE_DIST_TIMEOUT", "60"))


def timeout():
    """Seconds a rank waits in one collective before it aborts the job."""
    return _timeout


def set_timeout(seconds):
    """Set :func:`timeout` (seconds > 0); returns the previous value."""
    global _timeout
    seconds = float(seconds)
    if not seconds > 0:
        raise ValueError(f"set_timeout: seconds must be > 0; got {seconds!r}")
    old, _timeout = _timeout, seconds
    return old


def abort_job(message):
    """Print ``message`` (naming this rank) and end every rank of the job."""
    try:
        r = communicator().Get_rank()
    except Exception:  # noqa: BLE001 - MPI itself may be broken here
        r = "?"
    sys.stderr.write(f"nncore.distributed: rank {r}: {message}; aborting the job\n")
    sys.stderr.flush()
    # Abort tears the job down at once; give the launcher a moment to forward the message
    # (on a loaded machine it was sometimes lost, and the job ended without saying why).
    time.sleep(0.5)
    try:
        communicator().Abort(1)
    finally:
        os._exit(1)


class _Watchdog:
    """One daemon thread that aborts the job when a collective has been waited on longer
    than the timeout. Arming and disarming are plain assignments (no system call), so a
    watched collective costs nothing extra; the thread wakes a few times a second."""

    def __init__(self):
        self.deadline = None
        self.what = ""
        self.started = 0.0
        self.thread = None
        self.lock = threading.Lock()

    def arm(self, what):
        self.what = what
        self.started = time.monotonic()
        self.deadline = self.started + _timeout
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._watch, daemon=True,
                                                   name="nncore-dist-watchdog")
                    self.thread.start()

    def disarm(self):
        self.deadline = None

    def _watch(self):
        while True:
            time.sleep(min(0.1, _timeout / 4))
            d = self.deadline
            if d is not None and time.monotonic() > d:
                abort_job(f"waited more than {_timeout:g} s for the other ranks in {self.what} "
                       "(a rank died, raised or is stuck)")


watchdog = _Watchdog()


def _watched(what, fn, *args):
    watchdog.arm(what)
    try:
        return fn(*args)
    finally:
        watchdog.disarm()


def _install_excepthook():
    """An exception escaping on one rank aborts the job (the others would wait forever)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        from .training.step import NonFiniteLossError
        if not isinstance(value, (DistributedError, NonFiniteLossError)):
            abort_job(f"uncaught {kind.__name__}")  # raised alike on every rank: no abort

    sys.excepthook = hook


# ------------------------------------------------------------------ collectives

def barrier():
    """Wait until every rank gets here (watched by the timeout)."""
    _watched("barrier", communicator().Barrier)


def _bcast_array(a, root=0):
    if a.flags.c_contiguous:
        _watched("broadcast", communicator().Bcast, a, root)
    else:
        tmp = np.ascontiguousarray(a)
        _watched("broadcast", communicator().Bcast, tmp, root)
        a[...] = tmp


def bcast_object(obj, root=0):
    return _watched("broadcast", communicator().bcast, obj, root)


def allgather_object(obj):
    return _watched("allgather", communicator().allgather, obj)


def broadcast_parameters(model, optimizer=None, root=0):
    """Copy rank ``root``'s parameters (and, given ``optimizer``, its state and step
    count) to every rank, in place. Every rank must hold the same architecture (checked:
    a :class:`DistributedError` on every rank otherwise)."""
    params = model.parameters()
    check_consistent({"parameters": [(tuple(p.shape), p.dtype.str) for p in params]},
                     "broadcast_parameters")
    for p in params:
        _bcast_array(p.data, root)
    if optimizer is not None:
        for s in optimizer.state:
            for k in sorted(s):
                _bcast_array(s[k], root)
        optimizer.steps = int(bcast_object(optimizer.steps, root))


def _flat_grads(model, params):
    """One contiguous buffer holding every gradient: the parameters' grads are made views
    of it (values kept) the first time, so each later call is one Allreduce, no copy."""
    cached = getattr(model, "_dist_grads", None)
    if cached is not None and cached[1] == [id(p.grad) for p in params]:
        return cached[0]
    flat = np.zeros(sum(p.grad.size for p in params), params[0].grad.dtype)
    off = 0
    for p in params:
        view = flat[off:off + p.grad.size].reshape(p.grad.shape)
        view[...] = p.grad
        p.grad = view
        off += p.grad.size
    model._dist_grads = (flat, [id(p.grad) for p in params])
    return flat


def allreduce_gradients(model, average=True):
    """Sum every parameter's gradient over the ranks in place, with one Allreduce on one
    flat buffer, and divide by world_size() when ``average`` (the default: with equal
    per-rank batches of mean losses, the mean gradient of the global batch). The result
    is the same on every rank."""
    params = model.parameters()
    if not params:
        return
    if len({p.grad.dtype for p in params}) != 1:
        raise TypeError("allreduce_gradients: every gradient must have the same dtype")
    flat = _flat_grads(model, params)
    if world_size() > 1:
        _watched("allreduce_gradients", communicator().Allreduce, mpi_module().IN_PLACE, flat)
    if average:
        flat *= flat.dtype.type(1.0 / world_size())


def shard(*arrays, rank=None, world_size=None):
    """This rank's contiguous part of each array: rows ``[n*r//P, n*(r+1)//P)`` of rank r
    of P. ``shard(x, y)`` returns ``(x_part, y_part)``; one array returns one part."""
    if not arrays:
        raise TypeError("shard: give at least one array")
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"shard: arrays[{i}] has {len(a)} rows; arrays[0] has {n}")
    r = _rank() if rank is None else int(rank)
    p = _world_size() if world_size is None else int(world_size)
    if not 0 <= r < p:
        raise ValueError(f"shard: rank {r} is not in [0, {p})")
    lo, hi = n * r // p, n * (r + 1) // p
    parts = tuple(a[lo:hi] for a in arrays)
    return parts[0] if len(parts) == 1 else parts


def save(model, path, root=0):
    """``model.save(path)`` on rank ``root`` only, then a barrier (the file exists on
    return everywhere the file system is shared). Returns the path."""
    out = model.save(path) if rank() == root else path
    barrier()
    return out


def check_consistent(signature, what):
    """Raise :class:`DistributedError` on every rank when ``signature`` (a dict of
    picklable, comparable values) differs between ranks; the message names the first
    field that differs and the ranks' values."""
    every = allgather_object(signature)
    for key in every[0]:
        values = [s.get(key) for s in every]
        bad = [r for r, v in enumerate(values) if v != values[0]]
        if bad:
            raise DistributedError(
                f"{what}: the ranks disagree on {key}: rank 0 has {values[0]!r}, rank "
                f"{bad[0]} has {values[bad[0]]!r}; every rank must build the same model and "
                "optimiser and pass the same arguments")
    return every
