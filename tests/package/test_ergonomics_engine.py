"""L1 and Huber losses on the native training engine: the same bits as the python
engine (the specification), as tests/package/test_engine.py checks for the others."""
import numpy as np
import pytest

import nncore as nc
from package.test_engine import assert_same, data, fit_both, model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", [lambda: nc.L1Loss(), lambda: nc.HuberLoss(),
                                  lambda: nc.HuberLoss(delta=0.3)], ids=["l1", "huber",
                                                                         "huber_0.3"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_l1_huber_native_matches_python(dtype, loss, threads, weighted):
    x, y = data("regression")
    sw = np.random.default_rng(1).random(len(x)) if weighted else None
    results = fit_both(lambda: model(dtype), x, y, threads=threads, loss=loss(), epochs=3,
                       batch_size=16, seed=0, sample_weight=sw,
                       validation_split=0.2 if weighted else 0.0)
    assert_same(results)


def test_l1_native_single_output_1d_targets():
    x, y = data("regression", outputs=1)
    results = fit_both(lambda: model("float64", outputs=1), x, y[:, 0], loss="mae",
                       epochs=2, batch_size=8, seed=0, make_opt=lambda: nc.Adam(lr=0.01))
    assert_same(results)


def test_l1_auto_picks_native(capsys):
    x, y = data("regression")
    h = model("float32").fit(x, y, loss="huber", epochs=1, verbose=1)
    assert h.engine == "native"
    assert "python engine" not in capsys.readouterr().out
