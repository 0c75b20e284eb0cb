"""LayerNorm and BatchNorm1d in the ecosystem faces: ONNX export run by onnxruntime
(float32 and float64), and to_torch / from_torch round trips with parameters and running
statistics."""
import numpy as np
import pytest

import nncore as nc

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-10)}


def _model(dtype, **bn):
    model = nc.Sequential([nc.Dense(5, 8), nc.BatchNorm1d(8, **bn), nc.ReLU(), nc.Dense(8, 6),
                           nc.LayerNorm(6), nc.Tanh(), nc.Dense(6, 3)], seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    for p in model.layers[1].parameters() + model.layers[4].parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape)  # not the identity affine
    for _ in range(3):  # running statistics away from 0 / 1
        model.forward((rng.standard_normal((16, 5)) * 3 + 2).astype(dtype))
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bn", [{}, {"affine": False}, {"track_running_stats": False}],
                         ids=["affine", "no-affine", "batch-stats"])
def test_onnx_export_runs_in_onnxruntime(dtype, bn):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = _model(dtype, **bn)
    ops = [n.op_type for n in model.to_onnx().graph.node]
    assert "LayerNormalization" in ops
    assert ("BatchNormalization" in ops) == bn.get("track_running_stats", True)
    x = (np.random.default_rng(2).standard_normal((11, 5)) * 2).astype(dtype)
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, model.predict(x), **TOL[dtype])


def test_onnx_model_may_start_with_a_norm():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = nc.Sequential([nc.BatchNorm1d(4), nc.Dense(4, 2)], seed=0)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model.forward(x * 5 + 1)
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], model.predict(x), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bn", [{}, {"affine": False, "momentum": None},
                                {"track_running_stats": False}])
def test_torch_round_trip(dtype, bn):
    torch = pytest.importorskip("torch")
    model = _model(dtype, **bn)
    module = model.to_torch()
    tbn, tln = module[1], module[4]
    assert isinstance(tbn, torch.nn.BatchNorm1d) and isinstance(tln, torch.nn.LayerNorm)
    assert tbn.momentum == model.layers[1].momentum and tbn.affine == model.layers[1].affine
    if model.layers[1].track_running_stats:
        np.testing.assert_array_equal(tbn.running_mean.numpy(), model.layers[1].running_mean)
        np.testing.assert_array_equal(tbn.running_var.numpy(), model.layers[1].running_var)
        assert int(tbn.num_batches_tracked) == model.layers[1].num_batches_tracked == 3
    x = np.random.default_rng(3).standard_normal((9, 5)).astype(dtype)
    with torch.no_grad():
        want = module.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), want, **TOL[dtype])
    back = nc.Sequential.from_torch(module)
    assert back.dtype == np.dtype(dtype)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers]
    assert back.layers[1].get_config() == model.layers[1].get_config()
    assert back.layers[4].get_config() == model.layers[4].get_config()
    for a, b in zip(model.parameters(), back.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    for k, v in model.layers[1].buffers().items():
        np.testing.assert_array_equal(back.layers[1].buffers()[k], v)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_from_torch_refuses_what_nncore_lacks():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with pytest.raises(ValueError, match=r"layer 1 \(LayerNorm\) normalises over \(2, 3\)"):
        nc.Sequential.from_torch(nn.Sequential(nn.Linear(6, 6), nn.LayerNorm((2, 3))))
    with pytest.raises(ValueError, match=r"layer 1 \(LayerNorm\) has a weight but no bias"):
        nc.Sequential.from_torch(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3, bias=False)))
