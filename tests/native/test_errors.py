"""Every error path raises TypeError or ValueError naming the argument, in both the
native functions and their reference twins."""
import numpy as np
import pytest

import nncore
import nncore.functional as F
import nncore.reference as R

X = np.ones((4, 3))
W = np.ones((3, 2))
Y = np.ones((4, 2))
RO = np.ones((4, 2))
RO.flags.writeable = False

CASES = [
    # (id, function name, args, kwargs, exception, words the message must contain)
    ("matmul-rank-a", "matmul", (np.ones(3), W), {}, ValueError, ["a", "(3,)"]),
    ("matmul-rank-b", "matmul", (X, np.ones(3)), {}, ValueError, ["b", "(3,)"]),
    ("matmul-inner", "matmul", (X, np.ones((4, 2))), {}, ValueError, ["(4, 3)", "(4, 2)"]),
    ("matmul-trans", "matmul", (X, W), {"trans_a": True}, ValueError, ["op(a)"]),
    ("matmul-complex", "matmul", (X.astype(complex), W), {}, TypeError, ["a", "complex128"]),
    ("matmul-bool", "matmul", (X, W.astype(bool)), {}, TypeError, ["b", "bool"]),
    ("matmul-object", "matmul", (np.array([[1, "x"]], dtype=object), W), {}, TypeError,
     ["a", "object"]),
    ("matmul-str", "matmul", ("abc", W), {}, TypeError, ["a"]),
    ("matmul-none", "matmul", (None, W), {}, TypeError, ["a", "None"]),
    ("matmul-ragged", "matmul", ([[1, 2], [3]], W), {}, ValueError, ["a"]),
    ("matmul-out-shape", "matmul", (X, W), {"out": np.empty((4, 3))}, ValueError,
     ["out", "(4, 2)"]),
    ("matmul-out-dtype", "matmul", (X, W), {"out": np.empty((4, 2), np.float32)}, TypeError,
     ["out", "float64"]),
    ("matmul-out-fortran", "matmul", (X, W), {"out": np.empty((4, 2), order="F")}, ValueError,
     ["out", "contiguous"]),
    ("matmul-out-readonly", "matmul", (X, W), {"out": RO}, ValueError, ["out", "writeable"]),
    ("matmul-out-list", "matmul", (X, W), {"out": [[0, 0]] * 4}, TypeError, ["out"]),
    ("dense-x-rank", "dense_forward", (np.ones((2, 2, 3)), W), {}, ValueError, ["x"]),
    ("dense-w-rank", "dense_forward", (X, np.ones(3)), {}, ValueError, ["w"]),
    ("dense-mismatch", "dense_forward", (np.ones((64, 784)), np.ones((128, 10))), {},
     ValueError, ["w", "784", "(128, 10)"]),
    ("dense-bias-len", "dense_forward", (X, W, np.ones(3)), {}, ValueError, ["b", "(3,)"]),
    ("dense-bias-rank", "dense_forward", (X, W, np.ones((1, 2))), {}, ValueError, ["b"]),
    ("dense-act", "dense_forward", (X, W, None, "swish"), {}, ValueError,
     ["activation", "gelu"]),
    ("dense-act-type", "dense_forward", (X, W, None, 3), {}, TypeError, ["activation"]),
    ("dense-slope", "dense_forward", (X, W, None, "leaky_relu"), {"slope": -1.0}, ValueError,
     ["slope"]),
    ("dense-x-complex", "dense_forward", (X.astype(np.complex64), W), {}, TypeError, ["x"]),
    ("dense-out", "dense_forward", (X, W), {"out": np.empty((2, 4))}, ValueError, ["out"]),
    ("dense-bwd-y", "dense_backward", (X, W, np.ones((4, 3)), Y), {}, ValueError, ["y"]),
    ("dense-bwd-gy", "dense_backward", (X, W, Y, np.ones((3, 2))), {}, ValueError,
     ["grad_y"]),
    ("dense-bwd-act", "dense_backward", (X, W, Y, Y, "swish"), {}, ValueError,
     ["activation"]),
    ("dense-bwd-out", "dense_backward", (X, W, Y, Y), {"out": np.empty(3)}, TypeError,
     ["out"]),
    ("dense-bwd-outw", "dense_backward", (X, W, Y, Y),
     {"out": (None, np.empty((2, 3)), None)}, ValueError, ["grad_w"]),
    ("relu-complex", "relu", (np.ones(3, complex),), {}, TypeError, ["x", "complex"]),
    ("relu-bool", "relu", (np.ones(3, bool),), {}, TypeError, ["x", "bool"]),
    ("relu-none", "relu", (None,), {}, TypeError, ["x"]),
    ("relu-str", "relu", (["a", "b"],), {}, TypeError, ["x"]),
    ("relu-ragged", "relu", ([[1.0], [2.0, 3.0]],), {}, ValueError, ["x"]),
    ("relu-out-shape", "relu", (np.ones(3),), {"out": np.empty(4)}, ValueError, ["out"]),
    ("relu-out-dtype", "relu", (np.ones(3),), {"out": np.empty(3, np.float32)}, TypeError,
     ["out"]),
    ("relu-out-ro", "relu", (np.ones((4, 2)),), {"out": RO}, ValueError, ["out"]),
    ("sigmoid-datetime", "sigmoid", (np.array(["2020-01-01"], "datetime64[D]"),), {},
     TypeError, ["x"]),
    ("leaky-slope", "leaky_relu", (np.ones(3), -0.5), {}, ValueError, ["slope"]),
    ("leaky-slope-type", "leaky_relu", (np.ones(3), "a"), {}, TypeError, ["slope"]),
    ("tanh-bwd-shape", "tanh_backward", (np.ones(3), np.ones(4)), {}, ValueError, ["grad_y"]),
    ("relu-bwd-complex", "relu_backward", (np.ones(3), np.ones(3, complex)), {}, TypeError,
     ["grad_y"]),
    ("softmax-axis", "softmax", (X, 2), {}, ValueError, ["axis"]),
    ("softmax-axis-type", "softmax", (X, 1.0), {}, TypeError, ["axis"]),
    ("softmax-0d", "softmax", (np.float64(1.0),), {}, ValueError, ["axis"]),
    ("softmax-bwd-shape", "softmax_backward", (X, Y), {}, ValueError, ["grad_y"]),
    ("mse-shape", "mse_loss", (np.ones((4, 1)), np.ones(4)), {}, ValueError,
     ["target", "(4, 1)"]),
    ("mse-reduction", "mse_loss", (Y, Y, "avg"), {}, ValueError, ["reduction", "avg"]),
    ("mse-reduction-type", "mse_loss", (Y, Y, None), {}, TypeError, ["reduction"]),
    ("mse-weight", "mse_loss", (Y, Y), {"sample_weight": np.ones(3)}, ValueError,
     ["sample_weight"]),
    ("mse-target-complex", "mse_loss", (Y, Y.astype(complex)), {}, TypeError, ["target"]),
    ("bce-shape", "binary_cross_entropy_with_logits", (Y, np.ones(4)), {}, ValueError,
     ["target"]),
    ("ce-range", "cross_entropy", (np.zeros((3, 10)), [1, 12, 3]), {}, ValueError,
     ["target[1]", "12", "10 classes"]),
    ("ce-negative", "cross_entropy", (np.zeros((3, 10)), [1, 2, -1]), {}, ValueError,
     ["target[2]", "-1"]),
    ("ce-fraction", "cross_entropy", (np.zeros((3, 10)), [1.0, 2.5, 3.0]), {}, ValueError,
     ["target[1]", "2.5"]),
    ("ce-nan-label", "cross_entropy", (np.zeros((2, 10)), [np.nan, 1.0]), {}, ValueError,
     ["target[0]"]),
    ("ce-huge-label", "cross_entropy", (np.zeros((2, 10)), np.array([2**63, 1], np.uint64)),
     {}, ValueError, ["target[0]"]),
    ("ce-label-shape", "cross_entropy", (np.zeros((3, 10)), [1, 2]), {}, ValueError,
     ["target", "(3,)"]),
    ("ce-logits-rank", "cross_entropy", (np.zeros((2, 3, 4)), [1, 2]), {}, ValueError,
     ["logits"]),
    ("ce-bool-target", "cross_entropy", (np.zeros((2, 3)), np.array([True, False])), {},
     TypeError, ["target", "bool"]),
    ("ce-reduction", "cross_entropy", (np.zeros((2, 3)), [1, 2], "max"), {}, ValueError,
     ["reduction"]),
    ("ce-weight", "cross_entropy", (np.zeros((2, 3)), [1, 2]),
     {"sample_weight": [1.0, 2.0, 3.0]}, ValueError, ["sample_weight"]),
    ("ce-bwd-out", "cross_entropy_backward", (np.zeros((2, 3)), [1, 2]),
     {"out": np.empty((3, 2))}, ValueError, ["out"]),
    ("sgd-param-list", "sgd_step", ([1.0, 2.0], [1.0, 1.0]), {"lr": 0.1}, TypeError,
     ["param"]),
    ("sgd-param-int", "sgd_step", (np.ones(2, np.int64), [1.0, 1.0]), {"lr": 0.1}, TypeError,
     ["param"]),
    ("sgd-grad-shape", "sgd_step", (np.ones(2), np.ones(3)), {"lr": 0.1}, ValueError,
     ["grad"]),
    ("sgd-lr", "sgd_step", (np.ones(2), np.ones(2)), {"lr": -1.0}, ValueError, ["lr"]),
    ("sgd-velocity", "sgd_step", (np.ones(2), np.ones(2)), {"lr": 0.1, "momentum": 0.9},
     ValueError, ["velocity"]),
    ("sgd-nesterov", "sgd_step", (np.ones(2), np.ones(2), np.zeros(2)),
     {"lr": 0.1, "nesterov": True}, ValueError, ["nesterov"]),
    ("adam-step", "adam_step", (np.ones(2), np.ones(2), np.zeros(2), np.zeros(2)),
     {"step": 0}, ValueError, ["step"]),
    ("adam-beta", "adam_step", (np.ones(2), np.ones(2), np.zeros(2), np.zeros(2)),
     {"step": 1, "beta1": 1.0}, ValueError, ["beta1"]),
    ("adam-m-shape", "adam_step", (np.ones(2), np.ones(2), np.zeros(3), np.zeros(2)),
     {"step": 1}, ValueError, ["m"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("module", [F, R], ids=["native", "reference"])
def test_error(case, module):
    _, name, args, kwargs, exc, words = case
    with pytest.raises(exc) as info:
        getattr(module, name)(*args, **kwargs)
    # the exact class, not a subclass standing in for another
    assert type(info.value) is exc or issubclass(type(info.value), exc)
    message = str(info.value)
    assert message.startswith(name.split("_backward")[0].split("_and_grad")[0]) or \
        name in message or name.replace("_backward", "") in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-3, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (None, TypeError), (True, TypeError)])
def test_thread_count_errors(bad, exc):
    before = nncore.get_num_threads()
    with pytest.raises(exc, match="n must"):
        nncore.set_num_threads(bad)
    assert nncore.get_num_threads() == before
    with pytest.raises(exc):
        with nncore.threads(bad):
            pass
    assert nncore.get_num_threads() == before


def test_inputs_unchanged_after_errors():
    x = np.ones((4, 3))
    with pytest.raises(ValueError):
        F.dense_forward(x, np.ones((5, 2)))
    np.testing.assert_array_equal(x, np.ones((4, 3)))
