"""The two engines behind one interface: ``epoch(epoch, epochs, interrupted)`` trains one
epoch (or, natively, a chunk of steps or several epochs) and returns ``(records,
stopped_at)``; ``step(rows)`` trains one step (``train_on_batch``); ``close()`` ends the
run. :class:`PythonEngine` loops over :func:`nncore.training.step.train_step`, the
readable specification; :class:`NativeEngine` runs the same step in C++
(``csrc/core/train.cpp``, ``_core._Trainer``) with the GIL released, returning to Python
between chunks for callbacks, the progress bar and Ctrl-C. :func:`make_engine` chooses.

What the native engine supports is derived from the activation registry
(:data:`nncore.activations.FUSABLE`), from each loss class (``Loss.native``) and from the
optimiser and layer kinds the trainer knows; nothing is listed twice."""
from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import numpy as np

from .. import _core
from .. import callbacks as cb
from .. import optim
from .._layer_base import aligned_zeros_like
from ..activations import FUSABLE
from ..progress import EpochProgress
from ..targets import output_features
from .step import nonfinite_error, train_step

__all__ = ["PythonEngine", "NativeEngine", "make_engine", "native_unsupported",
           "trainer_spec", "seeded_generator", "CHUNK_SECONDS"]


#: Seconds of training per native call before control returns to Python (progress bar,
#: Ctrl-C): short enough to stop within about a tenth of a second.
CHUNK_SECONDS = 0.05


def _optimizer_spec(opt, g):
    """(trainer's name, options, the state keys of ParamSlot's state1..3) of ``opt``'s
    parameter group ``g`` (a dict of :attr:`Optimizer.param_groups`); a key of None leaves
    that slot empty (core/optim_all.h)."""
    if type(opt) is optim.SGD:
        return "sgd", {"momentum": g["momentum"], "dampening": g["dampening"],
                       "weight_decay": g["weight_decay"], "nesterov": g["nesterov"]}, \
            ("velocity" if g["momentum"] else None, None, None)
    if type(opt) in (optim.Adam, optim.AdamW):
        return "adam", {"beta1": g["betas"][0], "beta2": g["betas"][1], "eps": g["eps"],
                        "weight_decay": g["weight_decay"],
                        "decoupled": type(opt) is optim.AdamW}, \
            ("m", "v", "max_v" if g["amsgrad"] else None)
    return "rmsprop", {"alpha": g["alpha"], "eps": g["eps"], "weight_decay": g["weight_decay"],
                       "momentum": g["momentum"], "centered": g["centered"]}, \
        ("square_avg", "momentum_buffer" if g["momentum"] else None,
         "grad_avg" if g["centered"] else None)


def _groups(opt):
    """The optimiser's parameter groups for ``_Trainer.set_groups``."""
    return [{"options": _optimizer_spec(opt, g)[1], "lr": float(g["lr"]),
             "count": len(g["params"])} for g in opt.param_groups]


#: The optimiser classes the native engine runs (their own class, not a subclass).
NATIVE_OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop")

#: The spec's dtype names (``dtype.name`` is a Python-level property: 1.5 us a read).
_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


@functools.cache
def _native_optimizer_classes():
    """The classes of :data:`NATIVE_OPTIMIZERS`, looked up once."""
    return tuple(getattr(optim, n) for n in NATIVE_OPTIMIZERS)


@functools.cache
def _layer_classes():
    """The classes :func:`_native_kind` tells apart, imported once (at the first fit: the
    layer modules import this package)."""
    from ..activation_layers import ACTIVATION_LAYERS, ElementwiseActivation
    from ..dropout import Dropout
    from ..layers import Dense
    from ..norms import BatchNorm1d, LayerNorm
    return ACTIVATION_LAYERS, ElementwiseActivation, Dropout, Dense, BatchNorm1d, LayerNorm


@functools.cache
def _block_classes():
    """Flatten and Residual, imported once (at the first fit: the layer modules import
    this package)."""
    from ..blocks import Flatten, Residual
    return Flatten, Residual


