"""PDF → blocks: headings from bookmarks or larger type, running headers and footers dropped, pages joined."""

from __future__ import annotations

import io
import math
import re
import statistics
import unicodedata
from collections import Counter
from typing import Any

from tools.data.document import Block, FileLog
from tools.data.faq import starts_qa_marker
from tools.data.readers.common import usable_title
from tools.data.text import join_lines, person_chars

_Lines = list[tuple[str, float, float]]  # (text, size, y) per visual line of a page


def _norm_key(text: str) -> str:
    return re.sub(r"\W+", "", unicodedata.normalize("NFKC", text)).casefold()


def _page_lines(page: Any) -> list[tuple[str, float, float]]:
    """(text, size, y) per visual line, top to bottom as drawn."""
    lines: list[list[Any]] = []  # [text, size, y]

    def visitor(text: str, cm: Any, tm: Any, font_dict: Any, font_size: Any) -> None:
        if not text or not text.strip("\n"):
            return
        try:
            y = float(tm[4]) * float(cm[1]) + float(tm[5]) * float(cm[3]) + float(cm[5])
            scale = math.hypot(float(tm[2]) * float(cm[0]) + float(tm[3]) * float(cm[2]),
                               float(tm[2]) * float(cm[1]) + float(tm[3]) * float(cm[3]))
            size = float(font_size or 0) * (scale or 1.0)
        except (TypeError, ValueError, IndexError):
            y, size = 0.0, 0.0
        for k, piece in enumerate(text.split("\n")):
            if k > 0 or not lines or abs(lines[-1][2] - y) > max(1.0, 0.5 * (size or 10)):
                lines.append(["", size, y])
            lines[-1][0] += piece
            lines[-1][1] = max(lines[-1][1], size)

    page.extract_text(visitor_text=visitor)
    return [(person_chars(t), s, y) for t, s, y in lines if t.strip()]


_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]?\s*\d+\s*[-–—]?|\d+\s*/\s*\d+|(?:page|p\.)\s*\d+(?:\s*(?:of|/)\s*\d+)?|"
    r"第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*页)\s*$", re.IGNORECASE)
_EDGE = 2  # lines at the top and at the bottom of a page where running headers and footers sit
# what a browser prints at a page's edges: the date and time (then the title), the address and "page/pages"
_BROWSER_EDGE = re.compile(r"^\s*(?:\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4},?\s+\d{1,2}:\d{2}(?:\s*[AP]M)?\b.*"
                           r"|(?:file|https?)://\S+(?:\s+\d+\s*/\s*\d+)?)\s*$", re.IGNORECASE)


_FI = str.maketrans({"\ufb01": "fi", "\ufb02": "fl"})


def _edge_key(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text)).casefold()


def drop_running_lines(per_page: list[tuple[int, list[tuple[str, float, float]]]]) -> int:
    """Remove page numbers and the running headers and footers printed on most pages (the same line, digits
    aside, among the top or bottom lines of at least 60% of the pages); returns how many lines went."""
    pages = [lines for _, lines in per_page]
    seen: Counter[str] = Counter()
    for lines in pages:
        edges = lines[:_EDGE] + lines[-_EDGE:] if len(lines) > _EDGE else lines
        seen.update({_edge_key(t) for t, _, _ in edges})
    running = {k for k, n in seen.items() if len(pages) >= 2 and n >= max(2, 0.6 * len(pages))}
    dropped = 0
    for lines in pages:
        n = len(lines)
        keep = []
        for i, line in enumerate(lines):
            at_edge = i < _EDGE or i >= n - _EDGE
            if at_edge and (_PAGE_NUMBER.match(line[0]) or _BROWSER_EDGE.match(line[0].translate(_FI))
                            or _edge_key(line[0]) in running):
                dropped += 1
                continue
            keep.append(line)
        lines[:] = keep
    return dropped


