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
    out: list[str] = []
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
    """Nothing sends a reader to a document the repository lacks, nor to the shared folder beside it (outside the repository)."""
    cited = re.compile(r"\b([A-Z][A-Z_]+\.md)\b|(?<![\w/.-])(shared[/])")
    missing = []
    for name in _tracked()[0]:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".sh", ".toml", ".yaml", ".yml", "") or not path.is_file():
            continue
        for doc, folder in cited.findall(path.read_text(encoding="utf-8", errors="replace")):
            if folder or not (ROOT / doc).exists() and not list((ROOT / "docs").glob(doc)):
                missing.append(f"{name}: {doc or folder}")
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


# --- every path, command and link the documents show ------------------------------------------------------------
#
# A path is a token that looks like one: `a/b.py`, `a/`, `a/b/c.md`, `report.json`, in prose, code spans and
# fenced blocks alike. Each must be a file or folder of the repository, or something the product (or the person)
# makes, named below with its reason; nothing else passes.

DOCS = MAPS
_EXT = r"py|md|sh|yaml|yml|toml|json|jsonl|sqlite|lock|log|zip|csv|xlsx|pdf|docx|png|gguf|rss|txt|html"
_TOKEN = re.compile(r"(?:\{[^}\s]*\}|[^\s`'\"()\[\]|,;:!?，。（）：；“”、])+")
# where the product writes, as the documents spell the folder (`runs/<id>/`, `RUN/` and `DIR/` in a command)
PLACEHOLDER_ROOTS = ("runs/<id>/", "./runs/", "runs/", "RUN/", "DIR/", "OUT/", "$TUNEPILOT_HOME/",
                     "~/.cache/tunepilot/")
# what a run folder holds, each written by one stage (ARCHITECTURE.md's table of the stages); a bare name
# (`report.json`) stands for the same file (`tunepilot data --out DIR` writes it without the `data/`)
RUN_FOLDER = (
    "data/", "data/train.jsonl", "data/eval.jsonl", "data/report.json", "data/passages.jsonl", "data/index/",
    "corrections.jsonl",                                      # data: the person's corrections of a trained model
    "plan.json", "accelerate_config.machine*.yaml",           # plan
    "config.yaml", "follow_up.json", "replay.jsonl", "checkpoints/", "adapter/", "adapter.zip", "merged/",
    "export/",                                                # train, merge, export
    "serve.json", "logs/", "logs/vllm.log", "logs/reading.log",  # serve
    "eval/", "eval/before.jsonl", "eval/after.jsonl", "eval/table.md", "eval/table.csv", "eval/table.json",
    "eval/against-*/",                                        # evaluate (`--against RUN_B`)
    "events.jsonl",                                           # every stage
)
OTHER_WRITTEN = {
    "index.sqlite": "the runs' index, beside the run folders (`runs/index.sqlite`)",
    "train.lock": "one training at a time, in $TUNEPILOT_HOME",
    "speed.jsonl": "every finished training's speed, in $TUNEPILOT_HOME",
    "doctor.json": "what `tunepilot doctor --json` prints, saved by the person for `plan --hardware`",
    "node.json": "the same, for one machine of several",
    "answers.jsonl": "what `tunepilot ask --out` writes",
    "tunepilot-train.rss": "what bench/peer_train.py keeps under PEER_TRAIN_KEEP",
    "faq.xlsx": "a person's file in an example command",
    "manual.pdf": "a person's file in an example command",
    "身份.jsonl": "a person's file in an example command",
    "FILE.json": "a placeholder for a file the person names",
    "FILE.gguf": "a placeholder for a file the person names",
    ".gguf": "a file kind",
    "identity.json": "LLaMA-Factory's identity set, from its package (bench/peer_train.py fetches it)",
    "data/identity.json": "the same, as LLaMA-Factory's source tree names it",
}


@cache
def _tracked() -> tuple[frozenset[str], frozenset[str]]:
    """The repository's files (`git ls-files`; without git, what lies outside hidden and ignored folders) and
    their folders."""
    import subprocess

    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        names = out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and not any(part.startswith(".") or part in ("runs", "__pycache__") or part.endswith(".egg-info")
                             for part in p.relative_to(ROOT).parts[:-1])]
    files = frozenset(f for f in names if (ROOT / f).exists())
    dirs = frozenset(str(Path(f).parents[i]) + "/" for f in files for i in range(len(Path(f).parts) - 1))
    return files, dirs


def _top_dirs() -> tuple[str, ...]:
    return tuple(sorted({d.split("/")[0] + "/" for d in _tracked()[1]}))


def _run_file(rest: str) -> bool:
    from fnmatch import fnmatch

    rest = rest.rstrip("/")
    names = [n.rstrip("/") for n in RUN_FOLDER]
    return not rest or any(fnmatch(rest, n) or fnmatch(rest, n.rsplit("/", 1)[-1]) for n in names)


