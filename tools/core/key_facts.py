"""Key facts of a reference (numbers, dates, quoted terms, names) and how many of them an output holds.

Latin text: capitalised multi-word names, CamelCase and ALLCAPS tokens, capitalised words not at the start
of a sentence. Chinese/Japanese/Korean text: quoted terms, numbers, and every latin word embedded in it.
Key-fact recall is in [0, 1], ``None`` for a reference with no facts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tools.core.cjk import CJK_SCRIPT
from tools.core.metric_text import has_cjk, tokenize

FactKind = Literal["number", "date", "quoted", "entity", "term"]


@dataclass(frozen=True)
class Fact:
    """One key fact of a reference: what it is, how it was written, and its comparison key."""

    kind: FactKind
    text: str
    key: str


_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        1,
    )
    for m in names
}
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NB = r"(?<![A-Za-z\d])"  # not glued to a latin word or digit on the left
_NA = r"(?![A-Za-z\d])"
_DATE_RES = [
    # 2024-01-05, 2024/1/5, 2024.1.5, 2024年1月5日
    (re.compile(r"(?<![\d.])(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?(?![\d.])"), "ymd"),
    (re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d)"), "ym"),
    (re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"), "md"),
    # January 5, 2024 / Jan 5
    (
        re.compile(
            rf"{_NB}({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?{_NA}(?:,?\s+(\d{{4}}){_NA})?",
            re.IGNORECASE,
        ),
        "mdy",
    ),
    # 5 January 2024
    (
        re.compile(
            rf"{_NB}(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_ALT})\.?{_NA}(?:,?\s+(\d{{4}}){_NA})?",
            re.IGNORECASE,
        ),
        "dmy",
    ),
]
_NUMBER_RE = re.compile(
    r"(?<![A-Za-z\d])(?<!\d[.,])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d])(\s?(?:%|percent\b|per cent\b))?",
    re.IGNORECASE,
)
_TIME_RE = re.compile(r"(?<![\d:.])(\d{1,2}):([0-5]\d)(?![\d])")
_QUOTE_RES = [
    re.compile(r'"([^"\n]{1,60})"'),
    re.compile(r"“([^”\n]{1,60})”"),
    re.compile(r"‘([^’\n]{1,60})’"),
    re.compile(r"「([^」\n]{1,60})」"),
    re.compile(r"『([^』\n]{1,60})』"),
    re.compile(r"《([^》\n]{1,60})》"),
    re.compile(r"〈([^〉\n]{1,60})〉"),
    re.compile(r"(?<![A-Za-z0-9])'([^'\n]{1,60})'(?![A-Za-z0-9])"),
]
# A latin word (accented letters too: Tromsø, Zürich, São Paulo) not glued to other (non-CJK) letters or digits:
# "用LoRA微调" gives LoRA.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_NOT_ALNUM_BEFORE = f"(?<!(?![{CJK_SCRIPT}])[^\\W_])"
_NOT_ALNUM_AFTER = f"(?!(?![{CJK_SCRIPT}])[^\\W_])"
_LATIN_WORD_RE = re.compile(
    _NOT_ALNUM_BEFORE + f"[{_LATIN}][{_LATIN}0-9]*(?:[-_.+][{_LATIN}0-9]+)*\\+*" + _NOT_ALNUM_AFTER
)
_SENTENCE_END = set(".!?:;。！？：；\n\"'“”「『《(（[")
# Capitalised words that start sentences rather than name things.
_STOP_CAPS = frozenset(
    """a an the in on at to for from by with of and or but so as if when while after before this that these
    those it its i i'm we you he she they our your my his her their yes no please hi hello dear also then there
    here what which who how why where all some any each every most more many one not do does did is are was
    were be can could will would should may might must first next finally however note""".split()
)
# In Chinese text every latin word is taken as a term, except these.
_STOP_LATIN = frozenset("a an the of and or to in on at for is are be by with as it this that".split())


def _date_key(y: int | None, m: int | None, d: int | None) -> str | None:
    if m is not None and not 1 <= m <= 12:
        return None
    if d is not None and not 1 <= d <= 31:
        return None
    return "date:" + "-".join("?" if x is None else str(x) for x in (y, m, d))


def _find_dates(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, key, surface) of each date, longest patterns first, no overlaps."""
    found: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for rx, shape in _DATE_RES:
        for m in rx.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            g = m.groups()
            y: int | None
            mo: int | None
            d: int | None
            if shape == "ymd":
                y, mo, d = int(g[0]), int(g[1]), int(g[2])
            elif shape == "ym":
                y, mo, d = int(g[0]), int(g[1]), None
            elif shape == "md":
                y, mo, d = None, int(g[0]), int(g[1])
            elif shape == "mdy":
                y, mo, d = (int(g[2]) if g[2] else None), _MONTHS[g[0].lower()], int(g[1])
            else:  # dmy
                y, mo, d = (int(g[2]) if g[2] else None), _MONTHS[g[1].lower()], int(g[0])
            key = _date_key(y, mo, d)
            if key is None:
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), m.end(), key, m.group(0).strip()))
    return found


