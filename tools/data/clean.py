"""Cleaning: Unicode NFC (the person's characters kept), whitespace, leftover HTML, empty/one-sided pairs, exact and near duplicates."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

from tools.data.document import Record
from tools.data.text import person_chars

DROP_EMPTY = "empty or one-sided pair"
DROP_EXACT = "exact duplicate"
DROP_NEAR = "near duplicate"
DROP_BUDGET = "over the token budget"
DROP_SHORT = "section too short"
DROP_ALPACA = "tool or multi-role conversation cannot be written as alpaca"
DROP_SYMBOLS = "only symbols, no words"
_WORD = re.compile(r"[^\W_]", re.UNICODE)  # a letter or a digit in any script

_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"(?<=\S)[ \t\u00a0\u3000]{2,}")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANKS = re.compile(r"\n{3,}")
_TAG = re.compile(
    r"</?(?:p|div|span|br|hr|li|ul|ol|td|tr|th|table|tbody|thead|strong|em|b|i|u|a|font|img|h[1-6]|section|"
    r"article|header|footer|nav|small|sup|sub|blockquote|code|pre)\b[^<>]*>",
    re.IGNORECASE,
)
_SCRIPT = re.compile(r"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
# what PDF text extraction leaves of typographic ligatures
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st"})


def strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    if _TAG.search(text) or _SCRIPT.search(text):
        text = _SCRIPT.sub(" ", text)
        text = re.sub(r"<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</h[1-6]\s*>", "\n", text, flags=re.IGNORECASE)
        text = _TAG.sub("", text)
    if re.search(r"&(?:[a-zA-Z]{2,8}|#\d{2,6}|#x[0-9a-fA-F]{2,5});", text):
        text = html.unescape(text)
    return text


def normalise(text: str, *, document: bool = True) -> str:
    """NFC, PDF ligatures spelt out, invisible characters removed, line ends and blank lines tidied.

    Radicals and compatibility ideographs left by PDF extraction become the characters a person types
    (:func:`tools.data.text.person_chars`). Never NFKC on the rest: it would rewrite full-width Chinese punctuation (，？：) as ASCII and full-width forms the
    person chose; the model must learn the text as written. Only duplicate keys (:func:`near_key`) fold it.

    Document text (not ready datasets, whose spacing may be code) also loses leftover HTML tags and runs of
    spaces inside lines.
    """
    if not text:
        return ""
    text = person_chars(unicodedata.normalize("NFC", text).translate(_LIGATURES))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    if document:
        text = strip_html(text)
        text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text + "\n")
    text = _BLANKS.sub("\n\n", text)
    return text.strip()


def near_key(text: str) -> str:
    """Lower-cased, punctuation and whitespace removed: equal for texts that differ only in those."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def exact_hash(rec: Record) -> str:
    if rec.text is not None:
        return _digest("T\x00" + rec.text)
    return _digest("\x00".join(f"{m['role']}\x01{m['content']}" for m in rec.messages))


def near_hash(rec: Record) -> str:
    if rec.text is not None:
        return _digest("T\x00" + near_key(rec.text))
    return _digest("\x00".join(f"{m['role']}\x01{near_key(m['content'])}" for m in rec.messages))


def question_key(rec: Record) -> str:
    """What near-duplicate questions share: the normalised first user turn (or the text)."""
    if rec.text is not None:
        return near_key(rec.text[:2000])
    return near_key(rec.first("user"))


def clean_record(rec: Record) -> str | None:
    """Normalise in place; return a drop reason when the record is not usable."""
    document = rec.method != "dataset"
    if rec.text is not None:
        rec.text = normalise(rec.text, document=document)
        if not rec.text:
            return DROP_EMPTY
        return None if _WORD.search(rec.text) else DROP_SYMBOLS
    msgs = []
    for m in rec.messages:
        content = normalise(m["content"], document=document)
        if not content and m["role"] == "system":
            continue
        msgs.append({"role": m["role"], "content": content})
    rec.messages = msgs
    if not any(m["role"] == "user" and m["content"] for m in msgs):
        return DROP_EMPTY
    if not msgs or msgs[-1]["role"] != "assistant" or any(not m["content"] for m in msgs):
        return DROP_EMPTY
    if not _WORD.search(msgs[-1]["content"]):  # e.g. a run of '#' or '-' from a broken document
        return DROP_SYMBOLS
    return None


class Deduper:
    """Remembers what it has seen; the first copy of a record wins."""

    def __init__(self) -> None:
        self.exact: set[str] = set()
        self.near: set[str] = set()

    def check(self, rec: Record) -> str | None:
        e = exact_hash(rec)
        if e in self.exact:
            return DROP_EXACT
        n = near_hash(rec)
        if n in self.near:
            return DROP_NEAR
        self.exact.add(e)
        self.near.add(n)
        return None
