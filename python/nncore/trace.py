"""The learner's window: one training step with every quantity the tutorials write out.

``nncore.trace(model, x, y, loss)`` runs one training step of ``model`` on ``(x, y)``
with the same kernels as training (:mod:`nncore.functional`) and returns a
:class:`StepTrace`: per layer, in order, its input, its pre-activation ``z`` (Dense), its
output, its ``delta`` (dL/dz for a Dense, dL/d output otherwise), the gradients of its
parameters and the update the optimiser would add to each; plus the loss. The model and
the optimiser are left as they were unless ``apply=True``, which takes the step.

It watches the step through the layers' hooks (:meth:`nncore.layers.Layer.
register_forward_hook`), so it sees what a hook sees: each layer on its own, a Dense
and the activation layer after it as two calls (the same bits as the fused one).
"""
from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field

import numpy as np

from . import functional as F
from . import losses as losses_mod
from . import optim as optim_mod
from . import targets as targets_mod
from ._inputs import check_x, check_y, softmax_as_logits
from .activation_layers import FROM_INPUT_KERNELS
from .dropout import Dropout
from .layers import Dense
from .training import loss_and_grad

__all__ = ["trace", "StepTrace", "LayerTrace"]

#: Arrays with at most this many values are printed in full; larger ones are summarised.
FULL_SIZE = 16

_QUANTITIES = ("input", "z", "output", "mask", "delta", "grad_input")


@dataclass
class LayerTrace:
    """What one layer saw and computed in a traced step (arrays are the caller's copies).

    Attributes
    ----------
    index, name, kind : the layer's position, name (``dense_0``) and class name.
    activation : the activation the layer applied (a Dense's own, ``"identity"`` when a
        cross-entropy loss took its softmax; an activation layer's), else None.
    input : the layer's input ``x``.
    z : the pre-activation ``x @ w + b`` (Dense only).
    output : the layer's output ``a``.
    delta : dL/dz for a Dense (the tutorials' delta), dL/d output for other layers.
    grad_output : dL/d output.
    grad_input : dL/d input (None for a model's first layer, which skips it).
    grads : ``{parameter name: dL/d parameter}`` (``"w"``, ``"b"`` for a Dense).
    update : ``{parameter name: what the optimiser adds to it}`` (None for a parameter
        the optimiser does not hold).
    mask : a Dropout layer's mask (0 where dropped, ``1 / (1 - p)`` where kept).
    """
    index: int
    name: str
    kind: str
    activation: str | None = None
    input: np.ndarray | None = None
    z: np.ndarray | None = None
    output: np.ndarray | None = None
    delta: np.ndarray | None = None
    grad_output: np.ndarray | None = None
    grad_input: np.ndarray | None = None
    grads: dict = field(default_factory=dict)
    update: dict = field(default_factory=dict)
    mask: np.ndarray | None = None
    use_bias: bool = True

    @property
    def grad_w(self):
        """dL/dw (None for a layer without ``w``)."""
        return self.grads.get("w")

    @property
    def grad_b(self):
        """dL/db (None for a layer without ``b``)."""
        return self.grads.get("b")

    def formulas(self):
        """``{quantity: formula}`` for this layer, in the tutorials' notation."""
        act = self.activation
        if self.kind == "Dense":
            f = {"input": "x", "z": "z = x @ w + b" if self.use_bias else "z = x @ w",
                 "output": "a = z" if act == "identity" else f"a = {act}(z)",
                 "delta": "δ = dL/dz = dL/da" if act == "identity" else
                 "δ = dL/dz = J_softmax(z)ᵀ · dL/da" if act == "softmax" else
                 f"δ = dL/dz = dL/da * {act}'(z)",
                 "grad_input": "dL/dx = δ @ wᵀ"}
            grads = {"w": "dL/dw = xᵀ @ δ", "b": "dL/db = Σ_rows δ"}
        elif self.kind == "Dropout":
            f = {"input": "x", "output": "a = x * mask",
                 "mask": "mask = 0 (dropped) or 1/(1-p)", "delta": "dL/da",
                 "grad_input": "dL/dx = dL/da * mask"}
            grads = {}
        elif act is not None:
            f = {"input": "z", "output": f"a = {act}(z)", "delta": "dL/da",
                 "grad_input": "dL/dz = J_softmax(z)ᵀ · dL/da" if act == "softmax" else
                 f"dL/dz = dL/da * {act}'(z)"}
            grads = {}
        else:
            f = {"input": "x", "output": f"a = {self.kind}(x)", "delta": "dL/da",
                 "grad_input": "dL/dx"}
            grads = {}
        for name in self.grads:
            f["grad_" + name] = grads.get(name, f"dL/d{name}")
        return f

    def to_dict(self):
        """The fields as a dict (arrays are copies; ``grad_w`` and ``grad_b`` included)."""
        d = {"index": self.index, "name": self.name, "kind": self.kind,
             "activation": self.activation}
        for q in _QUANTITIES + ("grad_output",):
            d[q] = _copy(getattr(self, q))
        d["grad_w"], d["grad_b"] = _copy(self.grad_w), _copy(self.grad_b)
        d["grads"] = {k: _copy(v) for k, v in self.grads.items()}
        d["update"] = {k: _copy(v) for k, v in self.update.items()}
        return d


