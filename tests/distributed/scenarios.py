"""The distributed test scenarios: each builds a model and its fit arguments, the same
in the one-process reference (the pytest process) and on every rank (worker.py)."""
import numpy as np

import nncore as nc


def _data(n, features, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(dtype)
    labels = (x[:, 0] * 1.5 + x[:, 1] ** 2 - x[:, 2] > 0.3).astype(np.int64) + \
        (x[:, 3] > 0.8).astype(np.int64)
    return x, labels


def _classifier(dtype, seed=3):
    return nc.Sequential([nc.Dense(6, 16, "relu"), nc.Dense(16, 8, "tanh"), nc.Dense(8, 3)],
                         seed=seed, dtype=dtype)


def _regressor(dtype, seed=4):
    return nc.Sequential([nc.Dense(6, 12, "sigmoid"), nc.Dense(12, 2)], seed=seed,
                         dtype=dtype)


def scenario(name):
    """(model, x, y, fit kwargs) for ``name``; worker.py shards the data of the
    ``sharded*`` scenarios (the reference trains on all of it)."""
    if name in ("sgd64_native", "sgd64_python"):
        x, y = _data(203, 6, np.float64, 0)
        kw = dict(loss="cross_entropy", optimizer=nc.SGD(lr=0.05, momentum=0.9),
                  epochs=4, batch_size=32, seed=1, validation_split=0.2,
                  engine=name.split("_")[1])
        return _classifier(np.float64), x, y, kw
    if name in ("adam32_native", "adam32_python"):
        x, _ = _data(150, 6, np.float32, 1)
        y = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1).astype(np.float32)
        w = np.random.default_rng(5).uniform(0.2, 2.0, len(x))
        kw = dict(loss="mse", optimizer=nc.Adam(lr=0.01), epochs=3, batch_size=25, seed=2,
                  sample_weight=w, engine=name.split("_")[1])
        return _regressor(np.float32), x, y, kw
    if name == "adam64_sched":  # Adam, a schedule run between epochs of one native call
        x, y = _data(120, 6, np.float64, 2)
        opt = nc.Adam(lr=0.02)
        kw = dict(loss="cross_entropy", optimizer=opt, epochs=5, batch_size=16, seed=4,
                  lr_scheduler=nc.StepLR(opt, step_size=2, gamma=0.5), engine="native")
        return _classifier(np.float64), x, y, kw
    if name == "tiny_batch":  # batches of 2 rows: with 3 ranks, one rank has none
        x, y = _data(11, 6, np.float64, 3)
        kw = dict(loss="cross_entropy", optimizer=nc.SGD(lr=0.1, momentum=0.5), epochs=3,
                  batch_size=2, seed=5, engine="native")
        return _classifier(np.float64), x, y, kw
    if name == "early_stop":
        x, y = _data(160, 6, np.float64, 4)
        xv, yv = _data(60, 6, np.float64, 5)
        kw = dict(loss="cross_entropy", optimizer=nc.SGD(lr=0.3, momentum=0.9), epochs=30,
                  batch_size=20, seed=6, validation_data=(xv, yv),
                  callbacks=[nc.EarlyStopping(monitor="val_loss", patience=1)])
        return _classifier(np.float64), x, y, kw
    if name in ("sharded64", "sharded64_python", "sharded32"):
        dtype = np.float32 if name == "sharded32" else np.float64
        x, y = _data(157, 6, dtype, 6)
        xv, yv = _data(41, 6, dtype, 7)
        kw = dict(loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3, batch_size=24,
                  seed=7, validation_data=(xv, yv), sample_weight=np.linspace(0.5, 1.5, 157),
                  engine="python" if name.endswith("python") else "auto")
        return _classifier(dtype), x, y, kw
    if name == "sharded_tiny":  # 2 rows on 3 ranks: rank 0 holds none
        x, y = _data(2, 6, np.float64, 8)
        kw = dict(loss="cross_entropy", optimizer=nc.SGD(lr=0.1), epochs=3, batch_size=2,
                  seed=8, sample_weight=np.array([0.5, 2.0]))
        return _classifier(np.float64), x, y, kw
    raise KeyError(name)


SCENARIOS = ["sgd64_native", "sgd64_python", "adam32_native", "adam32_python",
             "adam64_sched", "tiny_batch", "early_stop", "sharded64", "sharded64_python", "sharded32",
             "sharded_tiny"]


def readme_loop(model, x, y, shard=None, allreduce=None):
    """The README's explicit loop (SGD with momentum, batches of 16 per rank); with
    ``shard``/``allreduce`` it is the distributed version with the added lines."""
    opt = nc.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nc.CrossEntropyLoss()
    for _ in range(2):
        for xb, yb in nc.batches(*(shard(x, y) if shard else (x, y)), batch_size=16,
                                 shuffle=True, seed=0):
            loss = loss_fn(model.forward(xb), yb)
            model.backward(loss_fn.backward())
            if allreduce:
                allreduce(model)
            opt.step()
    return loss
