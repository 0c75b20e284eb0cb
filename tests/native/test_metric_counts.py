"""The metrics' native counts and areas, F.confusion_matrix and F.roc_auc, against
sklearn.metrics and their NumPy twins in nncore.reference: ties, constant scores, a
missing class, sample weights, float32 and float64, sizes on both sides of the radix
sort's threshold, and the same bits at 1 and 2 threads."""
import contextlib
import warnings

import numpy as np
import pytest

from nncore import functional as F
from nncore import reference as R

skm = pytest.importorskip("sklearn.metrics")

# on both sides of the radix sort's threshold (1024 rows), and a large one
SIZES = [1, 7, 100, 1023, 1024, 5000]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@contextlib.contextmanager
def _quiet():
    """sklearn warns where an area is undefined; its NaN is the expected value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _sk_auc(y, score, w=None):
    with _quiet():
        return skm.roc_auc_score(y, score, sample_weight=w)


def _ovr(y, score, w=None):
    """sklearn's one-vs-rest area of each class."""
    return np.array([_sk_auc((y == c).astype(int), score[:, c], w)
                     for c in range(score.shape[1])])


# --------------------------------------------------------------------------- roc_auc

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_auc_matches_sklearn(n, weighted, dtype, rng):
    score = rng.standard_normal(n).astype(dtype)
    y = (rng.random(n) < 0.3).astype(np.int64)
    y[: min(n, 2)] = [0, 1][: min(n, 2)]
    w = rng.random(n) if weighted else None
    got = F.roc_auc(score, y, w)
    assert isinstance(got, float)
    want = _sk_auc(y, score, w)
    if n == 1:
        assert np.isnan(got) and np.isnan(want)
    else:
        assert got == pytest.approx(want, rel=1e-12)
        assert got == pytest.approx(R.roc_auc(score, y, w), rel=1e-12)


@pytest.mark.parametrize("n", SIZES[2:])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_auc_with_many_ties_matches_sklearn(n, weighted, dtype, rng):
    # few distinct scores: every threshold holds positives and negatives
    score = rng.integers(-3, 4, n).astype(dtype) / 4
    score[::5] = -0.0  # -0 and +0 are one score
    y = (rng.random(n) < 0.5).astype(np.int64)
    y[:2] = [0, 1]
    w = rng.random(n) if weighted else None
    assert F.roc_auc(score, y, w) == pytest.approx(_sk_auc(y, score, w), rel=1e-12)
    assert F.roc_auc(score, y, w) == pytest.approx(R.roc_auc(score, y, w), rel=1e-12)


@pytest.mark.parametrize("n", [100, 3000])
def test_double_scores_that_round_to_one_float_keep_their_order(n, rng):
    """The radix sort keys on the score rounded to float32; rows whose float64 scores round
    to one float32 are ordered (and tied) by their float64 values."""
    base = rng.integers(0, 5, n).astype(np.float64) * 0.1 + 0.3
    score = base + rng.integers(0, 4, n) * 1e-12  # distinct doubles, one float each
    assert len(np.unique(score.astype(np.float32))) <= 5 < len(np.unique(score))
    y = (rng.random(n) < 0.5).astype(np.int64)
    y[:2] = [0, 1]
    w = rng.random(n)
    for weights in (None, w):
        got = F.roc_auc(score, y, weights)
        assert got == pytest.approx(_sk_auc(y, score, weights), rel=1e-12)
        # the float32 view of the same scores ties them: another area
        assert got != pytest.approx(_sk_auc(y, score.astype(np.float32), weights), rel=1e-6)


def test_constant_scores_give_one_half(dtype, rng):
    for n in (10, 2000):
        y = np.arange(n) % 2
        score = np.full(n, 0.3, dtype)
        assert F.roc_auc(score, y) == 0.5 == _sk_auc(y, score)
        w = rng.random(n)
        assert F.roc_auc(score, y, w) == pytest.approx(0.5, rel=1e-15)


def test_perfect_and_reversed_orders():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.where(y == 1, 2.0, -1.0) + np.arange(6) * 1e-3
    assert F.roc_auc(s, y) == 1.0
    assert F.roc_auc(-s, y) == 0.0


def test_one_class_or_no_weight_or_nan_score_gives_nan(rng):
    s = rng.standard_normal(50)
    assert np.isnan(F.roc_auc(s, np.zeros(50, int)))
    assert np.isnan(F.roc_auc(s, np.ones(50, int)))
    assert np.isnan(_sk_auc(np.ones(50, int), s))  # sklearn's value too (with a warning)
    y = np.arange(50) % 2
    w = np.where(y == 1, 0.0, 1.0)  # no positive weight
    assert np.isnan(F.roc_auc(s, y, w))
    assert np.isnan(F.roc_auc(np.zeros(0), np.zeros(0, int)))
    bad = s.copy()
    bad[7] = np.nan
    assert np.isnan(F.roc_auc(bad, y))
    assert np.isnan(F.roc_auc(bad.astype(np.float32), y))
    assert np.isnan(R.roc_auc(bad, y))


