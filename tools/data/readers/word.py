"""Word (.docx) → blocks: headings by style (or a bold line), paragraphs, list items and tables."""

from __future__ import annotations

import io
import re

from tools.data.document import Block, FileLog
from tools.data.readers.common import END_PUNCT, office_too_big, usable_title


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
                  and not text.endswith(END_PUNCT)):
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
