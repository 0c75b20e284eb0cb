"""``fit``, ``train_on_batch`` and the epoch loop: callbacks, validation, schedules,
History, the progress bar and Ctrl-C, around an engine of
:mod:`nncore.training.engines` (docs/training.md)."""
from __future__ import annotations

import contextlib
import threading
import time
import warnings

import numpy as np

from .. import losses as losses_mod
from .. import lr_scheduler as schedules
from .._inputs import check_x, check_y, softmax_as_logits
from ..history import History
from ..progress import EpochProgress
from .engines import (NativeEngine, PythonEngine, make_engine, native_unsupported,
                      seeded_generator)
from .run import Run, bind_optimizer, prepare, resolve_loss, sample_weights
from .step import NonFiniteLossError

try:  # the C module under signal.signal, without its enum conversions (5 us a fit)
    from _signal import SIGINT as _SIGINT
    from _signal import signal as _set_handler
except ImportError:  # pragma: no cover - a Python without it
    from signal import SIGINT as _SIGINT
    from signal import signal as _set_handler

__all__ = ["fit", "train_on_batch", "NonFiniteLossError", "ENGINES"]

ENGINES = ("auto", "native", "python")


def fit(model, x, y, loss=None, optimizer=None, epochs=1, batch_size=32, shuffle=True,
        seed=None, validation_data=None, validation_split=0.0, class_weight=None,
        sample_weight=None, callbacks=None, verbose=1, lr_scheduler=None, health=False,
        stop_on_nonfinite=True, engine="auto", distributed=False, metrics=None):
    """Train with mini-batch gradient descent; returns a :class:`History`
    (``model.fit(x, y, ...)``, or ``nncore.training.fit(model, x, y, ...)``).

    Parameters
    ----------
    x : array_like (n, features)
    y : array_like
        Targets: (n, outputs) for MSE/L1/Huber/BCE ((n,) for one output), class
        labels (n,) or probabilities for cross-entropy.
    loss : str or Loss, optional
        ``"mse"``, ``"mae"``/``"l1"``, ``"huber"``, ``"cross_entropy"`` (also
        ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``),
        ``"bce"``/``"binary_crossentropy"``/``"bce_with_logits"``, or a Loss
        instance. Default: the loss of the previous ``fit``, else chosen from ``y``:
        integer class labels with several outputs take cross-entropy, anything else
        MSE (printed at ``verbose >= 1``; see :mod:`nncore.targets`).
    optimizer : Optimizer, "sgd" or "adam", optional
        Default: the optimiser of the previous ``fit`` (its state carries on), else
        ``SGD(lr=0.01)``; ``"sgd"`` is ``SGD(lr=0.01)``, ``"adam"`` is ``Adam(lr=1e-3)``.
    epochs : int
    batch_size : int or None
        None trains on the whole set per step (full-batch gradient descent).
    shuffle, seed
        Shuffle each epoch with a generator seeded by ``seed``; default: derived from
        the model's ``seed`` and its fit count (``model.fit_seed``).
    validation_data : (x_val, y_val), optional
    validation_split : float
        Hold out this fraction (stratified for classification, seeded).
    class_weight : dict or "balanced", optional
        Weight per class label (classification); multiplies ``sample_weight``.
        ``"balanced"``: ``n_samples / (n_classes * np.bincount(y))``, as scikit-learn.
    sample_weight : array_like (n,), optional
    callbacks : Callback or list of Callback
    verbose : 0 (silent), 1 (a progress bar per epoch on a terminal: steps, loss, ETA,
        samples/s; tqdm's when installed) or 2 (one line per epoch; also what 1
        prints when the output is not a terminal)
    lr_scheduler : schedule from :mod:`nncore.lr_scheduler`, stepped once per epoch (once per
        batch when its ``interval`` is ``"step"``, as OneCycleLR's)
    health : bool
        Record gradient health per layer into ``history.health``.
    stop_on_nonfinite : bool
        Raise :class:`NonFiniteLossError` (naming epoch, step and the first layer
        with non-finite values) when the loss becomes NaN or infinite.
    metrics : list of str or Metric, optional
        Logged per epoch under their names (``val_`` + name for validation) next to
        ``loss``, ``accuracy`` and ``learning_rate``: ``"accuracy"``,
        ``"top_k_accuracy"``, ``"precision"``, ``"recall"``, ``"f1"``, ``"auc"``,
        ``"mae"``, ``"rmse"``, ``"r2"`` or :mod:`nncore.metrics` objects; a training
        value gathers the outputs of the epoch's steps (Keras's rule).

    engine : {"auto", "native", "python"}
        ``"native"`` runs whole epochs (or chunks of steps) in one native call;
        ``"python"`` is the readable step-by-step loop of :mod:`nncore.training`;
        ``"auto"`` (default) takes native whenever every layer, the loss, the
        optimiser, the schedule and the callbacks are supported. Both give the same
        bits; ``history.engine`` says which ran.
    distributed : False, True, "replicated" or "sharded"
        Data-parallel training over MPI (launch with ``mpiexec -n P``; needs
        ``pip install 'nncore[mpi]'``): ``True``/``"replicated"`` when every rank passes
        the same ``(x, y)``, ``"sharded"`` when each passes its part. ``batch_size`` is
        the global batch; every rank ends with the same weights and History. See
        docs/distributed.md.

    Ctrl-C stops training after the current step; the model keeps its last
    completed update and the returned history has ``interrupted=True``.
    """
    if engine not in ENGINES:
        raise ValueError(f"fit: engine must be one of {ENGINES}; got {engine!r}")
    seed = model.fit_seed(seed)  # given, else from the model's seed and fit count
    parallel = None
    if distributed is not False and distributed is not None:
        from .data_parallel import DataParallel
        parallel = DataParallel(distributed, seed, verbose)
        seed, verbose = parallel.seed, parallel.verbose
    loss = resolve_loss(model, loss, y, verbose, "fit")
    batch_schedule = None
    if lr_scheduler is not None and getattr(lr_scheduler, "interval", "epoch") == "step":
        batch_schedule, lr_scheduler = lr_scheduler, None
    # A rank of a sharded fit may hold no rows: the global set is what must not be empty.
    run = prepare(model=model, x=x, y=y, loss=loss, optimizer=optimizer, epochs=epochs,
                  batch_size=batch_size, validation_data=validation_data,
                  validation_split=validation_split, class_weight=class_weight,
                  sample_weight=sample_weight, callbacks=callbacks, health=health, seed=seed,
                  allow_empty=parallel is not None and parallel.sharded, metrics=metrics,
                  batch_schedule=batch_schedule)
    schedules.check_scheduler(lr_scheduler or batch_schedule, run.optimizer, "fit")
    if parallel is not None and (run.metrics or run.batch_schedule):
        raise ValueError("fit: metrics= and per-batch schedules do not run distributed yet")
    if parallel is not None:
        parallel.attach(model, run, engine, shuffle, epochs, batch_size, lr_scheduler)
    history = History()
    model.stop_training = False
    rng = seeded_generator(seed)  # this fit's own: nothing draws from it after the engine
    engine_ = make_engine(model, run, engine, rng, shuffle=shuffle, verbose=verbose,
                          stop_on_nonfinite=stop_on_nonfinite, lr_scheduler=lr_scheduler,
                          parallel=parallel, keep_stream=False, reuse=True)
    history.engine = "native" if isinstance(engine_, NativeEngine) else "python"
    interrupted = _InterruptFlag()
    guard = parallel.guard() if parallel is not None else contextlib.nullcontext()
    with interrupted, guard, model._mode(True), softmax_as_logits(model, run.loss_fn):
        for c in run.callbacks:
            c.on_train_begin()
        epoch = 0
        while epoch < epochs:
            if interrupted.flag:  # Ctrl-C during the previous epoch's validation
                history.interrupted = True
                warnings.warn(f"training interrupted after epoch {epoch}; the model keeps "
                              "its last completed update", RuntimeWarning, stacklevel=3)
                break
            records, stopped_at = engine_.epoch(epoch, epochs, interrupted)
            if engine_.bulk:
                epoch = _end_epochs_bulk(history, epoch, records, lr_scheduler)
            else:
                for logs in records:
                    epoch = _end_epoch(model, run, history, epoch, logs, lr_scheduler, verbose,
                                       engine_.take_bar())
                    if model.stop_training:
                        break
            if stopped_at is not None:  # interrupted inside an epoch
                history.interrupted = True
                warnings.warn(f"training interrupted at epoch {stopped_at[0] + 1}, step "
                              f"{stopped_at[1]}; the model keeps its last completed update",
                              RuntimeWarning, stacklevel=3)
                break
            if model.stop_training:
                break
        for c in run.callbacks:
            c.on_train_end()
    engine_.close()
    if run.health_cb is not None:
        history.health = run.health_cb.health
    if parallel is not None:
        parallel.finish(history)
    model.history = history
    return history


