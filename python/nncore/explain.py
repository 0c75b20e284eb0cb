"""``python -m nncore explain chain|net|xor [--lang zh]``: one training step of the
tutorials' own examples, number by number.

Each walk prints every equation with its numbers put in (forward), every delta by the
chain rule (backward) and every update (gradient descent), computed by hand here in
plain Python and NumPy, as the tutorials do; then the same numbers from
:func:`nncore.trace` on the same network, with the largest difference.

- ``chain``: seed 000's two-weight sigmoid chain (input 0.5, weights 0.8 and 0.6, target
  0.9, learning rate 0.1), and where the tutorial's printed program differs from exact
  backpropagation (its extra factor ``layer1``).
- ``net``: seed 004's 3-input network (3, 2 and 1 sigmoid neurons, no biases), its
  equations (1-1) to (1-7) with fixed small weights.
- ``xor``: one full batch of XOR for the 2-2-1 network of seed 003 and a 2-4-1 network
  like seed 001's.

``--lang zh`` prints the labels in Chinese, the tutorials' language.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

__all__ = ["main", "chain", "net", "xor"]

_LABELS = {
    "forward": ("Forward propagation", "前向传播"),
    "backward": ("Backward propagation (the chain rule)", "反向传播(链式法则)"),
    "update": ("Gradient descent: each weight moves against its gradient",
               "梯度下降:每个权重沿梯度的反方向更新"),
    "tutorial": ("The tutorial's printed program", "教程中打印的程序"),
    "trace": ("The same step from nncore.trace", "用 nncore.trace 算同一步"),
    "hand": ("by hand", "手算"),
    "diff": ("largest difference", "最大差异"),
    "agree": ("nncore.trace and the hand computation agree",
              "nncore.trace 与手算结果一致"),
    "disagree": ("nncore.trace and the hand computation DIFFER",
                 "nncore.trace 与手算结果不一致"),
    "given": ("Given", "已知"),
    "input": ("input", "输入"),
    "target": ("target", "目标输出"),
    "lr": ("learning rate", "学习率"),
    "loss": ("loss", "损失函数"),
    "chain_title": ("Seed 000's chain: x -> h = sigmoid(w1·x) -> y = sigmoid(w2·h)",
                    "种子 000 的链:x -> h = sigmoid(w1·x) -> y = sigmoid(w2·h)"),
    "quirk": ("its hidden gradient starts from gradient_output, which already holds the "
              "factor layer1 = h, so its w1 step is the exact one times layer1",
              "隐藏层梯度从 gradient_output 出发,而它已含因子 layer1 = h,所以 w1 的更新是"
              "精确值乘以 layer1"),
    "exact": ("exact backpropagation", "精确的反向传播"),
    "net_title": ("Seed 004's network: inputs x1 x2 x3, hidden H11 H12 H13, hidden H21 H22, "
                  "OUTPUT; sigmoid neurons, no biases",
                  "种子 004 的网络:输入 x1 x2 x3,隐藏层 H11 H12 H13 与 H21 H22,输出 OUTPUT;"
                  "sigmoid 神经元,无偏移"),
    "nncore_w": ("nncore keeps w as (in, out): w[i, j] is the tutorial's w_l,j+1,i+1",
                 "nncore 的 w 形状为 (输入, 输出):w[i, j] 即教程中的 w_l,j+1,i+1"),
    "xor_title": ("XOR, one full batch of its four samples", "XOR:四个样本组成的一个批次"),
    "net_221": ("Seed 003's 2-2-1 network (sigmoid, biases), L = ½·Σ(out - y)², lr 0.1",
                "种子 003 的 2-2-1 网络(sigmoid,有偏移),L = ½·Σ(out - y)²,学习率 0.1"),
    "net_241": ("A 2-4-1 network like seed 001's (sigmoid, biases for its constant input), "
                "L = Σ(out - y)², lr 1",
                "与种子 001 类似的 2-4-1 网络(sigmoid,以偏移代替常数输入),"
                "L = Σ(out - y)²,学习率 1"),
}


class _Out:
    """Printing with the labels of one language."""

    def __init__(self, lang, write=print):
        if lang not in ("en", "zh"):
            raise ValueError(f"explain: lang must be 'en' or 'zh'; got {lang!r}")
        self.zh = lang == "zh"
        self.write = write

    def label(self, key):
        return _LABELS[key][self.zh]

    def section(self, key):
        self.write("")
        self.write(self.label(key))

    def eq(self, name, expr, value, note=""):
        """``  name = expr = value`` (10 significant digits), then ``   (note)``."""
        value = _num(value)
        line = f"  {name} = {expr} = {value}" if expr else f"  {name} = {value}"
        self.write(line + (f"   ({note})" if note else ""))

    def mat(self, name, expr, a):
        """``  name = expr =`` and the matrix below it (a Python literal)."""
        self.write(f"  {name} = {expr} =" if expr else f"  {name} =")
        self.write(_arr(a, "    "))


def _num(v):
    return f"{float(v):.10g}"


def _p(v):
    """A number as it is put into an equation (parenthesised when negative)."""
    s = f"{float(v):.6g}"
    return f"({s})" if s.startswith("-") else s


def _arr(a, indent=""):
    text = np.array2string(np.asarray(a, np.float64), separator=", ",
                           formatter={"float_kind": lambda v: f"{v:.10g}"},
                           max_line_width=100)
    return indent + text.replace("\n", "\n" + indent)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _compare(out, t, pairs):
    """Print each traced quantity next to the hand value; return the largest difference."""
    worst = 0.0
    for label, traced, hand in pairs:
        traced, hand = np.asarray(traced, np.float64), np.asarray(hand, np.float64)
        diff = float(np.max(np.abs(traced - hand.reshape(traced.shape)))) if traced.size else 0.0
        worst = max(worst, diff)
        if traced.size == 1:
            out.write(f"  {label} = {_num(traced.ravel()[0])}   "
                      f"({out.label('hand')} {_num(hand.ravel()[0])}, "
                      f"{out.label('diff')} {diff:.1e})")
        else:
            out.write(f"  {label} =   ({out.label('hand')}: {out.label('diff')} {diff:.1e})")
            out.write(_arr(traced, "    "))
    out.write(f"  {out.label('diff')}: {worst:.1e}: "
              f"{out.label('agree') if worst <= 1e-12 else out.label('disagree')}")
    return worst


# --------------------------------------------------------------------------- chain

def chain(lang="en", write=print):
    """Seed 000's two-weight chain, one step by hand and by :func:`nncore.trace`.
    Returns the largest difference between the two."""
    out = _Out(lang, write)
    x, w1, w2, t, lr = 0.5, 0.8, 0.6, 0.9, 0.1
    out.write(out.label("chain_title"))
    out.write(f"{out.label('given')}: x = {x}, w1 = {w1}, w2 = {w2}, t = {t} "
              f"({out.label('target')}), lr = {lr} ({out.label('lr')}), "
              f"L = ½(t - y)² ({out.label('loss')})")

    out.section("forward")
    z1 = w1 * x
    out.eq("z1", f"w1·x = {_p(w1)} × {_p(x)}", z1)
    h = 1 / (1 + math.exp(-z1))
    out.eq("h", f"sigmoid(z1) = 1/(1 + e^-{_p(z1)})", h)
    z2 = w2 * h
    out.eq("z2", f"w2·h = {_p(w2)} × {_p(h)}", z2)
    y = 1 / (1 + math.exp(-z2))
    out.eq("y", f"sigmoid(z2) = 1/(1 + e^-{_p(z2)})", y)
    loss = 0.5 * (t - y) ** 2
    out.eq("L", f"½(t - y)² = ½ × ({_p(t)} - {_p(y)})²", loss)

    out.section("backward")
    dy = y - t
    out.eq("dL/dy", f"y - t = {_p(y)} - {_p(t)}", dy)
    d2 = dy * y * (1 - y)
    out.eq("δ2", f"dL/dz2 = dL/dy · y(1 - y) = {_p(dy)} × {_p(y)} × (1 - {_p(y)})", d2)
    g2 = d2 * h
    out.eq("dL/dw2", f"δ2 · h = {_p(d2)} × {_p(h)}", g2)
    dh = d2 * w2
    out.eq("dL/dh", f"δ2 · w2 = {_p(d2)} × {_p(w2)}", dh)
    d1 = dh * h * (1 - h)
    out.eq("δ1", f"dL/dz1 = dL/dh · h(1 - h) = {_p(dh)} × {_p(h)} × (1 - {_p(h)})", d1)
    g1 = d1 * x
    out.eq("dL/dw1", f"δ1 · x = {_p(d1)} × {_p(x)}", g1)

    out.section("update")
    new2, new1 = w2 - lr * g2, w1 - lr * g1
    out.eq("w2'", f"w2 - lr · dL/dw2 = {_p(w2)} - {_p(lr)} × {_p(g2)}", new2)
    out.eq("w1'", f"w1 - lr · dL/dw1 = {_p(w1)} - {_p(lr)} × {_p(g1)}", new1)

    out.section("tutorial")
    layer1, output, error = h, y, t - y
    gradient_output = layer1 * error * output * (1 - output)
    exact = out.label("exact")
    out.eq("gradient_output", "layer1 · error · sigmoid'(output) = "
           f"{_p(layer1)} × {_p(error)} × {_p(output * (1 - output))}", gradient_output,
           f"= -dL/dw2 = {_num(-g2)}")
    error_at_hidden = gradient_output * w2
    out.eq("error_at_hidden", f"gradient_output · weight2 = {_p(gradient_output)} × {_p(w2)}",
           error_at_hidden, f"{exact}: -dL/dh = -δ2 · w2 = {_num(-dh)}")
    gradient_hidden = x * error_at_hidden * layer1 * (1 - layer1)
    out.eq("gradient_hidden", f"input · error_at_hidden · sigmoid'(layer1) = {_p(x)} × "
           f"{_p(error_at_hidden)} × {_p(layer1 * (1 - layer1))}", gradient_hidden,
           f"{exact}: -dL/dw1 = {_num(-g1)}")
    out.eq("weight2 (tutorial)", f"weight2 + gradient_output · lr = {_p(w2)} + "
           f"{_p(gradient_output)} × {_p(lr)}", w2 + gradient_output * lr, "= w2'")
    out.eq("weight1 (tutorial)", f"weight1 + gradient_hidden · lr = {_p(w1)} + "
           f"{_p(gradient_hidden)} × {_p(lr)}", w1 + gradient_hidden * lr,
           f"{exact}: w1' = {_num(new1)}")
    out.write(f"  {out.label('quirk')}: gradient_hidden / (-dL/dw1) = "
              f"{_num(gradient_hidden / -g1)} = layer1")

    out.section("trace")
    import nncore as nc
    code = ['model = nc.Sequential([nc.Dense(1, 1, "sigmoid", use_bias=False),',
            '                       nc.Dense(1, 1, "sigmoid", use_bias=False)], '
            'dtype="float64")',
            'model.set_weights([[[0.8]], [[0.6]]])',
            '# ½(t - y)²: the summed squared error with sample weight ½',
            't = nc.trace(model, [[0.5]], [[0.9]], nc.MSELoss(reduction="sum"), '
            'nc.SGD(lr=0.1), sample_weight=[0.5])']
    for line in code:
        out.write("  " + line)
    model = nc.Sequential([nc.Dense(1, 1, "sigmoid", use_bias=False),
                           nc.Dense(1, 1, "sigmoid", use_bias=False)], dtype="float64")
    model.set_weights([[[w1]], [[w2]]])
    tr = nc.trace(model, [[x]], [[t]], nc.MSELoss(reduction="sum"), nc.SGD(lr=lr),
                  sample_weight=[0.5])
    return _compare(out, tr, [
        ("t.layers[0].z", tr.layers[0].z, z1), ("t.layers[0].output", tr.layers[0].output, h),
        ("t.layers[1].z", tr.layers[1].z, z2), ("t.layers[1].output", tr.layers[1].output, y),
        ("t.loss", tr.loss, loss), ("t.layers[1].delta", tr.layers[1].delta, d2),
        ("t.layers[1].grad_w", tr.layers[1].grad_w, g2),
        ("t.layers[0].delta", tr.layers[0].delta, d1),
        ("t.layers[0].grad_w", tr.layers[0].grad_w, g1),
        ("t.layers[1].update['w']", tr.layers[1].update["w"], new2 - w2),
        ("t.layers[0].update['w']", tr.layers[0].update["w"], new1 - w1)])


# --------------------------------------------------------------------------- net

#: Seed 004's weights, in its notation: W1[j][i] = w_1,j+1,i+1 (neuron j of the first
#: hidden layer, input i); W2[j][i] = w_2,j+1,i+1; W3[0][i] = w_3,2,i+1 (the tutorial's
#: output weights are named w_321, w_322).
NET_X = (1.0, 0.5, -1.0)
NET_W1 = ((0.2, -0.3, 0.4), (0.1, 0.5, -0.2), (-0.4, 0.3, 0.1))
NET_W2 = ((0.3, -0.1, 0.2), (-0.2, 0.4, 0.1))
NET_W3 = ((0.5, -0.4),)
NET_TARGET, NET_LR = 0.8, 0.1


def net(lang="en", write=print):
    """Seed 004's 3-3-2-1 network, equations (1-1) to (1-7), by hand and by
    :func:`nncore.trace`. Returns the largest difference between the two."""
    out = _Out(lang, write)
    x = np.array(NET_X)
    W = [np.array(NET_W1), np.array(NET_W2), np.array(NET_W3)]
    t, lr = NET_TARGET, NET_LR
    out.write(out.label("net_title"))
    out.write(f"{out.label('given')}: x = {tuple(float(v) for v in x)}, t = {t} "
              f"({out.label('target')}), α = {lr} ({out.label('lr')}), "
              f"L = ½(OUTPUT - t)² ({out.label('loss')})")
    for layer, w in enumerate(W, start=1):
        for j, row in enumerate(w, start=1):
            names = ", ".join(f"{_wname(layer, j, i)} = {v:g}" for i, v in enumerate(row, 1))
            out.write(f"  {names}")

    out.section("forward")
    sums, acts = [], []  # per layer: weighted sums (a, b, c) and outputs (H1, H2, OUTPUT)
    inp, in_names = x, [f"x{i}" for i in range(1, 4)]
    for layer, w in enumerate(W, start=1):
        s = w @ inp
        a = _sigmoid(s)
        tag = ["(1-1)", "(1-2)", "(1-3)"][layer - 1]
        for j in range(len(w)):
            terms = " + ".join(f"{n}·{_wname(layer, j + 1, i + 1)}"
                               for i, n in enumerate(in_names))
            nums = " + ".join(f"{_p(inp[i])}·{_p(w[j, i])}" for i in range(len(inp)))
            out.eq(f"{_sname(layer, j)}", f"{terms} = {nums}", s[j], tag)
            out.eq(f"{_hname(layer, j)}", f"sigmoid({_sname(layer, j)})", a[j])
        sums.append(s)
        acts.append(a)
        inp, in_names = a, [_hname(layer, j) for j in range(len(w))]
    y = acts[-1][0]
    loss = 0.5 * (y - t) ** 2
    out.eq("L", f"½(OUTPUT - t)² = ½ × ({_p(y)} - {_p(t)})²", loss)

    out.section("backward")
    delta = y - t
    out.eq("δ", f"dL/dOUTPUT = OUTPUT - t = {_p(y)} - {_p(t)}", delta)
    dz = [None, None, np.array([delta * y * (1 - y)])]
    out.eq("δ_c", f"dL/dc = δ · OUTPUT(1 - OUTPUT) = {_p(delta)} × {_p(y)} × (1 - {_p(y)})",
           dz[2][0])
    for layer in (2, 1):  # (1-4) then (1-5): from the layer above, then through sigmoid
        w_up, d_up = W[layer], dz[layer]
        tag = "(1-4)" if layer == 2 else "(1-5)"
        dh = w_up.T @ d_up
        for j in range(len(dh)):
            terms = " + ".join(f"{_dname(layer + 1, k)}·{_wname(layer + 1, k + 1, j + 1)}"
                               for k in range(len(d_up)))
            nums = " + ".join(f"{_p(d_up[k])}·{_p(w_up[k, j])}" for k in range(len(d_up)))
            out.eq(f"δ_{_hname(layer, j)}", f"dL/d{_hname(layer, j)} = {terms} = {nums}",
                   dh[j], tag)
        a = acts[layer - 1]
        dz[layer - 1] = dh * a * (1 - a)
        for j in range(len(dh)):
            out.eq(_dname(layer, j), f"dL/d{_sname(layer, j)} = δ_{_hname(layer, j)} · "
                   f"{_hname(layer, j)}(1 - {_hname(layer, j)}) = {_p(dh[j])} × {_p(a[j])} × "
                   f"(1 - {_p(a[j])})", dz[layer - 1][j])

    out.section("update")
    out.write("  θ = θ - α · dL/dθ  (1-6);  dL/dw_l,j,i = δ_j · f'(·) · input_i  (1-7)")
    news = []
    inputs = [x, acts[0], acts[1]]
    for layer, w in enumerate(W, start=1):
        grad = np.outer(dz[layer - 1], inputs[layer - 1])
        new = w - lr * grad
        news.append(new)
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                n = _wname(layer, j + 1, i + 1)
                out.eq(n + "'", f"{n} - α · {_dname(layer, j)} · {_iname(layer, i)} = "
                       f"{_p(w[j, i])} - {_p(lr)} × {_p(dz[layer - 1][j])} × "
                       f"{_p(inputs[layer - 1][i])}", new[j, i])

    out.section("trace")
    out.write("  " + out.label("nncore_w"))
    import nncore as nc
    for line in ['model = nc.Sequential([nc.Dense(3, 3, "sigmoid", use_bias=False),',
                 '                       nc.Dense(3, 2, "sigmoid", use_bias=False),',
                 '                       nc.Dense(2, 1, "sigmoid", use_bias=False)], '
                 'dtype="float64")',
                 'model.set_weights([W1.T, W2.T, W3.T])',
                 't = nc.trace(model, [x], [[0.8]], nc.MSELoss(reduction="sum"), '
                 'nc.SGD(lr=0.1), sample_weight=[0.5])']:
        out.write("  " + line)
    model = nc.Sequential([nc.Dense(3, 3, "sigmoid", use_bias=False),
                           nc.Dense(3, 2, "sigmoid", use_bias=False),
                           nc.Dense(2, 1, "sigmoid", use_bias=False)], dtype="float64")
    model.set_weights([w.T for w in W])
    tr = nc.trace(model, [x], [[t]], nc.MSELoss(reduction="sum"), nc.SGD(lr=lr),
                  sample_weight=[0.5])
    pairs = [("t.loss", tr.loss, loss)]
    for k in range(3):
        pairs += [(f"t.layers[{k}].z", tr.layers[k].z, sums[k]),
                  (f"t.layers[{k}].output", tr.layers[k].output, acts[k]),
                  (f"t.layers[{k}].delta", tr.layers[k].delta, dz[k]),
                  (f"t.layers[{k}].update['w'].T", tr.layers[k].update["w"].T, news[k] - W[k])]
    return _compare(out, tr, pairs)


def _wname(layer, j, i):
    """The tutorial's weight names: w_111 ... w_133, w_211 ... w_223, w_321, w_322."""
    return f"w{layer}{j + 1 if layer == 3 else j}{i}"


