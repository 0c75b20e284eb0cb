"""Check backpropagation against central differences, in float64."""
from __future__ import annotations

import numpy as np

from . import losses as losses_mod
from ._inputs import softmax_as_logits
from .dropout import Dropout

__all__ = ["gradcheck"]


def gradcheck(model, x, y, loss="mse", eps=1e-6, max_checks=64, seed=0, verbose=False):
    """Largest relative error between backprop and central differences, per parameter.

    The model is copied to float64 (the original is untouched). For each parameter up to
    ``max_checks`` entries (chosen with ``seed``) are perturbed by ``±eps``. Returns a
    dict ``{"layer.param": max relative error}``; values near 1e-7 or below mean the
    gradients agree.

    What is checked is what ``fit`` trains: the loss of a model ending in a softmax
    (sigmoid) with cross-entropy (binary cross-entropy) is taken from the logits, and
    Dropout layers, in the model's mode, are checked with **fixed masks**: in training
    mode every evaluation uses the one mask the model's next training step would draw
    (a new mask per evaluation would make the differences meaningless); in eval mode
    (``model.eval()``) they are the identity.
    """
    from .model import Sequential
    import copy

    twin = copy.deepcopy(model)
    for layer in twin.layers:
        layer.declared_dtype = None  # the twin is float64 whatever the layers were given
    twin = Sequential(twin.layers, dtype="float64")  # casts weights, keeps values
    twin.set_input_grad(False)
    loss_fn = losses_mod.get(loss)
    loss_fn = loss_fn.with_reduction(loss_fn.reduction if loss_fn.reduction != "none" else "sum")
    x = np.asarray(x, np.float64)
    y = np.asarray(y)
    y = y if (isinstance(loss_fn, losses_mod.CrossEntropyLoss) and y.ndim == 1) \
        else y.astype(np.float64)

    dropouts = [(layer, layer.calls) for layer in twin.layers if isinstance(layer, Dropout)]

    def value():
        for layer, calls in dropouts:
            layer.calls = calls  # the same mask in every evaluation
        with softmax_as_logits(twin, loss_fn):
            return float(loss_fn(twin.forward(x), y))

    from .training import loss_and_grad
    for layer, calls in dropouts:
        layer.calls = calls  # the mask every evaluation uses
    with softmax_as_logits(twin, loss_fn):
        loss_and_grad(twin, loss_fn, x, y)
    if verbose and any(layer.training for layer, _ in dropouts):
        print(f"Dropout ({len(dropouts)} layers): checked in training mode with one fixed "
              "mask per layer")
    analytic = {name: p.grad.copy() for name, p in twin.named_parameters()}
    rng = np.random.default_rng(seed)
    report = {}
    for name, p in twin.named_parameters():
        flat = p.data.reshape(-1)
        picks = np.arange(flat.size) if flat.size <= max_checks else \
            rng.choice(flat.size, max_checks, replace=False)
        worst = 0.0
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            up = value()
            flat[i] = old - eps
            down = value()
            flat[i] = old
            numeric = (up - down) / (2 * eps)
            a = analytic[name].reshape(-1)[i]
            worst = max(worst, abs(a - numeric) / max(abs(a), abs(numeric), 1e-8))
        report[name] = worst
        if verbose:
            print(f"{name:<24} max relative error {worst:.3e}")
    return report