def train_on_batch(model, x, y, loss=None, optimizer=None, sample_weight=None):
    """One training step on ``(x, y)``: forward, loss, backward, update. Returns the
    loss. The native engine does it in one call (kept between calls while the model,
    loss, optimiser and batch shape stay the same); otherwise the python step."""
    loss_fn = losses_mod.get(resolve_loss(model, loss, y, 0, "train_on_batch"))
    model.loss = loss_fn
    x = check_x(model, x, "x", "train_on_batch")
    y = check_y(model, y, len(x), loss_fn, "y", "train_on_batch")
    optimizer = bind_optimizer(model, optimizer, "train_on_batch")
    w = sample_weights(model, y, len(x), None, sample_weight, loss_fn)
    run = Run(x=x, y=y, weights=w, x_val=None, y_val=None, w_val=None, loss_fn=loss_fn,
              optimizer=optimizer, callbacks=[], health_cb=None, n=len(x),
              batch_size=len(x), steps=1, epochs=1)
    rows = np.arange(len(x))
    if native_unsupported(model, run):
        with model._mode(True), softmax_as_logits(model, loss_fn):
            return PythonEngine(model, run, None, stop_on_nonfinite=False).step(rows)
    key = (id(loss_fn), id(optimizer), x.shape, y.shape, y.dtype.str, w is None,
           tuple(id(a) for p in optimizer.params for a in (p.data, p.grad)),
           tuple(id(a) for s in optimizer.state for a in s.values()),
           tuple((s.index, id(s.layer), s.activation) for s in model.steps))
    cached = model.batch_engine
    if cached is not None and cached[0] == key:
        engine = cached[1]
        targets = np.ascontiguousarray(y, np.int64 if y.ndim == 1 and isinstance(
            loss_fn, losses_mod.CrossEntropyLoss) else model.dtype)
        engine.trainer.set_data(np.ascontiguousarray(x), targets,
                                None if w is None else np.ascontiguousarray(w))
    else:
        engine = NativeEngine(model, run, None, shuffle=False, stop_on_nonfinite=False)
        model.batch_engine = (key, engine)
    return engine.step(rows)