@dataclass
class StepTrace:
    """One traced training step (:func:`trace`): ``layers`` (a :class:`LayerTrace` per
    layer, also by index or name: ``trace[0]``, ``trace["dense_0"]``), ``loss``,
    ``output`` (the network's output), ``loss_grad`` (dL/d output of the network), the
    batch (``x``, ``y``, ``sample_weight``), the loss and optimiser (their reprs and
    formulas), and ``applied`` (whether the step was taken).

    ``print(trace)`` shows a table naming the formula of each quantity (small arrays in
    full, large ones as min/mean/max and norm); :meth:`to_dict`; :meth:`plot` draws the
    network with its gradients; Jupyter shows an HTML table.
    """
    layers: list
    loss: float
    output: np.ndarray
    loss_grad: np.ndarray
    x: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    loss_name: str
    loss_formula: str
    optimizer_name: str
    update_formula: str
    applied: bool

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, key):
        if isinstance(key, str):
            for rec in self.layers:
                if rec.name == key:
                    return rec
            raise KeyError(f"StepTrace: no layer named {key!r}; the layers are "
                           f"{[r.name for r in self.layers]}")
        return self.layers[key]

    def to_dict(self):
        """Everything as plain dicts and array copies: ``{"loss", "output", "loss_grad",
        "x", "y", "sample_weight", "loss_name", "optimizer", "applied", "layers": [...]}``."""
        return {"loss": _copy(self.loss), "output": _copy(self.output),
                "loss_grad": _copy(self.loss_grad), "x": _copy(self.x), "y": _copy(self.y),
                "sample_weight": _copy(self.sample_weight), "loss_name": self.loss_name,
                "loss_formula": self.loss_formula, "optimizer": self.optimizer_name,
                "update_formula": self.update_formula, "applied": self.applied,
                "layers": [rec.to_dict() for rec in self.layers]}

    # ---------------------------------------------------------------- the table

    def _rows(self):
        """(section, quantity, formula, array) rows of the table."""
        rows = []
        for rec in self.layers:
            f = rec.formulas()
            title = f"[{rec.index}] {rec.name}: {rec.kind}" + \
                (f" ({rec.activation})" if rec.kind == "Dense" else "")
            for q in _QUANTITIES:
                a = getattr(rec, q)
                if a is not None or (q == "grad_input" and rec.index == 0):
                    rows.append((title, q, f.get(q, q), a))
            for name, g in rec.grads.items():
                rows.append((title, "grad_" + name, f["grad_" + name], g))
            for name, u in rec.update.items():
                rows.append((title, "update " + name,
                             self.update_formula.replace("θ", name), u))
        return rows

    def _header(self):
        n = len(self.x)
        state = "the step was taken (apply=True)" if self.applied else \
            "the model and optimiser are unchanged (apply=False)"
        return (f"StepTrace: one step of {self.optimizer_name} on a batch of {n}, "
                f"{self.loss_name}; {state}")

    def __str__(self):
        lines = [self._header()]
        loss_val = np.asarray(self.loss)
        lines.append(f"loss      {self.loss_formula} = {_fmt_value(loss_val)}")
        lead = f"dL/dout   the loss's gradient on the output {_shape(self.loss_grad)}  "
        lines.append(lead + _text(self.loss_grad, len(lead)))
        width = max([len(r[2]) for r in self._rows()] + [10])
        section = None
        for title, q, formula, a in self._rows():
            if title != section:
                lines.append(title)
                section = title
            if a is None:
                value = "None (the first layer skips dL/d input)" if q == "grad_input" \
                    else "None (not held by the optimiser)"
                lines.append(f"    {q:<10} {formula:<{width}}  {value}")
                continue
            lead = f"    {q:<10} {formula:<{width}}  {_shape(a):<10} "
            lines.append(lead + _text(a, len(lead)))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        e = html.escape
        out = [f"<p><b>{e(self._header())}</b><br>loss: {e(self.loss_formula)} = "
               f"{e(_fmt_value(np.asarray(self.loss)))}</p>",
               "<table><tr><th>layer</th><th>quantity</th><th>formula</th><th>shape</th>"
               "<th>values</th></tr>"]
        for title, q, formula, a in self._rows():
            shape = "" if a is None else _shape(a)
            value = "None" if a is None else _text(a, 0)
            out.append(f"<tr><td>{e(title)}</td><td>{e(q)}</td><td>{e(formula)}</td>"
                       f"<td>{e(shape)}</td><td style='text-align:left'><pre>{e(value)}"
                       "</pre></td></tr>")
        out.append("</table>")
        return "".join(out)

    # ---------------------------------------------------------------- the picture

    def plot(self, max_neurons=10, figsize=None):
        """The network as neurons and edges, one column per Dense layer's units (after
        the input column): each edge coloured by the sign and size of its weight's
        gradient dL/dw (red positive, blue negative, relative to the layer's largest),
        each neuron by its delta dL/dz (mean over the batch; one scale for the whole
        network). A layer wider than ``max_neurons`` is drawn as its first units, a
        marker for the ones left out, and its last unit. Returns a
        ``matplotlib.figure.Figure`` (needs matplotlib)."""
        try:
            import matplotlib
            from matplotlib import cm, colors
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("StepTrace.plot needs matplotlib: pip install matplotlib") \
                from e
        dense = [rec for rec in self.layers if rec.kind == "Dense"]
        widths = [self.x.shape[1]] + [rec.output.shape[-1] for rec in dense]
        shown = [_shown_units(n, max(int(max_neurons), 3)) for n in widths]
        tall = max(len(units) for units in shown)
        dx = 3.0
        fig = Figure(figsize=figsize or (2.2 * len(widths) + 2.4, 0.55 * tall + 2.6))
        ax = fig.add_axes([0.02, 0.03, 0.70, 0.8])
        ax.set_axis_off()
        cmap = matplotlib.colormaps["RdBu_r"]
        deltas = [np.mean(rec.delta.reshape(-1, rec.delta.shape[-1]), axis=0) for rec in dense]
        dmax = max([float(np.max(np.abs(d))) for d in deltas if d.size] + [1e-300])
        dnorm, gnorm = colors.Normalize(-dmax, dmax), colors.Normalize(-1.0, 1.0)

        def ypos(col):
            k = len(shown[col])
            return {u: (k - 1) / 2 - j for j, u in enumerate(shown[col])}

        for col, rec in enumerate(dense, start=1):
            g = rec.grad_w
            gmax = float(np.max(np.abs(g))) if g is not None and g.size else 0.0
            for i, yi in ypos(col - 1).items():
                for j, yj in ypos(col).items():
                    if i is None or j is None or g is None:
                        continue
                    r = g[i, j] / gmax if gmax > 0 else 0.0
                    ax.plot([(col - 1) * dx, col * dx], [yi, yj], color=cmap(gnorm(r)),
                            lw=0.5 + 3.5 * abs(r), alpha=0.3 + 0.7 * abs(r), zorder=1)
        label_y = -(tall - 1) / 2 - 0.7
        ax.text(0, label_y, f"input\n{widths[0]} features", ha="center", va="top",
                fontsize=8)
        for col, rec in enumerate(dense, start=1):
            after = []
            for other in self.layers[rec.index + 1:]:
                if other.kind == "Dense":
                    break
                after.append(other.activation or other.kind.lower())
            acts = [rec.activation] if rec.activation not in (None, "identity") else []
            g = rec.grad_w
            norm = float(np.linalg.norm(g)) if g is not None else 0.0
            units = f"{widths[col]} unit" + ("s" if widths[col] > 1 else "")
            ax.text(col * dx, label_y, f"{rec.name}\n{units}"
                    f"{', ' + ' + '.join(acts + after) if acts + after else ''}\n"
                    f"‖dL/dw‖ = {norm:.3g}", ha="center", va="top", fontsize=8)
        small = tall <= 8
        for col, units in enumerate(shown):
            for u, y in ypos(col).items():
                if u is None:
                    ax.text(col * dx, y, f"⋮ +{widths[col] - len(units) + 1}", ha="center",
                            va="center", fontsize=8)
                    continue
                if col == 0:
                    face, label, dark = "0.85", f"x{u + 1}", False
                else:
                    d = deltas[col - 1][u]
                    face, label = cmap(dnorm(d)), (f"{d:.2g}" if small else "")
                    dark = abs(d) > 0.6 * dmax
                ax.scatter([col * dx], [y], s=1400, c=[face], edgecolors="0.2",
                           linewidths=0.8, zorder=2)
                if label:
                    ax.text(col * dx, y, label, ha="center", va="center", fontsize=6.5,
                            color="white" if dark else "black", zorder=3)
        ax.set_xlim(-0.8, (len(widths) - 1) * dx + 0.8)
        ax.set_ylim(label_y - 1.3, (tall - 1) / 2 + 0.6)
        opt = self.optimizer_name.split(",")[0] + (")" if "," in self.optimizer_name else "")
        fig.suptitle(f"one step of {opt}, loss {_fmt_value(np.asarray(self.loss))}\n"
                     "edges: dL/dw (red +, blue −, width ∝ |dL/dw| / layer max); "
                     "neurons: δ = dL/dz (batch mean)", fontsize=9)
        fig.colorbar(cm.ScalarMappable(norm=dnorm, cmap=cmap),
                     cax=fig.add_axes([0.74, 0.12, 0.02, 0.68]), label="neuron δ = dL/dz")
        fig.colorbar(cm.ScalarMappable(norm=gnorm, cmap=cmap),
                     cax=fig.add_axes([0.86, 0.12, 0.02, 0.68]),
                     label="edge dL/dw / layer's largest |dL/dw|")
        return fig


