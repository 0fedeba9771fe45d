"""Bytes → text: UTF-8 (with or without BOM), UTF-16/32 (BOM or not), GBK/GB18030, then a best guess.

Binary data is refused with a reason instead of being decoded into garbage.
"""

from __future__ import annotations

import codecs
import logging
import re

from tools.core.cjk import CJK_SYMBOLS, HAN

log = logging.getLogger(__name__)

MAGIC = (
    (b"%PDF", "a PDF document (rename it to .pdf)"),
    (b"PK\x03\x04", "a zip container (a .zip, .docx or .xlsx file)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable program"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file (.doc/.xls: save it as .docx/.xlsx)"),
    (b"\x1f\x8b", "a gzip archive"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CJK = re.compile(f"[{CJK_SYMBOLS}{HAN}]")  # Chinese text: Han characters, CJK punctuation, full-width forms
_BAD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class NotText(ValueError):
    """The bytes are not text in any encoding we read; the message says what they look like."""


def sniff_binary(data: bytes) -> str | None:
    """Name the kind of binary file ``data`` starts with, or None."""
    for magic, name in MAGIC:
        if data.startswith(magic):
            return name
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) / 2
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    sample = text[:20000]
    return len(_BAD_CONTROL.findall(sample)) <= max(2, len(sample) // 200)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)``; raise :class:`NotText` when the bytes are binary or undecodable."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), enc + " (BOM)"
            except UnicodeDecodeError as exc:
                raise NotText(f"starts with a {enc} byte-order mark but is not valid {enc} text ({exc.reason} "
                              f"at byte {exc.start})") from exc
    enc16 = _utf16_without_bom(data)
    if enc16:
        try:
            text = data.decode(enc16)
            if _looks_like_text(text):
                return text, enc16
        except UnicodeDecodeError:
            pass
    kind = sniff_binary(data)
    if kind:
        raise NotText(f"this is binary data, not text: it looks like {kind}")
    if b"\x00" in data[:8192]:
        raise NotText("this is binary data, not text (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _looks_like_text(text):
            return text, "utf-8"
        raise NotText("this is binary data, not text (it is full of control characters)")
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        non_ascii = [c for c in text[:20000] if ord(c) > 127]
        if non_ascii and _looks_like_text(text):
            cjk = sum(1 for c in non_ascii if _CJK.match(c))
            if cjk >= 0.8 * len(non_ascii):
                return text, "gb18030"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:200_000]).best()
    except Exception:  # noqa: BLE001 - a detector failure means "unknown encoding"
        best = None
    if best is not None and best.encoding:
        try:
            text = data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            text = ""
        if text and _looks_like_text(text):
            return text, str(best.encoding)
    raise NotText("the text encoding could not be recognised (tried UTF-8, UTF-16, GBK/GB18030 and a guess)")
