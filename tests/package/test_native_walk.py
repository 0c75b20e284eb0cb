"""The registry walk of issue 20: every activation, layer class, loss, optimiser and
epoch schedule nncore has, health=True, sample and class weights, Dropout and validation,
in float32 and float64, at 1 and 2 threads and under every kernel set the CPU has: the
native engine runs it (``engine="auto"`` picks it), bitwise equal to the python engine
(weights, gradients, optimiser state, History).

The cases are derived from the registries (``nncore.activations.ACTIVATIONS``, the layer
classes ``nncore`` exports, the Loss subclasses of ``nncore.losses``,
``nncore.optim.OPTIMIZERS`` and the schedule classes of ``nncore.lr_scheduler``), so a new entry
is walked without editing this file."""
import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc
from nncore import losses as losses_mod
from nncore import lr_scheduler
from nncore import optim as optim_mod
from nncore.activations import ACTIVATIONS

N, FEATURES, CLASSES = 40, 5, 3


def _layer_classes():
    """Every layer class nncore exports (a concrete subclass of nncore's Layer)."""
    return sorted({obj for obj in vars(nc).values() if inspect.isclass(obj) and
                   issubclass(obj, nc.layers.Layer) and obj is not nc.layers.Layer},
                  key=lambda c: c.__name__)


def _layer_case(cls):
    """A small model holding one instance of ``cls`` between Dense layers."""
    name = cls.__name__
    if name == "Dense":
        return [nc.Dense(FEATURES, 8, "relu"), nc.Dense(8, CLASSES)]
    if name == "Flatten":
        return [nc.Flatten(), nc.Dense(FEATURES, 8, "tanh"), nc.Dense(8, CLASSES)]
    if name == "Residual":
        return [nc.Dense(FEATURES, 8), nc.Residual(nc.Dense(8, 8, "relu"), nc.Dropout(0.2)),
                nc.Dense(8, CLASSES)]
    if name in ("LayerNorm", "BatchNorm1d"):
        return [nc.Dense(FEATURES, 8), cls(8), nc.ReLU(), nc.Dense(8, CLASSES)]
    if name == "Dropout":
        return [nc.Dense(FEATURES, 8, "relu"), cls(0.3), nc.Dense(8, CLASSES)]
    return [nc.Dense(FEATURES, 8), cls(), nc.Dense(8, CLASSES)]  # an activation layer


def cases():
    """name -> (layers factory, fit keyword arguments, targets kind)."""
    out = {}
    for act in ACTIVATIONS:
        out[f"dense_{act}"] = (lambda a=act: [nc.Dense(FEATURES, 8, a), nc.Dense(8, CLASSES)],
                               {}, "labels")
    for cls in _layer_classes():
        out[f"layer_{cls.__name__}"] = (lambda c=cls: _layer_case(c), {}, "labels")
    for cls in sorted(vars(losses_mod).values(), key=str):
        if inspect.isclass(cls) and issubclass(cls, losses_mod.Loss) and \
                cls is not losses_mod.Loss:
            kind = "labels" if cls is losses_mod.CrossEntropyLoss else \
                "binary" if cls is losses_mod.BCEWithLogitsLoss else "values"
            out[f"loss_{cls.__name__}"] = (
                lambda k=kind: [nc.Dense(FEATURES, 8, "tanh"),
                                nc.Dense(8, 1 if k == "binary" else CLASSES)],
                {"loss": cls()}, kind)
    out["loss_CrossEntropyLoss_weight_smoothing"] = (
        lambda: [nc.Dense(FEATURES, 8, "tanh"), nc.Dense(8, CLASSES)],
        {"loss": nc.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.1)}, "labels")
    for name in optim_mod.OPTIMIZERS:
        out[f"optimizer_{name}"] = (
            lambda: [nc.Dense(FEATURES, 8, "relu"), nc.Dense(8, CLASSES)],
            {"optimizer": name}, "labels")
    out["health_weights_validation"] = (
        lambda: [nc.Dense(FEATURES, 8, "sigmoid"), nc.Dropout(0.1), nc.Dense(8, CLASSES)],
        {"health": True, "class_weight": "balanced", "validation_split": 0.25}, "labels")
    out["sample_weights"] = (lambda: [nc.Dense(FEATURES, 8, "relu"), nc.Dense(8, CLASSES)],
                             {"sample_weight": True}, "labels")
    return out


SCHEDULES = {  # epoch-level schedules with the arguments a user would give
    "StepLR": lambda o: nc.StepLR(o, step_size=1, gamma=0.5),
    "ExponentialLR": lambda o: nc.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: nc.CosineAnnealingLR(o, T_max=3),
    "LambdaLR": lambda o: nc.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "LinearLR": lambda o: nc.LinearLR(o, start_factor=0.5, total_iters=2),
    "SequentialLR": lambda o: nc.SequentialLR(
        o, [nc.LinearLR(o, start_factor=0.5, total_iters=1), nc.StepLR(o, 1)],
        milestones=[1]),
    "ReduceLROnPlateau": lambda o: nc.ReduceLROnPlateau(o, patience=0, monitor="loss"),
    "OneCycleLR": lambda o: _per_epoch(nc.OneCycleLR(o, max_lr=0.1, total_steps=4)),
    # stepped after every batch (OneCycleLR's default interval, or any schedule's "step")
    "OneCycleLR per batch": lambda o: nc.OneCycleLR(o, max_lr=0.1, total_steps=9),
    "LinearLR per batch": lambda o: _per_batch(nc.LinearLR(o, start_factor=0.2,
                                                            total_iters=5)),
}