def _native_kind(layer):
    """The trainer's kind of ``layer`` ('dense', 'activation', 'dropout'), or None."""
    ACTIVATION_LAYERS, ElementwiseActivation, Dropout, Dense, BatchNorm1d, LayerNorm = \
        _layer_classes()
    if isinstance(layer, Dense):
        return "dense"
    if isinstance(layer, Dropout):
        return "dropout"
    if isinstance(layer, LayerNorm):
        return "layer_norm"
    if isinstance(layer, BatchNorm1d):
        return "batch_norm"
    if type(layer) in ACTIVATION_LAYERS.values() and layer.activation in FUSABLE:
        return "activation"  # those of act_from_input run backward from their input
    if isinstance(layer, ElementwiseActivation) and layer.activation == "softmax" and \
            layer.axis in (-1, 1):
        return "softmax"
    return None


class _Item(NamedTuple):
    """One entry of the trainer's plan: ``layer`` run as ``kind`` (see
    :func:`_native_kind`; "residual_begin"/"residual_end" for the two ends of a Residual)
    with ``activation`` and ``slope`` (a Dense: its own or the one fused into it), named
    ``where``; ``top``: one of the model's own layers (not inside a block)."""
    layer: object
    kind: str | None
    activation: str | None
    slope: float
    where: str
    top: bool


def _native_steps(model, loss_fn):
    """The trainer's plan (:class:`_Item` s): the model's steps, a Residual opened into its
    begin, its layers (each its own step, as the block runs them) and its end, a Flatten
    left out (the trainer gets the rows flattened), and a last softmax/sigmoid that
    ``loss_fn`` applies itself left out as the python engine leaves it out
    (``model.logits_head``; a Dense head runs as identity)."""
    layers = model.layers
    # model.activation_of(step.index) for each step, without its walk over the steps
    steps = [(step, step.activation, step.slope) if step.activation is not None else
             (step, layers[step.index].activation,
              getattr(layers[step.index], "slope", 0.01)) for step in model.steps]
    if model.logits_head(loss_fn):
        step, _, slope = steps[-1]
        steps[-1:] = [(step, "identity", slope)] if _native_kind(step.layer) == "dense" \
            else []
    return [item for step, act, slope in steps
            for item in _expand(step.layer, act, slope, model.layer_name(step.index), True)]


def _expand(layer, act, slope, where, top):
    """:func:`_native_steps`'s items of one layer (a module function, not a closure: a
    closure that calls itself is a reference cycle, garbage for the collector every fit)."""
    Flatten, Residual = _block_classes()
    if isinstance(layer, Flatten):
        return []
    if isinstance(layer, Residual):
        inner = [item for j, child in enumerate(layer.layers)
                 for item in _expand(child, getattr(child, "activation", None),
                                     getattr(child, "slope", 0.0), f"{where}.{j}", False)]
        return [_Item(layer, "residual_begin", None, 0.0, where, top), *inner,
                _Item(layer, "residual_end", None, 0.0, where, top)]
    return [_Item(layer, _native_kind(layer), act, slope, where, top)]


def _counter(layer, kind):
    """The count a layer of ``kind`` (:func:`_native_kind`) keeps across steps: Dropout's
    masks drawn, BatchNorm1d's batches tracked; 0 for the others."""
    return layer.calls if kind == "dropout" else \
        layer.num_batches_tracked if kind == "batch_norm" else 0


def _set_counter(layer, kind, count):
    if kind == "dropout":
        layer.calls = int(count)
    elif kind == "batch_norm":
        layer.num_batches_tracked = int(count)


def _scaled_ce(loss_fn):
    """A CrossEntropyLoss with class ``weight`` or ``label_smoothing``."""
    return native_loss(loss_fn) == "cross_entropy" and (
        loss_fn.weight is not None or bool(loss_fn.label_smoothing))


def native_loss(loss_fn):
    """The native engine's name of ``loss_fn`` (``Loss.native`` of its own class), or None."""
    return type(loss_fn).__dict__.get("native")


def native_unsupported(model, run):
    """Why the native engine cannot run this fit ('' when it can)."""
    return _native_plan(model, run)[0]


def _native_plan(model, run):
    """(why the native engine cannot run this fit, '' when it can; the trainer's plan,
    :func:`_native_steps`, when it can), the plan made once for the check and the
    trainer."""
    if not run.n:
        return "no training rows", None
    if model.has_hooks():  # also brings the plan up to date
        return "a layer has hooks (they run in Python)", None
    plan = _native_steps(model, run.loss_fn)
    why = _unsupported(model, run, plan, optim)
    return why, None if why else plan


