"""Full-batch L-BFGS for the nncore.sklearn estimators (``solver="lbfgs"``): scipy's
L-BFGS-B, as scikit-learn runs it, on the objective G of :mod:`nncore.sklearn._base`,
each function and gradient evaluation one native forward and backward pass."""
from __future__ import annotations

import numpy as np

from .. import losses as losses_mod
from .._inputs import check_x, check_y
from ..training import loss_and_grad

__all__ = ["fit_lbfgs"]


def fit_lbfgs(est, X, target, sample_weight):
    """Fit ``est``'s model in place; sets ``est.n_iter_`` and ``est.loss_``."""
    from scipy.optimize import minimize
    from sklearn.utils.optimize import _check_optimize_result

    model = est._model
    loss_fn = losses_mod.get(est._loss_name())
    n = len(X)
    x = check_x(model, X, "X")
    y = check_y(model, target, n, loss_fn)
    w = None if sample_weight is None else np.asarray(sample_weight, model.dtype)
    total = float(n if sample_weight is None else np.sum(sample_weight))
    c, alpha, factor = est._scale(), est.alpha, est._loss_factor()
    params = model.parameters()
    is_coef = [p.name == "w" for p in params]
    bounds = np.cumsum([0] + [p.size for p in params])
    state = {}

    def fun(theta):
        for p, lo, hi in zip(params, bounds[:-1], bounds[1:]):
            p.data[...] = theta[lo:hi].reshape(p.shape)
        value = loss_and_grad(model, loss_fn, x, y, sample_weight=w)[0]
        sq = sum(float(np.dot(p.data.ravel(), p.data.ravel()))
                 for p, k in zip(params, is_coef) if k)
        l2 = 0.5 * alpha * sq / total
        state["loss"] = factor * value + l2
        grad = np.concatenate([(c * p.grad + (alpha / total) * p.data if k else
                                c * p.grad).ravel() for p, k in zip(params, is_coef)])
        return c * value + l2, grad.astype(np.float64)

    theta0 = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
    # sklearn's own helper: passes iprint only to the scipy versions that take it
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
    iprint = 1 if est.verbose is True else (est.verbose if est.verbose else -1)
    res = minimize(fun, theta0, method="L-BFGS-B", jac=True,
                   options={"maxfun": est.max_fun, "maxiter": est.max_iter,
                            "gtol": est.tol,
                            **_get_additional_lbfgs_options_dict("iprint", iprint)})
    est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)
    fun(res.x)
    est.loss_ = state["loss"]
