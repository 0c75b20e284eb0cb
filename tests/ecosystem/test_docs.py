"""The python snippets of docs/sklearn.md and docs/onnx.md run and print True."""
import contextlib
import io
import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def _blocks(name):
    text = (DOCS / name).read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def _run(blocks):
    out = io.StringIO()
    scope = {}
    for code in blocks:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<doc>", "exec"), scope)  # noqa: S102
    return out.getvalue()


def test_sklearn_doc():
    pytest.importorskip("sklearn")
    printed = _run(_blocks("sklearn.md"))
    assert printed.split() == ["True"]


def test_onnx_doc():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    blocks = _blocks("onnx.md")
    assert len(blocks) == 3
    printed = _run(blocks[:2])
    assert printed.split() == ["True", "True", "True"]


def test_torch_doc():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    printed = _run(_blocks("onnx.md"))
    assert printed.split()[-3:] == ["True", "(4,", "8)"]
