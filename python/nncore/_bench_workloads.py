"""The training workloads of ``python -m nncore bench`` and each implementation of them:
nncore ``fit`` (native and python engines), the README's step loop, a plain NumPy loop,
pure Python, and PyTorch / scikit-learn when they import. Each ``*_loop`` returns a
``unit(epochs)`` that trains that many epochs from where it left off.
"""
from __future__ import annotations

import math
import os
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
    unit.weights = lambda: [w.copy() for w in ws]
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


def import_jax():
    """jax on the CPU (JAX_PLATFORMS=cpu unless set), or None when it does not import."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
        jax.config.update("jax_platforms", os.environ["JAX_PLATFORMS"])
        jax.devices()
    except Exception:  # optional, never required
        return None
    return jax


def _jax_net(name):
    """(params, step, loss_fn) in JAX: the workload's net with nncore's initial weights
    (zero biases), its loss (mean) and plain SGD, float32."""
    import jax
    import jax.numpy as jnp
    sizes, hidden, out, loss, _, _, lr, bias = WORKLOADS[name]
    model = _nncore_model(name)
    ws = [jnp.asarray(np.array(layer.w.data, np.float32)) for layer in model.layers]
    bs = [jnp.zeros(b, jnp.float32) for b in sizes[1:]] if bias else []
    acts = [hidden] * (len(ws) - 1) + [out]
    funcs = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "identity": lambda z: z}

    def forward(params, xb):
        h = xb
        for i, (w, act) in enumerate(zip(params[0], acts)):
            h = h @ w + params[1][i] if bias else h @ w
            h = funcs[act](h)
        return h

    def loss_fn(params, xb, yb):
        o = forward(params, xb)
        if loss == "mse":
            return jnp.mean((o - yb) ** 2)
        logp = jax.nn.log_softmax(o)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def step(params, xb, yb):
        grads = jax.grad(loss_fn)(params, xb, yb)
        return jax.tree_util.tree_map(lambda p, g: p - np.float32(lr) * g, params, grads)
    return (ws, bs), step


def _jax_targets(name, y):
    loss = WORKLOADS[name][3]
    return np.asarray(y, np.int32) if loss == "cross_entropy" else np.asarray(y, np.float32)


def jax_step(name, x, y):
    """A ``jax.jit`` step driven from Python: the NumPy loop's shuffle and batches, each
    batch handed to one compiled SGD step (the params stay on the device)."""
    import jax
    _, _, _, _, batch, _, _, _ = WORKLOADS[name]
    params, step = _jax_net(name)
    step = jax.jit(step)
    y = _jax_targets(name, y)
    n, size = len(x), batch or len(x)
    xd, yd = jax.device_put(x), jax.device_put(y)
    rng = np.random.default_rng(0)
    state = [params]

    def unit(epochs):
        p = state[0]
        for _ in range(epochs):
            if size >= n:   # full batch: no shuffle to do
                p = step(p, xd, yd)
                continue
            order = rng.permutation(n)
            for s in range(0, n, size):
                idx = order[s:s + size]
                p = step(p, x[idx], y[idx])
        state[0] = jax.block_until_ready(p)
    unit.weights = lambda: [np.asarray(w) for w in state[0][0]]
    return unit


def jax_scan(name, x, y):
    """The whole epoch as one XLA program: ``jax.jit`` of a ``jax.lax.scan`` over the
    epoch's batches (each gathered from the device-resident data by the permutation
    drawn as the NumPy loop draws it; a last partial batch after the scan). Full-batch
    workloads (XOR) scan over the epochs of a call instead."""
    import jax
    from jax import lax
    _, _, _, _, batch, _, _, _ = WORKLOADS[name]
    params, step = _jax_net(name)
    y = _jax_targets(name, y)
    n, size = len(x), batch or len(x)
    xd, yd = jax.device_put(x), jax.device_put(y)
    full, rest = n // size, n % size
    rng = np.random.default_rng(0)
    state = [params]

    @jax.jit
    def epoch(p, perm):
        def body(p, idx):
            return step(p, xd[idx], yd[idx]), None
        p, _ = lax.scan(body, p, perm[:full * size].reshape(full, size))
        if rest:
            p = step(p, xd[perm[full * size:]], yd[perm[full * size:]])
        return p

    def many(p, count):
        return lax.scan(lambda q, _: (step(q, xd, yd), None), p, None, length=count)[0]
    many = jax.jit(many, static_argnums=1)

    def unit(epochs):
        p = state[0]
        if size >= n:
            p = many(p, epochs)
        else:
            for _ in range(epochs):
                p = epoch(p, rng.permutation(n).astype(np.int32))
        state[0] = jax.block_until_ready(p)
    unit.weights = lambda: [np.asarray(w) for w in state[0][0]]
    return unit


#: every implementation's label, in the order of the tables
LABELS = ("nncore fit (native)", "nncore fit (python)", "README step loop", "NumPy loop",
          "JAX step", "JAX scan", "PyTorch", "scikit-learn", "pure Python")


def implementations(name, x, y, pure=True, only=None):
    """{label: unit(epochs)} for a workload; optional libraries when they import.
    `only`: the labels to build (default all of :data:`LABELS`)."""
    want = set(LABELS if only is None else only)
    makers = {"nncore fit (native)": lambda: nncore_fit(name, x, y, "native"),
              "nncore fit (python)": lambda: nncore_fit(name, x, y, "python"),
              "README step loop": lambda: nncore_step_loop(name, x, y),
              "NumPy loop": lambda: numpy_loop(name, x, y)}
    if import_jax() is not None and want & {"JAX step", "JAX scan"}:
        makers["JAX step"] = lambda: jax_step(name, x, y)
        makers["JAX scan"] = lambda: jax_scan(name, x, y)
    # each optional library imported only when wanted (bench --rss builds one label a
    # process: an import of PyTorch it does not use would be part of its peak)
    if "PyTorch" in want:
        try:
            import torch  # noqa: F401
            makers["PyTorch"] = lambda: torch_loop(name, x, y)
        except ImportError:
            pass
    if "scikit-learn" in want:
        try:
            import sklearn  # noqa: F401
            makers["scikit-learn"] = lambda: sklearn_loop(name, x, y)
        except ImportError:
            pass
    if pure and (name.startswith("xor") or name.startswith("tabular")):
        makers["pure Python"] = lambda: pure_python(name, x, y)
    return {label: makers[label]() for label in LABELS if label in makers and label in want}


# ----------------------------------------------------------------- fit idioms (issue 20)

#: the nets of the idiom table: name -> (layer sizes, rows, epochs, batch); quick: rows/10
IDIOM_NETS = {"64-128-10": ((64, 128, 10), 20_000, 3, 32),
              "784-256-128-10": ((784, 256, 128, 10), 60_000, 1, 64)}
#: the idioms, the first the base of the ratios
IDIOMS = ("logits head", "softmax head", "sigmoid head + BCE", "Dropout(0.1)",
          "gelu hidden", "health=True")


def idiom_title(net, quick):
    sizes, rows, epochs, batch = IDIOM_NETS[net]
    rows = rows // 10 if quick else rows
    return f"{net} ReLU net, {rows}x{sizes[0]} data, {epochs} epoch(s), batch {batch}, SGD"


def _idiom_model(sizes, idiom):
    hidden = "gelu" if idiom == "gelu hidden" else "relu"
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers.append(nc.Dense(a, b, hidden))
        if idiom == "Dropout(0.1)":
            layers.append(nc.Dropout(0.1))
    head = {"softmax head": (sizes[-1], "softmax"),
            "sigmoid head + BCE": (1, "sigmoid")}.get(idiom, (sizes[-1], None))
    layers.append(nc.Dense(sizes[-2], head[0], head[1]))
    return nc.Sequential(layers, seed=0)


def idiom_fit(net, idiom, quick=False):
    """(unit() running one ``fit`` call of the idiom, the engine that ran it, why not
    native ('' when native), the warnings ``fit`` gave). Labels: 10 classes (cross_entropy), or their parity as a
    (n, 1) float target for the sigmoid head with BCE."""
    sizes, rows, epochs, batch = IDIOM_NETS[net]
    rows = rows // 10 if quick else rows
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], rows)
    if idiom == "sigmoid head + BCE":
        y, loss = (labels % 2).astype(np.float32)[:, None], "bce"
    else:
        y, loss = labels, "cross_entropy"
    model = _idiom_model(sizes, idiom)
    opt = nc.SGD(lr=0.01)
    kw = dict(loss=loss, optimizer=opt, batch_size=batch, seed=0, verbose=0,
              health=idiom == "health=True")
    why = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:   # a 64-row native fit says why it cannot run (a ValueError) or runs
            model.fit(x[:64], y[:64], epochs=1, engine="native", **kw)
        except ValueError as e:
            if "cannot run this model" not in str(e):
                raise
            why = str(e).split(": ", 2)[-1].split("; use engine")[0]
    warned = sorted({str(w.message) for w in caught})
    engine = []

    def unit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.append(model.fit(x, y, epochs=epochs, engine="auto", **kw).engine)
    unit()
    return unit, engine[0], why, warned
