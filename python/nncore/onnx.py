"""ONNX export: a :class:`nncore.Sequential`, or a fitted :mod:`nncore.sklearn` estimator,
as MatMul + Add + activation nodes (opset 17), in the dtype it was trained in (float32 or
float64), with a dynamic batch dimension.

Needs the ``onnx`` package (``pip install "nncore[onnx]"``), imported only when a function
here is called; ``import nncore`` never imports it.

    >>> model.to_onnx("model.onnx")                       # doctest: +SKIP
    >>> clf.to_onnx("clf.onnx")  # outputs "label" and "probabilities"   # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from .activations import ACTIVATIONS, SKLEARN_NAMES

__all__ = ["OPSET", "export", "export_estimator"]

#: The ONNX operator set the exported graphs use.
OPSET = 17
#: The IR version written (the oldest that opset 17 allows, for older runtimes).
IR_VERSION = 8



def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without onnx
        raise ImportError("nncore.onnx needs the 'onnx' package: pip install "
                          "\"nncore[onnx]\"") from e
    return onnx


class _Graph:
    """Nodes and initialisers under construction, with fresh names."""

    def __init__(self, dtype):
        self.onnx = _onnx()
        self.dtype = np.dtype(dtype)
        self.elem = {np.dtype(np.float32): self.onnx.TensorProto.FLOAT,
                     np.dtype(np.float64): self.onnx.TensorProto.DOUBLE}[self.dtype]
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base):
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, base, output=None, **attrs):
        out = output or self.name(base)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=self.name(op),
                                                     **attrs))
        return out

    def activation(self, x, act, slope=0.01, output=None):
        if act == "identity":
            return self.node("Identity", [x], "identity", output) if output else x
        if act in ("relu", "sigmoid", "tanh"):  # one operator of the same name
            return self.node(ACTIVATIONS[act].onnx, [x], act, output)
        if act == "leaky_relu" and self.dtype == np.float32:
            return self.node("LeakyRelu", [x], act, output, alpha=float(slope))
        if act == "leaky_relu":  # LeakyRelu's alpha is a float32 attribute: not exact here
            zero = self.const(np.zeros((), self.dtype), "zero")
            scaled = self.node("Mul", [x, self.const(np.array(slope, self.dtype), "slope")],
                               "mul")
            positive = self.node("Greater", [x, zero], "greater")
            return self.node("Where", [positive, x, scaled], act, output)
        if act == "softmax":
            return self.node("Softmax", [x], act, output, axis=-1)
        if act in _COMPOSED:
            y = _COMPOSED[act](self, x)
            return self.node("Identity", [y], "identity", output) if output else y
        raise ValueError(f"to_onnx: activation {act!r} has no ONNX export")

    def scalar(self, value, base="c"):
        return self.const(np.array(value, self.dtype), base)

    def gelu(self, x):
        """0.5 x (1 + erf(x / sqrt 2)). onnxruntime has no float64 Erf: in a float64
        graph the erf alone is taken in float32 (Cast around it), about 1e-7 relative."""
        u = self.node("Mul", [x, self.scalar(1 / np.sqrt(2), "inv_sqrt2")], "mul")
        if self.dtype == np.float64:
            u = self.node("Cast", [u], "cast", to=self.onnx.TensorProto.FLOAT)
            u = self.node("Erf", [u], "erf")
            e = self.node("Cast", [u], "cast", to=self.elem)
        else:
            e = self.node("Erf", [u], "erf")
        return self._half_x_one_plus(x, e)

    def gelu_tanh(self, x):
        """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), PyTorch's approximate="tanh"."""
        x3 = self.node("Mul", [self.node("Mul", [x, x], "mul"), x], "mul")
        inner = self.node("Add", [x, self.node("Mul", [x3, self.scalar(0.044715)], "mul")],
                          "add")
        t = self.node("Tanh", [self.node("Mul", [inner, self.scalar(np.sqrt(2 / np.pi))],
                                         "mul")], "tanh")
        return self._half_x_one_plus(x, t)

    def _half_x_one_plus(self, x, e):
        one_plus = self.node("Add", [e, self.scalar(1.0, "one")], "add")
        return self.node("Mul", [self.node("Mul", [x, one_plus], "mul"),
                                 self.scalar(0.5, "half")], "mul")

    def silu(self, x):
        """x * sigmoid(x)."""
        return self.node("Mul", [x, self.node("Sigmoid", [x], "sigmoid")], "mul")

    def softplus(self, x):
        """log(1 + exp(x)), x where x > 20 (nncore's and PyTorch's threshold): the
        Softplus operator in float32 (equal there to float32 rounding); in float64, which
        onnxruntime's Softplus does not take, Where(x > 20, x, Log(1 + Exp(min(x, 20))))."""
        if self.dtype == np.float32:
            return self.node("Softplus", [x], "softplus")
        twenty = self.scalar(20.0, "twenty")
        e = self.node("Exp", [self.node("Min", [x, twenty], "min")], "exp")
        soft = self.node("Log", [self.node("Add", [e, self.scalar(1.0, "one")], "add")], "log")
        return self.node("Where", [self.node("Greater", [x, twenty], "greater"), x, soft],
                         "softplus")

    def dense(self, x, w, b, act, slope=0.01, output=None):
        y = self.node("MatMul", [x, self.const(np.asarray(w, self.dtype), "w")], "matmul")
        if b is not None:
            y = self.node("Add", [y, self.const(np.asarray(b, self.dtype), "b")], "add")
        return self.activation(y, act, slope, output)

    def model(self, inputs, outputs, doc):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "nncore", inputs, outputs, self.inits)
        model = helper.make_model(graph, producer_name="nncore", doc_string=doc,
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        self.onnx.checker.check_model(model)
        return model

    def tensor(self, name, elem, cols):
        cols = list(cols) if isinstance(cols, tuple) else [cols]
        return self.onnx.helper.make_tensor_value_info(name, elem, ["N", *cols])


#: Activations exported as a formula of ONNX operators (a method of _Graph each).
_COMPOSED = {"gelu": _Graph.gelu, "gelu_tanh": _Graph.gelu_tanh, "silu": _Graph.silu,
             "softplus": _Graph.softplus}


def _save(model, path):
    if path is not None:
        _onnx().save(model, str(path))
    return model


def export(model, path=None, *, input_name="input", output_name="output"):
    """The ONNX graph of a :class:`nncore.Sequential` (``model.to_onnx`` calls this).

    Parameters
    ----------
    model : Sequential
        Of Dense layers (any activation, fused or not), activation layers (ReLU,
        Sigmoid, Tanh, LeakyReLU, Identity, Softmax over the last axis, GELU, SiLU,
        Softplus), LayerNorm (LayerNormalization), BatchNorm1d (in inference form:
        BatchNormalization with the running statistics), Dropout (the identity: the
        graph is the model in eval mode, as ``predict``), Flatten and Residual blocks
        (``Add`` of the block's input and its layers' output). Its input shape must be
        known: a model that starts with Flatten or ``Dense(units)`` is exported once
        built (``input_shape=``, or after a fit / predict).
    path : str or path-like, optional
        Also write the file there.
    input_name, output_name : str
        The graph's input (``(N, *input_shape)``) and output (``(N, outputs)``).

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker``; the network's outputs (no softmax added: what
        ``model.predict`` returns).
    """
    shape = model.input_shape
    if shape is None or not model.built:
        raise ValueError("to_onnx: the model's input shape is not known (it starts with a "
                         "Flatten, or a Dense(units) not built yet): give "
                         "Sequential(..., input_shape=...), or fit/predict once first")
    g = _Graph(model.dtype)
    x = input_name
    features = shape[0] if len(shape) == 1 else shape
    for i, layer in enumerate(model.layers):
        if model._skip[i]:
            continue
        act, slope = model.activation_of(i) if _is_dense(layer) else (None, None)
        x = _export_layer(g, layer, x, model.layer_name(i), act, slope)
        features = layer.output_features(features)
    if g.nodes and g.nodes[-1].output[0] == x:
        g.nodes[-1].output[0] = output_name  # the last node names the graph's output
    else:
        g.node("Identity", [x], "identity", output_name)
    onnx_model = g.model([g.tensor(input_name, g.elem, shape)],
                         [g.tensor(output_name, g.elem, features)],
                         "nncore.Sequential exported by nncore.onnx")
    return _save(onnx_model, path)


def _norm(g, layer, x, output=None):
    """A LayerNorm as LayerNormalization (opset 17); a BatchNorm1d in inference form: with
    running statistics one BatchNormalization node, else the batch's own statistics
    (what eval mode uses without them) as ReduceMean / Sub / Mul / Sqrt / Div nodes. The
    ``epsilon`` attributes are float32 (ONNX's type for them)."""
    n, d = layer.features, g.dtype
    w = layer.weight.data if layer.weight is not None else np.ones(n, d)
    b = layer.bias.data if layer.bias is not None else np.zeros(n, d)
    scale, shift = g.const(np.asarray(w, d), "scale"), g.const(np.asarray(b, d), "shift")
    if type(layer).__name__ == "LayerNorm":
        return g.node("LayerNormalization", [x, scale, shift], "layer_norm", output,
                      axis=-1, epsilon=float(layer.eps))
    if layer.track_running_stats:
        mean = g.const(np.asarray(layer.running_mean, d), "running_mean")
        var = g.const(np.asarray(layer.running_var, d), "running_var")
        return g.node("BatchNormalization", [x, scale, shift, mean, var], "batch_norm", output,
                      epsilon=float(layer.eps))
    mean = g.node("ReduceMean", [x], "batch_mean", axes=[0], keepdims=1)
    centred = g.node("Sub", [x, mean], "centred")
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred], "square")], "batch_var",
                 axes=[0], keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.const(np.array(layer.eps, d), "eps")], "add")],
                 "std")
    scaled = g.node("Mul", [g.node("Div", [centred, std], "normalised"), scale], "scaled")
    return g.node("Add", [scaled, shift], "batch_norm", output)


