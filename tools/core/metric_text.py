"""How the metrics read text: which CJK script it is in, and its tokens (one per CJK character, one per word)."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from tools.core.cjk import CJK_SCRIPT, HAN, HAN_MARKS, KANA

_CJK_RE = re.compile(f"[{CJK_SCRIPT}]")
_HAN_RE = re.compile(f"[{HAN_MARKS}{HAN}]")
_KANA_RE = re.compile(f"[{KANA}]")
_TOKEN_RE = re.compile(f"[{CJK_SCRIPT}]|(?:(?![{CJK_SCRIPT}])[^\\W_])+")

Script = Literal["zh", "ja", "ko", "other"]


def has_cjk(text: str) -> bool:
    """True when the text holds at least one Chinese, Japanese or Korean character."""
    return _CJK_RE.search(text) is not None


def detect_script(text: str) -> Script:
    """``zh`` (Han, no kana), ``ja`` (kana), ``ko`` (Hangul) or ``other``."""
    if _KANA_RE.search(text):
        return "ja"
    if _HAN_RE.search(text):
        return "zh"
    if _CJK_RE.search(text):
        return "ko"
    return "other"


def tokenize(text: str) -> list[str]:
    """NFKC + case-fold; each CJK character is a token, latin words/numbers are tokens; punctuation drops."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def normalize_text(text: str) -> str:
    """NFKC, case-fold, and drop punctuation (ASCII and CJK full-width), whitespace and control characters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PZC" and not c.isspace())
