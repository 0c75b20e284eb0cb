import numpy as np
import pytest

import nncore as nc


def test_gradient_health_flags_deep_sigmoid_not_relu():
    x, y = nc.spirals(n=60, classes=3, seed=0)
    flags = {}
    for act in ("sigmoid", "relu"):
        layers = [nc.Dense(2, 16, act)] + [nc.Dense(16, 16, act) for _ in range(7)] + \
            [nc.Dense(16, 3)]
        model = nc.Sequential(layers, seed=0)
        history = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05), epochs=2,
                            batch_size=32, health=True, verbose=0)
        assert set(history.health) == {f"dense_{i}" for i in range(9)}
        for rec in history.health.values():
            assert len(rec["grad_norm"]) == 2 and all(v >= 0 for v in rec["update_ratio"])
        text, flags[act] = nc.health_report(history.health)
        assert "grad norm" in text
    assert "dense_0" in flags["sigmoid"] and flags["sigmoid"]["dense_0"] == "vanishing"
    assert flags["relu"] == {}


def test_dead_relu_and_saturation_are_measured():
    model = nc.Sequential([nc.Dense(2, 4, "relu", bias_init=nc.initializers.constant(-100.0)),
                           nc.Dense(4, 3, "sigmoid", bias_init=nc.initializers.constant(50.0)),
                           nc.Dense(3, 1)])
    x = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32)
    history = model.fit(x, np.zeros((16, 1), np.float32), loss="mse", epochs=1, health=True,
                        optimizer=nc.SGD(lr=0.0), verbose=0)
    assert history.health["dense_0"]["dead"][0] == 1.0
    assert history.health["dense_1"]["saturated"][0] == 1.0


def test_history_plot_writes_png(tmp_path):
    x, y = nc.spirals(n=30, classes=3, seed=0)
    model = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 3)], seed=0)
    history = model.fit(x, y, loss="cross_entropy", epochs=3, health=True,
                        validation_split=0.2, verbose=0)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install matplotlib"):
            history.plot(tmp_path / "h.png")
        return
    path = history.plot(tmp_path / "h.png")
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.parametrize("act", ["identity", "relu", "sigmoid", "tanh", "leaky_relu"])
def test_gradcheck_agrees(act):
    model = nc.Sequential([nc.Dense(3, 5, act), nc.Dense(5, 2)], seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)) + 0.05
    report = nc.gradcheck(model, x, rng.integers(0, 2, 4), loss="cross_entropy")
    assert set(report) == {"dense_0.w", "dense_0.b", "dense_1.w", "dense_1.b"}
    assert max(report.values()) < 1e-5, report


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 2)], seed=1)
    rng = np.random.default_rng(0)
    original = nc.Dense.backward

    def wrong(self, grad_y):
        out = original(self, grad_y)
        self.w.grad *= 1.1
        return out

    monkeypatch.setattr(nc.Dense, "backward", wrong)
    report = nc.gradcheck(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    assert report["dense_0.w"] > 0.05


def test_batches_one_hot_split_datasets():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10)
    got = list(nc.batches(x, y, batch_size=4))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    shuffled = np.concatenate([b[1] for b in nc.batches(x, y, 3, shuffle=True, seed=1)])
    assert sorted(shuffled) == list(range(10)) and list(shuffled) != list(range(10))
    assert len(list(nc.batches(x, y, batch_size=None))) == 1
    assert [len(b) for b in nc.batches(x, batch_size=4, drop_last=True)] == [4, 4]
    np.testing.assert_array_equal(nc.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="labels"):
        nc.one_hot([3], 3)
    labels = np.array([0] * 40 + [1] * 20)
    xtr, xte, ytr, yte = nc.train_test_split(np.zeros((60, 2)), labels, 0.25, seed=0,
                                             stratify=True)
    assert (np.sum(yte == 0), np.sum(yte == 1)) == (10, 5) and len(xtr) == 45
    xs, ys = nc.spirals(n=50, classes=4, seed=0)
    assert xs.shape == (200, 2) and np.bincount(ys).tolist() == [50] * 4
    xx, yy = nc.xor()
    assert xx.shape == (4, 2) and yy[:, 0].tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="batch_size"):
        list(nc.batches(x, y, batch_size=0))
