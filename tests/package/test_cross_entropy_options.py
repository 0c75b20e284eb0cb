"""CrossEntropyLoss weight and label_smoothing against torch.nn.functional.cross_entropy
(value and gradient, float64), in evaluate and in fit."""
import numpy as np
import pytest

import nncore as nc

torch = pytest.importorskip("torch")


def _torch(logits, target, **kw):
    t = torch.tensor(logits, requires_grad=True)
    tgt = torch.tensor(target)
    if "weight" in kw and kw["weight"] is not None:
        kw["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(t, tgt, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight, smoothing", [(None, 0.1), (None, 0.7),
                                               ([0.2, 1.0, 3.0, 0.0], 0.0),
                                               ([0.2, 1.0, 3.0, 0.0], 0.1),
                                               ([0.2, 1.0, 3.0, 0.0], 0.7)])
@pytest.mark.parametrize("probs", [False, True])
def test_matches_torch(reduction, weight, smoothing, probs, rng):
    logits = rng.standard_normal((13, 4)) * 2
    labels = rng.integers(0, 4, 13)
    target = rng.dirichlet(np.ones(4), 13) if probs else labels
    ours = nc.CrossEntropyLoss(reduction=reduction, weight=weight, label_smoothing=smoothing)
    value = ours(logits, target)
    grad = ours.backward()
    t_value, t_grad = _torch(logits, target, weight=weight, label_smoothing=smoothing,
                             reduction=reduction)
    np.testing.assert_allclose(value, t_value, rtol=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-12, atol=1e-15)


def test_evaluate_mean_over_batches_is_the_whole_set_mean(rng):
    x = rng.standard_normal((50, 3))
    y = rng.integers(0, 3, 50)
    model = nc.Sequential([nc.Dense(3, 3)], seed=0)
    loss = nc.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.2)
    got = model.evaluate(x, y, loss=loss, batch_size=7)["loss"]
    expected, _ = _torch(model.predict(x).astype(np.float64), y, weight=[1.0, 2.0, 0.5],
                         label_smoothing=0.2)
    assert got == pytest.approx(float(expected), rel=1e-6)  # float32 model


def test_fit_with_options_trains_natively_and_saves(rng, tmp_path):
    x = rng.standard_normal((60, 3))
    y = rng.integers(0, 3, 60)
    model = nc.Sequential([nc.Dense(3, 8, "relu"), nc.Dense(8, 3)], seed=0)
    loss = nc.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.1)
    h = model.fit(x, y, loss=loss, epochs=2, verbose=0)
    assert h.engine == "native"
    loaded = nc.load(model.save(tmp_path / "m"))
    assert loaded.loss.label_smoothing == 0.1 and loaded.loss.weight.tolist() == [1, 2, 0.5]


def test_errors():
    with pytest.raises(ValueError, match="label_smoothing must be"):
        nc.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight must be a 1-D"):
        nc.CrossEntropyLoss(weight=[[1.0]])
    with pytest.raises(ValueError, match="weight has 2 entries for 3 classes"):
        nc.CrossEntropyLoss(weight=[1.0, 1.0])(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        nc.CrossEntropyLoss(label_smoothing=0.1)(np.zeros((2, 3)), [0, 3])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
@pytest.mark.parametrize("options", [dict(weight=[1.0, 2.0, 0.5]), dict(label_smoothing=0.2),
                                     dict(weight=[0.3, 1.0, 2.5], label_smoothing=0.1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_options_train_natively_bitwise_as_python(options, targets, weighted, dtype, rng):
    x = rng.standard_normal((50, 3))
    y = rng.integers(0, 3, 50)
    if targets == "probabilities":
        y = rng.dirichlet(np.ones(3), 50)
    sw = rng.random(50) if weighted else None
    runs = {}
    for engine in ("python", "native"):
        model = nc.Sequential([nc.Dense(3, 8, "tanh"), nc.Dense(8, 3)], seed=0, dtype=dtype)
        h = model.fit(x, y, loss=nc.CrossEntropyLoss(**options), optimizer=nc.Adam(lr=0.01),
                      epochs=3, batch_size=16, sample_weight=sw, seed=1, verbose=0,
                      engine=engine)
        assert h.engine == engine
        runs[engine] = (h.history["loss"], h.history["accuracy"], model.get_weights())
    assert runs["python"][:2] == runs["native"][:2]
    for a, b in zip(runs["python"][2], runs["native"][2]):
        np.testing.assert_array_equal(a, b)
