"""Prompt templates: ``prompts/<name>.md`` files rendered with Jinja2 ``StrictUndefined``.

Prompt text never lives in ``.py`` files (ARCHITECTURE.md, "Prompts"). A variable the template
uses but the caller does not pass raises :class:`jinja2.UndefinedError` instead
of rendering an empty string; ``tests/tools/test_prompts.py`` renders every
prompt file with the variables the code passes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta

from tools.core.errors import InputError
from tools.core.paths import REPO_ROOT

PROMPTS_DIR = REPO_ROOT / "prompts"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(PROMPTS_DIR), encoding="utf-8"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def list_prompts() -> list[str]:
    """Names of the prompt files (``prompts/*.md`` without the suffix)."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.md"))


def prompt_path(name: str) -> Path:
    if not _NAME_RE.match(name):
        raise InputError(
            f"invalid prompt name {name!r}", hint="Use the file name without '.md' and no slashes"
        )
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise InputError(
            f"prompt {name!r} not found",
            where=str(path),
            hint=f"Available prompts: {', '.join(list_prompts())}",
        )
    return path


def prompt_variables(name: str) -> set[str]:
    """The variables a prompt template uses (from its source, for tests and checks)."""
    env = _env()
    source = prompt_path(name).read_text(encoding="utf-8")
    return set(meta.find_undeclared_variables(env.parse(source)))


def render_prompt(name: str, /, **variables: Any) -> str:
    """Render ``prompts/<name>.md``; a missing variable raises :class:`jinja2.UndefinedError`."""
    prompt_path(name)
    return _env().get_template(f"{name}.md").render(**variables)
