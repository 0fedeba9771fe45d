"""The CJK character classes (Han, kana, Hangul, CJK symbols) as regex ranges: one definition for the tree.

Each name is the inside of a regex character class (``f"[{HAN}]"``), so classes compose by concatenation.
"""

from __future__ import annotations

import re

# A Chinese character: CJK unified ideographs, extension A, compatibility ideographs and the supplementary
# planes' ideographs (extensions B-G and the compatibility supplement: 𠮷, 𠀋)
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RE = re.compile(f"[{HAN}]")

# the CJK radicals supplement and the Kangxi radicals (⻓ ⾃): PDF extraction's stand-ins for characters
RADICALS = "\u2e80-\u2fdf"
# the compatibility ideographs (豈 U+F900) and their supplement: most NFKC-fold to a unified ideograph
HAN_COMPAT = "\uf900-\ufaff\U0002f800-\U0002fa1f"
# Han-script characters that are not ideographs: the radicals, 々〆〇 and the Hangzhou numerals (〡〢)
HAN_MARKS = RADICALS + "\u3005-\u3007\u3021-\u3029\u3038-\u303b"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
# every character of the Chinese, Japanese and Korean scripts (what the metrics count one token each)
CJK_SCRIPT = HAN_MARKS + HAN + KANA + HANGUL

# CJK symbols and punctuation (U+3000-303F: 　、。「」) and the halfwidth and fullwidth forms (，？ＡＢ１)
CJK_SYMBOLS = "\u3000-\u303f\uff00-\uffef"
