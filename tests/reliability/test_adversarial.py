"""Adversarial inputs, each run so that a crash (segfault, abort) is reported as the
failure of that one case instead of killing the test run.

Cases run in child processes, a group at a time; each prints a marker before and after.
A case that starts but never ends crashed the interpreter: it is reported by name and the
rest of its group runs in a fresh process. Every case must end with a value or with
TypeError / ValueError / MemoryError.
"""
import os
import subprocess
import sys
import textwrap

import pytest

SETUP = """
import numpy as np
import nncore
import nncore.functional as F
f32 = np.float32
A = np.ones((4, 3)); W = np.ones((3, 2)); Y = np.ones((4, 2))
big = np.broadcast_to(np.float32(1.0), (2**40, 2**10))
odd = np.frombuffer(bytes(4 * 65 + 1), dtype=np.float32, offset=1, count=64)
odd2 = np.frombuffer(bytes(8 * 13 + 1), dtype=np.float64, offset=1, count=12).reshape(3, 4)
ro = np.ones((4, 2)); ro.flags.writeable = False
"""

FUNCS_1 = ["relu", "sigmoid", "tanh", "identity", "leaky_relu", "softmax", "log_softmax"]
INPUTS_1 = {
    "nan_inf": "np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324])",
    "huge_f32": "np.array([3e38, -3e38, 1e-45], f32)",
    "empty": "np.zeros((0, 7))",
    "empty_axis": "np.zeros((3, 0))",
    "zero_d": "np.float64(2.5)",
    "python_scalar": "3",
    "nested": "[[[1.0, 2.0], [3.0, 4.0]]]",
    "deep_nested": "[[[[[[1.0]]]]]]",
    "ragged": "[[1.0, 2.0], [3.0]]",
    "negative_stride": "np.arange(20.0)[::-3]",
    "zero_stride": "np.broadcast_to(np.arange(5.0), (1000, 5))",
    "misaligned": "odd",
    "misaligned_2d": "odd2",
    "fortran": "np.asfortranarray(np.arange(12.0).reshape(3, 4))",
    "matrix_subclass": "np.matrix([[1.0, -2.0]])",
    "masked": "np.ma.masked_array([1.0, -2.0], mask=[0, 1])",
    "bool": "np.array([True, False])",
    "complex": "np.array([1j])",
    "object": "np.array([object()])",
    "string": "'abc'",
    "bytes": "b'abc'",
    "none": "None",
    "dict": "{'a': 1}",
    "uint64_max": "np.array([2**64 - 1], np.uint64)",
    "int8": "np.array([-128, 127], np.int8)",
    "float16": "np.array([65504, -65504], np.float16)",
    "datetime": "np.array(['2020-01-01'], 'datetime64[D]')",
    "big_broadcast": "big[:2**10]",
}

CASES = []
for fn in FUNCS_1:
    for key, expr in INPUTS_1.items():
        CASES.append((f"{fn}-{key}", f"F.{fn}({expr})"))