def _unsupported(model, run, plan, optim):
    for layer, kind, act, _, where, _ in plan:
        if kind is None:
            return f"layer {where} ({type(layer).__name__}) has no native op"
        if any(p.dtype != model.dtype for p in layer.parameters()):
            return f"layer {where} is not {model.dtype.name}"
        if kind == "batch_norm":
            rows = min(run.batch_size, run.n)
            if rows < 2 or run.n % run.batch_size == 1:
                return f"layer {where} (BatchNorm1d) would get a batch of one row"
        if kind == "dense" and act not in FUSABLE + ("softmax",):
            return f"layer {where} has a {layer.activation} activation (no native op in " \
                   "the engine)"
    loss_fn = run.loss_fn
    if native_loss(loss_fn) is None or loss_fn.reduction != "mean":
        return f"the loss {loss_fn!r} is not native (mse, bce_with_logits, cross_entropy, " \
               "l1 and huber with reduction='mean' are)"
    opt = run.optimizer
    if type(opt) not in _native_optimizer_classes():
        return f"the optimizer {type(opt).__name__} is not native " \
               f"({', '.join(NATIVE_OPTIMIZERS)} are)"
    if _scaled_ce(loss_fn) and run.native_spec.get("world_size", 1) > 1:
        return "a cross-entropy with weight or label_smoothing is not native in " \
               "data-parallel fits"
    for c in run.callbacks:
        if c is run.health_cb:  # health=True: the native loop gathers it
            continue
        if type(c).on_step_end is not cb.Callback.on_step_end:
            return f"the callback {type(c).__name__} needs per-step hooks"
    out = output_features(model)
    y = run.y
    if native_loss(loss_fn) == "cross_entropy":
        if not ((y.ndim == 1 and y.dtype == np.int64) or (y.ndim == 2 and y.shape[1] == out)):
            return "the targets do not fit the outputs"
    elif y.ndim != 2 or y.shape[1] != out or y.dtype != model.dtype:
        return "the targets do not fit the outputs"
    return ""


def _schedule_spec(lr_scheduler, optimizer):
    """The schedule the engine evaluates between epochs of one call, or None when it
    cannot (then it trains one epoch per call and Python steps the schedule)."""
    spec = {"kind": "none", "base_lr": optimizer.lr, "gamma": 0.0, "eta_min": 0.0,
            "step_size": 1, "t_max": 1}
    if lr_scheduler is None:
        return spec
    if lr_scheduler.optimizer is not optimizer or len(optimizer.param_groups) > 1:
        return None  # Python steps it between epochs, each group its own rate
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


