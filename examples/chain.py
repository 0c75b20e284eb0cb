"""The two-weight sigmoid chain of the forward/backward tutorial (seed 000), in nncore.

input 0.5 -> sigmoid(w1 * x) -> sigmoid(w2 * h) -> output, target 0.9, loss ½(t - y)²,
plain gradient descent with learning rate 0.1 for 1000 steps, starting from w1 = 0.8 and
w2 = 0.6. Each step runs forward and backward layer by layer, as the tutorial does.

The tutorial's program has one quirk: its hidden-layer gradient reuses
``gradient_output = layer1 * error * sigmoid'(output)`` — which is already dL/dw2 and
so contains ``layer1`` — where backpropagation needs ``error * sigmoid'(output)``. Its
update of w1 is therefore the true gradient times ``layer1``. ``train(tutorial=True)``
(the default) reproduces that, to print the tutorial's own weights; ``tutorial=False``
is exact backpropagation.

The loss ½(t - y)² is nncore's MSELoss(reduction="sum") halved, and halving the loss is
halving the learning rate: SGD(lr=0.05) on (y - t)² takes exactly the tutorial's steps.

Usage: ``python chain.py [steps]``.
"""
import sys

import numpy as np

import nncore as nc


def train(steps=1000, tutorial=True, verbose=True):
    hidden = nc.Dense(1, 1, activation="sigmoid", use_bias=False, dtype="float64")
    output = nc.Dense(1, 1, activation="sigmoid", use_bias=False, dtype="float64")
    hidden.set_weights([[0.8]])
    output.set_weights([[0.6]])
    loss_fn = nc.MSELoss(reduction="sum")
    optimizer = nc.SGD([hidden.w, output.w], lr=0.05)
    x = np.array([[0.5]])
    target = np.array([[0.9]])
    for step in range(steps):
        layer1 = hidden.forward(x)                     # forward, layer by layer
        y = output.forward(layer1)
        prediction = float(y[0, 0])
        loss_fn(y, target)
        grad_layer1 = output.backward(loss_fn.backward())   # backward, layer by layer
        if tutorial:
            grad_layer1 = grad_layer1 * layer1         # the tutorial's extra factor layer1
        hidden.backward(grad_layer1)
        optimizer.step()
        if verbose and (step < 3 or step == steps - 1):
            print(f"step {step + 1}: prediction {prediction:.4f}, error "
                  f"{0.9 - prediction:.4f}, w1 = {hidden.w.data[0, 0]:.4f}, "
                  f"w2 = {output.w.data[0, 0]:.4f}")
    return float(hidden.w.data[0, 0]), float(output.w.data[0, 0])


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("as the tutorial's program computes it:")
    w1, w2 = train(steps)
    print(f"weight1 = {w1!r}")
    print(f"weight2 = {w2!r}")
    print("exact backpropagation:")
    w1, w2 = train(steps, tutorial=False)
    print(f"weight1 = {w1!r}")
    print(f"weight2 = {w2!r}")
