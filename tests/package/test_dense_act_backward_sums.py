"""The native step's backward of a Dense layer with an activation (relu, leaky_relu,
sigmoid, tanh) on a layer of at most 256 outputs: grad_z and the bias gradient in one pass
(the kernel set's activation_backward_sums) instead of dense_backward's pass and then the
column sums; below a one-output layer, with that layer's input gradient (a one-deep
product) made in the same pass (outer_backward_sums). Against the python step bit for bit (weights, gradients, History), under
every kernel set, at 1 and 2 threads, float32 and float64, with widths on and off the
vector edges (1, 7, 17, 64 + 36 = 100, 256) and past the path's 256 columns (300, which
keeps dense_backward's chunked pass), and with NaN and infinite gradients (the relu
derivative keeps a zero where the unit is off)."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore as nc

    # (layer sizes, batch, rows): products above the direct path's 1024 multiply-adds
    # (one-output layers: their input gradient folded into the layer below, widths 64,
    # 100, 256 and 3, whose one-deep product takes gemm_cols)
    SHAPES = [((12, 64, 1), 32, 70), ((9, 100, 7, 3), 24, 50), ((5, 17, 256, 2), 16, 40),
              ((6, 300, 4), 8, 20), ((40, 48, 33), 20, 41), ((9, 100, 1), 24, 50),
              ((7, 3, 1), 400, 900), ((5, 17, 256, 1), 16, 40)]

    def net(sizes, act, bias, dtype):
        layers = [nc.Dense(a, b, act, use_bias=bias)
                  for a, b in zip(sizes[:-2], sizes[1:-1])]
        layers.append(nc.Dense(sizes[-2], sizes[-1], act, use_bias=bias))
        return nc.Sequential(layers, seed=5, dtype=dtype)

    out = {"isa": np.array(nc.config()["isa"])}
    rng = np.random.default_rng(3)
    for s, (sizes, batch, rows) in enumerate(SHAPES):
        x = rng.standard_normal((rows, sizes[0]))
        y = rng.standard_normal((rows, sizes[-1]))
        for act in ("relu", "leaky_relu", "sigmoid", "tanh"):
            for dtype in ("float32", "float64"):
                for threads in (1, 2):
                    bias = (s + threads) % 2 == 0 or act == "relu"
                    for engine in ("python", "native"):
                        m = net(sizes, act, bias, dtype)
                        with nc.threads(threads):
                            h = m.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.05), epochs=2,
                                      batch_size=batch, seed=1, verbose=0, engine=engine)
                        key = f"{s}/{act}/{dtype}/{threads}/{engine}"
                        for name, p in m.named_parameters():
                            out[f"{key}/{name}"] = p.data
                            out[f"{key}/{name}.grad"] = p.grad
                        out[f"{key}/loss"] = np.array(h["loss"])
    # infinite and NaN gradients: huge inputs and targets make them overflow (float32)
    x = (rng.standard_normal((32, 10)) * 2e37).astype(np.float32)
    y = np.full((32, 3), 3e38, np.float32)
    y[::2] = -3e38
    for engine in ("python", "native"):
        for tag, sizes, yy in (("", (10, 64, 48, 3), y), ("one/", (10, 64, 1), y[:, :1])):
            m = net(sizes, "relu", True, "float32")
            m.fit(x, yy, loss="mse", optimizer=nc.SGD(lr=1e-3), epochs=1, batch_size=32,
                  seed=0, verbose=0, engine=engine, stop_on_nonfinite=False)
            for name, p in m.named_parameters():
                out[f"nonfinite/{tag}{engine}/{name}.grad"] = p.grad
    np.savez(sys.argv[1], **out)
""")


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_act_backward_sums_match_the_python_step(isa, tmp_path):
    if isa not in nncore.config()["isa_supported"]:
        pytest.skip(f"this CPU has no {isa}")  # not this machine's to test
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    natives = [k for k in res if "/native" in k]
    assert len(natives) > 500
    for k in natives:
        py = res[k.replace("/native", "/python")]
        assert res[k].dtype == py.dtype and res[k].shape == py.shape, k
        assert res[k].tobytes() == py.tobytes(), f"{k} differs from the python step ({isa})"
    # the gradients did overflow (the case is not vacuous) and the bias gradients moved
    g = res["nonfinite/native/dense_0.b.grad"]
    assert not np.isfinite(res["nonfinite/native/dense_1.b.grad"]).all()
    assert np.any(g != 0)
