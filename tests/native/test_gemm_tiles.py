"""The tiles of a column strip in one call (KernelSet::gemm_tiles, simd/gemm_tile.h): every
kernel set's sweep over A's row panels gives the bytes of its gemm_tile called once per
row panel (what small_gemm did before, core/gemm.cpp), with A packed or read in place
(row-major or column-major), over rows around the tile's
(remainders 0 .. MR - 1, one row), every column count up to the panel (narrow edge
tiles), depths from 1, every epilogue (first k-block or a later one added to C, the last
one's bias, activation and pre-activation), B packed or read in place; and both agree with
a float64 NumPy product to the dtype's tolerance. Each kernel set runs in a subprocess
(NNCORE_ISA); the results come back as raw bytes."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore import _core

    out = {}
    rng = np.random.default_rng(5)
    blocks = nncore.config()["gemm_blocks"]
    # (accumulate, last, bias, act, z)
    EPS = [(False, True, True, "relu", False), (False, True, False, "identity", False),
           (False, True, True, "identity", False), (False, True, False, "relu", False),
           (False, True, True, "leaky_relu", True), (False, True, True, "gelu", True),
           (True, True, True, "tanh", False), (True, False, False, "identity", False),
           (False, False, True, "relu", False), (True, True, False, "relu", True)]
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        mr, nr = blocks[d]["MR"], blocks[d]["NR"]
        w = 64 // np.dtype(dtype).itemsize if nncore.config()["isa"] == "avx512" else \
            32 // np.dtype(dtype).itemsize
        if nncore.config()["isa"] == "generic":
            w = nr
        rows = sorted({1, 2, mr - 1, mr, mr + 1, 2 * mr - 1, 2 * mr + 1, 32, 33, 4 * mr + 3})
        cols = sorted({1, 2, 3, w - 1, w, w + 1, 2 * w + 3, nr - 1, nr} - {0})
        cols = [n for n in cols if 1 <= n <= nr]
        for m in rows:
            for n in cols:
                for kc in (1, 2, 7, 20, 64):
                    a = rng.standard_normal((m, kc)).astype(dtype)
                    b = rng.standard_normal((kc, n)).astype(dtype)
                    bias = rng.standard_normal(n).astype(dtype)
                    c0 = rng.standard_normal((m, n)).astype(dtype)
                    places = [False] + ([True] if n == nr or n % w == 0 else [])
                    for e, (acc, last, has_b, act, has_z) in enumerate(EPS):
                        for in_place in places:
                            for sweep in ("0", "1", "r", "c"):
                                c = c0.copy()
                                z = np.full((m, n), 7, dtype) if has_z else None
                                mode = {"r": "rows", "c": "cols"}.get(sweep, "packed")
                                _core._tile_strip(a, b, c, bias if has_b else None, z, act,
                                                  0.1, acc, last, in_place, sweep != "0",
                                                  mode)
                                key = f"{d}/{m}/{n}/{kc}/{e}/{int(in_place)}/{sweep}"
                                out[key + "/c"] = c
                                if has_z:
                                    out[key + "/z"] = z
                        if e == 0:
                            out[f"in/{d}/{m}/{n}/{kc}"] = np.concatenate(
                                [a.ravel(), b.ravel(), bias, c0.ravel()])
    np.savez(sys.argv[1], **out)
""")


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize("sweep", ["1", "r", "c"])
def test_sweep_is_the_per_tile_calls_bit_for_bit(run, sweep):
    """A packed (1), or read in place row-major (r) or column-major (c)."""
    isa, out = run
    keys = [k for k in out if not k.startswith("in/") and k.split("/")[-2] == sweep]
    assert len(keys) > 1000
    for k in keys:
        parts = k.split("/")
        per_tile = "/".join(parts[:-2] + ["0", parts[-1]])
        assert out[k].tobytes() == out[per_tile].tobytes(), (isa, k)


def test_in_place_b_is_the_packed_panel_bit_for_bit(run):
    isa, out = run
    keys = [k.split("/") for k in out if not k.startswith("in/")]
    keys = [p for p in keys if p[5] == "1"]
    assert keys
    for parts in keys:
        packed = "/".join(parts[:5] + ["0"] + parts[6:])
        assert out["/".join(parts)].tobytes() == out[packed].tobytes(), (isa, parts)


def test_sweep_against_numpy(run):
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
        prod = a @ b
        tol = 1e-4 if d == "float32" else 1e-12
        # epilogue 0: first k-block, last, bias, relu
        got = out[f"{d}/{m}/{n}/{kc}/0/0/r/c"]
        np.testing.assert_allclose(got, np.maximum(prod + bias, 0), rtol=tol, atol=tol * kc)
        # epilogue 7: a middle k-block added to C, no epilogue
        got = out[f"{d}/{m}/{n}/{kc}/7/0/c/c"]
        np.testing.assert_allclose(got, c0 + prod, rtol=tol, atol=tol * kc)
        # epilogue 9: the last k-block added to C, relu, its sum kept in z
        got_z = out[f"{d}/{m}/{n}/{kc}/9/0/1/z"]
        np.testing.assert_allclose(got_z, c0 + prod, rtol=tol, atol=tol * kc)
        np.testing.assert_array_equal(out[f"{d}/{m}/{n}/{kc}/9/0/1/c"], np.maximum(got_z, 0))
        checked += 1
    assert checked > 50
