"""Optimiser no_decay: weight_decay skips the listed parameters, in both engines."""
import numpy as np
import pytest

import nncore as nc


@pytest.mark.parametrize("opt_cls", [nc.SGD, nc.Adam])
def test_no_decay_parameters_see_no_decay(opt_cls):
    model = nc.Sequential([nc.Dense(3, 4)], seed=0)
    w, b = model.layers[0].w, model.layers[0].b
    b.data[...] = 1.0
    w0, b0 = w.data.copy(), b.data.copy()
    opt = opt_cls(model.parameters(), lr=0.1, weight_decay=0.5, no_decay=[b])
    model.zero_grad()  # a zero loss gradient: only the decay moves parameters
    opt.step()
    np.testing.assert_array_equal(b.data, b0)
    assert np.all(np.abs(w.data) < np.abs(w0))


@pytest.mark.parametrize("opt_cls", [nc.SGD, nc.Adam])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_engine_equals_python_with_no_decay(opt_cls, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 5))
    y = rng.integers(0, 3, 70)
    results = []
    for engine in ("native", "python", "native"):
        model = nc.Sequential([nc.Dense(5, 8, activation="tanh"), nc.Dense(8, 3)], seed=1,
                              dtype=dtype)
        biases = [layer.b for layer in model.layers]
        kw = dict(momentum=0.9) if opt_cls is nc.SGD else {}
        opt = opt_cls(lr=0.05, weight_decay=0.2, no_decay=biases, **kw)
        model.fit(x, y, loss="cross_entropy", optimizer=opt, epochs=3, batch_size=16,
                  seed=4, verbose=0, engine=engine)
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)
    # and no_decay changes the result (the flag reaches the native engine)
    model = nc.Sequential([nc.Dense(5, 8, activation="tanh"), nc.Dense(8, 3)], seed=1,
                          dtype=dtype)
    kw = dict(momentum=0.9) if opt_cls is nc.SGD else {}
    model.fit(x, y, loss="cross_entropy", optimizer=opt_cls(lr=0.05, weight_decay=0.2, **kw),
              epochs=3, batch_size=16, seed=4, verbose=0, engine="native")
    assert not np.array_equal(model.layers[0].b.data, results[0][1])