# ------------------------------------------------------------------- formatting

def _copy(a):
    return None if a is None else np.array(a, copy=True)


def _shape(a):
    return str(tuple(np.shape(a)))


def _fmt_value(a):
    if a.ndim == 0:
        return f"{float(a):.10g}"
    return np.array2string(a, precision=6, max_line_width=100)


def _text(a, indent):
    """Small arrays in full, large ones as min / mean / max and the L2 norm."""
    a = np.asarray(a)
    if a.size <= FULL_SIZE:
        text = np.array2string(a, precision=6, max_line_width=max(100 - indent, 40),
                               suppress_small=False)
        return text.replace("\n", "\n" + " " * indent)
    if a.size == 0:
        return "(empty)"
    return (f"min {a.min():.4g}  mean {a.mean():.4g}  max {a.max():.4g}  "
            f"‖·‖ {np.linalg.norm(a.ravel()):.4g}")


def _shown_units(n, limit):
    """The units of a column of ``n`` to draw (None marks the ones left out)."""
    if n <= limit:
        return list(range(n))
    return list(range(limit - 2)) + [None, n - 1]


def _loss_formula(loss_fn, weighted):
    per = {"MSELoss": "(out - y)²", "L1Loss": "|out - y|", "HuberLoss": "huber(out - y)",
           "CrossEntropyLoss": "-log softmax(out)[y]",
           "BCEWithLogitsLoss": "-[y·log σ(out) + (1-y)·log(1-σ(out))]"}.get(
        type(loss_fn).__name__, f"{type(loss_fn).__name__}(out, y)")
    red = loss_fn.reduction
    if red == "sum":
        return f"L = Σ wᵢ·{per}" if weighted else f"L = Σ {per}"
    if red == "mean":
        return f"L = Σ wᵢ·{per} / Σ wᵢ (per output)" if weighted else f"L = mean {per}"
    return f"L = {per} (per sample)"


