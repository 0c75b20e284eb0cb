"""Every example runs as a user would run it, and reaches what it promises."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(args, cwd=None, timeout=300):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def seed_000_program(steps=1000):
    """The tutorial's program (seed 000), verbatim but for printing."""
    import numpy as np

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x):
        return x * (1 - x)

    input_value, weight1, weight2, target, learning_rate = 0.5, 0.8, 0.6, 0.9, 0.1
    for _ in range(steps):
        layer1 = sigmoid(input_value * weight1)
        output = sigmoid(layer1 * weight2)
        error = target - output
        gradient_output = layer1 * error * sigmoid_derivative(output)
        error_at_hidden = gradient_output * weight2
        gradient_hidden = input_value * error_at_hidden * sigmoid_derivative(layer1)
        weight2 = weight2 + gradient_output * learning_rate
        weight1 = weight1 + gradient_hidden * learning_rate
    return weight1, weight2


def test_chain_matches_the_seed_program():
    out = run([str(EXAMPLES / "chain.py")])
    w = [float(v) for v in re.findall(r"weight\d = ([0-9.]+)", out)]
    want1, want2 = seed_000_program()
    assert abs(w[0] - want1) < 1e-9 and abs(w[1] - want2) < 1e-9
    # exact backpropagation, checked against numerical-gradient descent
    import numpy as np
    w1, w2 = 0.8, 0.6

    def loss(a, b):
        h = 1 / (1 + np.exp(-0.5 * a))
        y = 1 / (1 + np.exp(-h * b))
        return 0.5 * (0.9 - y) ** 2

    for _ in range(1000):
        e = 1e-7
        g1 = (loss(w1 + e, w2) - loss(w1 - e, w2)) / (2 * e)
        g2 = (loss(w1, w2 + e) - loss(w1, w2 - e)) / (2 * e)
        w1, w2 = w1 - 0.1 * g1, w2 - 0.1 * g2
    assert abs(w[2] - w1) < 1e-6 and abs(w[3] - w2) < 1e-6


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_001_program(weights1, weights2, steps=1000):
    """Seed 001's NeuralNetwork, verbatim but for the given (instead of unseeded) start."""
    import numpy as np

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x):
        return x * (1 - x)

    class NeuralNetwork:
        def __init__(self, x, y):
            self.input = x
            self.weights1 = weights1.copy()
            self.weights2 = weights2.copy()
            self.y = y
            self.output = np.zeros(self.y.shape)

        def feedforward(self):
            self.layer1 = sigmoid(np.dot(self.input, self.weights1))
            self.output = sigmoid(np.dot(self.layer1, self.weights2))

        def backprop(self):
            d_weights2 = np.dot(self.layer1.T, (2 * (self.y - self.output)
                                                * sigmoid_derivative(self.output)))
            d_weights1 = np.dot(self.input.T, (np.dot(2 * (self.y - self.output)
                                                      * sigmoid_derivative(self.output),
                                                      self.weights2.T)
                                               * sigmoid_derivative(self.layer1)))
            self.weights1 += d_weights1
            self.weights2 += d_weights2

    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    y = np.array([[0], [1], [1], [0]])
    nn = NeuralNetwork(x, y)
    for _ in range(steps):
        nn.feedforward()
        nn.backprop()
    nn.feedforward()  # predictions of the trained weights (nncore's predict)
    return nn.output


def seed_003_program(W1, b1, W2, b2, epochs=10000):
    """Seed 003's program as it means it: weights (in, out), so no transposes forward and
    W2.T (not W2) when the error goes back through the output layer."""
    import numpy as np

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def sigmoid_derivative(x):
        return x * (1 - x)

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    W1, b1, W2, b2 = W1.copy(), b1.copy(), W2.copy(), b2.copy()
    learning_rate = 0.1
    for epoch in range(epochs):
        layer1 = sigmoid(np.dot(X, W1) + b1)
        layer2 = sigmoid(np.dot(layer1, W2) + b2)
        error = y - layer2
        delta2 = error * sigmoid_derivative(layer2)
        delta1 = np.dot(delta2, W2.T) * sigmoid_derivative(layer1)
        W2 += learning_rate * np.dot(layer1.T, delta2)
        b2 += learning_rate * np.sum(delta2, axis=0)
        W1 += learning_rate * np.dot(X.T, delta1)
        b1 += learning_rate * np.sum(delta1, axis=0)
    return sigmoid(np.dot(sigmoid(np.dot(X, W1) + b1), W2) + b2)


def test_xor_networks_learn_and_match_the_seed_programs():
    out = run([str(EXAMPLES / "xor.py")])
    errors = [float(v) for v in re.findall(r"largest error ([0-9.]+)", out)]
    assert len(errors) == 2 and max(errors) < 0.1
    printed = [float(v) for v in re.findall(r"prediction ([0-9.]+)", out)]
    assert len(printed) == 8
    xor = load_example("xor")
    want_001 = seed_001_program(*xor.start_001(1))[:, 0]
    want_003 = seed_003_program(*xor.start_003(1))[:, 0]
    for got, want in zip(printed, list(want_001) + list(want_003)):
        assert abs(got - want) < 1e-9
    losses = [float(v) for v in re.findall(r"epoch \d+: loss = ([0-9.]+)", out)]
    assert len(losses) == 10 and losses[-1] < 0.01 < losses[0]


def test_vanishing_flags_sigmoid_only():
    out = run([str(EXAMPLES / "vanishing.py"), "3"])
    lines = {line.split(":")[0]: line for line in out.splitlines()
             if line.startswith(("sigmoid:", "relu:"))}
    assert "dense_0" in lines["sigmoid"] and "flagged: none" in lines["relu"]
    ratio = float(re.search(r"= ([0-9.e+-]+);", lines["sigmoid"]).group(1))
    assert ratio < 1e-3


def test_digits_reaches_97_percent():
    # scikit-learn (the data) is in the `test` extra: no skip, the test needs it.
    out = run([str(EXAMPLES / "digits.py")])
    match = re.search(r"test accuracy: ([0-9.]+)% \(([0-9.]+) s of training\)", out)
    assert match, out
    assert float(match.group(1)) >= 97.0


def test_spirals_draws_decision_regions(tmp_path):
    out = run([str(EXAMPLES / "spirals.py"), str(tmp_path / "s.png")])
    accuracy = float(re.search(r"training accuracy: ([0-9.]+)%", out).group(1))
    assert accuracy > 95
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
    else:
        assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_demo_and_info():
    out = run(["-m", "nncore", "demo", "--quick"])
    lines = out.splitlines()
    assert out.count("test accuracy") == 2 and lines[1].startswith("1. XOR")  # spirals, digits
    xor = [float(v) for v in re.search(r"outputs ([0-9. ]+) for targets 0 1 1 0",
                                       lines[1]).group(1).split()]
    assert len(xor) == 4 and xor[0] < 0.2 and xor[1] > 0.8 and xor[2] > 0.8 and xor[3] < 0.2
    assert len(lines) == 9 and "x faster" in lines[-2]     # no per-epoch lines
    info = run(["-m", "nncore", "info"])
    assert '"isa"' in info and '"openmp"' in info
