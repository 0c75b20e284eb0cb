"""Parameters' values and gradients start on a 64-byte boundary (a cache line), so that the
native kernels' vector loads and stores of them do not straddle two lines; the arrays are
otherwise ordinary (C-contiguous, writeable, their own values)."""
import numpy as np
import pytest

import nncore as nc
from nncore._layer_base import ALIGN, Parameter, aligned_copy, aligned_empty


def starts_aligned(a):
    return a.size == 0 or a.ctypes.data % ALIGN == 0  # an empty array holds nothing


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (5, 7), (0, 4), (2, 3, 5)])
def test_aligned_arrays(dtype, shape):
    for _ in range(20):  # NumPy's own placements vary; every one must be aligned
        a = aligned_empty(shape, dtype)
        assert a.shape == shape and a.dtype == np.dtype(dtype)
        assert a.flags.c_contiguous and a.flags.writeable and starts_aligned(a)
        values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) + 0.5
        b = aligned_copy(values, dtype)
        assert starts_aligned(b) and b.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(b, values.astype(dtype))
        assert not np.shares_memory(b, values)


def test_dense_parameters_start_aligned():
    # made, built from the data's width, re-initialised in another dtype: values and
    # gradients all aligned, whatever NumPy's allocator gives
    for seed in range(10):
        m = nc.Sequential([nc.Dense(20, 64, "relu"), nc.Dense(64, 3), nc.Dense(None, 1)],
                          seed=seed)
        m.build((None, 20))
        for layer in m.layers:
            for p in layer.parameters():
                assert starts_aligned(p.data) and starts_aligned(p.grad), (seed, p.name)
        layer = m.layers[0]
        layer.reset_parameters(np.random.default_rng(seed), dtype="float64")
        assert layer.w.dtype == np.float64
        assert starts_aligned(layer.w.data) and starts_aligned(layer.w.grad)
        assert starts_aligned(layer.b.data) and starts_aligned(layer.b.grad)


def test_parameter_keeps_the_array_it_is_given():
    # Parameter(data) holds `data` itself (as before); its gradient is a new aligned array
    data = np.ones((4, 3), np.float32)
    p = Parameter(data)
    assert p.data is data
    assert starts_aligned(p.grad) and p.grad.shape == data.shape and not p.grad.any()


@pytest.mark.parametrize("make", [lambda ps: nc.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: nc.Adam(ps, lr=0.1, amsgrad=True),
                                  lambda ps: nc.RMSprop(ps, lr=0.1, momentum=0.5,
                                                        centered=True)],
                         ids=["sgd", "adam", "rmsprop"])
def test_optimizer_states_start_aligned(make):
    m = nc.Sequential([nc.Dense(5, 7, "tanh"), nc.Dense(7, 1)], seed=0)
    opt = make(m.parameters())
    opt.step()  # with zero gradients: the states exist from here on at the latest
    arrays = [v for st in opt.state for v in st.values() if isinstance(v, np.ndarray)]
    assert arrays, "the optimizer keeps state arrays"
    assert all(starts_aligned(a) for a in arrays)
