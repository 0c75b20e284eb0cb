"""PyTorch weight interop: ``nn.Sequential`` of ``nn.Linear`` and activations <->
:class:`nncore.Sequential`.

nncore's ``Dense.w`` has shape ``(in, out)`` (``y = x @ w + b``); torch's
``Linear.weight`` has shape ``(out, in)`` (``y = x @ weight.T + bias``): each is the
other's transpose. torch is imported only inside these functions.

    >>> model = nc.Sequential.from_torch(torch_module)    # doctest: +SKIP
    >>> module = model.to_torch()                          # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS

__all__ = ["layers_from_torch", "to_torch"]


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("nncore.interop needs PyTorch (pip install torch)") from e
    return torch


def layers_from_torch(module, dtype=None):
    """The nncore layers (and their dtype) with the weights of a torch ``nn.Sequential``:
    ``Sequential.from_torch(module)`` is ``Sequential(*layers_from_torch(module))``, so
    this module does not import the model (no import circle).

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``nn.Linear``, ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.LeakyReLU``,
        ``nn.Identity``, ``nn.Softmax`` (over the last dimension), ``nn.LayerNorm`` (over
        the last dimension, with a bias when affine) and ``nn.BatchNorm1d`` (with their
        parameters and running statistics).
    dtype : "float32" or "float64", optional
        Default: the dtype of the module's first Linear weight.

    Raises
    ------
    ValueError
        For a layer nncore has no counterpart of (named with its index), or a module that
        is not an ``nn.Sequential``.
    """
    torch = _torch()
    from . import layers as L
    nn = torch.nn
    # the activations without options (LeakyReLU and Softmax are read below, with theirs)
    by_torch = {a.torch: n for n, a in ACTIVATIONS.items()
                if a.torch and a.layer and a.torch not in ("LeakyReLU", "Softmax")}
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"from_torch: expected a torch.nn.Sequential; got "
                         f"{type(module).__name__}")
    linears = [m for m in module if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("from_torch: the module has no nn.Linear layer")
    if dtype is None:
        dtype = {torch.float64: "float64"}.get(linears[0].weight.dtype, "float32")
    out = []
    for i, m in enumerate(module):
        if isinstance(m, nn.Linear):
            layer = L.Dense(m.in_features, m.out_features, use_bias=m.bias is not None,
                            dtype=dtype, seed=0)
            w = m.weight.detach().cpu().double().numpy().T
            b = None if m.bias is None else m.bias.detach().cpu().double().numpy()
            layer.set_weights(w, b)
            out.append(layer)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm1d)):
            out.append(_norm_from_torch(m, i, dtype))
        elif isinstance(m, nn.LeakyReLU):
            out.append(L.LeakyReLU(slope=float(m.negative_slope)))
        elif isinstance(m, nn.Softmax) and m.dim in (-1, 1, None):
            out.append(L.Softmax())
        elif type(m).__name__ in by_torch and type(m) is getattr(nn, type(m).__name__):
            out.append(L.ACTIVATION_LAYERS[by_torch[type(m).__name__]]())
        else:
            supported = ", ".join(f"nn.{a.torch}" for a in ACTIVATIONS.values() if a.torch)
            raise ValueError(f"from_torch: layer {i} ({type(m).__name__}) is not supported; "
                             f"nncore takes nn.Linear, {supported} (Softmax over dim=-1), "
                             "nn.LayerNorm, nn.BatchNorm1d")
    return out, dtype


def to_torch(model):
    """A torch ``nn.Sequential`` with a copy of the model's weights, in its dtype: each
    Dense becomes ``nn.Linear`` (plus its activation module), each activation layer its
    torch module."""
    torch = _torch()
    from . import layers as L
    nn = torch.nn
    tdtype = torch.float64 if model.dtype == np.float64 else torch.float32
    modules = []

    def act_module(act, slope, where):
        if act == "leaky_relu":
            return nn.LeakyReLU(negative_slope=slope)
        if act == "softmax":
            return nn.Softmax(dim=-1)
        name = ACTIVATIONS[act].torch
        if name is None:
            raise ValueError(f"to_torch: layer {where} has activation {act!r}, which has no "
                             "torch counterpart here")
        return getattr(nn, name)()

    for i, layer in enumerate(model.layers):
        if isinstance(layer, L.Dense):
            lin = nn.Linear(layer.in_features, layer.out_features, bias=layer.use_bias,
                            dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.w.data.T)))
                if layer.use_bias:
                    lin.bias.copy_(torch.from_numpy(layer.b.data.copy()))
            modules.append(lin)
            if layer.activation != "identity":
                modules.append(act_module(layer.activation, layer.slope,
                                          model.layer_name(i)))
        elif type(layer).__name__ in ("LayerNorm", "BatchNorm1d"):
            modules.append(_norm_to_torch(layer, tdtype))
        elif isinstance(layer, L.Softmax):
            if layer.axis not in (-1, 1):
                raise ValueError(f"to_torch: layer {model.layer_name(i)} has axis "
                                 f"{layer.axis}; only the last axis is supported")
            modules.append(nn.Softmax(dim=-1))
        elif type(layer) in L.ACTIVATION_LAYERS.values():
            modules.append(act_module(layer.activation, getattr(layer, "slope", 0.01),
                                      model.layer_name(i)))
        else:
            raise ValueError(f"to_torch: layer {model.layer_name(i)} "
                             f"({type(layer).__name__}) has no torch counterpart")
    return nn.Sequential(*modules)


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
