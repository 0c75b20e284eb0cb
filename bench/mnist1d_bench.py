"""Training time of the MNIST-1D benchmark's MLP: nncore vs PyTorch (and JAX when
installed), the same model, data and recipe, interleaved, at 1 and 2 threads.

    python bench/mnist1d_bench.py                      # 400 steps per run, 5 rounds, 1 and 2 threads
    python bench/mnist1d_bench.py --steps 8000 --rounds 3   # the whole recipe (prints test accuracy)

The model is the benchmark's (github.com/greydanus/mnist1d, notebooks/models.py):
``h = relu(W1 x); h = h + relu(W2 h); W3 h``, 40 -> 256 -> 256 -> 10, float32, PyTorch's
default initialisation; the recipe its notebooks/train.py: Adam lr 1e-2, batches of 100
taken in order, cross-entropy. The data is ``mnist1d.data.make_dataset(get_dataset_args())``
(generated offline). Each implementation trains a fresh model for ``--steps`` steps:

- nncore: ``model.fit(..., shuffle=False)`` (engine "auto": the native engine, which runs
  Residual blocks; the table says which ran);
- torch: the train.py loop (forward, ``cross_entropy``, ``backward``, ``Adam.step``);
- jax: the same step, ``jax.jit``-compiled over a whole epoch with ``lax.scan`` (Adam
  written out), compiled before timing.

Each round runs every implementation once, in a rotating order; the table gives the
median time per step and the median of per-round ratios to nncore. 1-thread rows pin the
process to one CPU (``os.sched_setaffinity``) and set every library to one thread; JAX's
thread pool is fixed when it starts, so it is limited by the pinning at 1 thread and uses
its default pool at 2.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import nncore as nc


def load_data():
    from mnist1d.data import get_dataset_args, make_dataset
    d = make_dataset(get_dataset_args())
    return (d["x"].astype(np.float32), d["y"].astype(np.int64),
            d["x_test"].astype(np.float32), d["y_test"].astype(np.int64))


def init_weights(seed):
    """PyTorch's nn.Linear initialisation, U(+-1/sqrt(fan_in)), shared by every
    implementation: [(w (in, out), b)] per layer."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in ((40, 256), (256, 256), (256, 10)):
        k = 1 / np.sqrt(n_in)
        out.append((rng.uniform(-k, k, (n_in, n_out)).astype(np.float32),
                    rng.uniform(-k, k, n_out).astype(np.float32)))
    return out


def nncore_run(data, weights, steps):
    x, y, xt, yt = data
    model = nc.Sequential(nc.Dense(40, 256, "relu"), nc.Residual(nc.Dense(256, 256, "relu")),
                          nc.Dense(256, 10))
    model.set_weights([a for wb in weights for a in wb])
    epochs, rest = divmod(steps * 100, len(x))
    assert rest == 0, "--steps must be a multiple of 40 (one epoch)"
    history = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=1e-2),
                        epochs=epochs, batch_size=100, shuffle=False, verbose=0)
    return model.evaluate(xt, yt)["accuracy"], history.engine


