"""Metrics for ``fit(..., metrics=[...])`` and ``evaluate(..., metrics=[...])``.

Each metric is an object that gathers running sums batch by batch, ``update(out, y,
sample_weight=None)``, and gives ``result()``: confusion counts for the classification
metrics, sums of errors and targets for the regression ones, the scores themselves for
the ROC AUC. Results equal ``sklearn.metrics`` on the same predictions.

``out`` is what the model gives the loss: logits for classification (several columns:
the predicted class is the argmax; one column: the positive class where ``out > 0``,
or ``out > 0.5`` with ``from_logits=False``). ``y`` is class labels ``(n,)``, one-hot
or probability rows ``(n, classes)`` (their argmax), or 0/1 targets ``(n, 1)`` for one
output; regression targets have the shape of ``out``.

Names (Keras's): ``"accuracy"``, ``"top_k_accuracy"``, ``"precision"``, ``"recall"``,
``"f1"``, ``"auc"``, ``"mae"``, ``"rmse"``, ``"r2"``.
"""
from __future__ import annotations

import numpy as np

from . import functional as F

__all__ = ["Metric", "Accuracy", "TopKAccuracy", "Precision", "Recall", "F1Score", "AUC",
           "MeanAbsoluteError", "RootMeanSquaredError", "R2Score", "MetricList", "get"]


def _as2d(a):
    a = np.asarray(a)
    return a.reshape(len(a), -1) if a.ndim != 2 else a


def _weights(sample_weight, n):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, np.float64)
    if w.shape != (n,):
        raise ValueError(f"metric update: sample_weight must have shape ({n},); got {w.shape}")
    return w


class Metric:
    """Base class: ``reset()``, ``update(out, y, sample_weight=None)``, ``result()``;
    ``name`` is the key under which ``fit`` logs it (``val_`` + name for validation).
    Calling a metric, ``metric(out, y)``, gives its value on one set of predictions."""

    name = "metric"
    #: Unweighted, its updates are integer counts or kept scores: one update over an
    #: epoch's rows gives the result of one update per batch, exactly (the native engine
    #: then updates it once per epoch).
    counts = False

    def __init__(self, name=None):
        if name is not None:
            self.name = name
        self.reset()

    def reset(self):
        raise NotImplementedError

    def update(self, out, y, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, out, y, sample_weight=None):
        self.reset()
        self.update(out, y, sample_weight)
        value = self.result()
        self.reset()
        return value

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


# ------------------------------------------------------------------ classification

def _true_labels(y, cols):
    """The true classes of targets ``y`` for ``cols`` output columns, as int64 (a copy):
    labels, the argmax of target rows, or ``y > 0.5`` for float targets of one output."""
    y = np.asarray(y)
    if cols == 1:
        y = y.reshape(len(y))
        return (y > 0.5).astype(np.int64) if y.dtype.kind == "f" else y.astype(np.int64)
    return y.astype(np.int64) if y.ndim == 1 else np.argmax(y, axis=1)


def _threshold(from_logits):
    """One output predicts class 1 above this: 0 for a logit, 0.5 for a probability."""
    return 0.0 if from_logits else 0.5


class _Confusion(Metric):
    """Gathers the (weighted) confusion matrix, rows true class, columns predicted
    (:func:`nncore.functional.confusion_matrix`, one native pass per update)."""

    counts = True

    def __init__(self, name=None, average="auto", pos_label=1, from_logits=True):
        if average not in ("auto", "binary", "macro", "micro", "weighted"):
            raise ValueError(f"{type(self).__name__}: average must be 'auto', 'binary', "
                             f"'macro', 'micro' or 'weighted'; got {average!r}")
        self.average, self.pos_label, self.from_logits = average, int(pos_label), from_logits
        super().__init__(name)

    def reset(self):
        self.matrix = None

    def update(self, out, y, sample_weight=None):
        m = F.confusion_matrix(_as2d(out), y, sample_weight,
                               threshold=_threshold(self.from_logits))
        if self.matrix is None:
            self.matrix = m
        elif self.matrix.shape != m.shape:
            raise ValueError(f"{type(self).__name__}.update: {m.shape[0]} classes after "
                             f"{self.matrix.shape[0]}")
        else:
            self.matrix += m

    def _per_class(self):
        """(true positives, predicted count, true count) per class."""
        m = self.matrix
        return np.diag(m), m.sum(axis=0), m.sum(axis=1)

    def _score(self, tp, pred, true):
        raise NotImplementedError

    def result(self):
        if self.matrix is None:
            return float("nan")
        tp, pred, true = self._per_class()
        average = self.average
        if average == "auto":
            average = "binary" if self.matrix.shape[0] == 2 else "macro"
        if average == "binary":
            k = self.pos_label
            return float(self._score(tp[k:k + 1], pred[k:k + 1], true[k:k + 1])[0])
        if average == "micro":
            return float(self._score(tp.sum(keepdims=True), pred.sum(keepdims=True),
                                     true.sum(keepdims=True))[0])
        present = (pred + true) > 0  # sklearn: the labels seen in y_true or y_pred
        scores = self._score(tp[present], pred[present], true[present])
        if average == "weighted":
            support = true[present]
            return float(np.sum(scores * support) / support.sum()) if support.sum() else 0.0
        return float(np.mean(scores)) if len(scores) else 0.0


