"""nncore.trace: every traced quantity against PyTorch autograd (float64), the model and
optimiser untouched unless apply=True, apply=True is one train_on_batch bit for bit, and
the tutorials' chain against numbers computed by hand from its formulas."""
import math

import numpy as np
import pytest

import nncore as nc
from nncore.activations import ACTIVATIONS

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = dict(rtol=1e-12, atol=1e-12)


def _act_torch(name, slope=0.01):
    return {"identity": lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "tanh": torch.tanh, "leaky_relu": lambda z: TF.leaky_relu(z, slope),
            "softmax": lambda z: torch.softmax(z, -1), "gelu": TF.gelu,
            "gelu_tanh": lambda z: TF.gelu(z, approximate="tanh"), "silu": TF.silu,
            "softplus": TF.softplus}[name]


def _torch_loss(name, out, y, w, reduction="mean"):
    """The loss in torch, with nncore's weighted-mean rule written out."""
    if name == "cross_entropy":
        per = TF.cross_entropy(out, y, reduction="none")
        outputs = 1
    else:
        fn = {"mse": TF.mse_loss, "l1": TF.l1_loss, "huber": TF.huber_loss,
              "bce_with_logits": TF.binary_cross_entropy_with_logits}[name]
        per = fn(out, y, reduction="none").sum(dim=1)
        outputs = out.shape[1]
    if w is None:
        w = torch.ones(len(out), dtype=out.dtype)
    if reduction == "sum":
        return (w * per).sum()
    return (w * per).sum() / (w.sum() * outputs)


def _torch_step(model, x, y, loss, w=None, masks=None, reduction="mean"):
    """Forward and backward in torch on copies of the model's weights, layer by layer:
    per layer (input, z, output, dL/dz or dL/d output, grads); and the loss."""
    t = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    h = t(x)
    recs = []
    for i, layer in enumerate(model.layers):
        rec = {"input": h}
        if isinstance(layer, nc.Dense):
            W = t(layer.w.data).requires_grad_()
            B = t(layer.b.data).requires_grad_() if layer.b is not None else None
            z = h @ W + (B if B is not None else 0)
            z.retain_grad()
            act = layer.activation
            if act == "softmax" and i == len(model.layers) - 1 and loss == "cross_entropy":
                act = "identity"  # the loss takes the logits
            out = _act_torch(act, layer.slope)(z)
            rec.update(z=z, params={"w": W, "b": B}, act=act)
        elif isinstance(layer, nc.Dropout):
            out = h * t(masks[i])
        else:
            out = _act_torch(layer.activation, getattr(layer, "slope", 0.01))(h)
        out.retain_grad()
        rec["output"] = out
        recs.append(rec)
        h = out
    target = torch.tensor(y) if loss == "cross_entropy" and np.ndim(y) == 1 else t(y)
    value = _torch_loss(loss, h, target, None if w is None else t(w), reduction)
    value.backward()
    return recs, value


@pytest.fixture(autouse=True)
def _float64():
    yield


