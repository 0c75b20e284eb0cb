"""torch round trips of the layers beyond Linear and the classic activations: Dropout,
GELU (both forms), SiLU, Softplus, Flatten and residual blocks (nncore.interop.TorchResidual)."""
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import nncore as nc  # noqa: E402
from nncore.interop import residual_module_class  # noqa: E402


def _model(dtype):
    return nc.Sequential(
        nc.Flatten(), nc.Dense(12, 8, "gelu"), nc.Dropout(0.25),
        nc.Residual(nc.Dense(8, 8, "gelu_tanh"), nc.SiLU(), nc.Dropout(0.1),
                    nc.Residual(nc.Dense(8, 8, "softplus"), nc.GELU(), nc.Softplus())),
        nc.Dense(8, 8, "silu"), nc.GELU("tanh"), nc.Dense(8, 3), seed=4, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_to_torch_and_back(dtype):
    model = _model(dtype)
    module = model.to_torch()
    assert module.training  # the model's mode comes along
    Residual = residual_module_class()
    assert [type(m) for m in module][:4] == [nn.Flatten, nn.Linear, nn.GELU, nn.Dropout]
    block = module[4]
    assert type(block) is Residual and type(block.body[4]) is Residual
    assert block.body[1].approximate == "tanh"
    x = np.random.default_rng(1).normal(scale=3, size=(9, 3, 4)).astype(dtype)
    with torch.no_grad():
        got = module.eval()(torch.from_numpy(x)).numpy()
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, model.predict(x), rtol=tol, atol=tol)
    back = nc.Sequential.from_torch(module)
    assert back.dtype == model.dtype
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert [type(layer) for layer in back[4].layers] == \
        [nc.Dense, nc.GELU, nc.SiLU, nc.Dropout, nc.Residual]
    assert back[3].p == 0.25


def test_a_torch_trained_residual_net_predicts_the_same_in_nncore():
    torch.manual_seed(0)
    Residual = residual_module_class()
    module = nn.Sequential(nn.Linear(40, 32), nn.ReLU(),
                           Residual(nn.Linear(32, 32), nn.ReLU()),
                           nn.Dropout(0.1), nn.Linear(32, 10)).double()
    x = torch.randn(128, 40, dtype=torch.float64)
    y = torch.randint(0, 10, (128,))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    module.eval()
    model = nc.Sequential.from_torch(module)
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(model.predict(x.numpy()), want, rtol=1e-12, atol=1e-12)
    assert [n for n, _ in model.named_parameters()][2:4] == ["residual_2.0.w",
                                                             "residual_2.0.b"]


def test_torch_residual_pickles_by_name():
    module = nc.Sequential(nc.Dense(4, 4), nc.Residual(nc.Dense(4, 4, "relu")),
                           seed=0).to_torch()
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    assert type(again[1]).__qualname__ == "TorchResidual"
    import nncore.interop
    assert nncore.interop.TorchResidual is residual_module_class()


@pytest.mark.parametrize("module", [nn.Softplus(beta=2), nn.Flatten(0), nn.Hardtanh()],
                         ids=["Softplus(beta=2)", "Flatten(0)", "Hardtanh"])
def test_from_torch_refuses_what_it_cannot_copy_exactly(module):
    with pytest.raises(ValueError, match=r"layer 1 .* is not supported; nncore takes nn.Linear"):
        nc.Sequential.from_torch(nn.Sequential(nn.Linear(3, 3), module))


def test_unsupported_layer_inside_a_block_is_named():
    Residual = residual_module_class()
    module = nn.Sequential(nn.Linear(3, 3), Residual(nn.Linear(3, 3), nn.ReLU6()))
    with pytest.raises(ValueError, match=r"layer 1\.body\.1 \(ReLU6\)"):
        nc.Sequential.from_torch(module)
