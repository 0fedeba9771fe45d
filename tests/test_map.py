"""The map tells the truth: every path and ``module.symbol`` that ARCHITECTURE.md (and the docs) name exists, no
file cites a document the repository does not have, and the house's size limits hold."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.fixtures.sources import sources

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("tunepilot", "agent", "ui", "tools")
MAPS = ("ARCHITECTURE.md", "README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
# what a run folder or the home folder holds (the map names them as outputs, they are not repository files)
RUN_FILES = re.compile(r"^(runs/|\./runs|RUN/|~/|\.venv/|data/|eval/|logs/|merged/|adapter|checkpoints/|export/|\$TUNEPILOT_HOME)|"
                       r"^[\w.{},-]+\.(jsonl|json|yaml|sqlite|log|lock|zip|csv|md)$")
REPO_DIRS = ("tools/", "agent/", "ui/", "tunepilot/", "tests/", "bench/", "scripts/", "docs/", "prompts/", ".ci/")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _index() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Names each module defines or imports at its top level, and the members of every class."""
    modules: dict[str, set[str]] = {}
    classes: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sources(pkg):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names: set[str] = set()
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
                if isinstance(node, ast.ClassDef):
                    members = classes.setdefault(node.name, set())
                    for item in node.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                            members.add(item.name)
                        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                            members.add(item.target.id)
                        elif isinstance(item, ast.Assign):
                            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
                        if isinstance(item, ast.FunctionDef) and item.name == "__init__":  # self.x = ...
                            members.update(t.attr for n in ast.walk(item) if isinstance(n, (ast.Assign, ast.AnnAssign))
                                           for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                           if isinstance(t, ast.Attribute))
            modules[_module_name(path)] = names
    return modules, classes


def _symbol_exists(dotted: str) -> bool:
    modules, classes = _index()
    parts = dotted.split(".")
    if parts[0] in PACKAGES:  # a full path: the longest module prefix, then a name in it (and a member)
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            if module in modules:
                rest = parts[cut:]
                if not rest:
                    return True
                if rest[0] not in modules[module]:
                    return False
                return len(rest) == 1 or all(r in classes.get(rest[0], set()) for r in rest[1:2])
        return False
    head, *rest = parts  # a short form: `readers.drop_running_lines`, `FileLog.title`
    if head in classes:
        return all(r in classes[head] for r in rest[:1])
    owners = [names for module, names in modules.items() if module.rsplit(".", 1)[-1] == head]
    return any(rest[0] in names for names in owners)


def _named(text: str) -> list[str]:
    """The code spans of a document, lists such as `RunIndex.list/get` split into their names."""
    out = []
    for span in re.findall(r"`([^`\n]+)`", text):
        span = span.strip()
        m = re.fullmatch(r"([\w.]+)\.([\w]+(?:/\w+)+)", span)
        if m:
            out.extend(f"{m.group(1)}.{name}" for name in m.group(2).split("/"))
        else:
            out.append(span)
    return out


@cache
def _catalog_codes() -> set[str]:
    import yaml

    def walk(node: object, prefix: str) -> set[str]:
        if not isinstance(node, dict):
            return {prefix}
        return {c for k, v in node.items() for c in walk(v, f"{prefix}.{k}" if prefix else str(k))}

    return walk(yaml.safe_load((ROOT / "tools/core/catalog/en.yaml").read_text(encoding="utf-8")), "")


@cache
def _test_names() -> set[str]:
    return {node.name for path in (ROOT / "tests").rglob("test_*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def _ignored_folders() -> tuple[str, ...]:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip().lstrip("/") for line in lines if line.strip().endswith("/") and "/" in line.strip()[:-1])


def _problem(span: str) -> str | None:
    plain = re.sub(r"\(.*\)$", "", span)  # `say(code, lang)` names `say`
    if re.fullmatch(r"test_\w+", plain):  # a test a document says checks a promise
        return None if plain in _test_names() else f"no test {plain}"
    if plain in _catalog_codes():
        return None
    if re.fullmatch(r"\w+/", plain) and list(ROOT.glob(f"*/*/{plain}")) + list(ROOT.glob(f"*/{plain}")):
        return None  # a folder of a stage the map's row is about (`facts/` of tools/data)
    if " " in plain or any(c in plain for c in "{}|=<>*\"'"):
        return None  # a command line, a record's shape, a value
    if "/" in plain and plain.startswith(_ignored_folders()):
        return None  # made on a machine, ignored by git (`bench/.peers/`: the peer bench installs into it)
    if "/" in plain or plain.endswith((".py", ".md")):
        if plain.startswith(REPO_DIRS) or "/" not in plain.rstrip("/"):
            if (ROOT / plain).exists() or (ROOT / "tools" / plain).exists():
                return None
            if plain.endswith(".py") and "/" not in plain:
                found = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob(plain)]
                return None if found else f"no file {plain}"
            if RUN_FILES.match(plain):
                return None
            dotted = plain.replace("/", ".")  # `ui/app.ask_both`
            if "." in dotted and _symbol_exists(dotted.removesuffix(".py")):
                return None
            return f"no file {plain}"
        return None if RUN_FILES.match(plain) else f"no file {plain}"
    if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", plain) and not RUN_FILES.match(plain):
        head = plain.split(".")[0]
        modules, classes = _index()
        known_head = head in PACKAGES or head in classes or any(m.rsplit(".", 1)[-1] == head for m in modules)
        if known_head and not _symbol_exists(plain):
            return f"no {plain}"
    return None


@pytest.mark.parametrize("doc", MAPS)
def test_every_path_and_symbol_the_map_names_exists(doc: str) -> None:
    spans = _named((ROOT / doc).read_text(encoding="utf-8"))
    assert len(spans) > 20  # the document still names what it is about
    problems = [p for p in map(_problem, spans) if p]
    assert not problems, f"{doc} names what the code does not have: {problems}"


def test_the_checker_catches_a_name_that_moved() -> None:
    assert _problem("tools.core.runs.standing") is None and _problem("tools/core/runs.py") is None
    assert _problem("tools.core.runs.no_such_function") == "no tools.core.runs.no_such_function"
    assert _problem("tools/core/no_such_file.py") == "no file tools/core/no_such_file.py"
    assert _problem("FileLog.no_such_field") == "no FileLog.no_such_field"
    assert _problem("test_no_such_test") == "no test test_no_such_test"


def test_no_file_cites_a_document_the_repository_lacks() -> None:
    cited = re.compile(r"\b([A-Z][A-Z_]+\.md)\b")
    missing = []
    for pkg in (*PACKAGES, "tests", "bench", "scripts"):
        for path in sources(pkg):
            for name in cited.findall(path.read_text(encoding="utf-8")):
                if not (ROOT / name).exists() and not list((ROOT / "docs").glob(name)):
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing


def _python_files() -> list[Path]:
    return [p for pkg in ("tools", "agent", "ui") for p in sources(pkg)]


def test_no_file_is_over_the_limit_and_each_says_what_it_holds() -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for p in _python_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES]
    assert not long, f"over {MAX_FILE_LINES} lines: {long}"
    silent = [str(p.relative_to(ROOT)) for p in _python_files()
              if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not silent, f"no module docstring: {silent}"


def test_no_function_is_over_the_limit() -> None:
    long = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, f"over {MAX_FUNCTION_LINES} lines: {long}"
