"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: each sets every parameter
group's rate from its base rate and the schedule's step count. ``fit`` steps them once per
epoch, or once per batch when ``interval == "step"``. ``nncore.optim`` re-exports every
name here."""
from __future__ import annotations

import math

from ._validate import check_int_at_least, check_real

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "LinearLR",
           "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "check_scheduler",
           "step_schedule"]


def _is_optimizer(obj):
    """An nncore optimiser (checked by its interface: ``nncore.optim`` imports this
    module to re-export the schedules, so this one does not import it back)."""
    return hasattr(obj, "param_groups") and hasattr(obj, "step") and hasattr(obj, "lr")


def check_scheduler(lr_scheduler, optimizer, fn="fit"):
    """ValueError when ``lr_scheduler`` was built on another optimiser than ``optimizer``
    (the one training), whose rate it would change instead; TypeError when it is not a
    schedule."""
    if lr_scheduler is None:
        return
    if not isinstance(lr_scheduler, LRScheduler):
        raise TypeError(f"{fn}: lr_scheduler must be a schedule of nncore.lr_scheduler "
                        f"({', '.join(__all__[1:9])}); got {type(lr_scheduler).__name__}")
    if lr_scheduler.optimizer is not optimizer:
        raise ValueError(
            f"{fn}: lr_scheduler was built on {lr_scheduler.optimizer!r}, but this fit trains "
            f"with another optimizer, {optimizer!r}: build the schedule on the optimizer you "
            "pass as optimizer= (or pass that one)")


class LRScheduler:
    """Sets every parameter group's learning rate from its own base rate (its rate when
    the schedule was made) and the schedule's step count, ``lr_at(epoch, base_lr)``.
    ``step()`` once per epoch, or once per batch when ``interval == "step"`` (``fit``
    reads it: OneCycleLR's default; set ``schedule.interval = "step"`` on any other)."""

    #: "epoch" (``fit`` steps the schedule after each epoch) or "step" (after each batch).
    interval = "epoch"

    def __init__(self, optimizer):
        if not _is_optimizer(optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be an nncore optimizer; "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups] or [optimizer.lr]
        self.base_lr = self.base_lrs[0]
        self.last_epoch = 0

    def step(self):
        self.last_epoch += 1
        self._apply(self.last_epoch)
        return self.optimizer.lr

    def _apply(self, epoch):
        """Set each group's rate for ``epoch``."""
        groups = self.optimizer.param_groups
        if not groups:
            self.optimizer.lr = self.lr_at(epoch, self.base_lrs[0])
            return
        bases = self.base_lrs if len(self.base_lrs) == len(groups) else \
            [self.base_lrs[0]] * len(groups)
        for i, (g, base) in enumerate(zip(groups, bases)):
            g["lr"] = self._group_lr(epoch, base, i)

    def _group_lr(self, epoch, base, i):
        return self.lr_at(epoch, base)

    def get_last_lr(self):
        return self.optimizer.lr

    def state_dict(self):
        """The schedule's counters and rates (as torch: everything but the optimiser and
        callables), for :meth:`load_state_dict`."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
                if k not in ("optimizer", "schedulers", "lr_lambdas")}

    def load_state_dict(self, state):
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v)
                              for k, v in state.items()})

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
    gamma : float
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = check_int_at_least("StepLR", "step_size", step_size, 1)
        self.gamma = check_real("StepLR", "gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
    """

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = check_real("ExponentialLR", "gamma", gamma, 0, low_open=True)

    def lr_at(self, epoch, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        return base * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
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
        self.T_max = check_int_at_least("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_real("CosineAnnealingLR", "eta_min", eta_min, 0)

    def lr_at(self, epoch, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        t = min(epoch, self.T_max)
        return self.eta_min + (base - self.eta_min) * \
            (1 + math.cos(math.pi * t / self.T_max)) / 2


def _per_group(value, n, name, what):
    """``value`` for each of ``n`` groups: a list of n, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} {what} (one per param group); got "
                             f"{len(value)}")
        return list(value)
    return [value] * n


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``, as ``torch.optim.lr_scheduler.LambdaLR`` (the
    factor for epoch 0 applies at once).

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        One function of the step count, or one per param group.
    """

    def __init__(self, optimizer, lr_lambda):
        super().__init__(optimizer)
        self.lr_lambdas = _per_group(lr_lambda, len(self.base_lrs), "LambdaLR",
                                     "lr_lambda functions")
        self._apply(0)

    def _group_lr(self, epoch, base, i):
        return base * self.lr_lambdas[i](epoch)

    def lr_at(self, epoch, base_lr=None):
        return self._group_lr(epoch, self.base_lr if base_lr is None else base_lr, 0)


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the rate's factor from ``start_factor`` to
    ``end_factor`` over ``total_iters`` steps, then held, as
    ``torch.optim.lr_scheduler.LinearLR`` (the start factor applies at once).

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float
        In (0, 1].
    end_factor : float
        In [0, 1].
    total_iters : int
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in "
                             f"[0, 1]; got {start_factor!r} and {end_factor!r}")
        super().__init__(optimizer)
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = int(total_iters)
        self._apply(0)

    def lr_at(self, epoch, base_lr=None):
        base = self.base_lr if base_lr is None else base_lr
        t = min(epoch, self.total_iters)
        return base * (self.start_factor + (self.end_factor - self.start_factor) * t /
                       max(self.total_iters, 1))


class SequentialLR(LRScheduler):
    """Schedules one after another, as ``torch.optim.lr_scheduler.SequentialLR``: the
    i-th runs from ``milestones[i-1]`` (restarting its own count at 0) until
    ``milestones[i]``, every one from the rates the first schedule started from.

    Parameters
    ----------
    optimizer : Optimizer
    schedulers : list of schedules
        Made on ``optimizer``.
    milestones : list of int
        Increasing, one fewer than ``schedulers``.
    """

    def __init__(self, optimizer, schedulers, milestones):
        schedulers, milestones = list(schedulers), [int(m) for m in milestones]
        if len(milestones) != len(schedulers) - 1 or sorted(milestones) != milestones:
            raise ValueError(f"SequentialLR: milestones must be increasing, one fewer than "
                             f"the {len(schedulers)} schedulers; got {milestones}")
        if any(s.optimizer is not optimizer for s in schedulers):
            raise ValueError("SequentialLR: every scheduler must be made on `optimizer`")
        super().__init__(optimizer)
        self.schedulers, self.milestones = schedulers, milestones
        self.base_lrs = list(schedulers[0].base_lrs)
        self.base_lr = self.base_lrs[0]
        for sch in schedulers:
            sch.base_lrs, sch.base_lr = list(self.base_lrs), self.base_lr
        self._apply(0)

    def _locate(self, epoch):
        import bisect
        i = bisect.bisect_right(self.milestones, epoch)
        return self.schedulers[i], epoch - (self.milestones[i - 1] if i else 0)

    def _group_lr(self, epoch, base, i):
        sch, local = self._locate(epoch)
        return sch._group_lr(local, base, i)

    def lr_at(self, epoch, base_lr=None):
        sch, local = self._locate(epoch)
        return sch.lr_at(local, self.base_lr if base_lr is None else base_lr)


class OneCycleLR(LRScheduler):
    """The 1cycle policy, as ``torch.optim.lr_scheduler.OneCycleLR`` (same parameters
    and defaults): the rate rises from ``max_lr / div_factor`` to ``max_lr`` over
    ``pct_start`` of ``total_steps``, then falls to ``initial_lr / final_div_factor``;
    with ``cycle_momentum`` the momentum (SGD, RMSprop) or ``betas[0]`` (Adam, AdamW)
    moves the other way between ``max_momentum`` and ``base_momentum``. Stepped per
    batch (``interval = "step"``); ``total_steps`` or ``epochs`` and
    ``steps_per_epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float
    total_steps : int, optional
    epochs, steps_per_epoch : int, optional
    pct_start : float
    anneal_strategy : {"cos", "linear"}
    cycle_momentum : bool
    base_momentum, max_momentum : float or list of float
    div_factor, final_div_factor : float
    three_phase : bool
    """

    interval = "step"

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = int(epochs) * int(steps_per_epoch)
        if int(total_steps) <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be > 0; got {total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1]; got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear'; got "
                             f"{anneal_strategy!r}")
        super().__init__(optimizer)
        n = len(self.base_lrs)
        self.total_steps = int(total_steps)
        self.anneal_strategy = anneal_strategy
        self.max_lrs = [float(v) for v in _per_group(max_lr, n, "OneCycleLR", "max_lr")]
        self.initial_lrs = [m / div_factor for m in self.max_lrs]
        self.min_lrs = [i / final_div_factor for i in self.initial_lrs]
        self.base_lrs, self.base_lr = list(self.initial_lrs), self.initial_lrs[0]
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentums = [float(v) for v in _per_group(base_momentum, n, "OneCycleLR",
                                                             "base_momentum")]
        self.max_momentums = [float(v) for v in _per_group(max_momentum, n, "OneCycleLR",
                                                            "max_momentum")]
        if self.cycle_momentum and "betas" not in optimizer.defaults and \
                "momentum" not in optimizer.defaults:
            raise ValueError("OneCycleLR: cycle_momentum needs an optimiser with momentum or "
                             "betas (pass cycle_momentum=False)")
        p = float(pct_start * self.total_steps)
        # (end step, start, end) per phase: "i" initial, "x" max, "m" min lr; momentum
        # "M" max, "B" base.
        if three_phase:
            self.phases = [(p - 1, "i", "x", "M", "B"), (2 * p - 2, "x", "i", "B", "M"),
                           (self.total_steps - 1, "i", "m", "M", "M")]
        else:
            self.phases = [(p - 1, "i", "x", "M", "B"), (self.total_steps - 1, "x", "m", "B", "M")]
        self._apply(0)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _values(self, step, i):
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times; total_steps is "
                             f"{self.total_steps}")
        lrs = {"i": self.initial_lrs[i], "x": self.max_lrs[i], "m": self.min_lrs[i]}
        moms = {"M": self.max_momentums[i], "B": self.base_momentums[i]}
        start = 0.0
        for k, (end, s_lr, e_lr, s_m, e_m) in enumerate(self.phases):
            if step <= end or k == len(self.phases) - 1:
                pct = (step - start) / (end - start)
                return (self._anneal(lrs[s_lr], lrs[e_lr], pct),
                        self._anneal(moms[s_m], moms[e_m], pct))
            start = end

    def _apply(self, epoch):
        groups = self.optimizer.param_groups or [None]
        for i, g in enumerate(groups):
            lr, mom = self._values(epoch, i)
            if g is None:
                self.optimizer.lr = lr
            else:
                g["lr"] = lr
            if self.cycle_momentum:
                target = self.optimizer.defaults if g is None else g
                if "betas" in target:
                    target["betas"] = (mom, *tuple(target["betas"])[1:])
                else:
                    target["momentum"] = mom

    def lr_at(self, epoch, base_lr=None):
        return self._values(epoch, 0)[0]


class ReduceLROnPlateau(LRScheduler):
    """Lower the rate when a monitored value stops improving, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (same parameters and defaults):
    ``step(value)``. In ``fit`` it reads ``monitor`` (default ``"val_loss"``, Keras's
    name; ``"loss"`` when there is no validation) from the epoch's logs.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}
    factor : float
        In [0, 1).
    patience : int
    threshold : float
    threshold_mode : {"rel", "abs"}
    cooldown : int
    min_lr : float or list of float
    eps : float
        Changes smaller than this are not made.
    monitor : str
        The log ``fit`` passes to ``step``.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8, monitor="val_loss"):
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1); got {factor!r}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and "
                             f"threshold_mode 'rel' or 'abs'; got {mode!r}, {threshold_mode!r}")
        super().__init__(optimizer)
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps, self.monitor = int(cooldown), float(eps), monitor
        self.min_lrs = [float(v) for v in _per_group(min_lr, len(self.base_lrs),
                                                     "ReduceLROnPlateau", "min_lr")]
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, a):
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
                        else self.best - self.threshold)
        return a > (self.best * (self.threshold + 1) if self.threshold_mode == "rel"
                    else self.best + self.threshold)

    def step(self, metrics):
        """One epoch's value of the monitored quantity."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups or [self.optimizer.defaults]  # unbound
            for i, g in enumerate(groups):
                old = float(g["lr"])
                new = max(old * self.factor, self.min_lrs[min(i, len(self.min_lrs) - 1)])
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.optimizer.lr

    def step_epoch(self, logs):
        """``fit``'s call after each epoch: ``step(logs[monitor])`` (``"loss"`` when
        ``monitor`` is ``"val_loss"`` and there is no validation); a warning when the
        log is missing, as Keras."""
        key = self.monitor
        if key not in logs and key == "val_loss" and "loss" in logs:
            key = "loss"
        if key not in logs:
            import warnings
            warnings.warn(f"ReduceLROnPlateau: the monitored value {self.monitor!r} is not "
                          f"in the logs ({sorted(logs)}); the rate is unchanged",
                          RuntimeWarning, stacklevel=2)
            return self.optimizer.lr
        return self.step(logs[key])


def step_schedule(schedule, logs):
    """``fit``'s epoch-end call of a schedule: ``step_epoch(logs)`` where the schedule
    reads the logs (ReduceLROnPlateau), else ``step()``."""
    if hasattr(schedule, "step_epoch"):
        return schedule.step_epoch(logs)
    return schedule.step()
