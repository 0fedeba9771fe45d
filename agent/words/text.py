"""The message prepared for reading: NFKC, lower-case and masked copies, numbers in words, quoted text."""

from __future__ import annotations

import re
import unicodedata


def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """ASCII word boundaries: ``\\b`` must see one between 用 and QLoRA, which Unicode ``\\w`` would not."""
    return re.compile(pattern, flags | re.ASCII)


MAX_CHARS = 8000  # longer messages are read up to here (a goal is a sentence or two, not a document)

# --- text preparation ---------------------------------------------------------------


class Text:
    """The message three ways, all the same length: NFKC (``norm``), lower case (``low``), masked (``m``).

    ``raw_span`` maps a span of the normalised text back to the original, so
    payloads (a system prompt, a chat message) keep the person's own characters.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        chars: list[str] = []
        origin: list[int] = []
        for i, c in enumerate(raw):
            n = unicodedata.normalize("NFKC", c)
            n = n.replace("\u00d7", "x")  # 2×A100
            for ch in n:
                chars.append(ch)
                origin.append(i)
        self.norm = "".join(chars)
        self.origin = origin
        self.low = "".join(c.lower() if len(c.lower()) == 1 else c for c in self.norm)
        self.m = self.low  # masked as payloads are found

    def mask(self, start: int, end: int) -> None:
        self.m = self.m[:start] + " " * (end - start) + self.m[end:]

    def raw_span(self, start: int, end: int) -> str:
        if start >= end or start >= len(self.origin):
            return ""
        return self.raw[self.origin[start]: self.origin[end - 1] + 1]


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_EN_NUMBERS = {"one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "dual": 2, "three": 3, "four": 4, "quad": 4,
               "five": 5, "six": 6, "seven": 7, "eight": 8, "ten": 10, "sixteen": 16}
CN_NUM = r"[零〇一二两俩三四五六七八九十百]+"
NUM = rf"(?:\d+|{CN_NUM})"


def _cn_to_int(s: str) -> int | None:
    """一 → 1, 十五 → 15, 二十 → 20, 一百二十八 → 128 (small numbers only)."""
    total, cur = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            cur = _CN_DIGITS[ch]
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        elif ch == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            return None
    return total + cur


def to_int(s: str) -> int | None:
    s = s.strip()
    if s.isdigit():
        return int(s) if len(s) < 10 else None
    if s in _EN_NUMBERS:
        return _EN_NUMBERS[s]
    return _cn_to_int(s)


def in_range(value: float | int | None, lo: float, hi: float) -> bool:
    return value is not None and lo <= value <= hi


# Quoted text: "…", “…”, ‘…’, 「…」, 『…』, '…' (not an apostrophe).
QUOTE_RE = rx(
    r'"([^"\n]{1,2000})"|“([^”\n]{1,2000})”|‘([^’\n]{1,2000})’|「([^」\n]{1,2000})」|『([^』\n]{1,2000})』'
    r"|(?<![a-z0-9])'([^'\n]{1,2000})'(?![a-z0-9])"
)


def quote_at(tx: Text, pos: int, within: int = 12) -> tuple[int, int, int, int] | None:
    """The first quote starting within ``within`` characters of ``pos``: (outer start, outer end, inner start, inner end)."""
    for q in QUOTE_RE.finditer(tx.m, pos):
        if q.start() - pos > within:
            return None
        if tx.m[pos:q.start()].strip(" :=,是为用") == "":
            g = next(i for i in range(1, 7) if q.group(i) is not None)
            return q.start(), q.end(), q.start(g), q.end(g)
        return None
    return None
