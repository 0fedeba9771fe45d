"""Text as the person wrote it: what PDF and Office extraction leave behind, put back.

- Chinese text extracted from PDFs (Chromium, Word, WPS print to PDF) often carries *Kangxi radicals*
  (⾃ U+2F83 for 自, ⽤ U+2F64 for 用), *CJK radicals supplement* forms (⻓ U+2ED3 for 长, ⻔ for 门) and CJK
  compatibility ideographs: the font's glyph maps to the radical, not to the character a person types. Those
  characters alone are mapped to the unified ideograph they stand for (NFKC for them only; full-width
  punctuation and everything else stay as written).
- A line break inside a Chinese sentence joins without a space; an English word hyphenated at a line end is
  joined; other line breaks inside a paragraph become one space.
"""

from __future__ import annotations

import re
import unicodedata

from tools.core.cjk import HAN_COMPAT, HAN_RE, RADICALS

# Chinese punctuation a line may end or start with inside a sentence
CJK_PUNCT = "，。、；：？！“”‘’（）《》【】—…·「」『』"

# radicals supplement forms that stand for a whole simplified character (no NFKC mapping of their own)
_SUPPLEMENT = {
    0x2E81: "厂", 0x2E8A: "卜", 0x2EA0: "民", 0x2EA9: "王", 0x2EB0: "纟", 0x2EC1: "虎", 0x2EC4: "西",
    0x2EC5: "见", 0x2EC6: "角", 0x2EC8: "讠", 0x2EC9: "贝", 0x2ECB: "车", 0x2ED0: "钅", 0x2ED3: "长",
    0x2ED4: "门", 0x2ED8: "青", 0x2ED9: "韦", 0x2EDA: "页", 0x2EDB: "风", 0x2EDC: "飞", 0x2EDD: "食",
    0x2EE0: "饣", 0x2EE2: "马", 0x2EE3: "骨", 0x2EE4: "鬼", 0x2EE5: "鱼", 0x2EE6: "鸟", 0x2EE7: "卤",
    0x2EE8: "麦", 0x2EE9: "黄", 0x2EEA: "黾", 0x2EEC: "齐", 0x2EEE: "齿", 0x2EF0: "龙", 0x2EF3: "龟",
}
_RADICALS = re.compile(f"[{RADICALS}{HAN_COMPAT}]")


def _unified(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ord(ch) in _SUPPLEMENT:
        return _SUPPLEMENT[ord(ch)]
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def person_chars(text: str) -> str:
    """Radicals and compatibility ideographs → the characters a person types (see the module text)."""
    return _RADICALS.sub(_unified, text) if text and _RADICALS.search(text) else text


def _cjk_edge(ch: str) -> bool:
    return bool(HAN_RE.match(ch)) or ch in CJK_PUNCT


def join_lines(lines: list[str]) -> str:
    """Visual lines of one paragraph → one line: no space where Chinese meets Chinese, a hyphenated English
    word joined, else one space."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("-") and len(out) >= 2 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        elif _cjk_edge(out[-1]) or _cjk_edge(line[0]):
            out += line
        else:
            out += " " + line
    return out


_LIST_ITEM = re.compile(r"^\s*(?:[-*+•·]|\d+[.)、]|[（(]?[0-9一二三四五六七八九十]+[)）、.])\s*")


def unwrap(text: str) -> str:
    """A hard-wrapped paragraph's line breaks removed (:func:`join_lines`); a line that starts a list item keeps
    its own line."""
    if "\n" not in text:
        return text
    groups: list[list[str]] = []
    for line in text.split("\n"):
        if not groups or _LIST_ITEM.match(line) or not line.strip():
            groups.append([line])
        else:
            groups[-1].append(line)
    return "\n".join(join_lines(g) for g in groups if any(x.strip() for x in g))
