"""LayerNorm and BatchNorm1d as layers: against torch.nn modules step by step (float64,
1e-10: outputs, gradients, running statistics, eval mode), central differences through a
model, training in Sequential (loss decreases; eval predictions use the running
statistics), dtypes, save/load, summary and the errors."""
import numpy as np
import pytest

import nncore as nc
import nncore.functional as F

from conftest import numeric_grad


def _torch():
    return pytest.importorskip("torch")


def _param_grads(layer):
    return [p.grad.copy() for p in layer.parameters()]


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_matches_torch_over_steps_and_in_eval(momentum, affine, rng):
    torch = _torch()
    n = 6
    ours = nc.BatchNorm1d(n, eps=1e-4, momentum=momentum, affine=affine, dtype="float64")
    theirs = torch.nn.BatchNorm1d(n, eps=1e-4, momentum=momentum, affine=affine,
                                  dtype=torch.float64)
    if affine:
        w, b = rng.uniform(0.5, 2, n), rng.standard_normal(n)
        ours.weight.data[...], ours.bias.data[...] = w, b
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            theirs.bias.copy_(torch.tensor(b))
    for step in range(6):
        x = rng.standard_normal((10 + step, n)) * (1 + step) - step
        gy = rng.standard_normal(x.shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(gy))
        y = ours.forward(x)
        gx = ours.backward(gy)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=0,
                                   atol=1e-10)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=0,
                                   atol=1e-10)
        assert ours.num_batches_tracked == int(theirs.num_batches_tracked)
        if affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=0,
                                       atol=1e-10)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=0,
                                       atol=1e-10)
            theirs.zero_grad()
    ours.training = False
    theirs.eval()
    x = rng.standard_normal((3, n)) * 4
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    gy = rng.standard_normal(x.shape)
    yt.backward(torch.tensor(gy))
    before = ours.running_mean.copy(), ours.running_var.copy(), ours.num_batches_tracked
    np.testing.assert_allclose(ours.forward(x), yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.backward(gy), xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ours.running_mean, before[0])  # eval leaves them alone
    np.testing.assert_array_equal(ours.running_var, before[1])
    assert ours.num_batches_tracked == before[2]


