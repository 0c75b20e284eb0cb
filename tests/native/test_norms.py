"""layer_norm, batch_norm and their backward passes: the native kernels against their
NumPy twins (shapes, dtypes, layouts, thread counts, every kernel set), bitwise equality
across thread counts and schedules, float64 central differences, PyTorch (float64, 1e-10,
running statistics included) and the error messages."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R
from nncore import _core

from conftest import TOL, assert_close, layouts, numeric_grad

LN_SHAPES = [(1, 1), (3, 5), (7, 16), (17, 33), (64, 129), (4, 3, 70), (9,)]
BN_SHAPES = [(2, 1), (3, 5), (7, 16), (17, 65), (64, 129), (300, 7)]


def _close_to_scale(got, want, dtype, scale):
    """|got - want| within the dtype's tolerance of the terms' scale (grad_x of a batch
    norm cancels to ~0 for tiny batches: the output's own scale would be noise)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(float(scale), float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0))
    assert err <= TOL[np.dtype(dtype)] * scale, f"error {err:.3g} at scale {scale:.3g}"


def _affine(rng, n, dtype, which):
    w = rng.uniform(0.5, 1.5, n).astype(dtype) if "w" in which else None
    b = rng.standard_normal(n).astype(dtype) if "b" in which else None
    return w, b


@pytest.mark.parametrize("shape", LN_SHAPES)
@pytest.mark.parametrize("which", ["", "w", "wb"])
def test_layer_norm_matches_reference(shape, which, dtype, threads, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, b = _affine(rng, shape[-1], dtype, which)
    gy = rng.standard_normal(shape).astype(dtype)
    before = x.copy()
    got, want = F.layer_norm(x, w, b), R.layer_norm(x, w, b)
    for g, r in zip(got, want):
        assert g.dtype == dtype and g.shape == r.shape
        assert_close(g, r, dtype)
    _, mean, rstd = want
    terms = np.abs(gy).max() * np.abs(rstd.astype(np.float64)).max() * \
        (1 if w is None else np.abs(w).max())
    for g, r in zip(F.layer_norm_backward(x, mean, rstd, gy, w),
                    R.layer_norm_backward(x, mean, rstd, gy, w)):
        assert g.dtype == dtype and g.shape == r.shape
        _close_to_scale(g, r, dtype, terms)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("which", ["", "wb"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_reference(shape, which, training, dtype, threads, rng):
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    w, b = _affine(rng, shape[1], dtype, which)
    gy = rng.standard_normal(shape).astype(dtype)
    rm0 = rng.standard_normal(shape[1]).astype(dtype)
    rv0 = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    rm, rv, rm_ref, rv_ref = rm0.copy(), rv0.copy(), rm0.copy(), rv0.copy()
    before = x.copy()
    got = F.batch_norm(x, rm, rv, w, b, training, 0.3)
    want = R.batch_norm(x, rm_ref, rv_ref, w, b, training, 0.3)
    for g, r in zip(got, want):
        assert g.dtype == dtype
        assert_close(g, r, dtype)
    assert_close(rm, rm_ref, dtype)
    assert_close(rv, rv_ref, dtype)
    if not training:  # eval reads the running statistics, never writes them
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
    _, mean, rstd = want
    terms = np.abs(gy).max() * np.abs(rstd.astype(np.float64) * (1 if w is None else w)).max()
    for g, r in zip(F.batch_norm_backward(x, mean, rstd, gy, w, training),
                    R.batch_norm_backward(x, mean, rstd, gy, w, training)):
        assert g.dtype == dtype
        _close_to_scale(g, r, dtype, terms)
    np.testing.assert_array_equal(x, before)


def test_any_layout(rng):
    x = rng.standard_normal((9, 12))
    w, b = _affine(rng, 12, np.float64, "wb")
    gy = rng.standard_normal((9, 12))
    ln, bn = R.layer_norm(x, w, b), R.batch_norm(x, None, None, w, b, True)
    ln_b = R.layer_norm_backward(x, ln[1], ln[2], gy, w)
    bn_b = R.batch_norm_backward(x, bn[1], bn[2], gy, w, True)
    for name, xl in layouts(x):
        for name_g, gl in layouts(gy):
            for g, r in zip(F.layer_norm(xl, w, b), ln):
                assert_close(g, r, np.float64)
            for g, r in zip(F.layer_norm_backward(xl, ln[1], ln[2], gl, w), ln_b):
                assert_close(g, r, np.float64)
            for g, r in zip(F.batch_norm(xl, None, None, w, b, True), bn):
                assert_close(g, r, np.float64)
            for g, r in zip(F.batch_norm_backward(xl, bn[1], bn[2], gl, w, True), bn_b):
                assert_close(g, r, np.float64)


def test_dtype_promotion_and_integers(rng):
    x32 = rng.standard_normal((4, 3)).astype(np.float32)
    assert F.layer_norm(x32)[0].dtype == np.float32
    assert F.layer_norm(x32, np.ones(3))[0].dtype == np.float64
    assert F.batch_norm(np.arange(12).reshape(4, 3), training=True)[0].dtype == np.float64
    assert R.layer_norm(x32, np.ones(3))[0].dtype == np.float64


def test_out_tuples_are_written(rng):
    x = rng.standard_normal((6, 5))
    outs = (np.empty((6, 5)), np.empty(6), np.empty(6))
    res = F.layer_norm(x, out=outs)
    assert all(r is o for r, o in zip(res, outs))
    for g, r in zip(outs, R.layer_norm(x)):
        assert_close(g, r, np.float64)
    gouts = (np.empty((6, 5)), np.empty(5), np.empty(5))
    res = F.batch_norm_backward(x, np.zeros(5), np.ones(5), x, None, True, out=gouts)
    assert all(r is o for r, o in zip(res, gouts))


# --------------------------------------------------------------- threads: same bits

@pytest.mark.parametrize("schedule", ["normal", "shuffle", "slow_worker"])
def test_bitwise_across_thread_counts_and_schedules(schedule, dtype, rng):
    # large enough that two threads take part (threads_for), odd sizes for the tails
    x = (rng.standard_normal((1203, 517)) * 2 + 0.5).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    w, b = _affine(rng, 517, dtype, "wb")
    runs = []
    _core._set_debug_schedule(schedule)
    try:
        for n in (1, 2, 1, 2):
            with nncore.threads(n):
                rm, rv = np.zeros(517, dtype), np.ones(517, dtype)
                ln = F.layer_norm(x, w, b)
                bn = F.batch_norm(x, rm, rv, w, b, True)
                runs.append(ln + F.layer_norm_backward(x, ln[1], ln[2], gy, w) + bn +
                            (rm, rv) + F.batch_norm_backward(x, bn[1], bn[2], gy, w, True))
    finally:
        _core._set_debug_schedule("normal")
    for run in runs[1:]:
        for a, b_ in zip(runs[0], run):
            np.testing.assert_array_equal(a.view(np.uint8), b_.view(np.uint8))


# ------------------------------------------------------ gradients: central differences

def _check_grads(forward, backward, args, names, rng):
    """backward's gradients of L = sum(y * G) against central differences of forward."""
    y = forward(*args)
    G = rng.standard_normal(y.shape)
    got = backward(*args, G)
    for k, name in enumerate(names):
        def loss(v, k=k):
            a = list(args)
            a[k] = v
            return float(np.sum(forward(*a) * G))
        want = numeric_grad(loss, args[k])
        np.testing.assert_allclose(got[k], want, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (6,)])
def test_layer_norm_numerical_gradient(shape, rng):
    n = shape[-1]
    x, w, b = rng.standard_normal(shape), rng.uniform(0.5, 1.5, n), rng.standard_normal(n)

    def forward(x, w, b):
        return F.layer_norm(x, w, b, 1e-3)[0]

    def backward(x, w, b, G):
        _, mean, rstd = F.layer_norm(x, w, b, 1e-3)
        return F.layer_norm_backward(x, mean, rstd, G, w)

    _check_grads(forward, backward, [x, w, b], ["x", "weight", "bias"], rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_numerical_gradient(training, rng):
    x, w, b = rng.standard_normal((6, 4)), rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)

    def forward(x, w, b):  # the running statistics are read only (eval) or not given
        stats = (None, None) if training else (rm, rv)
        return F.batch_norm(x, *stats, w, b, training, eps=1e-3)[0]

    def backward(x, w, b, G):
        stats = (None, None) if training else (rm, rv)
        _, mean, rstd = F.batch_norm(x, *stats, w, b, training, eps=1e-3)
        return F.batch_norm_backward(x, mean, rstd, G, w, training)

    _check_grads(forward, backward, [x, w, b], ["x", "weight", "bias"], rng)


# ------------------------------------------------------------------- against PyTorch

torch = pytest.importorskip("torch")


def _t(a, grad=False):
    return None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("which", ["", "wb"])
def test_layer_norm_matches_torch(which, rng):
    x = rng.standard_normal((11, 37)) * 4 + 2
    w, b = _affine(rng, 37, np.float64, which)
    gy = rng.standard_normal(x.shape)
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    yt = torch.nn.functional.layer_norm(xt, (37,), wt, bt, 1e-5)
    yt.backward(_t(gy))
    y, mean, rstd = F.layer_norm(x, w, b)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    gx, gw, gb = F.layer_norm_backward(x, mean, rstd, gy, w)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=1e-10)
    if which:
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("which", ["", "wb"])
@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_batch_norm_running_statistics_match_torch(which, momentum, rng):
    n = 13
    w, b = _affine(rng, n, np.float64, which)
    rm, rv = np.zeros(n), np.ones(n)
    rmt, rvt = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    for step in range(5):
        x = rng.standard_normal((8 + step, n)) * (step + 1) + step
        gy = rng.standard_normal(x.shape)
        xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
        yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, True, momentum, 1e-5)
        yt.backward(_t(gy))
        y, mean, rstd = F.batch_norm(x, rm, rv, w, b, True, momentum)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(rm, rmt.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(rv, rvt.numpy(), rtol=0, atol=1e-10)
        gx, gw, gb = F.batch_norm_backward(x, mean, rstd, gy, w, True)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=1e-10)
        if which:
            np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=0, atol=1e-10)
            np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=0, atol=1e-10)
    # eval mode: the running statistics, and the gradient with them held constant
    x = rng.standard_normal((5, n)) * 3
    gy = rng.standard_normal(x.shape)
    xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, False, momentum, 1e-5)
    yt.backward(_t(gy))
    y, mean, rstd = F.batch_norm(x, rm, rv, w, b, False, momentum)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    gx, gw, gb = F.batch_norm_backward(x, mean, rstd, gy, w, False)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=0, atol=1e-10)
    if which:
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=0, atol=1e-10)


