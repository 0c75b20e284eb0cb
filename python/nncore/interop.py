"""PyTorch weight interop: ``nn.Sequential`` <-> :class:`nncore.Sequential`.

nncore's ``Dense.w`` has shape ``(in, out)`` (``y = x @ w + b``); torch's
``Linear.weight`` has shape ``(out, in)`` (``y = x @ weight.T + bias``): each is the
other's transpose. torch is imported only inside these functions.

A :class:`nncore.Residual` block becomes a :class:`TorchResidual` module (made on first
use, an ``nn.Module`` whose ``forward(x)`` is ``x + self.body(x)``, ``body`` an
``nn.Sequential`` of the block's layers); ``from_torch`` reads it back. torch has no
residual module of its own, so that class is the pattern: wrap the layers of your own
residual block in ``nncore.interop.TorchResidual(*layers)`` to bring it to nncore.

    >>> model = nc.Sequential.from_torch(torch_module)    # doctest: +SKIP
    >>> module = model.to_torch()                          # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS

__all__ = ["layers_from_torch", "to_torch", "residual_module_class"]

# torch modules with options: read (and checked) by their own branches
_WITH_OPTIONS = ("LeakyReLU", "Softmax", "GELU", "Softplus")


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("nncore.interop needs PyTorch (pip install torch)") from e
    return torch


_RESIDUAL = []


def residual_module_class():
    """The torch module class for a residual block: ``TorchResidual(*modules)`` computes
    ``x + body(x)`` with ``body = nn.Sequential(*modules)``. Made on first use (torch is
    imported then); also reachable as ``nncore.interop.TorchResidual``, so a module that
    holds one pickles (``torch.save``) and loads by that name."""
    if not _RESIDUAL:
        nn = _torch().nn

        class TorchResidual(nn.Module):
            """``x + body(x)``: nncore's Residual block in torch."""

            def __init__(self, *modules):
                super().__init__()
                self.body = nn.Sequential(*modules)

            def forward(self, x):
                return x + self.body(x)

        TorchResidual.__module__ = __name__
        TorchResidual.__qualname__ = "TorchResidual"
        _RESIDUAL.append(TorchResidual)
    return _RESIDUAL[0]


