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


def test_fit_logs_metrics_and_validation_values_equal_sklearn(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    xv = rng.standard_normal((40, 4))
    yv = (xv[:, 0] + 0.5 * xv[:, 1] > 0).astype(np.int64)
    model = nc.Sequential([nc.Dense(4, 8, "relu"), nc.Dense(8, 2)], seed=0)
    h = model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=3,
                  batch_size=32, validation_data=(xv, yv), verbose=2,
                  metrics=["f1", "auc", M.TopKAccuracy(k=1, name="top1")])
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "val_f1:" in printed and "auc:" in printed and "top1:" in printed
    for key in ("f1", "auc", "top1", "val_f1", "val_auc", "val_top1", "learning_rate"):
        assert len(h.history[key]) == 3, key
    logits = model.predict(xv).astype(np.float64)
    assert h.history["val_f1"][-1] == pytest.approx(skm.f1_score(yv, logits.argmax(1)))
    assert h.history["val_auc"][-1] == pytest.approx(
        skm.roc_auc_score(yv, logits[:, 1] - logits[:, 0]))
    assert h.history["val_top1"][-1] == h.history["val_accuracy"][-1]
    ev = model.evaluate(xv, yv, metrics=["precision", "recall"])
    assert ev["precision"] == pytest.approx(skm.precision_score(yv, logits.argmax(1)))
    assert ev["recall"] == pytest.approx(skm.recall_score(yv, logits.argmax(1)))
    assert h.plot(tmp_path / "h.png") and (tmp_path / "h.png").stat().st_size > 0


def test_regression_fit_logs_mae_rmse_r2():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = nc.Sequential([nc.Dense(3, 1)], seed=0, dtype="float64")
    h = model.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.1), epochs=4, verbose=0,
                  validation_split=0.2, seed=0, metrics=["mae", "rmse", "r2"])
    assert h.history["r2"][-1] > h.history["r2"][0]
    assert h.history["rmse"][-1] ** 2 == pytest.approx(h.history["loss"][-1], rel=0.5)
    pred = model.predict(x)
    ev = model.evaluate(x, y, metrics=["mae", "rmse", "r2"])
    assert ev["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-10)
    assert ev["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-10)
    assert ev["rmse"] ** 2 == pytest.approx(ev["loss"], rel=1e-10)


def test_auc_keeps_its_own_copy_of_the_scores(rng):
    """The model reuses its output buffer: a kept view would change under the metric."""
    out = rng.standard_normal((30, 1))
    y = (rng.random(30) < 0.5).astype(np.int64)
    w = rng.random(30)
    metric = M.AUC()
    metric.update(out, y, w)
    expected = skm.roc_auc_score(y, out[:, 0], sample_weight=w)
    out[:] = 0.0
    w[:] = 1.0
    y[:] = 0
    assert metric.result() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_auc_is_sklearn_one_vs_rest_macro(weighted, rng):
    out, y = _data(5, rng)
    w = rng.random(len(y)) if weighted else None
    probs = np.exp(out - out.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert _batched(M.AUC(), out, y, w) == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr", sample_weight=w), rel=1e-12)
