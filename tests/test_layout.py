"""The house rules of docs/architecture.md, read from the source: no import circle in
python/nncore (lazy imports inside functions count too), and each C++ room includes
only what its rules allow."""
import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "python" / "nncore"


def _module_name(path):
    """"model", "sklearn._base"; a package's __init__ is the package ("sklearn", "")."""
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _graph():
    """module -> the package's modules it imports, at any depth of its file (lazy
    imports inside functions count: they tie the modules together all the same)."""
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    modules = set(files) | {"_core"}
    graph = {}
    for name, path in files.items():
        here = name.split(".") if name else []
        package = here if path.name == "__init__.py" else here[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package[:len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # from .pkg import submodule, or a name of .pkg
                sub = ".".join(target + [alias.name])
                found.add(sub if sub in modules else ".".join(target))
        graph[name] = {m for m in found if m in modules and m not in ("", "__main__")}
    return {m: deps for m, deps in graph.items() if m not in ("", "__main__")}


def _circles(graph):
    """The groups of modules that import each other, directly or through others."""
    def reach(m):
        seen, todo = set(), [m]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen
    reachable = {m: reach(m) for m in graph}
    return {frozenset(n for n in reachable[m] if m in reachable.get(n, ())) | {m}
            for m in graph if m in reachable[m]}


def test_no_import_circle_in_the_package():
    circles = _circles(_graph())
    assert not circles, sorted(sorted(c) for c in circles)


def test_the_circle_finder_finds_a_circle():
    # so that the test above can fail: a made-up graph with one circle and one tail
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == {frozenset("abc")}


def test_saving_does_not_import_model():
    graph = _graph()
    assert "model" not in graph["saving"] and "saving" in graph["model"]


def _includes(path):
    return re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', path.read_text(), re.M)


def test_cpp_rooms_include_only_what_their_rules_allow():
    csrc = ROOT / "csrc"
    for path in csrc.rglob("*"):
        if path.suffix not in (".h", ".cpp"):
            continue
        room = path.relative_to(csrc).parts[0]
        for inc in _includes(path):
            if room == "kernels":
                assert not inc.startswith(("core/", "bindings/", "pybind11")), (path, inc)
            if room == "core":
                assert not inc.startswith(("bindings/", "pybind11")), (path, inc)
