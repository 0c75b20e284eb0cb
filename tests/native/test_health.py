"""Gradient health (fit(..., health=True)): the kernel sets' health sums and counts against
the float64 NumPy twin (nncore.reference.layer_health), bit for bit the same in every
kernel set and at 1 and 2 threads; the native trainer's step fused with the sums gives
the python engine's statistics bit for bit."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc
from nncore import _core
from nncore import reference as R

# sizes around the lanes (16), the runs (128 values) and the blocks (4096), and one of
# several blocks (the 784-256 layer)
SIZES = (1, 15, 16, 17, 127, 128, 129, 4095, 4096, 4097, 9000, 784 * 256 + 3)


def _weights(rng, n, dtype):
    before = rng.standard_normal(n).astype(dtype)
    after = (before - 0.01 * rng.standard_normal(n)).astype(dtype)
    return after, before, rng.standard_normal(n).astype(dtype)


def _outputs(rng, dtype):
    """(relu, sigmoid, tanh outputs), with tails of every vector width, a NaN, -0.0, dead
    units and exact threshold values."""
    relu = np.maximum(rng.standard_normal((37, 21)), 0).astype(dtype)
    relu[:, [2, 20]] = 0.0
    relu[:, 5] = -0.0
    relu[:, 7] = 0.0
    relu[11, 7] = np.nan            # NaN: alive
    relu[:, 9] = -1.0
    relu[36, 9] = 1e-30             # alive in its last row only
    sig = (1 / (1 + np.exp(-4 * rng.standard_normal((33, 19))))).astype(dtype)
    sig[0, :4] = [dtype(0.01), dtype(0.99), np.nan, 0.0]
    tanh = np.tanh(4 * rng.standard_normal((33, 19))).astype(dtype)
    tanh[0, :4] = [dtype(0.99), -dtype(0.99), np.nan, -1.0]
    return relu, sig, tanh


def _native(w, before, g, y, act):
    prev = before.copy()
    out = _core._layer_health(w, prev, g, y, act)
    np.testing.assert_array_equal(prev, w)  # prev becomes the new weights
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_match_the_float64_twin(dtype):
    rng = np.random.default_rng(0)
    # float32: runs of 16 squares summed in float (within 2^-20 of their exact sum),
    # d = w - prev rounded to float; float64: every operation in double
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    y = np.zeros((0, 4), dtype)
    for n in SIZES:
        w, before, g = _weights(rng, n, dtype)
        got = _native(w, before, g, y, "relu")
        want = R.layer_health(w, before.copy(), g, y, "relu")
        np.testing.assert_allclose(got[:3], want[:3], rtol=rtol, atol=0, err_msg=str(n))
        assert got[3:] == (0.0, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_counts_match_the_twin_exactly(dtype):
    rng = np.random.default_rng(1)
    w, before, g = _weights(rng, 50, dtype)
    relu, sig, tanh = _outputs(rng, dtype)
    for y, act in ((relu, "relu"), (sig, "sigmoid"), (tanh, "tanh"), (sig, "identity")):
        for rows in (1, 2, len(y)):
            for cols in (1, 3, 8, 16, y.shape[1]):
                part = np.ascontiguousarray(y[:rows, :cols])
                got = _native(w, before, g, part, act)
                assert got[3:] == R.layer_health(w, before.copy(), g, part, act)[3:], \
                    (act, rows, cols)
    # dead: columns 2 and 20 (0), 5 (-0); alive: 7 (a NaN), 9 (> 0 in its last row only)
    assert _native(w, before, g, relu, "relu")[4] == 3 / 21
    assert R.layer_health(w, before.copy(), g, relu, "relu")[4] == 3 / 21


ISA_SCRIPT = r"""
import json, sys
import numpy as np
import nncore as nc
from nncore import _core
sizes = json.loads(sys.argv[1])
out = {"isa": nc.config()["isa"]}
for dtype in (np.float32, np.float64):
    rng = np.random.default_rng(2)
    for n in sizes:
        before = rng.standard_normal(n).astype(dtype)
        w = (before - 0.01 * rng.standard_normal(n)).astype(dtype)
        g = rng.standard_normal(n).astype(dtype)
        y = np.maximum(rng.standard_normal((45, 37)), 0).astype(dtype)
        s = (1 / (1 + np.exp(-4 * rng.standard_normal((45, 37))))).astype(dtype)
        for threads in (1, 2):
            with nc.threads(threads):
                r = [_core._layer_health(w, before.copy(), g, y, "relu"),
                     _core._layer_health(w, before.copy(), g, s, "sigmoid")]
            out[f"{np.dtype(dtype).name}/{n}/t{threads}"] = [float(x).hex() for x in sum(r, ())]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def isa_results():
    res = {}
    for isa in ("generic", "avx2", "avx512"):
        if isa not in nc.config()["isa_supported"]:
            continue
        proc = subprocess.run([sys.executable, "-c", ISA_SCRIPT, json.dumps(SIZES)],
                              env=dict(os.environ, NNCORE_ISA=isa), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        res[isa] = json.loads(proc.stdout)
        assert res[isa].pop("isa") == isa
    return res


def test_same_bits_in_every_kernel_set_and_at_any_thread_count(isa_results):
    assert "generic" in isa_results
    generic = isa_results["generic"]
    assert len(generic) == 2 * len(SIZES) * 2
    for isa, res in isa_results.items():
        assert res == generic, isa
    for key, value in generic.items():
        if key.endswith("/t2"):
            assert value == generic[key[:-1] + "1"], key


def _fit(engine, dtype, threads, optimizer, callbacks=()):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((120, 70))
    y = rng.integers(0, 3, 120)
    # 70 x 77 = 5390 weights: a block of 4096 and a tail of 1294 (not whole lanes)
    model = nc.Sequential([nc.Dense(70, 77, "relu"), nc.Dense(77, 9, "tanh"),
                           nc.Dense(9, 3)], seed=5, dtype=dtype)
    with nc.threads(threads):
        h = model.fit(x, y, loss="cross_entropy", optimizer=optimizer, epochs=3,
                      batch_size=32, seed=0, health=True, verbose=0, engine=engine,
                      callbacks=list(callbacks))
    assert h.engine == engine
    return h.health, h.history["loss"], model.get_weights()


OPTIMIZERS = {
    "sgd_nesterov_decay": lambda: nc.SGD(lr=0.1, momentum=0.9, nesterov=True,
                                         weight_decay=1e-3),
    "adamw_amsgrad": lambda: nc.AdamW(lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "rmsprop_centered": lambda: nc.RMSprop(lr=1e-3, momentum=0.5, centered=True),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_native_step_gives_the_python_engine_bits(opt, dtype, threads):
    hp, lp, wp = _fit("python", dtype, threads, OPTIMIZERS[opt]())
    hn, ln, wn = _fit("native", dtype, threads, OPTIMIZERS[opt]())
    assert hp == hn and lp == ln
    for a, b in zip(wp, wn):
        np.testing.assert_array_equal(a, b)
    assert all(v > 0 for v in hp["dense_0"]["update_ratio"])


class _ShrinkAtEpochEnd(nc.Callback):
    """Changes the weights between epochs (outside any step)."""

    def on_epoch_end(self, epoch, logs=None):
        for layer in self.model.layers:
            if isinstance(layer, nc.Dense):
                layer.w.data *= layer.w.data.dtype.type(0.5)


def test_weights_changed_between_epochs_count_from_the_new_weights():
    # the ratio of each epoch compares a step's weights with those just before it, also
    # after a callback changed them between epochs: both engines agree
    hp, _, _ = _fit("python", "float64", 1, nc.SGD(lr=0.1), [_ShrinkAtEpochEnd()])
    hn, _, _ = _fit("native", "float64", 1, nc.SGD(lr=0.1), [_ShrinkAtEpochEnd()])
    assert hp == hn
    plain, _, _ = _fit("python", "float64", 1, nc.SGD(lr=0.1))
    ratio, plain_ratio = hp["dense_0"]["update_ratio"], plain["dense_0"]["update_ratio"]
    assert ratio[0] == plain_ratio[0]
    # a step's change (a few percent), not the halving (a ratio of 1 for that step)
    assert max(ratio) < 0.1, ratio


FUSED_ISA_SCRIPT = r"""
import itertools
import json
import numpy as np
import nncore as nc
out = {"isa": nc.config()["isa"], "equal": []}
rng = np.random.default_rng(6)
x = rng.standard_normal((96, 64))
y = rng.integers(0, 10, 96)
OPTIMIZERS = (lambda: nc.SGD(lr=0.05, momentum=0.9), lambda: nc.SGD(lr=0.05),
              lambda: nc.SGD(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=1e-3),
              lambda: nc.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3))
for dtype, threads, make_opt in itertools.product(("float32", "float64"), (1, 2), OPTIMIZERS):
    res = {}
    for engine in ("python", "native"):
        # 64 x 128: two whole blocks of 4096; 128 x 10: one short block (not whole runs)
        model = nc.Sequential([nc.Dense(64, 128, "relu"), nc.Dense(128, 10, "sigmoid")],
                              seed=7, dtype=dtype)
        with nc.threads(threads):
            h = model.fit(x, y, loss="cross_entropy", epochs=2, batch_size=32, seed=0,
                          optimizer=make_opt(), health=True, verbose=0, engine=engine)
        assert h.engine == engine
        res[engine] = (h.health, [w.tobytes().hex() for w in model.get_weights()])
    out["equal"].append([dtype, threads, res["python"] == res["native"]])
print(json.dumps(out))
"""


def test_fused_native_step_gives_the_python_engine_bits_in_every_kernel_set():
    # the trainer's fused step (sgd_health: plain, momentum, dampening, nesterov, weight
    # decay) against the python engine's health_layer path (the prev
    # sum, no copy; set_p), under each kernel set the CPU has
    sets = [isa for isa in ("generic", "avx2", "avx512") if isa in nc.config()["isa_supported"]]
    assert "generic" in sets
    for isa in sets:
        proc = subprocess.run([sys.executable, "-c", FUSED_ISA_SCRIPT],
                              env=dict(os.environ, NNCORE_ISA=isa), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        res = json.loads(proc.stdout)
        assert res["isa"] == isa
        assert len(res["equal"]) == 16
        for dtype, threads, equal in res["equal"]:
            assert equal, (isa, dtype, threads)
