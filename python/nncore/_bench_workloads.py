"""The training workloads of ``python -m nncore bench`` and each implementation of them:
nncore ``fit`` (native and python engines), the README's step loop, a plain NumPy loop,
pure Python, and PyTorch / scikit-learn when they import. Each ``*_loop`` returns a
``unit(epochs)`` that trains that many epochs from where it left off.
"""
from __future__ import annotations

import math
import random
import warnings

import numpy as np

import nncore as nc

#: name: (layer sizes, hidden activation, output activation, loss, batch (None = full),
#: rows, learning rate, biases)
WORKLOADS = {
    "xor_3-4-1": ((3, 4, 1), "sigmoid", "sigmoid", "mse", None, 4, 0.5, False),
    "xor_2-4-1": ((2, 4, 1), "sigmoid", "sigmoid", "mse", None, 4, 0.5, True),
    "tabular_20-64-64-1": ((20, 64, 64, 1), "relu", "identity", "mse", 32, 10_000, 0.01, True),
    "mnist_784-256-128-10": ((784, 256, 128, 10), "relu", "identity", "cross_entropy", 64,
                             60_000, 0.01, True),
    "wide_1024-1024-1024-10": ((1024, 1024, 1024, 10), "relu", "identity", "cross_entropy",
                               256, 16_000, 0.01, True),
}


def workload_data(name, seed=0):
    """(x, y) float32 for a workload: XOR's truth table (with a constant input for the
    bias-free 3-4-1 net of the seeds), else random rows with random targets."""
    sizes, _, _, loss, _, n, _, _ = WORKLOADS[name]
    if name.startswith("xor"):
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
        if sizes[0] == 3:
            x = np.hstack([x, np.ones((4, 1), np.float32)])
        return x, np.array([[0], [1], [1], [0]], np.float32)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    if loss == "cross_entropy":
        return x, rng.integers(0, sizes[-1], n)
    return x, rng.standard_normal((n, sizes[-1]), dtype=np.float32)


