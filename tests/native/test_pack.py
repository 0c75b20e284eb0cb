"""The GEMM packing kernels (KernelSet::pack_a / pack_b, simd/pack.h and pack_impl.h) of
every kernel set against the panel layout built in NumPy, and the products that read a
small row-major B in place (core/gemm.cpp) against the same products with B packed.

Panels: A(i, p) = src[i * rs + p * cs] -> panel[p, i] for i < m, zero for m <= i < MR;
B(p, j) = src[p * rs + j * cs] -> panel[p, j] for j < n, zero for n <= j < NR; row-major,
column-major (a transposed operand) and strided sources, every m / n up to the tile and
depths around the vector widths (kc = 20: a 20-input layer). Each kernel set runs in a
subprocess (NNCORE_ISA); the results come back as raw bytes."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa
from nncore import _core

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]
DEPTHS = [1, 3, 4, 7, 8, 9, 16, 17, 20, 33, 64]
WIDTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 20, 23, 24, 31, 32, 33, 40, 48, 63, 64]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore import _core

    DEPTHS, WIDTHS = %r, %r
    out = {}
    rng = np.random.default_rng(3)
    blocks = nncore.config()["gemm_blocks"]
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        src = rng.standard_normal(200 * 70).astype(dtype)
        out["src/" + d] = src
        for which, tile in (("a", blocks[d]["MR"]), ("b", blocks[d]["NR"])):
            for mn in [w for w in WIDTHS if w <= tile] + [tile]:
                for kc in DEPTHS:
                    # (rs, cs) of A: row-major, column-major, strided; of B the same
                    # (B's rows are its k, A's rows its m)
                    lead = 70
                    layouts = {"a": [(lead, 1), (1, lead), (2 * lead + 1, 3)],
                               "b": [(lead, 1), (1, lead), (3, 2 * lead + 1)]}[which]
                    for rs, cs in layouts:
                        key = f"{which}/{d}/{mn}/{kc}/{rs}/{cs}"
                        out[key] = _core._pack_panel(src, which, rs, cs, mn, kc)
    out["isa"] = np.array(nncore.config()["isa"])
    np.savez(sys.argv[1], **out)
""") % (DEPTHS, WIDTHS)


def expected(src, which, mn, kc, rs, cs, tile):
    """The panel in NumPy: kc rows of `tile` values, padding zero."""
    panel = np.zeros((kc, tile), src.dtype)
    p = np.arange(kc)[:, None]
    j = np.arange(mn)[None, :]
    idx = j * rs + p * cs if which == "a" else p * rs + j * cs
    panel[:, :mn] = src[idx]
    return panel


@pytest.mark.parametrize("isa", ISAS)
def test_packed_panels_are_the_numpy_layout(isa, tmp_path):
    got = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(got.pop("isa")) == isa
    blocks = {}
    checked = 0
    for key, panel in got.items():
        if key.startswith("src/"):
            continue
        which, d, mn, kc, rs, cs = key.split("/")
        src = got["src/" + d]
        tile = panel.shape[1]
        blocks.setdefault((which, d), tile)
        want = expected(src, which, int(mn), int(kc), int(rs), int(cs), tile)
        assert panel.dtype == src.dtype and panel.shape == want.shape, key
        # bytes: the padding is +0.0, never -0.0 or a stale value
        assert panel.tobytes() == want.tobytes(), key
        checked += 1
    assert checked > 500
    # the tiles of the set: MR / NR as config() reports them
    for (which, d), tile in blocks.items():
        cfg = nncore.config()["gemm_blocks"] if isa == nncore.config()["isa"] else None
        if cfg:
            assert tile == cfg[d]["MR" if which == "a" else "NR"]


def test_pack_panel_refuses_strides_past_the_source():
    src = np.zeros(100, np.float32)
    with pytest.raises(ValueError, match="_pack_panel: the strides reach element 120"):
        _core._pack_panel(src, "b", 20, 1, 1, 7)
    with pytest.raises(ValueError, match="_pack_panel: which must be 'a' or 'b'"):
        _core._pack_panel(src, "c", 1, 1, 1, 1)


