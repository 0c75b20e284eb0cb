"""Small products (one thread, one k-block: a small network's layers) take gemm's plain
loop (core/gemm.cpp small_gemm): no task dispatch, narrow column panels packed narrow, the
short last row panel computed on its rows only (simd/gemm_tile.h). The same tile
arithmetic as the blocked driver, so:

- under the generic set every element is the plain loop's sum (0 + a(i, 0) b(0, j) + ... in
  k order, every product and sum rounded, then + bias), bit for bit against NumPy;
- the SIMD sets (one FMA chain per element, in k order) agree bit for bit with each other
  and with a float64 oracle to the dtype's tolerance;
- a product computed by the plain loop at one thread and by the blocked driver at two
  (or under any schedule) gives the same bits.

Each kernel set runs in a subprocess (NNCORE_ISA); the results come back as raw bytes."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa
import nncore.functional as F
from nncore import _core

# (m, k, n): rows around the tiles' 4 and 6 (remainders 1..5), one-column and narrow
# outputs (panels packed narrow; up to 4 columns, gemm_cols: rows around its 4 vectors,
# A read in place when transposed, copied column-major when row-major; mm_strided's A,
# neither, takes the tiles, so mm == mm_strided checks gemm_cols against the tiles), widths around 16 / 24 / 64, k from 1 to the k-block (256)
SHAPES = [(1, 1, 1025), (2, 3, 200), (5, 20, 64), (7, 64, 1), (13, 17, 5), (20, 32, 64),
          (31, 64, 1), (32, 20, 64), (32, 64, 1), (32, 1, 64), (33, 40, 17), (35, 9, 130),
          (64, 32, 1), (64, 32, 64), (65, 256, 3), (100, 100, 33), (128, 50, 2),
          (257, 129, 16), (70, 256, 65), (3, 200, 48), (200, 30, 2), (67, 100, 4)]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore, nncore.functional as F

    SHAPES = %r
    out = {}
    rng = np.random.default_rng(11)
    with nncore.threads(1):
        for dtype in (np.float32, np.float64):
            d = np.dtype(dtype).name
            for m, k, n in SHAPES:
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                bias = rng.standard_normal(n).astype(dtype)
                key = f"{m}x{k}x{n}/{d}"
                out["a/" + key], out["b/" + key], out["bias/" + key] = a, b, bias
                out["mm/" + key] = F.matmul(a, b)
                # transposed operands (a weight gradient's x^T, an input gradient's w^T)
                out["mm_ta/" + key] = F.matmul(np.ascontiguousarray(a.T), b, trans_a=True)
                out["mm_tb/" + key] = F.matmul(a, np.ascontiguousarray(b.T), trans_b=True)
                # strided views: a column slice of a wider array, a Fortran-ordered copy
                wide = np.zeros((m, 2 * k + 3), dtype)
                wide[:, 3::2] = a
                out["mm_strided/" + key] = F.matmul(wide[:, 3::2], np.asfortranarray(b))
                for act in ("identity", "relu", "tanh"):
                    z = np.empty((m, n), dtype)
                    out[f"dense_{act}/" + key] = F.dense_forward(a, b, bias, act, z_out=z)
                    out[f"dense_{act}_z/" + key] = z
    out["isa"] = np.array(nncore.config()["isa"])
    np.savez(sys.argv[1], **out)
""") % (SHAPES,)


def results(isa, tmp_path):
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    return res


def sequential(a, b, bias=None):
    """The generic tile's sums in NumPy: one rounded product and one rounded sum per k."""
    acc = np.zeros((a.shape[0], b.shape[1]), a.dtype)
    for p in range(a.shape[1]):
        acc = acc + a[:, p:p + 1] * b[p:p + 1, :]
    return acc if bias is None else acc + bias


def keys(res):
    return [k.split("/", 1)[1] for k in res if k.startswith("mm/")]


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    return results("generic", tmp_path_factory.mktemp("generic"))


