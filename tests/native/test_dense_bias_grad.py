"""dense_backward's bias gradient and grad_z for a layer of at most 256 outputs (one
chunk: the activation's backward in one call over the batch, the bias gradient summed
16 columns at a time in registers): bit for bit the NumPy twin of its contract, each
column summed from +0 in row order, grad_z = grad_y where the relu output is > 0 (else
+0), under every kernel set the CPU has, at 1 and 2 threads."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

# (rows, outputs): widths around the 16-column blocks (a remainder of 1-15 columns and
# none), up to the one-chunk limit (256) and past it (the per-chunk path)
SHAPES = [(1, 1), (3, 5), (32, 16), (32, 64), (7, 17), (64, 37), (16, 4), (100, 256),
          (9, 300)]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore, nncore.functional as F

    out = {}
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for rows, n in %r:
            x = rng.standard_normal((rows, 6)).astype(dtype)
            w = rng.standard_normal((6, n)).astype(dtype)
            y = np.maximum(rng.standard_normal((rows, n)), 0).astype(dtype)
            gy = rng.standard_normal((rows, n)).astype(dtype) * 1e3
            gy[0, :] = -0.0   # -0 rows: the sum starts from +0
            key = f"{rows}x{n}/{np.dtype(dtype).name}"
            out["y/" + key], out["gy/" + key] = y, gy
            for nt in (1, 2):
                with nncore.threads(nt):
                    gx, gw, gb = F.dense_backward(x, w, y, gy, "relu")
                out[f"gb{nt}/" + key], out[f"gx{nt}/" + key] = gb, gx
                out[f"w/" + key] = w
    np.savez(sys.argv[1], **out)
""") % (SHAPES,)


def run(isa, tmp_path):
    return arrays_under_isa(SCRIPT, isa, tmp_path)


def row_order_sums(g):
    acc = np.zeros(g.shape[1], g.dtype)  # +0
    for r in g:
        acc = acc + r
    return acc


@pytest.mark.parametrize("isa", ["generic"] + [s for s in ("avx2", "avx512")
                                               if s in nncore.config()["isa_supported"]])
def test_bias_gradient_is_the_row_order_sum_bitwise(isa, tmp_path):
    got = run(isa, tmp_path)
    keys = [k.split("/", 1)[1] for k in got if k.startswith("y/")]
    assert len(keys) == 2 * len(SHAPES)
    for key in keys:
        y, gy = got["y/" + key], got["gy/" + key]
        gz = np.where(y > 0, gy, y.dtype.type(0))
        want = row_order_sums(gz)
        for nt in (1, 2):
            gb = got[f"gb{nt}/" + key]
            assert gb.dtype == y.dtype and gb.shape == want.shape
            assert gb.tobytes() == want.tobytes(), (isa, key, nt)
            # grad_z itself through grad_x = grad_z @ w^T (a float64 oracle, tolerance)
            gx = got[f"gx{nt}/" + key]
            ref = gz.astype(np.float64) @ got["w/" + key].astype(np.float64).T
            tol = 1e-5 if y.dtype == np.float32 else 1e-12
            assert np.abs(gx - ref).max() <= tol * max(np.abs(ref).max(), 1.0), (isa, key)
        assert got["gb1/" + key].tobytes() == got["gb2/" + key].tobytes()
