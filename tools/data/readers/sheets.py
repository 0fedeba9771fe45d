"""CSV, TSV and Excel (.xlsx) → one table block per file or sheet, with the rows' line numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

from tools.data.document import Block, FileLog
from tools.data.readers.common import decode_or_report, office_too_big


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
