"""Chinese questions from the angles a customer takes, found with a Chinese word segmenter (jieba).

A person rarely asks an FAQ's own question. They name the thing by a word of the answer ("给母猫做绝育要准备
多少钱？" for "绝育手术费用是多少？" → "公猫绝育680元，母猫绝育1280元…"), wrap it in their situation, and leave out
the rest. A small model learns to answer that only when training asked the entry by those words. For each entry
this module finds the words that tell it apart from the other entries (nouns and verbs that few other entries
use), and writes:

- the answer's fact clauses as questions with the entry's subject kept ("周租每天多少元？" would fit three car
  models; "云途A3，周租每天多少元？" fits one): :func:`subject_questions`;
- short questions by those words, in frames that fit the kind of fact the answer holds (a price, a length of
  time, a place, a yes/no): :func:`keyword_questions`, some opened by a person's lead-in ("第一次来，…").

Two frame families, as in :mod:`tools.data.paraphrase`: ``train`` wordings are trained, ``check`` wordings only
asked by the learning check. Everything is deterministic for one seed.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import zip_longest
from typing import Literal

from tools.core.cjk import HAN_RE

Family = Literal["train", "check"]

# parts of speech that name a thing a person asks about (jieba's tags); verbs only from the question itself
_NOUNS = {"n", "nr", "ns", "nt", "nz", "nrt", "nrfg", "vn", "j"}
_STOP = {
    "多少", "什么", "怎么", "怎样", "可以", "需要", "是否", "哪些", "哪里", "哪个", "一下", "请问", "能够", "如何",
    "多久", "时候", "有没有", "是不是", "能不能", "还有", "进行", "提供", "支持", "包括", "包含", "使用", "没有",
    "知道", "告诉", "觉得", "应该", "问题", "情况", "时间", "问", "收取", "费用", "收费", "价格", "多长",
}
_MONEY = re.compile(r"(?<![A-Za-z\d])\d+(?:\.\d+)?\s*(?:元|块|万元)")
_DURATION = re.compile(r"(?<![A-Za-z\d])\d+\s*(?:个月|个工作日|年|天|日|小时|分钟|周)")
_PLACE = re.compile(r"[路街号区市省楼层]")
_PHONE = re.compile(r"\d{3,4}-\d{3,4}")

_FRAMES: dict[Family, dict[str, tuple[str, ...]]] = {
    "train": {
        "money": ("{k}多少钱？", "{k}怎么收费？", "{k}要花多少钱？"),
        "time": ("{k}要多长时间？", "{k}要多久？"),
        "place": ("{k}在哪儿？", "{k}怎么走？"),
        "phone": ("{k}打哪个电话？", "{k}的号码是多少？"),
        "any": ("{k}是怎么回事？", "说说{k}。", "{k}有什么讲究？", "问下{k}的事。"),
    },
    "check": {
        "money": ("{k}大概得花多少？",),
        "time": ("{k}得等多长时间？",),
        "place": ("{k}具体在什么地方？",),
        "phone": ("{k}该联系哪个号码？",),
        "any": ("{k}这块能讲讲吗？",),
    },
}
_LEADS: dict[Family, tuple[str, ...]] = {
    "train": ("我想问问，", "打扰一下，", "朋友推荐过来的，", "第一次来，", "有个事想确认下，", "不好意思，",
              "急问：", "我家里人让我问：", "还想了解一下，"),
    "check": ("顺便问一句，", "刚看到你们的介绍，"),
}


_EVERYDAY = 6.5  # inverse document frequency in jieba's corpus below which a word is everyday, not a topic


def _idf(word: str) -> float:
    from jieba.analyse import default_tfidf as tfidf

    return float(tfidf.idf_freq.get(word, tfidf.median_idf))


@lru_cache(maxsize=1)
def _posseg():  # type: ignore[no-untyped-def]
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


def content_words(text: str, verbs: bool = False) -> list[str]:
    """The nouns (and with ``verbs`` the verbs) of ``text`` a person could ask by, in order, each once
    ("公猫", "母猫"; "绝育" as a verb of the question)."""
    out: list[str] = []
    for pair in _posseg().cut(text):
        word, flag = pair.word.strip(), pair.flag
        if not word or word in _STOP or word in out:
            continue
        if re.fullmatch(r"[A-Za-z]+\d*|[A-Za-z]+\d+[A-Za-z]*", word):
            if len(word) >= 2:
                out.append(word)
        elif len(HAN_RE.findall(word)) >= 2 and (flag in _NOUNS or (verbs and flag == "v")):
            out.append(word)
    return out


class Entries:
    """The entries' words and how many entries use each word (document frequency)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self.words = {q: (content_words(q, verbs=True), content_words(a)) for q, a in pairs}
        self.text = {q: q + a for q, a in pairs}
        self.df: Counter[str] = Counter()
        for qw, aw in self.words.values():
            self.df.update(set(qw) | set(aw))
        self.size = len(pairs)

    def distinctive(self, question: str, limit: int = 3) -> list[str]:
        """The words that tell the entry apart: the subject, then the rarest among the entries, the most telling
        first (said more often in the entry, rarer in jieba's corpus); a word most entries use (the brand) never,
        nor an answer's everyday word ("部分", "小时", "信息")."""
        qw, aw = self.words.get(question) or (content_words(question, verbs=True), [])
        cap = max(1, self.size // 4)
        ranked = [w for w in dict.fromkeys(qw + aw) if self.df[w] <= cap and (w in qw or _idf(w) >= _EVERYDAY)]
        subject = self.subject(question)
        text = self.text.get(question, question)
        ranked.sort(key=lambda w: (w != subject, self.df[w], -text.count(w) * _idf(w)))
        return ranked[:limit]

    def subject(self, question: str) -> str | None:
        """The question's own rarest word: what the entry is about ("A3", "绝育")."""
        qw = (self.words.get(question) or (content_words(question, verbs=True), []))[0]
        cap = max(1, self.size // 4)
        ranked = sorted((w for w in qw if self.df[w] <= cap), key=lambda w: self.df[w])
        return ranked[0] if ranked else None


LEAD = re.compile("^(?:" + "|".join(re.escape(x) for x in _LEADS["train"] + _LEADS["check"]) + ")")


def kinds(answer: str) -> list[str]:
    """The kinds of fact an answer holds, for frames that fit it."""
    out = []
    if _PHONE.search(answer):
        out.append("phone")
    if _MONEY.search(answer):
        out.append("money")
    if _DURATION.search(answer):
        out.append("time")
    if _PLACE.search(answer) and re.search(r"\d+号", answer):
        out.append("place")
    return out + ["any"]


def subject_questions(question: str, clause_questions: Sequence[str], entries: Entries) -> list[str]:
    """Questions read off the answer's clauses, each naming the entry's subject where the clause does not."""
    subject = entries.subject(question)
    own = {w for w in entries.distinctive(question, 6) if entries.df[w] <= 1}
    out = []
    for text in clause_questions:
        words = set(content_words(text))
        if subject and not (words & own) and subject not in text:
            text = f"{subject}，{text}"
        out.append(text)
    return out


def keyword_questions(question: str, answer: str, entries: Entries, family: Family = "train", k: int = 4,
                      seed: int = 0) -> list[str]:
    """Short questions by the entry's distinctive words (one per word at least, ``k`` at most when there are
    fewer words), in frames fitting the answer's facts; some opened by a person's lead-in."""
    return [text for _, text in keyword_angles(question, answer, entries, family, seed, k)]


def keyword_angles(question: str, answer: str, entries: Entries, family: Family = "train", seed: int = 0,
                   k: int = 1) -> list[tuple[str, str]]:
    """(word, question) pairs of :func:`keyword_questions`."""
    rng = random.Random(f"{seed}\x00{family}\x00{question}")
    words = entries.distinctive(question, 5)
    if not words:
        return []
    frames = _FRAMES[family]
    subject = entries.subject(question)
    # a word another entry shares ("周租" of two car models) is asked with the entry's subject ("A3周租")
    # (a shared word that holds the subject, "绝育手术" beside "绝育", tells nothing apart: left out)
    named = [w if entries.df[w] <= 1 or w == subject else f"{subject}{w}" for w in words
             if entries.df[w] <= 1 or w == subject or (subject and subject not in w and w not in subject)]
    per_word = []
    for word in dict.fromkeys(named):
        frames_of = [(word, f.format(k=word)) for kind in kinds(answer) for f in frames[kind]]
        rng.shuffle(frames_of)
        per_word.append(frames_of)
    # one wording per word before a second of any, so that every word that tells the entry apart is asked by
    out: list[tuple[str, str]] = []
    for round_ in zip_longest(*per_word):
        for pair in round_:
            if pair and pair[1] not in {t for _, t in out} and pair[1] != question:
                word, text = pair
                out.append((word, rng.choice(_LEADS[family]) + text if rng.random() < 0.4 else text))
    return out[:max(k, len(per_word))]
