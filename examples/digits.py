"""Handwritten digits (scikit-learn's 8x8 images): a 64-128-10 ReLU network.

Needs scikit-learn (an optional extra: the data ships inside it). Trains on a seeded,
stratified 75% and prints the accuracy on the other 25% and the training time.
"""
import sys
import time

import numpy as np

import nncore as nc


def run(epochs=30, verbose=1, seed=0):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = nc.train_test_split(x, digits.target, test_size=0.25,
                                                           seed=seed, stratify=True)
    model = nc.Sequential([nc.Dense(64, 128, "relu"), nc.Dense(128, 10)], seed=seed)
    start = time.perf_counter()
    model.fit(x_train, y_train, loss="cross_entropy", optimizer=nc.SGD(lr=0.1, momentum=0.9),
              epochs=epochs, batch_size=32, seed=seed, verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test)["accuracy"]
    return accuracy, seconds


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    accuracy, seconds = run(epochs, verbose=2)
    print(f"test accuracy: {accuracy:.2%} ({seconds:.2f} s of training)")
