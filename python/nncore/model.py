"""Sequential models: forward and backward layer by layer, and the training loop."""
from __future__ import annotations

import math
import signal
import threading
import time
import warnings

import numpy as np

from . import callbacks as cb
from . import losses as losses_mod
from .data import batches, split_indices
from .layers import Dense, Layer, _Elementwise, as_dtype
from .optim import SGD, Optimizer
from .progress import EpochProgress

__all__ = ["Sequential", "History", "NonFiniteLossError"]

_FUSABLE = ("identity", "relu", "sigmoid", "tanh", "leaky_relu")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss (the message says where)."""


class History:
    """What ``fit`` recorded: ``history[key]`` is a list with one value per epoch for
    ``loss``, ``accuracy`` (classification), ``val_*`` and ``epoch_time``; ``health``
    holds the gradient-health records when ``fit(..., health=True)``."""

    def __init__(self):
        self.history = {}
        self.health = {}
        self.epochs = []
        self.interrupted = False

    def append(self, epoch, logs):
        self.epochs.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def keys(self):
        return self.history.keys()

    def health_report(self, **kwargs):
        """Text table of per-layer gradient health with VANISHING/EXPLODING flags."""
        return cb.health_report(self.health, **kwargs)[0]

    def plot(self, path="history.png"):
        """Draw loss/accuracy curves (and per-layer gradient norms, when recorded) to a
        PNG. Needs matplotlib."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from e
        panels = 2 + bool(self.health)
        fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
        epochs = [e + 1 for e in self.epochs]
        for key in ("loss", "val_loss"):
            if key in self.history:
                axes[0].plot(epochs, self.history[key], label=key)
        axes[0].set_xlabel("epoch")
        axes[0].set_title("loss")
        axes[0].legend()
        for key in ("accuracy", "val_accuracy"):
            if key in self.history:
                axes[1].plot(epochs, self.history[key], label=key)
        axes[1].set_xlabel("epoch")
        axes[1].set_title("accuracy")
        if axes[1].lines:
            axes[1].legend()
        if self.health:
            for name, rec in self.health.items():
                axes[2].semilogy(epochs[:len(rec["grad_norm"])], rec["grad_norm"], label=name)
            axes[2].set_xlabel("epoch")
            axes[2].set_title("gradient norm per layer")
            axes[2].legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