def trainer_spec(model, run, shuffle, stop_on_nonfinite, schedule=None, plan=None):
    """The spec ``_core._Trainer`` is made from (``csrc/bindings/train_spec.cpp`` reads it;
    an unknown or misspelt field is a ValueError there): the model's plan (``plan``, the
    model's :func:`_native_steps` when the caller has them), the data, the loss, the
    optimiser with its state, and ``schedule`` (:func:`_schedule_spec`)."""
    opt = run.optimizer
    layers, begins = [], []
    for layer, kind, act, slope, _, top in plan or _native_steps(model, run.loss_fn):
        if kind == "dense":
            gb = layer.b.grad if layer.b is not None else layer._gb_scratch
            layers.append({"kind": "dense", "w": layer.w.data,
                           "b": None if layer.b is None else layer.b.data,
                           "grad_w": layer.w.grad, "grad_b": gb, "in": layer.in_features,
                           "out": layer.out_features,
                           "activation": "identity" if act == "softmax" else act,
                           "post_softmax": act == "softmax", "slope": float(slope),
                           "health": top})
        elif kind == "softmax":
            layers.append({"kind": kind})
        elif kind == "residual_begin":
            begins.append(len(layers))
            layers.append({"kind": kind})
        elif kind == "residual_end":
            layers.append({"kind": kind, "begin": begins.pop()})
        elif kind == "dropout":
            layers.append({"kind": "dropout", "p": layer.p, "seed": layer.seed,
                           "calls": layer.calls})
        elif kind in ("layer_norm", "batch_norm"):
            affine = bool(layer.parameters())
            spec = {"kind": kind, "features": layer.features, "eps": float(layer.eps),
                    "weight": layer.weight.data if affine else None,
                    "bias": layer.bias.data if affine else None,
                    "grad_weight": layer.weight.grad if affine else None,
                    "grad_bias": layer.bias.grad if affine else None}
            if kind == "batch_norm":
                track = layer.track_running_stats
                spec.update(momentum=-1.0 if layer.momentum is None else layer.momentum,
                            num_batches_tracked=layer.num_batches_tracked,
                            running_mean=layer.running_mean if track else None,
                            running_var=layer.running_var if track else None)
            layers.append(spec)
        else:
            layers.append({"kind": "activation", "activation": layer.activation,
                           "slope": float(getattr(layer, "slope", 0.0))})
    y, x = run.y, np.ascontiguousarray(run.x)
    width = math.prod(x.shape[1:])
    loss = native_loss(run.loss_fn)
    scaled = {}
    if _scaled_ce(run.loss_fn):  # the rows' targets, weights and shares, once per fit
        targets_, row_weight, shares = run.loss_fn.scaled_targets(
            y, run.weights, output_features(model), model.dtype)
        scaled = {"loss_targets": np.ascontiguousarray(targets_),
                  "row_weight": np.ascontiguousarray(row_weight, np.float64),
                  "row_denominator": np.ascontiguousarray(shares, np.float64),
                  "labels": y.ndim == 1}
        loss = "ce_scaled"
    elif loss == "cross_entropy":
        loss = "ce_labels" if y.ndim == 1 else "ce_probs"
    out = output_features(model)
    targets = np.ascontiguousarray(y, np.int64 if loss == "ce_labels" or (
        loss == "ce_scaled" and y.ndim == 1) else model.dtype)
    decays = opt.decays() if opt.no_decay else None
    slots, groups, name = [], [], None
    for g in opt.param_groups:
        name_, options, states = _optimizer_spec(opt, g)
        name = name or name_  # the first group's
        groups.append({"options": options, "lr": float(g["lr"]), "count": len(g["params"])})
        for p in g["params"]:
            i = len(slots)
            st = opt.state[i]
            for key in states:  # a buffer turned on after binding (amsgrad), as step() does
                if key is not None and key not in st:
                    st[key] = aligned_zeros_like(p.data)
            slots.append({"param": p.data, "grad": p.grad,
                          "decay": True if decays is None else bool(decays[i]),
                          "state1": st.get(states[0]) if states[0] else None,
                          "state2": st.get(states[1]) if states[1] else None,
                          "state3": st.get(states[2]) if states[2] else None})
    return {
        # rows flattened: what a first Flatten does (elementwise layers before it alike)
        "dtype": _DTYPE_NAMES.get(model.dtype) or model.dtype.name,
        "x": x if x.ndim == 2 else x.reshape(len(x), width),
        "n": run.n, "features": width, "layers": layers, "loss": loss, "targets": targets,
        "huber_delta": float(getattr(run.loss_fn, "delta", 1.0)),
        "target_cols": 1 if y.ndim == 1 and loss in ("ce_labels", "ce_scaled") else out,
        "classes": out, **scaled,
        "weights": None if run.weights is None or scaled else
        np.ascontiguousarray(run.weights),
        "classification": run.loss_fn.classification, "batch_size": run.batch_size,
        "shuffle": bool(shuffle), "stop_on_nonfinite": bool(stop_on_nonfinite),
        "optimizer": name, "groups": groups, "params": slots,
        "clip_norm": -1.0 if opt.clip_norm is None else float(opt.clip_norm),
        "clip_value": -1.0 if opt.clip_value is None else float(opt.clip_value),
        "schedule": schedule or {"kind": "none", "base_lr": opt.lr, "gamma": 0.0,
                                 "eta_min": 0.0, "step_size": 1, "t_max": 1},
        "optimizer_steps": opt.steps,
        "health": run.health_cb is not None,
        "keep_outputs": bool(run.metrics),
        # data-parallel runs add "rank", "world_size" and "grad_hook" (see train.h)
        **run.native_spec}


