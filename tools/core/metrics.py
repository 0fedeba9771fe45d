"""Text metrics for the before/after table: CJK-aware, pure Python, no model.

Every metric takes a ``prediction`` (the model's output) and a ``reference``
and never raises on odd Unicode. Token units are shared by ROUGE-L and the
length ratio (:func:`tokenize`): each Chinese/Japanese/Korean character is one
token and latin words or numbers are one token each, so Chinese is scored at
character level and English at word level, and mixed text works too (the usual
ROUGE tokenizer drops CJK characters and scores Chinese as 0).

BLEU and chrF come from sacrebleu. BLEU uses sacrebleu's ``zh`` tokenizer when
the reference is Chinese, ``char`` when it is Japanese (kana, no MeCab needed)
and ``13a`` otherwise. Corpus BLEU tokenizes each sample with its own
tokenizer and then scores with ``tokenize="none"``, which equals
``corpus_bleu(..., tokenize="zh")`` on an all-Chinese set and stays right on a
mixed one.

Scales: ROUGE-L, exact match and key-fact recall in [0, 1]; BLEU and chrF in
[0, 100] (sacrebleu's scale); length ratio >= 0 (output tokens / reference
tokens, ``None`` for an empty reference).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Literal

import sacrebleu
from pydantic import BaseModel, ConfigDict
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_char import TokenizerChar
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

# --- scripts -----------------------------------------------------------------

_HAN = (
    "\u2e80-\u2fdf"  # radicals
    "\u3005-\u3007\u3021-\u3029\u3038-\u303b"  # 々〆〇, Hangzhou numerals
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_CJK = _HAN + _KANA + _HANGUL

_CJK_RE = re.compile(f"[{_CJK}]")
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")
_TOKEN_RE = re.compile(f"[{_CJK}]|(?:(?![{_CJK}])[^\\W_])+")

Script = Literal["zh", "ja", "ko", "other"]
BleuTokenizer = Literal["zh", "char", "13a"]


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


# --- ROUGE-L -----------------------------------------------------------------


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (bit-parallel, O(len(a) * len(b) / word size))."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        m = masks.get(tok)
        if m is None:
            continue
        u = v & m
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 on :func:`tokenize` tokens; two texts with no tokens score 1.0 only if equal."""
    pred, ref = tokenize(prediction), tokenize(reference)
    if not pred or not ref:
        return 1.0 if not pred and not ref and prediction.strip() == reference.strip() else 0.0
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def length_ratio(prediction: str, reference: str) -> float | None:
    """Output length / reference length in :func:`tokenize` units; ``None`` when the reference is empty."""
    ref = tokenize(reference)
    if not ref:
        return None
    return len(tokenize(prediction)) / len(ref)


# --- BLEU / chrF ---------------------------------------------------------------


def bleu_tokenizer(reference: str) -> BleuTokenizer:
    """sacrebleu tokenizer for this reference: ``zh`` for Chinese, ``char`` for Japanese, else ``13a``."""
    script = detect_script(reference)
    return "zh" if script == "zh" else "char" if script == "ja" else "13a"


@cache
def _sacre_tokenizer(name: BleuTokenizer) -> Callable[[str], str]:
    classes: dict[str, Callable[[], Callable[[str], str]]] = {
        "zh": TokenizerZh,
        "char": TokenizerChar,
        "13a": Tokenizer13a,
    }
    return classes[name]()


def _clamp(x: float, lo: float, hi: float) -> float:
    if math.isnan(x):
        return lo
    return min(hi, max(lo, x))


def _pretokenize(text: str, tok: BleuTokenizer) -> str:
    return str(_sacre_tokenizer(tok)(text.strip()))


def sentence_bleu(prediction: str, reference: str) -> float:
    """Sentence BLEU (0-100, sacrebleu defaults: exp smoothing, effective order)."""
    tok = bleu_tokenizer(reference)
    score = sacrebleu.sentence_bleu(prediction, [reference], tokenize=tok).score
    return _clamp(float(score), 0.0, 100.0)


def sentence_chrf(prediction: str, reference: str) -> float:
    """Sentence chrF (0-100, character n-grams, language-independent)."""
    return _clamp(float(sacrebleu.sentence_chrf(prediction, [reference]).score), 0.0, 100.0)


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU; each pair tokenized with :func:`bleu_tokenizer` of its reference."""
    _check_lengths(predictions, references)
    if not predictions:
        return 0.0
    hyps, refs = [], []
    for p, r in zip(predictions, references, strict=True):
        tok = bleu_tokenizer(r)
        hyps.append(_pretokenize(p, tok))
        refs.append(_pretokenize(r, tok))
    score = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score
    return _clamp(float(score), 0.0, 100.0)


def corpus_chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    _check_lengths(predictions, references)
    if not predictions:
        return 0.0
    return _clamp(float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score), 0.0, 100.0)


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")


# --- exact match ---------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, case-fold, and drop punctuation (ASCII and CJK full-width), whitespace and control characters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PZC" and not c.isspace())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the texts are equal after :func:`normalize_text`, else 0.0."""
    return 1.0 if normalize_text(prediction) == normalize_text(reference) else 0.0


