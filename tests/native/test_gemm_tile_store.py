"""The register tile's stores (simd/gemm_tile.h): a full tile's k-block before the last one
(C = acc, or C = C + acc) and a last k-block added to C with bias and relu or identity
take a store without the general epilogue's tests per vector (store_simple with Acc);
the general loop still stores tiles with a pre-activation (z), part tiles and narrow
ones. Both must give the same bytes: each case runs once without z (the fast store where
it applies) and once with z (the general loop), under every kernel set, for every
accumulate / last / bias / activation combination, full and part tiles, depths from 1 to
256; and both agree with a float64 NumPy product to the dtype's tolerance."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

SCRIPT = textwrap.dedent(r"""
    import itertools
    import sys
    import numpy as np
    import nncore
    from nncore import _core

    out = {}
    rng = np.random.default_rng(21)
    blocks = nncore.config()["gemm_blocks"]
    isa = nncore.config()["isa"]
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        mr, nr = blocks[d]["MR"], blocks[d]["NR"]
        w = nr if isa == "generic" else (64 if isa == "avx512" else 32) // np.dtype(dtype).itemsize
        rows = sorted({mr, 2 * mr, 2 * mr + 1, 4 * mr + 3})
        cols = sorted({w, 2 * w, nr - 1, nr} & set(range(1, nr + 1)))
        for m, n, kc in itertools.product(rows, cols, (1, 7, 64, 256)):
            a = rng.standard_normal((m, kc)).astype(dtype)
            b = rng.standard_normal((kc, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            out[f"in/{d}/{m}/{n}/{kc}"] = np.concatenate([a.ravel(), b.ravel(), bias, c0.ravel()])
            for acc, last, has_b, act in itertools.product(
                    (False, True), (False, True), (False, True), ("identity", "relu")):
                for has_z in (False, True):
                    for sweep in (False, True):
                        c = c0.copy()
                        z = np.full((m, n), 7, dtype) if has_z else None
                        _core._tile_strip(a, b, c, bias if has_b else None, z, act, 0.0, acc,
                                          last, False, sweep, "packed")
                        out[f"{d}/{m}/{n}/{kc}/{int(acc)}{int(last)}{int(has_b)}{act}/"
                            f"{int(has_z)}{int(sweep)}"] = c
    np.savez(sys.argv[1], **out)
""")


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def test_fast_store_is_the_general_loop_bit_for_bit(run):
    isa, out = run
    keys = [k for k in out if not k.startswith("in/") and k.endswith("/00")]
    assert len(keys) > 500
    for k in keys:
        base = k[:-2]
        for other in ("01", "10", "11"):
            assert out[k].tobytes() == out[base + other].tobytes(), (isa, k, other)


def test_stores_against_numpy(run):
    isa, out = run
    checked = 0
    for k in out:
        if not k.startswith("in/"):
            continue
        _, d, m, n, kc = k.split("/")
        m, n, kc = int(m), int(n), int(kc)
        flat = out[k].astype(np.float64)
        a = flat[:m * kc].reshape(m, kc)
        b = flat[m * kc:m * kc + kc * n].reshape(kc, n)
        bias = flat[m * kc + kc * n:m * kc + kc * n + n]
        c0 = flat[m * kc + kc * n + n:].reshape(m, n)
        tol = 1e-5 if d == "float32" else 1e-12
        for acc in (0, 1):
            for last in (0, 1):
                for has_b in (0, 1):
                    for act in ("identity", "relu"):
                        want = a @ b + (c0 if acc else 0)
                        if last:
                            want = want + (bias if has_b else 0)
                            if act == "relu":
                                want = np.maximum(want, 0)
                        got = out[f"{d}/{m}/{n}/{kc}/{acc}{last}{has_b}{act}/00"]
                        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * (kc + 2),
                                                   err_msg=f"{isa} {k} {acc}{last}{has_b}{act}")
                        checked += 1
    assert checked > 500
