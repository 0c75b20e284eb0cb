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

def _labels(out, y, from_logits):
    """(true labels, predicted labels, classes) as int arrays from logits and targets."""
    out = _as2d(out)
    y = np.asarray(y)
    if out.shape[1] == 1:
        threshold = 0.0 if from_logits else 0.5
        pred = (out[:, 0] > threshold).astype(np.int64)
        true = (y.reshape(len(y)) > 0.5).astype(np.int64) if y.dtype.kind == "f" \
            else y.reshape(len(y)).astype(np.int64)
        return true, pred, 2
    pred = np.argmax(out, axis=1)
    true = y.astype(np.int64) if y.ndim == 1 else np.argmax(y, axis=1)
    return true, pred, out.shape[1]


class _Confusion(Metric):
    """Gathers the (weighted) confusion matrix: rows true class, columns predicted."""

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
        true, pred, classes = _labels(out, y, self.from_logits)
        w = _weights(sample_weight, len(true))
        if self.matrix is None:
            self.matrix = np.zeros((classes, classes))
        elif self.matrix.shape[0] != classes:
            raise ValueError(f"{type(self).__name__}.update: {classes} classes after "
                             f"{self.matrix.shape[0]}")
        if len(true) and (true.min() < 0 or true.max() >= classes):
            raise ValueError(f"{type(self).__name__}.update: labels must be in [0, {classes})")
        self.matrix += np.bincount(true * classes + pred, weights=w,
                                   minlength=classes * classes).reshape(classes, classes)

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
    ``sklearn.metrics.accuracy_score``; unweighted it counts natively
    (:func:`nncore.functional.count_correct`)."""

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
        true, pred, _ = _labels(out, y, self.from_logits)
        w = _weights(sample_weight, len(true))
        hits = np.bincount((true == pred).astype(np.int64), weights=w, minlength=2)
        self.correct += hits[1]
        self.total += hits.sum()

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
    two logit columns (the score is their difference, which orders rows as the
    softmax's positive-class probability does). More classes: one-vs-rest, the macro
    average over classes of each class's AUC on the softmax probabilities
    (``roc_auc_score(y, softmax, multi_class="ovr")``). Keeps every score.
    """

    counts = True

    name = "auc"

    def reset(self):
        self.scores, self.labels, self.weights = [], [], []

    def update(self, out, y, sample_weight=None):
        out = _as2d(out)
        true, _, _ = _labels(out, y, True)
        if out.shape[1] > 2:
            score = F.softmax(np.asarray(out, np.float64))  # a new array
        else:  # a copy: the model may reuse its output buffer on the next step
            score = np.array(out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0],
                             np.float64)
        w = _weights(sample_weight, len(true))
        self.scores.append(score)
        self.labels.append(np.array(true))
        self.weights.append(np.ones(len(true)) if w is None else np.array(w))

    def result(self):
        if not self.scores:
            return float("nan")
        score, label = np.concatenate(self.scores), np.concatenate(self.labels)
        w = np.concatenate(self.weights)
        if score.ndim == 1:
            return _binary_auc(score, label == 1, w)
        # one-vs-rest, a loop over classes (not over samples)
        return float(np.mean([_binary_auc(score[:, c], label == c, w)
                              for c in range(score.shape[1])]))


def _binary_auc(score, positive, w):
    """ROC AUC of ``score`` for the rows where ``positive``, by the trapezoid over the
    ROC curve's points (one per distinct score); nan without both classes."""
    order = np.argsort(-score)  # ties are summed as one threshold: any order among them
    score, positive, w = score[order], positive[order], w[order]
    pos = np.cumsum(w * positive)
    neg = np.cumsum(w * ~positive)
    last = np.r_[np.nonzero(np.diff(score))[0], len(score) - 1]  # one point per threshold
    tps, fps = np.r_[0.0, pos[last]], np.r_[0.0, neg[last]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")  # sklearn raises: one class only
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


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
