"""HTML → blocks: the page's main content without navigation, cookie banners and other boilerplate."""

from __future__ import annotations

import re
from typing import Any

from tools.data.document import Block, FileLog
from tools.data.readers.common import decode_or_report, usable_title

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


_INLINE_TAGS = ("a", "span", "strong", "em", "b", "i", "code", "small", "sup", "sub", "u", "mark")
_NOT_TEXT = ("Comment", "Doctype", "Declaration", "ProcessingInstruction")


def _drop_boilerplate(soup: Any) -> None:
    """Remove scripts, navigation, headers and footers, and elements whose id, class or role names boilerplate."""
    from bs4 import Tag

    for tag in soup.find_all(_BOILERPLATE_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if not isinstance(tag, Tag) or tag.attrs is None:
            continue
        attrs = " ".join([str(tag.get("id") or "")] + list(tag.get("class") or []) + [str(tag.get("role") or "")])
        if attrs.strip() and _BOILERPLATE_ATTR.search(attrs) and tag.name not in ("html", "body", "main",
                                                                                     "article"):
            tag.decompose()


def _table_blocks(table: Any, line: int | None) -> list[Block]:
    rows: list[list[str]] = []
    numbers: list[int] = []
    for tr in table.find_all("tr"):
        cells = [_text_of(c) for c in tr.find_all(["th", "td"])]
        if any(cells):
            rows.append(cells)
            numbers.append(getattr(tr, "sourceline", None) or 0)
    return [Block("table", rows=rows, row_numbers=numbers, line=line)] if rows else []


def _element_blocks(tag: Any) -> list[Block] | None:
    """The blocks of an element that is one block (a heading, a term, a table, a paragraph, an inline run);
    ``None`` for a container, whose children are read in turn."""
    name = tag.name
    line = getattr(tag, "sourceline", None)
    if name in _HEADING_TAGS or name == "dt":
        text = _text_of(tag)
        return [Block("heading", text=text, level=_HEADING_TAGS.get(name, 6), line=line)] if text else []
    if name == "table":
        return _table_blocks(tag, line)
    if name in _LEAF_TAGS and not tag.find(_CONTAINER_CHILDREN):
        text = _text_of(tag)
        if text and name == "li":
            text = "- " + text
        return [Block("para", text=text, line=line)] if text else []
    if name == "br":
        return []
    if name in _INLINE_TAGS:
        text = _text_of(tag)
        return [Block("para", text=text, line=line)] if text else []
    return None


def _walk(node: Any, blocks: list[Block]) -> None:
    """Append the blocks under ``node`` in document order: loose text, one-block elements, containers' insides."""
    from bs4 import NavigableString, Tag

    for child in list(node.children):
        if isinstance(child, NavigableString):
            if child.__class__.__name__ in _NOT_TEXT:
                continue
            text = re.sub(r"\s+", " ", str(child)).strip()
            if text:
                blocks.append(Block("para", text=text))
            continue
        if not isinstance(child, Tag):
            continue
        found = _element_blocks(child)
        if found is None:
            _walk(child, blocks)
        else:
            blocks.extend(found)


def html_to_blocks(html: str) -> list[Block]:
    """The page's headings, paragraphs, list items and tables, from ``<main>`` (or ``<article>``, the body)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    _drop_boilerplate(soup)
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[Block] = []
    _walk(root, blocks)
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
