"""scikit-learn's own estimator checks on both estimators, with no expected failures."""
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Small max_iter keeps the ~100 checks fast. float64: check_sample_weight_equivalence
# compares weighted and repeated fits at rtol 1e-7, which float32 round-off cannot meet
# (scikit-learn's own MLP passes it only with solver="lbfgs").
ESTIMATORS = [
    MLPClassifier(max_iter=100, dtype="float64"),
    MLPRegressor(max_iter=100, dtype="float64"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