def _data(n=5, features=3, outputs=3, loss="mse", seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    if loss == "cross_entropy":
        y = rng.integers(0, outputs, n)
    elif loss == "bce_with_logits":
        y = rng.integers(0, 2, (n, outputs)).astype(np.float64)
    else:
        y = rng.standard_normal((n, outputs))
    return x, y


def _check(model, x, y, loss, w=None, lr=0.1, reduction="mean"):
    loss_fn = nc.losses.get(loss).with_reduction(reduction)
    tr = nc.trace(model, x, y, loss_fn, nc.SGD(lr=lr), sample_weight=w)
    masks = [rec.mask for rec in tr.layers]
    recs, value = _torch_step(model, x, y, loss, w, masks, reduction)
    np.testing.assert_allclose(tr.loss, value.item(), **TOL)
    assert len(tr.layers) == len(model.layers)
    for i, (rec, ref) in enumerate(zip(tr.layers, recs)):
        np.testing.assert_allclose(rec.input, ref["input"].detach().numpy(), **TOL)
        np.testing.assert_allclose(rec.output, ref["output"].detach().numpy(), **TOL)
        if rec.kind == "Dense":
            np.testing.assert_allclose(rec.z, ref["z"].detach().numpy(), **TOL)
            np.testing.assert_allclose(rec.delta, ref["z"].grad.numpy(), **TOL)
            np.testing.assert_allclose(rec.grad_output, ref["output"].grad.numpy(), **TOL)
            for name, p in ref["params"].items():
                if p is None:
                    assert rec.grads.get(name) is None
                    continue
                np.testing.assert_allclose(rec.grads[name], p.grad.numpy(), **TOL)
                np.testing.assert_allclose(rec.update[name], -lr * p.grad.numpy(), **TOL)
            assert rec.grad_w is rec.grads["w"]
        else:
            assert rec.z is None and not rec.grads
            np.testing.assert_allclose(rec.delta, ref["output"].grad.numpy(), **TOL)
        if i > 0:
            np.testing.assert_allclose(rec.grad_input, recs[i - 1]["output"].grad.numpy(), **TOL)
        else:
            assert rec.grad_input is None
    return tr


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_every_activation_of_a_dense_layer_against_torch(act):
    model = nc.Sequential([nc.Dense(3, 4, act), nc.Dense(4, 3, act), nc.Dense(3, 2)],
                          seed=1, dtype="float64")
    x, y = _data(outputs=2)
    _check(model, x, y, "mse")


@pytest.mark.parametrize("name", sorted(nc.layers.ACTIVATION_LAYERS))
def test_every_activation_layer_against_torch(name):
    # a Dense without activation and the activation layer after it: fused in training,
    # two layers in the trace (z, then f(z))
    model = nc.Sequential([nc.Dense(3, 4), nc.layers.activation_layer(name), nc.Dense(4, 2)],
                          seed=2, dtype="float64")
    x, y = _data(outputs=2)
    tr = _check(model, x, y, "mse")
    np.testing.assert_array_equal(tr.layers[1].input, tr.layers[0].z)
    assert not model.has_hooks()  # the trace's hooks are gone; the plan is fused again
    assert model._skip[1] == (name in nc.activations.FUSABLE)


@pytest.mark.parametrize("loss", ["mse", "l1", "huber", "cross_entropy", "bce_with_logits"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_every_loss_against_torch(loss, reduction):
    model = nc.Sequential([nc.Dense(3, 5, "tanh"), nc.Dense(5, 3)], seed=3, dtype="float64")
    x, y = _data(loss=loss, seed=4)
    _check(model, x, y, loss, reduction=reduction)


def test_softmax_output_with_cross_entropy_traces_the_logits():
    model = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 3, "softmax")], seed=5,
                          dtype="float64")
    x, y = _data(loss="cross_entropy")
    tr = _check(model, x, y, "cross_entropy")
    assert tr.layers[-1].activation == "identity"  # the loss applied the softmax


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_sample_weights_against_torch(loss):
    model = nc.Sequential([nc.Dense(3, 4, "sigmoid"), nc.Dense(4, 3)], seed=6, dtype="float64")
    x, y = _data(loss=loss, seed=7)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0])
    tr = _check(model, x, y, loss, w=w)
    np.testing.assert_array_equal(tr.sample_weight, w)
    # a zero weight: that sample contributes nothing to the gradient
    assert np.all(tr.layers[-1].delta[2] == 0)


def test_dropout_mask_against_torch():
    model = nc.Sequential([nc.Dense(3, 8, "relu"), nc.Dropout(0.5), nc.Dense(8, 2)], seed=8,
                          dtype="float64")
    x, y = _data(n=6, outputs=2)
    tr = _check(model, x, y, "mse")
    mask = tr.layers[1].mask
    assert mask.shape == (6, 8) and set(np.unique(mask)) <= {0.0, 2.0}
    assert 0 < np.count_nonzero(mask) < mask.size
    np.testing.assert_array_equal(tr.layers[1].output, tr.layers[1].input * mask)
    # the mask is the one the next training step would draw
    calls = model.layers[1].calls
    model.train_on_batch(x, y, "mse", nc.SGD(lr=0.1))
    np.testing.assert_array_equal(model.layers[1].mask, mask)
    assert model.layers[1].calls == calls + 1


def _state(model, opt):
    return ([p.data.copy() for p in model.parameters()],
            [p.grad.copy() for p in model.parameters()],
            [{k: v.copy() for k, v in s.items()} for s in opt.state], opt.steps,
            [layer.calls for layer in model.layers if isinstance(layer, nc.Dropout)],
            model.training, model.loss, model.optimizer)


def _same(a, b):
    params, grads, state, steps, calls, training, loss, opt = a
    params2, grads2, state2, steps2, calls2, training2, loss2, opt2 = b
    assert all(np.array_equal(p, q) for p, q in zip(params, params2))
    assert all(np.array_equal(p, q) for p, q in zip(grads, grads2))
    assert all(s.keys() == t.keys() and all(np.array_equal(s[k], t[k]) for k in s)
               for s, t in zip(state, state2))
    assert (steps, calls, training, loss, opt) == (steps2, calls2, training2, loss2, opt2)