def _is_dense(layer):
    from .layers import Dense
    return isinstance(layer, Dense)


def _export_layer(g, layer, x, where, act=None, slope=None):
    """Nodes computing ``layer`` on ``x`` (the name of a tensor); returns the name of its
    output. ``act``/``slope``: the activation a model fused into a Dense. One branch per
    kind of layer."""
    from .blocks import Flatten, Residual
    from .dropout import Dropout
    from .norms import BatchNorm1d, LayerNorm
    if _is_dense(layer):
        if act is None:
            act, slope = layer.activation, layer.slope
        return g.dense(x, layer.w.data, None if layer.b is None else layer.b.data, act,
                       slope)
    if isinstance(layer, Dropout):  # the identity in eval mode, which the graph is
        return x
    if isinstance(layer, (LayerNorm, BatchNorm1d)):
        return _norm(g, layer, x)
    if isinstance(layer, Flatten):
        return g.node("Flatten", [x], "flatten", axis=1)
    if isinstance(layer, Residual):
        h = x
        for j, inner in enumerate(layer.layers):
            h = _export_layer(g, inner, h, f"{where}.{j}")
        return g.node("Add", [x, h], "residual")
    if layer.activation is not None:
        if getattr(layer, "axis", -1) not in (-1, 1):
            raise ValueError(f"to_onnx: layer {where} has axis {layer.axis}; only the last "
                             "axis is exported")
        return g.activation(x, layer.activation, getattr(layer, "slope", 0.01))
    raise ValueError(f"to_onnx: layer {where} ({type(layer).__name__}) has no ONNX export")


