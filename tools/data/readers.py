"""Document readers: bytes of a PDF, DOCX, HTML, Markdown, text, CSV or XLSX file → a list of blocks.

Readers never raise on bad input: they report through :class:`FileLog` (with page or line) and return
what they could read. JSON/JSONL datasets are read in :mod:`tools.data.datasets`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter
from typing import Any

from tools.data.decode import NotText, decode_bytes
from tools.data.document import Block, FileLog
from tools.data.faq import starts_qa_marker
from tools.data.text import join_lines, person_chars

log = logging.getLogger(__name__)

_END_PUNCT = tuple(".。!！;；:：,，、")


def decode_or_report(data: bytes, flog: FileLog) -> str | None:
    try:
        text, encoding = decode_bytes(data)
    except NotText as exc:
        flog.error("data.not_text", detail=str(exc))
        return None
    if encoding not in ("utf-8", "utf-8 (BOM)"):
        flog.note(f"decoded as {encoding}")
    return text


# --- Markdown and plain text -------------------------------------------------------------------

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
        and not s.endswith(_END_PUNCT + ("?", "？"))
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


# --- HTML -----------------------------------------------------------------------------------------

_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
                     "svg", "button", "template", "select", "input", "head", "canvas", "menu")
_BOILERPLATE_ATTR = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|footer|header|sidebar|cookie|cookies|breadcrumbs?|banner|advert|ads|share|"
    r"social|skip|toc|related|comments?)($|[\s_-])",
    re.IGNORECASE,
)
_HEADING_TAGS = {f"h{i}": i for i in range(1, 7)}
_LEAF_TAGS = {"p", "li", "pre", "blockquote", "dd", "figcaption", "address", "summary", "caption"}
_CONTAINER_CHILDREN = {"p", "ul", "ol", "table", "div", "section", "article", "dl", "pre", "blockquote",
                       "h1", "h2", "h3", "h4", "h5", "h6"}


def _text_of(node: Any) -> str:
    text = node.get_text(" ", strip=True) if node.name != "pre" else node.get_text()
    return re.sub(r"[ \t\u00a0]+", " ", text).strip() if node.name != "pre" else text.strip("\n")


def html_to_blocks(html: str) -> list[Block]:
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_BOILERPLATE_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if not isinstance(tag, Tag) or tag.attrs is None:
            continue
        attrs = " ".join([str(tag.get("id") or "")] + list(tag.get("class") or []) + [str(tag.get("role") or "")])
        if attrs.strip() and _BOILERPLATE_ATTR.search(attrs) and tag.name not in ("html", "body", "main",
                                                                                     "article"):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[Block] = []

    def walk(node: Any) -> None:
        for child in list(node.children):
            if isinstance(child, NavigableString):
                if child.__class__.__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction"):
                    continue
                text = re.sub(r"\s+", " ", str(child)).strip()
                if text:
                    blocks.append(Block("para", text=text))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            line = getattr(child, "sourceline", None)
            if name in _HEADING_TAGS:
                text = _text_of(child)
                if text:
                    blocks.append(Block("heading", text=text, level=_HEADING_TAGS[name], line=line))
            elif name == "dt":
                text = _text_of(child)
                if text:
                    blocks.append(Block("heading", text=text, level=6, line=line))
            elif name == "table":
                rows: list[list[str]] = []
                numbers: list[int] = []
                for tr in child.find_all("tr"):
                    cells = [_text_of(c) for c in tr.find_all(["th", "td"])]
                    if any(cells):
                        rows.append(cells)
                        numbers.append(getattr(tr, "sourceline", None) or 0)
                if rows:
                    blocks.append(Block("table", rows=rows, row_numbers=numbers, line=line))
            elif name in _LEAF_TAGS and not child.find(_CONTAINER_CHILDREN):
                text = _text_of(child)
                if text:
                    if name == "li":
                        text = "- " + text
                    blocks.append(Block("para", text=text, line=line))
            elif name == "br":
                continue
            elif name in ("a", "span", "strong", "em", "b", "i", "code", "small", "sup", "sub", "u", "mark"):
                text = _text_of(child)
                if text:
                    blocks.append(Block("para", text=text, line=line))
            else:
                walk(child)

    walk(root)
    return blocks


def read_html(data: bytes, flog: FileLog) -> list[Block]:
    text = decode_or_report(data, flog)
    if text is None:
        return []
    m = re.search(r"<title[^>]*>(.*?)</title\s*>", text, re.IGNORECASE | re.DOTALL)
    if m:
        import html as html_lib

        flog.title = usable_title(html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(1))))
    try:
        return html_to_blocks(text)
    except Exception as exc:  # noqa: BLE001 - a parser failure is reported, the rest goes on
        flog.error("data.html_unparsable", detail=str(exc))
        return []


# --- DOCX -------------------------------------------------------------------------------------------

MAX_OFFICE_UNPACKED = 256 * 1024**2  # a .docx/.xlsx is a zip: its XML is parsed whole


def office_too_big(data: bytes, flog: FileLog) -> bool:
    """Refuse an Office file whose parts unpack to more than the limit (a zip bomb, or too big to parse)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False  # not a zip: the parser says what is wrong
    if unpacked <= MAX_OFFICE_UNPACKED:
        return False
    flog.error("data.office_too_big", mib=round(unpacked / 1024**2), limit=MAX_OFFICE_UNPACKED // 1024**2)
    return True



def read_docx(data: bytes, flog: FileLog) -> list[Block]:
    if office_too_big(data, flog):
        return []
    try:
        import docx
        from docx.oxml.ns import qn
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        flog.error("data.docx_unreadable", detail=f"{type(exc).__name__}: {exc}")
        return []
    blocks: list[Block] = []
    flog.title = usable_title(document.core_properties.title)
    body = document.element.body
    # style id → name once: python-docx's ``paragraph.style`` scans every style on each call (~1 ms), which
    # made a 60,000-paragraph document take over two minutes
    names = {st.style_id: st.name or "" for st in document.styles}
    default = next((st.name or "" for st in document.styles
                    if st.type == 1 and st.element.get(qn("w:default")) in ("1", "true")), "")
    for idx, child in enumerate(body.iterchildren()):
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, document)
            text = p.text.strip()
            if not text:
                continue
            style_id = child.style  # CT_P.style: the w:pStyle value, or None
            style = names.get(style_id, "") if style_id else default
            m = re.match(r"(?:heading|标题)\s*(\d)", style, re.IGNORECASE)
            if m:
                blocks.append(Block("heading", text=text, level=int(m.group(1)), line=idx + 1))
            elif style.lower() == "title":
                flog.title = flog.title or usable_title(text)
                blocks.append(Block("heading", text=text, level=1, line=idx + 1))
            elif (len(text) <= 120 and p.runs and all(r.bold for r in p.runs if r.text.strip())
                  and not text.endswith(_END_PUNCT)):
                blocks.append(Block("heading", text=text, level=6, line=idx + 1))
            else:
                prefix = "- " if "list" in style.lower() else ""
                blocks.append(Block("para", text=prefix + text, line=idx + 1))
        elif tag == "tbl":
            table = Table(child, document)
            rows = []
            for row in table.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = cell.text.strip()
                    cells.append(t)
                rows.append(cells)
            rows = [r for r in rows if any(r)]
            if rows:
                blocks.append(Block("table", rows=rows, row_numbers=list(range(1, len(rows) + 1)), line=idx + 1))
    return blocks


