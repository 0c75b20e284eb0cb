"""Dropout: native masks bit for bit equal to the NumPy twin's, at any thread count and
under every kernel set."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R


@pytest.mark.parametrize("shape", [(1,), (7, 9), (300, 257)])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_matches_reference_bitwise(shape, p, dtype, threads, rng):
    x = rng.standard_normal(shape).astype(dtype)
    before = x.copy()
    y, mask = F.dropout(x, p, 2 ** 63 + 17)
    y_ref, mask_ref = R.dropout(x, p, 2 ** 63 + 17)
    assert y.dtype == dtype and mask.dtype == dtype
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(x, before)
    g = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(F.dropout_backward(mask, g), R.dropout_backward(mask, g))


def test_statistics_and_scaling(rng):
    x = np.ones(200_000)
    y, mask = F.dropout(x, 0.3, 5)
    kept = mask != 0
    assert abs(kept.mean() - 0.7) < 0.005          # 5 sigma is about 0.0051
    np.testing.assert_array_equal(y[kept], np.full(kept.sum(), 1 / 0.7))
    assert abs(y.mean() - 1.0) < 0.01               # inverted: the mean is kept
    assert not np.array_equal(F.dropout(x, 0.3, 6)[1], mask)   # another seed, another mask


def test_same_bits_for_any_thread_count(rng):
    x = rng.standard_normal((1000, 100)).astype(np.float32)
    got = []
    for n in (1, 2):
        with nncore.threads(n):
            got.append(F.dropout(x, 0.4, 99)[1])
    np.testing.assert_array_equal(got[0], got[1])


def test_in_place_and_out(rng):
    x = rng.standard_normal((5, 6))
    y_ref, m_ref = R.dropout(x, 0.5, 3)
    mask = np.empty_like(x)
    y, m = F.dropout(x, 0.5, 3, out=x, mask=mask)
    assert y is x and m is mask
    np.testing.assert_array_equal(x, y_ref)
    np.testing.assert_array_equal(mask, m_ref)


def test_errors():
    x = np.zeros((2, 3))
    for mod in (F, R):
        with pytest.raises(ValueError, match="dropout: p must be in \\[0, 1\\]"):
            mod.dropout(x, 1.5, 0)
        with pytest.raises(ValueError, match="seed must be in"):
            mod.dropout(x, 0.5, -1)
        with pytest.raises(TypeError, match="seed must be an int"):
            mod.dropout(x, 0.5, 1.5)
        with pytest.raises(ValueError, match="grad_y must have the shape of mask"):
            mod.dropout_backward(x, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="dropout: x"):
        F.dropout(np.zeros(3, complex), 0.5, 0)


def uniform(seed, n):
    """u(seed, i) for i < n, the generator written out in NumPy (uint64 wraps)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * \
            np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def test_threshold_is_exact_at_an_element_value():
    # p equal to an element's u keeps it (u >= p); the next double above drops it
    u = uniform(12345, 1000)
    for j in (0, 7, 500, 999):
        for dtype in (np.float32, np.float64):
            x = np.ones(1000, dtype)
            assert F.dropout(x, u[j], 12345)[1][j] != 0
            assert F.dropout(x, np.nextafter(u[j], 1.0), 12345)[1][j] == 0
            np.testing.assert_array_equal(F.dropout(x, u[j], 12345)[1] != 0, u >= u[j])


ISA_SCRIPT = textwrap.dedent(r"""
    import numpy as np
    import nncore, nncore.functional as F, nncore.reference as R
    rng = np.random.default_rng(11)
    seeds = [0, 1, 2 ** 63 + 17, 2 ** 64 - 1, 0x9E3779B97F4A7C15,
             *map(int, rng.integers(0, 2 ** 63, 6, dtype=np.int64))]
    ps = [0.0, 5e-324, 2.0 ** -53, 0.1, 0.25, 0.5, 0.9, 1 - 2.0 ** -53, 1.0]
    # tails of every vector width, whole vectors, and blocks of 16384 (threads split them)
    sizes = [*range(1, 35), 63, 64, 65, 129, 16383, 16385, 40000]
    bad = []
    for dtype in (np.float32, np.float64):
        for seed in seeds:
            for p in ps:
                for n in sizes:
                    x = rng.standard_normal(n).astype(dtype)
                    y_ref, m_ref = R.dropout(x, p, seed)
                    for t in ((1, 2) if n > 16384 else (1,)):
                        with nncore.threads(t):
                            y, m = F.dropout(x, p, seed)
                        if y.tobytes() != y_ref.tobytes() or m.tobytes() != m_ref.tobytes():
                            bad.append((np.dtype(dtype).name, seed, p, n, t))
                        g = rng.standard_normal(n).astype(dtype)  # the backward's product
                        with nncore.threads(t):
                            gx = F.dropout_backward(m_ref, g)
                        if gx.tobytes() != R.dropout_backward(m_ref, g).tobytes():
                            bad.append(("backward", np.dtype(dtype).name, seed, p, n, t))
    print(nncore.config()["isa"], len(bad), bad[:5])
""")


@pytest.mark.parametrize("isa", nncore.config()["isa_supported"])
def test_every_kernel_set_draws_the_reference_masks_and_backward(isa):
    env = dict(os.environ, NNCORE_ISA=isa)
    proc = subprocess.run([sys.executable, "-c", ISA_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == [isa, "0"], proc.stdout