def _number_key(integer: str, frac: str | None, pct: str | None) -> str:
    raw = integer.replace(",", "") + (frac or "")
    try:
        value = format(Decimal(raw).normalize(), "f")
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        value = raw
    return "num:" + value + ("%" if pct else "")


def _find_numbers(text: str, skip: Iterable[tuple[int, int]] = ()) -> list[tuple[str, str]]:
    """(key, surface) of clock times (9:30) and numbers (1,000 / 3.5 / 45%) outside the ``skip`` spans."""
    spans = list(skip)
    out = []
    for m in _TIME_RE.finditer(text):
        if any(m.start() < e and s < m.end() for s, e in spans):
            continue
        spans.append((m.start(), m.end()))
        out.append((f"time:{int(m.group(1))}:{m.group(2)}", m.group(0)))
    for m in _NUMBER_RE.finditer(text):
        if any(m.start() < e and s < m.end() for s, e in spans):
            continue
        out.append((_number_key(m.group(1), m.group(2), m.group(3)), m.group(0).strip()))
    return out


def _text_key(text: str) -> str | None:
    toks = tokenize(text)
    return "t:" + "\x1f".join(toks) if toks else None


# Small words a multi-word name may hold between capitalised words ("Bank of England", "Duke de la Rochelle").
_NAME_JOINERS = ("of", "de", "&", "and", "von", "van", "der", "la")


def _is_cap(w: str) -> bool:
    return w[0].isupper()


def _is_special(w: str) -> bool:
    """CamelCase (iPhone, OpenAI, vLLM) or ALLCAPS (GPU, A100, GPT-4)."""
    letters = [c for c in w if c.isalpha()]
    camel = re.search(r"[a-z][A-Za-z0-9]*[A-Z]", w) is not None
    caps = len(w) >= 2 and all(c.isupper() for c in letters) and (len(letters) >= 2 or w != w[0])
    return camel or caps


def _sentence_initial(text: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] in _SENTENCE_END


_Word = tuple[int, int, str]  # (start, end, the word)


def _name_run(text: str, words: list[_Word], i: int) -> tuple[list[int], int]:
    """The run of capitalised words from ``i`` separated by single spaces (a joiner such as "of" allowed
    inside), and the index after it; a CamelCase/ALLCAPS word is a run of its own."""
    run = [i]
    j = i + 1
    while j < len(words):
        gap = text[words[j - 1][1] : words[j][0]]
        w = words[j][2]
        if _is_special(w) or _is_special(words[j - 1][2]):
            break
        if gap == " " and _is_cap(w):
            run.append(j)
            j += 1
        elif (
            gap == " "
            and w in _NAME_JOINERS
            and j + 1 < len(words)
            and text[words[j][1] : words[j + 1][0]] == " "
            and _is_cap(words[j + 1][2])
        ):
            run.extend([j, j + 1])
            j += 2
        else:
            break
    return run, j


def _trim_run(words: list[_Word], run: list[int]) -> list[int]:
    """The run without leading sentence words ("The Eiffel Tower" -> "Eiffel Tower") and trailing joiners."""
    while run and words[run[0]][2].lower() in _STOP_CAPS:
        run.pop(0)
    while run and words[run[-1]][2] in _NAME_JOINERS:
        run.pop()
    return run


def _names_a_thing(text: str, words: list[_Word], run: list[int]) -> bool:
    """A single capitalised word counts only mid-sentence and not as a stop word; CamelCase/ALLCAPS always."""
    first_word = words[run[0]][2]
    if len(run) == 1:
        if first_word.lower() in _STOP_CAPS and not _is_special(first_word):
            return False
        if not _is_special(first_word) and (_sentence_initial(text, words[run[0]][0]) or len(first_word) < 2):
            return False
    return True


