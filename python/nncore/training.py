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
import time
import warnings

import numpy as np

from . import callbacks as cb
from . import losses as losses_mod
from . import optim as optim_mod
from . import targets as targets_mod
from .data import split_indices
from .history import History
from .optim import SGD, Optimizer
from .progress import EpochProgress

__all__ = ["fit", "train_on_batch", "NonFiniteLossError"]

ENGINES = ("auto", "native", "python")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss (the message says where)."""


def fit(model, x, y, loss=None, optimizer=None, epochs=1, batch_size=32, shuffle=True,
        seed=None, validation_data=None, validation_split=0.0, class_weight=None,
        sample_weight=None, callbacks=None, verbose=1, lr_scheduler=None, health=False,
        stop_on_nonfinite=True, engine="auto", distributed=False):
    """Train ``model``; see :meth:`nncore.Sequential.fit` for the parameters."""
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
            model._softmax_as_logits(run.loss_fn):
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
    x = model._check_x(x, "x", "train_on_batch")
    y = model._check_y(y, len(x), loss_fn, "y", "train_on_batch")
    optimizer = _bind_optimizer(model, optimizer, "train_on_batch")
    w = _sample_weights(model, y, len(x), None, sample_weight, loss_fn)
    run = _Run(x=x, y=y, weights=w, x_val=None, y_val=None, w_val=None, loss_fn=loss_fn,
               optimizer=optimizer, callbacks=[], health_cb=None, n=len(x),
               batch_size=len(x), steps=1, epochs=1)
    if native_unsupported(model, run):
        with model._mode(True), model._softmax_as_logits(loss_fn):
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


# ----------------------------------------------------------------- the python engine

def _python_epoch(model, run, rng, epoch, epochs, shuffle, verbose, stop_on_nonfinite,
                  interrupted):
    """One epoch, step by step. Returns ([logs], None), or ([], (epoch, step)) when
    Ctrl-C stopped it after a step."""
    for c in run.callbacks:
        c.on_epoch_begin(epoch)
    started = time.perf_counter()
    n, bs, steps = run.n, run.batch_size, run.steps
    x, y, weights, loss_fn, optimizer = run.x, run.y, run.weights, run.loss_fn, run.optimizer
    order = rng.permutation(n) if shuffle else np.arange(n)
    bar = EpochProgress(epoch + 1, epochs, steps, verbose, samples=n)
    seen = total_loss = 0.0
    correct = 0
    for step in range(steps):
        idx = order[step * bs:(step + 1) * bs]
        xb, yb = x[idx], y[idx]
        wb = None if weights is None else weights[idx]
        out = model.forward(xb)
        value = loss_fn(out, yb, sample_weight=wb)
        if not math.isfinite(value) and stop_on_nonfinite:
            raise nonfinite_error(model, value, epoch, step)
        model.backward(loss_fn.backward())
        optimizer.step()
        seen += len(idx)
        total_loss += value * len(idx)
        if loss_fn.classification:
            correct += count_correct(out, yb)
        if _step_end(run, bar, step, total_loss / seen, interrupted):
            return [], (epoch, step + 1)
    return [_epoch_logs(run, bar, loss_fn, total_loss, correct, seen, started)], None


def _step_end(run, bar, step, loss, interrupted):
    """What follows every python-engine step (both drivers): per-step callbacks and the
    progress bar; True when Ctrl-C came and the epoch stops here."""
    logs = {"loss": loss}
    for c in run.callbacks:
        c.on_step_end(step, logs)
    bar.update(step + 1, **logs)
    if interrupted.flag:
        bar.close(loss=loss, interrupted=True)
        return True
    return False


def _epoch_logs(run, bar, loss_fn, total_loss, correct, seen, started):
    """An epoch's logs from its running sums (python engine, both drivers)."""
    logs = {"loss": total_loss / max(seen, 1)}
    if loss_fn.classification:
        logs["accuracy"] = correct / max(seen, 1)
    logs["epoch_time"] = time.perf_counter() - started
    run.bar = bar
    return logs