def _update_formula(opt):
    lr = f"{opt.lr:g}"
    decay = getattr(opt, "weight_decay", 0.0)
    g = f"(dL/dθ + {decay:g}·θ)" if decay else "dL/dθ"
    if type(opt).__name__ == "SGD":
        if not opt.momentum:
            return f"Δθ = -{lr}·{g}"
        v = f"v = {opt.momentum:g}·v + {g}"
        return f"{v}; Δθ = -{lr}·({g} + {opt.momentum:g}·v)" if opt.nesterov \
            else f"{v}; Δθ = -{lr}·v"
    if type(opt).__name__ == "Adam":
        return f"Δθ = -{lr}·m̂/(√v̂ + {opt.eps:g}) (m, v: moments of {g})"
    return f"Δθ = {type(opt).__name__}.step(θ, dL/dθ)"


# ------------------------------------------------------------------- the trace

class _Watch:
    """The hooks that record one layer's forward and backward."""

    def __init__(self, model, i):
        self.layer = model.layers[i]
        layer = self.layer
        self.rec = LayerTrace(i, model.layer_name(i), type(layer).__name__,
                              use_bias=getattr(layer, "b", None) is not None)
        if not isinstance(layer, Dense):
            self.rec.activation = getattr(layer, "activation", None)

    def forward(self, layer, inputs, output):
        rec = self.rec
        rec.input, rec.output = _copy(inputs[0]), _copy(output)
        if isinstance(layer, Dense):
            rec.activation = layer.effective_activation
            x = np.asarray(inputs[0], layer.dtype)
            rec.z = F.dense_forward(x, layer.w.data, None if layer.b is None else layer.b.data,
                                    "identity")
        elif isinstance(layer, Dropout):
            rec.mask = _copy(layer.mask)

    def backward(self, layer, grad_input, grad_output):
        rec = self.rec
        rec.grad_output, rec.grad_input = _copy(grad_output[0]), _copy(grad_input[0])
        rec.delta = _through(rec, layer) if isinstance(layer, Dense) else _copy(grad_output[0])
        rec.grads = {p.name: _copy(p.grad) for p in layer.parameters()}


