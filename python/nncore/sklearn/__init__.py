"""scikit-learn estimators trained by nncore: drop-in ``MLPClassifier`` and
``MLPRegressor`` (the same parameters, defaults, attributes and methods as
``sklearn.neural_network``'s), plus ``class_weight`` and ``dtype``.

Needs scikit-learn (``pip install "nncore[sklearn]"``); ``import nncore`` never imports it.
See docs/sklearn.md for the parameter-by-parameter table.
"""
from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