def _path_problem(token: str, context: str | None = None) -> str | None:
    """None when `token` names something that exists or that the product writes; else what is wrong."""
    if "{" in token and "," in token:  # eval/table.{md,csv,json}
        head, body, tail = re.match(r"(.*)\{([^}]*)\}(.*)", token).groups()  # type: ignore[union-attr]
        return next((p for p in (_path_problem(head + b + tail, context) for b in body.split(",")) if p), None)
    files, dirs = _tracked()
    wanted = token if token.endswith("/") else token.rstrip("/")
    if context and context in dirs and not token.startswith(_top_dirs()):  # a map line: `ui/  app.py, view.py`
        full = context + wanted
        return None if full in files or full in dirs else f"no {full}"
    if context and not token.startswith(_top_dirs()):  # a run folder's line: `runs/<id>/ plan.json ...`
        return None if _run_file(wanted) else f"{wanted} is not a run file"
    if wanted in files or wanted in dirs or wanted + "/" in dirs:
        return None
    if token.startswith(_top_dirs()):
        if any(token.startswith(d) for d in _ignored_folders()):
            return None  # made on a machine, ignored by git (`bench/.peers/`)
        if "*" in token:
            return None if list(ROOT.glob(token)) else f"nothing matches {token}"
        module, _, name = wanted.rpartition(".")
        if module and "/" in module and (module + ".py") in files and _symbol_exists(wanted.replace("/", ".")):
            return None  # `ui/model_chat.ask_both`
        return f"no {wanted}"
    for root in PLACEHOLDER_ROOTS:
        if (token + "/").startswith(root):
            rest = (token + "/")[len(root):].rstrip("/")
            return None if _run_file(rest) or rest in OTHER_WRITTEN else f"{rest} is not a file the product writes"
    if token.startswith((".venv/", "~/.cache/tunepilot")):
        return None  # made by scripts/setup.sh (ignored by git) / the default $TUNEPILOT_HOME
    if wanted in OTHER_WRITTEN or _run_file(wanted):
        return None
    if any(f.endswith("/" + wanted) for f in files) or any(d.endswith("/" + wanted.rstrip("/") + "/") for d in dirs):
        return None  # a stage's own file in its row of the map: `runs.py`, `facts/`
    return f"no {wanted}"


def _candidates(text: str) -> list[str]:
    roots = _top_dirs() + PLACEHOLDER_ROOTS + tuple(n.split("/")[0] + "/" for n in RUN_FOLDER if "/" in n.rstrip("/"))
    out = []
    for raw in _TOKEN.findall(re.sub(r"\w+://\S+", " ", text)):
        token = raw.rstrip(".…").replace("**", "")
        if not re.match(r"[A-Za-z_.$~<\w]", token) or token[0].isdigit() or re.fullmatch(r"[./]+", token):
            continue
        if re.search(rf"\.({_EXT})$", token) or token.endswith("/") or ("/" in token and token.startswith(roots)):
            out.append(token)
    return out


def _fences(text: str) -> tuple[str, list[str]]:
    """The text without its fenced blocks, and the blocks' lines."""
    lines, prose, inside = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
        else:
            prose.append(line)
    return "\n".join(prose), lines


