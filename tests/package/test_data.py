import numpy as np
import pytest

import nncore as nc


def test_batches():
    x = np.arange(10).reshape(10, 1)
    y = np.arange(10)
    got = list(nc.batches(x, y, batch_size=4))
    assert [len(b[0]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    shuffled = np.concatenate([b[1] for b in nc.batches(x, y, 3, shuffle=True, seed=1)])
    assert sorted(shuffled) == list(range(10)) and list(shuffled) != list(range(10))
    again = np.concatenate([b[1] for b in nc.batches(x, y, 3, shuffle=True, seed=1)])
    np.testing.assert_array_equal(shuffled, again)
    for xb, yb in nc.batches(x, y, 3, shuffle=True, seed=2):
        np.testing.assert_array_equal(xb[:, 0], yb)        # pairs stay together
    assert len(list(nc.batches(x, y, batch_size=None))) == 1
    assert [len(b) for b in nc.batches(x, batch_size=4, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        list(nc.batches(x, y, batch_size=0))
    with pytest.raises(ValueError, match="same length"):
        list(nc.batches(x, y[:3]))


def test_one_hot():
    np.testing.assert_array_equal(nc.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert nc.one_hot([1, 3]).shape == (2, 4) and nc.one_hot([1]).dtype == np.float32
    with pytest.raises(ValueError, match="labels"):
        nc.one_hot([3], 3)
    with pytest.raises(ValueError, match="labels"):
        nc.one_hot([0.5, 1.0])


def test_train_test_split():
    labels = np.array([0] * 40 + [1] * 20)
    x = np.arange(60).reshape(60, 1)
    xtr, xte, ytr, yte = nc.train_test_split(x, labels, 0.25, seed=0, stratify=True)
    assert (np.sum(yte == 0), np.sum(yte == 1)) == (10, 5) and len(xtr) == 45
    assert sorted(np.concatenate([xtr[:, 0], xte[:, 0]])) == list(range(60))
    np.testing.assert_array_equal(labels[xte[:, 0]], yte)
    again = nc.train_test_split(x, labels, 0.25, seed=0, stratify=True)[1]
    np.testing.assert_array_equal(xte, again)
    other = nc.train_test_split(x, labels, 0.25, seed=1)[1]
    assert len(other) == 15 and not np.array_equal(other, xte)
    with pytest.raises(ValueError, match="test_size"):
        nc.train_test_split(x, labels, 1.5)
    with pytest.raises(ValueError, match="same length"):
        nc.train_test_split(x, labels[:5])


def test_datasets():
    xs, ys = nc.spirals(n=50, classes=4, seed=0)
    assert xs.shape == (200, 2) and xs.dtype == np.float32
    assert np.bincount(ys).tolist() == [50] * 4 and np.abs(xs).max() <= 1.5
    np.testing.assert_array_equal(xs, nc.spirals(n=50, classes=4, seed=0)[0])
    assert not np.array_equal(xs, nc.spirals(n=50, classes=4, seed=1)[0])
    xx, yy = nc.xor()
    assert xx.shape == (4, 2) and yy[:, 0].tolist() == [0, 1, 1, 0]
    assert (xx[:, 0] != xx[:, 1]).astype(int).tolist() == yy[:, 0].tolist()