def __getattr__(name):  # nncore.interop.TorchResidual, made when first asked for
    if name == "TorchResidual":
        return residual_module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def layers_from_torch(module, dtype=None):
    """The nncore layers (and their dtype) with the weights of a torch ``nn.Sequential``:
    ``Sequential.from_torch(module)`` is ``Sequential(*layers_from_torch(module))``, so
    this module does not import the model (no import circle).

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``nn.Linear``, ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.LeakyReLU``,
        ``nn.Identity``, ``nn.Softmax`` (over the last dimension), ``nn.GELU`` (either
        ``approximate``), ``nn.SiLU``, ``nn.Softplus`` (``beta=1, threshold=20``),
        ``nn.Dropout``, ``nn.Flatten`` (``start_dim=1, end_dim=-1``), ``nn.LayerNorm``
        (over the last dimension, with a bias when affine), ``nn.BatchNorm1d`` (with their
        parameters and running statistics) and :class:`TorchResidual` blocks of these.
    dtype : "float32" or "float64", optional
        Default: the dtype of the module's first Linear weight.

    Raises
    ------
    ValueError
        For a layer nncore has no counterpart of (named with its index, ``1.body.0``
        inside a residual block), or a module that is not an ``nn.Sequential``.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"from_torch: expected a torch.nn.Sequential; got "
                         f"{type(module).__name__}")
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("from_torch: the module has no nn.Linear layer")
    if dtype is None:
        dtype = {torch.float64: "float64"}.get(linears[0].weight.dtype, "float32")
    return [_layer_from_module(m, str(i), dtype) for i, m in enumerate(module)], dtype


def _layer_from_module(m, where, dtype):
    """The nncore layer of one torch module (one branch per kind)."""
    nn = _torch().nn
    from . import layers as L
    from .blocks import Flatten, Residual
    from .dropout import Dropout
    by_torch = {a.torch: n for n, a in ACTIVATIONS.items()
                if a.torch and a.layer and a.torch not in _WITH_OPTIONS}
    if isinstance(m, nn.Linear):
        layer = L.Dense(m.in_features, m.out_features, use_bias=m.bias is not None,
                        dtype=dtype, seed=0)
        w = m.weight.detach().cpu().double().numpy().T
        b = None if m.bias is None else m.bias.detach().cpu().double().numpy()
        layer.set_weights(w, b)
        return layer
    if isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
        return _norm_from_torch(m, where, dtype)
    if isinstance(m, nn.LeakyReLU):
        return L.LeakyReLU(slope=float(m.negative_slope))
    if isinstance(m, nn.Softmax) and m.dim in (-1, 1, None):
        return L.Softmax()
    if type(m) is nn.GELU:
        return L.GELU(approximate=m.approximate)
    if type(m) is nn.Softplus and m.beta == 1 and m.threshold == 20:
        return L.Softplus()
    if type(m) is nn.Dropout:
        return Dropout(float(m.p))
    if type(m) is nn.Flatten and m.start_dim == 1 and m.end_dim == -1:
        return Flatten()
    if type(m) is residual_module_class():
        return Residual(*[_layer_from_module(inner, f"{where}.body.{j}", dtype)
                          for j, inner in enumerate(m.body)])
    if type(m).__name__ in by_torch and type(m) is getattr(nn, type(m).__name__):
        return L.ACTIVATION_LAYERS[by_torch[type(m).__name__]]()
    supported = ", ".join(sorted({f"nn.{a.torch}" for a in ACTIVATIONS.values() if a.torch}))
    raise ValueError(f"from_torch: layer {where} ({type(m).__name__}) is not supported; "
                     f"nncore takes nn.Linear, {supported} (Softmax over dim=-1, Softplus "
                     "with beta=1 and threshold=20), nn.Dropout, nn.Flatten(), nn.LayerNorm, "
                     "nn.BatchNorm1d and nncore.interop.TorchResidual blocks")


def to_torch(model):
    """A torch ``nn.Sequential`` with a copy of the model's weights, in its dtype and
    mode (``train``/``eval``): each Dense becomes ``nn.Linear`` (plus its activation
    module), each activation layer its torch module, Dropout ``nn.Dropout``, Flatten
    ``nn.Flatten()``, a Residual a :class:`TorchResidual` of its layers."""
    torch = _torch()
    tdtype = torch.float64 if model.dtype == np.float64 else torch.float32
    modules = []
    for i, layer in enumerate(model.layers):
        modules += _modules_of(layer, model.layer_name(i), tdtype)
    return torch.nn.Sequential(*modules).train(model.training)


def _act_module(act, slope, where):
    nn = _torch().nn
    if act == "leaky_relu":
        return nn.LeakyReLU(negative_slope=slope)
    if act == "softmax":
        return nn.Softmax(dim=-1)
    if act == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    name = ACTIVATIONS[act].torch
    if name is None:
        raise ValueError(f"to_torch: layer {where} has activation {act!r}, which has no "
                         "torch counterpart here")
    return getattr(nn, name)()


def _modules_of(layer, where, tdtype):
    """The torch modules of one nncore layer (one branch per kind)."""
    torch = _torch()
    nn = torch.nn
    from . import layers as L
    from .blocks import Flatten, Residual
    from .dropout import Dropout
    if isinstance(layer, L.Dense):
        if layer.in_features is None:
            raise ValueError(f"to_torch: layer {where} (Dense({layer.out_features})) is not "
                             "built yet: build the model first (input_shape=, or fit/predict)")
        lin = nn.Linear(layer.in_features, layer.out_features, bias=layer.use_bias,
                        dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.w.data.T)))
            if layer.use_bias:
                lin.bias.copy_(torch.from_numpy(layer.b.data.copy()))
        if layer.activation == "identity":
            return [lin]
        return [lin, _act_module(layer.activation, layer.slope, where)]
    if isinstance(layer, Dropout):
        return [nn.Dropout(layer.p)]
    if type(layer).__name__ in ("LayerNorm", "BatchNorm1d"):
        return [_norm_to_torch(layer, tdtype)]
    if isinstance(layer, Flatten):
        return [nn.Flatten()]
    if isinstance(layer, Residual):
        inner = [m for j, child in enumerate(layer.layers)
                 for m in _modules_of(child, f"{where}.{j}", tdtype)]
        return [residual_module_class()(*inner)]
    if isinstance(layer, L.Softmax):
        if layer.axis not in (-1, 1):
            raise ValueError(f"to_torch: layer {where} has axis {layer.axis}; only the last "
                             "axis is supported")
        return [nn.Softmax(dim=-1)]
    if type(layer) in L.ACTIVATION_LAYERS.values():
        return [_act_module(layer.activation, getattr(layer, "slope", 0.01), where)]
    raise ValueError(f"to_torch: layer {where} ({type(layer).__name__}) has no torch "
                     "counterpart")


def _norm_from_torch(m, i, dtype):
    """nncore's LayerNorm / BatchNorm1d with the parameters and buffers of torch's."""
    from .norms import BatchNorm1d, LayerNorm

    def arr(t):
        return t.detach().cpu().double().numpy()

    if m.weight is not None and m.bias is None:
        raise ValueError(f"from_torch: layer {i} ({type(m).__name__}) has a weight but no "
                         f"bias (bias=False), which nncore's {type(m).__name__} does not have")
    if type(m).__name__ == "LayerNorm":
        if len(m.normalized_shape) != 1:
            raise ValueError(f"from_torch: layer {i} (LayerNorm) normalises over "
                             f"{tuple(m.normalized_shape)}; nncore's LayerNorm takes the last "
                             "axis only (normalized_shape of one int)")
        affine = m.elementwise_affine
        layer = LayerNorm(m.normalized_shape[0], eps=m.eps, elementwise_affine=affine,
                          dtype=dtype)
    else:
        layer = BatchNorm1d(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                            track_running_stats=m.track_running_stats, dtype=dtype)
        if m.track_running_stats:
            layer.load_buffers({"running_mean": arr(m.running_mean),
                                "running_var": arr(m.running_var),
                                "num_batches_tracked": int(m.num_batches_tracked)})
    if layer.weight is not None:
        layer.weight.data[...] = arr(m.weight)
        layer.bias.data[...] = arr(m.bias)
    return layer


def _norm_to_torch(layer, tdtype):
    """torch's LayerNorm / BatchNorm1d with the parameters and buffers of nncore's."""
    torch = _torch()
    nn = torch.nn
    if type(layer).__name__ == "LayerNorm":
        m = nn.LayerNorm(layer.features, eps=layer.eps,
                         elementwise_affine=layer.elementwise_affine, dtype=tdtype)
    else:
        m = nn.BatchNorm1d(layer.features, eps=layer.eps, momentum=layer.momentum,
                           affine=layer.affine, track_running_stats=layer.track_running_stats,
                           dtype=tdtype)
    with torch.no_grad():
        if layer.weight is not None:
            m.weight.copy_(torch.from_numpy(layer.weight.data.copy()))
            m.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
        for name, value in getattr(layer, "buffers", dict)().items():
            getattr(m, name).copy_(torch.from_numpy(np.array(value)))
    return m
