"""Sequential models: the network's structure, forward and backward layer by layer,
inference and evaluation. Training (``fit``) lives in :mod:`nncore.training`."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import runtime
from . import saving
from . import targets as targets_mod
from . import training
from . import weights as weights_mod
from ._inputs import check_finite, check_x, check_y, softmax_as_logits
from .activations import FUSABLE
from .data import batches
from .history import History
from .activation_layers import ACTIVATION_LAYERS
from . import blocks
from ._layer_base import hook_generation, model_dtype
from .layers import Dense, Layer
from .training import NonFiniteLossError, count_correct

__all__ = ["Sequential", "History", "NonFiniteLossError", "load"]


class Step(NamedTuple):
    """One step of a model's plan: layer ``index`` (``layer``), run with ``activation``
    and ``slope`` fused into it (None: the layer's own)."""
    index: int
    layer: Layer
    activation: str | None
    slope: float | None



class Sequential:
    """Layers applied in order, with explicit layer-by-layer backpropagation.

    A :class:`Dense` layer without activation followed by an activation layer
    (ReLU, Sigmoid, Tanh, LeakyReLU, Identity) runs as one fused native call.

    Parameters
    ----------
    *layers : Layer, or one list of them
        ``Sequential(a, b, c)`` (PyTorch) or ``Sequential([a, b, c])`` (Keras); also
        ``Sequential()`` followed by :meth:`add`.
    seed : int, optional
        Re-initialise every layer's weights (and Dropout masks) from this seed, and
        derive each ``fit``'s shuffle and validation split from it and the number of
        fits so far (:meth:`fit_seed`): the same script trains the same bits every time.
        Without it, :func:`nncore.manual_seed` makes runs repeatable. A model with
        inferred widths (``Dense(64)``) is initialised from it when it is built, so its
        weights are those of the same model written with every width.
    dtype : "float32" or "float64", optional
        Default: the dtype the layers were given (``Dense(..., dtype="float64")``), else
        float32. ValueError when layers were given different dtypes, or a dtype other
        than this one.
    input_shape : int or tuple of int, optional
        One sample's shape, without the batch (Keras's ``input_shape``): builds the
        layers whose input width is inferred (``Dense(64)``) at once. Without it they
        are built by :meth:`build` or by the first data (``fit``, ``predict``,
        ``forward``); before that :meth:`parameters` raises ValueError.

    A model is a sequence of its layers: ``len(model)``, ``model[0]``, ``model[1:]`` (a
    Sequential sharing those layers, as in PyTorch), ``for layer in model``.

    A model starts in training mode (:meth:`train`); :meth:`eval` turns Dropout off.
    ``fit`` trains in training mode, ``predict`` and ``evaluate`` always run in eval mode.
    """

    def __init__(self, *layers, seed=None, dtype=None, input_shape=None):
        if len(layers) == 1 and not isinstance(layers[0], Layer):
            try:
                layers = tuple(layers[0])  # Sequential([a, b, c])
            except TypeError:
                pass
        layers = list(layers)
        if not all(isinstance(layer, Layer) for layer in layers):
            bad = next(layer for layer in layers if not isinstance(layer, Layer))
            raise ValueError("Sequential: layers must be nncore layers (Sequential(a, b) or "
                             f"Sequential([a, b])); got {type(bad).__name__}")
        self.layers = layers
        self._dtype_arg = dtype
        self.dtype = model_dtype(layers, dtype)
        self.seed = seed
        self.fits = 0  # fits so far: with the seed, the next fit's random stream
        self.training = True
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self._input_grad = False
        # the last softmax/sigmoid step is left out while a loss that applies it reads the
        # outputs (set by fit and evaluate: nncore._inputs.softmax_as_logits)
        self.logits_out = False
        self._head_skipped = False
        # train_on_batch's native engine, kept while the model, loss, optimiser and batch
        # shape stay the same: (key, engine) (nncore.training.fit)
        self.batch_engine = None
        # fit's native trainer, for the next fit to restart when nothing changed
        # (nncore.training.engines._KeptTrainer)
        self.kept_trainer = None
        self._input_shape = None if input_shape is None else \
            blocks.sample_width(input_shape, "Sequential")
        self._init_rng = np.random.default_rng(seed) if seed is not None else None
        features = self._input_shape
        for layer in layers:
            blocks.init_layer(layer, self._init_rng, self.dtype)
            features = layer.output_features(features)
        self.built = all(blocks.is_built(layer) for layer in layers)
        if self._input_shape is not None:
            self._build(self._input_shape)
        self._plan()

    def _plan(self):
        """The steps ``forward`` and ``backward`` run: one per layer, except that a Dense
        without activation followed by an activation layer the GEMM epilogue applies
        (:data:`nncore.activations.FUSABLE`) is one step, the activation fused into the
        product's store. The model owns the plan; the layers stay as given. A layer with
        hooks is never fused (its hooks see its own input and output)."""
        self._steps, self._skip_flags, i = [], [False] * len(self.layers), 0
        self._planned = list(self.layers)  # what the plan is of (_sync_layers)
        self._hooks_seen = hook_generation()
        self._hooked = any(layer.has_hooks() for layer in self.layers)  # else no hook calls
        while i < len(self.layers):
            layer = self.layers[i]
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            if isinstance(layer, Dense) and layer.activation == "identity" and \
                    type(nxt) in ACTIVATION_LAYERS.values() and nxt.activation in FUSABLE and \
                    not (layer.has_hooks() or nxt.has_hooks()):
                self._steps.append(Step(i, layer, nxt.activation,
                                        getattr(nxt, "slope", layer.slope)))
                self._skip_flags[i + 1] = True
                i += 2
            else:
                self._steps.append(Step(i, layer, None, None))
                i += 1

    @property
    def steps(self):
        """The plan (:meth:`_plan`) of the layers as they are now."""
        self._refresh()
        return self._steps

    @property
    def _skip(self):
        """Per layer: whether it runs fused into the Dense before it."""
        self._refresh()
        return self._skip_flags

    def _refresh(self):
        """Re-plan when ``model.layers`` changed since the last plan (:meth:`_sync_layers`)."""
        if not self._planned_is_current():
            self._sync_layers()

    def _planned_is_current(self):
        planned, layers = self._planned, self.layers
        return type(layers) is list and len(planned) == len(layers) and \
            all(a is b for a, b in zip(planned, layers))

    def _sync_layers(self):
        """``model.layers`` was changed in place or replaced (``insert``, ``append``,
        ``del``, ``model.layers[i] = layer``, as on PyTorch's Sequential): check the new
        list as the constructor does, initialise and build the new layers as :meth:`add`
        does, and re-plan, so that both engines, ``predict`` and the exports run the
        layers as they are. ValueError, with nothing changed, when an item is not an
        nncore layer, the dtypes differ or the widths do not chain."""
        try:
            layers = list(self.layers)
        except TypeError:
            raise ValueError(f"Sequential: model.layers must be a list of nncore layers; "
                             f"got {type(self.layers).__name__}") from None
        bad = next(((i, layer) for i, layer in enumerate(layers)
                    if not isinstance(layer, Layer)), None)
        if bad is not None:
            raise ValueError(f"Sequential: model.layers[{bad[0]}] must be an nncore layer; "
                             f"got {type(bad[1]).__name__}")
        dtype = model_dtype(layers, self._dtype_arg)
        declared = blocks.input_width(layers)
        width = declared if declared is not None else self._input_shape
        if width is not None:
            blocks.output_width(layers, width)  # widths that do not chain: ValueError
        known = {id(layer) for layer in self._planned}
        if dtype != self.dtype:
            self.dtype = dtype
            for layer in layers:
                if id(layer) in known:
                    blocks.init_layer(layer, None, dtype)
        for layer in layers:
            if id(layer) not in known:
                blocks.init_layer(layer, self._init_rng, self.dtype)
                layer.training = self.training
        if width is not None:
            blocks.build_layers(layers, width)
            if self._input_shape is not None:
                self._input_shape = width
        self.layers = layers
        self.built = all(blocks.is_built(layer) for layer in layers)
        self._plan()

    # ------------------------------------------------------------ structure

    def build(self, input_shape):
        """Build the layers whose input width is inferred (``Dense(64)``) for inputs of
        ``input_shape``, the batch first as in Keras (``model.build((None, 40))``).
        ``fit``, ``predict`` and ``forward`` build an unbuilt model from their data."""
        self._refresh()
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
        if shape is None or len(shape) < 2:
            raise ValueError(f"Sequential.build: input_shape is (batch, features...) with the "
                             f"batch first (None for any), as in Keras; got {input_shape!r}")
        if not self.layers:
            raise ValueError("Sequential.build: the model has no layers yet; add them with "
                             "model.add(layer) (or give Sequential(a, b, ...))")
        self._build(blocks.sample_width(shape[1:], "Sequential.build"))

    def _build(self, width):
        """Build the lazy layers for samples of ``width``; a seeded model then
        initialises every layer from its seed (the weights of the same model written
        with every width)."""
        if self.built:
            blocks.output_width(self.layers, width)  # a width it cannot take: ValueError
            if self.input_shape is None:  # a Flatten first: the first data fixes it (Keras)
                self._input_shape = width
            return
        blocks.build_layers(self.layers, width)
        self._input_shape = width
        self.built = True
        if self.seed is not None:
            self._init_rng = np.random.default_rng(self.seed)
            for layer in self.layers:
                blocks.init_layer(layer, self._init_rng, self.dtype)
        self._plan()

    @property
    def input_shape(self):
        """One sample's shape (without the batch), when known: given to the model, set
        by its first data, or fixed by its first layer (``Dense(40, ...)``: ``(40,)``)."""
        width = self._input_shape if self._input_shape is not None else \
            blocks.input_width(self.layers)
        if width is None:
            return None
        return width if isinstance(width, tuple) else (width,)

    def add(self, layer):
        """Append ``layer`` (Keras's ``model.add``). Its width must fit the model's output;
        a model with a seed initialises it from the seed's stream, so
        ``Sequential(seed=0)`` and ``add`` give the weights of the model built at once."""
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential.add: layer must be an nncore layer; got "
                             f"{type(layer).__name__}")
        self._refresh()
        dtype = model_dtype(self.layers + [layer], self._dtype_arg)
        width = blocks.output_width(self.layers, self._input_shape)
        layer.output_features(width)  # a width it cannot take: ValueError, nothing changed
        if not blocks.is_built(layer) and width is not None:
            blocks.build_layers([layer], width)
        if dtype != self.dtype:  # the first layer to name a dtype sets the model's
            self.dtype = dtype
            for old in self.layers:
                blocks.init_layer(old, None, dtype)
        blocks.init_layer(layer, self._init_rng, self.dtype)
        layer.training = self.training
        self.layers.append(layer)
        self.built = all(blocks.is_built(layer) for layer in self.layers)
        self._plan()
        return self

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, index):
        """``model[i]`` is layer ``i``; ``model[a:b]`` a Sequential of those layers (the
        same layer objects, as PyTorch's slicing)."""
        if isinstance(index, slice):
            return Sequential(self.layers[index], dtype=self.dtype)
        return self.layers[index]

    def activation_of(self, i):
        """``(activation, slope)`` that layer ``i`` applies in this model: a Dense's own or
        the one fused into it; an activation layer's name and slope."""
        for step in self.steps:
            if step.index == i and step.activation is not None:
                return step.activation, step.slope
        layer = self.layers[i]
        return layer.activation, getattr(layer, "slope", 0.01)

    def train(self, mode=True):
        """Training mode (Dropout active) or, with ``mode=False``, eval mode. Returns the
        model."""
        self.training = bool(mode)
        for layer in self.layers:
            layer.training = self.training
        return self

    def eval(self):
        """Eval mode: Dropout is the identity (``train(False)``). Returns the model."""
        return self.train(False)

    def _mode(self, training):
        """Context manager: the model in ``training`` mode, the previous mode restored."""
        return _Mode(self, training)

    def layer_name(self, i):
        """Name of layer ``i``: its ``name`` or ``<type>_<i>`` (``dense_0``)."""
        layer = self.layers[i]
        return layer.name or f"{type(layer).__name__.lower()}_{i}"

    # ------------------------------------------------------------ forward, backward

    def forward(self, x):
        """Output of the network for a batch ``x``: a new array, the caller's to keep
        (``[model.forward(b) for b in batches]`` keeps every batch's output)."""
        self._refresh()
        if not self.built:
            shape = np.shape(x)
            self._build(blocks.sample_width(shape[1:] if len(shape) > 1 else shape))
        if self._hooks_seen != hook_generation():  # a hook came or went: re-plan
            self._plan()
        skip_head = self.logits_out  # the loss applies the last softmax/sigmoid itself
        last = self.steps[-1]
        for step in self.steps:
            layer = step.layer
            if not isinstance(layer, Dense):
                if skip_head and step is last:
                    break
                y = layer.forward(x)
            else:
                act = "identity" if skip_head and step is last else step.activation
                y = layer.forward(x, act, step.slope,
                                  need_grad_x=step.index > 0 or self._input_grad)
            x = layer.run_forward_hooks(x, y) if self._hooked else y
        self._head_skipped = skip_head and not isinstance(last.layer, Dense)
        return x

    __call__ = forward

    def backward(self, grad, accumulate=False):
        """Backpropagate ``grad`` (d loss / d output) through every layer, setting each
        parameter's ``grad``. Returns d loss / d input (a new array), or None when the
        first layer skips it (call ``set_input_grad(True)`` to get it).

        Parameters
        ----------
        grad : array_like
            d loss / d output of the last :meth:`forward`.
        accumulate : bool
            False (default): each ``grad`` is overwritten with this batch's gradient, so
            one backward per optimiser step needs no ``zero_grad()``. True: this batch's
            gradient is added to ``grad`` (PyTorch's behaviour), for gradient
            accumulation over micro-batches; call ``zero_grad()`` (on the model or the
            optimiser) before the first micro-batch of each step, and scale the loss
            gradient by ``1 / micro_batches`` for the mean over the whole batch.
        """
        if accumulate:
            params = self.parameters()
            before = [p.grad.copy() for p in params]
            result = self.backward(grad)
            for p, g in zip(params, before):
                np.add(p.grad, g, out=p.grad)
            return result
        steps = self.steps[:-1] if self._head_skipped else self.steps
        hooked = self._hooked
        for step in reversed(steps):
            gx = step.layer.backward(grad)
            grad = step.layer.run_backward_hooks(gx, grad) if hooked else gx
            if grad is None:
                break
        return grad

    def has_hooks(self):
        """Whether a layer has a forward or backward hook (such a model trains on the
        python engine, with its hooked layers unfused)."""
        if self._hooks_seen != hook_generation():
            self._plan()
        return any(layer.has_hooks() for layer in self.layers)

    def probability_head(self):
        """``"softmax"`` or ``"sigmoid"`` when the model's last step ends in that
        probability (a Dense's activation, an activation layer fused into it, or a last
        Sigmoid/Softmax layer), else None."""
        step = self.steps[-1]
        layer = step.layer
        act = step.activation if step.activation is not None else \
            getattr(layer, "activation", None)
        if act == "softmax" and not isinstance(layer, Dense) and \
                getattr(layer, "axis", -1) not in (-1, 1):
            return None  # a softmax over another axis is not a class probability
        return act if act in ("softmax", "sigmoid") else None

    def logits_head(self, loss_fn):
        """Whether ``loss_fn`` applies the model's last probability itself (softmax with
        cross-entropy, sigmoid with binary cross-entropy): then ``fit`` and ``evaluate``
        hand the loss the logits before it (exact loss and gradient), while ``predict``
        still returns probabilities."""
        head = self.probability_head()
        return (head == "softmax" and isinstance(loss_fn, losses_mod.CrossEntropyLoss)) or \
            (head == "sigmoid" and isinstance(loss_fn, losses_mod.BCEWithLogitsLoss))

    def set_input_grad(self, needed=True):
        """Whether :meth:`backward` computes d loss / d input (off by default: training
        does not need it), from the next :meth:`forward` on."""
        self._input_grad = bool(needed)

    def parameters(self):
        """All trainable :class:`Parameter` objects, layer by layer. ValueError before
        the model is built (it has a ``Dense(units)`` whose input width is not known:
        give ``input_shape``, call :meth:`build`, or fit/predict first)."""
        self._refresh()
        self._check_built("parameters")
        return [p for layer in self.layers for p in layer.parameters()]

    def _check_built(self, what):
        if not self.built:
            i = next(i for i, layer in enumerate(self.layers) if not blocks.is_built(layer))
            raise ValueError(f"Sequential.{what}: the model is not built yet: layer "
                             f"{self.layer_name(i)} ({self.layers[i]!r}) does not know its "
                             "input width. Give Sequential(..., input_shape=(features,)), "
                             "call model.build((None, features)), or fit/predict/forward "
                             "first (Keras builds the same way)")

    def named_parameters(self):
        """``[("dense_0.w", Parameter), ...]``, named after :meth:`layer_name`."""
        self._refresh()
        self._check_built("named_parameters")
        return [(f"{self.layer_name(i)}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in blocks.named_parameters_of(layer)]

    def named_buffers(self):
        """``[("batchnorm1d_1.running_mean", array), ...]``: the layers' state that is
        not trained (BatchNorm1d's running statistics), as PyTorch's ``named_buffers``
        (the arrays themselves; ``num_batches_tracked`` as a 0-d int64 copy)."""
        self._refresh()
        self._check_built("named_buffers")
        return [(f"{self.layer_name(i)}.{name}", owner.buffers()[key])
                for i, layer in enumerate(self.layers)
                for name, owner, key in blocks.buffer_slots_of(layer)]

    def buffer_slots(self):
        """``[(name, layer, key)]`` of :meth:`named_buffers`: the layer that holds each
        buffer (``layer.load_buffers({key: value})`` sets it)."""
        self._refresh()
        self._check_built("buffer_slots")
        return [(f"{self.layer_name(i)}.{name}", owner, key)
                for i, layer in enumerate(self.layers)
                for name, owner, key in blocks.buffer_slots_of(layer)]

    def grads(self):
        """The gradients of :meth:`parameters`, in the same order."""
        return [p.grad for p in self.parameters()]

    def zero_grad(self):
        """Set every parameter gradient to zero (needed before accumulating gradients
        with ``backward(..., accumulate=True)``; a plain ``backward`` overwrites them)."""
        for p in self.parameters():
            p.grad.fill(0)

    def get_weights(self):
        """Copies of every parameter, layer by layer (``[w0, b0, w1, b1, ...]``, Keras's
        order). Parameters only: BatchNorm1d's running statistics are in
        :meth:`state_dict` and in saved model files."""
        return weights_mod.get_weights(self)

    def set_weights(self, weights):
        """Copy ``weights`` (as :meth:`get_weights` returns them) into the parameters;
        ValueError for a wrong count or shape, TypeError for a non-real dtype."""
        weights_mod.set_weights(self, weights)

    def state_dict(self):
        """``{name: array copy}`` with the names of :meth:`named_parameters`, then those
        of :meth:`named_buffers` (BatchNorm1d's running statistics), as PyTorch's."""
        return weights_mod.state_dict(self)

    def load_state_dict(self, state_dict, strict=True):
        """Copy the arrays of ``state_dict`` into the parameters and buffers of the same
        names; with ``strict`` (default) missing or unexpected names raise KeyError.
        Shapes are checked (ValueError) before anything is written."""
        weights_mod.load_state_dict(self, state_dict, strict)

    def count_params(self):
        """Number of trainable values."""
        return sum(p.size for p in self.parameters())

    def summary(self, print_fn=print):
        """A table of layers, output shapes and parameter counts, printed as Keras's
        ``model.summary()`` prints it (once, also in a REPL: it returns None); the
        layers of a Residual are listed under it, indented. ValueError before the model
        is built (as Keras).

        Parameters
        ----------
        print_fn : callable or None, default print
            Called once with the table's text. None prints nothing and returns the
            text instead: ``text = model.summary(print_fn=None)``.
        """
        self._refresh()
        self._check_built("summary")
        rows = []

        def walk(layers, width, depth, skip):
            for i, layer in enumerate(layers):
                width = layer.output_features(width)
                kind = type(layer).__name__
                if isinstance(layer, Dense):
                    kind += f"({layer.activation})" if layer.activation != "identity" else ""
                note = " (fused into previous)" if skip[i] else ""
                name = self.layer_name(i) if depth == 0 else \
                    layer.name or f"{type(layer).__name__.lower()}_{i}"
                shape = "?" if width is None else \
                    ", ".join(str(d) for d in (width if isinstance(width, tuple) else (width,)))
                rows.append(("  " * depth + name, kind + note, f"(None, {shape})",
                             sum(p.size for p in layer.parameters())))
                if isinstance(layer, blocks.Residual):
                    walk(layer.layers, width, depth + 1, [False] * len(layer.layers))

        walk(self.layers, self._input_shape, 0, self._skip)
        w0 = max(len(r[0]) for r in rows + [("layer",)])
        w1 = max(len(r[1]) for r in rows + [("", "type")])
        lines = [f"{'layer':<{w0}}  {'type':<{w1}}  {'output shape':<14}  {'params':>10}"]
        lines.append("-" * len(lines[0]))
        for name, kind, shape, n in rows:
            lines.append(f"{name:<{w0}}  {kind:<{w1}}  {shape:<14}  {n:>10,}")
        lines.append("-" * len(lines[0]))
        lines.append(f"total params: {self.count_params():,} ({self.dtype.name})")
        text = "\n".join(lines)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    # ------------------------------------------------------------------ inference

    def predict(self, x, batch_size=None):
        """Network outputs for ``x`` (a new array), in eval mode: raw outputs (logits)
        for a classifier trained with a logits loss; :meth:`predict_proba` gives
        probabilities. A 1-D ``x`` is one sample and gives a 1-D result, its outputs
        (``predict(x[i])`` equals ``predict(x)[i]``, as a PyTorch module treats an
        unbatched input)."""
        self._refresh()
        x = np.asarray(x)
        if x.ndim == 1:
            if x.dtype.kind == "f":
                check_finite(x, "x", "predict")  # the index of one sample: 1-D
            return self.predict(x.reshape(1, -1), batch_size)[0]
        x = check_x(self, x, "x", "predict")
        with self._mode(False):
            if batch_size is None or len(x) <= batch_size:
                out = self.forward(x)  # a new array, unless every layer is the identity
                return out.copy() if np.may_share_memory(out, x) else out
            return np.concatenate([self.forward(xb)
                                   for xb in batches(x, batch_size=batch_size)])

    def predict_proba(self, x, batch_size=None):
        """Class probabilities: softmax (or sigmoid for one output) of the logits, unless
        the model already ends in a Softmax/Sigmoid layer (or activation). A 1-D ``x`` is
        one sample and gives a 1-D result, its probabilities."""
        from . import functional as F
        x = np.asarray(x)
        if x.ndim == 1:
            if x.dtype.kind == "f":
                check_finite(x, "x", "predict_proba")  # the index of one sample: 1-D
            return self.predict_proba(x.reshape(1, -1), batch_size)[0]
        out = self.predict(x, batch_size)
        if self.probability_head() is not None:
            return out
        return F.sigmoid(out) if out.ndim == 1 or out.shape[-1] == 1 else F.softmax(out)

    def evaluate(self, x, y, loss=None, batch_size=1024, sample_weight=None, metrics=None):
        """``{"loss": ..., "accuracy": ...}`` on ``(x, y)`` (accuracy for classification
        losses), in eval mode. ``loss`` defaults to the one ``fit`` used, else it is
        chosen from ``y`` as ``fit`` does (:mod:`nncore.targets`). ``metrics``: names or
        :mod:`nncore.metrics` objects, added under their names."""
        self._refresh()
        x = check_x(self, x, "x", "evaluate")
        if loss is None and self.loss is None:
            loss = targets_mod.infer_loss(y, targets_mod.output_features(self))[0]
        loss_fn = losses_mod.get(loss if loss is not None else self.loss)
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"evaluate: x and y must have the same length; got {len(x)} and "
                             f"{len(y)}")
        y = check_y(self, y, len(x), loss_fn, "y", "evaluate")
        total, correct, n, out = 0.0, 0, len(x), None
        metric_list = metrics if isinstance(metrics, metrics_mod.MetricList) else \
            metrics_mod.MetricList(metrics)
        metric_list.reset()
        sum_loss = loss_fn.with_reduction("sum")
        w = None if sample_weight is None else np.asarray(sample_weight, self.dtype)
        with self._mode(False), softmax_as_logits(self, loss_fn):
            for start in range(0, n, batch_size):
                sl = slice(start, start + batch_size)
                out = self.forward(x[sl])
                total += sum_loss(out, y[sl], sample_weight=None if w is None else w[sl])
                if loss_fn.classification:
                    correct += count_correct(out, y[sl])
                if metric_list:
                    metric_list.update(out, y[sl], None if w is None else w[sl])
        samples = float(w.sum()) if w is not None else n
        result = {"loss": loss_fn.mean_of_sum(total, samples, out) if n else float("nan")}
        if loss_fn.classification:
            result["accuracy"] = correct / n if n else float("nan")
        if metric_list:
            result.update(metric_list.result())
        return result

    # ------------------------------------------------------------------ training

    def fit_seed(self, seed=None):
        """The seed of the next fit's random stream (shuffle, validation split), and
        count the fit: ``seed`` when given, else derived from the model's ``seed`` and
        :attr:`fits` (:func:`nncore.runtime.fit_seed`)."""
        seed = runtime.fit_seed(seed, self.seed, self.fits)
        self.fits += 1
        return seed

    def fit(self, x, y, loss=None, optimizer=None, epochs=1, batch_size=32, shuffle=True,
            seed=None, validation_data=None, validation_split=0.0, class_weight=None,
            sample_weight=None, callbacks=None, verbose=1, lr_scheduler=None, health=False,
            stop_on_nonfinite=True, engine="auto", distributed=False, metrics=None):
        return training.fit(self, x, y, loss=loss, optimizer=optimizer, epochs=epochs,
                            batch_size=batch_size, shuffle=shuffle, seed=seed,
                            validation_data=validation_data,
                            validation_split=validation_split, class_weight=class_weight,
                            sample_weight=sample_weight, callbacks=callbacks,
                            verbose=verbose, lr_scheduler=lr_scheduler, health=health,
                            stop_on_nonfinite=stop_on_nonfinite, engine=engine,
                            distributed=distributed, metrics=metrics)

    fit.__doc__ = training.fit.__doc__

    def train_on_batch(self, x, y, loss=None, optimizer=None, sample_weight=None):
        """One training step on the batch ``(x, y)`` (forward, loss, backward, update) for
        users who keep their own loop; returns the loss. ``loss`` and ``optimizer``
        default to the last ones used. Runs as one native call when the model is
        supported by the native engine (see :mod:`nncore.training`)."""
        self._refresh()
        self._refresh()
        return training.train_on_batch(self, x, y, loss=loss, optimizer=optimizer,
                                       sample_weight=sample_weight)

    train_step = train_on_batch

    def save(self, path):
        """Write the model (and its optimiser state) to one file (an ``.npz`` archive)
        under exactly the name ``path``, atomically; :func:`nncore.load` reads it back."""
        self._refresh()
        return saving.save(self, path)

    def to_onnx(self, path=None, **kwargs):
        """The model as an ONNX graph (opset 17), also written to ``path`` when given; see
        :func:`nncore.onnx.export`. Needs the ``onnx`` package."""
        self._refresh()
        from .onnx import export
        return export(self, path, **kwargs)

    def to_torch(self):
        """A torch ``nn.Sequential`` with a copy of the weights
        (:func:`nncore.interop.to_torch`)."""
        self._refresh()
        from .interop import to_torch
        return to_torch(self)

    @classmethod
    def from_torch(cls, module, dtype=None):
        """A model with the weights of a torch ``nn.Sequential`` of ``nn.Linear``,
        activations, ``nn.Dropout``, ``nn.Flatten`` and residual blocks
        (:func:`nncore.interop.layers_from_torch`)."""
        from .interop import layers_from_torch
        layers, dtype = layers_from_torch(module, dtype)
        return cls(layers, dtype=dtype)

    def __repr__(self):
        return "Sequential([\n" + "".join(f"    {layer!r},\n" for layer in self.layers) + "])"


class _Mode:
    def __init__(self, model, training):
        self.model, self.training = model, training

    def __enter__(self):
        self.before = self.model.training
        self.model.train(self.training)

    def __exit__(self, *exc):
        self.model.train(self.before)
        return False


def load(path):
    """Read a model written by :meth:`Sequential.save`: the same weights, optimiser state
    and step count, and loss (details in :func:`nncore.saving.load`).

    Raises :class:`nncore.ModelFileError` (a ValueError) for a truncated, corrupt,
    foreign or newer-format file, FileNotFoundError when there is no file."""
    return saving.load(path, Sequential)
