"""A column-major A (the activations' transpose in a weight gradient) is packed by the
blocked GEMM driver a few values of k at a time over all of a task's row panels
(core/gemm.cpp's pack_a_panels): the panels, so the products, must be the bytes of the
same A packed from a row-major copy and from a strided view (other pack paths), on one
thread and two, under every kernel set, over k-blocks whose depth is not a multiple of the
chunk, row tails and several k-blocks; and agree with a float64 NumPy product."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

# (m, k, n): several k-blocks (k > 256: 300 = 2 x 150, 513 = 3 x 171), one k-block on two
# threads, depths 1 .. 9 around the chunk of 8, row tails of every MR, more than one column
# panel (N > NR: A is packed, not read in place)
SHAPES = [(200, 300, 130), (97, 513, 70), (1031, 64, 200), (256, 7, 1030), (301, 9, 600),
          (64, 785, 129), (130, 1030, 80)]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore.functional import matmul

    SHAPES = %r
    out = {}
    rng = np.random.default_rng(17)
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for m, k, n in SHAPES:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            key = f"{d}/{m}/{k}/{n}"
            out["a/" + key] = a
            out["b/" + key] = b
            wide = np.zeros((m, 2 * k), dtype)
            wide[:, ::2] = a
            for t in (1, 2):
                with nncore.threads(t):
                    out[f"cols/{t}/{key}"] = matmul(np.asfortranarray(a), b)
                    out[f"rows/{t}/{key}"] = matmul(a, b)
                    out[f"view/{t}/{key}"] = matmul(wide[:, ::2], b)
    np.savez(sys.argv[1], **out)
""") % (SHAPES,)


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def test_column_major_a_gives_the_bytes_of_the_other_layouts(run):
    isa, out = run
    keys = [k for k in out if k.startswith("cols/")]
    assert len(keys) == 2 * 2 * len(SHAPES)
    for k in keys:
        got = out[k].tobytes()
        for other in ("rows", "view"):
            assert got == out[other + k[4:]].tobytes(), (isa, k, other)
        one = "cols/1/" + k.split("/", 2)[2]
        assert got == out[one].tobytes(), (isa, k, "1 vs 2 threads")


def test_column_major_a_against_numpy(run):
    isa, out = run
    for k in [k for k in out if k.startswith("cols/")]:
        key = k.split("/", 2)[2]
        a = out["a/" + key].astype(np.float64)
        b = out["b/" + key].astype(np.float64)
        tol = 1e-5 if key.startswith("float32") else 1e-12
        np.testing.assert_allclose(out[k], a @ b, rtol=tol, atol=tol * np.sqrt(a.shape[1]) * 4,
                                   err_msg=f"{isa} {k}")
