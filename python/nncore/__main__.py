"""``python -m nncore demo`` trains small networks; ``python -m nncore info`` prints the build;
``python -m nncore bench`` times the native core against NumPy and pure Python."""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import nncore as nc


def info():
    print(json.dumps(nc.config(), indent=2))


def demo(epochs_scale=1.0, verbose=1):
    print(f"nncore {nc.__version__}: kernel set {nc.config()['isa']}, "
          f"{nc.get_num_threads()} threads")

    print("\n1. XOR, 2-4-1 tanh/sigmoid network, full-batch SGD")
    x, y = nc.xor(np.float64)
    model = nc.Sequential([nc.Dense(2, 4, "tanh"), nc.Dense(4, 1, "sigmoid")], seed=1,
                          dtype="float64")
    model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=2.0, momentum=0.9), epochs=int(500 *
              epochs_scale), batch_size=None, verbose=0)
    pred = model.predict(x)
    for xi, pi in zip(x, pred):
        print(f"   {xi.astype(int)} -> {pi[0]:.3f}")

    print("\n2. Three interleaved spirals, 2-64-64-3 ReLU network")
    xs, ys = nc.spirals(n=200, classes=3, noise=0.2, seed=0)
    x_tr, x_te, y_tr, y_te = nc.train_test_split(xs, ys, test_size=0.25, seed=0, stratify=True)
    model = nc.Sequential([nc.Dense(2, 64, "relu"), nc.Dense(64, 64, "relu"),
                           nc.Dense(64, 3)], seed=0)
    start = time.perf_counter()
    model.fit(x_tr, y_tr, loss="cross_entropy", optimizer=nc.Adam(lr=0.01),
              epochs=int(60 * epochs_scale), batch_size=32, seed=0, verbose=verbose)
    acc = model.evaluate(x_te, y_te)["accuracy"]
    print(f"   test accuracy {acc:.1%} in {time.perf_counter() - start:.2f}s")

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("\n3. (handwritten digits skipped: pip install scikit-learn)")
        return
    print("\n3. Handwritten digits (scikit-learn), 64-128-10 ReLU network")
    d = load_digits()
    xd = (d.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = nc.train_test_split(xd, d.target, test_size=0.25, seed=0,
                                                 stratify=True)
    model = nc.Sequential([nc.Dense(64, 128, "relu"), nc.Dense(128, 10)], seed=0)
    start = time.perf_counter()
    model.fit(x_tr, y_tr, loss="cross_entropy", optimizer=nc.SGD(lr=0.1, momentum=0.9),
              epochs=int(30 * epochs_scale), batch_size=32, seed=0, verbose=verbose)
    acc = model.evaluate(x_te, y_te)["accuracy"]
    print(f"   test accuracy {acc:.1%} in {time.perf_counter() - start:.2f}s")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["explain"]:
        from .explain import main as explain_main
        return explain_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m nncore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train XOR, spirals and (with scikit-learn) digits")
    d.add_argument("--quick", action="store_true", help="fewer epochs")
    d.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    sub.add_parser("info", help="print nncore.config()")
    sub.add_parser("explain", help="one training step of the tutorials' examples, number by "
                   "number (`python -m nncore explain chain|net|xor [--lang zh]`)")
    sub.add_parser("bench", help="time native vs NumPy vs pure Python (kernels and training; "
                   "`python -m nncore bench -h`)")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    else:
        demo(0.3 if args.quick else 1.0, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
