"""The python engine's epoch, and what every engine's epoch ends with.

``_python_epoch`` is the training loop written to be read: the specification the native
engine (``csrc/core/train.cpp``) matches bit for bit. The distributed epoch
(:mod:`nncore._dist_fit`) shares its step end and epoch logs; both engines share
``_end_epoch`` (validation, schedule, callbacks, History) and the non-finite checks.
This module sits below :mod:`nncore.training`, :mod:`nncore._dist_fit` and
:mod:`nncore.model`, and imports none of them.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .optim import step_schedule
from .progress import EpochProgress


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss (the message says where)."""


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
    metrics, batch_schedule = getattr(run, "metrics", None), getattr(run, "batch_schedule", None)
    if metrics:
        metrics.reset()
    for step in range(steps):
        idx = order[step * bs:(step + 1) * bs]
        xb, yb = x[idx], y[idx]
        wb = None if weights is None else weights[idx]
        out = model.forward(xb)
        value = loss_fn(out, yb, sample_weight=wb)
        if not math.isfinite(value) and stop_on_nonfinite:
            raise nonfinite_error(model, value, epoch, step)
        if metrics:
            metrics.update(out, yb, wb)
        model.backward(loss_fn.backward())
        optimizer.step()
        if batch_schedule is not None:
            batch_schedule.step()
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
    if getattr(run, "metrics", None):
        logs.update(run.metrics.result())
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
        kw = {"metrics": run.metrics} if getattr(run, "metrics", None) else {}
        val = evaluate(run.x_val, run.y_val, run.loss_fn, sample_weight=run.w_val, **kw)
        logs.update({"val_" + k: v for k, v in val.items()})
        elapsed += time.perf_counter() - t0
    logs["epoch_time"] = elapsed
    logs["learning_rate"] = lr
    if lr_scheduler is not None:
        logs["lr"] = lr
        step_schedule(lr_scheduler, logs)
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
    columns["learning_rate"] = lr
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