def _per_epoch(schedule):
    schedule.interval = "epoch"
    return schedule


def _per_batch(schedule):
    schedule.interval = "step"
    return schedule


def _schedule_classes():
    base = lr_scheduler.LRScheduler
    return sorted(c.__name__ for c in vars(lr_scheduler).values()
                  if inspect.isclass(c) and issubclass(c, base) and c is not base)


def _data(kind, dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, FEATURES))
    if kind == "labels":
        y = rng.integers(0, CLASSES, N)
    elif kind == "binary":
        y = rng.integers(0, 2, N).astype(np.float64)
    else:
        y = rng.standard_normal((N, CLASSES))
    return x.astype(dtype), y


def run_case(name, dtype, threads, schedule=None):
    """Fit the case with each engine; '' when they agree bit for bit, else what differs."""
    layers, kw, kind = cases()[name] if schedule is None else \
        (lambda: [nc.Dense(FEATURES, 8, "relu"), nc.Dense(8, CLASSES)], {}, "labels")
    x, y = _data(kind, dtype)
    if name == "layer_Flatten":
        x = x.reshape(N, 1, FEATURES)
    kw = dict(kw)
    if kw.get("sample_weight") is True:
        kw["sample_weight"] = np.linspace(0.5, 1.5, N)
    got = {}
    for engine in ("python", "auto"):
        model = nc.Sequential(*layers(), seed=3, dtype=dtype)
        fit = dict(kw)
        if isinstance(fit.get("loss"), losses_mod.Loss):
            fit["loss"] = type(fit["loss"])(**{k: v for k, v in fit["loss"].get_config().items()
                                               if k != "reduction"})
        opt = nc.optim.get(fit.pop("optimizer", "sgd" if schedule is None else
                                   nc.SGD(lr=0.05, momentum=0.9)))
        opt.bind(model.parameters())
        if schedule is not None:
            fit["lr_scheduler"] = SCHEDULES[schedule](opt)
        with nc.threads(threads):
            h = model.fit(x, y, optimizer=opt, epochs=3, batch_size=16, seed=0, verbose=0,
                          engine=engine, **fit)
        got[engine] = (h, model, opt)
    (hp, mp, op), (ha, ma, oa) = got["python"], got["auto"]
    if ha.engine != "native":
        return f"engine='auto' ran {ha.engine}"
    for (pname, p), (_, q) in zip(mp.named_parameters(), ma.named_parameters()):
        if p.data.tobytes() != q.data.tobytes() or p.grad.tobytes() != q.grad.tobytes():
            return f"{pname} differs"
    sp, sa = op.state_arrays(), oa.state_arrays()
    if sp.keys() != sa.keys() or any(sp[k].tobytes() != sa[k].tobytes() for k in sp):
        return "optimizer state differs"
    strip = lambda hist: {k: v for k, v in hist.items() if k != "epoch_time"}  # noqa: E731
    if strip(hp.history) != strip(ha.history) or hp.health != ha.health:
        return "History differs"
    return ""


ALL = sorted(cases())


def test_the_walk_covers_every_registry():
    names = set(ALL)
    assert {f"dense_{a}" for a in ACTIVATIONS} <= names
    assert {f"layer_{c.__name__}" for c in _layer_classes()} >= {
        "layer_Dense", "layer_Dropout", "layer_LayerNorm", "layer_BatchNorm1d",
        "layer_Residual", "layer_Flatten", "layer_ReLU", "layer_GELU", "layer_Softmax"}
    assert {f"optimizer_{o}" for o in optim_mod.OPTIMIZERS} <= names
    # a new schedule needs its arguments here
    assert set(_schedule_classes()) == {name.split()[0] for name in SCHEDULES}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ALL)
def test_native_runs_it_bitwise(name, dtype, threads):
    assert run_case(name, dtype, threads) == ""


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_native_runs_every_epoch_schedule_bitwise(schedule):
    assert run_case("schedule", "float32", 2, schedule=schedule) == ""


def _supported_isas():
    return nc.config()["isa_supported"]


@pytest.mark.parametrize("isa", [i for i in ("generic", "avx2", "avx512")])
def test_under_every_kernel_set(isa):
    if isa not in _supported_isas():
        pytest.skip(f"this CPU has no {isa}")  # not this machine's to test
    code = ("import json, sys; sys.path.insert(0, %r); import test_native_walk as w; "
            "import nncore; assert nncore.config()['isa'] == %r; "
            "print(json.dumps({n: w.run_case(n, d, t) for n in w.ALL "
            "for d, t in (('float32', 2), ('float64', 1))}))") % (os.path.dirname(__file__), isa)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, NNCORE_ISA=isa), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = {k: v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items() if v}
    assert not failures, failures
