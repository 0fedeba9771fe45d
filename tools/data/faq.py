"""Find question/answer pairs in documents and tables (English and Chinese).

Recognised: ``Q:``/``A:``, ``Question:``/``Answer:``, ``问：``/``答：``, ``问题：``/``回答：``, numbered
questions (``1. How do I …?``) followed by their answer, headings that are questions (end in ``?``/``？``)
followed by their text, and tables whose header names a question and an answer column.
What is not part of a pair is returned so that it can become a section record.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from tools.data.document import Block, Record, pair

_SEP = r"\s*(?:\*\*|__)?\s*[:：.．、)）]\s*(?:\*\*|__)?\s*"
_Q_WORD = r"(?:Q(?:uestion)?\s*\d{0,3}|问题?\s*\d{0,3}|提问)"
_A_WORD = r"(?:A(?:nswer)?\s*\d{0,3}|答案?\s*\d{0,3}|回答|答复|回复|解答)"
Q_MARK = re.compile(rf"^\s*(?:[-*>]\s+)?(?:\*\*|__)?\s*{_Q_WORD}{_SEP}(.*)$", re.IGNORECASE | re.DOTALL)
A_MARK = re.compile(rf"^\s*(?:[-*>]\s+)?(?:\*\*|__)?\s*{_A_WORD}{_SEP}(.*)$", re.IGNORECASE | re.DOTALL)
# "Q: … A: …" on one line: the answer marker must follow whitespace and use a colon
_INLINE_A = re.compile(r"\s(?:\*\*|__)?(?:A|Answer|答|答案|回答)\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*",
                       re.IGNORECASE)
NUMBERED_Q = re.compile(r"^\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[.．、)）]\s*(\S.{0,300}[?？])\s*$")
BOLD_Q = re.compile(r"^\s*(\*\*|__)(\S.{0,300}?[?？])\s*\1\s*$")
_NUM_PREFIX = re.compile(r"^\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[.．、)）]\s+")
QUESTION_END = ("?", "？")


def starts_qa_marker(line: str) -> bool:
    """True when a line opens a question or an answer (used by the PDF reader to keep such lines apart)."""
    return bool(Q_MARK.match(line) or A_MARK.match(line) or NUMBERED_Q.match(line) or BOLD_Q.match(line))


def _strip_md(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^(\*\*|__)(.*)\1$", r"\2", text).strip()
    return text.strip("*_ ").strip() if text.startswith(("**", "__")) or text.endswith(("**", "__")) else text


def is_question_heading(text: str) -> bool:
    t = _strip_md(text).rstrip()
    return t.endswith(QUESTION_END) or bool(Q_MARK.match(t))


def heading_question(text: str) -> str:
    t = _strip_md(text)
    m = Q_MARK.match(t)
    if m and m.group(1).strip():
        t = m.group(1).strip()
    return _NUM_PREFIX.sub("", t).strip()


# --- tables ----------------------------------------------------------------------------------------

Q_ALIASES = ("question", "questions", "q", "query", "prompt", "instruction", "ask", "faq", "user", "input",
             "问题", "提问", "问", "题目", "问句", "用户问题", "常见问题", "咨询", "咨询问题", "用户提问", "指令",
             "输入", "客户问题", "问题描述")
A_ALIASES = ("answer", "answers", "a", "response", "reply", "output", "completion", "solution", "assistant",
             "答案", "回答", "答", "回复", "解答", "答复", "输出", "标准答案", "参考答案", "客服回答", "回答内容",
             "答案内容")
_SINGLE = {"q", "a", "问", "答"}


def _norm_header(cell: str) -> str:
    return re.sub(r"[\s_\-:：/()（）*#.]+", "", unicodedata.normalize("NFKC", str(cell))).casefold()


def _match(cell: str, aliases: tuple[str, ...]) -> int:
    """2 = exact alias, 1 = contains an alias, 0 = no."""
    h = _norm_header(cell)
    if not h:
        return 0
    if h in aliases:
        return 2
    if len(h) <= 24 and any(a in h for a in aliases if a not in _SINGLE and len(a) > 1):
        return 1
    return 0


def find_qa_columns(header: list[str]) -> tuple[int, int, int | None] | None:
    """Column indexes (question, answer, extra input) when a header row names a question and an answer."""
    q_best = (0, -1)
    a_best = (0, -1)
    for i, cell in enumerate(header):
        qs, as_ = _match(cell, Q_ALIASES), _match(cell, A_ALIASES)
        if qs > as_ and qs > q_best[0]:
            q_best = (qs, i)
        elif as_ > qs and as_ > a_best[0]:
            a_best = (as_, i)
    if q_best[1] < 0 or a_best[1] < 0 or q_best[1] == a_best[1]:
        return None
    extra = None
    if _norm_header(header[q_best[1]]) in ("instruction", "指令"):
        for i, cell in enumerate(header):
            if i not in (q_best[1], a_best[1]) and _norm_header(cell) in ("input", "输入", "context"):
                extra = i
    return q_best[1], a_best[1], extra


def table_pairs(block: Block, meta: dict[str, Any]) -> tuple[list[Record], int]:
    """Pairs from a table with a question/answer header; ``([], 0)`` when it has none.

    Returns the records and the number of rows that had only one side (reported as dropped).
    """
    rows = block.rows
    for start in range(min(3, len(rows))):
        cols = find_qa_columns(rows[start])
        if cols:
            break
    else:
        return [], 0
    qi, ai, xi = cols
    out: list[Record] = []
    one_sided = 0
    for k in range(start + 1, len(rows)):
        row = rows[k]
        q = row[qi].strip() if qi < len(row) else ""
        a = row[ai].strip() if ai < len(row) else ""
        if xi is not None and xi < len(row) and row[xi].strip():
            q = f"{q}\n\n{row[xi].strip()}"
        if not q and not a:
            continue
        if not q or not a:
            one_sided += 1
            continue
        m = dict(meta)
        m["method"] = "table"
        if block.text:
            m["sheet"] = block.text
        line = block.row_numbers[k] if k < len(block.row_numbers) else None
        if line:
            m["row"] = line
        out.append(pair(q, a, m))
    return out, one_sided


def table_to_text(block: Block) -> str:
    return "\n".join(" | ".join(c for c in row if c) for row in block.rows if any(row))


# --- text ------------------------------------------------------------------------------------------


@dataclass
class FaqScan:
    """Result of scanning a document's blocks."""

    pairs: list[Record] = field(default_factory=list)
    one_sided: int = 0
    leftover: list[Block] = field(default_factory=list)