def _through(rec, layer):
    """dL/dz of a Dense from dL/da, through its activation's derivative (native)."""
    act, g = rec.activation, np.asarray(rec.grad_output, layer.dtype)
    if act == "identity":
        return g.copy()
    if act in FROM_INPUT_KERNELS:
        return FROM_INPUT_KERNELS[act][1](rec.z, g, np.empty_like(rec.z))
    if act == "softmax":
        return F.softmax_backward(rec.output, g)
    if act == "leaky_relu":
        return F.leaky_relu_backward(rec.output, g, layer.slope)
    return getattr(F, act + "_backward")(rec.output, g)


def _dry_update(opt, params):
    """What ``opt.step()`` would add to each of ``params`` (by id), run on copies of the
    parameters, their gradients and the optimiser's state."""
    live = list(opt.params) if opt.bound else list(params)
    memo = {id(p): copy.deepcopy(p) for p in live}
    twin = copy.deepcopy(opt, memo)
    if not opt.bound:
        twin.bind([memo[id(p)] for p in live])
    before = [t.data.copy() for t in twin.params]
    twin.step()
    return {id(p): t.data - b for p, t, b in zip(live, twin.params, before)}


def _sample_weight(sample_weight, n):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"trace: sample_weight must hold real numbers; got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (n,):
        raise ValueError(f"trace: sample_weight must have shape ({n},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("trace: sample_weight must be finite and >= 0")
    return w


def trace(model, x, y, loss=None, optimizer=None, apply=False, sample_weight=None):
    """One training step of ``model`` on ``(x, y)``, every quantity recorded.

    The step is the one :meth:`nncore.Sequential.train_on_batch` takes (forward layer by
    layer, the loss and its gradient, backward layer by layer, the optimiser's update),
    computed by the same native kernels, in training mode (Dropout active).

    Parameters
    ----------
    model : Sequential
    x : array_like (batch, features)
    y : array_like
        Targets, as for ``fit``.
    loss : str or Loss, optional
        Default: the model's last loss, else chosen from ``y`` as ``fit`` does.
    optimizer : Optimizer or str, optional
        Default: the model's last optimiser, else ``SGD(lr=0.01)``. Its ``update`` is
        run on copies of the parameters and of its state (momentum, Adam's moments,
        step count).
    apply : bool
        False (default): the model's weights, gradients and Dropout counters and the
        optimiser are left as they were. True: the step is taken, exactly as one
        ``model.train_on_batch(x, y, loss, optimizer, sample_weight)``.
    sample_weight : array_like (batch,), optional

    Returns
    -------
    StepTrace
        ``trace.layers[i]`` holds layer ``i``'s ``input``, ``z``, ``output``, ``delta``,
        ``grad_w``, ``grad_b`` and ``update``; ``trace.loss`` the loss. Arrays are copies.
    """
    if loss is None:
        loss = model.loss if model.loss is not None else \
            targets_mod.infer_loss(y, targets_mod.output_features(model))[0]
    loss_fn = losses_mod.get(loss)
    x = check_x(model, x, "x", "trace")
    y = check_y(model, y, len(x), loss_fn, "y", "trace")
    w = _sample_weight(sample_weight, len(x))
    opt = optim_mod.get(optimizer if optimizer is not None else
                        (model.optimizer or optim_mod.SGD(lr=0.01)))
    if not isinstance(opt, optim_mod.Optimizer):
        raise TypeError(f"trace: optimizer must be an nncore optimizer; got "
                        f"{type(opt).__name__}")
    params = model.parameters()
    saved_grads = [_copy(p.grad) for p in params]
    saved_calls = [(layer, layer.calls) for layer in model.layers if isinstance(layer, Dropout)]
    watches = [_Watch(model, i) for i in range(len(model.layers))]
    handles = []
    was_training = model.training
    step_loss = loss_fn.with_reduction(loss_fn.reduction)  # the caller's loss keeps its state
    try:
        for watch in watches:
            handles.append(watch.layer.register_forward_hook(watch.forward))
            handles.append(watch.layer.register_full_backward_hook(watch.backward))
        model.train(True)
        with softmax_as_logits(model, step_loss):
            value, out = loss_and_grad(model, step_loss, x, y, sample_weight=w)
            out = _copy(out)
            loss_grad = _copy(step_loss.backward())
        if apply:  # the rest of train_on_batch's step: bind, remember, update
            if not opt.bound:
                opt.bind(params)
            model.loss, model.optimizer = loss_fn, opt
            before = {id(p): p.data.copy() for p in opt.params}
            opt.step()
            updates = {id(p): p.data - before[id(p)] for p in opt.params}
        else:
            updates = _dry_update(opt, params)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if not apply:
            for p, g in zip(params, saved_grads):
                if g is not None:
                    np.copyto(p.grad, g)
            for layer, calls in saved_calls:
                layer.calls = calls
    for watch in watches:
        watch.rec.update = {p.name: updates.get(id(p)) for p in watch.layer.parameters()}
    return StepTrace(layers=[watch.rec for watch in watches],
                     loss=value if np.ndim(value) == 0 else _copy(value),
                     output=out, loss_grad=loss_grad, x=_copy(x), y=_copy(y),
                     sample_weight=_copy(w), loss_name=repr(loss_fn),
                     loss_formula=_loss_formula(loss_fn, w is not None),
                     optimizer_name=repr(opt), update_formula=_update_formula(opt),
                     applied=bool(apply))
