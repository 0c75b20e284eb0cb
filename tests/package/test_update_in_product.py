"""The native plain step updates a Dense layer's weights inside its weight-gradient product:
the GEMM hands each block of grad_w over once it is final (GemmEpilogue::block_done) and
the optimiser kernel updates those weights while the block is hot; the input gradient is
computed first, from the weights before the step. The python engine updates after the
whole backward: the engines' weights, gradients (p.grad still holds the step's gradient),
optimiser state and History must agree bit for bit.

The layer shapes send the weight-gradient products (in x out over the batch) down every
path of the GEMM: the small products' loop with the rows outer (batch 64), the blocked
driver with two k-blocks (batch 300 > KC = 256) and ragged last panels, on 1 and 2 threads,
including a wide layer whose tasks own column panels (the hook then gets column ranges and
updates row by row), a gelu layer (its derivative kept from the forward) and a softmax
output; a block skipped or updated twice changes the weights."""
import numpy as np
import pytest

import nncore as nc

from .test_engine import assert_same, fit_both

OPTIMIZERS = {
    "sgd": lambda: nc.SGD(lr=0.05),
    "nesterov_wd": lambda: nc.SGD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "dampening": lambda: nc.SGD(lr=0.05, momentum=0.5, dampening=0.3),
    "adamw_amsgrad": lambda: nc.AdamW(lr=0.01, amsgrad=True, weight_decay=0.05),
    "rmsprop_centered": lambda: nc.RMSprop(lr=0.005, momentum=0.9, centered=True,
                                           weight_decay=0.01),
}


def net(dtype):
    # 131 -> 70 -> 1500 -> 67 -> softmax over 5: ragged panels for every tile size; the
    # 70 x 1500 weight gradient has few rows and many column panels
    return nc.Sequential([nc.Dense(131, 70, "relu"), nc.Dense(70, 1500, "gelu"),
                          nc.Dense(1500, 67, "tanh"), nc.Dense(67, 5, "softmax")],
                         seed=4, dtype=dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch_size", [64, 300])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_weights_updated_in_the_product_are_the_python_step(name, batch_size, threads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((600, 131))
    y = rng.dirichlet(np.ones(5), 600)
    results = fit_both(lambda: net("float32"), x, y, threads=threads,
                       make_opt=OPTIMIZERS[name], loss="mse", epochs=2,
                       batch_size=batch_size, seed=1)
    assert_same(results)
    for before, after in zip(net("float32").layers, results[1][0].layers):
        # the step moved the weights (most: a dead relu unit's weights keep a zero gradient)
        assert np.mean(before.w.data != after.w.data) > 0.5


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["nesterov_wd", "adamw_amsgrad", "rmsprop_centered"])
def test_float64(name, threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, 131))
    y = rng.dirichlet(np.ones(5), 600)
    assert_same(fit_both(lambda: net("float64"), x, y, threads=threads,
                         make_opt=OPTIMIZERS[name], loss="mse", epochs=2, batch_size=300,
                         seed=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_left_after_fit(dtype):
    """After fit each weight's .grad holds the last step's gradient (the hook reads it and
    writes only the weights and the optimiser state), as the python engine leaves it: the
    gradient recomputed from the weights before the last step."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 131))
    y = rng.dirichlet(np.ones(5), 64)
    m = net(dtype)
    m.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.05, momentum=0.9), epochs=2,
          batch_size=64, shuffle=False, verbose=0, engine="native")
    twin = net(dtype)
    twin.fit(x, y, loss="mse", optimizer=nc.SGD(lr=0.05, momentum=0.9), epochs=1,
             batch_size=64, shuffle=False, verbose=0, engine="python")
    twin.zero_grad()
    loss = nc.MSELoss()
    loss(twin.forward(x.astype(dtype)), y.astype(dtype))
    twin.backward(loss.backward())
    for a, b in zip(m.parameters(), twin.parameters()):
        assert np.any(b.grad != 0)
        assert a.grad.tobytes() == b.grad.tobytes()