class PythonEngine:
    """The python engine: epochs of :func:`~nncore.training.step.train_step`, step by step.
    ``parallel`` (:class:`nncore.training.data_parallel.DataParallel`) makes each step
    data-parallel: this rank's rows of the batch, its share, the reduction."""

    bulk = False

    def __init__(self, model, run, rng, shuffle=True, verbose=0, stop_on_nonfinite=True,
                 parallel=None):
        self.model, self.run_, self.rng, self.shuffle = model, run, rng, shuffle
        self.verbose, self.stop_on_nonfinite, self.parallel = verbose, stop_on_nonfinite, \
            parallel
        self.bar = None  # the progress bar of the epoch that just finished

    def epoch(self, epoch, epochs, interrupted):
        """One epoch. Returns ([logs], None), or ([], (epoch, step)) when Ctrl-C stopped it
        after a step."""
        model, run = self.model, self.run_
        for c in run.callbacks:
            c.on_epoch_begin(epoch)
        started = time.perf_counter()
        n, bs, steps = run.n, run.batch_size, run.steps
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        bar = EpochProgress(epoch + 1, epochs, steps, self.verbose, samples=n)
        seen = total_loss = 0.0
        correct = 0
        dp = self.parallel
        if run.metrics:
            run.metrics.reset()
        for step in range(steps):
            idx = order[step * bs:(step + 1) * bs]
            if dp is None:
                value, good = train_step(model, run, idx, where=(epoch, step),
                                         stop_on_nonfinite=self.stop_on_nonfinite)
            else:
                rows, scale = dp.rows_and_share(idx)
                value, good = train_step(model, run, rows, scale=scale, reduce=dp.reduce,
                                         where=(epoch, step),
                                         stop_on_nonfinite=self.stop_on_nonfinite)
            if run.batch_schedule is not None:
                run.batch_schedule.step()
            seen += len(idx)
            total_loss += value * len(idx)
            correct += good
            if self._step_end(bar, step, total_loss / seen, interrupted):
                return [], (epoch, step + 1)
        logs = {"loss": total_loss / max(seen, 1)}
        if run.loss_fn.classification:
            logs["accuracy"] = correct / max(seen, 1)
        if run.metrics:
            logs.update(run.metrics.result())
        logs["epoch_time"] = time.perf_counter() - started
        self.bar = bar
        return [logs], None

    def _step_end(self, bar, step, loss, interrupted):
        """Per-step callbacks and the progress bar; True when Ctrl-C came."""
        logs = {"loss": loss}
        for c in self.run_.callbacks:
            c.on_step_end(step, logs)
        bar.update(step + 1, **logs)
        if interrupted.flag:
            bar.close(loss=loss, interrupted=True)
            return True
        return False

    def step(self, rows):
        """One step on ``rows`` of the run (``train_on_batch``); returns the loss."""
        return train_step(self.model, self.run_, rows,
                          stop_on_nonfinite=self.stop_on_nonfinite)[0]

    def take_bar(self):
        """The finished epoch's progress bar (the epoch end closes it)."""
        bar, self.bar = self.bar, None
        return bar

    def close(self):
        pass


@functools.cache
def _native_orders_ok():
    """Whether ``_core._permutations`` draws what this NumPy's ``Generator.permutation``
    draws, and leaves the same state: it follows NumPy's shuffle, so it is checked once
    a process against NumPy itself (a few sizes, both of the shuffle's bounded draws)
    before any fit relies on it."""
    for n in (1, 2, 7, 300):
        mine, numpys = (np.random.Generator(np.random.PCG64(20261207)) for _ in range(2))
        drawn = _core._permutations(mine.bit_generator, n, 3)
        if not np.array_equal(drawn, np.stack([numpys.permutation(n) for _ in range(3)])):
            return False
        if mine.bit_generator.state != numpys.bit_generator.state:
            return False
    return True


class _SeedWords(np.random.bit_generator.ISeedSequence):
    """``SeedSequence(seed)`` as a bit generator reads it: the words its
    ``generate_state`` gives, memoised per (seed, words, dtype) by :func:`_seed_words`."""

    __slots__ = ("seed",)

    def __init__(self, seed):
        self.seed = seed

    def generate_state(self, n_words, dtype=np.uint32):
        return _seed_words(self.seed, n_words, dtype)


@functools.lru_cache(maxsize=256)
def _seed_words(seed, n_words, dtype):
    """``SeedSequence(seed).generate_state(n_words, dtype)``, read-only: a function of its
    arguments alone, kept because hashing the seed is most of the 9 us that
    ``default_rng(seed)`` takes."""
    words = np.random.SeedSequence(seed).generate_state(n_words, dtype)
    words.flags.writeable = False
    return words


def seeded_generator(seed):
    """``np.random.default_rng(seed)``: the same generator (the same draws, the same
    states), made without hashing an int ``seed`` again when it was seen before."""
    if type(seed) is int and seed >= 0:
        return np.random.Generator(np.random.PCG64(_SeedWords(seed)))
    return np.random.default_rng(seed)