def _end_epoch(model, run, history, epoch, logs, lr_scheduler, verbose):
    """What follows every epoch in both engines: validation, the schedule, callbacks,
    the record and the progress line. Returns the next epoch's index."""
    elapsed = logs.pop("epoch_time")
    lr = logs.pop("lr", run.optimizer.lr)  # the rate this epoch trained with
    if run.x_val is not None:
        t0 = time.perf_counter()
        evaluate = getattr(run, "evaluate", model.evaluate)  # distributed: over the ranks
        val = evaluate(run.x_val, run.y_val, run.loss_fn, sample_weight=run.w_val)
        logs.update({"val_" + k: v for k, v in val.items()})
        elapsed += time.perf_counter() - t0
    logs["epoch_time"] = elapsed
    if lr_scheduler is not None:
        logs["lr"] = lr
        lr_scheduler.step()
    for c in run.callbacks:
        c.on_epoch_end(epoch, logs)
    history.append(epoch, logs)
    bar = run.bar
    run.bar = None
    if bar is None:
        bar = EpochProgress(epoch + 1, run.epochs, run.steps, verbose, samples=run.n)
    bar.close(**{k: v for k, v in logs.items() if k != "epoch_time"})
    return epoch + 1


def _end_epochs_bulk(run, history, epoch, columns, lr_scheduler):
    """_end_epoch for many epochs at once, when nothing runs between them (no validation,
    no callbacks, silent): the same History, from the native engine's columns."""
    count = len(columns["loss"])
    lr = columns.pop("lr")
    if lr_scheduler is not None:
        columns["lr"] = lr
        for _ in range(count):
            lr_scheduler.step()
    history.extend(range(epoch, epoch + count), columns)
    return epoch + count


def nonfinite_error(model, value, epoch, step):
    """The error for a NaN/inf loss at ``epoch`` and ``step`` (0-based)."""
    return NonFiniteLossError(
        f"loss became {value} at epoch {epoch + 1}, step {step + 1}"
        f"{first_nonfinite(model)}; lower the learning rate or check the "
        "data (fit(..., stop_on_nonfinite=False) goes on)")


def first_nonfinite(model):
    """Where the first non-finite parameter or output is (text for an error message)."""
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            if not np.all(np.isfinite(p.data)):
                return f"; first non-finite values in layer '{model.layer_name(i)}' " \
                       f"(parameter {p.name})"
        y = layer.output
        if y is not None and not np.all(np.isfinite(y)):
            return f"; first non-finite values in layer '{model.layer_name(i)}' (output)"
    # Nothing non-finite yet (the loss itself overflowed): name the largest values.
    sizes = [(float(np.max(np.abs(layer.output))), i) for i, layer in enumerate(model.layers)
             if layer.output is not None and layer.output.size]
    if sizes:
        big, i = max(sizes)
        return f"; every layer is still finite, the largest outputs ({big:.3g}) come " \
               f"from layer '{model.layer_name(i)}'"
    return ""


def count_correct(out, y):
    """Number of correct predictions of logits ``out`` for targets ``y``: argmax against
    the label (or the target's argmax) for several outputs, ``out > 0`` against
    ``y > 0.5`` for one. Native (:func:`nncore.functional.count_correct`)."""
    from . import functional as F
    return F.count_correct(out, y)


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
    x = model._check_x(x, "x", allow_empty=allow_empty)
    y = model._check_y(y, len(x), loss_fn, allow_empty=allow_empty)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0; got {epochs!r}")
    model._warn_probability_output(loss_fn)
    weights = _sample_weights(model, y, len(x), class_weight, sample_weight, loss_fn)

    if validation_data is not None:
        x_val, y_val = validation_data
        x_val = model._check_x(x_val, "validation_data[0]")
        y_val = model._check_y(y_val, len(x_val), loss_fn, "validation_data[1]")
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


# ----------------------------------------------------------------- the native engine

#: Seconds of training per native call before control returns to Python (progress bar,
#: Ctrl-C): short enough to stop within about a tenth of a second.
CHUNK_SECONDS = 0.05


def native_unsupported(model, run):
    """Why the native engine cannot run this fit ('' when it can)."""
    from . import layers as L
    from . import optim
    if not run.n:
        return "no training rows"
    if getattr(run, "native_why_not", ""):
        return run.native_why_not
    for i, layer in enumerate(model.layers):
        if model._skip[i]:
            continue
        if type(layer) not in (L.Dense, L.ReLU, L.Sigmoid, L.Tanh, L.LeakyReLU, L.Identity):
            return f"layer {model.layer_name(i)} ({type(layer).__name__}) has no native op"
        if any(p.dtype != model.dtype for p in layer.parameters()):
            return f"layer {model.layer_name(i)} is not {model.dtype.name}"
        if isinstance(layer, L.Dense) and layer.activation in ("softmax", "gelu", "gelu_tanh",
                                                                "silu", "softplus"):
            return f"layer {model.layer_name(i)} has a {layer.activation} activation (no " \
                   "native op in the engine)"
    loss_fn = run.loss_fn
    if type(loss_fn) not in (losses_mod.MSELoss, losses_mod.BCEWithLogitsLoss,
                             losses_mod.CrossEntropyLoss, losses_mod.L1Loss,
                             losses_mod.HuberLoss) or loss_fn.reduction != "mean":
        return f"the loss {loss_fn!r} is not native (mse, bce_with_logits, cross_entropy, " \
               "l1 and huber with reduction='mean' are)"
    opt = run.optimizer
    if type(opt) not in (optim.SGD, optim.Adam):
        return f"the optimizer {type(opt).__name__} is not native (SGD and Adam are)"
    for c in run.callbacks:
        if type(c).on_step_end is not cb.Callback.on_step_end:
            return f"the callback {type(c).__name__} needs per-step hooks"
    out = model.layers[-1].output_features(None) if isinstance(model.layers[-1], L.Dense) \
        else _out_features(model)
    y = run.y
    if isinstance(loss_fn, losses_mod.CrossEntropyLoss):
        if not ((y.ndim == 1 and y.dtype == np.int64) or (y.ndim == 2 and y.shape[1] == out)):
            return "the targets do not fit the outputs"
    elif y.ndim != 2 or y.shape[1] != out or y.dtype != model.dtype:
        return "the targets do not fit the outputs"
    return ""


