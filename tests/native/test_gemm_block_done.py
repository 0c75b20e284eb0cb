"""gemm()'s completion hook (GemmEpilogue::block_done, core/gemm.h): the native trainer
updates a layer's weights block by block as the weight-gradient product finishes them, so
the hook must hand over every element of C exactly once, only once its last k-block is
stored, and must not change a bit of the product. `_core._gemm_blocks` runs a product with
a hook that counts the calls covering each element and copies each block of C as it is
when handed over.

The shapes take every driver path: the direct product of tiny shapes, k = 0, the small
products' plain loop (its tiles, in blocks of rows of at most a quarter of L2 of C, B's
panels packed once, read in place or packed narrow; gemm_cols with A column-major or one output column), and the
blocked driver with several k-blocks (k > KC), several row and column chunks of C, ragged
last row and column panels, and each of its three task splits, at 1 and 2 threads. Each kernel set (its own MR x NR tiles) runs in a subprocess."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

# (m, k, n, trans_a)
SHAPES = [
    (4, 8, 8, False),       # direct: m * n * k <= 1024
    (3, 1, 5, False),       # direct, k = 1
    (5, 0, 7, False),       # k = 0: C = 0
    (70, 50, 130, False),   # small_gemm tiles: ragged last row and column panels
    (50, 200, 261, False),  # small_gemm: K * NR large, B's whole panels read in place
    (33, 40, 17, False),    # small_gemm: a narrow last panel packed narrow
    (70, 50, 3, True),      # small_gemm: gemm_cols, A column-major (a weight gradient)
    (70, 50, 1, False),     # small_gemm: gemm_cols, one output column, A copied
    (130, 64, 128, True),   # a weight gradient x^T @ g (A transposed)
    (300, 250, 1000, False),  # small_gemm in blocks of rows (C's in a quarter of L2)
    (45000, 8, 3, True),    # gemm_cols in blocks of rows, A read in place
    (45000, 8, 1, False),   # gemm_cols in blocks of rows, A copied
    (30, 300, 2000, False),  # blocked, 2 k-blocks, wide: tasks pack B's panels
    (2000, 300, 100, False),  # blocked, 2 k-blocks, tall: tasks pack A's panels
    (300, 8192, 300, False),  # blocked, 32 k-blocks, two row and two column chunks
    (784, 300, 256, True),  # an MNIST layer's weight gradient at batch 300
]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore import _core

    SHAPES = %r
    out = {"isa": np.array(nncore.config()["isa"])}
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64"):
        for s, (m, k, n, trans_a) in enumerate(SHAPES):
            a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            plain = _core.matmul(a, b, trans_a=trans_a)
            for threads in (1, 2):
                c, count, snap, calls = _core._gemm_blocks(a, b, trans_a, threads)
                key = f"{dtype}_{s}_{threads}"
                out["count_" + key] = count
                out["calls_" + key] = np.array(calls)
                # the product's bits, and C as the hook saw it, against the product
                out["same_" + key] = np.array(c.tobytes() == plain.tobytes())
                out["final_" + key] = np.array(snap.tobytes() == c.tobytes())
    np.savez(sys.argv[1], **out)
""") % (SHAPES,)

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]


@pytest.mark.parametrize("isa", ISAS)
def test_every_block_is_handed_over_once_and_final(isa, tmp_path):
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    for dtype in ("float32", "float64"):
        for s, (m, k, n, _) in enumerate(SHAPES):
            for threads in (1, 2):
                key = f"{dtype}_{s}_{threads}"
                where = f"{isa} {dtype} (m, k, n) = {(m, k, n)} on {threads} thread(s)"
                count = res["count_" + key]
                assert count.shape == (m, n)
                assert count.min() == 1 and count.max() == 1, (
                    f"{where}: elements handed over {np.unique(count)} times")
                assert res["same_" + key], f"{where}: the hook changed the product"
                assert res["final_" + key], f"{where}: a block was handed over unfinished"
                assert 1 <= int(res["calls_" + key]) <= m * n


def test_blocks_are_few():
    # a small product's hook runs once when it fits L2, a direct one once
    from nncore import _core
    a, b = np.ones((70, 50)), np.ones((50, 130))
    assert _core._gemm_blocks(a, b, False, 1)[3] == 1
    assert _core._gemm_blocks(np.ones((4, 8)), np.ones((8, 8)), False, 1)[3] == 1

