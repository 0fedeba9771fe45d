"""Documents without Q/A: each section becomes a pair (heading → question, text → answer).

The question is asked in the document's language; sections longer than the token budget are split on
paragraph boundaries (then sentences, then characters) and each part says which part it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.core.cjk import HAN_RE
from tools.data.document import Block, Record, pair
from tools.data.faq import table_to_text
from tools.data.text import unwrap

CountFn = Callable[[list[str]], list[int]]
REPLY_TOKENS = 160  # a normal reply: no section answer is longer (its facts have their own short answers)
_SENTENCE = re.compile(r"(?<=[.!?。！？；;])\s*")


def language(text: str) -> str:
    """'zh' when CJK characters make up a fair share of the letters, else 'en'."""
    sample = text[:4000]
    cjk = len(HAN_RE.findall(sample))
    letters = sum(1 for c in sample if c.isalpha())
    return "zh" if letters and cjk / letters > 0.2 else "en"


@dataclass
class Section:
    title: str  # the document's title (first H1 or the file name)
    path: list[str]  # headings from the top down to this section
    paragraphs: list[str]
    loc: dict[str, Any]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def document_title(blocks: list[Block], carried: str | None, file_stem: str) -> str:
    """The document's own title: the one it carries (metadata, ``<title>``, a Title paragraph), else its first
    heading when that comes before any text and no heading is above it, else the file name."""
    if carried:
        return carried
    headings = [b for b in blocks if b.kind == "heading" and b.text.strip()]
    first = next((b for b in blocks if b.kind != "heading" or b.text.strip()), None)
    if first is not None and first.kind == "heading" and first.level <= min(h.level for h in headings):
        if sum(1 for h in headings if h.level == first.level) == 1:
            return first.text.strip()
    h1 = [h for h in headings if h.level == 1]
    return h1[0].text.strip() if len(h1) == 1 else file_stem


def collect_sections(blocks: list[Block], title: str) -> list[Section]:
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    current: Section | None = None

    def close() -> None:
        nonlocal current
        if current is not None and any(p.strip() for p in current.paragraphs):
            sections.append(current)
        current = None

    for b in blocks:
        if b.kind == "heading":
            close()
            while path and path[-1][0] >= b.level:
                path.pop()
            path.append((b.level, b.text.strip()))
            continue
        text = table_to_text(b) if b.kind == "table" else unwrap(b.text.strip())
        if not text:
            continue
        if current is None:
            loc = b.loc()
            current = Section(title, [t for _, t in path], [], loc)
        current.paragraphs.append(text)
    close()
    return sections


def section_question(title: str, path: list[str], lang: str, part: int = 0, parts: int = 0) -> str:
    heading = path[-1] if path else ""
    context = path[-2] if len(path) >= 2 else (title if title != heading else "")
    if lang == "zh":
        suffix = f"（第{part}部分，共{parts}部分）" if parts > 1 else ""
        if heading and context:
            return f"《{context}》中关于“{heading}”是怎么说的{suffix}？"
        if heading:
            return f"“{heading}”讲了什么{suffix}？"
        return f"《{title}》讲了什么{suffix}？"
    suffix = f" (part {part} of {parts})" if parts > 1 else ""
    if heading and context:
        return f'What does "{context}" say about {heading}{suffix}?'
    if heading:
        return f'What is "{heading}" about{suffix}?'
    return f'What does "{title}" say{suffix}?'


def _hard_split(text: str, tokens: int, budget: int) -> list[str]:
    n = max(2, -(-tokens // budget))
    size = max(1, -(-len(text) // n))
    return [text[i: i + size] for i in range(0, len(text), size)]


def split_to_budget(paragraphs: list[str], budget: int, count: CountFn) -> list[str]:
    """Pack paragraphs into chunks of at most ``budget`` tokens (splitting long paragraphs by sentence)."""
    pieces: list[tuple[str, int, str]] = []  # (text, tokens, joiner before it)
    counts = count(paragraphs)
    for para, n in zip(paragraphs, counts, strict=True):
        if n <= budget:
            pieces.append((para, n, "\n\n"))
            continue
        sentences = [s for s in _SENTENCE.split(para) if s.strip()]
        s_counts = count(sentences)
        first = True
        for s, k in zip(sentences, s_counts, strict=True):
            joiner = "\n\n" if first else ("" if HAN_RE.match(s[:1] or " ") else " ")
            first = False
            if k <= budget:
                pieces.append((s, k, joiner))
            else:
                parts = _hard_split(s, k, budget)
                for j, (p, pk) in enumerate(zip(parts, count(parts), strict=True)):
                    pieces.append((p, pk, joiner if j == 0 else ""))
    chunks: list[str] = []
    cur = ""
    cur_n = 0
    for text, n, joiner in pieces:
        if cur and cur_n + n > budget:
            chunks.append(cur)
            cur, cur_n = "", 0
        cur = text if not cur else cur + joiner + text
        cur_n += n
    if cur.strip():
        chunks.append(cur)
    return [c.strip() for c in chunks if c.strip()]


def section_records(sections: list[Section], meta: dict[str, Any], budget: int, count: CountFn) -> list[Record]:
    out: list[Record] = []
    for sec in sections:
        lang = language(sec.text + " ".join(sec.path))
        chunks = split_to_budget(sec.paragraphs, budget, count)
        for k, chunk in enumerate(chunks, 1):
            m = dict(meta)
            m["method"] = "section"
            m.update(sec.loc)
            if sec.path:
                m["section"] = " / ".join(sec.path)
            if len(chunks) > 1:
                m["part"] = k
            out.append(pair(section_question(sec.title, sec.path, lang, k, len(chunks)), chunk, m))
    return out
