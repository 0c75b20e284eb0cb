"""The one training step, written to be read: the specification that the native engine
(``csrc/core/train.cpp``) mirrors line for line, and that every Python path trains through
(``fit``'s python engine, ``train_on_batch``, data-parallel training); L-BFGS takes its
loss and gradient from :func:`loss_and_grad`.

One step on the rows of a batch: forward layer by layer, the loss and its gradient,
(data parallel: this rank's share of the batch and the reduction across ranks), the
non-finite check, backward layer by layer, and the update (the optimiser clips first)."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F

__all__ = ["NonFiniteLossError", "train_step", "loss_and_grad", "nonfinite_error",
           "count_correct"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss (the message says where)."""


def train_step(model, run, rows, *, scale=None, reduce=None, stop_on_nonfinite=True,
               where=(0, 0)):
    """Train ``model`` one step on ``rows`` of ``run``'s data. Returns ``(loss, correct)``:
    the batch's mean loss and its count of correct predictions (classification).

    Data parallel: ``scale`` is this rank's share of the global batch's denominator (its
    loss and gradient are scaled by it; a rank may hold no row of a batch), and
    ``reduce(loss, correct)`` sums the gradients, the loss and the count over the ranks.
    ``where`` = (epoch, step), for the non-finite error."""
    loss_fn, optimizer = run.loss_fn, run.optimizer
    correct = 0

    def check(value):
        if not math.isfinite(value) and stop_on_nonfinite:
            raise nonfinite_error(model, value, *where)

    if len(rows):
        xb, yb = run.x[rows], run.y[rows]
        wb = None if run.weights is None else run.weights[rows]
        # forward, the loss and its gradient, (this rank's share), the check, backward
        value, out = loss_and_grad(model, loss_fn, xb, yb, wb, scale=scale,
                                   check=check if reduce is None else None)
        if loss_fn.classification:
            correct = count_correct(out, yb)
        if run.metrics:
            run.metrics.update(out, yb, wb)
    else:  # data parallel: this rank holds no row of the batch
        value = 0.0
        for p in optimizer.params:
            p.grad.fill(0)
    if reduce is not None:  # data parallel: sums over the ranks, then the check
        value, correct = reduce(value, correct)
        check(value)
    optimizer.step()
    return value, correct


def loss_and_grad(model, loss_fn, x, y, sample_weight=None, *, scale=None, check=None):
    """The loss of ``model`` on ``(x, y)`` and, in every parameter's ``grad``, its
    gradient: one forward and one backward pass, no update (L-BFGS's objective).
    ``scale`` multiplies the loss and its gradient (a rank's share of a batch);
    ``check(loss)`` runs before backward (it raises to stop). Returns
    ``(loss, output)``."""
    out = model.forward(x)
    value = loss_fn(out, y, sample_weight=sample_weight)
    grad = loss_fn.backward()
    if scale is not None:
        grad = grad * model.dtype.type(scale)
        value *= scale
    if check is not None:
        check(value)
    model.backward(grad)
    return value, out


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
    return F.count_correct(out, y)