def test_batchnorm1d_without_running_stats_uses_batch_statistics_in_eval(rng):
    torch = _torch()
    ours = nc.BatchNorm1d(4, track_running_stats=False, dtype="float64")
    theirs = torch.nn.BatchNorm1d(4, track_running_stats=False, dtype=torch.float64).eval()
    ours.training = False
    assert ours.buffers() == {}
    x = rng.standard_normal((7, 4)) * 3 + 1
    want = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours.forward(x), want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_matches_torch(affine, rng):
    torch = _torch()
    ours = nc.LayerNorm(9, eps=1e-6, elementwise_affine=affine, dtype="float64")
    theirs = torch.nn.LayerNorm(9, eps=1e-6, elementwise_affine=affine, dtype=torch.float64)
    if affine:
        w, b = rng.uniform(0.5, 2, 9), rng.standard_normal(9)
        ours.weight.data[...], ours.bias.data[...] = w, b
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            theirs.bias.copy_(torch.tensor(b))
    for training in (True, False):  # the same in both modes
        ours.training = training
        x = rng.standard_normal((5, 9)) * 3 + 2
        gy = rng.standard_normal(x.shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(gy))
        np.testing.assert_allclose(ours.forward(x), yt.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.backward(gy), xt.grad.numpy(), rtol=0, atol=1e-10)
        if affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=0,
                                       atol=1e-10)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=0,
                                       atol=1e-10)
            theirs.zero_grad()


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_model_gradients_match_central_differences(norm, rng):
    mid = nc.BatchNorm1d(5, eps=1e-3) if norm == "batch" else nc.LayerNorm(5, eps=1e-3)
    model = nc.Sequential([nc.Dense(3, 5), mid, nc.Tanh(), nc.Dense(5, 2)], seed=1,
                          dtype="float64")
    model.set_input_grad(True)
    mid.weight.data[...] = rng.uniform(0.5, 1.5, 5)
    mid.bias.data[...] = rng.standard_normal(5)
    x, G = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

    def loss(v, p=None):
        if p is not None:
            keep = p.data.copy()
            p.data[...] = v
        out = float(np.sum(model.forward(x if p is not None else v) * G))
        if p is not None:
            p.data[...] = keep
        return out

    model.forward(x)
    gx = model.backward(G).copy()
    grads = [g.copy() for g in model.grads()]
    np.testing.assert_allclose(gx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(g, numeric_grad(lambda v: loss(v, p), p.data), rtol=1e-6,
                                   atol=1e-8, err_msg=p.name)


def _data(rng, n=512):
    x = rng.standard_normal((n, 8)) * 3 + 5   # far from normalised: the norms matter
    y = (x[:, 0] - 5 + 0.5 * (x[:, 1] - 5) > 0).astype(np.int64)
    return x.astype(np.float32), y


@pytest.mark.parametrize("kind", ["batch", "layer"])
def test_sequential_trains_and_eval_uses_running_statistics(kind, rng):
    x, y = _data(rng)
    if kind == "batch":
        layers = [nc.Dense(8, 32), nc.BatchNorm1d(32), nc.ReLU(), nc.Dense(32, 2)]
    else:
        layers = [nc.Dense(8, 32), nc.LayerNorm(32), nc.GELU(), nc.Dense(32, 2)]
    model = nc.Sequential(layers, seed=0)
    hist = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=12,
                     batch_size=64, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    assert model.evaluate(x, y)["accuracy"] > 0.8
    norm = model.layers[1]
    pred = model.predict(x[:5])
    assert model.training  # predict restored the mode
    h = model.layers[0].forward(x[:5]).astype(np.float64)
    if kind == "batch":
        assert norm.num_batches_tracked == 12 * 8
        # eval: the running statistics, not those of these five rows
        want = (h - norm.running_mean) / np.sqrt(norm.running_var + norm.eps)
        want = want * norm.weight.data + norm.bias.data
    else:
        want = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + norm.eps)
        want = want * norm.weight.data + norm.bias.data
    ref = nc.Sequential([nc.Dense(32, 2)], dtype="float32")
    ref.layers[0].set_weights(model.layers[3].w.data, model.layers[3].b.data)
    act = np.maximum(want, 0) if kind == "batch" else np.asarray(F.gelu(want))
    np.testing.assert_allclose(pred, ref.predict(act.astype(np.float32)), rtol=1e-4,
                               atol=1e-4)
    if kind == "batch":  # and a single row predicts (no batch statistics in eval)
        np.testing.assert_allclose(model.predict(x[0]), pred[0], rtol=1e-5, atol=1e-6)


def test_training_mode_normalises_with_the_batch(rng):
    model = nc.Sequential([nc.BatchNorm1d(3)], seed=0, dtype="float64")
    x = rng.standard_normal((50, 3)) * 4 + 7
    y = model.forward(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1, rtol=1e-5)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)
    model.eval()
    np.testing.assert_allclose(model.forward(x), (x - bn.running_mean) /
                               np.sqrt(bn.running_var + 1e-5), rtol=1e-12)