def _outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}

    def walk(items: Any, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = str(item.title).strip()
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped
                continue
            if title and page is not None and page >= 0:
                out.setdefault(page, []).append((level, title))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001
        return {}
    return out



def _page_blocks(page_no: int, lines: list[tuple[str, float, float]], outline_here: list[tuple[int, str]],
                 level_of: dict[float, int], line_gap: float) -> tuple[list[Block], set[str]]:
    """One page's lines → headings (bookmark titles or larger type) and paragraphs (split on wide gaps)."""
    titles = {_norm_key(t): lvl for lvl, t in outline_here}
    found: set[str] = set()
    blocks: list[Block] = []
    para: list[str] = []
    prev_y: float | None = None
    heading: list[Any] | None = None  # [text, level]
    for text, size, y in lines:
        key = _norm_key(text)
        level = 0
        if key and key in titles:
            level = titles[key]
            found.add(key)
        elif round(size, 1) in level_of and len(text.strip()) <= 150:
            level = level_of[round(size, 1)]
        if level:
            if para:
                blocks.append(Block("para", text=join_lines(para), page=page_no))
                para = []
            if heading and heading[1] == level and prev_y is not None and prev_y - y < 2 * size:
                heading[0] = join_lines([heading[0], text])
            else:
                if heading:
                    blocks.append(Block("heading", text=heading[0], level=heading[1], page=page_no))
                heading = [text.strip(), level]
        else:
            if heading:
                blocks.append(Block("heading", text=heading[0], level=heading[1], page=page_no))
                heading = None
            if para and (starts_qa_marker(text) or (prev_y is not None and (
                    prev_y - y > line_gap * 1.4 or y > prev_y + 1))):
                blocks.append(Block("para", text=join_lines(para), page=page_no))
                para = []
            para.append(text)
        prev_y = y
    if para:
        blocks.append(Block("para", text=join_lines(para), page=page_no))
    if heading:
        blocks.append(Block("heading", text=heading[0], level=heading[1], page=page_no))
    return blocks, found


def pdf_title(reader: Any) -> str | None:
    try:
        return usable_title(str(reader.metadata.title)) if reader.metadata and reader.metadata.title else None
    except Exception:  # noqa: BLE001 - broken metadata: the first heading or the file name serve
        return None


def _open_pdf(data: bytes, flog: FileLog) -> tuple[Any, list[Any]] | None:
    """The PDF reader and its pages (an empty password tried); ``None``, reported, when it cannot be read."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001
                ok = False
            if not ok:
                flog.error("data.pdf_password")
                return None
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001
        flog.error("data.pdf_unreadable", detail=f"{type(exc).__name__}: {exc}")
        return None
    return reader, pages


def _lines_per_page(pages: list[Any], flog: FileLog) -> list[tuple[int, _Lines]]:
    """(page number, its lines) of every page that can be read; the others are reported."""
    per_page: list[tuple[int, _Lines]] = []
    for i, page in enumerate(pages):
        try:
            per_page.append((i + 1, _page_lines(page)))
        except Exception as exc:  # noqa: BLE001
            flog.error("data.pdf_page_unreadable", page=i + 1, detail=f"{type(exc).__name__}: {exc}")
    return per_page


def _type_scale(per_page: list[tuple[int, _Lines]], chars: Counter[float]) -> tuple[float, dict[float, int]]:
    """The usual gap between two body lines, and the heading level of each type size larger than the body's."""
    body = chars.most_common(1)[0][0] or 10.0
    gaps: list[float] = []
    for _, lines in per_page:
        for (_t1, s1, y1), (_t2, s2, y2) in zip(lines, lines[1:], strict=False):
            if round(s1, 1) == body and round(s2, 1) == body and 0 < y1 - y2 < 4 * body:
                gaps.append(y1 - y2)
    line_gap = statistics.median(gaps) if gaps else body * 1.3
    heading_sizes = sorted({s for s in chars if s >= body * 1.15}, reverse=True)
    return line_gap, {s: min(i + 1, 6) for i, s in enumerate(heading_sizes)}


def _join_across_pages(blocks: list[Block]) -> list[Block]:
    """Paragraphs that continue across a page break, joined."""
    merged: list[Block] = []
    for b in blocks:
        if (merged and b.kind == "para" and merged[-1].kind == "para" and merged[-1].page != b.page
                and not merged[-1].text.rstrip().endswith((".", "。", "!", "！", "?", "？", ":", "："))):
            merged[-1].text = join_lines([merged[-1].text, b.text])
            continue
        merged.append(b)
    return merged


def read_pdf(data: bytes, flog: FileLog) -> list[Block]:
    """A PDF's headings and paragraphs, page by page, and its title (metadata); a scanned PDF is reported."""
    if b"%PDF" not in data[:1024]:
        flog.error("data.not_pdf")
        return []
    opened = _open_pdf(data, flog)
    if opened is None:
        return []
    reader, pages = opened
    outline = _outline(reader)
    per_page = _lines_per_page(pages, flog)
    drop_running_lines(per_page)
    flog.title = pdf_title(reader)
    chars: Counter[float] = Counter()
    for _, lines in per_page:
        for text, size, _y in lines:
            chars[round(size, 1)] += len(text)
    if not chars:
        if pages and not flog.errors:
            flog.error("data.pdf_scanned")
        return []
    line_gap, level_of = _type_scale(per_page, chars)
    blocks: list[Block] = []
    for page_no, lines in per_page:
        outline_here = outline.get(page_no - 1, [])
        page_blocks, found = _page_blocks(page_no, lines, outline_here, level_of, line_gap)
        missing = [(lvl, t) for lvl, t in outline_here if _norm_key(t) not in found]
        # bookmarks whose title is not on the page: the section starts at the top of that page
        page_blocks[0:0] = [Block("heading", text=t, level=lvl, page=page_no) for lvl, t in missing]
        blocks.extend(page_blocks)
    return _join_across_pages(blocks)
