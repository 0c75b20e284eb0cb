"""Training: ``fit`` and the loop it runs.

``fit`` prepares a run (targets, sample weights, the validation split, the optimiser and
callbacks) and then trains with one of two engines that mean the same thing:

- ``engine="python"``: the loop below, written to be read. Each step gathers a batch,
  runs the model forward layer by layer, computes the loss and its gradient, runs
  backward layer by layer and updates every parameter.
- ``engine="native"``: the same loop in C++ (``csrc/core/train.cpp``), a whole epoch (or
  several, or a chunk of steps) per call with the GIL released. It calls the same kernels
  in the same order, so both engines give the same bits (docs/training.md).

``engine="auto"`` takes the native engine when every layer, the loss, the optimiser, the
schedule and the callbacks are supported, and says so in ``history.engine``.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import warnings

import numpy as np

from . import callbacks as cb
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optim as optim_mod
from . import targets as targets_mod
from ._inputs import check_x, check_y, softmax_as_logits, warn_probability_output
from .data import split_indices
from .history import History
from .optim import SGD, Optimizer
from ._epochs import NonFiniteLossError, _end_epoch, _end_epochs_bulk, _python_epoch
from ._native_fit import _NativeEpochs, native_unsupported

__all__ = ["fit", "train_on_batch", "NonFiniteLossError"]

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
        Default ``SGD(lr=0.01)``; ``"adam"`` is ``Adam(lr=1e-3)``. Its state survives
        repeated ``fit`` calls.
    epochs : int
    batch_size : int or None
        None trains on the whole set per step (full-batch gradient descent).
    shuffle, seed
        Shuffle each epoch with a generator seeded by ``seed``.
    validation_data : (x_val, y_val), optional
    validation_split : float
        Hold out this fraction (stratified for classification, seeded).
    class_weight : dict, optional
        Weight per class label (classification); multiplies ``sample_weight``.
    sample_weight : array_like (n,), optional
    callbacks : list of Callback
    verbose : 0 (silent), 1 (a progress bar per epoch on a terminal: steps, loss, ETA,
        samples/s; tqdm's when installed) or 2 (one line per epoch; also what 1
        prints when the output is not a terminal)
    lr_scheduler : schedule from :mod:`nncore.optim`, stepped once per epoch (once per
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
    dist = None
    if distributed is not False and distributed is not None:  # nncore/_dist_fit.py
        from ._dist_fit import Distributed
        dist = Distributed(distributed, seed, verbose)
        seed, verbose = dist.seed, dist.verbose
    loss = _resolve_loss(model, loss, y, verbose, "fit")
    # A rank of a sharded fit may hold no rows: the global set is what must not be empty.
    run = _prepare(model, x, y, loss, optimizer, epochs, batch_size, validation_data,
                   validation_split, class_weight, sample_weight, callbacks, health, seed,
                   allow_empty=dist is not None and dist.sharded)
    run.metrics = metrics_mod.MetricList(metrics)  # issue 24: metrics, per-batch schedules
    if lr_scheduler is not None and getattr(lr_scheduler, "interval", "epoch") == "step":
        run.batch_schedule, lr_scheduler = lr_scheduler, None
    if dist is not None and (run.metrics or getattr(run, "batch_schedule", None)):
        raise ValueError("fit: metrics= and per-batch schedules do not run distributed yet")
    if dist is not None:
        dist.attach(model, run, engine, shuffle, epochs, batch_size, lr_scheduler)
    why_not = native_unsupported(model, run) if engine != "python" else ""
    if engine == "native" and why_not:
        raise ValueError(f"fit: engine='native' cannot run this model: {why_not}; use "
                         "engine='python' or 'auto'")
    use_native = engine == "native" or (engine == "auto" and not why_not)
    if engine == "auto" and why_not and verbose >= 1:
        print(f"fit: the python engine runs this fit ({why_not})")
    history = History()
    history.engine = "native" if use_native else "python"
    model.stop_training = False
    rng = np.random.default_rng(seed)
    epoch_loop = _NativeEpochs(model, run, rng, shuffle, lr_scheduler, verbose,
                               stop_on_nonfinite) if use_native else None
    interrupted = _InterruptFlag()
    python_epoch = _python_epoch if dist is None else dist.python_epoch
    with interrupted, (dist.guard() if dist is not None else _no_guard()), model._mode(True), \
            softmax_as_logits(model, run.loss_fn):
        for c in run.callbacks:
            c.on_train_begin()
        epoch = 0
        while epoch < epochs:
            if interrupted.flag:  # Ctrl-C during the previous epoch's validation
                history.interrupted = True
                warnings.warn(f"training interrupted after epoch {epoch}; the model keeps "
                              "its last completed update", RuntimeWarning, stacklevel=3)
                break
            if epoch_loop is not None:
                records, stopped_at = epoch_loop.run(epoch, epochs, interrupted)
            else:
                records, stopped_at = python_epoch(model, run, rng, epoch, epochs, shuffle,
                                                   verbose, stop_on_nonfinite, interrupted)
            if epoch_loop is not None and epoch_loop.bulk:
                epoch = _end_epochs_bulk(run, history, epoch, records, lr_scheduler)
            for logs in records if epoch_loop is None or not epoch_loop.bulk else ():
                epoch = _end_epoch(model, run, history, epoch, logs, lr_scheduler, verbose)
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
    if epoch_loop is not None:
        epoch_loop.finish()
    if run.health_cb is not None:
        history.health = run.health_cb.health
    if dist is not None:
        dist.finish(history)
    model.history = history
    return history


@contextlib.contextmanager
def _no_guard():
    yield


def train_on_batch(model, x, y, loss=None, optimizer=None, sample_weight=None):
    """One training step on ``(x, y)``: forward, loss, backward, update. Returns the
    loss. The native engine does it in one call (kept between calls while the model,
    loss, optimiser and batch shape stay the same); otherwise the python step."""
    loss_fn = losses_mod.get(_resolve_loss(model, loss, y, 0, "train_on_batch"))
    model.loss = loss_fn
    x = check_x(model, x, "x", "train_on_batch")
    y = check_y(model, y, len(x), loss_fn, "y", "train_on_batch")
    optimizer = _bind_optimizer(model, optimizer, "train_on_batch")
    w = _sample_weights(model, y, len(x), None, sample_weight, loss_fn)
    run = _Run(x=x, y=y, weights=w, x_val=None, y_val=None, w_val=None, loss_fn=loss_fn,
               optimizer=optimizer, callbacks=[], health_cb=None, n=len(x),
               batch_size=len(x), steps=1, epochs=1)
    if native_unsupported(model, run):
        with model._mode(True), softmax_as_logits(model, loss_fn):
            out = model.forward(x)
            value = loss_fn(out, y, sample_weight=w)
            model.backward(loss_fn.backward())
        optimizer.step()
        return value
    key = (id(loss_fn), id(optimizer), x.shape, y.shape, y.dtype.str, w is None,
           tuple(id(a) for p in optimizer.params for a in (p.data, p.grad)),
           tuple(id(a) for s in optimizer.state for a in s.values()), model._skip)
    cached = getattr(model, "_batch_trainer", None)
    if cached is not None and cached[0] == key:
        trainer = cached[1]
        targets = np.ascontiguousarray(y, np.int64 if y.ndim == 1 and isinstance(
            loss_fn, losses_mod.CrossEntropyLoss) else model.dtype)
        trainer.set_data(np.ascontiguousarray(x), targets,
                         None if w is None else np.ascontiguousarray(w))
    else:
        trainer = _NativeEpochs(model, run, np.random.default_rng(0), False, None, 0,
                                False).trainer
        model._batch_trainer = (key, trainer)
    trainer.optimizer_steps = optimizer.steps
    res = trainer.run(1, math.inf, optimizer.lr)
    optimizer.steps = trainer.optimizer_steps
    return res["last_loss"]


# ----------------------------------------------------------------- preparing a run

def _resolve_loss(model, loss, y, verbose, fn):
    """The loss to train with: ``loss`` when given, else the model's last, else chosen
    from the targets (:func:`nncore.targets.infer_loss`, printed at ``verbose >= 1``)."""
    if loss is not None:
        return loss
    if model.loss is not None:
        return model.loss
    name, why = targets_mod.infer_loss(y, targets_mod.output_features(model))
    if verbose >= 1:
        print(f"{fn}: loss={name!r} chosen from the targets ({why}); pass loss= to choose")
    return name


class _Run:
    """What both engines need, prepared once per fit."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.bar = None