def test_dtype_follows_the_model_and_seed_resets(rng):
    bn = nc.BatchNorm1d(4)
    assert bn.weight.dtype == np.float32 and bn.running_mean.dtype == np.float32
    bn.weight.data[...] = 3.0
    model = nc.Sequential([nc.Dense(2, 4), bn], dtype="float64")
    assert bn.weight.dtype == np.float64 and bn.running_var.dtype == np.float64
    np.testing.assert_array_equal(bn.weight.data, 3.0)  # cast, values kept
    nc.Sequential([nc.Dense(2, 4), bn], seed=0)
    np.testing.assert_array_equal(bn.weight.data, 1.0)  # a seed re-initialises
    assert model.count_params() == 2 * 4 + 4 + 2 * 4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_keeps_parameters_and_running_statistics(dtype, tmp_path, rng):
    x, y = _data(rng, 128)
    model = nc.Sequential([nc.Dense(8, 16), nc.BatchNorm1d(16, momentum=None), nc.ReLU(),
                           nc.Dense(16, 16), nc.LayerNorm(16, eps=1e-3), nc.Dense(16, 2)],
                          seed=0, dtype=dtype)
    model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05), epochs=2, batch_size=32,
              verbose=0)
    loaded = nc.load(model.save(tmp_path / "norms"))
    bn, bn2 = model.layers[1], loaded.layers[1]
    assert type(bn2) is nc.BatchNorm1d and bn2.get_config() == bn.get_config()
    assert loaded.layers[4].get_config() == model.layers[4].get_config()
    assert bn2.num_batches_tracked == bn.num_batches_tracked == 8
    for name in ("running_mean", "running_var"):
        a, b = getattr(bn, name), getattr(bn2, name)
        assert a.dtype == b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    # training continues identically from the file
    model.fit(x, y, epochs=1, batch_size=32, seed=1, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=32, seed=1, verbose=0)
    np.testing.assert_array_equal(bn.running_var, bn2.running_var)
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_summary_lists_the_norm_layers():
    model = nc.Sequential([nc.Dense(4, 8), nc.BatchNorm1d(8), nc.ReLU(), nc.Dense(8, 8),
                           nc.LayerNorm(8, elementwise_affine=False), nc.Dense(8, 2)])
    text = model.summary(print_fn=None)
    assert "BatchNorm1d" in text and "LayerNorm" in text
    rows = {line.split()[0]: line for line in text.splitlines()}
    assert rows["batchnorm1d_1"].split()[-1] == "16"
    assert rows["layernorm_4"].split()[-1] == "0"
    assert repr(model.layers[1]) == ("BatchNorm1d(features=8, eps=1e-05, momentum=0.1, "
                                     "affine=True, track_running_stats=True)")


def test_errors_name_the_argument(rng):
    with pytest.raises(ValueError, match="BatchNorm1d: expects 8 input features; the previous "
                                         "layer gives 4"):
        nc.Sequential([nc.Dense(3, 4), nc.BatchNorm1d(8)])
    with pytest.raises(ValueError, match="LayerNorm: expects 8 input features"):
        nc.Sequential([nc.Dense(3, 4), nc.LayerNorm(8)])
    for layer in (nc.LayerNorm(5, elementwise_affine=False), nc.BatchNorm1d(5, affine=False)):
        with pytest.raises(ValueError, match=f"{type(layer).__name__}: x must have 5 "
                                             r"features \(last axis\); got x of shape \(4, 3\)"):
            layer.forward(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="LayerNorm: x must be a real floating or integer "
                                        "array; got dtype complex128"):
        nc.LayerNorm(2).forward(np.zeros((3, 2), complex))
    with pytest.raises(TypeError, match="BatchNorm1d: x must be a real floating"):
        nc.BatchNorm1d(2).forward(np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="LayerNorm: features must be a positive int"):
        nc.LayerNorm(0)
    with pytest.raises(TypeError, match="BatchNorm1d: eps must be a real number"):
        nc.BatchNorm1d(3, eps="small")
    with pytest.raises(ValueError, match=r"BatchNorm1d: momentum must be in \[0, 1\]"):
        nc.BatchNorm1d(3, momentum=2)
    with pytest.raises(ValueError, match="BatchNorm1d: batch statistics need more than one "
                                         r"row .*got x of shape \(1, 3\)"):
        nc.BatchNorm1d(3).forward(np.zeros((1, 3)))
    model = nc.Sequential([nc.Dense(2, 3), nc.BatchNorm1d(3)], seed=0)
    with pytest.raises(ValueError, match="choose a batch_size that leaves no last batch"):
        model.fit(np.zeros((9, 2)), np.zeros((9, 3)), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="batch_norm: x must be 2-D"):
        nc.BatchNorm1d(3).forward(np.zeros((2, 3, 3)))
    with pytest.raises(RuntimeError, match="LayerNorm.backward called before forward"):
        nc.LayerNorm(3).backward(np.zeros((2, 3)))