@pytest.mark.parametrize("make_opt", [lambda: nc.SGD(lr=0.1, momentum=0.9),
                                      lambda: nc.Adam(lr=0.01)])
def test_trace_leaves_model_and_optimiser_untouched(make_opt):
    model = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dropout(0.3), nc.Dense(4, 3)], seed=9)
    x, y = _data(loss="cross_entropy")
    opt = make_opt()
    model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=2, batch_size=2, verbose=0)
    model.eval()
    before = _state(model, opt)
    loss = nc.CrossEntropyLoss()
    tr = nc.trace(model, x, y, loss, opt)
    _same(before, _state(model, opt))
    assert not tr.applied and model.training is False
    with pytest.raises(RuntimeError):
        loss.backward()  # the caller's loss object was not used
    # the update is what the optimiser's next step adds, on the trained state
    params = [p.data.copy() for p in model.parameters()]
    model.train_on_batch(x, y, "cross_entropy", opt)
    for (name, p), old in zip(model.named_parameters(), params):
        layer, pname = name.split(".")
        np.testing.assert_array_equal(tr[layer].update[pname], p.data - old)


def _models():
    return [
        lambda: nc.Sequential([nc.Dense(3, 6, "relu"), nc.Dense(6, 3)], seed=0),
        lambda: nc.Sequential([nc.Dense(3, 6), nc.Tanh(), nc.Dense(6, 3)], seed=1,
                              dtype="float64"),
        lambda: nc.Sequential([nc.Dense(3, 6, "sigmoid"), nc.Dropout(0.25), nc.Dense(6, 3)],
                              seed=2),
        lambda: nc.Sequential([nc.Dense(3, 6, "gelu"), nc.Dense(6, 3, "softmax")], seed=3),
    ]


@pytest.mark.parametrize("make_model", _models())
@pytest.mark.parametrize("make_opt", [lambda: nc.SGD(lr=0.1, momentum=0.9, nesterov=True),
                                      lambda: nc.Adam(lr=0.01, weight_decay=0.01)])
def test_apply_is_one_train_on_batch_bit_for_bit(make_model, make_opt):
    x, y = _data(n=7, loss="cross_entropy", seed=11)
    w = np.linspace(0.5, 1.5, 7)
    a, b = make_model(), make_model()
    opt_a, opt_b = make_opt(), make_opt()
    for step in range(3):
        dry = nc.trace(a, x, y, "cross_entropy", opt_a, sample_weight=w)
        before = [p.data.copy() for p in a.parameters()]
        tr = nc.trace(a, x, y, "cross_entropy", opt_a, apply=True, sample_weight=w)
        loss = b.train_on_batch(x, y, "cross_entropy", opt_b, sample_weight=w)
        assert tr.applied
        np.testing.assert_allclose(tr.loss, loss, rtol=1e-6)
        for p, q in zip(a.parameters(), b.parameters()):
            np.testing.assert_array_equal(p.data, q.data)
        for s, t in zip(opt_a.state, opt_b.state):
            for k in s:
                np.testing.assert_array_equal(s[k], t[k])
        assert opt_a.steps == opt_b.steps == step + 1
        assert a.optimizer is opt_a and isinstance(a.loss, nc.CrossEntropyLoss)
        # the dry run foretold the step exactly
        params = [p for layer in a.layers for p in layer.parameters()]
        recs = [rec for rec in dry.layers for _ in rec.update]
        names = [name for rec in dry.layers for name in rec.update]
        for p, old, rec, name in zip(params, before, recs, names):
            np.testing.assert_array_equal(rec.update[name], p.data - old)
            np.testing.assert_array_equal(tr[rec.name].update[name], p.data - old)


