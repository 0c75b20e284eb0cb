"""Fit time: nncore.sklearn vs scikit-learn's own MLP, the same settings, interleaved.

    python bench/sklearn_bench.py                # digits and the MNIST-shaped set, 1 thread
    python bench/sklearn_bench.py --threads 2 --rounds 7

Both estimators run the same number of epochs (``n_iter_no_change=max_iter`` switches the
tolerance rule off, so neither stops early), from the same constructor arguments.
scikit-learn trains in float64 (the input's dtype); nncore in float32 by default, and the
``nncore f64`` column shows it in float64 too. Each round fits every estimator once in a
rotating order; the ratio is the median of per-round ratios time(sklearn) / time(nncore).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
from sklearn import neural_network as skl
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info, threadpool_limits

import nncore as nc
from nncore.sklearn import MLPClassifier


def datasets(mnist_rows):
    X, y = load_digits(return_X_y=True)
    yield "digits 1797x64, (100,), 200 epochs", X / 16.0, y, dict(max_iter=200)
    rng = np.random.default_rng(0)
    Xm = rng.random((mnist_rows, 784))
    ym = rng.integers(0, 10, mnist_rows)
    yield (f"MNIST-shaped {mnist_rows}x784, (256, 128), 5 epochs", Xm, ym,
           dict(hidden_layer_sizes=(256, 128), max_iter=5))


def time_fit(make, X, y):
    est = make()
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0, est.n_iter_


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mnist-rows", type=int, default=10_000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    nc.set_num_threads(args.threads)
    blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"nncore {nc.__version__} isa={nc.config()['isa']}, numpy {np.__version__} "
          f"BLAS {', '.join(blas)}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), {args.rounds} rounds")
    with threadpool_limits(args.threads):
        for name, X, y, params in datasets(args.mnist_rows):
            common = dict(random_state=0, tol=0.0, n_iter_no_change=params["max_iter"],
                          **params)
            makers = {"sklearn": lambda: skl.MLPClassifier(**common),
                      "nncore": lambda: MLPClassifier(**common),
                      "nncore f64": lambda: MLPClassifier(dtype="float64", **common)}
            MLPClassifier(**{**common, "max_iter": 1}).fit(X[:256], y[:256])  # warm-up
            times = {k: [] for k in makers}
            iters = {}
            keys = list(makers)
            for r in range(args.rounds):
                for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                    t, iters[k] = time_fit(makers[k], X, y)
                    times[k].append(t)
            assert len(set(iters.values())) == 1, iters
            print(f"\n{name} (every fit ran {iters['sklearn']} epochs)")
            for k in keys:
                ts = times[k]
                line = f"  {k:<11} median {statistics.median(ts):8.3f} s  " \
                       f"[{min(ts):.3f}-{max(ts):.3f}]"
                if k != "sklearn":
                    ratios = [a / b for a, b in zip(times["sklearn"], ts)]
                    line += f"  sklearn/{k} = {statistics.median(ratios):.2f}x " \
                            f"[{min(ratios):.2f}-{max(ratios):.2f}]"
                print(line)


if __name__ == "__main__":
    main()