# ----------------------------------------------------------------- the epoch end

def _end_epoch(model, run, history, epoch, logs, lr_scheduler, verbose, bar):
    """What follows every epoch in both engines: validation, the schedule, callbacks,
    the record and the progress line. Returns the next epoch's index."""
    elapsed = logs.pop("epoch_time")
    lr = logs.pop("lr", run.optimizer.lr)  # the rate this epoch trained with
    if run.x_val is not None:
        t0 = time.perf_counter()
        evaluate = run.evaluate or model.evaluate  # data parallel, sharded: over the ranks
        kw = {"metrics": run.metrics} if run.metrics else {}
        val = evaluate(run.x_val, run.y_val, run.loss_fn, sample_weight=run.w_val, **kw)
        logs.update({"val_" + k: v for k, v in val.items()})
        elapsed += time.perf_counter() - t0
    logs["epoch_time"] = elapsed
    logs["learning_rate"] = lr
    if lr_scheduler is not None:
        logs["lr"] = lr
        schedules.step_schedule(lr_scheduler, logs)
    for c in run.callbacks:
        c.on_epoch_end(epoch, logs)
    history.append(epoch, logs)
    if bar is None:
        bar = EpochProgress(epoch + 1, run.epochs, run.steps, verbose, samples=run.n)
    bar.close(seconds=logs["epoch_time"],
              **{k: v for k, v in logs.items() if k != "epoch_time"})
    return epoch + 1


def _end_epochs_bulk(history, epoch, columns, lr_scheduler):
    """_end_epoch for many epochs at once, when nothing runs between them (no validation,
    no callbacks, silent): the same History, from the native engine's columns."""
    count = len(columns["loss"])
    lr = columns.pop("lr")
    columns["learning_rate"] = lr
    if lr_scheduler is not None:
        columns["lr"] = lr
        for _ in range(count):
            lr_scheduler.step()
    history.extend(range(epoch, epoch + count), columns)
    return epoch + count


class _InterruptFlag:
    """While active (main thread only), Ctrl-C sets ``flag`` instead of raising, so the
    training loop finishes its current step and stops cleanly."""

    def __init__(self):
        self.flag = False
        self._old = None

    def _handler(self, signum, frame):
        if self.flag:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.flag = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = _set_handler(_SIGINT, self._handler)
            except (ValueError, OSError):
                self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            _set_handler(_SIGINT, self._old)
        return False
