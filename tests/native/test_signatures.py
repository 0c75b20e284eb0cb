"""nncore.functional, its NumPy twins in nncore.reference and the stubs in _core.pyi
list the same functions with the same signatures (names, order, keyword-only markers,
defaults). The native signatures are read from the bindings themselves (pybind11 writes
each function's declared arguments as the first line of its docstring)."""
import ast
import inspect
import pathlib

import pytest

import nncore.functional as F
import nncore.reference as R
from nncore import _core

POS, KW = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
NO_DEFAULT = "<required>"


def _from_ast(args):
    """[(name, kind, default)] of an ast.arguments."""
    assert not args.posonlyargs and args.vararg is None and args.kwarg is None
    pos = args.args
    defaults = [NO_DEFAULT] * (len(pos) - len(args.defaults)) + \
        [ast.literal_eval(d) for d in args.defaults]
    out = [(a.arg, POS, d) for a, d in zip(pos, defaults)]
    out += [(a.arg, KW, NO_DEFAULT if d is None else ast.literal_eval(d))
            for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return out


def _binding_params(f):
    """The signature pybind11 declares for a native function (its docstring's first line,
    e.g. ``relu(x: object, *, out: object = None) -> object``)."""
    line = f.__doc__.splitlines()[0]
    assert line.startswith(f.__name__ + "("), line
    tree = ast.parse(f"def {line}: ...")
    return _from_ast(tree.body[0].args)


def _params(f):
    if inspect.isfunction(f):
        return [(p.name, p.kind, NO_DEFAULT if p.default is p.empty else p.default)
                for p in inspect.signature(f).parameters.values()]
    return _binding_params(f)


def _pyi():
    # The stub next to the installed module (the package ships it), else the source's.
    path = pathlib.Path(_core.__file__).with_name("_core.pyi")
    if not path.exists():
        path = pathlib.Path(__file__).parents[2] / "python" / "nncore" / "_core.pyi"
    tree = ast.parse(path.read_text())
    return {n.name: _from_ast(n.args) for n in tree.body if isinstance(n, ast.FunctionDef)}


PYI = _pyi()


def test_same_functions():
    assert sorted(F.__all__) == sorted(R.__all__)
    missing = [n for n in F.__all__ if n not in PYI]
    assert not missing, f"not in _core.pyi: {missing}"
    for name in F.__all__:
        assert callable(getattr(F, name)) and callable(getattr(R, name))


@pytest.mark.parametrize("name", F.__all__)
def test_functional_matches_reference_and_stub(name):
    native = _params(getattr(F, name))
    assert native == _params(getattr(R, name)), name
    assert native == PYI[name], name


@pytest.mark.parametrize("name", sorted(n for n in PYI if not n.startswith("__")))
def test_stub_matches_binding(name):
    assert PYI[name] == _binding_params(getattr(_core, name)), name


def test_functional_is_thin():
    # Every function with no Python-side conversion to do is the binding itself.
    wrappers = {"clip_grad_norm_", "clip_grad_value_", "count_correct"}
    for name in F.__all__:
        f = getattr(F, name)
        if name in wrappers:
            assert inspect.isfunction(f), name
        else:
            assert f is getattr(_core, name), name
            assert f.__module__ == "nncore.functional"


def test_keywords_reach_the_binding():
    import numpy as np
    x = np.array([[-1.0, 2.0]])
    np.testing.assert_array_equal(F.leaky_relu(x=x, slope=0.5), [[-0.5, 2.0]])
    out = np.empty((1, 2))
    assert F.relu(x, out=out) is out
    with pytest.raises(TypeError):
        F.relu(x, out)  # out is keyword-only, as in the reference
    with pytest.raises(TypeError):
        R.relu(x, out)