def _ratio(a, b):
    """a / b, 0 where b == 0 (sklearn's zero_division=0 result)."""
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


class Precision(_Confusion):
    """Precision, ``sklearn.metrics.precision_score``: ``average`` "binary" (the class
    ``pos_label``), "macro", "micro" or "weighted"; "auto" (default) is binary for two
    classes and macro for more."""

    name = "precision"

    def _score(self, tp, pred, true):
        return _ratio(tp, pred)


class Recall(_Confusion):
    """Recall, ``sklearn.metrics.recall_score`` (``average`` as :class:`Precision`)."""

    name = "recall"

    def _score(self, tp, pred, true):
        return _ratio(tp, true)


class F1Score(_Confusion):
    """F1, ``sklearn.metrics.f1_score`` (``average`` as :class:`Precision`)."""

    name = "f1"

    def _score(self, tp, pred, true):
        return _ratio(2 * tp, pred + true)


class Accuracy(Metric):
    """Share of correct predictions (weighted by ``sample_weight``),
    ``sklearn.metrics.accuracy_score``, counted natively
    (:func:`nncore.functional.count_correct`; weighted, the trace of
    :func:`nncore.functional.confusion_matrix`)."""

    counts = True

    name = "accuracy"

    def __init__(self, name=None, from_logits=True):
        self.from_logits = from_logits
        super().__init__(name)

    def reset(self):
        self.correct = self.total = 0.0

    def update(self, out, y, sample_weight=None):
        if sample_weight is None and self.from_logits:
            self.correct += F.count_correct(out, y)
            self.total += len(y)
            return
        m = F.confusion_matrix(_as2d(out), y, sample_weight,
                               threshold=_threshold(self.from_logits))
        self.correct += float(np.trace(m))
        self.total += float(m.sum())

    def result(self):
        return float(self.correct / self.total) if self.total else float("nan")


class TopKAccuracy(Metric):
    """Share of rows whose label is among the ``k`` highest scores,
    ``sklearn.metrics.top_k_accuracy_score`` (``k=5``, as sklearn and Keras)."""

    counts = True

    name = "top_k_accuracy"

    def __init__(self, k=5, name=None):
        if int(k) < 1:
            raise ValueError(f"TopKAccuracy: k must be >= 1; got {k!r}")
        self.k = int(k)
        super().__init__(name)

    def reset(self):
        self.correct = self.total = 0.0

    def update(self, out, y, sample_weight=None):
        out = _as2d(out)
        if out.shape[1] < 2:
            raise ValueError("TopKAccuracy.update: needs one score column per class")
        y = np.asarray(y)
        true = y.astype(np.int64) if y.ndim == 1 else np.argmax(y, axis=1)
        w = _weights(sample_weight, len(true))
        label_score = np.take_along_axis(out, true[:, None], axis=1)
        rank = np.sum(out > label_score, axis=1)  # scores above the label's
        hits = np.bincount((rank < self.k).astype(np.int64), weights=w, minlength=2)
        self.correct += hits[1]
        self.total += hits.sum()

    def result(self):
        return float(self.correct / self.total) if self.total else float("nan")


class AUC(Metric):
    """Area under the ROC curve, ``sklearn.metrics.roc_auc_score`` (ties in the scores
    counted as sklearn does). Binary: ``out`` is one logit (or probability) column, or
    two logit columns (the score is their difference in float64, which orders rows as
    the softmax's positive-class probability does). More classes: one-vs-rest, the macro
    average over classes of each class's AUC on the softmax probabilities in float64
    (``roc_auc_score(y, softmax, multi_class="ovr")``); NaN when a class is missing from
    the labels (sklearn warns and gives NaN too). Keeps every score (a copy); the areas
    are computed natively (:func:`nncore.functional.roc_auc`).
    """

    counts = True

    name = "auc"

    def reset(self):
        self.scores, self.labels, self.weights = [], [], []

    def update(self, out, y, sample_weight=None):
        out = _as2d(out)
        cols = out.shape[1]
        shape = (cols,) if cols > 2 else ()  # of one row's score
        if self.scores and self.scores[0].shape[1:] != shape:
            raise ValueError(f"AUC.update: {cols} outputs after updates with "
                             f"{self.scores[0].shape[1:] or 'one score'} per row")
        true = _true_labels(y, cols)
        w = _weights(sample_weight, len(true))
        if cols > 2:
            score = F.softmax(np.asarray(out, np.float64))  # a new array
        elif cols == 2:
            score = np.subtract(out[:, 1], out[:, 0], dtype=np.float64)
        else:  # a copy, in the output's dtype (float32 orders the rows as float64 would)
            score = np.array(out[:, 0])
        self.scores.append(score)
        self.labels.append(true)
        self.weights.append(None if w is None else np.array(w))

    def result(self):
        if not self.scores:
            return float("nan")
        score, label = _joined(self.scores), _joined(self.labels)
        w = None
        if any(w is not None for w in self.weights):
            w = _joined([np.ones(len(t)) if w is None else w
                         for t, w in zip(self.labels, self.weights)])
        auc = F.roc_auc(score, label, w)
        return auc if score.ndim == 1 else float(np.mean(auc))  # one-vs-rest: macro


