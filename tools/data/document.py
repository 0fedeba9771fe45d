"""Internal shapes: what readers produce (blocks) and what extractors produce (records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tools.core.messages import said
from tools.data.schema import Issue

BlockKind = Literal["heading", "para", "table"]


@dataclass
class Block:
    """A heading, a paragraph (may span lines) or a table (rows of cell text) with its location."""

    kind: BlockKind
    text: str = ""
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)  # source line/row of each table row
    page: int | None = None
    line: int | None = None

    def loc(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.page is not None:
            out["page"] = self.page
        if self.line is not None:
            out["line"] = self.line
        return out


@dataclass
class Record:
    """One training example before cleaning: chat messages (or pre-training text) and where it came from."""

    messages: list[dict[str, str]]
    meta: dict[str, Any]
    text: str | None = None  # a {"text": ...} pre-training record, kept only when asked
    tokens: int = 0

    @property
    def method(self) -> str:
        return str(self.meta.get("method", ""))

    @property
    def source(self) -> str:
        return str(self.meta.get("source", ""))

    def first(self, role: str) -> str:
        for m in self.messages:
            if m["role"] == role:
                return m["content"]
        return ""

    def last(self, role: str) -> str:
        for m in reversed(self.messages):
            if m["role"] == role:
                return m["content"]
        return ""


def pair(question: str, answer: str, meta: dict[str, Any]) -> Record:
    return Record(
        messages=[{"role": "user", "content": question}, {"role": "assistant", "content": answer}], meta=meta
    )


class Problem(ValueError):
    """A problem with an input, by code, raised where reading cannot go on; reported like :meth:`FileLog.error`."""

    def __init__(self, code: str, **params: Any) -> None:
        self.said = said(code, **params)
        super().__init__(self.said.text())


def issue(where: str, code: str, *, line: int | None = None, page: int | None = None, **params: Any) -> Issue:
    """One problem of the report: where (``file``, ``file:12``, ``file page 3``), in English and by code."""
    if line is not None:
        where = f"{where}:{line}"
    if page is not None:
        where = f"{where} page {page}"
    message = said(code, **params)
    return Issue(where=where, message=message.text(), said=message, page=page)


class FileLog:
    """Collects issues and notes for one input while it is read (bounded, so a broken file stays readable)."""

    MAX_ERRORS = 20

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[Issue] = []
        self.suppressed = 0
        self.notes: list[str] = []
        self.drops: dict[str, int] = {}
        self.title: str | None = None  # the title the document carries (metadata, <title>, a Title paragraph)

    def error(self, code: str, *, line: int | None = None, page: int | None = None,
              where: str | None = None, **params: Any) -> None:
        """A problem with this input, by its catalog code (``data.*``) and the code's parameters."""
        if len(self.errors) >= self.MAX_ERRORS:
            self.suppressed += 1
            return
        self.errors.append(issue(where or self.source, code, line=line, page=page, **params))

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + n
