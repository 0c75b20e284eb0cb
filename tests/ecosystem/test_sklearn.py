"""nncore.sklearn against scikit-learn's own MLP: the same arithmetic where it is
deterministic (full batches, no shuffling), the same attributes and stopping rules, and
the same accuracy on sklearn's bundled datasets."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import neural_network as skl  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits,  # noqa: E402
                              load_iris, load_wine, make_multilabel_classification)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import (GridSearchCV, cross_val_score,  # noqa: E402
                                     train_test_split)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import nncore as nc  # noqa: E402
from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if kind == "regression":
        return X, X @ rng.normal(size=5) + 0.1 * rng.normal(size=n)
    if kind == "multioutput":
        return X, X @ rng.normal(size=(5, 3))
    if kind == "binary":
        return X, (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "multiclass":
        return X, np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])
    if kind == "strings":
        return X, np.array(["cat", "dog", "emu"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    X, Y = make_multilabel_classification(n_samples=n, n_features=5, n_classes=3,
                                          random_state=seed)
    return X / 5, Y


FULL_BATCH = dict(batch_size=60, shuffle=False, random_state=3, alpha=0.01, tol=0.0,
                  n_iter_no_change=1000)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings", "multilabel",
                                  "regression", "multioutput"])
@pytest.mark.parametrize("solver,extra", [
    ("sgd", dict(momentum=0.0, learning_rate_init=0.1)),
    ("sgd", dict(momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.05)),
    ("sgd", dict(momentum=0.0, learning_rate="invscaling", learning_rate_init=0.2)),
    ("adam", dict(learning_rate_init=0.01)),
])
def test_full_batch_training_matches_sklearn(kind, solver, extra):
    """With one batch per epoch and no shuffling both libraries follow the same path:
    the same initial draws, alpha on the coefs only, sklearn's loss scaling."""
    X, y = _data(kind)
    params = dict(hidden_layer_sizes=(7, 4), activation="tanh", solver=solver, max_iter=15,
                  **FULL_BATCH, **extra)
    regression = kind in ("regression", "multioutput")
    ours = (MLPRegressor if regression else MLPClassifier)(dtype="float64", **params)
    ref = (skl.MLPRegressor if regression else skl.MLPClassifier)(**params)
    ours.fit(X, y)
    ref.fit(X, y)
    # SGD: the same arithmetic. Adam: sklearn adds eps to sqrt(v) before the bias
    # correction, torch (and nncore) after it: a difference of order eps / sqrt(v).
    rtol, atol = (1e-6, 1e-9) if solver == "sgd" else (1e-3, 5e-5)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=rtol)
    assert ours.n_iter_ == ref.n_iter_ and ours.t_ == ref.t_
    if not regression:
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=rtol,
                                   atol=atol)
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings", "multilabel",
                                  "regression", "multioutput"])
def test_fitted_attributes_match_sklearn(kind):
    X, y = _data(kind)
    regression = kind in ("regression", "multioutput")
    params = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    ours = (MLPRegressor if regression else MLPClassifier)(**params).fit(X, y)
    ref = (skl.MLPRegressor if regression else skl.MLPClassifier)(**params).fit(X, y)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "n_features_in_", "n_iter_",
                 "t_", "best_validation_score_", "validation_scores_"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in ref.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in ref.intercepts_]
    assert len(ours.loss_curve_) == len(ref.loss_curve_)
    assert ours.best_loss_ == min(ours.loss_curve_)
    assert ours.coefs_[0].dtype == np.float32  # nncore's default precision
    pred, ref_pred = ours.predict(X), ref.predict(X)
    assert pred.shape == ref_pred.shape and pred.dtype.kind == ref_pred.dtype.kind
    if not regression:
        np.testing.assert_array_equal(ours.classes_, ref.classes_)
        assert ours.predict_proba(X).shape == ref.predict_proba(X).shape
        np.testing.assert_allclose(np.exp(ours.predict_log_proba(X)), ours.predict_proba(X),
                                   rtol=1e-5)


def test_feature_names_in():
    pd = pytest.importorskip("pandas")  # sklearn takes feature names from data frames only
    X, y = _data("binary")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    clf = MLPClassifier(max_iter=3, random_state=0).fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)


