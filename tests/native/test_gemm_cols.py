"""A few columns of C from a column-major A (KernelSet::gemm_cols, several columns per
pass, simd/gemm_tile.h: a weight gradient x^T @ g of a layer with a few outputs; up to
one vector of columns when A is too large to read in place, e.g. a 1024 -> 10 head's,
1000-1024 x 256 here) give the bytes of the register tiles on a packed A (a view with a
column step of 2 is always packed), with and without a bias, an activation and the
pre-activation kept (dense_forward), every column count from 1 to 20 (whole groups and
remainders), row counts around the vector and block widths, under every kernel set, on
one thread and two; and agree with a float64 NumPy product."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

ROWS = (1, 7, 16, 17, 63, 64, 65, 130, 1000, 1024)
COLS = tuple(range(1, 21))
DEPTHS = (1, 5, 64, 256)

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore.functional import matmul, dense_forward

    ROWS, COLS, DEPTHS = %r, %r, %r
    out = {}
    rng = np.random.default_rng(13)
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for m in ROWS:
            for n in COLS:
                for k in DEPTHS:
                    # every column count over an A too large to read in place
                    if m * n * k > 400_000 and not (m >= 1000 and k == 256):
                        continue
                    at = rng.standard_normal((k, m)).astype(dtype)  # A = at.T: column-major
                    b = rng.standard_normal((k, n)).astype(dtype)
                    bias = rng.standard_normal(n).astype(dtype)
                    p = np.zeros((m, 2 * k), dtype)
                    p[:, ::2] = at.T
                    a_packed = p[:, ::2]
                    key = f"{d}/{m}/{n}/{k}"
                    out["at/" + key] = at
                    out["b/" + key] = b
                    for t in (1, 2):
                        with nncore.threads(t):
                            out[f"mm/cols/{t}/{key}"] = matmul(at, b, trans_a=True)
                            out[f"mm/packed/{t}/{key}"] = matmul(a_packed, b)
                            for name, a in (("cols", at.T), ("packed", a_packed)):
                                z = np.empty((m, n), dtype)
                                out[f"y/{name}/{t}/{key}"] = dense_forward(a, b, bias, "gelu",
                                                                           z_out=z)
                                out[f"z/{name}/{t}/{key}"] = z
    np.savez(sys.argv[1], **out)
""") % (ROWS, COLS, DEPTHS)


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def test_gemm_cols_is_the_tiles_bit_for_bit(run):
    isa, out = run
    keys = [k for k in out if k.split("/")[0] in ("mm", "y", "z") and k.split("/")[1] == "cols"]
    assert len(keys) > 500
    for k in keys:
        kind, _, t, key = k.split("/", 3)
        assert out[k].tobytes() == out[f"{kind}/packed/{t}/{key}"].tobytes(), (isa, k)
        assert out[k].tobytes() == out[f"{kind}/cols/1/{key}"].tobytes(), (isa, k)


def test_gemm_cols_against_numpy(run):
    isa, out = run
    for k in [k for k in out if k.startswith("at/")]:
        key = k[3:]
        a = out[k].astype(np.float64).T
        b = out["b/" + key].astype(np.float64)
        tol = 2e-5 if key.startswith("float32") else 1e-12
        np.testing.assert_allclose(out[f"mm/cols/1/{key}"], a @ b, rtol=tol,
                                   atol=tol * np.sqrt(a.shape[1]), err_msg=(isa, key))
