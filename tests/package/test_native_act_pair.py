"""The native trainer's Dense with gelu, gelu_tanh, silu or softplus computes act(z) and
act'(z) in one pass in the forward (kernels' activation_pair) and multiplies the gradient by
the kept derivative in the backward; the python engine runs the fused store and the
backward's recomputation. Widths and batches that take whole groups of four vectors, single
vectors and tails, a residual block and a gelu layer after another: bit for bit the same
weights, gradients and History, in float32 and float64, at 1 and 2 threads, under every
kernel set the CPU has."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nncore as nc

ACTS = ["gelu", "gelu_tanh", "silu", "softplus"]


def models(act):
    return {
        "wide": lambda: [nc.Dense(24, 130, act), nc.Dense(130, 10)],
        "deep": lambda: [nc.Dense(24, 67, act), nc.Dense(67, 33, act), nc.Dense(33, 10)],
        "residual": lambda: [nc.Dense(24, 40), nc.Residual(nc.Dense(40, 40, act)),
                             nc.Dropout(0.1), nc.Dense(40, 10)],
    }


def differs(act, shape, dtype, threads):
    """'' when the python and native engines agree bit for bit, else what differs."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((203, 24)) * 2).astype(dtype)
    y = rng.integers(0, 10, 203)
    got = {}
    for engine in ("python", "native"):
        model = nc.Sequential(*models(act)[shape](), seed=1, dtype=dtype)
        with nc.threads(threads):
            h = model.fit(x, y, loss="cross_entropy", optimizer=nc.SGD(lr=0.05, momentum=0.9),
                          epochs=2, batch_size=64, seed=0, verbose=0, engine=engine)
        got[engine] = (h, model)
    (hp, mp), (hn, mn) = got["python"], got["native"]
    if hn.engine != "native":
        return f"ran {hn.engine}"
    for (name, p), (_, q) in zip(mp.named_parameters(), mn.named_parameters()):
        if p.data.tobytes() != q.data.tobytes() or p.grad.tobytes() != q.grad.tobytes():
            return f"{name} differs"
    strip = lambda hist: {k: v for k, v in hist.items() if k != "epoch_time"}  # noqa: E731
    return "" if strip(hp.history) == strip(hn.history) else "History differs"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_native_equals_python(act, dtype, threads):
    for shape in models(act):
        assert differs(act, shape, dtype, threads) == "", shape


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_under_every_kernel_set(isa):
    if isa not in nc.config()["isa_supported"]:
        pytest.skip(f"this CPU has no {isa}")  # not this machine's to test
    code = ("import json, sys; sys.path.insert(0, %r); import test_native_act_pair as t; "
            "import nncore; assert nncore.config()['isa'] == %r; "
            "print(json.dumps({f'{a}/{s}/{d}': t.differs(a, s, d, 1) for a in t.ACTS "
            "for s in t.models(a) for d in ('float32', 'float64')}))"
            ) % (os.path.dirname(__file__), isa)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, NNCORE_ISA=isa), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = {k: v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items() if v}
    assert not failures, failures
