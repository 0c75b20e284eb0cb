"""Optimisers and gradient clipping (the learning-rate schedules live in
``nncore.lr_scheduler`` and are re-exported here).

Updates run in place, every parameter of a step in one native call (the batched twins of
``nncore.functional.sgd_step`` / ``adam_step``, bitwise the same); state buffers are
allocated once, when the optimiser is bound to its parameters.
"""
from __future__ import annotations

import math

import numpy as np

from . import _core
from . import functional as F
from ._layer_base import aligned_zeros_like
from ._validate import check_real

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "StepLR", "ExponentialLR",
           "CosineAnnealingLR", "LambdaLR", "LinearLR", "SequentialLR", "OneCycleLR",
           "ReduceLROnPlateau", "clip_grad_norm_", "clip_grad_value_", "check_bound_to",
           "check_scheduler"]


def clip_grad_norm_(params, max_norm):
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    params : iterable of Parameter
    max_norm : float

    Returns
    -------
    float
        The global norm before clipping (as ``torch.nn.utils.clip_grad_norm_``), computed
        natively (:func:`nncore.functional.clip_grad_norm_`).
    """
    return F.clip_grad_norm_([p.grad for p in params], max_norm)


def clip_grad_value_(params, clip_value):
    """Clip every gradient element into ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    params : iterable of Parameter
    clip_value : float
    """
    F.clip_grad_value_([p.grad for p in params], clip_value)


def _hyper(name):
    """The property of a per-group hyper-parameter: setting it sets it for every group
    (and the defaults of groups to come); reading it gives the first group's. Only these
    names pay for a property: other attributes stay plain (``steps`` moves every step)."""
    def get(self):
        groups = self.__dict__.get("param_groups")
        if groups:
            return groups[0][name]
        defaults = self.__dict__.get("defaults", {})
        if name in defaults:
            return defaults[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def set(self, value):
        self.__dict__.setdefault("defaults", {})[name] = value
        for g in self.__dict__.get("param_groups", ()):
            g[name] = value

    return property(get, set, doc=f"The {name} of every parameter group (reads the first's).")


class Optimizer:
    """Base class: holds parameters, hyper-parameters and per-parameter state.

    ``params`` is a list of parameters or, as in PyTorch, of parameter groups: dicts
    ``{"params": [...], "lr": ..., ...}`` whose keys override the optimiser's
    hyper-parameters for their parameters (``param_groups`` holds every group with all
    its values). Setting a hyper-parameter on the optimiser (``opt.lr = 0.1``) sets it
    for every group; reading it gives the first group's.
    """

    #: Per-group hyper-parameters (the keys of ``param_groups`` besides ``"params"``).
    _hypers = ("lr",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("_hypers", ()):
            setattr(cls, name, _hyper(name))

    def __init__(self, params=None, lr=0.01, clip_norm=None, clip_value=None, no_decay=()):
        fn = type(self).__name__
        if not (isinstance(lr, (int, float)) and lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"{fn}: lr must be a finite number >= 0; got {lr!r}")
        self.lr = float(lr)
        self.clip_norm = None if clip_norm is None else \
            check_real(fn, "clip_norm", clip_norm, 0, low_open=True)
        self.clip_value = None if clip_value is None else \
            check_real(fn, "clip_value", clip_value, 0, low_open=True)
        self.no_decay = list(no_decay or ())
        self.params = []
        self.param_groups = []
        self.state = []
        self.steps = 0
        if params is not None:
            self.bind(params)

    def bind(self, params):
        """Attach the parameters to update (allocates the state buffers once): a list of
        parameters, or of parameter groups (dicts with ``"params"`` and any
        hyper-parameter of this optimiser, as ``torch.optim``)."""
        self.param_groups = _param_groups(self, params)
        self.params = [p for g in self.param_groups for p in g["params"]]
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.state = [self._new_state(p) for p in self.params]
        return self

    def _group_slices(self):
        """Per parameter group: (group, its parameters, their states, their no_decay flags
        or None)."""
        flags = _no_decay_flags(self)
        groups = self.param_groups
        if len(groups) == 1:  # the usual case, once per step: no slicing
            return ((groups[0], self.params, self.state, flags),)
        slices, i = [], 0
        for g in groups:
            n = len(g["params"])
            slices.append((g, self.params[i:i + n], self.state[i:i + n],
                           None if flags is None else flags[i:i + n]))
            i += n
        return slices

    def state_dict(self):
        """The optimiser's state as PyTorch lays it out: ``{"state": {index: {name:
        array}}, "param_groups": [{hyper-parameters..., "params": [indices]}], "steps":
        int}``, with copies of the buffers (what it returns belongs to the caller)."""
        groups, i = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({**{k: v for k, v in g.items() if k != "params"},
                           "params": list(range(i, i + n))})
            i += n
        return {"state": {j: {k: v.copy() for k, v in s.items()}
                          for j, s in enumerate(self.state)},
                "param_groups": groups, "steps": self.steps}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (from an optimiser of the same type
        over parameters of the same shapes, grouped the same way): hyper-parameters per
        group, the step count and every buffer, copied into this optimiser's own."""
        name = f"{type(self).__name__}.load_state_dict"
        if not self.params:
            raise RuntimeError(f"{name}: bind the parameters first")
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(f"{name}: the saved groups hold "
                             f"{[len(g['params']) for g in groups]} parameters; this "
                             f"optimiser's hold {[len(g['params']) for g in self.param_groups]}")
        for g, saved in zip(self.param_groups, groups):
            for k in type(self)._hypers:
                if k in saved:
                    g[k] = tuple(saved[k]) if isinstance(saved[k], list) else saved[k]
        arrays = {}
        for j, s in state_dict["state"].items():
            for k, v in s.items():
                arrays[f"{j}.{k}"] = np.asarray(v)
                i = int(j)
                if i < len(self.state) and k not in self.state[i]:  # e.g. amsgrad's max_v
                    self.state[i][k] = np.zeros_like(self.params[i].data)
        for i, s in enumerate(self.state):
            missing = {k for k in s if f"{i}.{k}" not in arrays}
            if missing:
                raise ValueError(f"{name}: the saved state of parameter {i} lacks "
                                 f"{sorted(missing)}")
        self.load_state_arrays(arrays, state_dict["steps"])

    def decays(self):
        """Per bound parameter, whether ``weight_decay`` applies to it (not in
        ``no_decay``)."""
        skip = {id(p) for p in self.no_decay}
        return [id(p) not in skip for p in self.params]

    @property
    def bound(self):
        return bool(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad.fill(0)

    def step(self):
        """One update of every parameter from its ``grad``."""
        if not self.params:
            raise RuntimeError(f"{type(self).__name__}.step: no parameters (pass them to the "
                               "constructor or call bind)")
        if self.clip_value is not None:
            clip_grad_value_(self.params, self.clip_value)
        if self.clip_norm is not None:
            clip_grad_norm_(self.params, self.clip_norm)
        self.steps += 1
        self._update_all()

    def _new_state(self, p):
        return {}

    def _update(self, p, state):
        raise NotImplementedError

    def _update_all(self):
        for p, s in zip(self.params, self.state):
            self._update(p, s)

    def get_config(self):
        return {"lr": self.lr, "clip_norm": self.clip_norm, "clip_value": self.clip_value}

    def state_arrays(self):
        """The state buffers as a flat dict name -> array (for saving)."""
        out = {}
        for i, s in enumerate(self.state):
            for k, v in s.items():
                out[f"{i}.{k}"] = v
        return out

    def load_state_arrays(self, arrays, steps):
        for key, value in arrays.items():
            i, k = key.split(".", 1)
            i = int(i)
            if i >= len(self.state) or k not in self.state[i]:
                raise ValueError(f"optimizer state {key!r} does not match the parameters")
            if self.state[i][k].shape != value.shape:
                raise ValueError(f"optimizer state {key!r} has shape {value.shape}; expected "
                                 f"{self.state[i][k].shape}")
            self.state[i][k][...] = value
        self.steps = int(steps)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"{type(self).__name__}({args})"


for _name in Optimizer._hypers:
    setattr(Optimizer, _name, _hyper(_name))


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    ``g = grad + weight_decay * w``; with momentum ``v = momentum * v + (1 - dampening) * g``
    and ``g = v`` (or ``g + momentum * v`` for Nesterov); then ``w -= lr * g``, in place
    by ``nncore.functional.sgd_step``. As in torch, the first step sets ``v = g`` (no
    dampening): the step count, saved with the model, tells which step is the first.
    Full-batch, mini-batch and single-sample training differ only in the batches given.

    Parameters
    ----------
    params : iterable of Parameter, optional
        ``fit`` binds the model's parameters when omitted.
    lr : float
    momentum : float
    nesterov : bool
    weight_decay : float
        L2 penalty added to the gradient.
    dampening : float
    no_decay : iterable of Parameter, optional
        Parameters that ``weight_decay`` does not apply to (biases, say: scikit-learn's
        ``alpha`` penalises only the weights).
    clip_norm : float, optional
        Clip the global gradient norm before each update (:func:`clip_grad_norm_`).
    clip_value : float, optional
        Clip each gradient element before each update (:func:`clip_grad_value_`).
    """

    _hypers = ("lr", "momentum", "nesterov", "weight_decay", "dampening")

    def __init__(self, params=None, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 dampening=0.0, clip_norm=None, clip_value=None, no_decay=()):
        momentum = check_real("SGD", "momentum", momentum, 0, 1, high_open=False)
        weight_decay = check_real("SGD", "weight_decay", weight_decay, 0)
        dampening = check_real("SGD", "dampening", dampening, 0, 1, high_open=False)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov requires momentum > 0 and dampening == 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.weight_decay, self.dampening = float(weight_decay), float(dampening)
        super().__init__(params, lr, clip_norm, clip_value, no_decay)

    def _new_state(self, p):
        return {"velocity": aligned_zeros_like(p.data)} if _any_group(self, "momentum") else {}

    def _update(self, p, state):
        decay = self.weight_decay if not self.no_decay or _decays(self, p) else 0.0
        F.sgd_step(p.data, p.grad, state.get("velocity"), lr=self.lr, momentum=self.momentum,
                   weight_decay=decay, nesterov=self.nesterov,
                   dampening=self.dampening, first=self.steps == 1)

    def _update_all(self):
        if type(self)._update is not SGD._update:  # a subclass with its own update
            return super()._update_all()
        for g, params, state, flags in self._group_slices():
            if g["momentum"] and "velocity" not in state[-1]:
                for p, s in zip(params, state):  # momentum turned on after binding
                    if "velocity" not in s:
                        s["velocity"] = aligned_zeros_like(p.data)
            _core.sgd_step_all([p.data for p in params], [p.grad for p in params],
                               [s["velocity"] for s in state] if g["momentum"] else None,
                               lr=g["lr"], momentum=g["momentum"],
                               weight_decay=g["weight_decay"], nesterov=g["nesterov"],
                               dampening=g["dampening"], first=self.steps == 1, no_decay=flags)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "dampening": self.dampening}


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: bias-corrected first and second moments, L2 weight
    decay, updated in place by ``nncore.functional.adam_step``.

    Parameters
    ----------
    params : iterable of Parameter or of parameter groups (dicts), optional
    lr : float
    betas : (float, float)
    eps : float
    weight_decay : float
    amsgrad : bool
        Divide by the running maximum of the second moment (``torch.optim.Adam``'s
        ``amsgrad``).
    clip_norm, clip_value : float, optional
        As for :class:`SGD`.
    no_decay : iterable of Parameter, optional
        As for :class:`SGD`.
    """

    _hypers = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _decoupled = False  # AdamW: weight decay applied to the parameter, not the gradient

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, clip_norm=None, clip_value=None, no_decay=()):
        self.amsgrad = bool(amsgrad)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1); got {betas!r}")
        eps = check_real("Adam", "eps", eps, 0, low_open=True)
        weight_decay = check_real("Adam", "weight_decay", weight_decay, 0)
        self.betas, self.eps, self.weight_decay = (float(b1), float(b2)), float(eps), \
            float(weight_decay)
        super().__init__(params, lr, clip_norm, clip_value, no_decay)

    def _new_state(self, p):
        state = {"m": aligned_zeros_like(p.data), "v": aligned_zeros_like(p.data)}
        if _any_group(self, "amsgrad"):
            state["max_v"] = aligned_zeros_like(p.data)
        return state

    def _update(self, p, state):
        decay = self.weight_decay if not self.no_decay or _decays(self, p) else 0.0
        F.adam_step(p.data, p.grad, state["m"], state["v"], state.get("max_v"),
                    step=self.steps, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                    eps=self.eps, weight_decay=decay, decoupled_weight_decay=self._decoupled)

    def _update_all(self):
        if type(self)._update is not Adam._update:  # a subclass with its own update
            return super()._update_all()
        for g, params, state, flags in self._group_slices():
            if g["amsgrad"] and "max_v" not in state[-1]:
                for p, s in zip(params, state):  # amsgrad turned on after binding
                    if "max_v" not in s:
                        s["max_v"] = aligned_zeros_like(p.data)
            _core.adam_step_all([p.data for p in params], [p.grad for p in params],
                                [s["m"] for s in state], [s["v"] for s in state],
                                [s["max_v"] for s in state] if g["amsgrad"] else None,
                                step=self.steps, lr=g["lr"], beta1=g["betas"][0],
                                beta2=g["betas"][1], eps=g["eps"],
                                weight_decay=g["weight_decay"],
                                decoupled_weight_decay=self._decoupled, no_decay=flags)

    def get_config(self):
        config = {**super().get_config(), "betas": list(self.betas), "eps": self.eps,
                  "weight_decay": self.weight_decay}
        if self.amsgrad:  # written only when on: files of plain Adam stay as they were
            config["amsgrad"] = True
        return config


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, the parameter
    scaled by ``1 - lr * weight_decay`` before each update instead of an L2 term in the
    gradient (``nncore.functional.adam_step(..., decoupled_weight_decay=True)``).

    Parameters
    ----------
    params : iterable of Parameter or of parameter groups (dicts), optional
    lr : float
    betas : (float, float)
    eps : float
    weight_decay : float
        Default 1e-2, as torch.
    amsgrad : bool
    clip_norm, clip_value : float, optional
        As for :class:`SGD`.
    no_decay : iterable of Parameter, optional
        As for :class:`SGD`.
    """

    _decoupled = True

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, clip_norm=None, clip_value=None, no_decay=()):
        if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
            raise ValueError(f"AdamW: weight_decay must be a number >= 0; got {weight_decay!r}")
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, clip_norm, clip_value,
                         no_decay)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: ``square_avg = alpha * square_avg + (1 -
    alpha) g^2``, the step ``g / (sqrt(square_avg) + eps)`` (centered: the variance,
    ``square_avg - grad_avg^2``, in place of ``square_avg``), with optional momentum and
    L2 weight decay; updated in place by ``nncore.functional.rmsprop_step``.

    Parameters
    ----------
    params : iterable of Parameter or of parameter groups (dicts), optional
    lr : float
    alpha : float
        Smoothing constant in [0, 1].
    eps : float
    weight_decay : float
    momentum : float
    centered : bool
    clip_norm, clip_value : float, optional
        As for :class:`SGD`.
    no_decay : iterable of Parameter, optional
        As for :class:`SGD`.
    """

    _hypers = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(self, params=None, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, clip_norm=None, clip_value=None, no_decay=()):
        for name, v in (("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                        ("momentum", momentum)):
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise ValueError(f"RMSprop: {name} must be a finite number >= 0; got {v!r}")
        if alpha > 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1]; got {alpha!r}")
        self.alpha, self.eps, self.weight_decay = float(alpha), float(eps), float(weight_decay)
        self.momentum, self.centered = float(momentum), bool(centered)
        super().__init__(params, lr, clip_norm, clip_value, no_decay)

    def _new_state(self, p):
        state = {"square_avg": aligned_zeros_like(p.data)}
        if _any_group(self, "momentum"):
            state["momentum_buffer"] = aligned_zeros_like(p.data)
        if _any_group(self, "centered"):
            state["grad_avg"] = aligned_zeros_like(p.data)
        return state

    def _update(self, p, state):
        decay = self.weight_decay if _decays(self, p) else 0.0
        F.rmsprop_step(p.data, p.grad, state["square_avg"], state.get("momentum_buffer"),
                       state.get("grad_avg"), lr=self.lr, alpha=self.alpha, eps=self.eps,
                       weight_decay=decay, momentum=self.momentum, centered=self.centered)

    def _update_all(self):
        if type(self)._update is not RMSprop._update:  # a subclass with its own update
            return super()._update_all()
        for g, params, state, flags in self._group_slices():
            for key, on in (("momentum_buffer", g["momentum"]), ("grad_avg", g["centered"])):
                if on and key not in state[-1]:
                    for p, s in zip(params, state):  # turned on after binding
                        if key not in s:
                            s[key] = aligned_zeros_like(p.data)
            _core.rmsprop_step_all(
                [p.data for p in params], [p.grad for p in params],
                [s["square_avg"] for s in state],
                [s["momentum_buffer"] for s in state] if g["momentum"] else None,
                [s["grad_avg"] for s in state] if g["centered"] else None,
                lr=g["lr"], alpha=g["alpha"], eps=g["eps"], weight_decay=g["weight_decay"],
                momentum=g["momentum"], centered=g["centered"], no_decay=flags)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "centered": self.centered}


