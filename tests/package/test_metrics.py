"""nncore.metrics against sklearn.metrics on the same predictions, updated batch by batch
(the result must not depend on how the rows were split), with and without weights."""
import numpy as np
import pytest

import nncore as nc
from nncore import metrics as M

skm = pytest.importorskip("sklearn.metrics")


def _batched(metric, out, y, w=None, sizes=(7, 30, 1, 62)):
    metric.reset()
    start = 0
    for s in sizes:
        sl = slice(start, start + s)
        metric.update(out[sl], y[sl], None if w is None else w[sl])
        start += s
    assert start == len(out)
    return metric.result()


def _data(classes, rng, n=100):
    out = rng.standard_normal((n, classes))
    y = rng.integers(0, classes, n)
    y[:classes] = np.arange(classes)
    return out, y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("classes", [2, 4])
def test_classification_metrics_match_sklearn(classes, weighted, rng):
    out, y = _data(classes, rng)
    w = rng.random(len(y)) if weighted else None
    pred = out.argmax(axis=1)
    avg = "binary" if classes == 2 else "macro"
    cases = [(M.Accuracy(), skm.accuracy_score(y, pred, sample_weight=w)),
             (M.Precision(), skm.precision_score(y, pred, average=avg, sample_weight=w)),
             (M.Recall(), skm.recall_score(y, pred, average=avg, sample_weight=w)),
             (M.F1Score(), skm.f1_score(y, pred, average=avg, sample_weight=w))]
    for average in ("micro", "weighted", "macro"):
        cases += [(M.F1Score(average=average),
                   skm.f1_score(y, pred, average=average, sample_weight=w)),
                  (M.Precision(average=average),
                   skm.precision_score(y, pred, average=average, sample_weight=w,
                                       zero_division=0))]
    for metric, expected in cases:
        assert _batched(metric, out, y, w) == pytest.approx(expected, rel=1e-12), metric
        # one-hot targets give the same
        assert _batched(metric, out, np.eye(classes)[y], w) == pytest.approx(expected,
                                                                             rel=1e-12)


def test_macro_skips_classes_never_seen_as_sklearn(rng):
    out, _ = _data(5, rng, 40)
    out[:, 4] = -10  # class 4 never predicted, and never a label
    y = rng.integers(0, 4, 40)
    pred = out.argmax(axis=1)
    assert M.F1Score()(out, y) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert M.Recall()(out, y) == pytest.approx(skm.recall_score(y, pred, average="macro"))


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_one_logit_and_auc_match_sklearn(weighted, rng):
    out = rng.standard_normal((100, 1))
    y = (rng.random(100) < 0.4).astype(np.float64)[:, None]
    out[::10] = 0.25  # ties in the scores
    w = rng.random(100) if weighted else None
    pred = (out[:, 0] > 0).astype(int)
    assert _batched(M.F1Score(), out, y, w) == pytest.approx(
        skm.f1_score(y[:, 0], pred, sample_weight=w), rel=1e-12)
    assert _batched(M.Accuracy(), out, y, w) == pytest.approx(
        skm.accuracy_score(y[:, 0], pred, sample_weight=w), rel=1e-12)
    assert _batched(M.AUC(), out, y, w) == pytest.approx(
        skm.roc_auc_score(y[:, 0], out[:, 0], sample_weight=w), rel=1e-12)
    # two logit columns: the softmax's positive probability orders the rows the same
    two = np.hstack([np.zeros_like(out), out])
    labels = y[:, 0].astype(int)
    assert _batched(M.AUC(), two, labels, w) == pytest.approx(
        skm.roc_auc_score(labels, out[:, 0], sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_sklearn(k, rng):
    out, y = _data(6, rng)
    w = rng.random(len(y))
    assert _batched(M.TopKAccuracy(k=k), out, y, w) == pytest.approx(
        skm.top_k_accuracy_score(y, out, k=k, sample_weight=w, labels=np.arange(6)),
        rel=1e-12)


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_sklearn(outputs, weighted, rng):
    y = rng.standard_normal((100, outputs)) * 3 + 1
    out = y + rng.standard_normal((100, outputs))
    w = rng.random(100) if weighted else None
    for metric, fn in [(M.MeanAbsoluteError(), skm.mean_absolute_error),
                       (M.RootMeanSquaredError(), skm.root_mean_squared_error),
                       (M.R2Score(), skm.r2_score)]:
        assert _batched(metric, out, y, w) == pytest.approx(fn(y, out, sample_weight=w),
                                                            rel=1e-10), metric


def test_names_options_and_errors():
    assert [type(M.get(n)).__name__ for n in ("accuracy", "f1", "auc", "r2")] == \
        ["Accuracy", "F1Score", "AUC", "R2Score"]
    assert M.get("top_k_accuracy").k == 5
    assert M.F1Score(average="micro", name="f1_micro").name == "f1_micro"
    with pytest.raises(ValueError, match="metrics: expected a Metric"):
        M.get("bleu")
    with pytest.raises(ValueError, match="average must be"):
        M.Precision(average="samples")
    with pytest.raises(ValueError, match="two metrics share a name"):
        M.MetricList(["f1", M.F1Score()])
    with pytest.raises(ValueError, match="AUC.update: binary ROC AUC"):
        M.AUC()(np.zeros((3, 3)), np.zeros(3, int))
    with pytest.raises(ValueError, match="same shape"):
        M.R2Score()(np.zeros((3, 2)), np.zeros((3, 1)))


def test_update_does_not_modify_inputs(rng):
    out, y = _data(3, rng, 20)
    o, t = out.copy(), y.copy()
    for name in M.METRICS:
        if name != "auc":
            M.get(name).update(out, y) if name not in ("mae", "rmse", "r2", "mean_absolute_error",
                                                       "root_mean_squared_error",
                                                       "r2_score") else None
    np.testing.assert_array_equal(out, o)
    np.testing.assert_array_equal(y, t)
