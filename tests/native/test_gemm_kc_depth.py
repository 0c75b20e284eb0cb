"""The k-block depth of the blocked GEMM driver (core/gemm.cpp): K is cut into equal
k-blocks of at most KC (256) when B (K x N) may be read in place (it fits in half of L2, or
in L2 with at most 96 rows of A), and of at most KC_PACKED otherwise (B is then packed; one
block over K up to 1024 writes C once): 1024 on avx2 and avx512, 256 on the generic set. The depth depends on the shapes, the
dtype and the caches only: not on the thread count, B's layout or the kernel set's tiles.

Pinned three ways, under every kernel set, 1 and 2 threads, float32 and float64, K from
300 to 1025: (1) under the generic set each element is 0 + a(i, p) b(p, j) + ... in k order
within a k-block and the blocks' sums added to C in order, which NumPy's loop gives bit for
bit once it cuts K at the rule's depth; (2) the product equals, byte for byte, the same
product with one depth forced by NNCORE_GEMM_BLOCKS (1024 for a B larger than L2, 256
otherwise), and differs from the other depth; (3) float64 NumPy to the dtype's tolerance.
avx2 and avx512 give the same bits (one FMA chain per element in the same k-blocks)."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]
DEPTHS = [300, 600, 1000, 1024, 1025]
ROWS = [16, 96, 97]

SCRIPT = textwrap.dedent(r"""
    import os, sys
    FORCED = %r
    if FORCED:
        os.environ["NNCORE_GEMM_BLOCKS"] = f"64,{FORCED},1024"
    import numpy as np
    import nncore, nncore.functional as F

    DEPTHS, ROWS = %r, %r
    l2 = nncore.config()["caches"]["L2"] or 262144
    out = {"l2": np.array(l2), "isa": np.array(nncore.config()["isa"])}
    for d, b in nncore.config()["gemm_blocks"].items():
        out["kc_packed/" + d] = np.array(b["KC_PACKED"])
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        elem = np.dtype(dtype).itemsize
        for k in DEPTHS:
            # B just larger than L2 (deep k-blocks), 3/4 of L2 (deep from 97 rows), and a
            # narrow B (shallow)
            for size, n in (("big", (l2 // (k * elem) // 8 + 1) * 8),
                            ("mid", (3 * l2 // 4) // (k * elem)), ("small", 48)):
                for m in ROWS:
                    a = rng.standard_normal((m, k)).astype(dtype)
                    b = rng.standard_normal((k, n)).astype(dtype)
                    key = f"{d}/{size}/{m}/{k}/{n}"
                    out["a/" + key], out["b/" + key] = a, b
                    for t in (1, 2):
                        with nncore.threads(t):
                            out[f"c{t}/" + key] = F.matmul(a, b)
    np.savez(sys.argv[1], **out)
""")


def kblock_depth(m, k, n, itemsize, l2, kc_packed):
    """The rule: equal k-blocks of at most 256 when B fits in half of L2, or in L2 for at
    most 96 rows of A; of at most kc_packed otherwise."""
    b_bytes = k * n * itemsize
    kc_max = 256 if b_bytes <= l2 // 2 or (b_bytes <= l2 and m <= 96) else kc_packed
    blocks = -(-k // kc_max)
    return -(-k // blocks)


def blocked_loop(a, b, kc):
    """C = sum over k-blocks in order of (0 + a(:, p) b(p, :) + ... in k order)."""
    c = None
    for p0 in range(0, a.shape[1], kc):
        acc = np.zeros((a.shape[0], b.shape[1]), a.dtype)
        for p in range(p0, min(p0 + kc, a.shape[1])):
            acc = acc + a[:, p:p + 1] * b[p:p + 1, :]
        c = acc if c is None else c + acc
    return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    got = {}
    for isa in ISAS:
        for forced in (0, 256, 1024):
            got[isa, forced] = arrays_under_isa(SCRIPT % (forced, DEPTHS, ROWS), isa,
                                                tmp_path_factory.mktemp(f"{isa}{forced}"))
    return got


def keys(got):
    return [k.split("/", 1)[1] for k in got if k.startswith("a/")]


@pytest.mark.parametrize("isa", ISAS)
def test_depth_by_the_size_of_b(runs, isa):
    got = runs[isa, 0]
    assert str(got["isa"]) == isa
    l2 = int(got["l2"])
    checked = {"big": 0, "mid": 0, "small": 0}
    for key in keys(got):
        d, size, m, k, n = key.split("/")
        m, k, n = int(m), int(k), int(n)
        a, b = got["a/" + key], got["b/" + key]
        b_bytes = k * n * a.itemsize
        assert {"big": l2 < b_bytes, "mid": l2 // 2 < b_bytes <= l2,
                "small": b_bytes <= l2 // 2}[size], key
        kc_packed = int(got["kc_packed/" + d])
        assert kc_packed == (256 if isa == "generic" else 1024)
        kc = kblock_depth(m, k, n, a.itemsize, l2, kc_packed)
        deep = (size == "big" or (size == "mid" and m > 96)) and kc_packed == 1024
        assert kc == (k if k <= 1024 else 513) if deep else kc <= 256
        c1 = got["c1/" + key]
        # any thread count: the same bits
        assert got["c2/" + key].tobytes() == c1.tobytes(), key
        # the depth forced by NNCORE_GEMM_BLOCKS: the same bits at the rule's depth only
        same = runs[isa, 1024 if deep else 256]
        other = runs[isa, 256 if deep else 1024]
        assert same["c1/" + key].tobytes() == c1.tobytes(), key
        assert same["c2/" + key].tobytes() == c1.tobytes(), key
        assert other["c1/" + key].tobytes() != c1.tobytes(), key
        # float64 NumPy
        want = a.astype(np.float64) @ b.astype(np.float64)
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        assert np.abs(c1 - want).max() / np.abs(want).max() < tol, key
        checked[size] += 1
    assert checked["big"] == checked["mid"] == checked["small"] == 2 * len(DEPTHS) * len(ROWS)


def test_generic_is_numpys_loop_in_the_rules_k_blocks(runs):
    got = runs["generic", 0]
    l2 = int(got["l2"])
    for key in keys(got):
        a, b = got["a/" + key], got["b/" + key]
        kc = kblock_depth(a.shape[0], a.shape[1], b.shape[1], a.itemsize, l2,
                          int(got["kc_packed/" + a.dtype.name]))
        want = blocked_loop(a, b, kc)
        assert got["c1/" + key].tobytes() == want.tobytes(), key
        assert got["c2/" + key].tobytes() == want.tobytes(), key


def test_simd_sets_sum_in_the_same_k_blocks(runs):
    if not {"avx2", "avx512"} <= set(ISAS):
        pytest.skip("needs both SIMD sets")
    for key in keys(runs["avx512", 0]):
        for t in (1, 2):
            assert (runs["avx2", 0][f"c{t}/" + key].tobytes() ==
                    runs["avx512", 0][f"c{t}/" + key].tobytes()), key