class Sequential:
    """Layers applied in order, with explicit layer-by-layer backpropagation.

    A :class:`Dense` layer without activation followed by an activation layer
    (ReLU, Sigmoid, Tanh, LeakyReLU, Identity) runs as one fused native call.

    Parameters
    ----------
    layers : list of Layer
    seed : int, optional
        Re-initialise every layer's weights from this seed (reproducible models).
    dtype : "float32" (default) or "float64"
    """

    def __init__(self, layers, seed=None, dtype="float32"):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError("Sequential: layers must be a non-empty list of nncore layers")
        self.layers = layers
        self.dtype = as_dtype(dtype)
        self.seed = seed
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        rng = np.random.default_rng(seed) if seed is not None else None
        features = None
        for layer in layers:
            if seed is not None or layer.dtype != self.dtype:
                if isinstance(layer, Dense) and seed is None:
                    w, b = layer.w.data, layer.b.data if layer.b is not None else None
                    layer.reset_parameters(np.random.default_rng(0), self.dtype)
                    layer.set_weights(w, b)
                else:
                    layer.reset_parameters(rng, self.dtype)
            features = layer.output_features(features)
        self._plan()

    def _plan(self):
        """Fuse Dense + activation pairs; the first Dense needs no input gradient."""
        self._skip = [False] * len(self.layers)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                layer.fused_activation = None
                nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
                if layer.activation == "identity" and isinstance(nxt, _Elementwise) and \
                        nxt.activation in _FUSABLE:
                    layer.fused_activation = nxt.activation
                    layer._fused_slope = getattr(nxt, "slope", layer.slope)
                    self._skip[i + 1] = True
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                layer.need_grad_x = i > 0
            if not self._skip[i]:
                break

    def layer_name(self, i):
        """Name of layer ``i``: its ``name`` or ``<type>_<i>`` (``dense_0``)."""
        layer = self.layers[i]
        return layer.name or f"{type(layer).__name__.lower()}_{i}"

    # ------------------------------------------------------------ forward, backward

    def forward(self, x):
        """Output of the network for a batch ``x`` (a reused workspace: copy to keep)."""
        for layer, skip in zip(self.layers, self._skip):
            if not skip:
                x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, grad):
        """Backpropagate ``grad`` (d loss / d output) through every layer, setting each
        parameter's ``grad``. Returns d loss / d input, or None when the first layer
        skips it (call ``set_input_grad(True)`` to get it)."""
        for layer, skip in zip(reversed(self.layers), reversed(self._skip)):
            if not skip:
                grad = layer.backward(grad)
                if grad is None:
                    break
        return grad

    def set_input_grad(self, needed=True):
        """Whether :meth:`backward` computes d loss / d input (off by default: training
        does not need it)."""
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                layer.need_grad_x = needed or i > 0
            if not self._skip[i]:
                break

    def parameters(self):
        """All trainable :class:`Parameter` objects, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """``[("dense_0.w", Parameter), ...]``, named after :meth:`layer_name`."""
        return [(f"{self.layer_name(i)}.{p.name}", p) for i, layer in enumerate(self.layers)
                for p in layer.parameters()]

    def grads(self):
        """The gradients of :meth:`parameters`, in the same order."""
        return [p.grad for p in self.parameters()]

    def zero_grad(self):
        """Set every parameter gradient to zero (backward overwrites them anyway)."""
        for p in self.parameters():
            p.grad.fill(0)

    def count_params(self):
        """Number of trainable values."""
        return sum(p.size for p in self.parameters())

    def summary(self, print_fn=print):
        """Print (and return) a table of layers, output shapes and parameter counts."""
        rows = []
        features = None
        for i, layer in enumerate(self.layers):
            features = layer.output_features(features)
            kind = type(layer).__name__
            if isinstance(layer, Dense):
                kind += f"({layer.activation})" if layer.activation != "identity" else ""
            note = " (fused into previous)" if self._skip[i] else ""
            rows.append((self.layer_name(i), kind + note, f"(None, {features})",
                         sum(p.size for p in layer.parameters())))
        w0 = max(len(r[0]) for r in rows + [("layer",)])
        w1 = max(len(r[1]) for r in rows + [("", "type")])
        lines = [f"{'layer':<{w0}}  {'type':<{w1}}  {'output shape':<14}  {'params':>10}"]
        lines.append("-" * len(lines[0]))
        for name, kind, shape, n in rows:
            lines.append(f"{name:<{w0}}  {kind:<{w1}}  {shape:<14}  {n:>10,}")
        lines.append("-" * len(lines[0]))
        lines.append(f"total params: {self.count_params():,} ({self.dtype.name})")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    # ------------------------------------------------------------------ inference

    def predict(self, x, batch_size=None):
        """Network outputs for ``x`` (a new array)."""
        x = self._check_x(x, "x")
        if batch_size is None or len(x) <= batch_size:
            return np.array(self.forward(x))
        return np.concatenate([np.array(self.forward(xb))
                               for xb in batches(x, batch_size=batch_size)])

    def predict_proba(self, x, batch_size=None):
        """Class probabilities: softmax (or sigmoid for one output) of the logits, unless
        the model already ends in a Softmax/Sigmoid layer."""
        from . import functional as F
        out = self.predict(x, batch_size)
        last = self.layers[-1]
        ends_in_probs = getattr(last, "activation", None) in ("softmax", "sigmoid") or \
            (isinstance(last, Dense) and last.effective_activation == "sigmoid")
        if ends_in_probs:
            return out
        return F.sigmoid(out) if out.ndim == 1 or out.shape[-1] == 1 else F.softmax(out)

    def evaluate(self, x, y, loss=None, batch_size=1024, sample_weight=None):
        """``{"loss": ..., "accuracy": ...}`` on ``(x, y)`` (accuracy for classification
        losses). ``loss`` defaults to the one ``fit`` used."""
        loss_fn = losses_mod.get(loss if loss is not None else (self.loss or "mse"))
        x = self._check_x(x, "x")
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"evaluate: x and y must have the same length; got {len(x)} and "
                             f"{len(y)}")
        total, correct, n, per = 0.0, 0, len(x), 1
        sum_loss = type(loss_fn)(reduction="sum")
        w = None if sample_weight is None else np.asarray(sample_weight, self.dtype)
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            out = self.forward(x[sl])
            per = _per_sample(out, loss_fn)
            total += sum_loss(out, y[sl], sample_weight=None if w is None else w[sl])
            if loss_fn.classification:
                correct += _correct(out, y[sl])
        denom = (float(w.sum()) if w is not None else n) * per
        result = {"loss": total / denom if n else float("nan")}
        if loss_fn.classification:
            result["accuracy"] = correct / n if n else float("nan")
        return result

    # ------------------------------------------------------------------ training

    def fit(self, x, y, loss="mse", optimizer=None, epochs=1, batch_size=32, shuffle=True,
            seed=None, validation_data=None, validation_split=0.0, class_weight=None,
            sample_weight=None, callbacks=None, verbose=1, lr_scheduler=None, health=False,
            stop_on_nonfinite=True):
        """Train with mini-batch gradient descent; returns a :class:`History`.

        Parameters
        ----------
        x : array_like (n, features)
        y : array_like
            Targets: (n, outputs) for MSE/BCE, class labels (n,) or probabilities for
            cross-entropy.
        loss : str or Loss
            ``"mse"``, ``"cross_entropy"``, ``"bce_with_logits"`` or a Loss instance.
        optimizer : Optimizer, optional
            Default ``SGD(lr=0.01)``. Its state survives repeated ``fit`` calls.
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
        verbose : 0 (silent), 1 (progress bar per epoch) or 2 (one line per epoch)
        lr_scheduler : schedule from :mod:`nncore.optim`, stepped once per epoch
        health : bool
            Record gradient health per layer into ``history.health``.
        stop_on_nonfinite : bool
            Raise :class:`NonFiniteLossError` (naming epoch, step and the first layer
            with non-finite values) when the loss becomes NaN or infinite.

        Ctrl-C stops training after the current step; the model keeps its last
        completed update and the returned history has ``interrupted=True``.
        """
        loss_fn = losses_mod.get(loss)
        self.loss = loss_fn
        x = self._check_x(x, "x")
        y = self._check_y(y, len(x), loss_fn)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0; got {epochs!r}")
        self._warn_probability_output(loss_fn)
        weights = self._sample_weights(y, len(x), class_weight, sample_weight, loss_fn)

        if validation_data is not None:
            x_val, y_val = validation_data
            x_val = self._check_x(x_val, "validation_data[0]")
            y_val = self._check_y(y_val, len(x_val), loss_fn, "validation_data[1]")
            w_val = None
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1); got "
                                 f"{validation_split!r}")
            train_idx, val_idx = _split_indices(y, validation_split, seed, loss_fn)
            x_val, y_val = x[val_idx], y[val_idx]
            w_val = None if weights is None else weights[val_idx]
            x, y = x[train_idx], y[train_idx]
            weights = None if weights is None else weights[train_idx]
        else:
            x_val = y_val = w_val = None

        if optimizer is None:
            optimizer = self.optimizer or SGD(lr=0.01)
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"fit: optimizer must be an nncore optimizer; got "
                            f"{type(optimizer).__name__}")
        if not optimizer.bound:
            optimizer.bind(self.parameters())
        self.optimizer = optimizer

        callbacks = list(callbacks or [])
        health_cb = None
        if health:
            health_cb = cb.GradientHealth()
            callbacks.append(health_cb)
        for c in callbacks:
            c.model = self
        history = History()
        self.stop_training = False
        rng = np.random.default_rng(seed)
        n = len(x)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
                batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"fit: batch_size must be a positive int or None; got {batch_size!r}")
        bs = n if batch_size is None else int(batch_size)
        steps = max(math.ceil(n / bs), 1) if n else 0

        interrupted = _InterruptFlag()
        with interrupted:
            for c in callbacks:
                c.on_train_begin()
            for epoch in range(epochs):
                if interrupted.flag:  # Ctrl-C during the previous epoch's validation
                    history.interrupted = True
                    warnings.warn(f"training interrupted after epoch {epoch}; the model keeps "
                                  "its last completed update", RuntimeWarning, stacklevel=2)
                    break
                for c in callbacks:
                    c.on_epoch_begin(epoch)
                started = time.perf_counter()
                order = rng.permutation(n) if shuffle else np.arange(n)
                bar = EpochProgress(epoch + 1, epochs, steps, verbose)
                seen = total_loss = 0.0
                correct = 0
                for step in range(steps):
                    idx = order[step * bs:(step + 1) * bs]
                    xb, yb = x[idx], y[idx]
                    wb = None if weights is None else weights[idx]
                    out = self.forward(xb)
                    value = loss_fn(out, yb, sample_weight=wb)
                    if not math.isfinite(value) and stop_on_nonfinite:
                        raise NonFiniteLossError(
                            f"loss became {value} at epoch {epoch + 1}, step {step + 1}"
                            f"{self._first_nonfinite()}; lower the learning rate or check the "
                            "data (fit(..., stop_on_nonfinite=False) goes on)")
                    self.backward(loss_fn.backward())
                    optimizer.step()
                    seen += len(idx)
                    total_loss += value * len(idx)
                    if loss_fn.classification:
                        correct += _correct(out, yb)
                    logs = {"loss": total_loss / seen}
                    for c in callbacks:
                        c.on_step_end(step, logs)
                    bar.update(step + 1, **logs)
                    if interrupted.flag:
                        break
                if interrupted.flag:
                    bar.close(**{"loss": total_loss / max(seen, 1), "interrupted": True})
                    history.interrupted = True
                    warnings.warn(f"training interrupted at epoch {epoch + 1}, step {step + 1}; "
                                  "the model keeps its last completed update", RuntimeWarning,
                                  stacklevel=2)
                    break
                logs = {"loss": total_loss / max(seen, 1)}
                if loss_fn.classification:
                    logs["accuracy"] = correct / max(seen, 1)
                if x_val is not None:
                    val = self.evaluate(x_val, y_val, loss_fn, sample_weight=w_val)
                    logs.update({"val_" + k: v for k, v in val.items()})
                logs["epoch_time"] = time.perf_counter() - started
                if lr_scheduler is not None:
                    logs["lr"] = optimizer.lr
                    lr_scheduler.step()
                for c in callbacks:
                    c.on_epoch_end(epoch, logs)
                history.append(epoch, logs)
                bar.close(**{k: v for k, v in logs.items() if k != "epoch_time"})
                if self.stop_training:
                    break
            for c in callbacks:
                c.on_train_end()
        if health_cb is not None:
            history.health = health_cb.health
        self.history = history
        return history

    # ------------------------------------------------------------------ helpers

    def _first_nonfinite(self):
        for i, layer in enumerate(self.layers):
            for p in layer.parameters():
                if not np.all(np.isfinite(p.data)):
                    return f"; first non-finite values in layer '{self.layer_name(i)}' " \
                           f"(parameter {p.name})"
            y = getattr(layer, "_y", None)
            if y is not None and not np.all(np.isfinite(y)):
                return f"; first non-finite values in layer '{self.layer_name(i)}' (output)"
        # Nothing non-finite yet (the loss itself overflowed): name the largest values.
        sizes = [(float(np.max(np.abs(layer._y))), i) for i, layer in enumerate(self.layers)
                 if getattr(layer, "_y", None) is not None and layer._y.size]
        if sizes:
            big, i = max(sizes)
            return f"; every layer is still finite, the largest outputs ({big:.3g}) come " \
                   f"from layer '{self.layer_name(i)}'"
        return ""

    def _check_x(self, x, name):
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers; got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, features); got shape {x.shape}")
        first = self.layers[0]
        if isinstance(first, Dense) and x.shape[1] != first.in_features:
            raise ValueError(f"{name} has {x.shape[1]} features; the first layer expects "
                             f"{first.in_features}")
        x = x.astype(self.dtype, copy=False)
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} contains NaN or infinity (first at index "
                             f"{tuple(int(i) for i in bad)}); clean the data before training")
        return x

    def _check_y(self, y, n, loss_fn, name="y"):
        y = np.asarray(y)
        if y.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers; got dtype {y.dtype}")
        if len(y) != n:
            raise ValueError(f"{name} must have one target per sample: {n}; got {len(y)}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity; clean the data before training")
        if isinstance(loss_fn, losses_mod.CrossEntropyLoss) and y.ndim == 1:
            return y.astype(np.int64)
        return y.astype(self.dtype, copy=False)

    def _warn_probability_output(self, loss_fn):
        last = self.layers[-1]
        act = getattr(last, "activation", None)
        if isinstance(last, Dense):
            act = last.effective_activation
        if loss_fn.takes_logits and act in ("softmax", "sigmoid"):
            warnings.warn(f"the model ends in a {act} but {type(loss_fn).__name__} expects "
                          "logits (it applies the softmax/sigmoid itself): remove the final "
                          f"{act} and use predict_proba for probabilities", UserWarning,
                          stacklevel=3)

    def _sample_weights(self, y, n, class_weight, sample_weight, loss_fn):
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
        return None if w is None else w.astype(self.dtype)

    def save(self, path):
        """Write the model (and its optimiser state) to one ``.npz`` file, atomically."""
        from .saving import save
        return save(self, path)

    def __repr__(self):
        return "Sequential([\n" + "".join(f"    {layer!r},\n" for layer in self.layers) + "])"


def _correct(out, y):
    """Number of correct predictions of logits ``out`` for targets ``y``."""
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        pred = out.argmax(axis=1)
        truth = y if np.ndim(y) == 1 else np.asarray(y).argmax(axis=1)
        return int(np.sum(pred == truth))
    pred = (out.reshape(len(out), -1) > 0)
    return int(np.sum(np.all(pred == (np.asarray(y).reshape(len(y), -1) > 0.5), axis=1)))


def _per_sample(out, loss_fn):
    """Values per sample that a 'mean' loss averages over (1 for cross-entropy)."""
    if isinstance(loss_fn, losses_mod.CrossEntropyLoss):
        return 1
    return int(np.prod(np.shape(out)[1:])) if np.ndim(out) > 1 else 1


def _split_indices(y, fraction, seed, loss_fn):
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