def _out_features(model):
    features = None
    for layer in model.layers:
        features = layer.output_features(features)
    return features


def _schedule_spec(lr_scheduler, optimizer):
    """The schedule the engine evaluates between epochs of one call, or None when it
    cannot (then it trains one epoch per call and Python steps the schedule)."""
    from . import optim
    spec = {"kind": "none", "base_lr": optimizer.lr, "gamma": 0.0, "eta_min": 0.0,
            "step_size": 1, "t_max": 1}
    if lr_scheduler is None:
        return spec
    if lr_scheduler.optimizer is not optimizer:
        return None
    kind = type(lr_scheduler)
    spec["base_lr"] = lr_scheduler.base_lr
    if kind is optim.StepLR and lr_scheduler.step_size > 0:
        spec.update(kind="step", gamma=lr_scheduler.gamma, step_size=lr_scheduler.step_size)
    elif kind is optim.ExponentialLR:
        spec.update(kind="exponential", gamma=lr_scheduler.gamma)
    elif kind is optim.CosineAnnealingLR and lr_scheduler.T_max > 0:
        spec.update(kind="cosine", eta_min=lr_scheduler.eta_min, t_max=lr_scheduler.T_max)
    else:
        return None
    return spec


class _NativeEpochs:
    """Drives the native engine (``_core._Trainer``) for ``fit``: epochs or chunks of
    steps per call, returning to Python for callbacks, validation, the progress bar and
    Ctrl-C."""

    def __init__(self, model, run, rng, shuffle, lr_scheduler, verbose, stop_on_nonfinite):
        from . import _core
        from . import layers as L
        self.model, self.run_, self.rng, self.verbose = model, run, rng, verbose
        opt = run.optimizer
        layers = []
        for i, layer in enumerate(model.layers):
            if model._skip[i]:
                continue
            if isinstance(layer, L.Dense):
                act, slope = layer.activation_and_slope()
                gb = layer.b.grad if layer.b is not None else layer._gb_scratch
                layers.append({"w": layer.w.data, "b": None if layer.b is None else layer.b.data,
                               "grad_w": layer.w.grad, "grad_b": gb, "in": layer.in_features,
                               "out": layer.out_features, "activation": act,
                               "slope": float(slope)})
            else:
                layers.append({"w": None, "activation": layer.activation,
                               "slope": float(getattr(layer, "slope", 0.0))})
        loss = {losses_mod.MSELoss: "mse", losses_mod.BCEWithLogitsLoss: "bce_logits",
                losses_mod.L1Loss: "l1", losses_mod.HuberLoss: "huber"}.get(type(run.loss_fn))
        y = run.y
        if loss is None:
            loss = "ce_labels" if y.ndim == 1 else "ce_probs"
        out = _out_features(model)
        if loss == "ce_labels":
            targets = np.ascontiguousarray(y, np.int64)
        else:
            targets = np.ascontiguousarray(y, model.dtype)
        if isinstance(opt, SGD):
            options = {"momentum": opt.momentum, "dampening": opt.dampening,
                       "weight_decay": opt.weight_decay, "nesterov": opt.nesterov}
            state1 = [s["velocity"] for s in opt.state if "velocity" in s]
            state2 = []
            name = "sgd"
        else:
            options = {"beta1": opt.betas[0], "beta2": opt.betas[1], "eps": opt.eps,
                       "weight_decay": opt.weight_decay}
            state1 = [s["m"] for s in opt.state]
            state2 = [s["v"] for s in opt.state]
            name = "adam"
        schedule = _schedule_spec(lr_scheduler, opt)
        # Epochs run back to back in one call only when nothing happens between them.
        self.per_epoch = bool(run.callbacks) or run.x_val is not None or schedule is None
        self.bulk = not self.per_epoch and verbose == 0
        st = rng.bit_generator.state
        if st.get("bit_generator") != "PCG64":
            raise ValueError("fit: the native engine shuffles with NumPy's PCG64 generator")
        mask = (1 << 64) - 1
        state, inc = st["state"]["state"], st["state"]["inc"]
        self.trainer = _core._Trainer({
            "dtype": model.dtype.name, "x": np.ascontiguousarray(run.x), "n": run.n,
            "features": run.x.shape[1], "layers": layers, "loss": loss, "targets": targets,
            "huber_delta": float(getattr(run.loss_fn, "delta", 1.0)),
            "target_cols": 1 if loss == "ce_labels" else out, "classes": out,
            "weights": None if run.weights is None else np.ascontiguousarray(run.weights),
            "classification": run.loss_fn.classification, "batch_size": run.batch_size,
            "shuffle": bool(shuffle), "stop_on_nonfinite": bool(stop_on_nonfinite),
            "optimizer": name, "options": options,
            "params": [p.data for p in opt.params], "grads": [p.grad for p in opt.params],
            "state1": state1, "state2": state2,
            "clip_norm": -1.0 if opt.clip_norm is None else float(opt.clip_norm),
            "clip_value": -1.0 if opt.clip_value is None else float(opt.clip_value),
            "schedule": schedule or {"kind": "none", "base_lr": opt.lr, "gamma": 0.0,
                                     "eta_min": 0.0, "step_size": 1, "t_max": 1},
            "rng": (state >> 64, state & mask, inc >> 64, inc & mask,
                    bool(st["has_uint32"]), int(st["uinteger"])),
            "optimizer_steps": opt.steps,
            "no_decay": [not d for d in opt.decays()] if opt.no_decay else None,
            # data-parallel runs add "rank", "world_size" and "grad_hook" (see train.h)
            **getattr(run, "native_spec", {})})
        self.step = 0
        self.bar = None

    def run(self, epoch, epochs, interrupted):
        """Train from ``epoch`` for one call. Returns (records, None) or, when Ctrl-C
        came mid-epoch, (records, (epoch, step))."""
        run, opt = self.run_, self.run_.optimizer
        if self.step == 0:
            for c in run.callbacks:
                c.on_epoch_begin(epoch)
            self.bar = EpochProgress(epoch + 1, epochs, run.steps, self.verbose, samples=run.n)
        res = self.trainer.run(1 if self.per_epoch else epochs - epoch, CHUNK_SECONDS, opt.lr)
        opt.steps = self.trainer.optimizer_steps
        self._sync_rng()
        if res["hook_failed"]:
            raise RuntimeError("fit: the native engine's gradient hook failed")
        if res["nonfinite"]:
            rows = self.trainer.batch_rows()
            self.model.forward(run.x[rows])  # the failing batch's outputs, for the message
            raise nonfinite_error(self.model, res["bad_loss"], res["epoch"], res["step"])
        self.step = res["step"]
        columns = {"loss": res["loss"]}
        if run.loss_fn.classification:
            columns["accuracy"] = res["accuracy"]
        columns["epoch_time"] = res["seconds"]
        columns["lr"] = res["lr"]
        if self.bulk:  # many epochs, nothing between them: columns straight to History
            records = columns
            finished = len(columns["loss"])
        else:
            names = list(columns)
            records = [dict(zip(names, values)) for values in zip(*columns.values())]
            finished = len(records)
            if records:
                run.bar = self.bar if len(records) == 1 else None
        if self.step > 0:
            if finished:  # a new epoch is under way: its bar
                self.bar = EpochProgress(res["epoch"] + 1, epochs, run.steps, self.verbose,
                                         samples=run.n)
            self.bar.update(self.step, loss=res["running_loss"])
            if interrupted.flag:
                self.bar.close(loss=res["running_loss"], interrupted=True)
                return records, (res["epoch"], self.step)
        return records, None

    def _sync_rng(self):
        hi_s, lo_s, hi_i, lo_i, has32, u32 = self.trainer.rng_state()
        st = self.rng.bit_generator.state
        st["state"] = {"state": (hi_s << 64) | lo_s, "inc": (hi_i << 64) | lo_i}
        st["has_uint32"], st["uinteger"] = int(has32), int(u32)
        self.rng.bit_generator.state = st

    def finish(self):
        self.trainer = None
