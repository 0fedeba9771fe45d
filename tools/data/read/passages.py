"""Passages: the person's documents kept as the units an answer is read from.

An FAQ entry is one passage (its question and answer); a manual's paragraph is one passage, with the document's
title and the section headings above it. The text is what the readers already cleaned. ``tunepilot data`` writes
them to ``passages.jsonl`` in the dataset folder, beside ``train.jsonl``; :mod:`tools.data.read.index` indexes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.cjk import HAN_RE
from tools.core.jsonio import iter_jsonl, write_jsonl

PASSAGES_FILE = "passages.jsonl"
MAX_WEIGHT = 160  # a paragraph heavier than this (a Chinese character counts twice) is cut at sentence ends: a
# small model reads short passages best, and on a CPU every token of a reading example costs training time
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])\s*|(?<=\.)(?!\d)\s*")  # "1.58" and "0.1" are not sentence ends


def _sentences(text: str) -> list[str]:
    """The text's sentences, each with the spaces after it: joined, they give the text back unchanged."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            out.append(text[start:m.end()])
            start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s.strip()]


class Passage(BaseModel):
    """One retrievable unit of the person's documents."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["faq", "paragraph"]
    source: str  # the file it came from
    title: str = ""  # the document's title
    section: str = ""  # the headings above it, "A / B"
    text: str
    questions: list[str] = Field(default_factory=list)  # questions the product wrote about it (index only)

    @property
    def where(self) -> str:
        """Where a person finds it: the document and the section."""
        return " / ".join(p for p in (self.title or self.source, self.section) if p)

    def shown(self) -> str:
        """The passage as the model reads it: its section (else its document), then its text."""
        head = self.section.rsplit(" / ", 1)[-1] if self.section else (self.title if self.kind == "paragraph" else "")
        return f"{head}: {self.text}" if head else self.text


HARD_CHARS = 1200  # no passage is longer, sentence ends or not (a file of one endless line stays readable)
FIELD_CHARS = 160  # a title or section heading kept with a passage


def _weight(text: str) -> int:
    return len(text) + len(HAN_RE.findall(text))


def _cut(text: str, limit: int = MAX_WEIGHT) -> list[str]:
    """A long paragraph as parts of whole sentences, each under ``limit`` (a sentence longer stays whole)."""
    if len(text) > HARD_CHARS * 4 and not _SENTENCE_END.search(text[:HARD_CHARS * 4]):
        return [text[i:i + HARD_CHARS] for i in range(0, min(len(text), HARD_CHARS * 50), HARD_CHARS)]
    if _weight(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for sentence in _sentences(text):
        if current.strip() and _weight(current.strip()) + _weight(sentence.strip()) > limit:
            parts.append(current.strip())
            current = sentence
        else:
            current += sentence
    if current.strip():
        parts.append(current.strip())
    return [c for p in parts for c in (p[i:i + HARD_CHARS] for i in range(0, len(p), HARD_CHARS))]


def paragraph_passages(source: str, title: str, path: Sequence[str], paragraphs: Iterable[str]) -> list[Passage]:
    """A section's paragraphs (long ones cut at sentence ends); ids are given by :func:`numbered`."""
    section = " / ".join(h for h in path if h.strip() and h.strip() != title.strip())[:FIELD_CHARS]
    return [Passage(id="", kind="paragraph", source=source, title=title[:FIELD_CHARS], section=section, text=part)
            for p in paragraphs if p.strip() for part in _cut(p.strip())]


def faq_passage(source: str, question: str, answer: str, title: str = "") -> Passage:
    return Passage(id="", kind="faq", source=source, title=title[:FIELD_CHARS],
                   text=f"{question.strip()}\n{answer.strip()}"[:HARD_CHARS * 4])


def numbered(passages: Iterable[Passage]) -> list[Passage]:
    """Passages with ids ``p1``, ``p2``… in order, the same text kept once."""
    out: list[Passage] = []
    seen: set[tuple[str, str]] = set()
    for p in passages:
        key = (p.source, p.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(p.model_copy(update={"id": f"p{len(out) + 1}"}))
    return out


def write_passages(folder: Path, passages: Sequence[Passage]) -> Path:
    path = Path(folder) / PASSAGES_FILE
    write_jsonl(path, (p.model_dump(mode="json") for p in passages))
    return path


def load_passages(folder: Path) -> list[Passage]:
    """The passages of a dataset folder; none when it has no ``passages.jsonl`` (a dataset of ready pairs)."""
    path = Path(folder) / PASSAGES_FILE
    if not path.exists():
        return []
    return [Passage.model_validate(rec) for _, rec in iter_jsonl(path) if isinstance(rec, dict)]


def grams(text: str) -> set[str]:
    """Character bigrams of letters and digits, case folded: an overlap measure that needs no word splitting."""
    chars = [c for c in text.casefold() if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


_GRAMS: dict[str, set[str]] = {}


def _grams_of(text: str) -> set[str]:
    """:func:`grams`, kept for the passages' texts (each is compared with many answers)."""
    found = _GRAMS.get(text)
    if found is None:
        if len(_GRAMS) > 50_000:
            _GRAMS.clear()
        found = _GRAMS[text] = grams(text)
    return found


def home_of(answer: str, passages: Sequence[Passage], source: str | None = None,
            section: str | None = None) -> Passage | None:
    """The passage an answer was written from: the one whose text holds most of the answer's bigrams (same
    source and section first); ``None`` when no passage holds at least half of them."""
    want = grams(answer)
    if not want:
        return None
    pool = [p for p in passages if source is None or p.source == source] or list(passages)
    if section:
        pool = [p for p in pool if p.section and section.endswith(p.section)] or pool
    best, best_share = None, 0.0
    for p in pool:
        share = len(want & _grams_of(p.text)) / len(want)
        if share > best_share:
            best, best_share = p, share
    return best if best_share >= 0.5 else None