def test_early_stopping_as_sklearn():
    X, y = load_iris(return_X_y=True)
    params = dict(early_stopping=True, max_iter=300, random_state=0, n_iter_no_change=5,
                  hidden_layer_sizes=(10,))
    ours = MLPClassifier(**params).fit(X, y)
    ref = skl.MLPClassifier(**params).fit(X, y)
    assert ours.best_loss_ is None and ref.best_loss_ is None
    assert len(ours.validation_scores_) == ours.n_iter_
    assert ours.best_validation_score_ == max(ours.validation_scores_)
    # the restored weights are the best epoch's: their validation score is the best
    assert ours.n_iter_ < 300
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_tol_stops_like_sklearn():
    """The training-loss rule (n_iter_no_change epochs without tol improvement)."""
    X, y = _data("multiclass")
    params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, tol=1e-3,
                  n_iter_no_change=3, max_iter=500, **{k: v for k, v in FULL_BATCH.items()
                                                        if k not in ("tol", "n_iter_no_change")})
    ours = MLPClassifier(dtype="float64", **params).fit(X, y)
    ref = skl.MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ < 500


def test_adaptive_learning_rate_like_sklearn():
    X, y = _data("regression")
    params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate="adaptive",
                  learning_rate_init=0.05, max_iter=300, batch_size=60, shuffle=False,
                  random_state=3, tol=1e-2, n_iter_no_change=2)
    ours = MLPRegressor(dtype="float64", **params).fit(X, y)
    ref = skl.MLPRegressor(**params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)


def test_partial_fit_and_warm_start_as_sklearn():
    X, y = _data("strings", n=90)
    for cls in (MLPClassifier, skl.MLPClassifier):
        est = cls(hidden_layer_sizes=(8,), random_state=0, max_iter=4)
        with pytest.raises(ValueError, match="classes"):
            cls(random_state=0).partial_fit(X, y)
        est.partial_fit(X[:40], y[:40], classes=["cat", "dog", "emu"])
        est.partial_fit(X[40:], y[40:])
        if cls is MLPClassifier:
            ours = est
        else:
            ref = est
    assert (ours.n_iter_, ours.t_, len(ours.loss_curve_)) == \
        (ref.n_iter_, ref.t_, len(ref.loss_curve_)) == (1, 90, 2)
    with pytest.raises(ValueError, match="classes not in"):
        ours.partial_fit(X[:5], ["yak"] * 5)
    # partial_fit keeps the optimiser: Adam's step count goes on
    assert ours._optimizer.steps == 2
    warm = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=3,
                         warm_start=True)
    warm.fit(X, y)
    first = [c.copy() for c in warm.coefs_]
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 6 and warm.t_ == 6 * 90
    assert not np.array_equal(first[0], warm.coefs_[0])
    cold = clone(warm).set_params(warm_start=False).fit(X, y)
    assert len(cold.loss_curve_) == 3
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(X[y != "emu"], y[y != "emu"])


def test_partial_fit_regressor_improves():
    X, y = _data("regression", n=200)
    reg = MLPRegressor(hidden_layer_sizes=(16,), random_state=0, learning_rate_init=0.01)
    losses = [reg.partial_fit(X, y).loss_ for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_pipeline_gridsearch_cross_val_clone():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=0,
                                                         learning_rate_init=0.01))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                                 "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.8
    assert set(search.cv_results_["param_mlpclassifier__alpha"]) == {1e-4, 1e-2}
    scores = cross_val_score(make_pipeline(StandardScaler(), MLPRegressor(
        hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01, random_state=0)),
        *_data("regression", n=150), cv=3)
    assert scores.min() > 0.8
    est = MLPClassifier(hidden_layer_sizes=(3, 2), class_weight="balanced", dtype="float64")
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est


def test_reproducible_at_any_thread_count():
    X, y = _data("multiclass", n=300)
    fits = []
    for n_threads in (1, 2, 1):
        with nc.threads(n_threads):
            fits.append(MLPClassifier(hidden_layer_sizes=(32,), random_state=7,
                                      max_iter=20).fit(X, y))
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
    different = MLPClassifier(hidden_layer_sizes=(32,), random_state=8, max_iter=20).fit(X, y)
    assert not np.array_equal(different.coefs_[0], fits[0].coefs_[0])


