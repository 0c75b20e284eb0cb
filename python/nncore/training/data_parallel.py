"""``fit(..., distributed=...)``: the data-parallel driver (see docs/distributed.md).

Every step of a global batch of B rows:

- replicated (``distributed=True`` or ``"replicated"``): every rank holds the whole set;
  rank r of P computes rows ``[B*r//P, B*(r+1)//P)`` of the batch (in the epoch's
  shuffled order, the same on every rank);
- sharded (``"sharded"``): rank r holds rows ``[off_r, off_r + n_r)`` of the global set
  (the ranks' parts concatenated in rank order) and computes the rows of the batch it
  holds.

Each rank scales its loss gradient by its share of the batch's (weighted) denominator,
so that the sum over ranks of the gradients is the global batch's mean gradient. One
Allreduce per step on one flat buffer then sums the gradients with the loss and the
correct count (appended to it), and
every rank makes the same update. The native engine does the step in C++ and calls
:meth:`DataParallel.native_hook` once per step (csrc/core/train.cpp); the python engine
runs :func:`nncore.training.step.train_step` with this rank's rows
(:meth:`DataParallel.rows_and_share`) and :meth:`DataParallel.reduce`, so both engines
give the same bits. This is a strategy, not an epoch: the engines' epochs run it.
"""
from __future__ import annotations

import contextlib
import time
import zlib

import numpy as np

from .. import distributed as D
from .step import NonFiniteLossError

MODES = (True, "replicated", "sharded")


def _crc(a):
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    return (a.shape, a.dtype.str, zlib.crc32(a.view(np.uint8).reshape(-1)))


def _scalars(obj):
    """The plain settings of ``obj`` (numbers, strings, tuples): what must agree."""
    return {k: v for k, v in sorted(vars(obj).items())
            if isinstance(v, (bool, int, float, str, tuple, type(None)))}