def export_estimator(est, path=None):
    """The ONNX graph of a fitted :mod:`nncore.sklearn` estimator (``est.to_onnx``).

    Input ``"X"`` of shape ``(N, n_features_in_)`` in the estimator's dtype. As skl2onnx's
    MLP converter (with ``zipmap=False``), a classifier outputs ``"label"`` (``(N,)``: the
    class labels, int64 or string; ``(N, classes)`` int64 0/1 for multilabel targets) and
    ``"probabilities"`` (``(N, classes)``); a regressor outputs ``"variable"``
    (``(N, n_outputs_)``).
    """
    onnx = _onnx()
    TP = onnx.TensorProto
    dtype = est.coefs_[0].dtype
    g = _Graph(dtype)
    x = "X"
    act = SKLEARN_NAMES[est.activation]
    last = len(est.coefs_) - 1
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        x = g.dense(x, w, b, act if i < last else "identity")
    inputs = [g.tensor("X", g.elem, est.n_features_in_)]
    if est.out_activation_ == "identity":
        g.node("Identity", [x], "identity", "variable")
        model = g.model(inputs, [g.tensor("variable", g.elem, est.n_outputs_)],
                        "nncore.sklearn.MLPRegressor")
        return _save(model, path)
    classes = np.asarray(est.classes_)
    multilabel = est._label_binarizer.y_type_.startswith("multilabel")
    if est.out_activation_ == "softmax":
        probs = g.activation(x, "softmax", output="probabilities")
    else:
        p = g.activation(x, "sigmoid")
        if multilabel:
            probs = g.node("Identity", [p], "identity", "probabilities")
        else:
            one = g.const(np.ones((1, 1), dtype), "one")
            q = g.node("Sub", [one, p], "sub")
            probs = g.node("Concat", [q, p], "concat", "probabilities", axis=1)
    n_cols = len(classes) if len(classes) > 1 or multilabel else 2
    if multilabel:
        half = g.const(np.array(0.5, dtype), "half")
        hit = g.node("Greater", [probs, half], "greater")
        g.node("Cast", [hit], "cast", "label", to=TP.INT64)
        label_info = onnx.helper.make_tensor_value_info("label", TP.INT64, ["N", n_cols])
    else:
        index = g.node("ArgMax", [probs], "argmax", axis=1, keepdims=0)
        if len(classes) == 1:  # one class seen: column 0 of [1 - p, p] is that class
            classes = np.array([classes[0], classes[0]])
        if classes.dtype.kind in "iub":
            table, elem = classes.astype(np.int64), TP.INT64
        else:
            table, elem = np.array([str(c) for c in classes], dtype=object), TP.STRING
        g.node("Gather", [g.const(table, "classes"), index], "gather", "label", axis=0)
        label_info = onnx.helper.make_tensor_value_info("label", elem, ["N"])
    model = g.model(inputs, [label_info, g.tensor("probabilities", g.elem, n_cols)],
                    "nncore.sklearn.MLPClassifier")
    return _save(model, path)
