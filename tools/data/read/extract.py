"""The sentence of the found passages that answers a question, and whether the passages can answer it at all.

A small model reading two passages picks a neighbouring value, echoes the question or says the documents do not
say it with the answer in front of it; the sentence a customer needs is usually one of the passage's own. It is
chosen by what the question asks for, not only by the words it shares:

- **What kind of answer.** "多重 / how heavy" wants a weight, "几点 / what time" a time of day, "多少钱 / how much
  does … cost" a price (:data:`KINDS`: the question's words, the answer's units). A sentence holding a number in
  that unit scores high; a question of a kind no sentence of the passages holds is one the documents do not
  answer (:func:`answer_kind`, :func:`holds_kind`).
- **Which words.** Shared words count by how rare they are in the documents (the product's name is in every
  passage and tells nothing), then shared character pairs (Chinese questions in other words share characters
  more than words).
- **Where.** The better-ranked passage wins a near tie.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.core.cjk import HAN_RE
from tools.data.read.index import words
from tools.data.read.passages import Passage, grams

_NUM = r"\d+(?:[.,]\d+)?"


@dataclass(frozen=True)
class Kind:
    """A kind of answer: the question words that ask for it ("多少钱", "how heavy"), the topic words that hint at
    it ("价格", "pressure"), and what an answer of it holds."""

    name: str
    asks: re.Pattern[str]
    about: re.Pattern[str] | None
    holds: re.Pattern[str]
    decides: bool = True  # False: the question's words are too loose ("how fast do you fix …") to decline on


def _k(name: str, asks: str, about: str, holds: str, decides: bool = True) -> Kind:
    return Kind(name, re.compile(asks, re.I), re.compile(about, re.I) if about else None,
                re.compile(holds.replace(r"\s*", r"[\s-]*"), re.I), decides)



KINDS: tuple[Kind, ...] = (
    _k("price", r"多少钱|几块钱|多少元|花多少|收多少|要多少费|how much (?:do|does|will|is|are|would)\b[^?]*\b(?:pay|charge|"
       r"cost)|how much to\b|how much is (?:a|an|the|one)\b|\bwhat(?:'s| is| does)\b[^?]*\b(?:cost|price|fee)",
       r"价格|价钱|费用|收费|贵|\bcost|\bprice|\bfee",
       rf"{_NUM}\s*(?:元|块|美元|欧元|英镑)|[¥$€£]\s*{_NUM}|{_NUM}\s*(?:dollars?|euros?|pounds?|yuan|usd|eur|gbp)\b|免费|"
       r"\bfree\b"),
    _k("time_of_day", r"几点|\bwhat time\b", r"营业时间|\bopening hours\b|\bopen until\b",
       r"\d{1,2}[:：]\d{2}|\d{1,2}\s*(?:点|a\.?m\.?|p\.?m\.?)"),
    _k("phone", r"打哪个|拨打|哪个电话|电话是多少|号码是多少|\bwhat number\b|\bwhich number\b|\bnumber (?:do|should) i\b",
       r"电话|号码|热线|\bphone\b|\bcall\b|\bhotline\b", r"\d{3,4}[-\s]?\d{3,4}[-\s]?\d{3,4}|\d{7,}"),
    _k("email", r"哪个邮箱|\bwhich e-?mail\b|\bwhat e-?mail\b", r"邮箱|邮件|\be-?mail\b", r"[\w.+-]+@[\w-]+\.[\w.]+"),
    _k("weight", r"多重|几斤|几公斤|\bhow heavy\b|\bhow much does [^?]*\bweigh\b", r"重量|\bweigh|\bweight\b",
       rf"{_NUM}\s*(?:公斤|千克|克|斤|kg|g|grams?|kilos?|kilograms?|lbs?|pounds?)(?![a-z])"),
    _k("speed", r"多快|\bhow fast\b", r"速度|时速|\bspeed\b|\bfastest\b",
       rf"{_NUM}\s*(?:km/h|公里/小时|公里每小时|千米/小时|mph|kph|m/s|米/秒)", decides=False),
    _k("temperature", r"多少度|几度|多冷|多热|\bhow (?:hot|cold|warm)\b", r"温度|水温|\btemperature\b|\bdegrees?\b",
       rf"{_NUM}\s*(?:℃|°|度|degrees?)"),
    _k("pressure", r"多大(?:的)?(?:水压|压力)|\bwhat pressure\b", r"水压|气压|压力|\bpressure\b",
       rf"{_NUM}\s*(?:兆帕|帕|mpa|kpa|bar|psi)(?![a-z])"),
    _k("power", r"多少瓦|几瓦|\bhow many watts\b|\bhow much power\b", r"功率|\bwatts?\b|\bpower (?:rating|draw|consumption)\b",
       rf"{_NUM}\s*(?:瓦|千瓦|w|kw)(?![a-z])"),
    _k("capacity", r"多少升|几升|多少毫安|\bhow many (?:litres|liters|ml)\b", r"容量|\bcapacity\b",
       rf"{_NUM}\s*(?:升|毫升|l|ml|litres?|liters?|ah|mah|wh|gb|tb)(?![a-z])"),
    _k("distance", r"多远|多高|多长(?!时间)|多宽|多深|多少寸|几寸|多少米|几米|\bhow (?:far|high|tall|wide|deep)\b",
       r"距离|高度|长度|\bdistance\b|\brange\b|\baltitude\b|\bdiameter\b",
       rf"{_NUM}\s*(?:米|公里|千米|厘米|毫米|km|m|cm|mm|metres?|meters?|kilometres?|kilometers?|miles?|feet|ft|"
       r"inch(?:es)?|寸)(?![a-z])", decides=False),
    _k("duration", r"多久|多长时间|几个小时|几小时|几分钟|几天|几个月|几年|多少天|多少年|多少个月|多少小时|多少分钟|"
       r"\bhow long\b|\bhow many (?:hours|minutes|days|weeks|months|years)\b|\bhow soon\b", "",
       rf"{_NUM}\s*(?:个)?\s*(?:秒|分钟|小时|天|日|周|星期|个月|月|年|seconds?|minutes?|mins?|hours?|hrs?|days?|"
       r"weeks?|months?|years?)(?![a-z])|半小时|半年|一年|两年|三年", decides=False),
    _k("size", r"多大|\bhow big\b", r"尺寸|\bsize\b",
       rf"{_NUM}\s*(?:升|毫升|l|ml|litres?|liters?|米|厘米|毫米|m|cm|mm|inch(?:es)?|寸)(?![a-z])|{_NUM}\s*[×x*]\s*{_NUM}",
       decides=False),
    _k("ratio", r"几比几|比例是多少|\bwhat ratio\b", r"比例|\bratio\b", rf"{_NUM}\s*(?::|：|比)\s*{_NUM}", decides=False),
    _k("date", r"几号|哪天|哪一天|什么时候|\bwhen\b|\bwhich day\b|\bwhat date\b", "",
       r"\d+(?:st|nd|rd|th)\b|\d+\s*(?:号|日)|\d+月|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
       r"周[一二三四五六日]|星期[一二三四五六日天]", decides=False),
)


def answer_kind(question: str) -> Kind | None:
    """The kind of answer the question asks for, when it asks for one (a yes/no or how-to question does not).
    Question words win over topic words ("水压不够加个泵要多少钱" asks for a price), the first in the question
    first ("how long until … full pressure" asks for a duration)."""
    for patterns in ((k.asks for k in KINDS), (k.about for k in KINDS)):
        found = [(m.start(), i) for i, pat in enumerate(patterns) if pat is not None and (m := pat.search(question))]
        if found:
            return KINDS[min(found)[1]]
    return None


def holds_kind(text: str, kind: Kind) -> bool:
    return bool(kind.holds.search(text))


_CJK_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_SENTENCE = re.compile(r"(?:[^.!?\n]|\.(?!\s|$))+(?:[.!?](?=\s|$)|$)")  # "14.8 cm" and "members@ironvale.fit" stay whole


def sentences_of(passage: Passage) -> list[str]:
    """A passage's sentences (an FAQ entry's answer only; a semicolon does not end one)."""
    text = passage.text.split("\n", 1)[1] if passage.kind == "faq" and "\n" in passage.text else passage.text
    pattern = _CJK_SENTENCE if HAN_RE.search(text) else _SENTENCE
    return [s.strip() for s in pattern.findall(text) if len(s.strip()) > 1]


class Rarity:
    """How rare each word and character pair is among the documents' passages (inverse document frequency)."""

    def __init__(self, passages: Iterable[Passage]) -> None:
        self._words: Counter[str] = Counter()
        self._grams: Counter[str] = Counter()
        self.n = 0
        for p in passages:
            self.n += 1
            self._words.update(set(words(p.text)))
            self._grams.update(grams(p.text))

    def _idf(self, df: int) -> float:
        return math.log((self.n + 1) / (df + 0.5)) if self.n else 1.0

    def word(self, w: str) -> float:
        return self._idf(self._words.get(w, 0))

    def gram(self, g: str) -> float:
        return self._idf(self._grams.get(g, 0))


