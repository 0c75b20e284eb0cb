"""Sentences of the README and the docstrings that state a behaviour, checked against it
(issue 22: docs that disagreed with the code)."""
import re
from pathlib import Path

import numpy as np
import pytest

import nncore as nc

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def flat(text):
    return re.sub(r"\s+", " ", text)


def test_one_sample_gives_a_1d_result_as_the_readme_says(rng):
    assert "A 1-D `x` is one sample and gives a 1-D result" in flat(README)
    assert "gives one row" not in flat(README)
    model = nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dense(4, 2)], seed=0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    for fn in (model.predict, model.predict_proba):
        one = fn(x[2])
        assert one.shape == (2,)
        np.testing.assert_array_equal(one, fn(x)[2])
    assert "1-D result" in flat(nc.Sequential.predict.__doc__)


def test_a_second_fit_keeps_the_optimizer_as_documented(rng):
    assert "a second `fit` goes on with the previous fit's optimiser" in flat(README)
    assert "the optimiser of the previous ``fit``" in flat(nc.training.fit.__doc__)
    x = rng.standard_normal((16, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model = nc.Sequential([nc.Dense(2, 3)], seed=0)
    model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=1, verbose=0)
    first = model.optimizer
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer is first and isinstance(first, nc.Adam)
    fresh = nc.Sequential([nc.Dense(2, 3)], seed=0)
    fresh.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert type(fresh.optimizer) is nc.SGD and fresh.optimizer.lr == 0.01


def _readme_export_list():
    text = flat(README)
    return _names(re.search(r"take Dense layers with (.*?) and those activation layers",
                            text).group(1))


def _names(listed):
    """The activation names of "a, b, c or d" (or "... and d")."""
    return re.findall(r"[a-z_]+", listed.replace(" or ", ", ").replace(" and ", ", "))


@pytest.mark.parametrize("export", ["to_onnx", "to_torch"])
def test_the_readme_says_what_exports(export):
    pytest.importorskip("onnx" if export == "to_onnx" else "torch")
    from nncore.activations import ACTIVATIONS
    take = _readme_export_list()
    assert set(take) == set(ACTIVATIONS)  # every activation nncore has
    for act in take:
        getattr(nc.Sequential([nc.Dense(2, 3, act)], seed=0), export)()
    for layer in (nc.GELU(), nc.GELU(approximate="tanh"), nc.SiLU(), nc.Softplus(),
                  nc.Dropout(0.5)):
        getattr(nc.Sequential([nc.Dense(2, 3), layer], seed=0), export)()


def test_the_readme_says_what_from_torch_takes():
    torch = pytest.importorskip("torch")
    text = flat(README)
    taken = re.search(r"`Sequential.from_torch` likewise takes (.*?) \(the limits",
                      text).group(1)
    names = re.findall(r"nn\.(\w+)", taken)
    assert names == ["GELU", "SiLU", "Softplus", "Dropout"]
    for name in names:
        module = getattr(torch.nn, name)(0.5) if name == "Dropout" else getattr(torch.nn, name)()
        model = nc.Sequential.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), module))
        assert type(model.layers[-1]).__name__ == name
