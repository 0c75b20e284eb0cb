"""The native engine's driver: whether a fit can run natively, and the epochs it runs
through ``_core._Trainer`` (``csrc/core/train.cpp``), a chunk of about
``CHUNK_SECONDS`` per call with the GIL released."""
from __future__ import annotations

import numpy as np

from . import callbacks as cb
from . import losses as losses_mod
from ._epochs import nonfinite_error
from .optim import SGD
from .progress import EpochProgress
from .targets import output_features


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
    if len(opt.param_groups) > 1 or getattr(opt, "amsgrad", False):
        return "param groups and amsgrad are not native yet"
    if getattr(loss_fn, "weight", None) is not None or getattr(loss_fn, "label_smoothing", 0):
        return "cross-entropy weight and label_smoothing are not native yet"
    if getattr(run, "batch_schedule", None) is not None or getattr(run, "metrics", None):
        return "per-batch schedules and metrics beyond loss/accuracy are not native yet"
    for c in run.callbacks:
        if type(c).on_step_end is not cb.Callback.on_step_end:
            return f"the callback {type(c).__name__} needs per-step hooks"
    out = model.layers[-1].output_features(None) if isinstance(model.layers[-1], L.Dense) \
        else output_features(model)
    y = run.y
    if isinstance(loss_fn, losses_mod.CrossEntropyLoss):
        if not ((y.ndim == 1 and y.dtype == np.int64) or (y.ndim == 2 and y.shape[1] == out)):
            return "the targets do not fit the outputs"
    elif y.ndim != 2 or y.shape[1] != out or y.dtype != model.dtype:
        return "the targets do not fit the outputs"
    return ""


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
                act, slope = model.activation_of(i)
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
        out = output_features(model)
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
