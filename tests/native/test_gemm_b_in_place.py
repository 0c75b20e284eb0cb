"""A row-major B read in place by the tiles (core/gemm.cpp's b_in_place / b_small; on
avx512 its rows are prefetched ahead, simd/gemm_tile.h) gives the bytes of the same B
packed (a column-major copy of it is always packed: the same values in the same panels),
on one thread and two, under every kernel set; and both agree with a float64 NumPy
product. Shapes: a small batch's forward product (64 x 784 x 256: whole k-blocks of rows
1 KiB apart), a partial last column panel, row tails, a few rows, B as columns of a wider
array (rows further apart than its width), a small B read in place as a whole, a B of up
to L2 read by few row panels (and one larger than L2, packed)."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

# (m, k, n, columns of the array B is cut from (0: B itself))
SHAPES = [(64, 784, 256, 0), (64, 784, 200, 0), (61, 784, 128, 0), (5, 300, 192, 0),
          (64, 256, 128, 0), (33, 500, 256, 300), (32, 64, 64, 0), (20, 40, 48, 0),
          (130, 196, 80, 0),
          # B of 0.5-1 x L2 (2 MiB here) read in place by at most 16 row panels
          (32, 784, 512, 0), (16, 1024, 512, 0), (61, 600, 480, 0), (96, 784, 500, 0),
          (16, 600, 256, 0), (32, 2048, 512, 0),
          # rows 4 KiB apart read in place by a few row panels
          (8, 512, 1024, 0), (16, 256, 1024, 0), (23, 300, 1000, 0), (8, 256, 512, 1024)]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore.functional import matmul

    SHAPES = %r
    out = {}
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for m, k, n, wide in SHAPES:
            a = rng.standard_normal((m, k)).astype(dtype)
            if wide:
                b = rng.standard_normal((k, wide)).astype(dtype)[:, 7:7 + n]
            else:
                b = rng.standard_normal((k, n)).astype(dtype)
            b_cols = np.asfortranarray(b)
            key = f"{d}/{m}/{k}/{n}/{wide}"
            out["a/" + key] = a
            out["b/" + key] = np.ascontiguousarray(b)
            for t in (1, 2):
                with nncore.threads(t):
                    out[f"in/{t}/{key}"] = matmul(a, b)
                    out[f"packed/{t}/{key}"] = matmul(a, b_cols)
    np.savez(sys.argv[1], **out)
""") % (SHAPES,)


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def test_b_in_place_is_the_packed_b_bit_for_bit_at_any_thread_count(run):
    isa, out = run
    keys = [k for k in out if k.startswith("in/")]
    assert len(keys) == 2 * 2 * len(SHAPES)
    for k in keys:
        _, t, key = k.split("/", 2)
        assert out[k].tobytes() == out[f"packed/{t}/{key}"].tobytes(), (isa, k)
        assert out[k].tobytes() == out[f"in/1/{key}"].tobytes(), (isa, k)


def test_b_in_place_against_numpy(run):
    isa, out = run
    for k in [k for k in out if k.startswith("in/1/")]:
        key = k.split("/", 2)[2]
        a = out["a/" + key].astype(np.float64)
        b = out["b/" + key].astype(np.float64)
        want = a @ b
        tol = 2e-5 if key.startswith("float32") else 1e-12
        scale = np.sqrt(a.shape[1])
        np.testing.assert_allclose(out[k], want, rtol=tol, atol=tol * scale, err_msg=(isa, k))
