"""MLPClassifier and MLPRegressor: scikit-learn's, trained by nncore."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]

_COMMON_DOC = """
    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As in scikit-learn, with the same defaults; ``solver`` "adam", "sgd" or "lbfgs"
        (scipy's L-BFGS-B on full-batch native passes, as scikit-learn).
    dtype : "float32" (default) or "float64"
        The precision nncore trains and predicts in (scikit-learn's MLP follows X's).
    dropout : float in [0, 1), default 0
        Inverted dropout after every hidden layer while training (``nncore.Dropout``;
        then the python engine trains); predictions use all units.
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: ``sklearn.neural_network.MLPClassifier``'s
    parameters, attributes and methods, trained by nncore's native engine.
    """ + _COMMON_DOC + """
    class_weight : dict {label: weight}, "balanced" or None
        Multiplies ``sample_weight`` (not for multilabel targets).

    Attributes are scikit-learn's: classes_, coefs_ (each of shape (in, out)),
    intercepts_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_,
    n_features_in_, feature_names_in_.
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, dtype="float32", dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.class_weight = class_weight
        self.dtype = dtype
        self.dropout = dropout

    # -------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and targets y (labels or a multilabel indicator
        matrix)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y)

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _multiclass(self):
        return self._label_binarizer.y_type_ == "multiclass"

    def _encode_targets(self, y, dtype):
        if self._multiclass():
            return np.argmax(y, axis=1).astype(np.int64), y.shape[1]
        return np.ascontiguousarray(y, dtype), y.shape[1]

    def _loss_name(self):
        return "cross_entropy" if self.out_activation_ == "softmax" else "bce_with_logits"

    def _loss_factor(self):
        return 1.0 if self.out_activation_ == "softmax" else float(self.n_outputs_)

    def _stratify(self):
        return self.n_outputs_ == 1

    def _class_weights(self, y, sample_weight):
        cw = self.class_weight
        if cw is None:
            return sample_weight
        kind = self._label_binarizer.y_type_
        if kind.startswith("multilabel"):
            raise ValueError("class_weight is not supported for multilabel targets")
        classes = self.classes_
        idx = np.argmax(y, axis=1) if kind == "multiclass" else \
            np.asarray(y[:, 0] if y.ndim == 2 else y, np.int64)
        if len(classes) == 1:
            idx = np.zeros(len(y), np.int64)
        if isinstance(cw, str):  # "balanced": n / (classes * count), over classes present
            counts = np.bincount(idx, minlength=len(classes)).astype(np.float64)
            per = np.where(counts > 0, len(idx) / (np.count_nonzero(counts) *
                                                   np.maximum(counts, 1)), 0.0)
        else:
            unknown = [k for k in cw if k not in set(classes.tolist())]
            if unknown:
                raise ValueError(f"class_weight has labels {unknown} that are not in "
                                 f"classes_ {classes.tolist()}")
            per = np.array([float(cw.get(k, 1.0)) for k in classes.tolist()])
        w = per[idx]
        return w if sample_weight is None else sample_weight * w

    def _decode_validation(self, y_val):
        if self._multiclass():
            return self.classes_[y_val]
        return self._label_binarizer.inverse_transform(y_val)

    def _validation_score(self, x_val, y_val, w_val):
        pred = self._label_binarizer.inverse_transform(self._ravel(self._forward(x_val)))
        return accuracy_score(y_val, pred, sample_weight=w_val)

    # -------------------------------------------------------------- prediction

    def _ravel(self, y_pred):
        return y_pred.ravel() if self.n_outputs_ == 1 else y_pred

    def predict(self, X):
        """Predicted class labels (or the indicator matrix for multilabel targets)."""
        check_is_fitted(self)
        return self._label_binarizer.inverse_transform(self._ravel(self._forward_pass_fast(X)))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in ``classes_`` order."""
        check_is_fitted(self)
        y_pred = self._ravel(self._forward_pass_fast(X))
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return self._more_tags_sparse(tags)


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: ``sklearn.neural_network.MLPRegressor``'s
    parameters, attributes and methods, trained by nncore's native engine.
    """ + _COMMON_DOC + """
    loss : "squared_error", "absolute_error" or "huber"
        "squared_error" as in scikit-learn ("poisson" is not supported); beyond it,
        "absolute_error" (``nncore.L1Loss``) and "huber" (``nncore.HuberLoss``, delta 1),
        averaged over samples and outputs in ``loss_``.
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "absolute_error", "huber"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dtype="float32", dropout=0.0):
        self.loss = loss
        self.dropout = dropout
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _out_activation(self):
        return "identity"

    def _encode_targets(self, y, dtype):
        y = y.reshape(len(y), -1)
        return np.ascontiguousarray(y, dtype), y.shape[1]

    def _loss_name(self):
        return {"squared_error": "mse", "absolute_error": "l1", "huber": "huber"}[self.loss]

    def _loss_factor(self):
        return 0.5 if self.loss == "squared_error" else 1.0

    def _stratify(self):
        return False

    def _class_weights(self, y, sample_weight):
        return sample_weight

    def _decode_validation(self, y_val):
        return y_val

    def _validation_score(self, x_val, y_val, w_val):
        return r2_score(y_val, self._forward(x_val), sample_weight=w_val)

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def __sklearn_tags__(self):
        return self._more_tags_sparse(super().__sklearn_tags__())
