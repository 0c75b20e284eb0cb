"""XOR, as the backpropagation tutorials build it (seeds 001 and 003), in nncore.

1. Seed 001: inputs with a constant third column (a bias in disguise), 4 sigmoid hidden
   units, no biases, weights uniform in [0, 1), squared error summed over the four
   samples, full-batch gradient descent with step 1 for 1000 iterations.
2. Seed 003 intends a 2-2-1 sigmoid network with biases trained on ½·squared error with
   learning rate 0.1 for 10000 epochs (its printed code transposes W1 and W2 wrongly and
   does not run). Here it is as meant: Dense(2, 2) and Dense(2, 1) in the x @ w layout;
   ½·squared error with lr 0.1 is squared error with lr 0.05.
"""
import numpy as np

import nncore as nc


def seed_001(steps=1000, seed=1):
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    uniform01 = nc.initializers.uniform(0.0, 1.0)
    model = nc.Sequential([
        nc.Dense(3, 4, activation="sigmoid", use_bias=False, init=uniform01),
        nc.Dense(4, 1, activation="sigmoid", use_bias=False, init=uniform01),
    ], seed=seed, dtype="float64")
    model.fit(x, y, loss=nc.MSELoss(reduction="sum"), optimizer=nc.SGD(lr=1.0),
              epochs=steps, batch_size=None, shuffle=False, verbose=0)
    return model.predict(x), y


def seed_003(epochs=10000, seed=1):
    x, y = nc.xor(np.float64)
    model = nc.Sequential([
        nc.Dense(2, 2, activation="sigmoid", init="normal"),
        nc.Dense(2, 1, activation="sigmoid", init="normal"),
    ], dtype="float64")
    rng = np.random.default_rng(seed)  # standard normal weights and biases, as the seed
    for layer in model.layers:
        layer.set_weights(rng.standard_normal(layer.w.shape), rng.standard_normal(layer.b.shape))
    history = model.fit(x, y, loss=nc.MSELoss(reduction="sum"), optimizer=nc.SGD(lr=0.05),
                        epochs=epochs, batch_size=None, shuffle=False, verbose=0)
    for epoch in range(0, epochs, epochs // 10):
        print(f"   epoch {epoch}: loss = {history['loss'][epoch] / 4:.6f}")
    return model.predict(x), y


if __name__ == "__main__":
    for title, run in [("seed 001: 3-4-1, no biases, 1000 steps", seed_001),
                       ("seed 003: 2-2-1 with biases, 10000 epochs", seed_003)]:
        print(title)
        pred, y = run()
        for target, p in zip(y[:, 0], pred[:, 0]):
            print(f"   target {target:.0f}  prediction {p:.4f}")
        print(f"   largest error {np.max(np.abs(pred - y)):.4f}")