def _prepare(model, x, y, loss, optimizer, epochs, batch_size, validation_data,
             validation_split, class_weight, sample_weight, callbacks, health, seed,
             allow_empty=False):
    loss_fn = losses_mod.get(loss)
    model.loss = loss_fn
    x = check_x(model, x, "x", allow_empty=allow_empty)
    y = check_y(model, y, len(x), loss_fn, allow_empty=allow_empty)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0; got {epochs!r}")
    warn_probability_output(model, loss_fn)
    weights = _sample_weights(model, y, len(x), class_weight, sample_weight, loss_fn)

    if validation_data is not None:
        x_val, y_val = validation_data
        x_val = check_x(model, x_val, "validation_data[0]")
        y_val = check_y(model, y_val, len(x_val), loss_fn, "validation_data[1]")
        w_val = None
    elif validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1); got "
                             f"{validation_split!r}")
        train_idx, val_idx = split_train_validation(y, validation_split, seed, loss_fn)
        x_val, y_val = x[val_idx], y[val_idx]
        w_val = None if weights is None else weights[val_idx]
        x, y = x[train_idx], y[train_idx]
        weights = None if weights is None else weights[train_idx]
    else:
        x_val = y_val = w_val = None

    optimizer = _bind_optimizer(model, optimizer, "fit")

    callbacks = list(callbacks or [])
    health_cb = None
    if health:
        health_cb = cb.GradientHealth()
        callbacks.append(health_cb)
    for c in callbacks:
        c.model = model
    n = len(x)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"fit: batch_size must be a positive int or None; got {batch_size!r}")
    bs = n if batch_size is None else int(batch_size)
    steps = max(math.ceil(n / bs), 1) if n else 0
    return _Run(x=x, y=y, weights=weights, x_val=x_val, y_val=y_val, w_val=w_val,
                loss_fn=loss_fn, optimizer=optimizer, callbacks=callbacks,
                health_cb=health_cb, n=n, batch_size=bs, steps=steps, epochs=epochs)


