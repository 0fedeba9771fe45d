"""No invented facts: an answer given with documents may state only the numbers and codes its passages hold.

Every number (a phone number's groups, a price, a duration) and every code (E21, IPX5, CM-40) of the answer that
is not in the question is looked up in the passages the model read. Where one is missing, the model's answer is
replaced by the passage sentence that answers the question (:mod:`tools.data.read.extract`), quoted, with where
it is (:func:`tools.data.read.answer.finish`). An answer that says the documents do not hold it is a decline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.data.read.passages import Passage

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CODE = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z]{1,4}-?\d+[A-Za-z0-9]*|[A-Z]{2,}\d*)(?![A-Za-z0-9])")
_DECLINE_MARKS = ("没有提到", "没有说明", "没有相关", "未提及", "没有涉及", "do not say", "don't say", "does not say",
                  "not covered", "do not cover", "don't cover", "not mentioned", "not in the documents")


def _flat(text: str) -> str:
    return re.sub(r"[\s\-‐–—_/]", "", text).casefold()



def facts_in(text: str) -> list[str]:
    """The codes and the numbers (outside codes) an answer states."""
    codes = list(_CODE.finditer(text))
    inside = {i for m in codes for i in range(m.start(), m.end())}
    found = [m.group(0) for m in codes] + [m.group(0) for m in _NUMBER.finditer(text) if m.start() not in inside]
    return list(dict.fromkeys(found))


def unsupported(answer: str, passages: Sequence[Passage], question: str = "") -> list[str]:
    """The answer's numbers and codes that neither the passages nor the question hold."""
    text = " ".join(p.text for p in passages) + " " + question
    codes = _flat(text.replace(" ", "\x00"))  # separators inside a code go ("CM-40" = "CM40"), word ends stay
    out = []
    for fact in facts_in(answer):
        if fact.replace(".", "").isdigit():  # a number as a whole number of the text ("3021" of 028-8566-3021)
            if not re.search(rf"(?<![\d.]){re.escape(fact)}(?![\d]|\.\d)", text):
                out.append(fact)
        elif not re.search(rf"(?<![a-z0-9]){re.escape(_flat(fact))}(?![a-z0-9])", codes):
            out.append(fact)
    return out


def is_decline(answer: str) -> bool:
    low = answer.casefold()
    return any(m in low for m in _DECLINE_MARKS)