CASES += [
    ("relu-out-self", "x = np.arange(-3.0, 3.0); F.relu(x, out=x)"),
    ("relu-out-overlap", "x = np.arange(-6.0, 6.0); F.relu(x[2:], out=x[:-2])"),
    ("relu-out-readonly", "F.relu(np.ones((4, 2)), out=ro)"),
    ("relu-out-misaligned", "F.relu(np.ones(64, np.float32), out=odd)"),
    ("relu-out-list", "F.relu(np.ones(2), out=[0.0, 0.0])"),
    ("relu-out-wrong-dtype", "F.relu(np.ones(2), out=np.ones(2, np.float32))"),
    ("relu-out-strided", "F.relu(np.ones(2), out=np.ones(4)[::2])"),
    ("softmax-axis-huge", "F.softmax(A, axis=2**62)"),
    ("softmax-axis-bool", "F.softmax(A, axis=True)"),
    ("leaky-slope-nan", "F.leaky_relu(A, float('nan'))"),
    ("leaky-slope-inf", "F.leaky_relu(A, float('inf'))"),
    ("leaky-slope-complex", "F.leaky_relu(A, 1j)"),
    ("matmul-big-broadcast", "F.matmul(big, np.ones((2**10, 4), f32))"),
    ("matmul-huge-out", "F.matmul(np.broadcast_to(np.float32(1), (2**31, 1)), "
                        "np.broadcast_to(np.float32(1), (1, 2**31)))"),
    ("matmul-misaligned", "F.matmul(odd2, np.ones((4, 3)))"),
    ("matmul-zero-k", "F.matmul(np.ones((3, 0)), np.ones((0, 5)))"),
    ("matmul-out-alias", "a = np.ones((3, 3)); F.matmul(a, a, out=a)"),
    ("matmul-out-view-alias", "a = np.ones((3, 6)); F.matmul(a[:, :3], np.ones((3, 3)), "
                              "out=np.ascontiguousarray(a[:, 3:]))"),
    ("matmul-3d", "F.matmul(np.ones((2, 3, 4)), np.ones((4, 2)))"),
    ("matmul-nan", "F.matmul(np.full((5, 5), np.nan), np.ones((5, 5)))"),
    ("matmul-trans-none", "F.matmul(A, W, trans_a=None)"),
    ("dense-empty-all", "F.dense_forward(np.zeros((0, 0)), np.zeros((0, 0)))"),
    ("dense-bias-2d", "F.dense_forward(A, W, np.ones((1, 2)))"),
    ("dense-bias-scalar", "F.dense_forward(A, W, 1.0)"),
    ("dense-out-is-x", "x = np.ones((3, 3)); F.dense_forward(x, np.ones((3, 3)), out=x)"),
    ("dense-bwd-out-alias", "g = np.ones((4, 2)); F.dense_backward(A, W, Y, g, "
                            "out=(None, None, g[0]))"),
    ("dense-bwd-out-tuple-short", "F.dense_backward(A, W, Y, Y, out=(None,))"),
    ("dense-bwd-out-not-tuple", "F.dense_backward(A, W, Y, Y, out=[None, None, None])"),
    ("dense-bwd-grad-x-wrong", "F.dense_backward(A, W, Y, Y, out=(np.ones((3, 4)), None, "
                               "None))"),
    ("dense-act-bytes", "F.dense_forward(A, W, None, b'relu')"),
    ("dense-1d-w", "F.dense_forward(np.ones(3), np.ones(3))"),
    ("dense-0d-x", "F.dense_forward(2.0, W)"),
    ("dense-huge-broadcast-x", "F.dense_forward(big, np.ones((2**10, 2), f32))"),
    ("ce-labels-int64-min", "F.cross_entropy(np.ones((2, 3)), np.array([-2**63, 0]))"),
    ("ce-labels-uint-huge", "F.cross_entropy(np.ones((2, 3)), np.array([2**64 - 1, 0], "
                            "np.uint64))"),
    ("ce-labels-inf", "F.cross_entropy(np.ones((2, 3)), np.array([np.inf, 0]))"),
    ("ce-labels-2d-int", "F.cross_entropy(np.ones((2, 3)), np.ones((2, 3), int))"),
    ("ce-zero-classes", "F.cross_entropy(np.ones((2, 0)), np.array([0, 0]))"),
    ("ce-zero-batch-none", "F.cross_entropy(np.ones((0, 3)), np.zeros(0, int), 'none')"),
    ("ce-nan-logits", "F.cross_entropy(np.full((2, 3), np.nan), [0, 1])"),
    ("ce-inf-logits", "F.cross_entropy(np.array([[np.inf, 0, -np.inf]]), [1])"),
    ("ce-neg-inf-row", "F.cross_entropy(np.full((1, 3), -np.inf), [1], 'none')"),
    ("ce-weights-nan", "F.cross_entropy(np.ones((2, 3)), [0, 1], sample_weight=[np.nan, 1])"),
    ("ce-weights-2d", "F.cross_entropy(np.ones((2, 3)), [0, 1], sample_weight=np.ones((2, "
                      "1)))"),
    ("ce-weights-zero-sum", "F.cross_entropy(np.ones((2, 3)), [0, 1], sample_weight=[1, -1])"),
    ("ce-probs-negative", "F.cross_entropy(np.ones((2, 3)), -np.ones((2, 3)))"),
    ("ce-out-readonly", "F.cross_entropy_backward(np.ones((4, 2)), [0, 1, 0, 1], out=ro)"),
    ("ce-reduction-none-type", "F.cross_entropy(np.ones((2, 3)), [0, 1], None)"),
    ("mse-scalar", "F.mse_loss(1.0, 2.0)"),
    ("mse-broadcast-target", "F.mse_loss(np.ones((3, 2)), np.broadcast_to(np.ones(2), (3, 2)))"),
    ("mse-big-broadcast", "F.mse_loss(big[:2**12], big[:2**12])"),
    ("mse-inf-minus-inf", "F.mse_loss([np.inf], [np.inf])"),
    ("mse-out-is-pred", "p = np.ones(5); F.mse_loss_backward(p, np.zeros(5), out=p)"),
    ("mse-out-is-target", "t = np.ones(5); F.mse_loss_and_grad(np.zeros(5), t, out=t)"),
    ("bce-huge-logits", "F.binary_cross_entropy_with_logits([1e308, -1e308], [0.0, 1.0])"),
    ("bce-nan", "F.binary_cross_entropy_with_logits([np.nan], [1.0])"),
    ("bce-target-bool", "F.binary_cross_entropy_with_logits([1.0], [True])"),
    ("sgd-param-readonly", "F.sgd_step(ro, np.ones((4, 2)), lr=0.1)"),
    ("sgd-param-misaligned", "F.sgd_step(odd, np.ones(64), lr=0.1)"),
    ("sgd-param-0d", "F.sgd_step(np.array(1.0), 1.0, lr=0.1)"),
    ("sgd-velocity-alias", "p = np.ones(3); F.sgd_step(p, np.ones(3), p, lr=0.1, momentum=0.9)"),
    ("sgd-grad-is-param", "p = np.ones(3); F.sgd_step(p, p, lr=0.1)"),
    ("sgd-lr-nan", "F.sgd_step(np.ones(3), np.ones(3), lr=float('nan'))"),
    ("sgd-lr-string", "F.sgd_step(np.ones(3), np.ones(3), lr='0.1')"),
    ("adam-m-is-v", "m = np.zeros(3); F.adam_step(np.ones(3), np.ones(3), m, m, step=1)"),
    ("adam-step-huge", "F.adam_step(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), "
                       "step=2**62)"),
    ("adam-step-float", "F.adam_step(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), "
                        "step=1.0)"),
    ("threads-huge", "nncore.set_num_threads(2**40)"),
    ("threads-negative", "nncore.set_num_threads(-1)"),
    ("threads-float", "nncore.set_num_threads(2.0)"),
]


