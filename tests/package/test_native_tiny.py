"""Networks a few units wide (every product at most kDirectGemmWork multiply-adds, so
the native trainer runs each Dense layer's products itself, four columns or rows of a
product side by side): the native engine gives the python engine's bits, for widths
around the vectors of four (remainders 0..3, one output, 4 to 15 outputs), batches around
four rows, with and without biases, float32 and float64, at 1 and 2 threads and under
every kernel set the CPU has."""
import textwrap

import numpy as np
import pytest

import nncore as nc
from conftest import arrays_under_isa

# (layer widths, activations, loss, rows, batch_size, bias)
NETS = [
    ((2, 4, 1), ("sigmoid", "sigmoid"), "mse", 4, None, True),    # XOR's full batch
    ((3, 4, 1), ("sigmoid", "sigmoid"), "mse", 4, None, False),
    ((2, 5, 3), ("tanh", "identity"), "mse", 7, 3, True),
    ((3, 7, 6, 2), ("relu", "sigmoid", "identity"), "mse", 9, 5, True),
    ((4, 13, 9, 1), ("tanh", "relu", "identity"), "bce_with_logits", 6, None, True),
    ((1, 8, 12, 4), ("sigmoid", "tanh", "identity"), "mse", 5, 2, False),
    ((5, 15, 1), ("relu", "identity"), "mse", 11, 4, True),
    ((6, 16, 5), ("gelu", "identity"), "mse", 8, 8, True),
]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore as nc

    NETS = %r
    out = {"isa": np.array(nc.config()["isa"])}
    for i, (sizes, acts, loss, rows, batch, bias) in enumerate(NETS):
        for dtype in ("float32", "float64"):
            for threads in (1, 2):
                rng = np.random.default_rng(i)
                x = rng.standard_normal((rows, sizes[0])).astype(dtype)
                y = (rng.random((rows, sizes[-1])) > 0.5).astype(dtype)
                for engine in ("python", "native"):
                    model = nc.Sequential(
                        [nc.Dense(a, b, act, use_bias=bias)
                         for a, b, act in zip(sizes[:-1], sizes[1:], acts)],
                        seed=i, dtype=dtype)
                    with nc.threads(threads):
                        h = model.fit(x, y, loss=loss, optimizer=nc.SGD(lr=0.05), epochs=7,
                                      batch_size=batch, seed=1, verbose=0, engine=engine)
                    key = f"{i}/{dtype}/{threads}/{engine}"
                    out["loss/" + key] = np.array(h.history["loss"])
                    for name, p in model.named_parameters():
                        out[f"{name}/{key}"] = p.data.copy()
                        out[f"grad {name}/{key}"] = p.grad.copy()
    np.savez(sys.argv[1], **out)
""") % (NETS,)


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_tiny_networks_native_equals_python_bitwise(isa, tmp_path):
    if isa not in nc.config()["isa_supported"]:
        pytest.skip(f"this CPU has no {isa}")  # not this machine's to test
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    native = [k for k in res if k.endswith("/native")]
    assert len(native) > 8 * 2 * 2 * 3
    for key in native:
        want = res[key[:-len("native")] + "python"]
        got = res[key]
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), key
        assert np.all(np.isfinite(got)), key


def _diverging_fit(engine, stop):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32) * np.float32(1e30)
    model = nc.Sequential([nc.Dense(2, 4, "tanh"), nc.Dense(4, 1)], seed=0)
    h = model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=10.0), epochs=6, batch_size=2,
                  seed=0, verbose=0, engine=engine, stop_on_nonfinite=stop)
    return h, model


def test_a_tiny_network_stops_at_a_nonfinite_loss_like_the_python_engine():
    messages = {}
    for engine in ("python", "native"):
        with pytest.raises(nc.NonFiniteLossError) as info:
            _diverging_fit(engine, True)
        messages[engine] = str(info.value)
    assert "epoch 1, step 1" in messages["python"]
    assert messages["python"] == messages["native"]


def test_a_tiny_network_goes_on_past_a_nonfinite_loss_like_the_python_engine():
    (hp, mp), (hn, mn) = _diverging_fit("python", False), _diverging_fit("native", False)
    assert hn.engine == "native"
    assert not np.all(np.isfinite(hp.history["loss"]))
    assert np.asarray(hp.history["loss"]).tobytes() == np.asarray(hn.history["loss"]).tobytes()
    for p, q in zip(mp.parameters(), mn.parameters()):
        assert p.data.tobytes() == q.data.tobytes()


def _optimizers(model):
    """SGD as people configure it, over a tiny model's parameters: momentum, Nesterov and
    weight decay; two groups with their own rates and momenta; biases without decay; a
    frozen first layer; groups that need and do not need a velocity."""
    (w0, b0), (w1, b1) = model.layers[0].parameters(), model.layers[1].parameters()
    return {
        "momentum": nc.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                           weight_decay=1e-2),
        "groups": nc.SGD([{"params": [w0, b0], "lr": 0.2, "momentum": 0.5},
                          {"params": [w1, b1], "lr": 0.05}], lr=0.1, weight_decay=1e-3),
        "no_decay": nc.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1,
                           no_decay=[b0, b1]),
        "frozen": nc.SGD([w1, b1], lr=0.1, momentum=0.9),
    }


@pytest.mark.parametrize("case", ["momentum", "groups", "no_decay", "frozen"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiny_networks_train_every_sgd_setting_bitwise(case, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3)).astype(dtype)
    y = rng.standard_normal((6, 2)).astype(dtype)
    got = {}
    for engine in ("python", "native"):
        model = nc.Sequential([nc.Dense(3, 5, "tanh"), nc.Dense(5, 2)], seed=4, dtype=dtype)
        opt = _optimizers(model)[case]
        h = model.fit(x, y, loss="mse", optimizer=opt, epochs=5, batch_size=4, seed=2,
                      verbose=0, engine=engine)
        h2 = model.fit(x, y, epochs=3, batch_size=None, seed=5, verbose=0, engine=engine)
        losses = [model.train_on_batch(x[:3], y[:3]) for _ in range(3)]
        got[engine] = (h.history["loss"] + h2.history["loss"] + losses,
                       [(p.data.tobytes(), p.grad.tobytes()) for p in model.parameters()],
                       {k: v.tobytes() for k, v in opt.state_arrays().items()})
    assert got["python"][0] == got["native"][0]
    assert got["python"][1] == got["native"][1]
    assert got["python"][2] == got["native"][2]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows, batch", [(6, None), (300, 300), (700, None)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiny_mse_native_equals_python_bitwise(weighted, rows, batch, dtype):
    # the tiny step's MSE without weights (its own call of the kernel, batches of up to
    # 1024 outputs) and with weights (loss_of), on both sides of that bound: the python
    # engine's loss, gradient and weights, bit for bit
    rng = np.random.default_rng(11)
    x = rng.standard_normal((rows, 2)).astype(dtype)
    y = rng.standard_normal((rows, 2)).astype(dtype)
    w = rng.random(rows) if weighted else None
    got = {}
    for engine in ("python", "native"):
        model = nc.Sequential([nc.Dense(2, 3, "sigmoid"), nc.Dense(3, 2, "sigmoid")], seed=1,
                              dtype=dtype)
        h = model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.5), epochs=4, batch_size=batch,
                      seed=3, sample_weight=w, verbose=0, engine=engine)
        got[engine] = (h.history["loss"], [p.data.tobytes() for p in model.parameters()])
    assert got["python"] == got["native"]
