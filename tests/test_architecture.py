"""The house's rules, read from the code's own imports (module level and inside functions alike).

- ``tools/`` never reaches up: not into ``agent/``, ``ui/`` or the command line, nor gradio or langgraph.
- ``ui/`` never loads torch or the training libraries: heavy work runs in child processes.
- The stages of ``tools/`` only look back along the journey: core ← data ← plan ← train ← serve ← evaluate.
- No two modules import each other, directly or around a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fixtures.sources import sources

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("tunepilot", "agent", "ui", "tools")
STAGES = ("core", "data", "plan", "train", "serve", "evaluate")
HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "vllm", "datasets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sources(pkg):
            found[_module_name(path)] = path
    return found


def _imports(path: Path, name: str) -> set[str]:
    """Every module name this file imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    """module → the modules of this tree it imports (a name imported from a package counts as that module
    when it is one, else as the package)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = set()
        for imported in _imports(path, name):
            probe = imported
            while probe and probe not in mods:
                probe = probe.rpartition(".")[0]
            if probe and probe != name:
                targets.add(probe)
        graph[name] = targets
    return graph


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "tools" or len(parts) < 2 or parts[1] not in STAGES:
        return None
    return STAGES.index(parts[1])


def test_the_tree_has_the_packages_and_stages_the_rules_name() -> None:
    mods = _modules()
    for stage in STAGES:
        assert f"tools.{stage}" in mods, f"tools/{stage}/__init__.py is missing"
    loose = [m for m in mods if m.startswith("tools.") and _stage(m) is None]
    assert not loose, f"modules of tools/ outside every stage folder: {loose}"
    assert "tunepilot.cli" in mods


def test_tools_never_import_the_layers_above_or_their_frameworks() -> None:
    bad = []
    for name, path in _modules().items():
        if not name.startswith("tools"):
            continue
        for imported in _imports(path, name):
            top = imported.split(".")[0]
            if top in ("agent", "ui", "tunepilot", "gradio", "langgraph"):
                bad.append(f"{name} imports {imported}")
    assert not bad, bad


def test_the_page_never_loads_torch_or_the_training_libraries() -> None:
    bad = []
    for name, path in _modules().items():
        if not name.startswith("ui"):
            continue
        for imported in _imports(path, name):
            if imported.split(".")[0] in HEAVY:
                bad.append(f"{name} imports {imported}")
    assert not bad, bad


def test_the_agent_does_not_reach_into_the_page_or_the_command_line() -> None:
    bad = [f"{a} imports {b}" for a, targets in _graph().items() if a.startswith("agent")
           for b in targets if b.split(".")[0] in ("ui", "tunepilot")]
    assert not bad, bad


def test_stages_only_look_back_along_the_journey() -> None:
    bad = []
    for a, targets in _graph().items():
        sa = _stage(a)
        if sa is None:
            continue
        for b in targets:
            sb = _stage(b)
            if sb is not None and sb > sa:
                bad.append(f"{a} ({STAGES[sa]}) imports {b} ({STAGES[sb]})")
    assert not bad, bad


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a circle of the house
    for name in graph:
        graph[name] = {t for t in graph[name] if not (name.startswith(t + ".") and t in graph)}
    assert not _circles(graph), _circles(graph)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_circle_finder_finds_circles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _circles(graph) == expected