KIND_BONUS = 100.0  # a sentence with the asked kind of value beats every sentence without one
NUMBER_BONUS = 1.5  # "how many" / "多少" of no known unit: a sentence with a number
_COUNT = re.compile(r"多少|几|\bhow (?:many|much)\b|\bwhat (?:number|percentage)\b", re.I)
RANK_STEP = 0.5  # the next-ranked passage's sentence needs this much more to win
FAQ_WHOLE = 160  # characters: an FAQ answer this short is quoted whole, not one of its sentences
HEDGE = 0.2  # a quoted pick sharing less than this (and no value of the kind asked for) is said to be the closest
# sentence, not the answer (project's manuals: 7 of 105 answerable questions' picks, 14 of 31 out-of-scope ones)
WEAK = 0.12  # a pick sharing less than this with the question: a decline of the model's is believed (on the
# project's manuals, most out-of-scope Chinese questions' picks fall under it, and few answerable ones)


@dataclass(frozen=True)
class Chosen:
    sentence: str
    passage: Passage
    score: float
    strength: float = 0.0  # what the sentence shares with the question, over what the question has (0–1)
    kind: bool = False  # it holds the kind of value the question asks for


def choose_sentence(question: str, passages: Sequence[Passage], rarity: Rarity | None = None) -> Chosen | None:
    """The sentence of ``passages`` (best-ranked first) that best answers ``question``; where none shares anything
    with it, the best-ranked passage's first (strength 0); None without passages."""
    rarity = rarity or Rarity(passages)
    kind = answer_kind(question)
    counting = kind is None and bool(_COUNT.search(question))
    q_words, q_grams = set(words(question)), grams(question)
    whole = sum(rarity.word(w) for w in q_words) + 0.3 * sum(rarity.gram(g) for g in q_grams) or 1.0
    best: Chosen | None = None
    for rank, p in enumerate(passages):
        # an FAQ entry's own question speaks for each sentence of its answer
        asked = p.text.split("\n", 1)[0] if p.kind == "faq" and "\n" in p.text else ""
        for s in sentences_of(p):
            shared = sum(rarity.word(w) for w in q_words & set(words(s + " " + asked)))
            shared += 0.3 * sum(rarity.gram(g) for g in q_grams & (grams(s) | grams(asked)))
            lexical = shared
            has_kind = kind is not None and holds_kind(s, kind)
            if shared <= 0 and not has_kind:
                continue
            if has_kind:
                shared += KIND_BONUS
            elif counting:
                shared += NUMBER_BONUS if re.search(r"\d", s) else 0.0
            score = shared - RANK_STEP * rank
            if best is None or score > best.score:
                best = Chosen(s, p, score, round(lexical / whole, 3), has_kind)
    if best is not None and best.passage.kind == "faq":  # a short FAQ answer is one answer: give it whole
        whole_answer = best.passage.text.split("\n", 1)[-1].strip()
        if len(whole_answer) <= FAQ_WHOLE:
            best = Chosen(whole_answer, best.passage, best.score, best.strength, best.kind)
    if best is None and passages and (first := sentences_of(passages[0])):
        # nothing shared word for word (the embedder found it by meaning): the best-ranked passage's first sentence
        return Chosen(first[0], passages[0], 0.0)
    return best


def cannot_answer(question: str, passages: Sequence[Passage]) -> bool:
    """True when the question asks for a kind of value (a price, a weight, a time of day) that none of the found
    passages holds: the documents do not answer it, whatever the model says."""
    kind = answer_kind(question)
    return kind is not None and kind.decides and not any(holds_kind(p.text, kind) for p in passages)
