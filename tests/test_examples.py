"""Every example runs as a user would run it, and reaches what it promises."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_xor_networks_learn():
    out = run([str(EXAMPLES / "xor.py")])
    errors = [float(v) for v in re.findall(r"largest error ([0-9.]+)", out)]
    assert len(errors) == 2 and max(errors) < 0.1


def test_vanishing_flags_sigmoid_only():
    out = run([str(EXAMPLES / "vanishing.py"), "3"])
    lines = {line.split(":")[0]: line for line in out.splitlines()
             if line.startswith(("sigmoid:", "relu:"))}
    assert "dense_0" in lines["sigmoid"] and "flagged: none" in lines["relu"]
    ratio = float(re.search(r"= ([0-9.e+-]+);", lines["sigmoid"]).group(1))
    assert ratio < 1e-3


def test_digits_reaches_97_percent():
    pytest.importorskip("sklearn")
    out = run([str(EXAMPLES / "digits.py")])
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)%", out).group(1))
    assert accuracy >= 97.0


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
    out = run(["-m", "nncore", "demo", "--quick", "--verbose", "0"])
    assert "test accuracy" in out and "[1 1] ->" in out
    info = run(["-m", "nncore", "info"])
    assert '"isa"' in info and '"openmp"' in info
