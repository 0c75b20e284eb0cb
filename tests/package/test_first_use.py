"""What a Keras or PyTorch user types first in a REPL (issue 22): summary() prints its table
once, a History shows what it holds, predict on one sample."""
import contextlib
import io

import numpy as np

import nncore as nc


def repl(line, scope):
    """What the interactive interpreter prints for ``line`` (it echoes the repr of an
    expression's value unless the value is None)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(line, "<stdin>", "single"), scope)  # noqa: S102
    return out.getvalue()


def test_summary_prints_once_in_a_repl():
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 2)], seed=0)
    table = model.summary(print_fn=None)
    assert "total params: 58" in table
    shown = repl("model.summary()", {"model": model})
    assert shown == table + "\n"                              # once, no echo of a string
    printed = repl("print(model.summary())", {"model": model})
    assert printed.count("total params") == 1                 # Keras: the table, then None
    lines = []
    assert model.summary(print_fn=lines.append) is None and lines == [table]


def test_history_repr_shows_epochs_engine_and_metrics(rng):
    x, y = nc.spirals(n=30, classes=3, seed=0)
    model = nc.Sequential([nc.Dense(2, 8, "relu"), nc.Dense(8, 3)], seed=0)
    h = model.fit(x, y, loss="cross_entropy", epochs=3, validation_split=0.2, verbose=0)
    text = repr(h)
    assert text.startswith(f"<History 3 epochs ({h.engine} engine): ") and text.endswith(">")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert f"{key} {h[key][0]:.4g} -> {h[key][-1]:.4g}" in text
    assert "epoch_time" not in text and "\n" not in text
    assert repl("h", {"h": h}) == text + "\n"
    one = model.fit(x, y, epochs=1, verbose=0, health=True)
    assert repr(one).startswith("<History 1 epoch (") and f"loss {one['loss'][0]:.4g}," in \
        repr(one) and "gradient health of 2 layers" in repr(one)
    assert repr(nc.History()) == "<History: no epochs>"
