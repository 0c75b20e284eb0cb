"""The class-label rule (csrc/core/labels.h) that the losses apply and nncore.targets asks
for its fit-time messages: the first entry that is not a whole number, or not in
[0, classes), against the same rule written in NumPy."""
import numpy as np
import pytest

from nncore import _core
from nncore import functional as F


def _numpy_rule(y, classes):
    for i, v in enumerate(y):
        if y.dtype.kind == "f" and not (np.isfinite(v) and np.floor(v) == v):
            return i, "not_whole"
        if classes >= 0 and not (0 <= v < classes):
            return i, "out_of_range"
    return -1, ""


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint64, np.float32,
                                   np.float64])
@pytest.mark.parametrize("classes", [-1, 0, 1, 3, 7])
def test_first_bad_label_is_the_numpy_rule(dtype, classes):
    rng = np.random.default_rng(classes + 10)
    for trial in range(40):
        y = rng.integers(0, 8, size=rng.integers(0, 12))
        if np.dtype(dtype).kind == "i":
            y = y - rng.integers(0, 2, size=y.shape)  # some negatives
        y = y.astype(dtype)
        if np.dtype(dtype).kind == "f" and y.size and trial % 3 == 0:
            y[rng.integers(0, y.size)] += dtype(0.5)
        if np.dtype(dtype).kind == "f" and y.size and trial % 7 == 0:
            y[rng.integers(0, y.size)] = np.inf
        assert _core._first_bad_label(y, classes) == _numpy_rule(y, classes), (y, classes)


def test_huge_unsigned_labels_do_not_wrap():
    y = np.array([1, 2**63 + 1], np.uint64)
    assert _core._first_bad_label(y, 3) == (1, "out_of_range")


def test_the_losses_reject_what_the_rule_rejects():
    logits = np.zeros((3, 4))
    for y, classes in [(np.array([0.0, 1.5, 2.0]), 4), (np.array([0, 4, 1]), 4)]:
        bad, why = _core._first_bad_label(y, classes)
        with pytest.raises(ValueError, match=rf"target\[{bad}\]"):
            F.cross_entropy(logits, y)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="_first_bad_label: target must be 1-D"):
        _core._first_bad_label(np.zeros((2, 2)), 3)
