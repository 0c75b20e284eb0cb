"""ONNX export of every layer nncore has besides the norms (Dropout, GELU in both forms,
SiLU, Softplus, Flatten, Residual blocks, Dense(units)), run by onnxruntime in float32 and
float64 and compared with nncore's predictions."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nncore as nc  # noqa: E402

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
# onnxruntime has no float64 Erf: the exact GELU's erf is taken in float32 in a float64
# graph (docs/onnx.md), so those graphs agree to float32's precision
GELU64 = dict(rtol=1e-6, atol=1e-6)


def _run(proto, x):
    onnx.checker.check_model(proto)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "silu", "softplus"])
@pytest.mark.parametrize("as_layer", [False, True])
def test_from_input_activations(act, dtype, as_layer):
    if as_layer:
        layer = {"gelu": nc.GELU(), "gelu_tanh": nc.GELU("tanh"), "silu": nc.SiLU(),
                 "softplus": nc.Softplus()}[act]
        layers = [nc.Dense(6, 9), layer, nc.Dense(9, 4)]
    else:
        layers = [nc.Dense(6, 9, act), nc.Dense(9, 4, act)]
    model = nc.Sequential(layers, seed=1, dtype=dtype)
    # wide inputs: both sides of softplus's threshold (20) and gelu's tails
    x = np.random.default_rng(0).normal(scale=12, size=(40, 6)).astype(dtype)
    got = _run(model.to_onnx(), x)
    assert got.dtype == dtype
    want = model.predict(x)
    tol = dict(GELU64 if (act == "gelu" and dtype == np.float64) else TOL[dtype])
    tol["atol"] *= np.abs(want).max()  # outputs up to ~10: their rounding, not relative
    np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_residual_flatten_dropout(dtype, tmp_path):
    model = nc.Sequential(
        nc.Flatten(), nc.Dense(12, 8, "relu"), nc.Dropout(0.5),
        nc.Residual(nc.Dense(8, 8, "tanh"), nc.Dropout(0.2),
                    nc.Residual(nc.Dense(8, 8, "silu"), nc.LeakyReLU(0.1))),
        nc.Residual(nc.Dense(8, 8)), nc.Dense(8, 3), nc.Softmax(), nc.Dropout(0.1),
        seed=2, dtype=dtype, input_shape=(3, 4))
    proto = model.to_onnx(tmp_path / "m.onnx")
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] \
        == ["N", 3, 4]
    assert [n.op_type for n in proto.graph.node].count("Add") >= 3 + 5  # 3 residuals + biases
    assert "Flatten" in [n.op_type for n in proto.graph.node]
    x = np.random.default_rng(1).normal(size=(17, 3, 4)).astype(dtype)
    np.testing.assert_allclose(_run(proto, x), model.predict(x), **TOL[dtype])


def test_mnist1d_mlp_and_keras_style_model():
    model = nc.Sequential(nc.Dense(256, "relu"), nc.Residual(nc.Dense(256, "relu")),
                          nc.Dense(10), seed=0)
    with pytest.raises(ValueError, match="input shape is not known"):
        model.to_onnx()
    x = np.random.default_rng(2).normal(size=(9, 40)).astype(np.float32)
    want = model.predict(x)  # builds it
    np.testing.assert_allclose(_run(model.to_onnx(), x), want, **TOL[np.float32])


def test_flatten_model_without_input_shape_is_refused():
    model = nc.Sequential(nc.Flatten(), nc.Dense(12, 2))
    with pytest.raises(ValueError, match="input shape is not known"):
        model.to_onnx()
