"""ONNX export, checked by onnx.checker and run by onnxruntime against nncore's own
predictions."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nncore as nc  # noqa: E402
from nncore.onnx import OPSET  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _run(model_proto, x, output=None):
    sess = ort.InferenceSession(model_proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None if output is None else [output], {name: x})
    return outs


def _model(act, dtype, final=None, as_layer=False):
    if as_layer:
        layers = [nc.Dense(6, 9), nc.layers.activation_layer(act), nc.Dense(9, 4)]
    else:
        layers = [nc.Dense(6, 9, activation=act), nc.Dense(9, 5, activation=act),
                  nc.Dense(5, 4)]
    if final is not None:
        layers.append(nc.layers.activation_layer(final))
    return nc.Sequential(layers, seed=1, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["identity", "relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("as_layer", [False, True])
def test_sequential_matches_onnxruntime(tmp_path, act, dtype, as_layer):
    model = _model(act, dtype, as_layer=as_layer)
    path = tmp_path / "m.onnx"
    proto = model.to_onnx(path)
    onnx.checker.check_model(onnx.load(str(path)))
    assert proto.opset_import[0].version == OPSET
    x = np.random.default_rng(0).normal(scale=2, size=(37, 6)).astype(dtype)
    (got,) = _run(proto, x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, model.predict(x), **TOL[dtype])
    # the batch dimension is dynamic
    (one,) = _run(proto, x[:1])
    np.testing.assert_allclose(one, model.predict(x[:1]), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("final", ["softmax", "sigmoid"])
def test_probability_heads(final, dtype):
    model = _model("relu", dtype, final=final)
    x = np.random.default_rng(1).normal(size=(20, 6)).astype(dtype)
    (got,) = _run(model.to_onnx(), x)
    np.testing.assert_allclose(got, model.predict(x), **TOL[dtype])


def test_leaky_relu_slope_is_exported():
    model = nc.Sequential([nc.Dense(3, 4), nc.LeakyReLU(slope=0.3), nc.Dense(4, 2)], seed=0)
    x = -np.abs(np.random.default_rng(2).normal(size=(10, 3))).astype(np.float32)
    (got,) = _run(model.to_onnx(), x)
    np.testing.assert_allclose(got, model.predict(x), **TOL[np.float32])


def test_trained_model_round_trip():
    x, y = nc.spirals(n=200, seed=0)
    model = nc.Sequential([nc.Dense(x.shape[1], 16, activation="tanh"),
                           nc.Dense(16, int(y.max()) + 1)], seed=0)
    model.fit(x, y, loss="cross_entropy", optimizer=nc.Adam(lr=0.01), epochs=5, verbose=0)
    (got,) = _run(model.to_onnx(), x.astype(np.float32))
    np.testing.assert_allclose(got, model.predict(x), **TOL[np.float32])


def test_unsupported_layer_is_named():
    class Odd(nc.layers.Layer):
        pass

    model = nc.Sequential([nc.Dense(2, 2)])
    model.layers.append(Odd())
    model._skip.append(False)
    with pytest.raises(ValueError, match="Odd"):
        model.to_onnx()


# ---------------------------------------------------------------- estimators

sk = pytest.importorskip("sklearn")
from nncore.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _xy(kind, n=80):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 4))
    if kind == "binary":
        return X, np.where(X[:, 0] > 0, "yes", "no")
    if kind == "multiclass":
        return X, np.digitize(X[:, 0], [-0.5, 0.5]) * 10
    if kind == "multilabel":
        return X, (X[:, :3] > 0).astype(int)
    return X, X @ rng.normal(size=(4, 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_classifier_outputs_label_and_probabilities(tmp_path, kind, dtype, activation):
    X, y = _xy(kind)
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation=activation, max_iter=20,
                        random_state=0, dtype=dtype)
    clf.fit(X, y)
    proto = clf.to_onnx(tmp_path / "clf.onnx")
    onnx.checker.check_model(proto)
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    Xq = X.astype(dtype)
    label, proba = _run(proto, Xq)
    np.testing.assert_allclose(proba, clf.predict_proba(Xq), **TOL[np.dtype(dtype).type])
    np.testing.assert_array_equal(label.astype(clf.predict(X).dtype), clf.predict(Xq))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regressor_outputs_variable(dtype):
    X, y = _xy("regression")
    reg = MLPRegressor(hidden_layer_sizes=(8, 5), max_iter=20, random_state=0, dtype=dtype)
    reg.fit(X, y)
    proto = reg.to_onnx()
    (got,) = _run(proto, X.astype(dtype))
    np.testing.assert_allclose(got, reg.predict(X.astype(dtype)), **TOL[np.dtype(dtype).type])


def test_unfitted_estimator_refuses():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        MLPRegressor().to_onnx()