def _nncore_model(name):
    sizes, hidden, out, _, _, _, _, bias = WORKLOADS[name]
    layers = [nc.Dense(a, b, hidden if i < len(sizes) - 2 else out, use_bias=bias)
              for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return nc.Sequential(layers, seed=0)


def nncore_fit(name, x, y, engine):
    """One unit: ``model.fit`` over `epochs` epochs."""
    _, _, _, loss, batch, _, lr, _ = WORKLOADS[name]
    model = _nncore_model(name)
    opt = nc.SGD(lr=lr)

    def unit(epochs):
        model.fit(x, y, loss=loss, optimizer=opt, epochs=epochs, batch_size=batch, seed=0,
                  verbose=0, engine=engine)
    return unit


def nncore_step_loop(name, x, y):
    """The README's explicit step loop."""
    _, _, _, loss, batch, _, lr, _ = WORKLOADS[name]
    model = _nncore_model(name)
    opt = nc.SGD(model.parameters(), lr=lr)
    loss_fn = nc.losses.get(loss)
    bs = batch or len(x)

    def unit(epochs):
        for e in range(epochs):
            for xb, yb in nc.batches(x, y, batch_size=bs, shuffle=True, seed=e):
                loss_fn(model.forward(xb), yb)
                model.backward(loss_fn.backward())
                opt.step()
    return unit


def _act(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    return z


def _act_grad(name, y, g):
    if name == "relu":
        return g * (y > 0)
    if name == "sigmoid":
        return g * y * (1 - y)
    return g


def numpy_loop(name, x, y):
    """The same maths as a plain NumPy loop (what a learner writes after the seeds)."""
    sizes, hidden, out, loss, batch, _, lr, bias = WORKLOADS[name]
    model = _nncore_model(name)
    ws = [np.array(layer.w.data) for layer in model.layers]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    acts = [hidden] * (len(ws) - 1) + [out]
    n, size = len(x), batch or len(x)
    rng = np.random.default_rng(0)
    lr = np.float32(lr)

    def unit(epochs):
        for _ in range(epochs):
            order = rng.permutation(n)
            for s in range(0, n, size):
                idx = order[s:s + size]
                a = [x[idx]]
                for w, b, act in zip(ws, bs, acts):
                    a.append(_act(act, a[-1] @ w + b if bias else a[-1] @ w))
                o, t = a[-1], y[idx]
                if loss == "mse":
                    g = 2 * (o - t) / np.float32(o.size)
                else:
                    p = np.exp(o - o.max(axis=1, keepdims=True))
                    p /= p.sum(axis=1, keepdims=True)
                    p[np.arange(len(idx)), t] -= 1
                    g = p / np.float32(len(idx))
                for i in range(len(ws) - 1, -1, -1):
                    g = _act_grad(acts[i], a[i + 1], g)
                    gw = a[i].T @ g
                    if i:
                        g_prev = g @ ws[i].T
                    if bias:
                        bs[i] -= lr * g.sum(axis=0)
                    ws[i] -= lr * gw
                    if i:
                        g = g_prev
    return unit


def pure_python(name, x, y, max_steps=None):
    """Lists and the math module: forward and backward sample by sample (XOR, tabular).
    With `max_steps`, a unit runs that many steps (the caller scales to an epoch)."""
    sizes, hidden, out, loss, batch, _, lr, bias = WORKLOADS[name]
    model = _nncore_model(name)
    ws = [layer.w.data.astype(float).tolist() for layer in model.layers]
    bs = [[0.0] * b for b in sizes[1:]]
    acts = [hidden] * (len(ws) - 1) + [out]
    xs, ys = x.astype(float).tolist(), np.asarray(y, float).reshape(len(y), -1).tolist()
    n, size = len(xs), batch or len(xs)
    order = list(range(n))
    rnd = random.Random(0)

    def f(act, z):
        return max(z, 0.0) if act == "relu" else 1 / (1 + math.exp(-z)) if act == "sigmoid" \
            else z

    def df(act, a):
        return (1.0 if a > 0 else 0.0) if act == "relu" else a * (1 - a) \
            if act == "sigmoid" else 1.0

    def step(idx):
        gws = [[[0.0] * len(w[0]) for _ in w] for w in ws]
        gbs = [[0.0] * len(b) for b in bs]
        for r in idx:
            a = [xs[r]]
            for w, b, act in zip(ws, bs, acts):
                prev = a[-1]
                a.append([f(act, sum(prev[i] * w[i][j] for i in range(len(prev))) + b[j])
                          for j in range(len(b))])
            g = [2 * (o - t) / (len(idx) * len(a[-1])) for o, t in zip(a[-1], ys[r])]
            for li in range(len(ws) - 1, -1, -1):
                g = [gj * df(acts[li], aj) for gj, aj in zip(g, a[li + 1])]
                prev, w = a[li], ws[li]
                for i in range(len(prev)):
                    row = gws[li][i]
                    for j in range(len(g)):
                        row[j] += prev[i] * g[j]
                for j in range(len(g)):
                    gbs[li][j] += g[j]
                g = [sum(w[i][j] * g[j] for j in range(len(g))) for i in range(len(prev))]
        for li, w in enumerate(ws):
            for i in range(len(w)):
                for j in range(len(w[i])):
                    w[i][j] -= lr * gws[li][i][j]
            if bias:
                for j in range(len(bs[li])):
                    bs[li][j] -= lr * gbs[li][j]

    def unit(epochs):
        done = 0
        for _ in range(epochs):
            rnd.shuffle(order)
            for s in range(0, n, size):
                step(order[s:s + size])
                done += 1
                if max_steps and done >= max_steps:
                    return
    return unit


def torch_loop(name, x, y):
    """nn.Sequential + torch.optim.SGD over contiguous slices of a shuffled copy."""
    import torch
    sizes, hidden, out, loss, batch, _, lr, bias = WORKLOADS[name]
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(a, b, bias=bias))
        act = hidden if i < len(sizes) - 2 else out
        if act != "identity":
            mods.append(torch.nn.ReLU() if act == "relu" else torch.nn.Sigmoid())
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    lf = torch.nn.MSELoss() if loss == "mse" else torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(x))
    ty = torch.from_numpy(np.ascontiguousarray(y if loss == "mse" else y.astype(np.int64)))
    n, size = len(x), batch or len(x)

    def unit(epochs):
        for _ in range(epochs):
            perm = torch.randperm(n)
            xs, ys = tx[perm], ty[perm]
            for s in range(0, n, size):
                opt.zero_grad(set_to_none=True)
                lf(net(xs[s:s + size]), ys[s:s + size]).backward()
                opt.step()
    return unit


def sklearn_loop(name, x, y):
    """MLPClassifier / MLPRegressor, solver='sgd', momentum 0, one epoch per fit, warm."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    sizes, hidden, _, loss, batch, _, lr, _ = WORKLOADS[name]
    cls = MLPClassifier if loss == "cross_entropy" else MLPRegressor
    yy = y if loss == "cross_entropy" else np.asarray(y).ravel()

    def make(epochs):
        return cls(hidden_layer_sizes=sizes[1:-1], activation="relu" if hidden == "relu"
                   else "logistic", solver="sgd", momentum=0.0, learning_rate_init=lr,
                   batch_size=batch or len(x), max_iter=epochs, warm_start=True, alpha=0.0,
                   tol=0.0, n_iter_no_change=10**9, shuffle=True, random_state=0)
    models = {}

    def unit(epochs):
        est = models.setdefault(epochs, make(epochs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(x, yy)
    return unit


def implementations(name, x, y, pure=True, optional=True):
    """{label: unit(epochs)} for a workload; PyTorch and scikit-learn (``optional``) when
    they import."""
    impls = {"nncore fit (native)": nncore_fit(name, x, y, "native"),
             "nncore fit (python)": nncore_fit(name, x, y, "python"),
             "README step loop": nncore_step_loop(name, x, y),
             "NumPy loop": numpy_loop(name, x, y)}
    if optional:
        impls.update(_optional_implementations(name, x, y))
    if pure and (name.startswith("xor") or name.startswith("tabular")):
        impls["pure Python"] = pure_python(name, x, y)
    return impls


def _optional_implementations(name, x, y):
    impls = {}
    try:
        import torch  # noqa: F401
        impls["PyTorch"] = torch_loop(name, x, y)
    except ImportError:
        pass
    try:
        import sklearn  # noqa: F401
        impls["scikit-learn"] = sklearn_loop(name, x, y)
    except ImportError:
        pass
    return impls
