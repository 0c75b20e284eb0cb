"""Every kernel set gives the same bits as the generic set where both compute the same
operations, signed zeros included: activations without exp (identity, relu, leaky_relu),
every activation's backward, MSE per element, the SGD, Adam (AdamW, amsgrad) and RMSprop
updates, and the zeros and signs of the exp-based results
(sigmoid, tanh, softmax, cross-entropy and BCE gradients), whose values differ by a few
ulps between std::exp and the SIMD polynomial (mean losses, sums added in another
order, agree to a relative 1e-5 / 1e-12). Each set runs in a subprocess
(NNCORE_ISA); the results come back as raw bytes."""
import textwrap

import numpy as np
import pytest

import nncore
from conftest import arrays_under_isa

SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore, nncore.functional as F

    out = {}
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        special = np.array([-0.0, 0.0, 1e-30, -1e-30, 1.0, -1.0, 3.5, -3.5, 40.0, -40.0,
                            800.0, -800.0, np.inf, -np.inf], dtype=dtype)
        x = np.concatenate([special, (rng.standard_normal(101) * 4).astype(dtype)])
        # outputs of the activations, with their signed zeros
        y = np.concatenate([special[:2], np.array([0.5, -0.5, 1.0, -1.0], dtype),
                            rng.random(37).astype(dtype)])
        gy = np.resize(np.array([-0.0, 0.0, 1.0, -2.0, 0.25], dtype), y.shape)
        for act in ["identity", "relu", "sigmoid", "tanh", "leaky_relu"]:
            out[f"{act}/{d}"] = getattr(F, act)(x)
            out[f"{act}_backward/{d}"] = getattr(F, act + "_backward")(y, gy)
        # the activations whose backward takes the input x
        gx = np.resize(gy, x.shape)
        for act, kw in [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
                        ("softplus", {})]:
            key = act + ("_tanh" if kw else "")
            out[f"{key}/{d}"] = getattr(F, act)(x, **kw)
            out[f"{key}_backward/{d}"] = getattr(F, act + "_backward")(x, gx, **kw)
        # rows far from uniform: exp underflows to 0, so softmax and the gradient hold
        # exact zeros (and -0.0 at the label of a row that is certain)
        rows, classes = 64, 10
        z = (rng.standard_normal((rows, classes)) * 3).astype(dtype)
        z[::2, 0] = 2000.0 if dtype == np.float64 else 200.0
        z[1::4] = 0.0
        labels = np.arange(rows) % classes
        labels[::2] = 0
        for red in ["mean", "none"]:
            l, g = F.cross_entropy_and_grad(z, labels, red)
            out[f"ce_labels/{red}/{d}"], out[f"ce_labels_grad/{red}/{d}"] = np.asarray(l, dtype), g
            p = np.eye(classes, dtype=dtype)[labels]
            l, g = F.cross_entropy_and_grad(z, p, red)
            out[f"ce_probs/{red}/{d}"], out[f"ce_probs_grad/{red}/{d}"] = np.asarray(l, dtype), g
            t = np.resize(np.array([0.0, 1.0, 0.5], dtype), z.shape)
            l, g = F.binary_cross_entropy_with_logits_and_grad(z, t, red)
            out[f"bce/{red}/{d}"], out[f"bce_grad/{red}/{d}"] = np.asarray(l, dtype), g
            l, g = F.mse_loss_and_grad(z, t, red)
            out[f"mse/{red}/{d}"], out[f"mse_grad/{red}/{d}"] = np.asarray(l, dtype), g
        # optimiser updates: the same operations in the same order in every set
        n = 1000 + 13  # whole vectors and a tail
        p0 = rng.standard_normal(n).astype(dtype)
        p0[:4] = [0.0, -0.0, 1e-30, -1e-30]
        grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
        grads[0][:4] = [-0.0, 0.0, 0.0, -0.0]
        for name, kw in [("plain", dict()), ("momentum", dict(momentum=0.9, dampening=0.2)),
                         ("nesterov", dict(momentum=0.8, nesterov=True, weight_decay=0.01))]:
            p, v = p0.copy(), np.zeros(n, dtype)
            for i, g in enumerate(grads):
                F.sgd_step(p, g, v, lr=0.1, first=i == 0, **kw)
            out[f"sgd_{name}/{d}"], out[f"sgd_{name}_velocity/{d}"] = p, v
        p, m, v = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
        for i, g in enumerate(grads):
            F.adam_step(p, g, m, v, step=i + 1, lr=0.01, weight_decay=0.01)
        out[f"adam/{d}"], out[f"adam_m/{d}"], out[f"adam_v/{d}"] = p, m, v
        p, m, v, mx = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)
        for i, g in enumerate(grads):  # AdamW with amsgrad
            F.adam_step(p, g, m, v, mx, step=i + 1, lr=0.01, weight_decay=0.1,
                        decoupled_weight_decay=True)
        out[f"adamw_amsgrad/{d}"], out[f"adamw_amsgrad_max_v/{d}"] = p, mx
        for name, kw in [("plain", dict()), ("all", dict(momentum=0.9, centered=True,
                                                        weight_decay=0.01))]:
            p, sq, b, c = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype), np.zeros(n, dtype)
            for g in grads:
                F.rmsprop_step(p, g, sq, b, c, lr=0.01, **kw)
            out[f"rmsprop_{name}/{d}"], out[f"rmsprop_{name}_sq/{d}"] = p, sq
            out[f"rmsprop_{name}_buf/{d}"], out[f"rmsprop_{name}_ga/{d}"] = b, c
        out[f"softmax/{d}"] = F.softmax(z)
        out[f"log_softmax/{d}"] = F.log_softmax(z)
    out["isa"] = np.array(nncore.config()["isa"])
    np.savez(sys.argv[1], **out)
