"""Text metrics for the before/after table: ROUGE-L, BLEU, chrF, exact match, key-fact recall; no model.

Every metric takes a ``prediction`` (the model's output) and a ``reference``
and never raises on odd Unicode. Token units are shared by ROUGE-L and the
length ratio (:func:`tools.core.metric_text.tokenize`): each Chinese/Japanese/Korean
character is one token and latin words or numbers are one token each, so Chinese is
scored at character level and English at word level, and mixed text works too (the
usual ROUGE tokenizer drops CJK characters and scores Chinese as 0). Key facts are
found in :mod:`tools.core.key_facts`.

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
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Literal

import sacrebleu
from pydantic import BaseModel, ConfigDict
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_char import TokenizerChar
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

from tools.core.key_facts import key_fact_recall_detail
from tools.core.metric_text import detect_script, normalize_text, tokenize

BleuTokenizer = Literal["zh", "char", "13a"]


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


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the texts are equal after :func:`normalize_text`, else 0.0."""
    return 1.0 if normalize_text(prediction) == normalize_text(reference) else 0.0


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
