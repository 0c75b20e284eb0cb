"""The register tile's k loop (simd/gemm_tile.h): on a packed B panel, C's rows are fetched
from inside the loop (row i at k = i, the rows left after it when the depth is shorter
than the tile); with a B read in place on avx512 (its rows prefetched), before it. That
may change no value: every depth around the loop's unroll of 8 and the tile's rows (1 to
19, 64), every row count of a part tile and of a strip, A packed, row-major or
column-major in place, B packed or read in place with a row stride that is not the
panel's (the prefetching tile on avx512), under every kernel set. Float32 results equal,
byte for byte, the tile's sum emulated in NumPy: from +0 in p order, acc = fma(a[i, p],
b[p, j], acc) on avx2 / avx512 (the product exact in float64, the sum rounded to float64
then to float32: a double rounding that could differ from fma's one rounding in about one
sum in 2^29, as a one-ulp difference; these inputs do not hit it), acc = acc + a * b with
two roundings on generic (built with -ffp-contract=off); and all the layouts give the
same bytes. Float64 results agree with a float64 NumPy product to its tolerance."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]
DEPTHS = (1, 2, 3, 5, 6, 7, 8, 9, 15, 16, 17, 19, 64)

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore import _core

    depths = %r
    out = {}
    rng = np.random.default_rng(64)
    blocks = nncore.config()["gemm_blocks"]
    isa = nncore.config()["isa"]
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        mr, nr = blocks[d]["MR"], blocks[d]["NR"]
        w = nr if isa == "generic" else (64 if isa == "avx512" else 32) // np.dtype(dtype).itemsize
        # n: a whole panel, and a part panel of whole vectors read in place with row
        # stride n != nr (the prefetching tile on avx512)
        cols = sorted({nr, max(w, nr - w)})
        for m in sorted({1, mr - 1, mr, 2 * mr + 1}):
            for n in cols:
                for kc in depths:
                    a = rng.standard_normal((m, kc)).astype(dtype)
                    b = rng.standard_normal((kc, n)).astype(dtype)
                    out[f"in/{d}/{m}/{n}/{kc}"] = np.concatenate([a.ravel(), b.ravel()])
                    for in_place in (False, True):
                        for mode in ("packed", "rows", "cols"):
                            for sweep in ((False, True) if mode == "packed" else (True,)):
                                c = np.full((m, n), 5, dtype)
                                _core._tile_strip(a, b, c, None, None, "identity", 0.0, False,
                                                  True, in_place, sweep, mode)
                                out[f"{d}/{m}/{n}/{kc}/{int(in_place)}{mode}{int(sweep)}"] = c
    np.savez(sys.argv[1], **out)
""" % (DEPTHS,))


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def _inputs(out, key):
    _, d, m, n, kc = key.split("/")
    m, n, kc = int(m), int(n), int(kc)
    flat = out[key]
    return d, m, n, kc, flat[:m * kc].reshape(m, kc), flat[m * kc:].reshape(kc, n)


def _tile_sum_f32(a, b, fused):
    """The tile's float32 sum from +0 in p order: acc = fma(a[:, p], b[p, :], acc) when
    fused, else acc + a[:, p] * b[p, :] with the product rounded first."""
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for p in range(a.shape[1]):
        exact = np.multiply.outer(a[:, p].astype(np.float64), b[p].astype(np.float64))
        if fused:
            acc = (exact + acc.astype(np.float64)).astype(np.float32)
        else:
            acc = acc + exact.astype(np.float32)
    return acc


def test_every_layout_and_depth_is_the_fma_chain(run):
    isa, out = run
    checked = 0
    for key in out:
        if not key.startswith("in/"):
            continue
        d, m, n, kc, a, b = _inputs(out, key)
        if d == "float32":
            want = _tile_sum_f32(a, b, fused=isa != "generic")
        else:
            want = a.astype(np.float64) @ b.astype(np.float64)
        for k in out:
            if k.startswith(f"{d}/{m}/{n}/{kc}/"):
                got = out[k]
                if d == "float32":
                    assert got.tobytes() == want.tobytes(), (isa, k)
                else:
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * kc,
                                               err_msg=f"{isa} {k}")
                checked += 1
    # 2 dtypes x 4 row counts x 2 column counts x 13 depths x 8 variants (fewer columns
    # where nr - w == w)
    assert checked >= 2 * 4 * len(DEPTHS) * 8


def test_layouts_agree_byte_for_byte(run):
    isa, out = run
    for key in out:
        if not key.startswith("in/"):
            continue
        d, m, n, kc, _, _ = _inputs(out, key)
        base = out[f"{d}/{m}/{n}/{kc}/0packed0"].tobytes()
        for k in out:
            if k.startswith(f"{d}/{m}/{n}/{kc}/"):
                assert out[k].tobytes() == base, (isa, k)
