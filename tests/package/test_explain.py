"""``python -m nncore explain chain|net|xor [--lang zh]`` runs, and the numbers it prints
are those of exact backpropagation, computed here from the tutorials' formulas."""
import ast
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from nncore import explain


def _run(capsys, *argv):
    assert explain.main(list(argv)) == 0
    return capsys.readouterr().out


def _value(text, name):
    """The number printed last on the line ``  name = ... = value``, before any note."""
    pat = rf"^  {re.escape(name)} = (?:.* = )?(-?[0-9.]+(?:e[-+][0-9]+)?)(?:   \(.*\))?$"
    found = re.findall(pat, text, re.M)
    assert len(found) == 1, (name, found)
    return float(found[0])


def _matrix(text, name):
    """The matrix printed under ``  name = ... =``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith(f"  {name} =") and line.endswith("=")]
    assert len(starts) == 1, (name, starts)
    block, i = "", starts[0] + 1
    while True:
        block += lines[i].strip()
        i += 1
        if block.count("[") == block.count("]"):
            return np.array(ast.literal_eval(block), dtype=np.float64)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=2e-9, atol=1e-12)


def _agreement(text, sections):
    diffs = [float(d) for d in re.findall(r"(?:largest difference|最大差异): ([0-9.e+-]+):", text)]
    assert len(diffs) == sections and max(diffs) <= 1e-12


def _sig(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_chain(capsys, lang):
    text = _run(capsys, "chain", "--lang", lang)
    x, w1, w2, t, lr = 0.5, 0.8, 0.6, 0.9, 0.1
    h = 1 / (1 + math.exp(-w1 * x))
    y = 1 / (1 + math.exp(-w2 * h))
    d2 = (y - t) * y * (1 - y)
    dh = d2 * w2
    d1 = dh * h * (1 - h)
    want = {"z1": w1 * x, "h": h, "z2": w2 * h, "y": y, "L": 0.5 * (t - y) ** 2,
            "dL/dy": y - t, "δ2": d2, "dL/dw2": d2 * h, "dL/dh": dh, "δ1": d1,
            "dL/dw1": d1 * x, "w2'": w2 - lr * d2 * h, "w1'": w1 - lr * d1 * x}
    for name, v in want.items():
        _close(_value(text, name), v)
    # the tutorial's program, one step as printed in seed 000
    layer1, output = h, y
    gradient_output = layer1 * (t - output) * output * (1 - output)
    gradient_hidden = x * gradient_output * w2 * layer1 * (1 - layer1)
    _close(_value(text, "gradient_output"), gradient_output)
    _close(_value(text, "gradient_hidden"), gradient_hidden)
    _close(_value(text, "weight1 (tutorial)"), w1 + gradient_hidden * lr)
    _close(_value(text, "weight2 (tutorial)"), w2 + gradient_output * lr)
    assert abs(gradient_hidden / (d1 * x) + layer1) < 1e-12  # the extra factor layer1
    _agreement(text, 1)
    labels = ("前向传播", "反向传播", "梯度下降", "nncore.trace") if lang == "zh" else \
        ("Forward propagation", "Backward propagation", "Gradient descent", "nncore.trace")
    for label in labels:
        assert label in text


W1 = np.array([[0.2, -0.3, 0.4], [0.1, 0.5, -0.2], [-0.4, 0.3, 0.1]])  # rows: H11 H12 H13
W2 = np.array([[0.3, -0.1, 0.2], [-0.2, 0.4, 0.1]])
W3 = np.array([[0.5, -0.4]])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_net(capsys, lang):
    text = _run(capsys, "net", "--lang", lang)
    x, t, lr = np.array([1.0, 0.5, -1.0]), 0.8, 0.1
    for layer, w in enumerate((W1, W2, W3), start=1):  # the weights it printed
        for j, row in enumerate(w, start=1):
            for i, v in enumerate(row, start=1):
                name = f"w{layer}{j + 1 if layer == 3 else j}{i}"
                assert re.search(rf"\b{name} = {v:g}(,|$)", text, re.M), name
    a = W1 @ x
    H1 = _sig(a)
    b = W2 @ H1
    H2 = _sig(b)
    c = (W3 @ H2)[0]
    out = _sig(c)
    for j in range(3):
        _close(_value(text, f"a1{j + 1}"), a[j])
        _close(_value(text, f"H1{j + 1}"), H1[j])
    for j in range(2):
        _close(_value(text, f"b2{j + 1}"), b[j])
        _close(_value(text, f"H2{j + 1}"), H2[j])
    _close(_value(text, "c"), c)
    _close(_value(text, "OUTPUT"), out)
    _close(_value(text, "L"), 0.5 * (out - t) ** 2)
    dc = (out - t) * out * (1 - out)
    _close(_value(text, "δ"), out - t)
    _close(_value(text, "δ_c"), dc)
    dH2 = W3[0] * dc
    db = dH2 * H2 * (1 - H2)
    dH1 = W2.T @ db
    da = dH1 * H1 * (1 - H1)
    for j in range(2):
        _close(_value(text, f"δ_H2{j + 1}"), dH2[j])
        _close(_value(text, f"δ_b2{j + 1}"), db[j])
    for j in range(3):
        _close(_value(text, f"δ_H1{j + 1}"), dH1[j])
        _close(_value(text, f"δ_a1{j + 1}"), da[j])
    for layer, (w, d, inp) in enumerate(((W1, da, x), (W2, db, H1), (W3, [dc], H2)), start=1):
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                name = f"w{layer}{j + 2 if layer == 3 else j + 1}{i + 1}'"
                _close(_value(text, name), w[j, i] - lr * d[j] * inp[i])
    _agreement(text, 1)
    assert ("(1-7)" in text) and ("(1-5)" in text) and ("(1-1)" in text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_xor(capsys, lang):
    text = _run(capsys, "xor", "--lang", lang)
    sections = text.split("\n== ")[1:]
    assert len(sections) == 2
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    for section, hidden, half, lr in ((sections[0], 2, True, 0.1),
                                      (sections[1], 4, False, 1.0)):
        rng = np.random.default_rng(1)  # seed 003 draws standard normal, seed 001 uniform
        draw = rng.standard_normal if hidden == 2 else rng.random
        w1, b1, w2, b2 = draw((2, hidden)), draw(hidden), draw((hidden, 1)), draw(1)
        for name, v in (("W1", w1), ("b1", b1), ("W2", w2), ("b2", b2)):
            _close(_matrix(section, name), v)
        z1 = X @ w1 + b1
        h = _sig(z1)
        z2 = h @ w2 + b2
        o = _sig(z2)
        scale = 0.5 if half else 1.0
        d2 = 2 * scale * (o - Y) * o * (1 - o)
        d1 = (d2 @ w2.T) * h * (1 - h)
        want = {"Z1": z1, "H": h, "Z2": z2, "OUT": o, "δ2": d2, "δ1": d1,
                "dL/dW2": h.T @ d2, "dL/db2": d2.sum(0), "dL/dW1": X.T @ d1,
                "dL/db1": d1.sum(0), "W1'": w1 - lr * X.T @ d1, "b1'": b1 - lr * d1.sum(0),
                "W2'": w2 - lr * h.T @ d2, "b2'": b2 - lr * d2.sum(0)}
        for name, v in want.items():
            _close(_matrix(section, name), v)
        _close(_value(section, "L"), scale * np.sum((o - Y) ** 2))
    _agreement(text, 2)


def test_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "nncore", "explain", "chain", "--lang", "zh"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "前向传播" in proc.stdout and "nncore.trace" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nncore", "explain", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_learn_md_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import pathlib
    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "learn.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 5
    monkeypatch.chdir(tmp_path)
    scope = {}
    for code in blocks:
        exec(compile(code, "<learn.md>", "exec"), scope)  # noqa: S102
    out = capsys.readouterr().out
    assert (tmp_path / "trace_xor.png").stat().st_size > 10_000
    assert "3 (4, 4)" in out  # the hook saw the three forwards of the fit
    assert "δ = dL/dz = dL/da * sigmoid'(z)" in out
    norms = [float(v) for v in re.findall(r"\|δ\| = ([0-9.e+-]+)", out)]
    assert len(norms) == 10 and all(a < b for a, b in zip(norms, norms[1:]))  # vanishing
