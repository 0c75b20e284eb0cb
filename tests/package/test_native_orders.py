"""The native engine's epoch orders (``_core._permutations``): each row is what
``rng.permutation(n)`` returns, and the generator is left as after that many calls, for
every numpy bit generator, from any point of its stream (a 32-bit half buffered or not)."""
import numpy as np
import pytest

from nncore import _core

BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox,
                  np.random.SFC64]


def same_state(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 13, 100, 4097])
@pytest.mark.parametrize("count", [0, 1, 3, 25])
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_orders_are_permutation_calls(bit_generator, n, count, offset):
    native, python = (np.random.Generator(bit_generator(7)) for _ in range(2))
    for rng in (native, python):  # a point of the stream with a 32-bit half buffered or not
        rng.integers(0, 5, size=offset, dtype=np.int32)
        rng.random(offset)
    got = _core._permutations(native.bit_generator, n, count)
    want = np.array([python.permutation(n) for _ in range(count)], np.int64).reshape(count, n)
    assert got.dtype == np.int64 and got.shape == (count, n)
    np.testing.assert_array_equal(got, want)
    assert same_state(native.bit_generator.state, python.bit_generator.state)


def test_bad_arguments_are_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="_permutations: n and count must be >= 0"):
        _core._permutations(rng.bit_generator, -1, 2)
    with pytest.raises(AttributeError):
        _core._permutations(object(), 3, 2)


def test_orders_checked_against_numpy_once(monkeypatch):
    # The native draw follows NumPy's shuffle: a NumPy whose draws differ must not make
    # the native engine's orders differ from the python engine's. The check fails on a
    # drawer that differs, and the orders then come from NumPy itself.
    from nncore.training import engines

    engines._native_orders_ok.cache_clear()
    try:
        assert engines._native_orders_ok()
        engines._native_orders_ok.cache_clear()
        monkeypatch.setattr(engines._core, "_permutations",
                            lambda bg, n, count: np.tile(np.arange(n), (count, 1)))
        assert not engines._native_orders_ok()
        native, python = np.random.default_rng(3), np.random.default_rng(3)
        got = engines._draw_orders(native, 9, 4)
        want = np.array([python.permutation(9) for _ in range(4)])
        np.testing.assert_array_equal(got, want)
        assert same_state(native.bit_generator.state, python.bit_generator.state)
    finally:
        engines._native_orders_ok.cache_clear()


@pytest.mark.parametrize("seed", [0, 1, 9, 2 ** 40 + 3, 2 ** 130 + 5])
def test_seeded_generator_is_default_rng(seed):
    # fit's generator: the memoised seed words give default_rng(seed)'s draws and states,
    # the first time and every time after (the words are not consumed or changed)
    from nncore.training.engines import seeded_generator
    for _ in range(3):
        mine, numpys = seeded_generator(seed), np.random.default_rng(seed)
        assert same_state(mine.bit_generator.state, numpys.bit_generator.state)
        np.testing.assert_array_equal(mine.permutation(50), numpys.permutation(50))
        np.testing.assert_array_equal(mine.random(7), numpys.random(7))
        assert same_state(mine.bit_generator.state, numpys.bit_generator.state)
    # other seeds (None, a sequence, a generator) are default_rng's own
    assert seeded_generator([1, 2]).random() == np.random.default_rng([1, 2]).random()
    g = np.random.default_rng(3)
    assert seeded_generator(g) is g


def test_fit_shuffles_as_default_rng_does():
    # the same seed gives fit the same epoch orders as numpy's default_rng(seed): two fits
    # with seed=5 and the python engine, which draws rng.permutation itself, agree
    import nncore as nc
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 1))
    weights = []
    for engine in ("native", "native", "python"):
        m = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 1)], seed=0, dtype="float64")
        m.fit(x, y, loss="mse", epochs=3, batch_size=7, seed=5, verbose=0, engine=engine)
        weights.append(m.get_weights())
    for w in weights[1:]:
        for a, b in zip(weights[0], w):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("keep_stream", [True, False])
def test_orders_drawn_ahead_are_given_back_when_the_stream_goes_on(keep_stream):
    # a call that stops before the epochs it drew orders for (a time limit of 0 s) leaves
    # the generator, after close(), as that many permutation calls would (keep_stream, as
    # partial_fit's); fit's own generator (keep_stream=False) is not read back
    import nncore as nc
    from nncore.training import make_engine, prepare
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 1))
    model = nc.Sequential([nc.Dense(3, 4, "tanh"), nc.Dense(4, 1)], seed=0, dtype="float64")
    run = prepare(model=model, x=x, y=y, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=50,
                  batch_size=8)
    mine = np.random.default_rng(7)
    engine = make_engine(model, run, "native", mine, keep_stream=keep_stream)
    res = engine.call(50, 0.0, 0.1)
    used = res["orders_used"]
    assert 1 <= used < 50
    engine.close()
    numpys = np.random.default_rng(7)
    for _ in range(used):
        numpys.permutation(40)
    assert same_state(mine.bit_generator.state, numpys.bit_generator.state) == keep_stream


class _SubPCG64(np.random.PCG64):
    """A PCG64 subclass: not numpy's PCG64 itself, so drawn through the bit generator's
    own functions (the path of the other generators) rather than the inlined PCG64."""


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, _SubPCG64],
                         ids=lambda c: c.__name__)
def test_pcg64_long_streams_and_the_lock(bit_generator):
    # PCG64 (default_rng's) is drawn with its generator inlined, its values made 512 at a
    # time: streams over many such blocks and sizes across powers of two, from a point
    # with a 32-bit half kept, give numpy's rows and state; the generator's lock is free
    # after the call
    native, python = (np.random.Generator(bit_generator(11)) for _ in range(2))
    for n, count in [(1025, 7), (2, 300), (65536, 2), (3, 1)]:
        for rng in (native, python):
            rng.integers(0, 5, size=1, dtype=np.int32)
        got = _core._permutations(native.bit_generator, n, count)
        want = np.array([python.permutation(n) for _ in range(count)])
        np.testing.assert_array_equal(got, want)
        assert same_state(native.bit_generator.state, python.bit_generator.state)
        assert _free_elsewhere(native.bit_generator.lock)


def _free_elsewhere(lock):
    """Whether another thread can take ``lock`` (numpy's is reentrant: this one always
    could)."""
    import threading
    took = []

    def take():
        took.append(lock.acquire(blocking=False))
        if took[0]:
            lock.release()
    t = threading.Thread(target=take)
    t.start()
    t.join()
    return took[0]