def _bind_optimizer(model, optimizer, fn):
    """The optimiser to train with (default: the model's last, else SGD(lr=0.01)), bound
    to the model's parameters and kept on the model."""
    if optimizer is None:
        optimizer = model.optimizer or SGD(lr=0.01)
    optimizer = optim_mod.get(optimizer)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{fn}: optimizer must be an nncore optimizer; got "
                        f"{type(optimizer).__name__}")
    if not optimizer.bound:
        optimizer.bind(model.parameters())
    model.optimizer = optimizer
    return optimizer


def _sample_weights(model, y, n, class_weight, sample_weight, loss_fn):
    """Per-sample weights from ``sample_weight`` times ``class_weight`` (or None)."""
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, np.float64)
        if w.shape != (n,):
            raise ValueError(f"fit: sample_weight must have shape ({n},); got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("fit: sample_weight must be finite and >= 0")
    if class_weight is not None:
        if not loss_fn.classification:
            raise ValueError("fit: class_weight needs a classification loss")
        if not isinstance(class_weight, dict):
            raise TypeError(f"fit: class_weight must be a dict {{label: weight}}; got "
                            f"{type(class_weight).__name__}")
        labels = y if y.ndim == 1 else (y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0])
        labels = np.asarray(labels).astype(np.int64)
        cw = np.ones(n, np.float64)
        for cls, weight in class_weight.items():  # a loop over classes, not samples
            if not (np.isfinite(weight) and weight >= 0):
                raise ValueError(f"fit: class_weight[{cls!r}] must be finite and >= 0; "
                                 f"got {weight!r}")
            cw[labels == cls] = weight
        w = cw if w is None else w * cw
    return None if w is None else w.astype(model.dtype)


def split_train_validation(y, fraction, seed, loss_fn):
    """Seeded train/validation indices, stratified by class for classification."""
    rng = np.random.default_rng(None if seed is None else seed + 7919)
    stratify = loss_fn.classification and (y.ndim == 1 or y.shape[1] == 1)
    return split_indices(len(y), fraction, rng, y.reshape(len(y)) if stratify else None)


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
                self._old = signal.signal(signal.SIGINT, self._handler)
            except (ValueError, OSError):
                self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False