def _find_entities(text: str, skip: Sequence[tuple[int, int]] = ()) -> list[str]:
    """Capitalised multi-word names, CamelCase and ALLCAPS tokens, and capitalised words mid-sentence.

    CamelCase/ALLCAPS tokens are always facts of their own ("Contact NASA" gives "NASA"); words inside
    the ``skip`` spans (dates) are ignored.
    """
    words = [
        (m.start(), m.end(), m.group(0))
        for m in _LATIN_WORD_RE.finditer(text)
        if not any(m.start() < e and s < m.end() for s, e in skip)
    ]
    entities: list[str] = []
    i = 0
    while i < len(words):
        if not _is_cap(words[i][2]) and not _is_special(words[i][2]):
            i += 1
            continue
        run, i = _name_run(text, words, i)
        run = _trim_run(words, run)
        if run and _names_a_thing(text, words, run):
            entities.append(text[words[run[0]][0] : words[run[-1]][1]])
    return entities

def extract_facts(reference: str) -> list[Fact]:
    """Key facts of a text: numbers (decimals, percentages, dates), quoted terms, named entities.

    Latin text: capitalised multi-word names, CamelCase and ALLCAPS tokens, capitalised words not at
    the start of a sentence. Chinese/Japanese/Korean text: quoted terms (「」《》“” ...), numbers, and
    every latin word embedded in it. Facts are de-duplicated by their comparison key.
    """
    text = unicodedata.normalize("NFKC", reference)
    facts: list[Fact] = []
    seen: set[str] = set()

    def add(kind: FactKind, surface: str, key: str | None) -> None:
        if key and key not in seen:
            seen.add(key)
            facts.append(Fact(kind, surface, key))

    dates = _find_dates(text)
    for _, _, key, surface in dates:
        add("date", surface, key)
    for key, surface in _find_numbers(text, [(s, e) for s, e, _, _ in dates]):
        add("number", surface, key)
    for rx in _QUOTE_RES:
        for m in rx.finditer(text):
            term = m.group(1).strip()
            add("quoted", term, _text_key(term))
    entity_words: set[str] = set()
    for ent in _find_entities(text, [(s, e) for s, e, _, _ in dates]):
        add("entity", ent, _text_key(ent))
        entity_words.update(tokenize(ent))
    if has_cjk(text):
        for m in _LATIN_WORD_RE.finditer(text):
            w = m.group(0)
            if len(w) >= 2 and w.lower() not in _STOP_LATIN and not set(tokenize(w)) <= entity_words:
                add("term", w, _text_key(w))
    return facts


def _output_keys(output: str) -> tuple[set[str], list[tuple[str | None, ...]], str]:
    text = unicodedata.normalize("NFKC", output)
    numbers = {key for key, _ in _find_numbers(text)}
    # numbers written without a percent sign still count for a bare number, and a date's parts count too
    numbers |= {k.rstrip("%") for k in numbers}
    dates = []
    for _, _, key, _ in _find_dates(text):
        parts = key.removeprefix("date:").split("-")
        dates.append(tuple(None if p == "?" else p for p in parts))
        numbers |= {"num:" + p for p in parts if p != "?"}
    joined = "\x1f" + "\x1f".join(tokenize(text)) + "\x1f"
    return numbers, dates, joined


def fact_found(fact: Fact, output: str) -> bool:
    return _facts_found([fact], output)[0]


def _facts_found(facts: Sequence[Fact], output: str) -> list[bool]:
    numbers, dates, joined = _output_keys(output)
    found = []
    for f in facts:
        if f.kind == "number":
            found.append(f.key in numbers)
        elif f.kind == "date":
            want = f.key.removeprefix("date:").split("-")
            found.append(
                any(all(w == "?" or w == g for w, g in zip(want, got, strict=True)) for got in dates)
            )
        else:
            found.append("\x1f" + f.key.removeprefix("t:") + "\x1f" in joined)
    return found


class FactRecall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recall: float | None
    total: int
    found: list[str]
    missing: list[str]


def key_fact_recall_detail(prediction: str, reference: str) -> FactRecall:
    facts = extract_facts(reference)
    hits = _facts_found(facts, prediction)
    found = [f.text for f, h in zip(facts, hits, strict=True) if h]
    missing = [f.text for f, h in zip(facts, hits, strict=True) if not h]
    recall = len(found) / len(facts) if facts else None
    return FactRecall(recall=recall, total=len(facts), found=found, missing=missing)


def key_fact_recall(prediction: str, reference: str) -> float | None:
    """Fraction of the reference's key facts found in the output; ``None`` when the reference has none."""
    return key_fact_recall_detail(prediction, reference).recall
