import numpy as np
import pytest

import nncore as nc
import nncore.functional as F


def test_loss_objects_match_functional(rng):
    z = rng.standard_normal((5, 3))
    labels = rng.integers(0, 3, 5)
    t = rng.random((5, 3))
    for loss, fn, target in [(nc.CrossEntropyLoss(), F.cross_entropy_and_grad, labels),
                             (nc.MSELoss(), F.mse_loss_and_grad, t),
                             (nc.BCEWithLogitsLoss(reduction="sum"),
                              F.binary_cross_entropy_with_logits_and_grad, t)]:
        value = loss(z, target)
        want, grad = fn(z, target, loss.reduction)
        assert value == want
        np.testing.assert_array_equal(loss.backward(), grad)
    assert nc.losses.get("mse").__class__ is nc.MSELoss
    assert isinstance(nc.losses.get("sparse_categorical_crossentropy"), nc.CrossEntropyLoss)
    with pytest.raises(ValueError, match="loss must be"):
        nc.losses.get("hinge")
    with pytest.raises(ValueError, match="reduction"):
        nc.MSELoss(reduction="avg")
    with pytest.raises(RuntimeError, match="before"):
        nc.MSELoss().backward()


def test_softmax_before_logits_loss_warns(rng):
    model = nc.Sequential([nc.Dense(2, 3), nc.Softmax()])
    with pytest.warns(UserWarning, match="expects logits"):
        model.fit(rng.standard_normal((8, 2)), rng.integers(0, 3, 8), loss="cross_entropy",
                  epochs=1, verbose=0)


def test_sgd_matches_hand_computation():
    p = nc.Parameter(np.array([1.0, -2.0]))
    p.grad[...] = [0.5, 0.25]
    opt = nc.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_allclose(p.data, [0.95, -2.025])
    opt.step()  # velocity 0.9*g + g = 1.9 g
    np.testing.assert_allclose(p.data, [0.95 - 0.1 * 0.95, -2.025 - 0.1 * 0.475])


def test_adam_first_steps():
    p = nc.Parameter(np.array([0.0, 0.0]))
    opt = nc.Adam([p], lr=0.1)
    p.grad[...] = [3.0, -0.01]
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1, 0.1], rtol=1e-6)
    assert opt.steps == 1


def test_schedules():
    opt = nc.SGD([nc.Parameter(np.zeros(1))], lr=1.0)
    s = nc.StepLR(opt, step_size=2, gamma=0.5)
    assert [s.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt.lr = 1.0
    e = nc.ExponentialLR(opt, gamma=0.9)
    assert e.step() == pytest.approx(0.9) and e.step() == pytest.approx(0.81)
    opt.lr = 1.0
    c = nc.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    assert [round(c.step(), 6) for _ in range(5)] == [0.853553, 0.5, 0.146447, 0.0, 0.0]


def test_gradient_clipping():
    a, b = nc.Parameter(np.zeros(2)), nc.Parameter(np.zeros(1))
    a.grad[...] = [3.0, 0.0]
    b.grad[...] = [4.0]
    assert nc.clip_grad_norm_([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()), 1.0,
                               rtol=1e-5)
    a.grad[...] = [3.0, -7.0]
    nc.clip_grad_value_([a], 2.0)
    np.testing.assert_array_equal(a.grad, [2.0, -2.0])


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr"):
        nc.SGD(lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        nc.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        nc.Adam(betas=(1.0, 0.9))
    with pytest.raises(RuntimeError, match="no parameters"):
        nc.SGD(lr=0.1).step()