# --- CSV / XLSX ---------------------------------------------------------------------------------------


def read_csv(data: bytes, flog: FileLog, *, tsv: bool = False) -> list[Block]:
    text = decode_or_report(data, flog)
    if text is None:
        return []
    sample = text[:8192]
    delimiter = "\t" if tsv else ","
    if not tsv:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(10 * 1024 * 1024)
    rows: list[list[str]] = []
    numbers: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            flog.error("data.csv_bad_row", line=reader.line_num, detail=str(exc))
            continue
        if any(c.strip() for c in row):
            rows.append([c.strip() for c in row])
            numbers.append(reader.line_num)
    return [Block("table", rows=rows, row_numbers=numbers, line=1)] if rows else []


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def read_xlsx(data: bytes, flog: FileLog) -> list[Block]:
    if office_too_big(data, flog):
        return []
    try:
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001
        flog.error("data.xlsx_unreadable", detail=f"{type(exc).__name__}: {exc}")
        return []
    blocks: list[Block] = []
    try:
        for ws in wb.worksheets:
            rows: list[list[str]] = []
            numbers: list[int] = []
            for n, values in enumerate(ws.iter_rows(values_only=True), 1):
                cells = [_cell(v) for v in values]
                if any(cells):
                    rows.append(cells)
                    numbers.append(n)
            if rows:
                blocks.append(Block("table", text=ws.title, rows=rows, row_numbers=numbers, line=1))
    except Exception as exc:  # noqa: BLE001
        flog.error("data.workbook_unreadable", detail=f"{type(exc).__name__}: {exc}")
    finally:
        wb.close()
    return blocks


