"""The epoch driver of the stochastic solvers of nncore.sklearn: scikit-learn's solvers
step the learning rate and stopping rules once per epoch, so the estimator runs one
epoch per call, on the native engine when it supports the model."""
from __future__ import annotations

import math

from .._epochs import _python_epoch, nonfinite_error
from .._native_fit import _NativeEpochs, native_unsupported

__all__ = ["EpochEngine"]


class _NoInterrupt:
    """Ctrl-C is not caught inside an estimator's epoch (sklearn's own loop is above)."""
    flag = False


class EpochEngine:
    """One epoch per call: the native engine (one trainer for the whole fit, one native
    call per epoch) when it supports the model, else the python loop of nncore.training."""

    def __init__(self, model, run, rng, shuffle):
        self.model, self.run, self.rng, self.shuffle = model, run, rng, shuffle
        self.native = None
        if not native_unsupported(model, run):
            self.native = _NativeEpochs(model, run, rng, shuffle, None, 0, True)
        self.epochs = 0

    def epoch(self, lr):
        opt = self.run.optimizer
        opt.lr = lr
        if self.native is None:
            records, _ = _python_epoch(self.model, self.run, self.rng, self.epochs,
                                       self.epochs + 1, self.shuffle, 0, True, _NoInterrupt())
            self.epochs += 1
            return records[0]["loss"]
        res = self.native.call(1, math.inf, lr)
        if res["nonfinite"]:
            self.model.forward(self.run.x[self.native.trainer.batch_rows()])
            raise nonfinite_error(self.model, res["bad_loss"], res["epoch"], res["step"])
        self.epochs += 1
        return float(res["loss"][0])

    def close(self):
        if self.native is not None:
            self.native.finish()
            self.native = None
