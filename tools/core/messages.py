"""Messages by code: one catalog per language renders what tunepilot says, for the agent, the page and the CLI.

A tool that has something to tell a person says it as a code with parameters (:class:`Said`), and keeps the
English text beside it for logs and JSON readers; whoever shows it renders the code in the reader's language
with :func:`say`. The catalogs are ``tools/core/catalog/<lang>.yaml``: the same codes in every file, grouped
by who says them (``agent``, ``page``, ``data``, ``table``, ...). Adding a language is adding a catalog;
``tests/test_catalog.py`` fails when a code or a ``{parameter}`` is missing from one of them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
DEFAULT_LANG = "en"


def languages() -> tuple[str, ...]:
    """The languages with a catalog (``en`` first)."""
    found = sorted(p.stem for p in CATALOG_DIR.glob("*.yaml"))
    return tuple(sorted(found, key=lambda lang: lang != DEFAULT_LANG))


def lang_of(lang: str | None) -> str:
    """The catalog for a person's language: "zh", "zh-CN" and "mixed" (a Chinese speaker using English terms)
    read Chinese; a language with a catalog reads its own; anything else English."""
    low = (lang or "").lower()
    if low.startswith(("zh", "mixed")):
        return "zh"
    base = low.split("-")[0].split("_")[0]
    return base if base in languages() else DEFAULT_LANG


def is_zh(lang: str | None) -> bool:
    """Whether a person with this language reads Chinese (the one rule the agent, the page and the tools use)."""
    return lang_of(lang) == "zh"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        code = f"{prefix}{key}"
        if not isinstance(key, str):  # YAML reads a bare on/off/yes/no as a boolean: quote it
            raise ValueError(f"catalog key {code!r} is not text; quote it")
        if isinstance(value, dict):
            out.update(_flatten(value, code + "."))
        elif isinstance(value, str):
            out[code] = value
        else:
            raise ValueError(f"catalog text of {code!r} is {value!r}, not text; quote it")
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every code of one language's catalog and its text."""
    path = CATALOG_DIR / f"{lang}.yaml"
    return _flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def has(code: str) -> bool:
    return code in catalog(DEFAULT_LANG)


def say(code: str, lang: str | None = DEFAULT_LANG, /, **params: Any) -> str:
    """The text of ``code`` in ``lang``, with ``params`` filled in.

    A parameter may itself be said by code (a :class:`Said`, or its stored dict): it is rendered in the same
    language, so a sentence and the words inside it never mix languages; a list of them is joined with the
    language's list separator (``text.list_sep``). Raises ``KeyError`` for a code no catalog knows or a
    parameter its text needs but was not given (the catalog test renders every code, so neither reaches a
    person)."""
    texts = catalog(lang_of(lang))
    text = texts.get(code)
    if text is None:
        text = catalog(DEFAULT_LANG).get(code)
        if text is None:
            raise KeyError(f"no message with the code {code!r}")
    return text.format(**{k: _rendered(v, lang) for k, v in params.items()})


def _is_said(value: Any) -> bool:
    return isinstance(value, Said) or (isinstance(value, dict) and set(value) == {"code", "params"})


def _rendered(value: Any, lang: str | None) -> Any:
    """A parameter as its text in ``lang`` when it is said by code (or a list of such), else as it is."""
    if _is_said(value):
        said_ = value if isinstance(value, Said) else Said.model_validate(value)
        return said_.text(lang)
    if isinstance(value, list) and value and all(_is_said(v) for v in value):
        return say("text.list_sep", lang).join(_rendered(v, lang) for v in value)
    return value


def section(prefix: str) -> dict[str, dict[str, str]]:
    """The codes under ``prefix`` (without it), each with its text per language: ``{key: {"en": ..., "zh": ...}}``."""
    out: dict[str, dict[str, str]] = {}
    for lang in languages():
        for code, text in catalog(lang).items():
            if code.startswith(prefix + "."):
                out.setdefault(code[len(prefix) + 1:], {})[lang] = text
    return out


class Said(BaseModel):
    """Something a tool said, by code: rendered in the reader's language by :meth:`text`."""

    model_config = ConfigDict(extra="forbid")

    code: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _nested_as_stored(cls, params: dict[str, Any]) -> dict[str, Any]:
        """A parameter said by code is kept as the dict it is stored as, so a record read back equals itself."""
        def stored(v: Any) -> Any:
            if isinstance(v, Said):
                return v.model_dump()
            if isinstance(v, list):
                return [stored(x) for x in v]
            return v
        return {k: stored(v) for k, v in params.items()}

    def text(self, lang: str | None = DEFAULT_LANG) -> str:
        return say(self.code, lang, **self.params)


def said(code: str, /, **params: Any) -> Said:
    """A :class:`Said`, checked now: an unknown code or a missing parameter fails where it is said."""
    say(code, DEFAULT_LANG, **params)
    return Said(code=code, params=params)


def shown(message: Said | None, english: str, lang: str | None) -> str:
    """What a stored message reads as in ``lang``: from its code when it has one, else the English it was
    stored with (files written before the code existed)."""
    if message is not None:
        try:
            return message.text(lang)
        except (KeyError, IndexError, ValueError):
            return english
    return english
