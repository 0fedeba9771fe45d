"""What every document reader shares: text decoding with a report, a usable title, the Office size guard."""

from __future__ import annotations

import io
import re

from tools.data.decode import NotText, decode_bytes
from tools.data.document import FileLog
from tools.data.text import person_chars

END_PUNCT = tuple(".。!！;；:：,，、")  # a line ending so is a sentence, not a heading
MAX_OFFICE_UNPACKED = 256 * 1024**2  # a .docx/.xlsx is a zip: its XML is parsed whole


def decode_or_report(data: bytes, flog: FileLog) -> str | None:
    """The file's text in whatever encoding it is in (a note unless UTF-8); ``None``, reported, for binary data."""
    try:
        text, encoding = decode_bytes(data)
    except NotText as exc:
        flog.error("data.not_text", detail=str(exc))
        return None
    if encoding not in ("utf-8", "utf-8 (BOM)"):
        flog.note(f"decoded as {encoding}")
    return text


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


_PLACEHOLDER_TITLE = re.compile(r"^(?:untitled|无标题|microsoft word\b|document\d*$|文档\d*$)|\.(?:docx?|pdf|html?|md|txt)$",
                                re.IGNORECASE)


def usable_title(text: str | None) -> str | None:
    """A title a document carries, unless it is a placeholder ("Untitled", "Microsoft Word - x.docx", a file name)."""
    text = person_chars(re.sub(r"\s+", " ", text or "")).strip()
    if not text or len(text) > 150 or _PLACEHOLDER_TITLE.search(text):
        return None
    return text
