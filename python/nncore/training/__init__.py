"""Training: one step, two engines (docs/training.md, docs/architecture.md).

- :mod:`~nncore.training.run`: the prepared run (:class:`Run`, built by :func:`prepare`);
- :mod:`~nncore.training.step`: the one training step, the specification the native
  engine mirrors, and the loss-and-gradient helper L-BFGS uses;
- :mod:`~nncore.training.engines`: the python and native engines behind one interface;
- :mod:`~nncore.training.fit`: ``fit``, ``train_on_batch`` and the epoch loop;
- :mod:`~nncore.training.data_parallel`: data-parallel training over MPI, a strategy the
  engines run (imported when ``fit(distributed=...)`` asks for it).
"""
from .engines import (CHUNK_SECONDS, NativeEngine, PythonEngine, make_engine,
                      native_unsupported, trainer_spec)
from .fit import ENGINES, fit, train_on_batch
from .run import Run, prepare, resolve_loss, split_train_validation
from .step import NonFiniteLossError, count_correct, loss_and_grad, train_step

__all__ = ["fit", "train_on_batch", "NonFiniteLossError", "Run", "prepare", "resolve_loss",
           "split_train_validation", "train_step", "loss_and_grad", "count_correct",
           "PythonEngine", "NativeEngine", "make_engine", "native_unsupported",
           "trainer_spec", "CHUNK_SECONDS", "ENGINES"]
