import numpy as np
import pytest

import nncore as nc
import nncore.functional as F
import nncore.reference as R


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_objects_match_functional(rng, reduction):
    z = rng.standard_normal((5, 3))
    labels = rng.integers(0, 3, 5)
    t = rng.random((5, 3))
    for loss, fn, target in [(nc.CrossEntropyLoss(reduction), F.cross_entropy_and_grad, labels),
                             (nc.MSELoss(reduction), F.mse_loss_and_grad, t),
                             (nc.BCEWithLogitsLoss(reduction),
                              F.binary_cross_entropy_with_logits_and_grad, t)]:
        value = loss(z, target)
        want, grad = fn(z, target, reduction)
        np.testing.assert_array_equal(value, want)
        np.testing.assert_array_equal(loss.backward(), grad)


def test_losses_agree_with_the_reference_maths(rng):
    z = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    t = rng.random((6, 4))
    w = rng.random(6)
    assert nc.CrossEntropyLoss()(z, labels) == pytest.approx(R.cross_entropy(z, labels))
    assert nc.MSELoss()(z, t) == pytest.approx(np.mean((z - t) ** 2))
    # BCE on logits = BCE on probabilities
    p = 1 / (1 + np.exp(-z))
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert nc.BCEWithLogitsLoss()(z, t) == pytest.approx(bce)
    # sample_weight: sum(w_i l_i) / sum(w_i)
    per_sample = nc.CrossEntropyLoss("none")(z, labels)
    assert nc.CrossEntropyLoss()(z, labels, sample_weight=w) == \
        pytest.approx(np.sum(w * per_sample) / np.sum(w))


def test_gradient_returned_is_the_callers(rng):
    loss = nc.MSELoss()
    z = rng.standard_normal((4, 2))
    loss(z, np.zeros((4, 2)))
    first = loss.backward()
    kept = first.copy()
    loss(z + 1, np.zeros((4, 2)))
    assert loss.backward() is not first
    np.testing.assert_array_equal(first, kept)  # not written again (issue 22)
    loss(np.zeros((3, 2)), np.zeros((3, 2)))
    assert loss.backward().shape == (3, 2)


def test_names_and_errors():
    assert type(nc.losses.get("mse")) is nc.MSELoss
    assert isinstance(nc.losses.get("sparse_categorical_crossentropy"), nc.CrossEntropyLoss)
    assert isinstance(nc.losses.get("bce_with_logits"), nc.BCEWithLogitsLoss)
    custom = nc.MSELoss("sum")
    assert nc.losses.get(custom) is custom
    with pytest.raises(ValueError, match="loss must be"):
        nc.losses.get("hinge")
    with pytest.raises(ValueError, match="reduction"):
        nc.MSELoss(reduction="avg")
    with pytest.raises(RuntimeError, match="before"):
        nc.MSELoss().backward()
    with pytest.raises(ValueError, match="target"):
        nc.CrossEntropyLoss()(np.zeros((2, 3)), [0, 3])


@pytest.mark.parametrize("last, loss", [(nc.Sigmoid(), "cross_entropy"),
                                        (nc.Softmax(), "bce_with_logits")])
def test_probability_layer_the_loss_does_not_apply_warns(rng, last, loss):
    # a softmax with cross-entropy or a sigmoid with BCE is handled exactly (no warning:
    # tests/package/test_no_silent_wrong.py); the other pairs are a mistake
    model = nc.Sequential([nc.Dense(2, 3), last])
    y = rng.integers(0, 3, 8) if loss == "cross_entropy" else rng.integers(0, 2, (8, 3))
    with pytest.warns(UserWarning, match="expects logits"):
        model.fit(rng.standard_normal((8, 2)), y, loss=loss, epochs=1, verbose=0)


def test_fused_sigmoid_before_cross_entropy_warns_and_mse_does_not(rng, recwarn):
    model = nc.Sequential([nc.Dense(2, 3, "sigmoid")])
    with pytest.warns(UserWarning, match="remove the final sigmoid"):
        model.fit(rng.standard_normal((8, 2)), rng.integers(0, 3, 8),
                  loss=nc.CrossEntropyLoss(), epochs=1, verbose=0)
    recwarn.clear()
    model.fit(rng.standard_normal((8, 2)), rng.random((8, 3)), loss="mse", epochs=1, verbose=0)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_targets_and_weights_follow_the_prediction_dtype():
    pred = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    loss = nc.MSELoss()
    assert loss(pred, np.ones((2, 2))) == pytest.approx(np.mean((pred - 1.0) ** 2), rel=1e-6)
    assert loss.backward().dtype == np.float32
    assert loss(pred, np.ones((2, 2), int), sample_weight=np.array([1.0, 0.0])) == \
        pytest.approx(np.mean((pred[0] - 1.0) ** 2), rel=1e-6)
    ce = nc.CrossEntropyLoss()
    assert ce(pred, np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(ce(pred, [0, 1]),
                                                                         rel=1e-6)
    assert ce(pred, [0.0, 1.0]) == ce(pred, [0, 1])
