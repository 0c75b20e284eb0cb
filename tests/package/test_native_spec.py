"""The native engine's spec: Python and C++ meet through a typed spec, in which an unknown
or misspelt field is an error, and the epoch orders are the permutations Python drew."""
import numpy as np
import pytest

import nncore as nc
from nncore import _core
from nncore.training import prepare, trainer_spec


def spec_for(model, rng, loss="mse", **fit):
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = rng.standard_normal((20, 2)).astype(np.float32)
    run = prepare(model=model, x=x, y=y, loss=loss, optimizer=nc.SGD(lr=0.1, momentum=0.9),
                  batch_size=8)
    return trainer_spec(model, run, shuffle=False, stop_on_nonfinite=True, **fit)


def model():
    return nc.Sequential([nc.Dense(3, 4, "relu"), nc.Dropout(0.2), nc.Dense(4, 2)], seed=0)


def test_the_spec_as_built_is_accepted(rng):
    _core._Trainer(spec_for(model(), rng))


@pytest.mark.parametrize("where, key", [
    ((), "huber_delt"),            # a misspelt optional field
    ((), "learning_rate"),         # an unknown one
    (("layers", 0), "slop"),
    (("layers", 1), "rate"),
    (("groups", 0, "options"), "nesterov_"),
    (("groups", 0), "rate"),
    (("schedule",), "gamm"),
    (("params", 0), "state4"),
    ((), 7),                       # not even a str: named by its str()
])
def test_an_unknown_field_is_an_error(where, key, rng):
    spec = spec_for(model(), rng)
    d = spec
    for k in where:
        d = d[k]
    d[key] = 1
    with pytest.raises(ValueError, match=f"Trainer: .*unknown field '{key}'"):
        _core._Trainer(spec)


@pytest.mark.parametrize("key", ["loss", "batch_size", "clip_norm"])
def test_a_missing_field_is_an_error(key, rng):
    spec = spec_for(model(), rng)
    del spec[key]
    with pytest.raises(ValueError, match=f"Trainer: the spec has no field '{key}'"):
        _core._Trainer(spec)


def test_a_field_read_twice_still_counts_once(rng):
    # a norm layer without weight reads "weight" and "bias" more than once: an extra
    # field there is still found (the reader counts each name once)
    m = nc.Sequential([nc.Dense(3, 4), nc.LayerNorm(4, elementwise_affine=False),
                       nc.Dense(4, 2)], seed=0)
    _core._Trainer(spec_for(m, rng))
    spec = spec_for(m, rng)
    spec["layers"][1]["extra"] = None
    with pytest.raises(ValueError, match="Trainer: a layer has an unknown field 'extra'"):
        _core._Trainer(spec)


def test_orders_must_be_permutations(rng):
    spec = spec_for(model(), rng)
    spec["shuffle"] = True
    trainer = _core._Trainer(spec)
    bad = np.tile(np.arange(20), (2, 1))
    bad[1, 3] = 4  # row 3 missing, row 4 twice
    with pytest.raises(ValueError, match=r"orders\[1\] is not a permutation of 20 rows"):
        trainer.run(2, 1e9, 0.1, bad)
    # with no order left the call stops before the next epoch
    res = trainer.run(3, 1e9, 0.1, np.arange(20)[None, :])
    assert len(res["loss"]) == 1 and res["orders_used"] == 1


def test_native_and_python_draw_the_same_orders_and_leave_the_generator_alike(rng):
    x = rng.standard_normal((37, 3))
    y = rng.integers(0, 2, 37)
    end = {}
    for engine in ("python", "native"):
        m = nc.Sequential([nc.Dense(3, 5, "tanh"), nc.Dense(5, 2)], seed=1, dtype="float64")
        h = m.fit(x, y, loss="cross_entropy", epochs=4, batch_size=5, seed=9, verbose=0,
                  engine=engine)
        end[engine] = (h.history["loss"], m.get_weights())
    assert end["python"][0] == end["native"][0]
    for a, b in zip(end["python"][1], end["native"][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rows", [20, 64, 65, 200])
@pytest.mark.parametrize("bad_value", ["duplicate", "negative", "too_large", "huge"])
def test_every_kind_of_bad_order_is_found(rows, bad_value, rng):
    # up to 64 rows the check is a bit per row, above it a byte per row per epoch: both find
    # a row out of range (negative, the row count, a value far above it) or used twice,
    # in any epoch of the orders given
    m = model()
    x = rng.standard_normal((rows, 3)).astype(np.float32)
    y = rng.standard_normal((rows, 2)).astype(np.float32)
    run = prepare(model=m, x=x, y=y, loss="mse", optimizer=nc.SGD(lr=0.1), batch_size=8)
    spec = trainer_spec(m, run, shuffle=True, stop_on_nonfinite=True)
    trainer = _core._Trainer(spec)
    orders = np.stack([rng.permutation(rows) for _ in range(3)])
    trainer.run(3, 1e9, 0.1, orders)  # good orders pass
    value = {"duplicate": orders[2, 0], "negative": -1, "too_large": rows,
             "huge": 1 << 62}[bad_value]
    orders[2, 1] = value
    with pytest.raises(ValueError, match=rf"orders\[2\] is not a permutation of {rows} rows"):
        trainer.run(3, 1e9, 0.1, orders)


def test_a_field_named_by_a_string_made_at_run_time_is_found(rng):
    # the reader looks fields up by interned names: a key built at run time (not
    # interned) is the same key
    spec = spec_for(model(), rng)
    spec = {"".join(list(k)): v for k, v in spec.items()}
    _core._Trainer(spec)
    spec["".join(["extr", "a"])] = 1
    with pytest.raises(ValueError, match="Trainer: the spec has an unknown field 'extra'"):
        _core._Trainer(spec)