# --- PDF ----------------------------------------------------------------------------------------------


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


_PLACEHOLDER_TITLE = re.compile(r"^(?:untitled|无标题|microsoft word\b|document\d*$|文档\d*$)|\.(?:docx?|pdf|html?|md|txt)$",
                                re.IGNORECASE)


def usable_title(text: str | None) -> str | None:
    """A title a document carries, unless it is a placeholder ("Untitled", "Microsoft Word - x.docx", a file name)."""
    text = person_chars(re.sub(r"\s+", " ", text or "")).strip()
    if not text or len(text) > 150 or _PLACEHOLDER_TITLE.search(text):
        return None
    return text


def pdf_title(reader: Any) -> str | None:
    try:
        return usable_title(str(reader.metadata.title)) if reader.metadata and reader.metadata.title else None
    except Exception:  # noqa: BLE001 - broken metadata: the first heading or the file name serve
        return None


def read_pdf(data: bytes, flog: FileLog) -> list[Block]:
    if b"%PDF" not in data[:1024]:
        flog.error("data.not_pdf")
        return []
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
                return []
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001
        flog.error("data.pdf_unreadable", detail=f"{type(exc).__name__}: {exc}")
        return []
    outline = _outline(reader)
    per_page: list[tuple[int, list[tuple[str, float, float]]]] = []
    for i, page in enumerate(pages):
        try:
            per_page.append((i + 1, _page_lines(page)))
        except Exception as exc:  # noqa: BLE001
            flog.error("data.pdf_page_unreadable", page=i + 1, detail=f"{type(exc).__name__}: {exc}")
    drop_running_lines(per_page)
    flog.title = pdf_title(reader)
    chars: Counter[float] = Counter()
    gaps: list[float] = []
    for _, lines in per_page:
        for text, size, _y in lines:
            chars[round(size, 1)] += len(text)
    if not chars:
        if pages and not flog.errors:
            flog.error("data.pdf_scanned")
        return []
    body = chars.most_common(1)[0][0] or 10.0
    for _, lines in per_page:
        for (_t1, s1, y1), (_t2, s2, y2) in zip(lines, lines[1:], strict=False):
            if round(s1, 1) == body and round(s2, 1) == body and 0 < y1 - y2 < 4 * body:
                gaps.append(y1 - y2)
    line_gap = statistics.median(gaps) if gaps else body * 1.3
    heading_sizes = sorted({s for s in chars if s >= body * 1.15}, reverse=True)
    level_of = {s: min(i + 1, 6) for i, s in enumerate(heading_sizes)}

    blocks: list[Block] = []
    for page_no, lines in per_page:
        outline_here = outline.get(page_no - 1, [])
        page_blocks, found = _page_blocks(page_no, lines, outline_here, level_of, line_gap)
        missing = [(lvl, t) for lvl, t in outline_here if _norm_key(t) not in found]
        # bookmarks whose title is not on the page: the section starts at the top of that page
        page_blocks[0:0] = [Block("heading", text=t, level=lvl, page=page_no) for lvl, t in missing]
        blocks.extend(page_blocks)
    # paragraphs that continue across a page break
    merged: list[Block] = []
    for b in blocks:
        if (merged and b.kind == "para" and merged[-1].kind == "para" and merged[-1].page != b.page
                and not merged[-1].text.rstrip().endswith((".", "。", "!", "！", "?", "？", ":", "："))):
            merged[-1].text = join_lines([merged[-1].text, b.text])
            continue
        merged.append(b)
    return merged


READERS = {
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".csv": read_csv,
    ".tsv": lambda data, flog: read_csv(data, flog, tsv=True),
    ".xlsx": read_xlsx,
}
