"""Builders for real input files (PDF, DOCX, XLSX, HTML …) in English and Chinese."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A CJK font with TrueType outlines (fpdf2 embeds CFF fonts such as Noto CJK in a way pypdf cannot read)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted({line.split(":")[0].strip() for line in out.splitlines() if line.strip()},
                   key=lambda f: (not f.endswith(".ttf"), f))
    from fontTools.ttLib import TTCollection, TTFont

    for f in files:
        try:
            font = TTCollection(f).fonts[0] if f.endswith(".ttc") else TTFont(f, lazy=True)
            if "glyf" in font:
                return f
        except Exception:  # noqa: BLE001 - an unreadable font is just not a candidate
            continue
    return None


def make_pdf(path: Path, items: Iterable[tuple[str, str]], *, outline: bool = False, cjk: bool = False) -> Path:
    """items: ("h1"|"h2"|"p", text). Headings are set in larger type; ``outline`` adds bookmarks."""
    from fpdf import FPDF

    pdf = FPDF()
    family = "helvetica"
    if cjk:
        font = cjk_font()
        if font is None:
            pytest.skip("no CJK TrueType font found (fc-list :lang=zh); install fonts-wqy-microhei or "
                        "fonts-droid-fallback to run the Chinese PDF test")
        pdf.add_font("cjk", "", font)
        family = "cjk"
    pdf.add_page()
    kw: dict[str, Any] = {"new_x": "LMARGIN", "new_y": "NEXT"}
    for kind, text in items:
        if kind == "page":
            pdf.add_page()
            continue
        if kind.startswith("h"):
            size = 20 if kind == "h1" else 15
            pdf.set_font(family, size=size)
            if outline:
                pdf.start_section(text, level=int(kind[1]) - 1)
            pdf.multi_cell(0, size * 0.5, text, **kw)
            pdf.ln(2)
        else:
            pdf.set_font(family, size=11)
            pdf.multi_cell(0, 6, text, **kw)
            pdf.ln(4)
    path.write_bytes(bytes(pdf.output()))
    return path


def make_docx(path: Path, items: Iterable[tuple[str, Any]]) -> Path:
    """items: ("h1"|"h2"|"p", text) or ("table", rows)."""
    import docx

    doc = docx.Document()
    for kind, value in items:
        if kind == "table":
            table = doc.add_table(rows=len(value), cols=len(value[0]))
            for r, row in enumerate(value):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        elif kind.startswith("h"):
            doc.add_heading(value, level=int(kind[1]))
        else:
            doc.add_paragraph(value)
    doc.save(str(path))
    return path


def make_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(str(path))
    return path


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach a real LLM; the LLM test sets its own scripted server."""
    for key in ("TUNEPILOT_LLM_BASE_URL", "TUNEPILOT_LLM_API_KEY", "TUNEPILOT_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
