"""Every kernel set the CPU supports, forced with NNCORE_ISA in a subprocess, matches the
reference; an unknown NNCORE_ISA fails the import with a clear ImportError."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import nncore

SCRIPT = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import nncore, nncore.functional as F, nncore.reference as R

    def err(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0

    rng = np.random.default_rng(3)
    worst = {}
    def note(name, dtype, e):
        key = f"{name}/{np.dtype(dtype).name}"
        worst[key] = max(worst.get(key, 0.0), e)

    for dtype in (np.float32, np.float64):
        for m, k, n in [(1, 1, 1), (7, 3, 5), (17, 33, 65), (129, 257, 31), (64, 784, 256),
                        (300, 70, 513)]:
            for ta in (False, True):
                for tb in (False, True):
                    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                    want = R.matmul(a.astype(np.float64), b.astype(np.float64), trans_a=ta, trans_b=tb)
                    note("matmul", dtype, err(F.matmul(a, b, trans_a=ta, trans_b=tb), want))
        for act in ["identity", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "gelu_tanh",
                    "silu", "softplus"]:
            # gelu, gelu_tanh, silu and softplus: the GEMM's store keeps z, their backward
            # takes it in place of y
            from_input = act in ("gelu", "gelu_tanh", "silu", "softplus")
            kw = {"approximate": "tanh"} if act == "gelu_tanh" else {}
            fn = "gelu" if act == "gelu_tanh" else act
            for batch, i, o in [(1, 5, 3), (33, 65, 17), (64, 129, 257)]:
                x = rng.standard_normal((batch, i)).astype(dtype)
                w = (rng.standard_normal((i, o)) / np.sqrt(i)).astype(dtype)
                bias = rng.standard_normal(o).astype(dtype)
                z = np.empty((batch, o), dtype)
                y = F.dense_forward(x, w, bias, act, z_out=z)
                x64, w64 = x.astype(np.float64), w.astype(np.float64)
                note("dense_forward", dtype, err(y, R.dense_forward(x64, w64, bias, act)))
                note("dense_forward_z", dtype, err(z, R.dense_forward(x64, w64, bias)))
                gy = rng.standard_normal(y.shape).astype(dtype)
                v = z if from_input else y
                for g, r in zip(F.dense_backward(x, w, v, gy, act),
                                R.dense_backward(x64, w64, v.astype(np.float64), gy, act)):
                    note("dense_backward", dtype, err(g, r))
            for n in [1, 7, 16, 17, 33, 64, 100, 1000, 40000]:
                v = (rng.standard_normal(n) * 6).astype(dtype)
                v[: n // 7] *= 30
                note(act, dtype, err(getattr(F, fn)(v, **kw), getattr(R, fn)(v, **kw)))
                yv = v if from_input else getattr(R, act)(v)
                gv = rng.standard_normal(n).astype(dtype)
                note(act + "_backward", dtype,
                     err(getattr(F, fn + "_backward")(yv, gv, **kw),
                         getattr(R, fn + "_backward")(yv.astype(np.float64), gv, **kw)))
        for shape in [(1, 1), (3, 17), (64, 10), (5, 1000)]:
            v = (rng.standard_normal(shape) * 8).astype(dtype)
            for name in ["softmax", "log_softmax"]:
                note(name, dtype, err(getattr(F, name)(v), getattr(R, name)(v)))
            labels = rng.integers(0, shape[1], shape[0])
            for red in ["mean", "none"]:
                l, g = F.cross_entropy_and_grad(v, labels, red)
                rl, rg = R.cross_entropy_and_grad(v.astype(np.float64), labels, red)
                note("cross_entropy", dtype, max(err(l, rl), err(g, rg)))
                t = rng.random(shape).astype(dtype)
                l, g = F.binary_cross_entropy_with_logits_and_grad(v, t, red)
                rl, rg = R.binary_cross_entropy_with_logits_and_grad(v.astype(np.float64), t, red)
                note("bce", dtype, max(err(l, rl), err(g, rg)))
                l, g = F.mse_loss_and_grad(v, t, red)
                rl, rg = R.mse_loss_and_grad(v.astype(np.float64), t, red)
                note("mse", dtype, max(err(l, rl), err(g, rg)))
    print(json.dumps({"isa": nncore.config()["isa"], "worst": worst}))
""")


def run(isa, script):
    env = dict(os.environ, NNCORE_ISA=isa)
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("isa", nncore.config()["isa_supported"])
def test_kernel_set_matches_reference(isa):
    proc = run(isa, SCRIPT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["isa"] == isa
    tol = {"float32": 1e-5, "float64": 1e-12}
    bad = {k: v for k, v in result["worst"].items() if v > tol[k.split("/")[1]]}
    assert not bad, bad


def test_isa_request_is_capped_at_the_cpu():
    proc = run("avx512", "import nncore; print(nncore.config()['isa'])")
    assert proc.returncode == 0, proc.stderr
    best = nncore.config()["isa_supported"][-1]
    want = "avx512" if "avx512" in nncore.config()["isa_supported"] else best
    assert proc.stdout.strip() == want


def test_unknown_isa_fails_import():
    proc = run("sse9", "import nncore")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "NNCORE_ISA" in proc.stderr and "sse9" in proc.stderr


def test_gemm_block_override_is_used_and_stays_correct():
    script = (
        "import numpy as np, nncore, nncore.functional as F, nncore.reference as R\n"
        "b = nncore.config()['gemm_blocks']['float32']\n"
        "a = np.random.default_rng(0).standard_normal((97, 301))\n"
        "w = np.random.default_rng(1).standard_normal((301, 45))\n"
        "err = np.max(np.abs(F.matmul(a, w) - R.matmul(a, w))) / np.max(np.abs(R.matmul(a, w)))\n"
        "print(b['MC'] % b['MR'] == 0, b['KC'], err < 1e-12)\n")
    env = dict(os.environ, NNCORE_GEMM_BLOCKS="50,7,40")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "7", "True"]
    env["NNCORE_GEMM_BLOCKS"] = "1,2"
    proc = subprocess.run([sys.executable, "-c", "import nncore"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "NNCORE_GEMM_BLOCKS" in proc.stderr
