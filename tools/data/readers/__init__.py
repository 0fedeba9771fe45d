"""Document readers: bytes of a PDF, DOCX, HTML, Markdown, text, CSV or XLSX file → a list of blocks.

One module per format; ``READERS`` maps a file suffix to its reader. Readers never raise on bad input: they
report through :class:`FileLog` (with page or line) and return what they could read. JSON/JSONL datasets are
read in :mod:`tools.data.datasets`.
"""

from __future__ import annotations

from tools.data.readers.html_page import read_html
from tools.data.readers.markdown import read_markdown, read_text
from tools.data.readers.pdf import read_pdf
from tools.data.readers.sheets import read_csv, read_xlsx
from tools.data.readers.word import read_docx

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
