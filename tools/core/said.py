"""Sentences kept by code in the order they were said, and stored sentences read in a reader's language."""

from __future__ import annotations

from typing import Any

from tools.core.messages import Said, is_zh, said


def in_language(en: list[str], zh: list[str] | None, lang: str | None,
                said_: list[Said] | list[dict[str, Any]] | None = None) -> list[str]:
    """The sentences in ``lang``: rendered from their codes when the plan has one per English sentence;
    else, in a plan written before codes, its ``zh`` sentences for a Chinese reader (when there is one per
    English one), else ``en`` as written.
    """
    if said_ and len(said_) == len(en):
        return [Said.model_validate(x).text(lang) for x in said_]
    return list(zh) if is_zh(lang) and zh and len(zh) == len(en) else list(en)


def as_written(text: str) -> Said:
    """A sentence that has no code (a note written by another tool in one language), shown as written."""
    return said("text.as_written", text=text)


class SaidList:
    """What one plan says, by code (rendered in any language with a catalog), in the order it was said."""

    def __init__(self) -> None:
        self.items: list[Said] = []

    def add(self, code: str, /, **params: Any) -> None:
        self.items.append(said(code, **params))

    def insert(self, i: int, code: str, /, **params: Any) -> None:
        self.items.insert(i, said(code, **params))

    def extend(self, items: list[Said]) -> None:
        self.items.extend(items)

    def text(self, lang: str = "en") -> list[str]:
        return [s.text(lang) for s in self.items]