def torch_run(data, weights, steps):
    import torch
    x, y, xt, yt = (torch.from_numpy(a) for a in data)
    lin = [torch.nn.Linear(w.shape[0], w.shape[1]) for w, _ in weights]
    with torch.no_grad():
        for m, (w, b) in zip(lin, weights):
            m.weight.copy_(torch.from_numpy(w.T.copy()))
            m.bias.copy_(torch.from_numpy(b))
    params = [p for m in lin for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)

    def model(v):
        h = lin[0](v).relu()
        h = h + lin[1](h).relu()
        return lin[2](h)

    for step in range(steps):
        i = (step * 100) % len(y)
        loss = torch.nn.functional.cross_entropy(model(x[i:i + 100]), y[i:i + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((model(xt).argmax(1) == yt).float().mean()), "eager"


def make_jax_run():
    """A function like torch_run for JAX, or None when JAX is not installed. The epoch
    (40 steps) is one compiled ``lax.scan``; compiled here, before any timing."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def forward(p, v):
        h = jax.nn.relu(v @ p[0] + p[1])
        h = h + jax.nn.relu(h @ p[2] + p[3])
        return h @ p[4] + p[5]

    def loss_fn(p, v, t):
        logits = forward(p, v)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), t[:, None], 1))

    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-2

    def step(state, batch):
        p, m, v, t = state
        g = jax.grad(loss_fn)(p, *batch)
        t = t + 1
        m = [b1 * a + (1 - b1) * b for a, b in zip(m, g)]
        v = [b2 * a + (1 - b2) * b * b for a, b in zip(v, g)]
        p = [w - lr * (a / (1 - b1 ** t)) / (jnp.sqrt(c / (1 - b2 ** t)) + eps)
             for w, a, c in zip(p, m, v)]
        return (p, m, v, t), None

    @jax.jit
    def epoch(state, xb, yb):
        return jax.lax.scan(step, state, (xb, yb))[0]

    def run(data, weights, steps):
        x, y, xt, yt = data
        xb, yb = jnp.asarray(x.reshape(40, 100, 40)), jnp.asarray(y.reshape(40, 100))
        p = [jnp.asarray(a) for wb in weights for a in wb]
        state = (p, [jnp.zeros_like(a) for a in p], [jnp.zeros_like(a) for a in p],
                 jnp.zeros((), jnp.float32))
        for _ in range(steps // 40):
            state = epoch(state, xb, yb)
        acc = jnp.mean(jnp.argmax(forward(state[0], jnp.asarray(xt)), 1) == jnp.asarray(yt))
        return float(acc), "jit+scan"

    return run, epoch


class Threads:
    """n threads in nncore and torch; at n == 1 the process is pinned to one CPU."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.affinity = os.sched_getaffinity(0)
        if self.n == 1:
            os.sched_setaffinity(0, {min(self.affinity)})
        self.nn = nc.threads(self.n)
        self.nn.__enter__()
        try:
            import torch
            self.torch_prev = torch.get_num_threads()
            torch.set_num_threads(self.n)
        except ImportError:
            self.torch_prev = None
        return self

    def __exit__(self, *exc):
        if self.torch_prev is not None:
            import torch
            torch.set_num_threads(self.torch_prev)
        self.nn.__exit__(*exc)
        os.sched_setaffinity(0, self.affinity)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=400, help="training steps per run "
                    "(a multiple of 40; the recipe is 8000)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    data = load_data()
    weights = init_weights(0)
    impls = {"nncore": nncore_run}
    try:
        import torch
        impls["torch"] = torch_run
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    jax_run = make_jax_run()
    if jax_run is not None:
        import jax
        impls["jax"] = jax_run[0]
        jax_run[0](data, weights, 40)  # compile outside the timing
    print(f"MNIST-1D MLP 40-256(+residual 256)-10, batch 100, Adam lr 1e-2, {args.steps} "
          f"steps per run, {args.rounds} rounds | {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} | nncore "
          f"{nc.__version__} isa={nc.config()['isa']}, torch {torch_version}, jax "
          f"{jax.__version__ if jax_run is not None else 'not installed'}")
    for n in args.threads:
        with Threads(n):
            times = {name: [] for name in impls}
            notes = {}
            for r in range(args.rounds):
                names = list(impls)
                for name in names[r % len(names):] + names[:r % len(names)]:
                    t0 = time.perf_counter()
                    acc, how = impls[name](data, weights, args.steps)
                    times[name].append(time.perf_counter() - t0)
                    notes[name] = (acc, how)
        print(f"\n{n} thread(s){' (pinned to one CPU)' if n == 1 else ''}")
        print(f"{'':8} {'ms/step':>9} {'vs nncore':>10} {'test acc':>9}  how")
        for name, ts in times.items():
            ratio = statistics.median(t / b for t, b in zip(ts, times["nncore"]))
            acc, how = notes[name]
            print(f"{name:8} {statistics.median(ts) / args.steps * 1e3:9.3f} {ratio:9.2f}x "
                  f"{acc:9.3f}  {how}")


if __name__ == "__main__":
    main()