def runner_script(cases):
    lines = [SETUP, "import sys", "CASES = " + repr(cases), textwrap.dedent("""
        for name, code in CASES:
            print("START", name, flush=True)
            try:
                exec(code)
                outcome = "value"
            except (TypeError, ValueError, MemoryError) as e:
                outcome = type(e).__name__
            except Exception as e:
                outcome = "UNEXPECTED:" + type(e).__name__ + ":" + str(e)[:200].replace(chr(10), " ")
            print("END", name, outcome, flush=True)
    """)]
    return "\n".join(lines)


def run_cases(cases):
    """{name: outcome}; a crashed case gets 'CRASH: <returncode>'."""
    outcomes = {}
    pending = list(cases)
    while pending:
        proc = subprocess.run([sys.executable, "-c", runner_script(pending)],
                              capture_output=True, text=True, timeout=600,
                              env=dict(os.environ))
        started = None
        for line in proc.stdout.splitlines():
            parts = line.split(" ", 2)
            if parts[0] == "START":
                started = parts[1]
            elif parts[0] == "END":
                outcomes[parts[1]] = parts[2]
                started = None
        if started is not None:
            outcomes[started] = f"CRASH: exit code {proc.returncode}: {proc.stderr[-500:]}"
        done = set(outcomes)
        pending = [c for c in pending if c[0] not in done]
        if proc.returncode == 0 and pending:
            raise AssertionError(f"runner ended without running {pending[:3]}")
    return outcomes


def test_there_are_at_least_100_distinct_cases():
    names = [name for name, _ in CASES]
    assert len(names) == len(set(names)) and len(names) >= 100


@pytest.mark.parametrize("group", range(4))
def test_adversarial_cases_never_crash(group):
    cases = CASES[group::4]
    outcomes = run_cases(cases)
    bad = {name: out for name, out in outcomes.items()
           if out not in ("value", "TypeError", "ValueError", "MemoryError")}
    assert not bad, bad
    assert set(outcomes) == {name for name, _ in cases}