class DataParallel:
    """One data-parallel fit: created before the run is prepared (the seed and verbosity
    must agree first), attached after."""

    def __init__(self, mode, seed, verbose):
        if mode not in MODES:
            raise ValueError(f"fit: distributed must be False, True, 'replicated' or "
                             f"'sharded'; got {mode!r}")
        self.sharded = mode == "sharded"
        self.rank, self.size = D.rank(), D.world_size()
        if seed is None:  # every rank must shuffle alike: rank 0 draws the seed
            seed = int(np.random.SeedSequence().entropy % (1 << 63)) if self.rank == 0 else 0
            seed = D.bcast_object(seed)
        self.seed = seed
        self.verbose = verbose if self.rank == 0 else 0

    # ---------------------------------------------------------------- set-up

    def attach(self, model, run, engine, shuffle, epochs, batch_size, lr_scheduler):
        """Check the ranks agree, broadcast rank 0's weights and optimiser state, make the
        gradients one flat buffer, and give the run its engine hooks."""
        opt = run.optimizer
        sig = {
            "mode": "sharded" if self.sharded else "replicated",
            "layers": [(type(l).__name__, [(tuple(p.shape), p.dtype.str)
                                           for p in l.parameters()]) for l in model.layers],
            "dtype": model.dtype.str,
            "loss": (type(run.loss_fn).__name__, _scalars(run.loss_fn)),
            "optimizer": (type(opt).__name__, _scalars(opt), opt.get_config()),
            "lr_scheduler": None if lr_scheduler is None else
            (type(lr_scheduler).__name__, _scalars(lr_scheduler)),
            "callbacks": [type(c).__name__ for c in run.callbacks],
            "epochs": epochs, "batch_size": batch_size, "shuffle": bool(shuffle),
            "seed": self.seed, "engine": engine, "validation": run.x_val is not None,
            "sample weights": run.weights is not None,
        }
        if self.sharded:
            sig["x columns"] = (run.x.shape[1:], run.x.dtype.str)
            sig["y columns"] = (run.y.shape[1:], run.y.dtype.str)
        else:
            sig["x"], sig["y"], sig["weights"] = _crc(run.x), _crc(run.y), _crc(run.weights)
            sig["validation data"] = (_crc(run.x_val), _crc(run.y_val), _crc(run.w_val))
        D.check_consistent(sig, "fit(distributed=...)")
        D.broadcast_parameters(model, opt)
        params = opt.params
        self.params = params
        n_local = run.n
        if self.sharded:
            counts = D.allgather_object(run.n)
            self.lo = sum(counts[:self.rank])
            self.hi = self.lo + run.n
            self.n_global = sum(counts)
            if self.n_global == 0:
                raise D.DistributedError("fit(distributed='sharded'): no training rows on "
                                         "any rank")
            # every rank needs the global weights for its share of each batch's denominator
            self.w_global = None if run.weights is None else np.concatenate(
                D.allgather_object(np.asarray(run.weights)))
        else:
            self.w_global = None if run.weights is None else np.asarray(run.weights)
        # One buffer: every gradient, then the loss share (as hi + lo in the gradients'
        # dtype: float32 keeps about 48 bits of it) and the correct count (exact below
        # 2**24 per step), so one Allreduce per step reduces all of them.
        dtype = model.dtype
        total = sum(p.grad.size for p in params)
        self.buf = np.zeros(total + 3, dtype)
        off = 0
        for p in params:
            view = self.buf[off:off + p.grad.size].reshape(p.grad.shape)
            view[...] = p.grad
            p.grad = view
            off += p.grad.size
        self.grads = self.buf[:total]
        self.comm = D.communicator()
        self.in_place = D.mpi_module().IN_PLACE
        self.steps_done = 0
        self.model_evaluate = model.evaluate
        D.watchdog.arm("start-up")  # starts the watchdog thread
        D.watchdog.disarm()
        native_spec = {"rank": self.rank, "world_size": self.size,
                       "grad_hook": self.native_hook, "reduce_tail": self.buf[-3:]}
        if self.sharded:  # the local rows, with the global set's size and every weight
            native_spec.update(
                n=n_local, global_n=self.n_global, own_lo=self.lo,
                weights=None if self.w_global is None else
                np.ascontiguousarray(self.w_global, model.dtype))
            run.for_data_parallel(
                native_spec=native_spec, n_global=self.n_global, batch_size=batch_size,
                evaluate=self.evaluate_sharded if run.x_val is not None else None)
        else:
            run.for_data_parallel(native_spec=native_spec)

    # ---------------------------------------------------------------- the reduction

    def reduce(self, value, correct):
        """Sum the gradients, this rank's loss share ``value`` and its ``correct`` count
        over the ranks, in place, with one Allreduce; the packing of the native engine's
        ``reduce_tail`` (csrc/core/train.h). Returns the sums, the same on every rank."""
        wd = D.watchdog
        wd.what = f"the gradient allreduce of step {self.steps_done + 1}"
        wd.deadline = time.monotonic() + D.timeout()
        tail, T = self.buf[-3:], self.buf.dtype.type
        hi = T(value)
        tail[0], tail[1], tail[2] = hi, T(value - float(hi)), T(correct)
        self.comm.Allreduce(self.in_place, self.buf)
        wd.deadline = None
        self.steps_done += 1
        return float(tail[0]) + float(tail[1]), int(tail[2])

    def native_hook(self):
        """The native engine's grad_hook, once per step with the GIL held: the engine has
        written the loss and correct count into the buffer's tail (``reduce_tail``)."""
        wd = D.watchdog
        wd.what = f"the gradient allreduce of step {self.steps_done + 1}"
        wd.deadline = time.monotonic() + D.timeout()
        self.comm.Allreduce(self.in_place, self.buf)
        wd.deadline = None
        self.steps_done += 1

    # ---------------------------------------------------------------- the python engine

    def rows_and_share(self, idx):
        """This rank's rows (local row numbers) of the global batch ``idx`` and its share
        of the batch's denominator (0 when it holds none)."""
        batch = len(idx)
        if self.sharded:
            mine = idx[(idx >= self.lo) & (idx < self.hi)]
            rows = mine - self.lo
        else:
            mine = rows = idx[batch * self.rank // self.size:
                              batch * (self.rank + 1) // self.size]
        return rows, self._share(idx, mine) if len(mine) else 0.0

    def _share(self, idx, mine):
        """This rank's part of the batch's denominator (rows, or sample weights summed in
        row order in float64 as the native engine does: cumsum is sequential)."""
        if self.w_global is None:
            return len(mine) / len(idx) if len(idx) else 0.0
        w = self.w_global
        local = float(np.cumsum(w[mine], dtype=np.float64)[-1])
        total = float(np.cumsum(w[idx], dtype=np.float64)[-1])
        return local / total if total != 0 else 0.0

    # ---------------------------------------------------------------- sharded validation

    def evaluate_sharded(self, x, y, loss_fn, sample_weight=None):
        """model.evaluate over every rank's validation part: the ranks' results combined
        as weighted means (by weight sum or rows), the same on every rank."""
        n = len(x)
        mine = self.model_evaluate(x, y, loss_fn, sample_weight=sample_weight) if n else {}
        denom = float(np.sum(sample_weight, dtype=np.float64)) if sample_weight is not None \
            else float(n)
        every = D.allgather_object((mine, denom, n))
        parts = [(m, d, k) for m, d, k in every if k]
        total_d = sum(d for _, d, _ in parts)
        total_n = sum(k for _, _, k in parts)
        result = {"loss": sum(m["loss"] * d for m, d, _ in parts) / total_d
                  if total_d else float("nan")}
        if loss_fn.classification:
            result["accuracy"] = sum(m["accuracy"] * k for m, _, k in parts) / total_n \
                if total_n else float("nan")
        return result

    # ---------------------------------------------------------------- the end

    @contextlib.contextmanager
    def guard(self):
        """An exception raised on this rank alone aborts the job (the other ranks would
        wait for it forever); those raised alike on every rank (the ranks disagree; a
        non-finite loss, which is global) propagate."""
        try:
            yield
        except (D.DistributedError, NonFiniteLossError):
            raise
        except BaseException as e:  # noqa: BLE001 - any other error ends the whole job
            import traceback
            traceback.print_exc()
            D.abort_job(f"fit raised {type(e).__name__}: {e}")

    def finish(self, history):
        """The same History on every rank: rank 0's epoch times."""
        if "epoch_time" in history.history:
            history.history["epoch_time"] = D.bcast_object(history.history["epoch_time"])
        history.distributed = {"mode": "sharded" if self.sharded else "replicated",
                               "world_size": self.size}