def _decays(opt, p):
    return not any(p is q for q in opt.no_decay)


def _any_group(opt, key):
    """Whether any parameter group (or, unbound, the optimiser) sets ``key``."""
    groups = opt.param_groups or [opt.defaults]
    return any(g.get(key) for g in groups)


def _param_groups(opt, params):
    """``params`` as a list of complete parameter groups (PyTorch's ``param_groups``)."""
    name = type(opt).__name__
    items = list(params)
    if not any(isinstance(p, dict) for p in items):
        items = [{"params": items}]
    elif not all(isinstance(p, dict) for p in items):
        raise TypeError(f"{name}: params must be parameters or parameter groups (dicts), "
                        "not a mix of both")
    groups = []
    for i, item in enumerate(items):
        unknown = set(item) - {"params", *type(opt)._hypers}
        if unknown or "params" not in item:
            raise ValueError(f"{name}: param group {i} has keys {sorted(item)}; it needs "
                             f"'params' and may set {list(type(opt)._hypers)}")
        group = {**opt.defaults, **item}
        ps = item["params"]
        group["params"] = [ps] if hasattr(ps, "grad") else list(ps)
        lr = group["lr"]
        if not (isinstance(lr, (int, float)) and lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"{name}: param group {i}: lr must be a finite number >= 0; "
                             f"got {lr!r}")
        if "betas" in group:
            group["betas"] = tuple(float(b) for b in group["betas"])
        groups.append(group)
    seen = set()
    for g in groups:
        for p in g["params"]:
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one param group")
            seen.add(id(p))
    return groups


