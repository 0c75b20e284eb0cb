"""PyTorch weight interop: nn.Sequential <-> nncore.Sequential."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import nncore as nc  # noqa: E402

ACTS = [nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.LeakyReLU(0.2), nn.Identity()]


@pytest.mark.parametrize("act", ACTS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("tdtype", [torch.float64, torch.float32])
def test_from_torch_matches_torch(act, tdtype):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 7), act, nn.Linear(7, 3, bias=False), nn.Softmax(dim=-1))
    module = module.to(tdtype)
    model = nc.Sequential.from_torch(module)
    assert model.dtype == (np.float64 if tdtype == torch.float64 else np.float32)
    assert model.layers[0].w.shape == (5, 7)  # (in, out): torch's weight transposed
    x = np.random.default_rng(0).normal(size=(11, 5))
    with torch.no_grad():
        want = module(torch.from_numpy(x).to(tdtype)).double().numpy()
    tol = 1e-6 if tdtype == torch.float64 else 1e-5
    np.testing.assert_allclose(model.predict(x), want, rtol=tol, atol=tol * 1e-2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_to_torch_round_trip(dtype):
    model = nc.Sequential([nc.Dense(4, 6, activation="tanh"), nc.Dense(6, 5), nc.ReLU(),
                           nc.Dense(5, 2, activation="leaky_relu", slope=0.1),
                           nc.Sigmoid()], seed=3, dtype=dtype)
    module = model.to_torch()
    x = np.random.default_rng(1).normal(size=(9, 4)).astype(dtype)
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    tol = 1e-6 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, model.predict(x), rtol=tol, atol=tol * 1e-2)
    back = nc.Sequential.from_torch(module)
    for a, b in zip(back.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    # a copy, not a view: training the torch module leaves the nncore model alone
    with torch.no_grad():
        module[0].weight.add_(1.0)
    np.testing.assert_array_equal(back.layers[0].w.data, model.layers[0].w.data)


def test_trained_in_torch_predicts_the_same_in_nncore():
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    x = torch.randn(64, 2, dtype=torch.float64)
    y = (x[:, :1] * x[:, 1:]).sin()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        nn.functional.mse_loss(module(x), y).backward()
        opt.step()
    model = nc.Sequential.from_torch(module)
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(model.predict(x.numpy()), want, rtol=1e-6, atol=1e-12)


def test_unsupported_layer_is_named():
    module = nn.Sequential(nn.Linear(3, 3), nn.Hardtanh(), nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"layer 1 \(Hardtanh\)"):
        nc.Sequential.from_torch(module)
    with pytest.raises(ValueError, match="nn.Sequential"):
        nc.Sequential.from_torch(nn.Linear(3, 3))


@pytest.mark.parametrize("module", [nn.Softmax(dim=0), nn.ReLU6(), nn.Softplus(beta=2)],
                         ids=["Softmax(dim=0)", "ReLU6", "Softplus(beta=2)"])
def test_from_torch_refuses_what_it_cannot_copy_exactly(module):
    with pytest.raises(ValueError, match=r"layer 1 .* is not supported; nncore takes nn.Linear"):
        nc.Sequential.from_torch(nn.Sequential(nn.Linear(3, 4), module))
