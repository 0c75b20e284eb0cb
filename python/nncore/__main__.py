"""``python -m nncore demo`` trains small networks (a line each) and times the tutorials' XOR
natively, in NumPy and in pure Python; ``python -m nncore info`` prints the build;
``python -m nncore bench`` times the native core against NumPy, pure Python and peers."""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import nncore as nc


def info():
    print(json.dumps(nc.config(), indent=2))


#: what the demo's last part times, with its base first (labels of nncore.bench)
SPEED_LABELS = ("nncore fit (native)", "NumPy loop", "pure Python")


def demo(epochs_scale=1.0, verbose=0, repeats=5, target=0.1):
    """One line per example (XOR as the tutorials build it, spirals, digits), then the
    tutorials' XOR network timed on the spot: natively, as a plain NumPy loop and in pure
    Python (``nncore.bench``'s harness, ``repeats`` rounds of about ``target`` seconds
    each). ``verbose`` is fit's for spirals and digits (0: no per-epoch lines)."""
    print(f"nncore {nc.__version__}: kernel set {nc.config()['isa']}, "
          f"{nc.get_num_threads()} threads")

    # seed 001's network: x with a constant third column (its bias), 4 sigmoid hidden
    # units, no biases, weights uniform in [0, 1); its summed squared error with step 1 is
    # the mean squared error (over 4 outputs) with step 4
    x = np.hstack([nc.xor(np.float64)[0], np.ones((4, 1))])
    y = nc.xor(np.float64)[1]
    rng = np.random.default_rng(1)
    hidden = nc.Dense(3, 4, "sigmoid", use_bias=False, dtype="float64")
    output = nc.Dense(4, 1, "sigmoid", use_bias=False, dtype="float64")
    hidden.set_weights(rng.random((3, 4)))
    output.set_weights(rng.random((4, 1)))
    model = nc.Sequential([hidden, output], dtype="float64")
    steps = max(int(1000 * epochs_scale), 1)
    model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=4.0), epochs=steps, batch_size=None,
              shuffle=False, verbose=0)  # a thousand one-step epochs: no line each
    outputs = " ".join(f"{p:.2f}" for p in model.predict(x)[:, 0])
    print(f"1. XOR, the tutorials' 3-4-1 sigmoid network, {steps} steps: outputs {outputs} "
          f"for targets 0 1 1 0")

    xs, ys = nc.spirals(n=200, classes=3, noise=0.2, seed=0)
    x_tr, x_te, y_tr, y_te = nc.train_test_split(xs, ys, test_size=0.25, seed=0, stratify=True)
    model = nc.Sequential([nc.Dense(2, 64, "relu"), nc.Dense(64, 64, "relu"),
                           nc.Dense(64, 3)], seed=0)
    epochs = max(int(60 * epochs_scale), 1)
    start = time.perf_counter()
    model.fit(x_tr, y_tr, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=epochs,
              batch_size=32, seed=0, verbose=verbose)
    acc = model.evaluate(x_te, y_te)["accuracy"]
    print(f"2. three interleaved spirals, a 2-64-64-3 ReLU network, {epochs} epochs: "
          f"test accuracy {acc:.1%} ({time.perf_counter() - start:.2f}s)")

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("3. handwritten digits: skipped (pip install scikit-learn)")
    else:
        d = load_digits()
        xd = (d.data / 16.0).astype(np.float32)
        x_tr, x_te, y_tr, y_te = nc.train_test_split(xd, d.target, test_size=0.25, seed=0,
                                                     stratify=True)
        model = nc.Sequential([nc.Dense(64, 128, "relu"), nc.Dense(128, 10)], seed=0)
        epochs = max(int(30 * epochs_scale), 1)
        start = time.perf_counter()
        model.fit(x_tr, y_tr, loss="cross_entropy", optimizer=nc.SGD(lr=0.1, momentum=0.9),
                  epochs=epochs, batch_size=32, seed=0, verbose=verbose)
        acc = model.evaluate(x_te, y_te)["accuracy"]
        print(f"3. handwritten digits (scikit-learn's), a 64-128-10 ReLU network, {epochs} "
              f"epochs: test accuracy {acc:.1%} ({time.perf_counter() - start:.2f}s)")

    from .bench import bench_training
    res = bench_training("xor_3-4-1", 1, repeats, target, True, impls=SPEED_LABELS[1:])
    print("4. one training step of that XOR network, timed now (1 thread, median of "
          "interleaved rounds):")
    for label, row in res["results"].items():
        line = f"   {label:<20} {row['median_s'] * 1e6:>9.3g} us/step"
        if "ratio_vs_nncore" in row:
            line += f"   nncore {row['ratio_vs_nncore']:.0f}x faster"
        print(line)
    print("   (python -m nncore bench: more workloads, PyTorch and scikit-learn)")
    return res


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
    d = sub.add_parser("demo", help="train XOR, spirals and (with scikit-learn) digits, a "
                       "line each, then time XOR natively, in NumPy and in pure Python")
    d.add_argument("--quick", action="store_true", help="fewer epochs, shorter timing")
    d.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2],
                   help="fit's verbose: 1 or 2 show every epoch (default 0)")
    sub.add_parser("info", help="print nncore.config()")
    sub.add_parser("explain", help="one training step of the tutorials' examples, number by "
                   "number (`python -m nncore explain chain|net|xor [--lang zh]`)")
    sub.add_parser("bench", help="time native vs NumPy vs pure Python (kernels and training; "
                   "`python -m nncore bench -h`)")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    else:
        demo(0.3 if args.quick else 1.0, args.verbose,
             *((3, 0.03) if args.quick else (5, 0.1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