def _no_decay_flags(opt):
    """Per parameter, True where weight_decay does not apply; None when it applies to all."""
    return [not _decays(opt, p) for p in opt.params] if opt.no_decay else None


OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}


def get(optimizer):
    """An optimiser from an instance or a name: ``"sgd"`` (``SGD(lr=0.01)``), ``"adam"``
    (``Adam(lr=1e-3)``), ``"adamw"`` or ``"rmsprop"`` (their defaults; Keras's RMSprop
    defaults differ: pass an instance for those), as Keras users write them."""
    if isinstance(optimizer, str):
        cls = {"sgd": SGD, "adam": Adam, "adamw": AdamW,
               "rmsprop": RMSprop}.get(optimizer.lower())
        if cls is None:
            raise ValueError(f"optimizer must be an nncore optimizer or one of 'sgd', 'adam', "
                             f"'adamw', 'rmsprop'; got {optimizer!r}")
        return cls()
    return optimizer


def check_bound_to(optimizer, model, fn="fit"):
    """ValueError naming the parameters ``optimizer`` updates that are not ``model``'s.

    An optimiser built from another model's parameters (a notebook cell re-run after the
    model was rebuilt) would otherwise train nothing. A subset of the model's parameters
    (a frozen layer left out) is fine.
    """
    own = {id(p) for p in model.parameters()}
    foreign = [(i, p) for i, p in enumerate(optimizer.params) if id(p) not in own]
    if foreign:
        shown = ", ".join(f"params[{i}] ({getattr(p, 'name', '?')}, shape "
                          f"{tuple(np.shape(p))})" for i, p in foreign[:4])
        more = f" and {len(foreign) - 4} more" if len(foreign) > 4 else ""
        raise ValueError(
            f"{fn}: the optimizer {type(optimizer).__name__} updates {len(foreign)} of its "
            f"{len(optimizer.params)} parameters that are not this model's: {shown}{more}; "
            "it was built from another model's parameters (a re-run cell?). Build it "
            "from model.parameters(), or pass it without parameters "
            f"({type(optimizer).__name__}(lr=...)) and fit binds them")


# The schedules, under their historical home too (``nncore.optim.StepLR``, ...).
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler,  # noqa: E402,E501
                           LinearLR, OneCycleLR, ReduceLROnPlateau, SequentialLR, StepLR,
                           check_scheduler)
