"""The NaN-and-infinity check fit and predict make on their data (csrc/core/finite.h,
_core._first_nonfinite): the index of the first non-finite value in C order, against
NumPy's isfinite, over sizes around its blocks (4096 values) and tasks (262144), both
float widths, every kind of non-finite value and 1 and 2 threads (2 from 2M values:
core/cpus.cpp threads_for)."""
import numpy as np
import pytest

from conftest import arrays_under_isa

import nncore as nc
from nncore import _core

BLOCK, TASK = 1 << 12, 1 << 18


def numpy_first(a):
    bad = np.flatnonzero(~np.isfinite(a.ravel()))
    return int(bad[0]) if bad.size else -1


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    before = nc.get_num_threads()
    nc.set_num_threads(request.param)
    yield request.param
    nc.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 5, BLOCK - 1, BLOCK, BLOCK + 3, TASK - 1, TASK + 1,
                               3 * TASK + 77, 9 * TASK + 5])
def test_first_nonfinite_is_numpys(dtype, n, threads):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(dtype)
    jobs = _core._pool_stats()["jobs"]
    assert _core._first_nonfinite(a) == -1
    # the tasks ran on the threads for the largest size at 2 threads, alone otherwise
    assert (_core._pool_stats()["jobs"] > jobs) == (nc.get_num_threads() >= 2 and n > 8 * TASK)
    if n == 0:
        return
    places = sorted({0, n - 1, n // 2, min(n - 1, BLOCK), min(n - 1, TASK - 1),
                     min(n - 1, TASK), min(n - 1, 5 * TASK + 3), int(rng.integers(0, n))})
    for bad in (np.nan, np.inf, -np.inf, -np.nan):
        for where in places:
            b = a.copy()
            b[where] = bad
            assert _core._first_nonfinite(b) == numpy_first(b) == where, (bad, where)
            # a later one is not the answer, whichever task finds it first
            b[n - 1] = np.nan
            assert _core._first_nonfinite(b) == where


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_finite_values_are_finite(dtype, threads):
    info = np.finfo(dtype)
    a = np.array([info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0, 0.0,
                  -info.smallest_subnormal] * 5000, dtype)
    assert _core._first_nonfinite(a) == -1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_payloads_and_signs_are_found(dtype):
    bits = np.uint32 if dtype == np.float32 else np.uint64
    width = np.dtype(dtype).itemsize * 8
    mantissa = np.finfo(dtype).nmant
    exponent = ((1 << (width - 1 - mantissa)) - 1) << mantissa
    for payload in (1, 1 << (mantissa - 1), (1 << mantissa) - 1):
        for sign in (0, 1 << (width - 1)):
            a = np.zeros(BLOCK * 3, dtype)
            a.view(bits)[BLOCK + 7] = bits(sign | exponent | payload)
            assert np.isnan(a[BLOCK + 7])
            assert _core._first_nonfinite(a) == BLOCK + 7


def test_any_shape_in_c_order(threads):
    a = np.zeros((300, 40, 30), np.float32)
    a[123, 7, 29] = np.inf
    a[200, 0, 0] = np.nan
    assert _core._first_nonfinite(a) == np.ravel_multi_index((123, 7, 29), a.shape)


def test_unaligned_data_is_read():
    raw = np.zeros(4 * 10001 + 1, np.uint8)
    a = raw[1:].view(np.float32)  # one byte past an aligned start
    assert not a.flags.aligned and a.flags.c_contiguous
    assert _core._first_nonfinite(a) == -1
    a[9000] = -np.inf
    assert _core._first_nonfinite(a) == 9000


@pytest.mark.parametrize("bad", [np.zeros(10, np.int64), np.zeros(10, np.float16),
                                 np.zeros((10, 4), np.float32)[:, ::2],
                                 np.zeros((10, 4), np.float64).T, [1.0, 2.0]],
                         ids=["int64", "float16", "strided", "F order", "list"])
def test_anything_but_a_c_contiguous_float_array_is_a_type_error(bad):
    with pytest.raises(TypeError):
        _core._first_nonfinite(bad)


def test_the_input_is_not_modified():
    a = np.arange(3 * BLOCK, dtype=np.float64)
    a[5000] = np.nan
    before = a.copy()
    a.flags.writeable = False  # a read-only array is read as it is
    assert _core._first_nonfinite(a) == 5000
    np.testing.assert_array_equal(a, before)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_fit_names_the_first_bad_entry_of_a_large_x_in_any_layout(layout):
    # the native path (C order) and NumPy's (any other layout) name the same entry
    x = np.zeros((4000, 6), np.float32)
    x[2500, 3] = np.inf
    x[3999, 0] = np.nan
    if layout == "F":
        x = np.asfortranarray(x)
    elif layout == "strided":
        wide = np.zeros((4000, 12), np.float32)
        wide[:, ::2] = x
        x = wide[:, ::2]
    with pytest.raises(ValueError, match=r"^fit: x contains NaN or infinity \(first at index "
                                         r"\(2500, 3\): inf\)"):
        nc.Sequential([nc.Dense(6, 1)], seed=0).fit(x, np.zeros(4000, np.float32),
                                                    loss="mse", verbose=0)


_EVERY_PLACE = """
import sys
import numpy as np
from nncore import _core

# each kind of non-finite value at every place of lengths around the vectors (16 floats,
# 8 doubles under avx512) and the four-vector steps, whole blocks and their tails; and
# the largest finite values, subnormals and zeros of both signs, which are finite
found = []
info_rows = []
for dtype in (np.float32, np.float64):
    info = np.finfo(dtype)
    edge = np.array([info.max, -info.max, info.tiny, -info.smallest_subnormal, -0.0],
                    dtype)
    for n in list(range(1, 70)) + [4096 + 1, 4096 + 63, 2 * 4096 + 17]:
        base = np.resize(edge, n).astype(dtype)
        info_rows.append(_core._first_nonfinite(base))
        places = range(n) if n < 70 else list(range(64)) + list(range(n - 80, n))
        for where in places:
            for bad in (np.nan, np.inf, -np.inf):
                a = base.copy()
                a[where] = bad
                found.append((_core._first_nonfinite(a), where))
np.savez(sys.argv[1], found=np.array(found), finite=np.array(info_rows))
"""


@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_every_kernel_set_finds_every_place(isa, tmp_path):
    # the kernel set's any_nonfinite (generic: the exponent bits; SIMD: x - x over
    # whole vectors and a masked tail) gives the same index, from a fresh interpreter
    # under each set
    out = arrays_under_isa(_EVERY_PLACE, isa, tmp_path)
    found = out["found"]
    assert len(found) > 10_000
    np.testing.assert_array_equal(found[:, 0], found[:, 1])
    assert (out["finite"] == -1).all()