# --- key facts -----------------------------------------------------------------

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
_NOT_ALNUM_BEFORE = f"(?<!(?![{_CJK}])[^\\W_])"
_NOT_ALNUM_AFTER = f"(?!(?![{_CJK}])[^\\W_])"
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

    def is_cap(w: str) -> bool:
        return w[0].isupper()

    def is_special(w: str) -> bool:  # CamelCase (iPhone, OpenAI, vLLM) or ALLCAPS (GPU, A100, GPT-4)
        letters = [c for c in w if c.isalpha()]
        camel = re.search(r"[a-z][A-Za-z0-9]*[A-Z]", w) is not None
        caps = len(w) >= 2 and all(c.isupper() for c in letters) and (len(letters) >= 2 or w != w[0])
        return camel or caps

    def sentence_initial(start: int) -> bool:
        j = start - 1
        while j >= 0 and text[j] in " \t":
            j -= 1
        return j < 0 or text[j] in _SENTENCE_END

    entities: list[str] = []
    i = 0
    while i < len(words):
        if not is_cap(words[i][2]) and not is_special(words[i][2]):
            i += 1
            continue
        # Grow a run of capitalised words separated by single spaces (allowing "of"/"de"/"&" inside).
        run = [i]
        j = i + 1
        while j < len(words):
            gap = text[words[j - 1][1] : words[j][0]]
            w = words[j][2]
            if is_special(w) or is_special(words[j - 1][2]):
                break
            if gap == " " and is_cap(w):
                run.append(j)
                j += 1
            elif (
                gap == " "
                and w in ("of", "de", "&", "and", "von", "van", "der", "la")
                and j + 1 < len(words)
                and text[words[j][1] : words[j + 1][0]] == " "
                and is_cap(words[j + 1][2])
            ):
                run.extend([j, j + 1])
                j += 2
            else:
                break
        i = j
        while run and words[run[0]][2].lower() in _STOP_CAPS:  # "The Eiffel Tower" -> "Eiffel Tower"
            run.pop(0)
        while run and words[run[-1]][2] in ("of", "de", "&", "and", "von", "van", "der", "la"):
            run.pop()
        if not run:
            continue
        first_word = words[run[0]][2]
        if len(run) == 1:
            if first_word.lower() in _STOP_CAPS and not is_special(first_word):
                continue
            if not is_special(first_word) and (sentence_initial(words[run[0]][0]) or len(first_word) < 2):
                continue
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


# --- per-sample and corpus -------------------------------------------------------


class SampleMetrics(BaseModel):
    """Metrics of one (output, reference) pair."""

    model_config = ConfigDict(extra="forbid")

    rouge_l: float
    bleu: float
    chrf: float
    exact_match: float
    key_fact_recall: float | None
    length_ratio: float | None
    key_facts_total: int = 0
    key_facts_missing: list[str] = []


def score_sample(prediction: str, reference: str) -> SampleMetrics:
    facts = key_fact_recall_detail(prediction, reference)
    return SampleMetrics(
        rouge_l=rouge_l(prediction, reference),
        bleu=sentence_bleu(prediction, reference),
        chrf=sentence_chrf(prediction, reference),
        exact_match=exact_match(prediction, reference),
        key_fact_recall=facts.recall,
        length_ratio=length_ratio(prediction, reference),
        key_facts_total=facts.total,
        key_facts_missing=facts.missing,
    )


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not ``None``/NaN; ``None`` when there are none."""
    kept = [float(v) for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def count_valid(values: Iterable[float | None]) -> int:
    return sum(1 for v in values if v is not None and not math.isnan(v))


class CorpusMetrics(BaseModel):
    """Overall metrics: means of per-sample scores, corpus-level BLEU and chrF."""

    model_config = ConfigDict(extra="forbid")

    n: int
    rouge_l: float | None
    bleu: float | None
    chrf: float | None
    exact_match: float | None
    key_fact_recall: float | None
    key_fact_samples: int
    length_ratio: float | None
    bleu_tokenizers: list[str]


def aggregate(
    samples: Sequence[SampleMetrics], predictions: Sequence[str], references: Sequence[str]
) -> CorpusMetrics:
    """Means of per-sample metrics (``None``/NaN excluded) with corpus BLEU/chrF from the texts."""
    if not (len(samples) == len(predictions) == len(references)):
        raise ValueError("samples, predictions and references differ in length")
    empty = not samples
    return CorpusMetrics(
        n=len(samples),
        rouge_l=mean(s.rouge_l for s in samples),
        bleu=None if empty else corpus_bleu(predictions, references),
        chrf=None if empty else corpus_chrf(predictions, references),
        exact_match=mean(s.exact_match for s in samples),
        key_fact_recall=mean(s.key_fact_recall for s in samples),
        key_fact_samples=count_valid(s.key_fact_recall for s in samples),
        length_ratio=mean(s.length_ratio for s in samples),
        bleu_tokenizers=sorted({bleu_tokenizer(r) for r in references}),
    )


def score_corpus(predictions: Sequence[str], references: Sequence[str]) -> CorpusMetrics:
    _check_lengths(predictions, references)
    samples = [score_sample(p, r) for p, r in zip(predictions, references, strict=True)]
    return aggregate(samples, predictions, references)


def perplexity(loss: float | None) -> float | None:
    """exp(mean token cross-entropy); ``inf`` past float range, ``None`` for no loss."""
    if loss is None:
        return None
    if math.isnan(loss):
        return math.nan
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
