"""The blocked GEMM driver (several k-blocks, or two threads) reads A in place when C has
one column panel (core/gemm.cpp's a_direct: row-major, column-major, or rows further
apart than its width) and gives the bytes of the same A packed (a view with a column step
of 2 is always packed: the same values in the same panels), on one thread and two under
every schedule, under every kernel set, also with a bias, an activation and the
pre-activation kept (dense_forward); and agrees with a float64 NumPy product."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

ISAS = [s for s in ("generic", "avx2", "avx512") if s in nncore.config()["isa_supported"]]

# (m, k, n): several k-blocks (k > 256), row tails, whole and partial column panels of
# every kernel set (NR 24 or 64 floats, 32 doubles), wider outputs (packed A) for contrast
SHAPES = [(256, 1024, 10), (61, 784, 64), (64, 784, 24), (13, 600, 40), (64, 513, 17),
          (200, 300, 32), (7, 1030, 1), (96, 1030, 5), (64, 784, 130)]
LAYOUTS = ("rows", "cols", "view")

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore
    from nncore import _core
    from nncore.functional import matmul, dense_forward

    SHAPES, LAYOUTS = %r, %r
    out = {}
    rng = np.random.default_rng(12)

    def layout(a, how):
        m, k = a.shape
        if how == "rows":
            return a.copy()
        if how == "cols":  # column-major A
            return np.asfortranarray(a)
        if how == "view":  # rows further apart than the width
            p = np.zeros((m, k + 37), a.dtype)
            p[:, 5:5 + k] = a
            return p[:, 5:5 + k]
        p = np.zeros((m, 2 * k), a.dtype)  # "packed": a column step of 2
        p[:, ::2] = a
        return p[:, ::2]

    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for m, k, n in SHAPES:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype)
            key = f"{d}/{m}/{k}/{n}"
            out["a/" + key] = a
            out["b/" + key] = b
            for how in ("packed",) + LAYOUTS:
                av = layout(a, how)
                assert np.array_equal(av, a)
                for t, sched in ((1, "normal"), (2, "normal"), (2, "shuffle"),
                                 (2, "slow_worker")):
                    _core._set_debug_schedule(sched)
                    try:
                        with nncore.threads(t):
                            out[f"mm/{how}/{t}{sched}/{key}"] = matmul(av, b)
                            z = np.empty((m, n), dtype)
                            y = dense_forward(av, b, bias, "gelu", z_out=z)
                            out[f"y/{how}/{t}{sched}/{key}"] = y
                            out[f"z/{how}/{t}{sched}/{key}"] = z
                    finally:
                        _core._set_debug_schedule("normal")
    np.savez(sys.argv[1], **out)
""") % (SHAPES, LAYOUTS)


@pytest.fixture(scope="module", params=ISAS)
def run(request, tmp_path_factory):
    return request.param, arrays_under_isa(SCRIPT, request.param,
                                           tmp_path_factory.mktemp(request.param))


def test_a_in_place_is_the_packed_a_bit_for_bit_at_any_thread_count(run):
    isa, out = run
    checked = 0
    for k in out:
        if k.split("/")[0] not in ("mm", "y", "z"):
            continue
        kind, _, _, key = k.split("/", 3)
        want = out[f"{kind}/packed/1normal/{key}"]
        assert out[k].tobytes() == want.tobytes(), (isa, k)
        checked += 1
    assert checked == 2 * len(SHAPES) * (1 + len(LAYOUTS)) * 4 * 3


def test_a_in_place_against_numpy(run):
    isa, out = run
    for k in [k for k in out if k.startswith("a/")]:
        key = k[2:]
        a = out[k].astype(np.float64)
        b = out["b/" + key].astype(np.float64)
        tol = 2e-5 if key.startswith("float32") else 1e-12
        for how in LAYOUTS:
            got = out[f"mm/{how}/1normal/{key}"]
            np.testing.assert_allclose(got, a @ b, rtol=tol, atol=tol * np.sqrt(a.shape[1]),
                                       err_msg=(isa, how, key))
