"""The estimator both nncore.sklearn classes share: scikit-learn's MLP contract (parameters,
fitted attributes, stopping rules) on top of nncore's model, optimisers and engine.

How sklearn's objective maps onto nncore's losses. scikit-learn follows the gradient of

    G = (1/W) sum_i w_i sum_o l(i, o) + alpha / (2 W) * sum ||coef||^2      (W = sum of w_i)

per batch, with l = (p - y)^2 / 2 (regression), the binary log loss per output (binary,
multilabel) or the categorical log loss (multiclass, summed over classes). nncore's mean
losses average over samples *and* outputs, so G's data part is ``c`` times nncore's loss,
with c = outputs / 2 (MSE), outputs (BCE) or 1 (cross-entropy). Hence, exactly:

- SGD: nncore lr = c * sklearn lr; weight_decay = alpha / (c * W) on the coefs only;
- Adam (invariant to the gradient's scale but for eps): the same lr, eps / c and the same
  weight_decay.

W is the batch's weight sum: nncore uses the full batch's (batch_size times the mean
sample weight) for every step, sklearn the actual batch's, so the last, smaller batch of an
epoch has a slightly weaker penalty in sklearn. Full-batch training is identical.
"""
from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import functional as F
from ..activations import SKLEARN_NAMES as ACTIVATIONS
from .. import training
from ..dropout import Dropout
from ._lbfgs import fit_lbfgs
from ..layers import Dense
from ..model import Sequential
from ..optim import SGD, Adam

__all__ = ["BaseMLP"]