def test_infinite_scores_are_ordered(rng):
    s = rng.standard_normal(40)
    s[[3, 9]], s[[4, 5]] = np.inf, -np.inf
    y = np.arange(40) % 2
    finite = np.nan_to_num(s, posinf=1e300, neginf=-1e300)
    assert F.roc_auc(s, y) == pytest.approx(_sk_auc(y, finite), rel=1e-12)
    # float64 scores beyond float32's range become inf keys: their doubles still order them
    big = np.array([1e300, 2e300, 3e300, -1e300, -2e300, 5.0])
    yb = np.array([0, 1, 1, 0, 1, 0])
    assert F.roc_auc(big, yb) == pytest.approx(_sk_auc(yb, big), rel=1e-12)


@pytest.mark.parametrize("n", SIZES[2:])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_vs_rest_matches_sklearn(n, weighted, dtype, rng):
    classes = 6
    z = rng.standard_normal((n, classes)) * 3
    probs = _softmax(z).astype(dtype)
    y = rng.integers(0, classes, n)
    y[:classes] = np.arange(classes)
    w = rng.random(n) if weighted else None
    got = F.roc_auc(probs, y, w)
    assert got.shape == (classes,) and got.dtype == np.float64
    np.testing.assert_allclose(got, _ovr(y, probs, w), rtol=1e-12)
    np.testing.assert_allclose(got, R.roc_auc(probs, y, w), rtol=1e-12)
    # the macro average is sklearn's multi_class="ovr"
    if dtype == np.float64:
        assert got.mean() == pytest.approx(
            skm.roc_auc_score(y, probs, multi_class="ovr", sample_weight=w), rel=1e-12)


def test_one_vs_rest_with_a_missing_class_is_nan_for_it(rng):
    z = rng.standard_normal((300, 4))
    y = rng.integers(0, 3, 300)  # class 3 never a label
    got = F.roc_auc(_softmax(z), y)
    assert np.isnan(got[3]) and np.isfinite(got[:3]).all()
    np.testing.assert_allclose(got[:3], _ovr(y, _softmax(z))[:3], rtol=1e-12)
    with _quiet():
        want = skm.roc_auc_score(y, _softmax(z), multi_class="ovr", labels=range(4))
    assert np.isnan(want) and np.isnan(got.mean())


def test_one_vs_rest_with_ties_and_constant_columns(rng):
    n = 2500
    s = rng.integers(0, 3, (n, 5)).astype(np.float64) / 2
    s[:, 2] = 0.25  # constant column
    y = rng.integers(0, 5, n)
    w = rng.random(n)
    for weights in (None, w):
        got = F.roc_auc(s, y, weights)
        np.testing.assert_allclose(got, _ovr(y, s, weights), rtol=1e-12)
        assert got[2] == pytest.approx(0.5, rel=1e-15)


@pytest.mark.parametrize("shape", [(3000,), (3000, 7), (300, 3)])
def test_same_bits_at_one_and_two_threads(shape, rng):
    import nncore
    s = rng.standard_normal(shape)
    s[::3] = np.round(s[::3], 1)  # ties too
    y = rng.integers(0, 2 if len(shape) == 1 else shape[1], shape[0])
    w = rng.random(shape[0])
    with nncore.threads(1):
        one = np.asarray(F.roc_auc(s, y, w))
    with nncore.threads(2):
        two = np.asarray(F.roc_auc(s, y, w))
    np.testing.assert_array_equal(one, two)


