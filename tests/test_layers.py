"""The project's import graph has no circle, and `conformance/` imports only downwards through its layers.

Every import counts, wherever it stands: at the top, inside a function, under `TYPE_CHECKING`. A circle
means a reader cannot understand one file without the other; a layer that imports upwards is a circle
waiting to happen. docs/layout.md draws the same layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGE = "runai_conformance"
SUBPACKAGES = ("specs", "strategies", "conformance", "reference")  # the folders the wheel nests under it
PROJECT = (*SUBPACKAGES, "tests", "benchmarks")

# conformance/, bottom to top: a module imports only from its own layer or the ones below it.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("the floor", frozenset({"secret", "violations", "rules", "about", "operations", "shrinking", "linearizable"})),
    (
        "how a request leaves",
        frozenset(
            {
                "target",
                "network",
                "pacing",
                "tokenlife",
                "memory",
                "redact",
                "guard",
                "transport",
                "launcher",
                "api",
                "sweep",
            }
        ),
    ),
    ("what the suite checks with", frozenset({"checks", "lazy_coverage", "fuzz", "options", "state", "examples"})),
    ("what a run found", frozenset({"waivers", "results", "history", "render", "reporting"})),
    ("the pytest and command-line faces", frozenset({"plugin", "cli", "replay"})),
)


def module_name(path: Path, root: Path = ROOT) -> str:
    """The import name of a source file, as the installed distribution (or the self-tests) import it."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([ROOT_PACKAGE, *parts] if parts and parts[0] in SUBPACKAGES else parts or [ROOT_PACKAGE])


def imported(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The project's modules a file imports, anywhere in it, resolved to the modules of `modules`."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:  # `a.b.name` where name is a function: module a.b
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_graph(root: Path = ROOT, folders: tuple[str, ...] = PROJECT) -> dict[str, set[str]]:
    """Module -> the project modules it imports. Package `__init__` modules are nodes of their own."""
    files = [p for folder in folders for p in sorted((root / folder).rglob("*.py"))]
    modules = {module_name(p, root): p for p in files}
    return {name: imported(path, set(modules), root) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: the circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`conformance/` imports that go up a layer, and its library modules no layer names."""
    prefix = f"{ROOT_PACKAGE}.conformance."
    level = {f"{prefix}{m}": i for i, (_, members) in enumerate(LAYERS) for m in members}
    library = {m for m in graph if m.startswith(prefix) and not m.removeprefix(prefix).startswith("test_")}
    problems = [f"{m} is in no layer of tests/test_layers.py" for m in sorted(library - set(level))]
    for module in sorted(library & set(level)):
        for target in sorted(graph[module]):
            if target in level and level[target] > level[module]:
                problems.append(f"{module} ({LAYERS[level[module]][0]}) imports {target} ({LAYERS[level[target]][0]})")
    return problems


def test_the_project_has_no_import_circle() -> None:
    graph = import_graph()
    assert f"{ROOT_PACKAGE}.conformance.api" in graph and f"{ROOT_PACKAGE}.specs" in graph
    assert cycles(graph) == []


def test_conformance_imports_only_downwards() -> None:
    assert upward_imports(import_graph()) == []


def test_a_circle_is_found_wherever_its_imports_stand(tmp_path: Path) -> None:
    """A circle through a function-level import and one under TYPE_CHECKING, and a relative one."""
    pkg = tmp_path / "conformance"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from runai_conformance.conformance.b import g\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import h\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("from .a import f\n")
    graph = import_graph(tmp_path, ("conformance",))
    assert cycles(graph) == [[f"{ROOT_PACKAGE}.conformance.{m}" for m in "abc"]]
    (pkg / "c.py").write_text("import json\n")
    assert cycles(import_graph(tmp_path, ("conformance",))) == []


def test_an_upward_import_is_named() -> None:
    graph = {
        f"{ROOT_PACKAGE}.conformance.api": {f"{ROOT_PACKAGE}.conformance.reporting"},
        f"{ROOT_PACKAGE}.conformance.reporting": {f"{ROOT_PACKAGE}.conformance.api"},
        f"{ROOT_PACKAGE}.conformance.new_module": set(),
    }
    assert upward_imports(graph) == [
        f"{ROOT_PACKAGE}.conformance.new_module is in no layer of tests/test_layers.py",
        f"{ROOT_PACKAGE}.conformance.api (how a request leaves) imports "
        f"{ROOT_PACKAGE}.conformance.reporting (what a run found)",
    ]


@pytest.mark.parametrize("folder", SUBPACKAGES)
def test_the_library_imports_its_project_by_one_name(folder: str) -> None:
    """Library modules import each other relatively or through runai_conformance, never by a bare folder
    name (`import conformance`), which an unrelated distribution of that name could answer."""
    bare = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            bare += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in PROJECT]
    assert bare == []