""")

# Same operations in every set (no exp, log or division by a computed sum).
EXACT = ("identity/", "relu/", "leaky_relu/", "identity_backward/", "relu_backward/",
         "leaky_relu_backward/", "sigmoid_backward/", "tanh_backward/", "mse/", "mse_grad/",
         "sgd_", "adam", "rmsprop_")
ULPS = 8


def results(isa, tmp_path):
    res = arrays_under_isa(SCRIPT, isa, tmp_path)
    assert str(res.pop("isa")) == isa
    return res


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    return results("generic", tmp_path_factory.mktemp("generic"))


@pytest.mark.parametrize("isa", [s for s in ("avx2", "avx512")
                                 if s in nncore.config()["isa_supported"]])
def test_kernel_set_agrees_with_generic_bit_for_bit(isa, generic, tmp_path):
    got = results(isa, tmp_path)
    assert got.keys() == generic.keys()
    for key, want in generic.items():
        have = got[key]
        assert have.dtype == want.dtype and have.shape == want.shape, key
        if "/mean/" in key:  # a sum: the sets add in different (fixed) orders
            rtol = 1e-5 if want.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(have, want, rtol=rtol, err_msg=key)
            continue
        if key.startswith(EXACT):
            np.testing.assert_array_equal(have.view(np.uint8), want.view(np.uint8),
                                          err_msg=f"{key}: bits differ")
            continue
        # the same NaNs, infinities, zeros and signs (signed zeros included) ...
        np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=key)
        np.testing.assert_array_equal(have[np.isinf(want)], want[np.isinf(want)], err_msg=key)
        np.testing.assert_array_equal(have == 0, want == 0, err_msg=f"{key}: zeros differ")
        np.testing.assert_array_equal(np.signbit(have), np.signbit(want),
                                      err_msg=f"{key}: signs differ")
        # ... and finite values a few ulps of the output's scale apart
        fin = np.isfinite(want)
        eps = np.finfo(want.dtype).eps
        scale = float(np.abs(want[fin]).max(initial=0.0))
        np.testing.assert_allclose(have[fin], want[fin], rtol=ULPS * eps,
                                   atol=ULPS * eps * scale, err_msg=key)


def test_signed_zero_gradient_at_a_certain_label(generic):
    """A row whose label's logit dominates: softmax is exactly 1 there, the gradient
    -0.0 (as -gscale * rest / s with rest = 0) and +0.0 elsewhere, in the spec."""
    for d in ("float32", "float64"):
        g = generic[f"ce_labels_grad/mean/{d}"]
        assert np.signbit(g[0, 0]) and g[0, 0] == 0
        assert not np.signbit(g[0, 1:]).any() and (g[0, 1:] == 0).all()