def test_roc_auc_accepts_layouts_and_label_dtypes_and_leaves_inputs(rng):
    s = rng.standard_normal((200, 3))
    y = rng.integers(0, 3, 200)
    w = rng.random(200)
    want = F.roc_auc(s, y, w)
    s0, y0, w0 = s.copy(), y.copy(), w.copy()
    np.testing.assert_array_equal(F.roc_auc(np.asfortranarray(s), y, w), want)
    big = np.zeros((400, 6))
    big[::2, ::2] = s
    np.testing.assert_array_equal(F.roc_auc(big[::2, ::2], y, w), want)
    for labels in (y.astype(np.int32), y.astype(np.uint8), y.astype(np.float64)):
        np.testing.assert_array_equal(F.roc_auc(s, labels, w), want)
    np.testing.assert_array_equal(F.roc_auc(s.tolist(), y.tolist(), w.tolist()), want)
    np.testing.assert_array_equal(s, s0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("mod", [F, R], ids=["native", "reference"])
def test_roc_auc_errors_name_the_argument(mod):
    s = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"roc_auc: score must be 1-D .* got shape \(4, 1\)"):
        mod.roc_auc(np.zeros((4, 1)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"roc_auc: target must be class labels of shape "
                                         r"\(4,\)"):
        mod.roc_auc(s, [0, 1, 2])
    with pytest.raises(ValueError, match=r"roc_auc: target\[1\] = 3 is out of range for "
                                         r"3 classes"):
        mod.roc_auc(s, [0, 3, 1, 2])
    with pytest.raises(ValueError, match=r"roc_auc: target\[2\] = 2 is out of range for 2"):
        mod.roc_auc(np.zeros(4), [0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"roc_auc: target\[0\] = 0.5 is not a whole number"):
        mod.roc_auc(np.zeros(4), [0.5, 1, 0, 1])
    with pytest.raises(ValueError, match=r"roc_auc: sample_weight must have shape \(4,\)"):
        mod.roc_auc(s, [0, 1, 2, 1], np.ones(3))
    with pytest.raises(TypeError, match=r"roc_auc: score must be a real .* complex128"):
        mod.roc_auc(np.zeros(4, complex), [0, 1, 0, 1])
    with pytest.raises(TypeError, match=r"roc_auc: target must be a real .* bool"):
        mod.roc_auc(np.zeros(4), np.array([True, False, True, False]))


# ------------------------------------------------------------------ confusion_matrix

@pytest.mark.parametrize("classes", [2, 3, 10])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_matches_sklearn(classes, weighted, dtype, rng):
    n = 500
    out = rng.standard_normal((n, classes)).astype(dtype)
    out[::7, 0] = out[::7, 1]  # tied maxima: the first one is the prediction
    y = rng.integers(0, classes, n)
    w = rng.random(n) if weighted else None
    want = skm.confusion_matrix(y, out.argmax(axis=1), labels=range(classes), sample_weight=w)
    got = F.confusion_matrix(out, y, w)
    assert got.dtype == np.float64 and got.shape == (classes, classes)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got, R.confusion_matrix(out, y, w), rtol=1e-12)
    # the truth from one-hot target rows is the same
    np.testing.assert_allclose(F.confusion_matrix(out, np.eye(classes)[y], w), want, rtol=1e-12)
    if not weighted:
        np.testing.assert_array_equal(got, want)  # whole counts exactly


def test_confusion_matrix_one_output(rng):
    n = 300
    out = rng.standard_normal((n, 1))
    y = (rng.random(n) < 0.4).astype(np.int64)
    w = rng.random(n)
    for threshold in (0.0, 0.5, -0.25):
        pred = (out[:, 0] > threshold).astype(int)
        want = skm.confusion_matrix(y, pred, labels=[0, 1], sample_weight=w)
        for target in (y, y[:, None], y.astype(np.float64), y[:, None] * 0.9):
            got = F.confusion_matrix(out, target, w, threshold=threshold)
            np.testing.assert_allclose(got, want, rtol=1e-12)
            np.testing.assert_allclose(
                R.confusion_matrix(out, target, w, threshold=threshold), want, rtol=1e-12)


def test_confusion_matrix_takes_nan_as_the_maximum_as_numpy():
    out = np.array([[0.0, np.nan, 1.0], [np.nan, 2.0, np.nan], [3.0, 1.0, 2.0]])
    y = np.array([1, 0, 0])  # predicted (numpy.argmax): 1, 0, 0
    want = np.array([[2.0, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(F.confusion_matrix(out, y), want)
    np.testing.assert_array_equal(R.confusion_matrix(out, y), want)


def test_confusion_matrix_layouts_and_inputs_left(rng):
    out = rng.standard_normal((60, 4))
    y = rng.integers(0, 4, 60)
    want = F.confusion_matrix(out, y)
    o0 = out.copy()
    np.testing.assert_array_equal(F.confusion_matrix(np.asfortranarray(out), y), want)
    np.testing.assert_array_equal(F.confusion_matrix(out[::-1][::-1], y), want)
    np.testing.assert_array_equal(F.confusion_matrix(out.astype(np.float32), y),
                                  F.confusion_matrix(out.astype(np.float32).astype(np.float64),
                                                     y))
    np.testing.assert_array_equal(out, o0)


@pytest.mark.parametrize("mod", [F, R], ids=["native", "reference"])
def test_confusion_matrix_errors_name_the_argument(mod):
    with pytest.raises(ValueError, match=r"confusion_matrix: out must be 2-D"):
        mod.confusion_matrix(np.zeros(4), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"confusion_matrix: target must be labels of shape "
                                         r"\(4,\) or have the shape of out \(4, 3\)"):
        mod.confusion_matrix(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"confusion_matrix: target\[3\] = 5 is out of range"):
        mod.confusion_matrix(np.zeros((4, 3)), [0, 1, 2, 5])
    with pytest.raises(ValueError, match=r"confusion_matrix: target\[1\] = 2 is out of range "
                                         r"for 2 classes"):
        mod.confusion_matrix(np.zeros((4, 1)), [0, 2, 1, 1])
    with pytest.raises(ValueError, match=r"confusion_matrix: sample_weight must have shape"):
        mod.confusion_matrix(np.zeros((4, 3)), [0, 1, 2, 1], np.ones(5))
    with pytest.raises(TypeError, match=r"confusion_matrix: out must be a real"):
        mod.confusion_matrix(np.zeros((4, 3), bool), [0, 1, 2, 1])
