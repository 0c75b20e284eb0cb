"""XOR, as the backpropagation tutorials build it (seeds 001 and 003), in nncore.

1. Seed 001: inputs with a constant third column (a bias in disguise), 4 sigmoid hidden
   units, no biases, weights uniform in [0, 1), squared error summed over the four
   samples, full-batch gradient descent with step 1 for 1000 iterations
   (``weights += d_weights`` with ``d = 2 * (y - output) * ...``: the gradient of the
   summed squared error, learning rate 1).
2. Seed 003 intends a 2-2-1 sigmoid network with biases, trained full batch on
   ½·squared error summed over the samples with learning rate 0.1 for 10000 epochs. Its
   printed code does not run: the forward pass uses ``X @ W1.T`` and ``layer1 @ W2.T``
   while the updates (``X.T @ delta1``, ``layer1.T @ delta2``) treat the weights as
   ``(in, out)``. Here it is as meant: ``Dense(2, 2)`` and ``Dense(2, 1)`` in the ``x @ w``
   layout; ½·squared error with lr 0.1 is squared error with lr 0.05.

   The seed draws its start with ``np.random.seed(1)``; from exactly those weights the
   corrected network stalls in XOR's well-known local minimum (outputs 0.06, 0.66, 0.66,
   0.67 after 10000 epochs), so this example draws its standard-normal start from
   ``np.random.default_rng(1)`` instead.

Usage: ``python xor.py [epochs_for_003]``.
"""
import sys

import numpy as np

import nncore as nc

X_001 = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y_001 = np.array([[0], [1], [1], [0]], dtype=np.float64)


def start_001(seed=1):
    """Seed 001's start: ``rand(3, 4)`` and ``rand(4, 1)``, uniform in [0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.random((3, 4)), rng.random((4, 1))


def start_003(seed=1):
    """Seed 003's start in the ``(in, out)`` layout: ``w1 (2, 2), b1 (2,), w2 (2, 1), b2 (1,)``,
    standard normal."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 2)), rng.standard_normal(2),
            rng.standard_normal((2, 1)), rng.standard_normal(1))


def seed_001(steps=1000, seed=1):
    w1, w2 = start_001(seed)
    hidden = nc.Dense(3, 4, activation="sigmoid", use_bias=False, dtype="float64")
    output = nc.Dense(4, 1, activation="sigmoid", use_bias=False, dtype="float64")
    hidden.set_weights(w1)
    output.set_weights(w2)
    model = nc.Sequential([hidden, output], dtype="float64")
    model.fit(X_001, Y_001, loss=nc.MSELoss(reduction="sum"), optimizer=nc.SGD(lr=1.0),
              epochs=steps, batch_size=None, shuffle=False, verbose=0)
    return model.predict(X_001), Y_001


def seed_003(epochs=10000, seed=1, verbose=True):
    x, y = nc.xor(np.float64)
    w1, b1, w2, b2 = start_003(seed)
    hidden = nc.Dense(2, 2, activation="sigmoid", dtype="float64")
    output = nc.Dense(2, 1, activation="sigmoid", dtype="float64")
    hidden.set_weights(w1, b1)
    output.set_weights(w2, b2)
    model = nc.Sequential([hidden, output], dtype="float64")
    history = model.fit(x, y, loss=nc.MSELoss(reduction="sum"), optimizer=nc.SGD(lr=0.05),
                        epochs=epochs, batch_size=None, shuffle=False, verbose=0)
    if verbose:  # the seed prints np.mean(error**2) every 1000 epochs
        for epoch in range(0, epochs, max(epochs // 10, 1)):
            print(f"   epoch {epoch}: loss = {history['loss'][epoch] / len(x):.6f}")
    return model.predict(x), y


if __name__ == "__main__":
    epochs_003 = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    runs = [("seed 001: 3-4-1, no biases, 1000 steps", lambda: seed_001()),
            (f"seed 003: 2-2-1 with biases, {epochs_003} epochs", lambda: seed_003(epochs_003))]
    for title, run in runs:
        print(title)
        pred, y = run()
        for target, p in zip(y[:, 0], pred[:, 0]):
            print(f"   target {target:.0f}  prediction {p:.10f}")
        print(f"   largest error {np.max(np.abs(pred - y)):.4f}")
