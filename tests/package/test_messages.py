"""Error messages a new user meets first (issue 22): each names the function, the argument
and the first bad value, and suggests a fix that fits the case."""
import re

import numpy as np
import pytest

import nncore as nc


def clf(outputs=3):
    return nc.Sequential([nc.Dense(2, outputs)], seed=0)


@pytest.fixture
def data(rng):
    return rng.standard_normal((20, 2)).astype(np.float32), rng.integers(0, 3, 20)


@pytest.mark.parametrize("where, bad", [(7, np.nan), (13, np.inf), (0, -np.inf)])
def test_nonfinite_y_names_its_first_index(data, where, bad):
    x, _ = data
    y = np.zeros(20, np.float32)
    y[where] = bad
    y[19] = np.nan                                           # a later one is not named
    with pytest.raises(ValueError, match=rf"^fit: y contains NaN or infinity \(first at index "
                                         rf"{where}: {bad}\); clean the data before training"):
        nc.Sequential([nc.Dense(2, 1)], seed=0).fit(x, y, loss="mse", verbose=0)


@pytest.mark.parametrize("rows", [20, 3000])  # a small array and one past the sum check
def test_nonfinite_x_names_its_first_index_small_and_large(rows):
    x = np.zeros((rows, 2), np.float32)
    x[rows - 2, 1] = np.inf
    x[rows - 1, 0] = np.nan                                  # a later one is not named
    with pytest.raises(ValueError, match=rf"^fit: x contains NaN or infinity \(first at index "
                                         rf"\({rows - 2}, 1\): inf\)"):
        nc.Sequential([nc.Dense(2, 1)], seed=0).fit(x, np.zeros(rows, np.float32),
                                                    loss="mse", verbose=0)


def test_large_finite_x_whose_sum_overflows_is_accepted():
    x = np.full((3000, 2), 3e38, np.float32)                 # the sum overflows, no entry
    nc.Sequential([nc.Dense(2, 1)], seed=0).fit(x, np.zeros(3000, np.float32), loss="mse",
                                                epochs=0, verbose=0)


def test_nonfinite_2d_y_and_validation_targets_name_their_index(data):
    x, _ = data
    y = np.zeros((20, 2), np.float32)
    y[5, 1] = np.inf
    with pytest.raises(ValueError, match=r"y contains NaN or infinity \(first at index "
                                         r"\(5, 1\): inf\)"):
        nc.Sequential([nc.Dense(2, 2)], seed=0).fit(x, y, loss="mse", verbose=0)
    y[5, 1] = 0
    yv = y[:4].copy()
    yv[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"^fit: validation_data\[1\] contains NaN or infinity "
                                         r"\(first at index \(2, 0\): nan\)"):
        nc.Sequential([nc.Dense(2, 2)], seed=0).fit(x, y, loss="mse", verbose=0,
                                                    validation_data=(x[:4], yv))


def test_nan_in_predict_input_does_not_speak_of_training(data):
    x, y = data
    model = clf()
    model.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    x = x.copy()
    x[3, 1] = np.nan
    for fn, call in [("predict", lambda: model.predict(x)),
                     ("predict", lambda: model.predict_proba(x)),
                     ("evaluate", lambda: model.evaluate(x, y))]:
        with pytest.raises(ValueError, match=rf"^{fn}: x contains NaN or infinity \(first at "
                                             r"index \(3, 1\): nan\)") as e:
            call()
        assert "training" not in str(e.value) and f"clean the data before {fn}" in str(e.value)


@pytest.mark.parametrize("n, fraction, side", [(1, 0.5, "validation"), (1, 0.9, "training"),
                                               (3, 0.1, "validation")])
def test_validation_split_that_leaves_nothing_names_fit_and_the_split(data, n, fraction, side):
    x, y = data
    with pytest.raises(ValueError, match=rf"^fit: validation_split={fraction} holds out "
                                         rf".* of {n} sample.*leaves none for {side}") as e:
        clf().fit(x[:n], y[:n], loss="cross_entropy", validation_split=fraction, verbose=0)
    assert "evaluate" not in str(e.value)


@pytest.mark.parametrize("labels", [[-1, 0, 1], [0, -3, 2], [-1, -1, 0]])
def test_negative_labels_say_labels_count_from_0(data, labels):
    x, _ = data
    y = np.resize(np.array(labels), 20)
    with pytest.raises(ValueError, match=r"is out of range .* class labels count from 0") as e:
        clf().fit(x, y, loss="cross_entropy", verbose=0)
    assert "outputs, or fix" not in str(e.value) and "1 outputs" not in str(e.value)


def test_too_large_labels_still_suggest_the_outputs_and_speak_english(data):
    x, _ = data
    with pytest.raises(ValueError, match=r"a model with 3 outputs .* give the last Dense "
                                         r"layer 5 outputs"):
        clf().fit(x, np.resize([0, 4], 20), loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError) as e:
        clf(1).fit(x, np.resize([0, 1], 20), loss="cross_entropy", verbose=0)
    msg = str(e.value)
    assert "a model with 1 output " in msg and "loss='bce'" in msg and "1 outputs" not in msg


def test_nan_in_one_sample_names_its_1d_index():
    model = nc.Sequential([nc.Dense(3, 2)], seed=0)
    for fn in ("predict", "predict_proba"):
        with pytest.raises(ValueError, match=rf"{fn}: x contains NaN or infinity \(first at "
                                             r"index 1: nan\)"):
            getattr(model, fn)(np.array([1.0, np.nan, 2.0]))


@pytest.mark.parametrize("bad", [None, np.inf, -np.inf, np.nan, "both"])
def test_the_finite_check_is_exact_when_the_sum_overflows(bad):
    """Large finite values overflow the one-pass sum; the check then looks entry by entry
    (finite data passes, with no warning) and still finds +inf and -inf together."""
    import warnings
    x = np.full((6, 3), 3e38, np.float32)
    x[::2] *= -1
    if bad == "both":
        x[1, 1], x[4, 2] = np.inf, -np.inf  # the sum is NaN: the first is named
    elif bad is not None:
        x[4, 2] = bad
    model = nc.Sequential([nc.Dense(3, 1)], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if bad is None:
            model.predict(x)
            return
        where = "(1, 1): inf" if bad == "both" else f"(4, 2): {bad}"
        with pytest.raises(ValueError, match=rf"x contains NaN or infinity \(first at index "
                                             rf"{re.escape(where)}\)"):
            model.predict(x)
