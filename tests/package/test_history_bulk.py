"""History from a native fit that ran many epochs per call: the trainer hands back each
column as a float64 array and History turns it into lists of Python floats when read."""
import numpy as np

import nncore as nc
from nncore.history import History


def _fit(engine, epochs=7, loss="mse", **kw):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    if loss == "bce":
        loss = nc.BCELoss()
    m = nc.Sequential([nc.Dense(2, 4, "sigmoid"), nc.Dense(4, 1, "sigmoid")], seed=0)
    return m.fit(x, y, loss=loss, optimizer=nc.SGD(lr=0.5), epochs=epochs, batch_size=2,
                 seed=3, verbose=0, engine=engine, **kw)


def test_a_bulk_native_history_holds_python_floats_equal_to_the_python_engines():
    native, python = _fit("native"), _fit("python")
    assert native.engine == "native" and python.engine == "python"
    assert list(native.keys()) == list(python.keys())
    assert native.epochs == python.epochs == list(range(7))
    for key in native.keys():
        assert len(native[key]) == 7
        assert all(type(v) is float for v in native[key]), key
        if key != "epoch_time":
            assert native[key] == python[key], key


def test_extend_then_append_keeps_the_order_and_the_values():
    h = History()
    h.extend(range(0, 2), {"loss": np.array([0.5, 0.25]), "lr": [0.1, 0.1]})
    h.extend(range(2, 3), {"loss": np.array([0.125]), "lr": [0.05]})
    h.append(3, {"loss": 0.0625, "lr": 0.05})
    assert h.epochs == [0, 1, 2, 3]
    assert h.history == {"loss": [0.5, 0.25, 0.125, 0.0625], "lr": [0.1, 0.1, 0.05, 0.05]}
    assert all(type(v) is float for v in h["loss"])
    assert "loss" in h and "accuracy" not in h
    assert "4 epochs" in repr(h)


def test_a_history_replaced_by_assignment_drops_nothing_it_did_not_hold():
    h = History()
    h.extend(range(2), {"loss": np.array([1.0, 2.0])})
    h.history = {"loss": [3.0]}
    assert h["loss"] == [3.0]
