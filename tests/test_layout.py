"""The house rules of docs/architecture.md, read from the source: no import circle in
python/nncore (lazy imports inside functions count too), and each C++ room includes
only what its rules allow."""
import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "python" / "nncore"


def _imports(path):
    """The package's modules that `path` imports, at any depth of the file."""
    modules = {p.stem for p in PKG.glob("*.py")} | {"_core"}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import a, b: submodules, or names of the package itself
                found |= {a.name for a in node.names if a.name in modules}
    return found - {"__init__", "__main__"}


def test_no_import_circle_in_the_package():
    graph = {p.stem: _imports(p) for p in PKG.glob("*.py") if p.stem not in
             ("__init__", "__main__")}
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack + [m, n]))
            if n not in state:
                visit(n, stack + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


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
