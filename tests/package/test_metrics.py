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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_metrics_on_float32_and_float64_outputs_match_sklearn(dtype, weighted, rng):
    out, y = _data(5, rng, 300)
    out = (out * 4).astype(dtype)
    w = rng.random(len(y)) if weighted else None
    pred = out.argmax(axis=1)
    z = out.astype(np.float64)
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert _batched(M.F1Score(), out, y, w, (100, 1, 199)) == pytest.approx(
        skm.f1_score(y, pred, average="macro", sample_weight=w), rel=1e-12)
    assert _batched(M.Accuracy(), out, y, w, (100, 1, 199)) == pytest.approx(
        skm.accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    assert _batched(M.AUC(), out, y, w, (100, 1, 199)) == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr", sample_weight=w), rel=1e-12)
    # one output column, kept in its dtype: the same order as in float64
    one = out[:, :1]
    yb = (y % 2).astype(np.int64)
    assert _batched(M.AUC(), one, yb, w, (100, 1, 199)) == pytest.approx(
        skm.roc_auc_score(yb, one[:, 0].astype(np.float64), sample_weight=w), rel=1e-12)


def test_auc_of_constant_outputs_is_one_half(rng):
    y = np.arange(40) % 4
    assert M.AUC()(np.zeros((40, 4)), y) == 0.5
    assert M.AUC()(np.zeros((40, 1)), y % 2) == 0.5
    assert M.AUC()(np.ones((40, 2)), y % 2, rng.random(40)) == pytest.approx(0.5, rel=1e-15)


def test_auc_with_a_class_missing_from_the_labels_is_nan_as_sklearn(rng):
    import warnings
    out = rng.standard_normal((60, 4))
    y = rng.integers(0, 3, 60)  # class 3 never a label
    probs = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns and gives NaN
        want = skm.roc_auc_score(y, probs, multi_class="ovr", labels=range(4))
    assert np.isnan(want) and np.isnan(M.AUC()(out, y))
    assert np.isnan(M.AUC()(out[:, :1], np.zeros(60, int)))  # binary, one class only


def test_auc_weights_on_some_updates_only_count_one_elsewhere(rng):
    out = rng.standard_normal((50, 1))
    y = np.arange(50) % 2
    w = rng.random(50)
    metric = M.AUC()
    metric.update(out[:20], y[:20])
    metric.update(out[20:], y[20:], w[20:])
    full = np.r_[np.ones(20), w[20:]]
    assert metric.result() == pytest.approx(skm.roc_auc_score(y, out[:, 0], sample_weight=full),
                                            rel=1e-12)


def test_metric_updates_with_other_class_counts_raise(rng):
    for metric in (M.AUC(), M.F1Score()):
        metric.update(rng.standard_normal((5, 3)), [0, 1, 2, 0, 1])
        with pytest.raises(ValueError, match=r"(AUC|F1Score)\.update: "):
            metric.update(rng.standard_normal((5, 4)), [0, 1, 2, 3, 1])
    with pytest.raises(ValueError, match=r"confusion_matrix: target\[1\] = 7 is out of range"):
        M.F1Score()(np.zeros((3, 3)), [0, 7, 1])
    with pytest.raises(ValueError, match=r"roc_auc: target\[1\] = 7 is out of range"):
        M.AUC()(np.zeros((3, 3)), [0, 7, 1])


@pytest.mark.parametrize("engine", ["native", "python"])
def test_fit_multiclass_auc_and_f1_equal_sklearn_on_both_engines(engine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((150, 5))
    y = rng.integers(0, 3, 150)
    xv, yv = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    model = nc.Sequential([nc.Dense(5, 8, "relu"), nc.Dense(8, 3)], seed=0)
    h = model.fit(x, y, loss="cross_entropy", epochs=2, batch_size=16, verbose=0,
                  validation_data=(xv, yv), metrics=["auc", "f1", "accuracy"], engine=engine)
    assert h.engine == engine
    z = model.predict(xv).astype(np.float64)
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert h.history["val_auc"][-1] == pytest.approx(
        skm.roc_auc_score(yv, probs, multi_class="ovr"), rel=1e-12)
    assert h.history["val_f1"][-1] == pytest.approx(
        skm.f1_score(yv, z.argmax(axis=1), average="macro"), rel=1e-12)
    assert 0 <= h.history["auc"][-1] <= 1 and 0 <= h.history["f1"][-1] <= 1


def test_both_engines_log_the_same_metric_bits():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    y = rng.integers(0, 4, 200)
    logs = {}
    for engine in ("native", "python"):
        model = nc.Sequential([nc.Dense(6, 8, "relu"), nc.Dense(8, 4)], seed=1)
        h = model.fit(x, y, loss="cross_entropy", epochs=2, batch_size=32, verbose=0,
                      metrics=["auc", "f1", "accuracy"], engine=engine)
        logs[engine] = {k: h.history[k] for k in ("auc", "f1", "accuracy", "loss")}
    assert logs["native"] == logs["python"]
