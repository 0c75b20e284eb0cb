"""Optimisers, learning-rate schedules and gradient clipping.

Updates run in place, every parameter of a step in one native call (the batched twins of
``nncore.functional.sgd_step`` / ``adam_step``, bitwise the same); state buffers are
allocated once, when the optimiser is bound to its parameters.
"""
from __future__ import annotations

import math

import numpy as np

from . import _core
from . import functional as F

__all__ = ["Optimizer", "SGD", "Adam", "StepLR", "ExponentialLR", "CosineAnnealingLR",
           "clip_grad_norm_", "clip_grad_value_", "check_bound_to", "check_scheduler"]


def _real(fn, name, value, low=None, high=None, low_open=False, high_open=True):
    """``value`` as a float after checking it is a finite real number in the given range
    (TypeError / ValueError naming ``fn`` and ``name``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a real number; got {type(value).__name__}")
    v = float(value)
    bad = not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) \
        or (high is not None and (v >= high if high_open else v > high))
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}, "
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        where = f" in {lo}{hi}" if lo and hi else (f" {'>' if low_open else '>='} {low:g}"
                                                   if lo else "")
        raise ValueError(f"{fn}: {name} must be a finite number{where}; got {value!r}")
    return v


def _int_at_least(fn, name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{fn}: {name} must be an int >= {low}; got {value!r}")
    return int(value)


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


class Optimizer:
    """Base class: holds parameters, hyper-parameters and per-parameter state."""

    def __init__(self, params=None, lr=0.01, clip_norm=None, clip_value=None, no_decay=()):
        fn = type(self).__name__
        if not (isinstance(lr, (int, float)) and lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"{fn}: lr must be a finite number >= 0; got {lr!r}")
        self.lr = float(lr)
        self.clip_norm = None if clip_norm is None else \
            _real(fn, "clip_norm", clip_norm, 0, low_open=True)
        self.clip_value = None if clip_value is None else \
            _real(fn, "clip_value", clip_value, 0, low_open=True)
        self.no_decay = list(no_decay or ())
        self.params = []
        self.state = []
        self.steps = 0
        if params is not None:
            self.bind(params)

    def bind(self, params):
        """Attach the parameters to update (allocates the state buffers once)."""
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.state = [self._new_state(p) for p in self.params]
        return self

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

    def __init__(self, params=None, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 dampening=0.0, clip_norm=None, clip_value=None, no_decay=()):
        momentum = _real("SGD", "momentum", momentum, 0, 1, high_open=False)
        weight_decay = _real("SGD", "weight_decay", weight_decay, 0)
        dampening = _real("SGD", "dampening", dampening, 0, 1, high_open=False)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov requires momentum > 0 and dampening == 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.weight_decay, self.dampening = float(weight_decay), float(dampening)
        super().__init__(params, lr, clip_norm, clip_value, no_decay)

    def _new_state(self, p):
        return {"velocity": np.zeros_like(p.data)} if self.momentum else {}

    def _update(self, p, state):
        decay = self.weight_decay if not self.no_decay or _decays(self, p) else 0.0
        F.sgd_step(p.data, p.grad, state.get("velocity"), lr=self.lr, momentum=self.momentum,
                   weight_decay=decay, nesterov=self.nesterov,
                   dampening=self.dampening, first=self.steps == 1)

    def _update_all(self):
        if type(self)._update is not SGD._update:  # a subclass with its own update
            return super()._update_all()
        _core.sgd_step_all([p.data for p in self.params], [p.grad for p in self.params],
                           [s.get("velocity") for s in self.state] if self.momentum else None,
                           lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
                           nesterov=self.nesterov, dampening=self.dampening,
                           first=self.steps == 1, no_decay=_no_decay_flags(self))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "dampening": self.dampening}


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam``: bias-corrected first and second moments, L2 weight
    decay, updated in place by ``nncore.functional.adam_step``.

    Parameters
    ----------
    params : iterable of Parameter, optional
    lr : float
    betas : (float, float)
    eps : float
    weight_decay : float
    clip_norm, clip_value : float, optional
        As for :class:`SGD`.
    no_decay : iterable of Parameter, optional
        As for :class:`SGD`.
    """

    def __init__(self, params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 clip_norm=None, clip_value=None, no_decay=()):
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam: betas must be in [0, 1); got {betas!r}")
        eps = _real("Adam", "eps", eps, 0, low_open=True)
        weight_decay = _real("Adam", "weight_decay", weight_decay, 0)
        self.betas, self.eps, self.weight_decay = (float(b1), float(b2)), float(eps), \
            float(weight_decay)
        super().__init__(params, lr, clip_norm, clip_value, no_decay)

    def _new_state(self, p):
        return {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)}

    def _update(self, p, state):
        decay = self.weight_decay if not self.no_decay or _decays(self, p) else 0.0
        F.adam_step(p.data, p.grad, state["m"], state["v"], step=self.steps, lr=self.lr,
                    beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    weight_decay=decay)

    def _update_all(self):
        if type(self)._update is not Adam._update:  # a subclass with its own update
            return super()._update_all()
        _core.adam_step_all([p.data for p in self.params], [p.grad for p in self.params],
                            [s["m"] for s in self.state], [s["v"] for s in self.state],
                            step=self.steps, lr=self.lr, beta1=self.betas[0],
                            beta2=self.betas[1], eps=self.eps, weight_decay=self.weight_decay,
                            no_decay=_no_decay_flags(self))

    def get_config(self):
        return {**super().get_config(), "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay}


def _decays(opt, p):
    return not any(p is q for q in opt.no_decay)


def _no_decay_flags(opt):
    """Per parameter, True where weight_decay does not apply; None when it applies to all."""
    return [not _decays(opt, p) for p in opt.params] if opt.no_decay else None


OPTIMIZERS = {"SGD": SGD, "Adam": Adam}


def get(optimizer):
    """An optimiser from an instance or a name: ``"sgd"`` (``SGD(lr=0.01)``) or ``"adam"``
    (``Adam(lr=1e-3)``), as Keras users write them."""
    if isinstance(optimizer, str):
        cls = {"sgd": SGD, "adam": Adam}.get(optimizer.lower())
        if cls is None:
            raise ValueError(f"optimizer must be an nncore optimizer or one of 'sgd', 'adam'; "
                             f"got {optimizer!r}")
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


def check_scheduler(lr_scheduler, optimizer, fn="fit"):
    """ValueError when ``lr_scheduler`` was built on another optimiser than ``optimizer``
    (the one training), whose rate it would change instead; TypeError when it is not a
    schedule."""
    if lr_scheduler is None:
        return
    if not isinstance(lr_scheduler, _Schedule):
        raise TypeError(f"{fn}: lr_scheduler must be an nncore schedule (StepLR, "
                        f"ExponentialLR, CosineAnnealingLR); got {type(lr_scheduler).__name__}")
    if lr_scheduler.optimizer is not optimizer:
        raise ValueError(
            f"{fn}: lr_scheduler was built on {lr_scheduler.optimizer!r}, but this fit trains "
            f"with another optimizer, {optimizer!r}: build the schedule on the optimizer you "
            "pass as optimizer= (or pass that one)")


class _Schedule:
    """Sets ``optimizer.lr`` from the epoch count; call ``step()`` once per epoch."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be an nncore optimizer; "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)
        return self.optimizer.lr

    def get_last_lr(self):
        return self.optimizer.lr


class StepLR(_Schedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
    gamma : float
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = _int_at_least("StepLR", "step_size", step_size, 1)
        self.gamma = _real("StepLR", "gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(_Schedule):
    """``lr = base_lr * gamma ** epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
    """

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = _real("ExponentialLR", "gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(_Schedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``, held at
    ``eta_min`` after ``T_max`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
    eta_min : float
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max = _int_at_least("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _real("CosineAnnealingLR", "eta_min", eta_min, 0)

    def lr_at(self, epoch):
        t = min(epoch, self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * \
            (1 + math.cos(math.pi * t / self.T_max)) / 2
