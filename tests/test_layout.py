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


# ---------------------------------------------------------------- the training room

def _private_reads(src, module_exists=lambda dotted: True):
    """(line, text) of each place the source ``src`` of a package module imports or reads
    another nncore module's private name: ``from .mod import _name`` (``_name`` not a
    module of the package) or ``mod._name`` for a module ``mod`` it imported from the
    package (``_core`` excepted: it is the native module's face)."""
    tree = ast.parse(src)
    modules = set()  # local names bound to package modules
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and \
                        alias.name != "_core" and node.module != "_core" and \
                        not module_exists(f"{node.module or ''}.{alias.name}"):
                    found.append((node.lineno, f"from .{node.module or ''} import "
                                               f"{alias.name}"))
                if module_exists(f"{node.module or ''}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in modules and node.attr.startswith("_") and \
                not node.attr.startswith("__") and node.value.id != "_core" and \
                node.attr != "_core":
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def _is_module(dotted):
    """Whether ``.a.b`` (relative to any package level) names a module of the package."""
    parts = [p for p in dotted.split(".") if p]
    return any((base.joinpath(*parts).with_suffix(".py")).exists() or
               base.joinpath(*parts).is_dir()
               for base in [PKG] + [d for d in PKG.rglob("*") if d.is_dir()])


def test_no_module_reads_another_modules_private_name():
    bad = {str(p.relative_to(PKG)): _private_reads(p.read_text(), _is_module)
           for p in PKG.rglob("*.py")}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad


def test_the_private_name_finder_finds_one():
    # so that the test above can fail
    src = ("from .engines import _native_kind\nfrom . import run\nrun._x\nrun.y\n"
           "from .. import _core\n_core._Trainer\nfrom . import _inputs\n")
    found = _private_reads(src, _is_module)
    assert [t for _, t in found] == ["from .engines import _native_kind", "run._x"], found


def _run_field_writes(src):
    """(line, target) of each assignment in ``src`` to an attribute of a run
    (``run.x = ...``, ``self.run_.n += ...``, ``setattr(run, ...)``)."""
    found = []
    for node in ast.walk(ast.parse(src)):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "setattr" and node.args:
            targets = [ast.Attribute(value=node.args[0], attr="?")]
        for t in targets:
            for sub in ast.walk(t) if isinstance(t, (ast.Tuple, ast.List)) else [t]:
                if isinstance(sub, ast.Attribute):
                    base = sub.value
                    name = base.id if isinstance(base, ast.Name) else \
                        base.attr if isinstance(base, ast.Attribute) else ""
                    if name in ("run", "run_", "_run"):
                        found.append((node.lineno, ast.unparse(t)))
    return found


def test_only_run_py_sets_a_field_of_the_run():
    bad = {str(p.relative_to(PKG)): _run_field_writes(p.read_text()) for p in PKG.rglob("*.py")
           if p != PKG / "training" / "run.py"}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad


def test_the_run_field_finder_finds_writes():
    src = ("run.n = 3\nself.run_.steps += 1\nsetattr(run, 'x', 1)\na, run.b = 1, 2\n"
           "self.run_.optimizer.steps = 4\nrun.for_data_parallel(native_spec={})\n")
    assert sorted(t for _, t in _run_field_writes(src)) == sorted([
        "run.n", "self.run_.steps", "run.?", "(a, run.b)"])


def _backward_calls(src):
    """Lines of ``src`` that call ``model.backward(...)`` (or a model copy's: ``twin``)."""
    return [node.lineno for node in ast.walk(ast.parse(src))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and
            node.func.attr == "backward" and isinstance(node.func.value, ast.Name) and
            node.func.value.id in ("model", "twin")]


def test_model_backward_is_called_in_one_place():
    # _bench_workloads.py times the README's own step loop, user code by design.
    calls = [(str(p.relative_to(PKG)), line) for p in PKG.rglob("*.py")
             if p.name != "_bench_workloads.py" for line in _backward_calls(p.read_text())]
    assert len(calls) == 1 and calls[0][0] == str(pathlib.Path("training", "step.py")), calls
    assert _backward_calls("model.backward(g)\nx.backward(g)\n'model.backward('\n") == [1]


def _repeated_blocks(texts, size=6):
    """Blocks of ``size`` consecutive code lines (stripped; blank lines, comments and
    docstring lines left out) that occur in two places of ``texts`` ({name: source})."""
    seen, repeats = {}, []
    for name, text in texts.items():
        lines = []
        for i, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line and not line.startswith("#") and not line.startswith(('"""', "'''")):
                lines.append((i, line))
        for k in range(len(lines) - size + 1):
            block = tuple(line for _, line in lines[k:k + size])
            if len(set(block)) < 3:  # a run of closing brackets or similar
                continue
            where = (name, lines[k][0])
            if block in seen and seen[block][0] != where[0] or \
                    block in seen and abs(seen[block][1] - where[1]) >= size:
                repeats.append((seen[block], where, block[0]))
            seen.setdefault(block, where)
    return repeats


def test_no_six_lines_repeat_in_the_training_room():
    texts = {p.name: p.read_text() for p in (PKG / "training").glob("*.py")}
    assert not _repeated_blocks(texts), _repeated_blocks(texts)


def test_the_repeat_finder_finds_a_repeat():
    body = "\n".join(f"x{i} = f({i})" for i in range(6))
    assert _repeated_blocks({"a.py": body, "b.py": "y = 1\n" + body})
    assert not _repeated_blocks({"a.py": body, "b.py": body.replace("f(3)", "g(3)")})