@dataclass
class _Open:
    question: list[str]
    mode: str  # "marker" (waiting for A:), "answer", "heading", "numbered"
    loc: dict[str, Any]
    section: str | None
    level: int = 0
    answer: list[str] = field(default_factory=list)


class _Scanner:
    """One pass over a document's blocks: the open question and answer, the heading path, and the blocks that
    hold no FAQ (kept for the section and table readers)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.scan = FaqScan()
        self.current: _Open | None = None
        self.heading_path: list[tuple[int, str]] = []
        self.keep: list[Block] = []  # leftover blocks under construction
        self.leftover_lines: list[str] = []
        self.leftover_block: Block | None = None

    def section_name(self) -> str | None:
        return " / ".join(t for _, t in self.heading_path) or None

    def flush(self) -> None:
        current, self.current = self.current, None
        if current is None:
            return
        q = "\n".join(current.question).strip()
        a = re.sub(r"\n{3,}", "\n\n", "\n".join(current.answer).strip())
        if q and a:
            m = dict(self.meta)
            m["method"] = "faq"
            m.update(current.loc)
            if current.section:
                m["section"] = current.section
            self.scan.pairs.append(pair(q, a, m))
        elif q or a:
            self.scan.one_sided += 1

    def keep_line(self, block: Block, line: str) -> None:
        if self.leftover_block is not block:
            self.close_leftover()
            self.leftover_block = block
        self.leftover_lines.append(line)

    def close_leftover(self) -> None:
        b = self.leftover_block
        if b is not None and any(x.strip() for x in self.leftover_lines):
            self.keep.append(Block("para", text="\n".join(self.leftover_lines).strip(), page=b.page, line=b.line))
        self.leftover_block = None
        self.leftover_lines = []

    def heading(self, block: Block) -> None:
        self.flush()
        self.close_leftover()
        if is_question_heading(block.text):
            self.current = _Open([heading_question(block.text)], "heading", block.loc(), self.section_name(),
                                 level=block.level)
            return
        while self.heading_path and self.heading_path[-1][0] >= block.level:
            self.heading_path.pop()
        self.heading_path.append((block.level, block.text.strip()))
        self.keep.append(block)

    def line(self, block: Block, line: str) -> None:
        """One line of a paragraph: a question marker, an answer marker, a numbered question, or text."""
        current = self.current
        qm = Q_MARK.match(line)
        am = A_MARK.match(line) if not qm else None
        nq = (NUMBERED_Q.match(line) or BOLD_Q.match(line)) if not (qm or am) else None
        if qm:
            self.flush()
            self.close_leftover()
            rest = qm.group(1).strip()
            inline = _INLINE_A.search(" " + rest)
            if inline:
                q_text = (" " + rest)[: inline.start()].strip()
                a_text = (" " + rest)[inline.end():].strip()
                self.current = _Open([q_text], "answer", block.loc(), self.section_name(), answer=[a_text])
            else:
                self.current = _Open([rest] if rest else [], "marker", block.loc(), self.section_name())
        elif am and current is not None and current.mode == "marker":
            current.mode = "answer"
            rest = am.group(1).strip()
            if rest:
                current.answer.append(rest)
        elif nq and (current is None or current.mode != "marker"):
            self.flush()
            self.close_leftover()
            self.current = _Open([_NUM_PREFIX.sub("", nq.group(nq.lastindex or 1)).strip()], "numbered",
                                 block.loc(), self.section_name())
        elif current is not None:
            (current.question if current.mode == "marker" else current.answer).append(line)
        else:
            self.keep_line(block, line)

    def block(self, block: Block) -> None:
        if block.kind == "table":
            self.flush()
            self.close_leftover()
            self.keep.append(block)
        elif block.kind == "heading":
            self.heading(block)
        else:
            for raw in block.text.split("\n"):
                self.line(block, raw.rstrip())
            if self.current is not None and self.current.mode != "marker":
                self.current.answer.append("")  # paragraph break
            self.close_leftover()


def scan_blocks(blocks: list[Block], meta: dict[str, Any]) -> FaqScan:
    """Find FAQ pairs in text blocks; tables are left to :func:`table_pairs` (kept in ``leftover``)."""
    scanner = _Scanner(meta)
    for block in blocks:
        scanner.block(block)
    scanner.flush()
    scanner.close_leftover()
    scanner.scan.leftover = scanner.keep
    return scanner.scan
