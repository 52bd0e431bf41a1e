"""The package's rooms and who may import whom, read from the source (every import, those inside functions too):

- no import cycle anywhere in `mnist_demo/`, and no module over 400 lines;
- the engine (`mnist_demo/` outside `app/`) imports neither gradio nor the app;
- the app's core (`app/core/`) imports no gradio, nor the server, the tabs or the page (and importing all of it in a
  fresh interpreter leaves gradio unloaded);
- the server (`app/server/`) imports no tab and not the page; a tab imports no other tab;
- the core's packages (`jobs`, `runs`, `models`, `board`) and root modules import only the parts of the core their
  docstrings allow (CORE_ALLOWED), and every package of `mnist_demo/` says what it holds in a docstring.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "mnist_demo"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """Everything module `name` imports, at any depth of its code: `from a.b import c` names `a.b.c` when that is a
    module of ours, else `a.b`; relative imports resolved."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return found


GRAPH = {name: {i for i in imports(name) if i in MODULES and i != name} for name in MODULES}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def room(name: str) -> str:
    if not name.startswith("mnist_demo.app"):
        return "engine"
    parts = name.split(".")
    return parts[2] if len(parts) > 2 else "app"  # core, server, tabs, page, or the package itself


def test_the_graph_sees_imports_inside_functions():
    assert "mnist_demo.train" in imports("mnist_demo.cli")  # cli imports the engine inside its commands


def test_no_import_cycle():
    assert cycles() == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


def test_the_engine_imports_neither_gradio_nor_the_app():
    for name in MODULES:
        if room(name) == "engine":
            wrong = {i for i in imports(name) if i.split(".")[0] == "gradio" or i.startswith("mnist_demo.app")}
            assert not wrong, f"{name} imports {wrong}"


def test_the_core_imports_no_gradio_nor_the_rooms_above_it():
    for name in MODULES:
        if room(name) == "core":
            wrong = {i for i in imports(name) if i.split(".")[0] == "gradio"
                     or room(i) in ("server", "tabs", "page", "app") and i.startswith("mnist_demo.app")}
            assert not wrong, f"{name} imports {wrong}"


def test_importing_the_whole_core_leaves_gradio_unloaded():
    core = [name for name in MODULES if room(name) == "core"]
    code = f"import sys\nfor m in {core!r}: __import__(m)\nprint('gradio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_server_imports_no_tab_and_a_tab_no_other_tab():
    for name in MODULES:
        if room(name) == "server":
            wrong = {i for i in imports(name) if room(i) in ("tabs", "page")}
            assert not wrong, f"{name} imports {wrong}"
        if room(name) == "tabs" and name.count(".") >= 3:
            tab = name.split(".")[3]
            wrong = {i for i in imports(name) if room(i) == "tabs" and i.count(".") >= 3 and i.split(".")[3] != tab}
            assert not wrong, f"{name} imports another tab: {wrong}"


# What each part of the core may import of the rest of the core (its package docstring says the same in words). A
# part is a package of core/ or one of its root modules.
CORE_ALLOWED = {
    "messages": set(),
    "settings": set(),
    "jobs": {"messages", "runs"},  # runs: remote.py rebuilds the items the runs' work emits
    "models": {"messages"},
    "runs": {"jobs", "models", "messages", "settings", "context"},
    "board": {"runs", "messages"},
    "context": {"board", "jobs", "models", "settings"},
    "visitor": {"jobs", "models", "runs"},
}


def core_part(name: str) -> str | None:
    parts = name.split(".")
    return parts[3] if name.startswith("mnist_demo.app.core.") else None


def test_each_part_of_the_core_imports_only_what_its_docstring_allows():
    assert {core_part(n) for n in MODULES if core_part(n)} == set(CORE_ALLOWED), "a new part of the core needs a rule"
    for name in MODULES:
        part = core_part(name)
        if part is None:
            continue
        wrong = {i for i in imports(name)
                 if core_part(i) not in (None, part) and core_part(i) not in CORE_ALLOWED[part]}
        assert not wrong, f"{name} ({part}) imports {wrong}"


def test_every_package_says_what_it_holds():
    for path in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{path.relative_to(REPO)} has no docstring saying what the package holds"
