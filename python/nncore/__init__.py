"""nncore: dense neural networks on the CPU.

Native C++17 kernels (SIMD, own thread pool) behind a NumPy API, and a small Python layer for
models, losses, optimisers and training with explicit, layer-by-layer backpropagation.

    >>> import nncore as nc
    >>> nc.functional.dense_forward([[1.0, 2.0]], [[0.5], [0.25]], [0.1], "relu")
    array([[1.1]])
"""
from . import functional, reference
from .runtime import config, get_num_threads, manual_seed, set_num_threads, threads

__version__ = functional._core.__version__

__all__ = [
    "functional", "reference", "config", "get_num_threads", "set_num_threads", "threads",
    "manual_seed",
]

# --- Python layer (models, losses, optimisers, training) ---------------------------
# Exports of the Python layer are added below this line.
from . import callbacks, data, initializers, layers, losses, lr_scheduler, optim
from .callbacks import Callback, EarlyStopping, GradientHealth, health_report
from .data import batches, one_hot, spirals, train_test_split, xor
from .gradcheck import gradcheck
from .layers import (GELU, Dense, Identity, LeakyReLU, Parameter, ReLU, Sigmoid, SiLU, Softmax,
                     Softplus, Tanh)
from .dropout import Dropout
from .norms import BatchNorm1d, LayerNorm
from .blocks import Flatten, Residual
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from .model import History, NonFiniteLossError, Sequential, load
from .optim import (SGD, Adam, CosineAnnealingLR, ExponentialLR, StepLR, clip_grad_norm_,
                    clip_grad_value_)
from .saving import ModelFileError
from .trace import StepTrace, trace

__all__ += [
    "callbacks", "data", "initializers", "layers", "losses", "lr_scheduler", "optim",
    "Callback", "EarlyStopping", "GradientHealth", "health_report",
    "batches", "one_hot", "spirals", "train_test_split", "xor", "gradcheck",
    "Dense", "Identity", "LeakyReLU", "Parameter", "ReLU", "Sigmoid", "Softmax", "Tanh",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "L1Loss", "HuberLoss", "Dropout",
    "GELU", "SiLU", "Softplus", "LayerNorm", "BatchNorm1d", "Residual", "Flatten",
    "History", "NonFiniteLossError", "Sequential",
    "SGD", "Adam", "CosineAnnealingLR", "ExponentialLR", "StepLR", "clip_grad_norm_",
    "clip_grad_value_", "ModelFileError", "load", "trace", "StepTrace",
]

# Training options (issue 24): optimisers, schedules, callbacks and metrics.
from . import metrics  # noqa: E402
from .callbacks import (CSVLogger, LambdaCallback, LearningRateScheduler,  # noqa: E402
                        ModelCheckpoint)
from .metrics import (AUC, Accuracy, F1Score, MeanAbsoluteError, Precision,  # noqa: E402
                      R2Score, Recall, RootMeanSquaredError, TopKAccuracy)
from .optim import (AdamW, LambdaLR, LinearLR, OneCycleLR, ReduceLROnPlateau,  # noqa: E402
                    RMSprop, SequentialLR)

__all__ += ["CSVLogger", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
            "metrics", "AUC", "Accuracy", "F1Score", "MeanAbsoluteError", "Precision",
            "R2Score", "Recall", "RootMeanSquaredError", "TopKAccuracy",
            "AdamW", "LambdaLR", "LinearLR", "OneCycleLR", "ReduceLROnPlateau", "RMSprop",
            "SequentialLR"]