def test_generic_small_products_are_the_plain_loop_bitwise(generic):
    for key in keys(generic):
        a, b, bias = generic["a/" + key], generic["b/" + key], generic["bias/" + key]
        want = sequential(a, b)
        for name in ("mm", "mm_ta", "mm_tb", "mm_strided"):
            assert generic[f"{name}/{key}"].tobytes() == want.tobytes(), (name, key)
        z = sequential(a, b, bias)
        assert generic["dense_identity/" + key].tobytes() == z.tobytes(), key
        assert generic["dense_identity_z/" + key].tobytes() == z.tobytes(), key
        assert generic["dense_relu_z/" + key].tobytes() == z.tobytes(), key
        # relu as the kernels write it: max(0, z) + 0 (no -0.0 comes out)
        relu = np.maximum(z, 0) + z.dtype.type(0)
        assert generic["dense_relu/" + key].tobytes() == relu.tobytes(), key


@pytest.mark.parametrize("isa", [s for s in ("avx2", "avx512")
                                 if s in nncore.config()["isa_supported"]])
def test_simd_small_products_match_the_oracle_and_each_other(isa, tmp_path):
    got = results(isa, tmp_path)
    for key in keys(got):
        a, b, bias = got["a/" + key], got["b/" + key], got["bias/" + key]
        dt = a.dtype
        tol = 1e-5 if dt == np.float32 else 1e-12
        z64 = a.astype(np.float64) @ b.astype(np.float64)
        scale = max(np.abs(z64).max(), 1e-300)
        for name in ("mm", "mm_ta", "mm_tb", "mm_strided"):
            r = got[f"{name}/{key}"]
            assert r.dtype == dt and r.shape == z64.shape
            assert np.abs(r - z64).max() / scale < tol, (name, key)
            # one FMA chain per element whatever the layout (a transposed A with at most 4
            # columns takes gemm_cols, the others the tiles): the same bits
            assert r.tobytes() == got["mm/" + key].tobytes(), (name, key)
        z = got["dense_identity_z/" + key]
        zb = z64 + bias
        assert np.abs(z - zb).max() / max(np.abs(zb).max(), 1e-300) < tol, key
        # the epilogue adds the bias to the product's bits, then applies the activation
        assert z.tobytes() == (got["mm/" + key] + bias).tobytes(), key
        assert got["dense_identity/" + key].tobytes() == z.tobytes(), key
        assert got["dense_relu/" + key].tobytes() == (np.maximum(z, 0) + dt.type(0)).tobytes()
        assert got["dense_tanh_z/" + key].tobytes() == z.tobytes(), key
        np.testing.assert_allclose(got["dense_tanh/" + key], np.tanh(z.astype(np.float64)),
                                   rtol=8 * np.finfo(dt).eps, atol=8 * np.finfo(dt).eps)
    if isa == "avx512" and "avx2" in nncore.config()["isa_supported"]:
        other = results("avx2", tmp_path)
        for key in keys(got):
            for name in ("mm", "dense_relu", "dense_identity_z"):
                assert got[f"{name}/{key}"].tobytes() == other[f"{name}/{key}"].tobytes(), \
                    (name, key)


# One k-block, large enough for a second thread (2 * m * n * k >= 16e6): the plain loop at
# one thread, the blocked driver's tasks at two; rows not a multiple of the tile's, narrow
# and partial column panels.
CROSSING = [(8189, 256, 5), (8191, 250, 4), (509, 255, 67), (1021, 200, 40), (250, 256, 130)]


@pytest.mark.parametrize("m, k, n", CROSSING)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_loop_and_blocked_driver_give_the_same_bits(m, k, n, dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    with nncore.threads(1):
        one = F.matmul(a, b)
        one_t = F.matmul(np.ascontiguousarray(a.T), b, trans_a=True)
        one_d = F.dense_forward(a, b, bias, "relu")
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.abs(one - want).max() / np.abs(want).max() < tol
    try:
        for mode, nt in [("normal", 2), ("shuffle", 2), ("caller_only", 2), ("slow_worker", 2)]:
            _core._set_debug_schedule(mode)
            with nncore.threads(nt):
                assert F.matmul(a, b).tobytes() == one.tobytes(), (mode, nt)
                got_t = F.matmul(np.ascontiguousarray(a.T), b, trans_a=True)
                assert got_t.tobytes() == one_t.tobytes(), (mode, nt)
                assert F.dense_forward(a, b, bias, "relu").tobytes() == one_d.tobytes()
    finally:
        _core._set_debug_schedule("normal")