def test_the_chain_against_the_tutorials_formulas():
    # seed 000: x = 0.5, w1 = 0.8, w2 = 0.6, target 0.9, lr 0.1, L = ½(t - y)²
    x, w1, w2, t, lr = 0.5, 0.8, 0.6, 0.9, 0.1
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h = sig(w1 * x)
    y = sig(w2 * h)
    delta2 = (y - t) * y * (1 - y)
    delta1 = delta2 * w2 * h * (1 - h)
    model = nc.Sequential([nc.Dense(1, 1, "sigmoid", use_bias=False),
                           nc.Dense(1, 1, "sigmoid", use_bias=False)], dtype="float64")
    model.set_weights([[[w1]], [[w2]]])
    tr = nc.trace(model, [[x]], [[t]], nc.MSELoss(reduction="sum"), nc.SGD(lr=lr),
                  sample_weight=[0.5])
    got = [tr.layers[0].z, tr.layers[0].output, tr.layers[1].z, tr.layers[1].output,
           tr.loss, tr.layers[1].delta, tr.layers[1].grad_w, tr.layers[0].delta,
           tr.layers[0].grad_w, tr.layers[1].update["w"], tr.layers[0].update["w"]]
    want = [w1 * x, h, w2 * h, y, 0.5 * (t - y) ** 2, delta2, delta2 * h, delta1,
            delta1 * x, -lr * delta2 * h, -lr * delta1 * x]
    for g, v in zip(got, want):
        assert abs(float(np.asarray(g).ravel()[0]) - v) < 1e-15
    # the tutorial's printed numbers after step 1: prediction 0.5888, error 0.3112,
    # weight2 0.6045 (its weight1 carries the extra factor layer1: 0.8003, exact 0.8005)
    assert round(y, 4) == 0.5888 and round(t - y, 4) == 0.3112
    assert round(w2 + float(tr.layers[1].update["w"][0, 0]), 4) == 0.6045
    assert round(w1 + float(tr.layers[0].update["w"][0, 0]), 4) == 0.8005


def test_printing_to_dict_html_and_indexing():
    model = nc.Sequential([nc.Dense(2, 3, "relu"), nc.Dense(3, 40), nc.Dense(40, 1)], seed=0,
                          dtype="float64")
    x, y = _data(n=4, features=2, outputs=1)
    tr = nc.trace(model, x, y, "mse", nc.SGD(lr=0.1))
    text = str(tr)
    for formula in ("z = x @ w + b", "a = relu(z)", "δ = dL/dz = dL/da * relu'(z)",
                    "dL/dw = xᵀ @ δ", "dL/db = Σ_rows δ", "Δw = -0.1·dL/dw", "L = mean"):
        assert formula in text
    assert "min " in text and "‖·‖" in text  # the (4, 40) arrays are summarised
    small = np.array2string(tr.layers[0].grad_b, precision=6)
    assert small in text  # a small array in full
    d = tr.to_dict()
    assert d["layers"][0]["grad_w"].shape == (2, 3) and d["loss"] == tr.loss
    d["layers"][0]["grad_w"][...] = 7  # copies: the trace keeps its values
    assert not np.any(tr.layers[0].grad_w == 7)
    assert tr["dense_1"] is tr.layers[1] and len(tr) == 3
    with pytest.raises(KeyError):
        tr["nope"]
    html = tr._repr_html_()
    assert html.count("<tr>") == len(tr._rows()) + 1 and "dL/dw" in html


def test_plot_returns_a_figure_with_every_drawn_edge():
    matplotlib = pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    model = nc.Sequential([nc.Dense(2, 3, "tanh"), nc.Dense(3, 30, "relu"), nc.Dense(30, 1)],
                          seed=0, dtype="float64")
    x, y = _data(n=4, features=2, outputs=1)
    fig = nc.trace(model, x, y, "mse").plot(max_neurons=10)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # edges: 2*3 + 3*9 (30 units drawn as 8, a marker for 21 left out, the last) + 9*1
    assert len(ax.lines) == 2 * 3 + 3 * 9 + 9 * 1
    assert any("+21" in t.get_text() for t in ax.texts)  # the units left out
    assert matplotlib.get_backend() is not None


def test_bad_input():
    model = nc.Sequential([nc.Dense(2, 1)], seed=0)
    with pytest.raises(ValueError, match="trace: sample_weight"):
        nc.trace(model, np.ones((3, 2)), np.ones((3, 1)), "mse", sample_weight=[1, 2])
    with pytest.raises(ValueError, match="features"):
        nc.trace(model, np.ones((3, 4)), np.ones((3, 1)), "mse")
    with pytest.raises(TypeError, match="optimizer"):
        nc.trace(model, np.ones((3, 2)), np.ones((3, 1)), "mse", optimizer=object())


def test_trace_sees_what_the_user_hooks_make_and_keeps_them():
    model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 2)], seed=0, dtype="float64")
    x, y = _data(outputs=2)
    calls = []
    handle = model.layers[0].register_forward_hook(lambda m, i, out: 2 * out)
    model.layers[1].register_full_backward_hook(lambda m, gi, go: calls.append(1))
    tr = nc.trace(model, x, y, "mse")
    np.testing.assert_allclose(tr.layers[0].output, 2 * np.tanh(tr.layers[0].z), rtol=1e-14)
    np.testing.assert_array_equal(tr.layers[1].input, tr.layers[0].output)
    assert calls == [1] and model.has_hooks()
    handle.remove()
    assert model.has_hooks()  # the backward hook stays