def _anchors(path: Path) -> set[str]:
    heads = re.findall(r"^#+\s+(.+)$", _fences(path.read_text(encoding="utf-8"))[0], re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def _link_problems(doc: str, text: str) -> list[str]:
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://|mailto:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (ROOT / doc).parent / file if file else ROOT / doc
        if not path.exists() or ROOT.resolve() not in path.resolve().parents:
            problems.append(f"link to {target}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            problems.append(f"link to {target}: no such heading")
    return problems


def _doc_path_problems(doc: str, text: str) -> list[str]:
    prose, block_lines = _fences(text)
    problems = _link_problems(doc, prose)
    prose = re.sub(r"\]\(([^)\s]+)\)", "]", prose)
    problems += [f"{t}: {p}" for t in _candidates(prose) if (p := _path_problem(t))]
    context = None
    for line in block_lines:  # a map's line sets the folder its bare names are in: `ui/  app.py (the page)`
        if m := re.match(r"(\S+/)(?:\s|$)", line):
            context = m.group(1)
            problems += [f"{m.group(1)}: {p}" for p in [_path_problem(m.group(1))] if p]
            line = line[m.end():]
        elif not line.startswith(" "):
            context = None
        problems += [f"{t}: {p}" for t in _candidates(line) if (p := _path_problem(t, context))]
    return problems


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_document_shows_exists_or_is_made_by_the_product(doc: str) -> None:
    problems = _doc_path_problems(doc, (ROOT / doc).read_text(encoding="utf-8"))
    assert not problems, f"{doc}: {problems}"


@cache
def _verbs() -> dict[str, set[str]]:
    """Each `tunepilot` verb and its options, from the command's own parser ("" holds the global options)."""
    import argparse

    from tunepilot.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    verbs = {name: {o for a in p._actions for o in a.option_strings} for name, p in sub.choices.items()}
    return verbs | {"": {o for a in parser._actions for o in a.option_strings}}


def _commands(text: str) -> list[str]:
    """What the documents show as typed: code spans and the lines of fenced blocks."""
    prose, block_lines = _fences(text)
    return re.findall(r"`([^`\n]+)`", prose) + block_lines


def _command_problems(text: str) -> list[str]:
    import importlib.util

    verbs, problems = _verbs(), []
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    for cmd in _commands(text):
        cmd = cmd.replace("\\|", "/")
        for m in re.finditer(r"(?:^|[\s(])(?:tunepilot|-m tunepilot(?:\.cli)?)\s+([\w-]+)((?:\s*\|\s*[a-z]+)*)(.*)", cmd):
            said = [m.group(1), *re.findall(r"[a-z]+", m.group(2))]
            for verb in said:
                if verb.startswith("-"):
                    continue
                if verb not in verbs:
                    problems.append(f"`{cmd}`: tunepilot has no verb {verb}")
            verb = said[0] if not said[0].startswith("-") else ""
            flags = re.findall(r"(?<![\w-])--?[a-z][\w-]*", m.group(3) if verb else m.group(1) + m.group(3))
            problems += [f"`{cmd}`: tunepilot {verb} has no {f}" for f in flags
                         if verb in verbs and f not in verbs[verb] and f not in verbs[""]]
        short = re.match(r"([a-z]+) --[\w-]+", cmd)  # `plan --hardware`, `train --continue RUN`
        if short and short.group(1) in verbs:
            flags = re.findall(r"(?<![\w-])--[a-z][\w-]*", cmd)
            problems += [f"`{cmd}`: tunepilot {short.group(1)} has no {f}" for f in flags
                         if f not in verbs[short.group(1)]]
        for found in re.findall(r"\bpython3?\s+(?:-\w+\s+)*-m\s+([\w.]+)|\blaunch\b.*?\s-m\s+([\w.]+)", cmd):
            module = found[0] or found[1]
            where = ROOT / module.replace(".", "/")
            if module.split(".")[0] in PACKAGES + ("tests", "bench"):
                if not (where.with_suffix(".py").exists() or (where / "__main__.py").exists()):
                    problems.append(f"`{cmd}`: no module {module} to run")
            elif importlib.util.find_spec(module.split(".")[0]) is None:
                problems.append(f"`{cmd}`: no module {module} installed")
        problems += [f"`{cmd}`: the Makefile has no target {t}" for t in re.findall(r"(?:^|\s)make\s+([\w-]+)", cmd)
                     if t not in targets]
    return problems


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_a_document_shows_is_one_the_product_has(doc: str) -> None:
    problems = _command_problems((ROOT / doc).read_text(encoding="utf-8"))
    assert not problems, f"{doc}: {problems}"


def test_the_document_checks_catch_what_is_wrong() -> None:
    planted = {
        "`agent/nodes.py` routes it": "agent/nodes.py",
        "see [the design](../DESIGN" ".md)": "DESIGN" ".md",  # split: the files must not cite them either
        "as STYLE" ".md says": "STYLE" ".md",
        "the notes in `shared" "/`": "shared" "/",
        "```\nruns/<id>/ plan.json request.json\n```": "request.json",
        "the folder holds `RUN/request.json`": "request.json",
        "```\nui/  app.py (layout), nodes.py\n```": "ui/nodes.py",
        "[usage](docs/usage.md#no-such-heading)": "no-such-heading",
        "`tools/train/nothing.py`": "tools/train/nothing.py",
    }
    for text, wrong in planted.items():
        problems = _doc_path_problems("README.md", text)
        assert any(wrong in p for p in problems), (text, problems)
    for text, wrong in {"`tunepilot serve --run RUN`": "serve", "`tunepilot chat --stream`": "--stream",
                        "`python -m tools.nope`": "tools.nope", "`make deploy`": "deploy",
                        "`eval --against-all`": "--against-all"}.items():
        assert any(wrong in p for p in _command_problems(text)), text
    assert not _doc_path_problems("README.md", "`tools/core/runs.py`, `runs/<id>/plan.json`, `report.json`")
    if not (ROOT / "tools/train/record.py").exists():  # the move in flight: only names the old home defines
        assert _problem("tools.train.record.run_settings") is None
        assert _problem("tools.train.record.no_such_function") is not None
    assert not _command_problems("`tunepilot eval --run RUN --against RUN2`, `python -m tunepilot`, `make test`")