class BaseMLP(BaseEstimator):
    """Shared by :class:`MLPClassifier` and :class:`MLPRegressor` (see their docs)."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    # ------------------------------------------------------------------ sklearn API

    def _more_tags_sparse(self, tags):
        tags.input_tags.sparse = True  # densified (nncore's kernels are dense)
        return tags

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        hidden = list(hidden) if hasattr(hidden, "__iter__") else [hidden]
        if any(int(h) != h or h <= 0 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        hidden = [int(h) for h in hidden]
        if self.dropout and self.solver == "lbfgs":
            raise ValueError("dropout needs a stochastic solver ('adam' or 'sgd'); got "
                             "solver='lbfgs'")
        first = not (hasattr(self, "coefs_") and (self.warm_start or incremental))
        dtype = np.dtype(self.dtype)
        X, y = self._validate_input(X, y, incremental, reset=first)
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.asarray(X, dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
            if not np.any(sample_weight > 0):
                raise ValueError("sample_weight: at least one sample weight must be "
                                 "positive; all are zero")
        sample_weight = self._class_weights(y, sample_weight)
        target, n_outputs = self._encode_targets(y, dtype)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1], hidden, n_outputs, dtype)
        elif self.coefs_[0].dtype != dtype:
            raise ValueError(f"dtype={self.dtype!r} differs from the fitted model's "
                             f"{self.coefs_[0].dtype.name}; refit with warm_start=False")
        self._sync_model()
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, target, sample_weight)
        else:
            self._fit_stochastic(X, target, sample_weight, incremental)
        weights = self.coefs_ + self.intercepts_
        if not all(np.isfinite(w).all() for w in weights):
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")
        return self

    # ------------------------------------------------------------------ the model

    def _initialize(self, n_features, hidden, n_outputs, dtype):
        """sklearn's initialisation (Glorot uniform, the same draws from random_state)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        units = [n_features] + hidden + [n_outputs]
        self.n_layers_ = len(units)
        self.out_activation_ = self._out_activation()
        act = ACTIVATIONS[self.activation]
        layers = []
        factor = 2.0 if self.activation == "logistic" else 6.0
        for i in range(len(units) - 1):
            fan_in, fan_out = units[i], units[i + 1]
            bound = np.sqrt(factor / (fan_in + fan_out))
            w = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            b = self._random_state.uniform(-bound, bound, fan_out)
            layer = Dense(fan_in, fan_out, activation=act if i < len(units) - 2 else None,
                          dtype=dtype.name, seed=0)
            layer.set_weights(w, b)
            layers.append(layer)
            if self.dropout and i < len(units) - 2:  # after each hidden layer
                layers.append(Dropout(self.dropout,
                                      seed=int(self._random_state.randint(2 ** 31))))
        self._model = Sequential(layers, dtype=dtype.name)
        layers = [layer for layer in layers if isinstance(layer, Dense)]
        self._optimizer = None
        self.coefs_ = [layer.w.data for layer in layers]
        self.intercepts_ = [layer.b.data for layer in layers]
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]
        if self.solver == "lbfgs":  # as sklearn: no curve, no stopping state
            return
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _sync_model(self):
        """coefs_ / intercepts_ are the model's weights; copy them in when a user replaced
        them (assigned new arrays) since the last fit."""
        dense = [layer for layer in self._model.layers if isinstance(layer, Dense)]
        for layer, w, b in zip(dense, self.coefs_, self.intercepts_):
            if w is not layer.w.data:
                layer.set_weights(w, None)
            if b is not layer.b.data:
                layer.set_weights(layer.w.data, b)
        self.coefs_ = [layer.w.data for layer in dense]
        self.intercepts_ = [layer.b.data for layer in dense]

    def _forward(self, X):
        """Network outputs (after the output activation) for validated X."""
        act = ACTIVATIONS[self.activation]
        last = len(self.coefs_) - 1
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            X = F.dense_forward(X, w, b, act if i < last else "identity")
        if self.out_activation_ == "softmax":
            return F.softmax(X)
        if self.out_activation_ == "logistic":
            return F.sigmoid(X)
        return X

    def _forward_pass_fast(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=(np.float64, np.float32))
        if hasattr(X, "toarray"):
            X = X.toarray()
        return self._forward(np.asarray(X, self.coefs_[0].dtype))

    # ------------------------------------------------------------------ training

    def _scale(self):
        """c: sklearn's gradient / nncore's loss gradient (see the module docstring)."""
        if self._loss_name() == "mse":
            return self.n_outputs_ / 2.0
        if self._loss_name() in ("bce_with_logits", "l1", "huber"):
            return float(self.n_outputs_)
        return 1.0

    def _fit_stochastic(self, X, target, sample_weight, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        model = self._model
        if not incremental or self._optimizer is None:
            biases = [layer.b for layer in model.layers if isinstance(layer, Dense)]
            if self.solver == "sgd":
                self._optimizer = SGD(model.parameters(), lr=self.learning_rate_init,
                                      momentum=self.momentum,
                                      nesterov=self.nesterovs_momentum and self.momentum > 0,
                                      no_decay=biases)
            else:
                self._optimizer = Adam(model.parameters(), lr=self.learning_rate_init,
                                       betas=(self.beta_1, self.beta_2), no_decay=biases)
            self._lr = self.learning_rate_init
        opt = self._optimizer
        c = self._scale()
        if self.solver == "adam":
            opt.eps = self.epsilon / c

        x_val = y_val = w_val = None
        if self.early_stopping:
            stratify = target if self._stratify() else None
            parts = [X, target] + ([] if sample_weight is None else [sample_weight])
            parts = train_test_split(*parts, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, x_val, target, y_val = parts[:4]
            if sample_weight is not None:
                sample_weight, w_val = parts[4:]
            if len(x_val) < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            y_val = self._decode_validation(y_val)
        n = len(X)
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n))
        mean_w = 1.0 if sample_weight is None else float(np.mean(sample_weight))
        opt.weight_decay = self.alpha / (c * batch_size * mean_w) if mean_w > 0 else 0.0
        steps = math.ceil(n / batch_size)
        seed = self._random_state.randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        run = training.prepare(model=model, x=X, y=target, loss=self._loss_name(),
                               optimizer=opt, epochs=self.max_iter, batch_size=batch_size,
                               sample_weight=sample_weight)
        model.train()  # Dropout on while training (predict uses coefs_ directly)
        # sklearn's solvers step the learning rate and stopping rules once per epoch
        engine = training.make_engine(model, run, "auto", rng, shuffle=self.shuffle,
                                      one_epoch=True)
        l2_scale = 0.5 * self.alpha * steps / (n * mean_w) if mean_w > 0 else 0.0
        loss_factor = self._loss_factor()
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                # sklearn's batch loss is taken before the update: so is the L2 term here
                sq = sum(float(np.dot(w.ravel(), w.ravel())) for w in self.coefs_) \
                    if self.alpha else 0.0
                opt.lr = self._lr * (c if self.solver == "sgd" else 1.0)
                data_loss = _one_epoch(engine, self.n_iter_)
                self.loss_ = loss_factor * data_loss + l2_scale * sq
                self.n_iter_ += 1
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(x_val, y_val, w_val)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    if self._trigger_stopping():
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and "
                                  "the optimization hasn't converged yet." % self.max_iter,
                                  ConvergenceWarning, stacklevel=3)
        finally:
            engine.close()
        if self.early_stopping:
            for w, b, bw, bb in zip(self.coefs_, self.intercepts_, self._best_coefs,
                                    self._best_intercepts):
                w[...] = bw
                b[...] = bb

    def _fit_lbfgs(self, X, target, sample_weight):
        fit_lbfgs(self, X, target, sample_weight)

    def _trigger_stopping(self):
        """sklearn's SGDOptimizer / AdamOptimizer.trigger_stopping: True to stop."""
        kind = "Validation score" if self.early_stopping else "Training loss"
        msg = (f"{kind} did not improve more than tol={self.tol:f} for "
               f"{self.n_iter_no_change} consecutive epochs.")
        if self.solver == "sgd" and self.learning_rate == "adaptive":
            if self._lr <= 1e-6:
                if self.verbose:
                    print(msg + " Learning rate too small. Stopping.")
                return True
            self._lr /= 5.0
            if self.verbose:
                print(msg + " Setting learning rate to %f" % self._lr)
            return False
        if self.verbose:
            print(msg + " Stopping.")
        return True

    def _update_no_improvement_count(self, x_val, y_val, w_val):
        if self.early_stopping:
            score = self._validation_score(x_val, y_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------------------ export

    def to_onnx(self, path=None, **kwargs):
        """Write the fitted network as an ONNX file (see :func:`nncore.onnx.export`);
        returns the ``onnx.ModelProto``."""
        check_is_fitted(self)
        from ..onnx import export_estimator
        return export_estimator(self, path, **kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_random_state", None)
        return state


class _NoInterrupt:
    """Ctrl-C is not caught inside an estimator's epoch (sklearn's own loop is above)."""
    flag = False


def _one_epoch(engine, epoch):
    """Train one epoch (the native engine may take several calls); its mean loss."""
    records = []
    while not records:
        records, _ = engine.epoch(epoch, epoch + 1, _NoInterrupt())
    engine.take_bar()
    return float(records[0]["loss"])
