"""Beyond scikit-learn: the regressor's robust losses and dropout (nncore's L1Loss,
HuberLoss and Dropout)."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _outliers(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 1.5])
    y_train = y.copy()
    y_train[rng.choice(n, n // 10, replace=False)] += 500.0  # 10% gross outliers
    return X, y, y_train


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_robust_losses_ignore_outliers(loss):
    X, y, y_train = _outliers()
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300,
                  random_state=0)
    robust = MLPRegressor(loss=loss, **params).fit(X, y_train)
    squared = MLPRegressor(**params).fit(X, y_train)
    # scored against the clean targets: the outliers pull the squared-error fit away
    assert robust.score(X, y) > 0.8
    assert robust.score(X, y) > squared.score(X, y) + 0.2
    assert robust.loss_ < squared.loss_


def test_dropout_trains_differently_and_reproducibly():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    params = dict(hidden_layer_sizes=(32,), max_iter=20, random_state=3)
    a = MLPClassifier(dropout=0.3, **params).fit(X, y)
    b = MLPClassifier(dropout=0.3, **params).fit(X, y)
    plain = MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], plain.coefs_[0])
    np.testing.assert_array_equal(a.predict_proba(X), a.predict_proba(X))  # no dropout
    assert a.get_params()["dropout"] == 0.3
    assert [c.shape for c in a.coefs_] == [c.shape for c in plain.coefs_]
    # 300 epochs of one full batch each (batch_size "auto" = min(200, n)) learn a linear
    # target despite the dropped units (R^2 0.97 here; 0.99 without dropout).
    reg = MLPRegressor(dropout=0.2, **{**params, "max_iter": 300}).fit(X, X[:, 0])
    assert reg.score(X, X[:, 0]) > 0.9


def test_dropout_needs_a_stochastic_solver():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="dropout"):
        MLPRegressor(solver="lbfgs", dropout=0.1).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="dropout"):
        MLPRegressor(dropout=1.0).fit(X, X[:, 0])