def _draw_orders(rng, rows, count):
    """``count`` epoch orders, each ``rng.permutation(rows)``: the same rows, and the
    generator left in the same state, as that many calls. Drawn natively
    (``_core._permutations``, from the generator's own bits) when that matches NumPy's
    draws (:func:`_native_orders_ok`), else by ``Generator.permuted`` on rows of aranges
    (the same permutations and state, about twice the time)."""
    if _native_orders_ok():
        return _core._permutations(rng.bit_generator, rows, count)
    return rng.permuted(np.tile(np.arange(rows), (count, 1)), axis=1)


class NativeEngine:
    """The native engine (``_core._Trainer``): epochs or chunks of steps per call,
    returning to Python for callbacks, validation, the progress bar and Ctrl-C.
    ``one_epoch`` makes every call train at most one epoch (scikit-learn's solvers);
    ``plan``: the model's :func:`_native_steps` when the caller made them for its check;
    ``keep_stream``: the generator is drawn from after this engine (``partial_fit``), so
    :meth:`close` gives back the orders drawn ahead and not used; False when it ends with
    the engine (``fit``'s own), which saves reading its state (1 us) every call.
    ``reuse``: the model's last fit's trainer serves this one when the spec is the same
    (:func:`_trainer_for`; ``fit``'s engine), and this one's serves the next."""

    def __init__(self, model, run, rng, shuffle=True, verbose=0, stop_on_nonfinite=True,
                 lr_scheduler=None, one_epoch=False, plan=None, keep_stream=True,
                 reuse=False):
        self.model, self.run_, self.rng, self.verbose = model, run, rng, verbose
        self.keep_stream = keep_stream
        self.shuffle = bool(shuffle)
        schedule = _schedule_spec(lr_scheduler, run.optimizer)
        # Epochs run back to back in one call only when nothing happens between them.
        self.per_epoch = one_epoch or bool(run.callbacks) or run.x_val is not None or \
            schedule is None or bool(run.metrics) or run.batch_schedule is not None
        self.bulk = not self.per_epoch and verbose == 0
        # the layers in plan order: Dropout's call counts and BatchNorm1d's batch counts go
        # in and come back (Trainer.counters)
        plan = plan or _native_steps(model, run.loss_fn)
        self.plan = [(item.layer, item.kind) for item in plan]
        # only Dropout and BatchNorm1d count (_counter): without them every count stays 0
        self.counting = any(kind in ("dropout", "batch_norm") for _, kind in self.plan)
        # Each epoch's order is rng.permutation(rows), as the python engine draws it: many
        # at once (_draw_orders: the same permutations, and the same state after them, as
        # that many permutation calls). Orders drawn ahead wait in
        # self.orders; close() gives the generator back the state after the last one used
        # (from the state before the first one pending and the count used since).
        self.rows = run.native_spec.get("global_n") or run.n
        self.orders = np.zeros((0, self.rows), np.int64)
        self.orders_state, self.used_since = None, 0
        self.order = None if shuffle else np.arange(self.rows)  # the epoch under way's
        spec = trainer_spec(model, run, shuffle, stop_on_nonfinite, schedule, plan)
        # reuse: the trainer of the model's last fit when this one's spec is the same
        # (_KeptTrainer), given back by close()
        self.kept = _KeptTrainer.of(model) if reuse and _reusable(run, spec) else None
        # the trainer, and the groups it has (set again when changed)
        self.trainer, self.groups = _trainer_for(spec, self.kept)
        self.step_in_epoch = self.trainer_step = 0
        self.bar = self.done_bar = None

    def epoch(self, epoch, epochs, interrupted):
        """Train from ``epoch`` for one call. Returns (records, None) or, when Ctrl-C
        came mid-epoch, (records, (epoch, step)); ``records`` are the finished epochs'
        logs (bulk: columns for History, float64 arrays from the trainer)."""
        run, opt = self.run_, self.run_.optimizer
        if self.step_in_epoch == 0:
            for c in run.callbacks:
                c.on_epoch_begin(epoch)
            self.bar = EpochProgress(epoch + 1, epochs, run.steps, self.verbose, samples=run.n)
        if run.batch_schedule is None:
            res = self.call(1 if self.per_epoch else epochs - epoch, CHUNK_SECONDS, opt.lr)
        else:  # one step a call: the schedule steps after each, as in the python engine
            started = time.perf_counter()
            while True:
                res = self.call(1, CHUNK_SECONDS, opt.lr, max_steps=1)
                run.batch_schedule.step()
                if len(res["loss"]) or time.perf_counter() - started >= CHUNK_SECONDS:
                    break
                if interrupted.flag:
                    break
        self.step_in_epoch = res["step"]
        if run.health_cb is not None and res["health"]:  # one epoch a call (a callback)
            run.health_cb.set_epoch_sums(res["health"][0], run.steps)
        columns = {"loss": res["loss"]}
        if run.loss_fn.classification:
            columns["accuracy"] = res["accuracy"]
        if run.metrics and len(res["loss"]):  # one epoch a call: its metrics, batch by batch
            columns.update({k: [v] for k, v in self._epoch_metrics().items()})
        columns["epoch_time"] = res["seconds"]
        if run.batch_schedule is None:  # else the rate after the epoch's last step, as python
            columns["lr"] = res["lr"]
        if self.bulk:  # many epochs, nothing between them: the arrays straight to History
            records = columns
            finished = len(columns["loss"])
        else:  # each epoch's logs: Python floats, as the python engine's
            names = list(columns)
            records = [dict(zip(names, values)) for values in zip(
                *(c.tolist() if isinstance(c, np.ndarray) else c for c in columns.values()))]
            finished = len(records)
            if records:
                self.done_bar = self.bar if len(records) == 1 else None
        if self.step_in_epoch > 0:
            if finished:  # a new epoch is under way: its bar
                self.bar = EpochProgress(res["epoch"] + 1, epochs, run.steps, self.verbose,
                                         samples=run.n)
            self.bar.update(self.step_in_epoch, loss=res["running_loss"])
            if interrupted.flag:
                self.bar.close(loss=res["running_loss"], interrupted=True)
                return records, (res["epoch"], self.step_in_epoch)
        return records, None

    def _epoch_metrics(self):
        """The metrics of the epoch just finished, updated batch by batch from the outputs
        the engine kept, as the python engine updates them after each step."""
        run = self.run_
        out, bs, metrics = self.trainer.epoch_outputs(), run.batch_size, run.metrics
        metrics.reset()
        if metrics.any_batching(run.weights is not None):  # one update: the same result
            metrics.update(out, run.y[self.order], None)
            return metrics.result()
        for step in range(run.steps):
            rows = self.order[step * bs:(step + 1) * bs]
            metrics.update(out[step * bs:(step + 1) * bs], run.y[rows],
                           None if run.weights is None else run.weights[rows])
        return metrics.result()

    def step(self, rows):
        """One step on ``rows`` of the run (``train_on_batch``; a trainer made without
        shuffle, whose data the caller set); returns the loss."""
        return self.call(1, float("inf"), self.run_.optimizer.lr)["last_loss"]

    def call(self, max_epochs, seconds, lr, max_steps=0):
        """One native call: up to ``max_epochs`` epochs or ``seconds``; hands over the
        orders of the epochs it may start and takes back what the call changed (the
        optimiser's step count, the Dropout layers' call counts). Raises for a
        non-finite loss (NonFiniteLossError) or a failed gradient hook."""
        orders = None
        if self.shuffle:
            # Epochs this call may start (the one under way has its order), at most about
            # 32 MB of orders: the call stops before an epoch it has no order for.
            need = min(max_epochs - (self.trainer_step > 0), max(1, (1 << 22) // self.rows))
            if len(self.orders) < need:
                if not len(self.orders) and self.keep_stream:
                    self.orders_state, self.used_since = self.rng.bit_generator.state, 0
                more = _draw_orders(self.rng, self.rows, need - len(self.orders))
                self.orders = np.concatenate([self.orders, more]) if len(self.orders) else more
            orders = self.orders[:max(need, 0)]
        self.trainer.optimizer_steps = self.run_.optimizer.steps
        # the groups' rates and options (a schedule may cycle momentum or betas)
        groups = _groups(self.run_.optimizer)
        if groups != self.groups:  # the same groups again would change nothing
            self.trainer.set_groups(groups)
            self.groups = groups
        if self.counting:
            self.trainer.set_counters([_counter(layer, kind) for layer, kind in self.plan])
        res = self.trainer.run(max_epochs, seconds, lr, orders, max_steps)
        used = res["orders_used"]
        if used:
            self.order = self.orders[used - 1]
            self.orders = self.orders[used:]
            self.used_since += used
        self.trainer_step = res["step"]
        self.run_.optimizer.steps = self.trainer.optimizer_steps
        if self.counting:
            for (layer, kind), count in zip(self.plan, self.trainer.counters()):
                _set_counter(layer, kind, count)
        if res["hook_failed"]:
            raise RuntimeError("fit: the native engine's gradient hook failed")
        if res["nonfinite"]:
            rows = self.trainer.batch_rows()
            x = self.run_.x
            self.model.forward(x[rows])  # the failing batch's outputs, for the message
            raise nonfinite_error(self.model, res["bad_loss"], res["epoch"], res["step"])
        return res

    def take_bar(self):
        """The finished epoch's progress bar (the epoch end closes it)."""
        bar, self.done_bar = self.done_bar, None
        return bar

    def close(self):
        """Give the generator back the state after the last order an epoch used (and the
        trainer to the model, for its next fit, with ``reuse``)."""
        if len(self.orders) and self.keep_stream:
            self.rng.bit_generator.state = self.orders_state
            if self.used_since:  # draw the used ones again: the same state as after them
                _draw_orders(self.rng, self.rows, self.used_since)
            self.orders = self.orders[:0]
        # kept without its data (the model holds no rows), unless it can never be reused
        if self.kept is not None and self.trainer is not None and \
                self.trainer.release_data():
            self.kept.trainer, self.kept.groups = self.trainer, self.groups
        self.trainer = None


class _KeptTrainer:
    """The native trainer of a model's last ``fit`` (``model.kept_trainer``), with the
    optimiser groups it has, for the next fit to restart when its spec is the same
    (:func:`_trainer_for`). A copy or a pickle of the model keeps none."""

    __slots__ = ("trainer", "groups")

    def __init__(self):
        self.trainer = self.groups = None

    @staticmethod
    def of(model):
        kept = getattr(model, "kept_trainer", None)
        if kept is None:
            kept = model.kept_trainer = _KeptTrainer()
        return kept

    def __copy__(self):
        return _KeptTrainer()

    def __deepcopy__(self, memo):
        return _KeptTrainer()

    def __reduce__(self):
        return _KeptTrainer, ()


def _reusable(run, spec):
    """Whether a trainer made from ``spec`` may serve a later fit: not data-parallel
    (hooks), not with health=True (the trainer keeps the weights it saw last) and not a
    scaled cross-entropy (its rows' targets and shares are data)."""
    return not run.native_spec and not spec["health"] and "loss_targets" not in spec


def _trainer_for(spec, kept):
    """(trainer, its groups) for ``spec``: ``kept``'s trainer (taken: a fit running at the
    same time makes its own), restarted on this fit's rows, when its spec is the same but
    for the data, the counters and the optimiser's step count (``_Trainer.same_spec``:
    any other change, a weight array replaced, reshaped or re-typed, a layer, the loss,
    the batch size or an optimiser option, makes a new one); else a new trainer."""
    if kept is not None:
        trainer, groups = kept.trainer, kept.groups
        kept.trainer = kept.groups = None
        if trainer is not None and trainer.same_spec(spec):
            trainer.restart(spec["x"], spec["targets"], spec["weights"])
            return trainer, groups
    return _core._Trainer(spec), spec["groups"]


def make_engine(model, run, engine, rng, *, shuffle=True, verbose=0, stop_on_nonfinite=True,
                lr_scheduler=None, parallel=None, one_epoch=False, fn="fit", keep_stream=True,
                reuse=False):
    """The engine for this run: ``engine="native"`` (ValueError when it cannot run it),
    ``"python"``, or ``"auto"``: native unless something in the run has no native op
    (printed at ``verbose >= 1``). ``keep_stream``, ``reuse``: see :class:`NativeEngine`."""
    why_not, plan = _native_plan(model, run) if engine != "python" else ("", None)
    if engine == "native" and why_not:
        raise ValueError(f"{fn}: engine='native' cannot run this model: {why_not}; use "
                         "engine='python' or 'auto'")
    if engine == "auto" and why_not and verbose >= 1:
        print(f"{fn}: the python engine runs this fit ({why_not})")
    if engine == "python" or why_not:
        return PythonEngine(model, run, rng, shuffle, verbose, stop_on_nonfinite, parallel)
    return NativeEngine(model, run, rng, shuffle, verbose, stop_on_nonfinite, lr_scheduler,
                        one_epoch, plan, keep_stream, reuse)