def _joined(parts):
    """The arrays kept by each update as one (the only one without a copy)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# ---------------------------------------------------------------------- regression

class _Regression(Metric):
    """Running weighted sums per output column."""

    def reset(self):
        self.weight = 0.0
        self.sums = None

    def _add(self, **columns):
        if self.sums is None:
            self.sums = {k: np.zeros_like(v) for k, v in columns.items()}
        for k, v in columns.items():
            self.sums[k] += v

    def _prepare(self, out, y, sample_weight):
        out, y = _as2d(np.asarray(out, np.float64)), _as2d(np.asarray(y, np.float64))
        if out.shape != y.shape:
            raise ValueError(f"{type(self).__name__}.update: out and y must have the same "
                             f"shape; got {out.shape} and {y.shape}")
        w = _weights(sample_weight, len(out))
        w = np.ones(len(out)) if w is None else w
        self.weight += float(w.sum())
        return out, y, w


class MeanAbsoluteError(_Regression):
    """``sklearn.metrics.mean_absolute_error`` (outputs averaged uniformly)."""

    name = "mae"

    def update(self, out, y, sample_weight=None):
        out, y, w = self._prepare(out, y, sample_weight)
        self._add(abs=w @ F.l1_loss(out, y, reduction="none"))

    def result(self):
        if not self.weight:
            return float("nan")
        return float(np.mean(self.sums["abs"] / self.weight))


class RootMeanSquaredError(_Regression):
    """``sklearn.metrics.root_mean_squared_error``: the square root of each output's mean
    squared error, averaged over the outputs (Keras's for one output)."""

    name = "rmse"

    def update(self, out, y, sample_weight=None):
        out, y, w = self._prepare(out, y, sample_weight)
        self._add(sq=w @ F.mse_loss(out, y, reduction="none"))

    def result(self):
        if not self.weight:
            return float("nan")
        return float(np.mean(np.sqrt(self.sums["sq"] / self.weight)))


class R2Score(_Regression):
    """Coefficient of determination, ``sklearn.metrics.r2_score`` (outputs averaged
    uniformly), from running sums of squared errors, targets and squared targets."""

    name = "r2"

    def update(self, out, y, sample_weight=None):
        out, y, w = self._prepare(out, y, sample_weight)
        self._add(sq=w @ F.mse_loss(out, y, reduction="none"), y=w @ y,
                  yy=np.einsum("i,ij,ij->j", w, y, y))

    def result(self):
        if not self.weight:
            return float("nan")
        s = self.sums
        total = s["yy"] - s["y"] * s["y"] / self.weight
        # sklearn: a constant target scores 1 when predicted exactly, else 0
        r2 = np.where(total > 0, 1 - s["sq"] / np.where(total > 0, total, 1),
                      np.where(s["sq"] == 0, 1.0, 0.0))
        return float(np.mean(r2))


# ---------------------------------------------------------------------- by name

METRICS = {"accuracy": Accuracy, "acc": Accuracy, "top_k_accuracy": TopKAccuracy,
           "precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score,
           "auc": AUC, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
           "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
           "r2": R2Score, "r2_score": R2Score}


def get(metric):
    """A metric from a name (``"accuracy"``, ``"top_k_accuracy"``, ``"precision"``,
    ``"recall"``, ``"f1"``, ``"auc"``, ``"mae"``, ``"rmse"``, ``"r2"``) or an instance (a new
    one each call for a name)."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        cls = METRICS.get(metric.lower())
        if cls is not None:
            return cls()
    raise ValueError(f"metrics: expected a Metric or one of {sorted(METRICS)}; got {metric!r}")


class MetricList:
    """The metrics of one fit or evaluate: updated together, their results as a dict."""

    def __init__(self, metrics):
        self.metrics = [get(m) for m in (metrics or ())]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metrics: two metrics share a name in {names}")

    def __bool__(self):
        return bool(self.metrics)

    def __iter__(self):
        return iter(self.metrics)

    def reset(self):
        for m in self.metrics:
            m.reset()

    def update(self, out, y, sample_weight=None):
        for m in self.metrics:
            m.update(out, y, sample_weight)

    def any_batching(self, weighted):
        """Whether one update over many batches' rows gives exactly the result of one
        update per batch (each metric's :attr:`Metric.counts`, without weights)."""
        return not weighted and all(type(m).counts for m in self.metrics)

    def result(self):
        return {m.name: m.result() for m in self.metrics}