def test_class_weight_is_sample_weight():
    X, y = _data("multiclass", n=120)
    y = np.where(np.arange(120) < 20, 2, y)
    base = dict(hidden_layer_sizes=(6,), random_state=0, max_iter=10)
    balanced = MLPClassifier(class_weight="balanced", **base).fit(X, y)
    weighted = MLPClassifier(**base).fit(X, y, sample_weight=compute_sample_weight(
        "balanced", y))
    for a, b in zip(balanced.coefs_, weighted.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    as_dict = MLPClassifier(class_weight={0: 3.0, 2: 0.5}, **base).fit(X, y)
    sw = np.select([y == 0, y == 2], [3.0, 0.5], 1.0)
    manual = MLPClassifier(**base).fit(X, y, sample_weight=sw)
    for a, b in zip(as_dict.coefs_, manual.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="not in classes_"):
        MLPClassifier(class_weight={9: 1.0}, **base).fit(X, y)
    with pytest.raises(ValueError, match="multilabel"):
        MLPClassifier(class_weight="balanced", **base).fit(*_data("multilabel"))


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings", "multilabel",
                                  "regression"])
def test_lbfgs_matches_sklearn(kind):
    """L-BFGS is deterministic: the same start, objective and gradient give the same
    iterates (scipy's L-BFGS-B in both)."""
    X, y = _data(kind)
    params = dict(solver="lbfgs", hidden_layer_sizes=(6,), activation="tanh", alpha=0.01,
                  max_iter=40, random_state=2)
    regression = kind == "regression"
    ours = (MLPRegressor if regression else MLPClassifier)(dtype="float64", **params)
    ref = (skl.MLPRegressor if regression else skl.MLPClassifier)(**params)
    ours.fit(X, y)
    ref.fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=1e-7)
    assert not hasattr(ours, "loss_curve_") and not hasattr(ref, "loss_curve_")
    with pytest.raises(AttributeError, match="partial_fit"):
        ours.partial_fit(X, y)


def test_lbfgs_multioutput_float32_converges():
    X, y = _data("multioutput", n=100)
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=500,
                       random_state=0).fit(X, y)
    assert reg.coefs_[0].dtype == np.float32
    assert reg.score(X, y) > 0.99


def test_refusals_name_what_is_supported():
    X, y = _data("binary")
    with pytest.raises(ValueError, match="adam"):
        MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="squared_error"):
        MLPRegressor(loss="poisson").fit(*_data("regression"))
    with pytest.raises(ValueError, match="float32"):
        MLPClassifier(dtype="float16").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)


def test_pickle_round_trip():
    X, y = _data("strings")
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    again.partial_fit(X, y)  # still trainable after unpickling


def test_user_assigned_coefs_are_used():
    X, y = _data("regression")
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                       warm_start=True).fit(X, y)
    reg.coefs_ = [np.zeros_like(c) for c in reg.coefs_]
    reg.intercepts_ = [np.zeros_like(b) for b in reg.intercepts_]
    np.testing.assert_array_equal(reg.predict(X), np.zeros(len(X)))
    reg.fit(X, y)  # trains from the zeros (relu at zero: only the output bias moves)
    np.testing.assert_array_equal(reg.coefs_[0], 0)


def test_convergence_warning_as_sklearn():
    X, y = _data("binary")
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])


def _scaled(loader):
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, test_size=0.3)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


@pytest.mark.parametrize("loader,params", [
    (load_digits, dict(hidden_layer_sizes=(64,), max_iter=60)),
    (load_breast_cancer, dict(hidden_layer_sizes=(32,), max_iter=100)),
    (load_wine, dict(hidden_layer_sizes=(32,), max_iter=150)),
    (load_iris, dict(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.01)),
])
def test_accuracy_as_sklearn(loader, params):
    Xtr, Xte, ytr, yte = _scaled(loader)
    with threadpool_limits(1):
        ref = np.mean([skl.MLPClassifier(random_state=s, **params).fit(Xtr, ytr)
                       .score(Xte, yte) for s in (0, 1)])
    ours = np.mean([MLPClassifier(random_state=s, **params).fit(Xtr, ytr).score(Xte, yte)
                    for s in (0, 1)])
    assert ours >= ref - 0.04, (ours, ref)


def test_r2_on_diabetes_as_sklearn():
    Xtr, Xte, ytr, yte = _scaled(load_diabetes)
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.05, max_iter=300)
    with threadpool_limits(1):
        ref = np.mean([skl.MLPRegressor(random_state=s, **params).fit(Xtr, ytr)
                       .score(Xte, yte) for s in (0, 1)])
    ours = np.mean([MLPRegressor(random_state=s, **params).fit(Xtr, ytr).score(Xte, yte)
                    for s in (0, 1)])
    assert ref > 0.3
    assert ours >= ref - 0.05, (ours, ref)


def test_importing_nncore_imports_no_optional_dependency():
    code = ("import sys, nncore, nncore.onnx, nncore.interop; "
            "bad = [m for m in ('sklearn', 'onnx', 'onnxruntime', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