def _bn_model(seed):
    return nc.Sequential([nc.Dense(4, 8), nc.BatchNorm1d(8), nc.ReLU(),
                          nc.Residual(nc.Dense(8, 8), nc.BatchNorm1d(8)), nc.Dense(8, 1)],
                         seed=seed)


def test_state_dict_carries_the_running_statistics_as_torch_names_them(rng):
    x, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 1))
    trained = _bn_model(0)
    trained.fit(x, y, epochs=2, batch_size=16, verbose=0)
    state = trained.state_dict()
    assert [k for k in state if "running" in k or "num_batches" in k] == [
        "batchnorm1d_1.running_mean", "batchnorm1d_1.running_var",
        "batchnorm1d_1.num_batches_tracked", "residual_3.1.running_mean",
        "residual_3.1.running_var", "residual_3.1.num_batches_tracked"]
    assert int(state["batchnorm1d_1.num_batches_tracked"]) == 8
    assert not np.all(state["batchnorm1d_1.running_var"] == 1)  # trained, not initial
    fresh = _bn_model(1)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.predict(x), trained.predict(x))  # eval mode
    bn = fresh.layers[1]
    assert bn.num_batches_tracked == 8
    state["batchnorm1d_1.running_mean"][:] = 7  # a copy: the model keeps its own
    assert not np.any(trained.layers[1].running_mean == 7)


def test_load_state_dict_checks_buffers_before_writing(rng):
    model = _bn_model(0)
    state = model.state_dict()
    before = model.layers[1].running_mean.copy()
    bad = dict(state)
    bad["batchnorm1d_1.running_mean"] = np.full(8, 3.0)
    bad["residual_3.1.running_var"] = np.ones(5)
    with pytest.raises(ValueError, match="'residual_3.1.running_var' must have shape "
                                         r"\(8,\); got \(5,\)"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model.layers[1].running_mean, before)
    missing = {k: v for k, v in state.items() if "num_batches" not in k}
    with pytest.raises(KeyError, match="missing keys .*num_batches_tracked"):
        model.load_state_dict(missing)
    model.load_state_dict(missing, strict=False)  # the others load
    neg = dict(state, **{"batchnorm1d_1.num_batches_tracked": np.array(-1)})
    with pytest.raises(ValueError, match="must be an int >= 0"):
        model.load_state_dict(neg)


def test_early_stopping_restores_the_running_statistics_of_the_best_epoch(rng):
    x, y = rng.normal(size=(96, 4)), rng.normal(size=(96, 1))
    model = _bn_model(0)
    scores = [3.0, 1.0, 2.0, 4.0, 5.0]  # the monitored value: epoch 1 is the best
    snapshots = []

    def log(epoch, logs):
        logs["score"] = scores[epoch]
        snapshots.append(model.state_dict())

    stopper = nc.EarlyStopping(monitor="score", patience=100, restore_best_weights=True)
    model.fit(x, y, epochs=5, batch_size=16, optimizer=nc.SGD(lr=0.05), verbose=0,
              callbacks=[nc.LambdaCallback(on_epoch_end=log), stopper])
    assert not np.array_equal(snapshots[1]["batchnorm1d_1.running_mean"],
                              snapshots[-1]["batchnorm1d_1.running_mean"])
    for k, v in snapshots[1].items():
        np.testing.assert_array_equal(model.state_dict()[k], v, err_msg=k)