# Random shapes of small networks' products (up to 300 rows, 130 wide): B row-major (read
# in place when it fits half of L1 and at most 64 row panels read it, or 1.5 x L1 and 16,
# whole panels and a last panel of whole vectors; also by the blocked driver over
# several k-blocks) against B column-major and B strided (always packed), and
# B^T given as the transposed operand: one FMA chain per element in k order in every
# case, so the same bits.
PRODUCTS = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore, nncore.functional as F

    out = {}
    rng = np.random.default_rng(21)
    shapes = [(int(rng.integers(1, 301)), int(rng.integers(1, 131)), int(rng.integers(1, 131)))
              for _ in range(%d)]
    shapes += [(32, 20, 64), (32, 64, 64), (64, 64, 64), (256, 64, 64), (257, 64, 64),
               (384, 64, 64), (385, 64, 64), (96, 64, 40), (32, 64, 16), (32, 64, 8),
               (48, 96, 64), (64, 128, 48), (300, 130, 130), (64, 128, 128),
               (97, 128, 128), (64, 300, 48), (40, 600, 24)]  # the last two: 2-3 k-blocks
    with nncore.threads(1):
        for i, (m, k, n) in enumerate(shapes):
            dtype = np.float32 if i %% 2 == 0 else np.float64
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            key = f"{m}x{k}x{n}/{np.dtype(dtype).name}"
            out["row/" + key] = F.matmul(a, b)
            out["col/" + key] = F.matmul(a, np.asfortranarray(b))
            wide = np.zeros((k, 2 * n), dtype)
            wide[:, ::2] = b
            out["strided/" + key] = F.matmul(a, wide[:, ::2])
            out["trans/" + key] = F.matmul(a, np.ascontiguousarray(b.T), trans_b=True)
            if i %% 7 == 0:
                out["a/" + key], out["b/" + key] = a, b
    out["isa"] = np.array(nncore.config()["isa"])
    np.savez(sys.argv[1], **out)
""") % 400


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    return {isa: arrays_under_isa(PRODUCTS, isa, tmp_path_factory.mktemp(isa)) for isa in ISAS}


@pytest.mark.parametrize("isa", ISAS)
def test_b_in_place_and_packed_give_the_same_bits(products, isa):
    got = products[isa]
    keys = [k.split("/", 1)[1] for k in got if k.startswith("row/")]
    assert len(keys) == 417
    for key in keys:
        row = got["row/" + key].tobytes()
        for layout in ("col", "strided", "trans"):
            assert got[f"{layout}/{key}"].tobytes() == row, (layout, key)
    for key in [k.split("/", 1)[1] for k in got if k.startswith("a/")]:
        a, b = got["a/" + key], got["b/" + key]
        want = a.astype(np.float64) @ b.astype(np.float64)
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        err = np.abs(got["row/" + key] - want).max() / max(np.abs(want).max(), 1e-300)
        assert err < tol, key


def test_generic_products_are_the_plain_loop(products):
    """Under the generic set each element is 0 + a(i, 0) b(0, j) + ... in k order, every
    product and sum rounded: NumPy's loop over k gives the same bits."""
    got = products["generic"]
    for key in [k.split("/", 1)[1] for k in got if k.startswith("a/")]:
        a, b = got["a/" + key], got["b/" + key]
        acc = np.zeros((a.shape[0], b.shape[1]), a.dtype)
        for p in range(a.shape[1]):
            acc = acc + a[:, p:p + 1] * b[p:p + 1, :]
        assert got["row/" + key].tobytes() == acc.tobytes(), key


def test_simd_sets_agree_bitwise(products):
    """avx2 and avx512 run one FMA chain per element in k order: the same bits."""
    if not {"avx2", "avx512"} <= set(products):
        pytest.skip("needs both SIMD sets")
    for key in [k for k in products["avx2"] if k.startswith("row/")]:
        assert products["avx2"][key].tobytes() == products["avx512"][key].tobytes(), key
