"""Markdown and plain text → blocks: headings, paragraphs, pipe tables and fenced code, as written."""

from __future__ import annotations

import re

from tools.data.document import Block, FileLog
from tools.data.readers.common import END_PUNCT, decode_or_report

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*$")
_TXT_HEADING = re.compile(
    r"^\s*(第[0-9一二三四五六七八九十百千]+[章节部分篇条]\s*\S.*|[一二三四五六七八九十]+[、.．]\s*\S.*"
    r"|(?:\d+\.){1,3}\d*\s+\S.*|chapter\s+\d+\b.*)$",
    re.IGNORECASE,
)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPH = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def inline_markdown_to_text(text: str) -> str:
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _EMPH.sub(lambda m: m.group(2), text)
    return text


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [inline_markdown_to_text(c.strip()) for c in re.split(r"(?<!\\)\|", line)]


def _is_txt_heading(line: str) -> bool:
    s = line.strip()
    return (
        0 < len(s) <= 60
        and not s.endswith(END_PUNCT + ("?", "？"))
        and bool(_TXT_HEADING.match(s))
    )


def _front_matter_end(lines: list[str], plain: bool) -> int:
    """The first line after YAML front matter (0 when there is none)."""
    if not plain and lines and lines[0].strip() == "---":
        for j in range(1, min(len(lines), 200)):
            if lines[j].strip() in ("---", "..."):
                return j + 1
    return 0


def _para_blocks(para: list[str], para_line: int, plain: bool) -> list[Block]:
    """A paragraph's blocks: a bold line on its own is a heading over the lines under it; a short plain-text
    line can be a heading; anything else is a paragraph."""
    body = "\n".join(para).strip()
    if not body:
        return []
    if (m := _BOLD_LINE.match(para[0])) and len(m.group(2)) <= 150:
        out = [Block("heading", text=m.group(2).strip(), level=6, line=para_line)]
        rest = "\n".join(para[1:]).strip()
        if rest:
            out.append(Block("para", text=inline_markdown_to_text(rest), line=para_line + 1))
        return out
    if plain and len(para) == 1 and _is_txt_heading(para[0]):
        return [Block("heading", text=para[0].strip(), level=2, line=para_line)]
    return [Block("para", text=inline_markdown_to_text(body), line=para_line)]


def _fence(lines: list[str], i: int, fence: str) -> tuple[Block, int]:
    """A fenced code block from line ``i``, kept as written, and the line after it."""
    body, start, n = [lines[i]], i + 1, len(lines)
    i += 1
    while i < n:
        body.append(lines[i])
        if lines[i].strip().startswith(fence):
            i += 1
            break
        i += 1
    return Block("para", text="\n".join(body), line=start), i


def _table(lines: list[str], i: int) -> tuple[Block, int]:
    """A pipe table whose header is line ``i`` (the separator under it), and the line after it."""
    rows, numbers, n = [_split_row(lines[i])], [i + 1], len(lines)
    i += 2
    while i < n and "|" in lines[i] and lines[i].strip():
        rows.append(_split_row(lines[i]))
        numbers.append(i + 1)
        i += 1
    return Block("table", rows=rows, row_numbers=numbers, line=numbers[0]), i


def parse_markdown(text: str, *, plain: bool = False) -> list[Block]:
    """Markdown (or plain text when ``plain``) → blocks; tolerant of anything."""
    text = _HTML_COMMENT.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    para_line = 0
    i, n = _front_matter_end(lines, plain), len(lines)
    while i < n:
        line = lines[i]
        lineno = i + 1
        fence = _FENCE.match(line)
        m = _ATX.match(line) if line.strip() and (not plain or line.lstrip().startswith("#")) else None
        if fence or not line.strip() or m or ("|" in line and i + 1 < n and _TABLE_SEP.match(lines[i + 1])
                                             and "-" in lines[i + 1]):
            blocks += _para_blocks(para, para_line, plain)  # whatever comes next ends the paragraph
            para = []
        if fence:
            block, i = _fence(lines, i, fence.group(1))
            blocks.append(block)
        elif not line.strip():
            i += 1
        elif m:
            blocks.append(Block("heading", text=inline_markdown_to_text(m.group(2)), level=len(m.group(1)),
                                line=lineno))
            i += 1
        elif "|" in line and i + 1 < n and _TABLE_SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
            block, i = _table(lines, i)
            blocks.append(block)
        elif (not plain and len(para) == 1 and _SETEXT.match(line) and not _TABLE_SEP.match(line)
              and para[0].strip()):
            level = 1 if line.strip().startswith("=") else 2
            blocks.append(Block("heading", text=inline_markdown_to_text(para[0].strip()), level=level,
                                line=para_line))
            para = []
            i += 1
        else:
            if not para:
                para_line = lineno
            para.append(line.rstrip())
            i += 1
    return blocks + _para_blocks(para, para_line, plain)


def read_markdown(data: bytes, flog: FileLog) -> list[Block]:
    text = decode_or_report(data, flog)
    return [] if text is None else parse_markdown(text)


def read_text(data: bytes, flog: FileLog) -> list[Block]:
    text = decode_or_report(data, flog)
    return [] if text is None else parse_markdown(text, plain=True)
