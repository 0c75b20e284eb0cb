"""Products small enough for gemm's direct path (m * n * k <= 1024, core/gemm_direct.h)
keep the arithmetic of a plain loop, whatever the blocking of its loops in C++: each
element is 0 + a(i, 0) b(0, j) + a(i, 1) b(1, j) + ... in k order, every product and sum
rounded, then + bias. Checked bit for bit against that loop in NumPy for every layout,
and the native trainer's direct layers (core/train.cpp) against the python engine where
a run's batches fall on both sides of the direct limit."""
import numpy as np
import pytest

import nncore as nc
import nncore.functional as F
from conftest import layouts

# (m, k, n): widths around the four-column blocks, one-column and one-deep products, and
# the limit itself (8 * 8 * 16 = 1024), sixteen-column blocks with remainders
SHAPES = [(1, 1, 1), (4, 2, 4), (4, 4, 1), (4, 1, 4), (3, 5, 7), (5, 7, 9), (2, 3, 13),
          (8, 8, 16), (16, 4, 16), (2, 3, 37), (1, 2, 512), (3, 1, 341)]


def sequential(a, b, bias=None):
    """The direct path's sums in NumPy: one rounded product and one rounded sum per k."""
    acc = np.zeros((a.shape[0], b.shape[1]), a.dtype)
    for p in range(a.shape[1]):
        acc = acc + a[:, p:p + 1] * b[p:p + 1, :]
    return acc if bias is None else acc + bias


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_direct_matmul_is_the_plain_loop_bitwise(m, k, n, dtype, rng):
    a0 = rng.standard_normal((m, k)).astype(dtype)
    b0 = rng.standard_normal((k, n)).astype(dtype)
    want = sequential(a0, b0)
    for name_a, a in layouts(a0):
        for name_b, b in layouts(b0):
            got = F.matmul(a, b)
            assert got.tobytes() == want.tobytes(), (name_a, name_b)
    assert F.matmul(a0.T.copy(), b0, trans_a=True).tobytes() == want.tobytes()
    assert F.matmul(a0, b0.T.copy(), trans_b=True).tobytes() == want.tobytes()


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_direct_dense_is_the_plain_loop_bitwise(m, k, n, dtype, rng):
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    y = F.dense_forward(x, w, b, "identity")
    assert y.tobytes() == sequential(x, w, b).tobytes()
    gy = rng.standard_normal((m, n)).astype(dtype)
    gx, gw, gb = F.dense_backward(x, w, y, gy, "identity")
    assert gw.tobytes() == sequential(x.T.copy(), gy).tobytes()
    assert gx.tobytes() == sequential(gy, w.T.copy()).tobytes()
    want_b = np.zeros(n, dtype)
    for r in range(m):  # column sums in row order from zero
        want_b = want_b + gy[r]
    assert gb.tobytes() == want_b.tobytes()


def _fit(engine, name, x, y, dtype, threads):
    layers, loss, optimizer, batch, _ = NETS[name]
    model = nc.Sequential(*layers(), seed=5, dtype=dtype)
    with nc.threads(threads):
        h = model.fit(x, y, loss=loss, optimizer=optimizer(), epochs=3, batch_size=batch,
                      seed=1, verbose=0, engine=engine)
    return h, model


NETS = {  # layers, loss, optimiser, batch size, outputs
    # batches of 10 rows: 10 * 8 * 16 = 1280 multiply-adds (packed GEMM), the last batch
    # of 5 rows 640 (direct): the trainer's direct layers and gemm's agree on the limit
    "crossing_limit": (lambda: [nc.Dense(8, 16, "gelu"), nc.Dense(16, 3)], "mse",
                       lambda: nc.SGD(lr=0.05), 10, 3),
    "xor_like": (lambda: [nc.Dense(8, 4, "sigmoid"), nc.Dense(4, 1, "sigmoid")], "mse",
                 lambda: nc.SGD(lr=0.5, momentum=0.9, nesterov=True, weight_decay=1e-3), 4, 1),
    "no_bias_leaky": (lambda: [nc.Dense(8, 6, "leaky_relu", use_bias=False),
                               nc.Dense(6, 5, "tanh"), nc.Dense(5, 3, use_bias=False)],
                      "mse", lambda: nc.Adam(lr=0.01), 7, 3),
    "softmax_head": (lambda: [nc.Dense(8, 5, "silu"), nc.Dense(5, 3, "softmax")],
                     "cross_entropy", lambda: nc.RMSprop(lr=0.01), 6, 3),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(NETS))
def test_native_direct_layers_bitwise_equal_python(name, dtype, threads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((25, 8)).astype(dtype)
    if NETS[name][1] == "cross_entropy":
        y = rng.integers(0, 3, 25)
    else:
        y = rng.standard_normal((25, NETS[name][4])).astype(dtype)
    (hp, mp), (hn, mn) = (_fit(e, name, x, y, dtype, threads) for e in ("python", "native"))
    assert hn.engine == "native"
    for (pname, p), (_, q) in zip(mp.named_parameters(), mn.named_parameters()):
        assert p.data.tobytes() == q.data.tobytes(), pname
        assert p.grad.tobytes() == q.grad.tobytes(), pname
    assert hp.history["loss"] == hn.history["loss"]