# ------------------------------------------------------------------------ errors

@pytest.mark.parametrize("mod", [F, R], ids=["native", "reference"])
def test_errors_name_the_argument(mod):
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"layer_norm: weight must have shape \(3,\)"):
        mod.layer_norm(x, np.ones(4))
    with pytest.raises(ValueError, match=r"layer_norm: bias must have shape \(3,\)"):
        mod.layer_norm(x, None, np.ones(2))
    with pytest.raises(ValueError, match="layer_norm: x must have at least one feature"):
        mod.layer_norm(np.zeros((3, 0)))
    with pytest.raises(TypeError, match="layer_norm: x must be a real floating"):
        mod.layer_norm(np.zeros((2, 3), complex))
    with pytest.raises(TypeError, match="layer_norm: weight must be a real floating"):
        mod.layer_norm(x, np.ones(3, bool))
    with pytest.raises(ValueError, match="layer_norm: eps must be a finite number >= 0"):
        mod.layer_norm(x, eps=-1.0)
    with pytest.raises(ValueError, match=r"layer_norm_backward: mean must have shape \(4,\)"):
        mod.layer_norm_backward(x, np.zeros(3), np.ones(4), x)
    with pytest.raises(ValueError, match="layer_norm_backward: grad_y must have the shape"):
        mod.layer_norm_backward(x, np.zeros(4), np.ones(4), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch_norm: x must be 2-D"):
        mod.batch_norm(np.zeros(3), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\)"):
        mod.batch_norm(x, np.zeros(4), np.ones(4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        mod.batch_norm(x, None, None, np.ones(2), training=True)
    with pytest.raises(ValueError, match="batch_norm: training needs more than one row"):
        mod.batch_norm(np.zeros((1, 3)), training=True)
    with pytest.raises(ValueError, match="batch_norm: training=False .* running_mean and "
                                         "running_var are required"):
        mod.batch_norm(x)
    with pytest.raises(ValueError, match="batch_norm: give both running_mean and running_var"):
        mod.batch_norm(x, np.zeros(3), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: momentum must be in \[0, 1\]"):
        mod.batch_norm(x, training=True, momentum=1.5)
    with pytest.raises(TypeError, match="batch_norm: running_mean must have dtype float64"):
        mod.batch_norm(x, np.zeros(3, np.float32), np.ones(3), training=True)
    with pytest.raises(TypeError, match="batch_norm: running_var must be a numpy.ndarray"):
        mod.batch_norm(x, np.zeros(3), [1.0, 1.0, 1.0], training=True)
    with pytest.raises(TypeError, match="batch_norm: x must be a real floating"):
        mod.batch_norm(np.zeros((2, 3), complex), training=True)
    with pytest.raises(ValueError, match=r"batch_norm_backward: rstd must have shape \(3,\)"):
        mod.batch_norm_backward(x, np.zeros(3), np.ones(2), x)
    with pytest.raises(TypeError, match=r"out must be a tuple \(grad_x, grad_weight"):
        mod.batch_norm_backward(x, np.zeros(3), np.ones(3), x, out=np.zeros((4, 3)))


def test_eval_accepts_read_only_running_statistics_of_any_dtype():
    x = np.arange(6.0).reshape(2, 3)
    rm = np.zeros(3, np.float32)
    rm.flags.writeable = False
    got = F.batch_norm(x, rm, [1, 1, 1], training=False)[0]
    np.testing.assert_allclose(got, x / np.sqrt(1 + 1e-5), rtol=1e-12)


def test_outputs_must_not_alias_inputs(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="out arrays must not share memory"):
        F.layer_norm(x, out=(x, np.empty(4), np.empty(4)))
    gy = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="out arrays must not share memory"):
        F.batch_norm_backward(x, np.zeros(3), np.ones(3), gy, None, True,
                              out=(gy, np.empty(3), np.empty(3)))


# ------------------------------------------------------------- every kernel set

ISA_SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import nncore, nncore.functional as F, nncore.reference as R

    def err(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0

    rng = np.random.default_rng(5)
    out, worst = {}, {}
    for dtype in (np.float32, np.float64):
        d = np.dtype(dtype).name
        for shape in [(1, 1), (3, 7), (5, 16), (33, 65), (130, 257), (1100, 519)]:
            x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
            gy = rng.standard_normal(shape).astype(dtype)
            w = rng.uniform(0.5, 1.5, shape[1]).astype(dtype)
            b = rng.standard_normal(shape[1]).astype(dtype)
            per = []
            for threads in (1, 2):
                with nncore.threads(threads):
                    res = {}
                    ln_ref = R.layer_norm(x, w, b)
                    res["ln"] = F.layer_norm(x, w, b)
                    res["ln_b"] = F.layer_norm_backward(x, ln_ref[1], ln_ref[2], gy, w)
                    if shape[0] > 1:
                        rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
                        res["bn"] = F.batch_norm(x, rm, rv, w, b, True) + (rm, rv)
                        bn_ref = R.batch_norm(x, None, None, w, b, True)
                        res["bn_b"] = F.batch_norm_backward(x, bn_ref[1], bn_ref[2], gy, w, True)
                        rm_ref, rv_ref = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
                        want = {"bn": R.batch_norm(x, rm_ref, rv_ref, w, b, True) + (rm_ref, rv_ref),
                                "bn_b": R.batch_norm_backward(x, bn_ref[1], bn_ref[2], gy, w, True)}
                    else:
                        want = {}
                    want["ln"] = ln_ref
                    want["ln_b"] = R.layer_norm_backward(x, ln_ref[1], ln_ref[2], gy, w)
                    for k, v in res.items():
                        for i, (g, r) in enumerate(zip(v, want[k])):
                            key = f"{k}{i}/{d}"
                            worst[key] = max(worst.get(key, 0.0), err(g, r))
                            out[f"{key}/{shape}/t{threads}"] = g
    out["isa"] = np.array(nncore.config()["isa"])
    out["worst_keys"] = np.array(list(worst))
    out["worst"] = np.array(list(worst.values()))
    np.savez(sys.argv[1], **out)
""")


def _isa_results(isa, tmp_path):
    path = tmp_path / f"norms-{isa}.npz"
    env = dict(os.environ, NNCORE_ISA=isa)
    proc = subprocess.run([sys.executable, "-c", ISA_SCRIPT, str(path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with np.load(path) as f:
        res = {k: f[k] for k in f.files}
    assert str(res.pop("isa")) == isa
    return res


@pytest.fixture(scope="module")
def isa_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("norms_isa")
    return {isa: _isa_results(isa, tmp) for isa in ("generic", "avx2", "avx512")
            if isa in nncore.config()["isa_supported"]}


def test_every_kernel_set_matches_reference_and_is_bitwise_across_threads(isa_results):
    assert "generic" in isa_results
    for isa, res in isa_results.items():
        for key, e in zip(res["worst_keys"], res["worst"]):
            tol = 1e-5 if key.endswith("float32") else 1e-12
            assert e <= tol, (isa, key, e)
        for key in res:
            if key.endswith("/t1"):
                np.testing.assert_array_equal(res[key].view(np.uint8),
                                              res[key[:-1] + "2"].view(np.uint8),
                                              err_msg=f"{isa} {key}: 1 and 2 threads differ")


def test_column_kernels_give_the_generic_bits_in_every_set(isa_results):
    # batch norm (statistics, normalisation, running update, backward) and LayerNorm's
    # parameter gradients add each column's rows in index order with the same operations
    generic = isa_results["generic"]
    keys = [k for k in generic if k.startswith(("bn", "ln_b1", "ln_b2"))]
    assert len(keys) > 50 and len(isa_results) > 1
    for isa, res in isa_results.items():
        for key in keys:
            np.testing.assert_array_equal(res[key].view(np.uint8), generic[key].view(np.uint8),
                                          err_msg=f"{isa} {key}")