def _sname(layer, j):
    return f"{'abc'[layer - 1]}{'' if layer == 3 else str(layer) + str(j + 1)}"


def _hname(layer, j):
    return "OUTPUT" if layer == 3 else f"H{layer}{j + 1}"


def _dname(layer, j):
    return "δ_c" if layer == 3 else f"δ_{_sname(layer, j)}"


def _iname(layer, i):
    return f"x{i + 1}" if layer == 1 else _hname(layer - 1, i)


# --------------------------------------------------------------------------- xor

def xor_start(hidden, seed=1):
    """The start of the 2-2-1 (seed 003: standard normal) or 2-4-1 (seed 001: uniform in
    [0, 1)) network: ``w1 (2, hidden), b1 (hidden,), w2 (hidden, 1), b2 (1,)``."""
    rng = np.random.default_rng(seed)
    draw = rng.standard_normal if hidden == 2 else rng.random
    return draw((2, hidden)), draw(hidden), draw((hidden, 1)), draw(1)


def xor(lang="en", write=print):
    """One full-batch step of the XOR networks (2-2-1 and 2-4-1), by hand in NumPy and by
    :func:`nncore.trace`. Returns the largest difference."""
    out = _Out(lang, write)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    out.write(out.label("xor_title"))
    out.mat("X", "", X)
    out.mat("y", "", Y)
    worst = 0.0
    for hidden, title, half, lr in ((2, "net_221", True, 0.1), (4, "net_241", False, 1.0)):
        out.write("")
        out.write(f"== {out.label(title)}")
        w1, b1, w2, b2 = xor_start(hidden)
        tag = ""  # names repeat per network: each has its own "== " section
        out.mat("W1" + tag, "", w1)
        out.mat("b1" + tag, "", b1)
        out.mat("W2" + tag, "", w2)
        out.mat("b2" + tag, "", b2)
        out.section("forward")
        z1 = X @ w1 + b1
        out.mat("Z1" + tag, "X @ W1 + b1", z1)
        h = _sigmoid(z1)
        out.mat("H" + tag, "sigmoid(Z1)", h)
        z2 = h @ w2 + b2
        out.mat("Z2" + tag, "H @ W2 + b2", z2)
        o = _sigmoid(z2)
        out.mat("OUT" + tag, "sigmoid(Z2)", o)
        scale = 0.5 if half else 1.0
        loss = scale * float(np.sum((o - Y) ** 2))
        out.eq("L" + tag, ("½·" if half else "") + "Σ(OUT - y)²", loss)
        out.section("backward")
        d_out = 2 * scale * (o - Y)
        out.mat("dL/dOUT" + tag, ("" if half else "2·") + "(OUT - y)", d_out)
        d2 = d_out * o * (1 - o)
        out.mat("δ2" + tag, "dL/dZ2 = dL/dOUT * OUT(1 - OUT)", d2)
        gw2, gb2 = h.T @ d2, d2.sum(axis=0)
        out.mat("dL/dW2" + tag, "Hᵀ @ δ2", gw2)
        out.mat("dL/db2" + tag, "Σ_rows δ2", gb2)
        dh = d2 @ w2.T
        out.mat("dL/dH" + tag, "δ2 @ W2ᵀ", dh)
        d1 = dh * h * (1 - h)
        out.mat("δ1" + tag, "dL/dZ1 = dL/dH * H(1 - H)", d1)
        gw1, gb1 = X.T @ d1, d1.sum(axis=0)
        out.mat("dL/dW1" + tag, "Xᵀ @ δ1", gw1)
        out.mat("dL/db1" + tag, "Σ_rows δ1", gb1)
        out.section("update")
        new = {"W1": w1 - lr * gw1, "b1": b1 - lr * gb1, "W2": w2 - lr * gw2,
               "b2": b2 - lr * gb2}
        for name, grad in (("W1", gw1), ("b1", gb1), ("W2", gw2), ("b2", gb2)):
            out.mat(name + "'" + tag, f"{name} - {lr:g} · dL/d{name}", new[name])

        out.section("trace")
        import nncore as nc
        loss_code = 'nc.MSELoss(reduction="sum"), nc.SGD(lr=%g)%s' % (
            lr, ", sample_weight=[0.5] * 4" if half else "")
        for line in [f'model = nc.Sequential([nc.Dense(2, {hidden}, "sigmoid"), '
                     'nc.Dense(%d, 1, "sigmoid")], dtype="float64")' % hidden,
                     'model.set_weights([W1, b1, W2, b2])',
                     f't = nc.trace(model, X, y, {loss_code})']:
            out.write("  " + line)
        model = nc.Sequential([nc.Dense(2, hidden, "sigmoid"), nc.Dense(hidden, 1, "sigmoid")],
                              dtype="float64")
        model.set_weights([w1, b1, w2, b2])
        tr = nc.trace(model, X, Y, nc.MSELoss(reduction="sum"), nc.SGD(lr=lr),
                      sample_weight=[scale] * 4 if half else None)
        a, b = tr.layers
        worst = max(worst, _compare(out, tr, [
            ("t.loss", tr.loss, loss), ("t.layers[0].z", a.z, z1),
            ("t.layers[0].output", a.output, h), ("t.layers[1].z", b.z, z2),
            ("t.layers[1].output", b.output, o), ("t.layers[1].delta", b.delta, d2),
            ("t.layers[1].grad_w", b.grad_w, gw2), ("t.layers[1].grad_b", b.grad_b, gb2),
            ("t.layers[0].delta", a.delta, d1), ("t.layers[0].grad_w", a.grad_w, gw1),
            ("t.layers[0].grad_b", a.grad_b, gb1),
            ("t.layers[0].update['w']", a.update["w"], new["W1"] - w1),
            ("t.layers[1].update['w']", b.update["w"], new["W2"] - w2)]))
    return worst


WALKS = {"chain": chain, "net": net, "xor": xor}


def main(argv=None):
    """``python -m nncore explain chain|net|xor [--lang zh]``; returns the exit code
    (0 when nncore.trace agrees with the hand computation to 1e-12)."""
    parser = argparse.ArgumentParser(
        prog="python -m nncore explain",
        description="One training step of the tutorials' examples, number by number.")
    parser.add_argument("example", choices=sorted(WALKS), nargs="?", default="chain",
                        help="chain (seed 000), net (seed 004) or xor (seeds 001/003)")
    parser.add_argument("--lang", choices=["en", "zh"], default="en",
                        help="language of the labels (zh: the tutorials' Chinese)")
    args = parser.parse_args(argv)
    worst = WALKS[args.example](args.lang)
    return 0 if worst <= 1e-12 else 1
