"""Questions in other words: deterministic bilingual templates (and an LLM when one is configured).

A small model learns a fact so that it can be *asked differently* only when training saw the question
phrased in several ways (Allen-Zhu & Li, "Physics of Language Models 3.1"). This module writes those
phrasings. The templates come in two disjoint families:

- ``train``: mixed into the training data (the answer stays the person's own text, word for word);
- ``check``: never trained on; the learning check during training and the evaluation's *learnt* set ask
  these, so "knows 17 of 22" is measured on wordings the model did not see.

Every function is pure and seeded: the same question and seed always give the same phrasings.
"""

from __future__ import annotations

import random
import re
from typing import Literal

Family = Literal["train", "check"]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_ZH_END = re.compile(r"[？?！!。.\s]+$")
_EN_END = re.compile(r"[?!.\s]+$")
_ZH_POLITE = re.compile(r"^(?:请问一下|请问|你好[，,]?|您好[，,]?|想问一下[，,]?|麻烦问下[，,]?)")
# interrogative endings and their interchangeable forms (the fact asked for stays the same)
_ZH_SWAPS: list[tuple[str, tuple[str, ...]]] = [
    ("是多久", ("多长时间", "有多久", "多久")),
    ("多久", ("多长时间", "多少时间")),
    ("是多少", ("多少", "是几", "有多少")),
    ("是什么", ("是啥", "是哪个")),
    ("是哪一年", ("是哪年", "在哪一年")),
    ("怎么", ("如何", "怎样")),
    ("多大", ("有多大", "是多少")),
    ("吗", ("不", "么")),
]
_ZH_QWORDS = re.compile(r"(是多久|是多少|是什么|是哪一年|是哪个|多长时间|多久|多少|什么|怎么样|怎么|如何|哪个|哪里|几|吗|呢|多大)")
_EN_WH = re.compile(
    r"^(?:what(?:'s| is| are| was)?|how (?:much|many|long|often|large|big|soon)(?: (?:is|are|does|do|did|will))?|"
    r"when (?:is|are|does|do|will|was)|where (?:is|are|do|does|can)|which|who (?:is|are)|is|are|does|do|can|"
    r"will|how (?:do|does|can|is|are))\b\s*",
    re.IGNORECASE,
)

_ZH_TEMPLATES: dict[Family, tuple[str, ...]] = {
    "train": (
        "请问{q}", "{b}？谢谢", "我想问一下，{q}", "{t}？", "关于{t}，能告诉我吗？", "{b}呀？",
        "麻烦问下{q}", "{s}？", "想了解：{s}？", "{nod}？",
    ),
    "check": (
        "你好，{s}？", "能不能说一下{t}？", "{t}，具体是怎样的？", "帮我查一下：{b}？", "{nod}，谁知道？",
    ),
}
_EN_TEMPLATES: dict[Family, tuple[str, ...]] = {
    "train": (
        "Quick question: {q}", "{q} Thanks!", "Hi, {ql}", "I'd like to know: {ql}", "{t}?",
        "Could you tell me about {t}?", "{s}", "Please answer: {q}", "Tell me: {ql}", "About {t}: {ql}",
    ),
    "check": (
        "Hello! {s}", "Can you help me with {t}?", "{t} - what's the answer?", "Wondering: {ql}",
        "Need to know quickly, {ql}",
    ),
}


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def _zh_parts(question: str, rng: random.Random) -> dict[str, str]:
    body = _ZH_END.sub("", _ZH_POLITE.sub("", question.strip())) or question.strip()
    topic = _ZH_QWORDS.sub("", body).strip("，, 的") or body
    swapped = body
    for old, news in _ZH_SWAPS:
        if old in swapped:
            swapped = swapped.replace(old, rng.choice(news), 1)
            break
    return {"q": body + "？", "b": body, "t": topic, "s": swapped, "nod": body.replace("的", "") or body}


def _en_parts(question: str, rng: random.Random) -> dict[str, str]:
    body = _EN_END.sub("", question.strip()) or question.strip()
    lower = body[:1].lower() + body[1:] if body[:2] != body[:2].upper() else body
    topic = _EN_WH.sub("", body).strip() or body
    topic = re.sub(r"^(?:the|a|an|my|your|i|you)\s+", "", topic, flags=re.IGNORECASE) or topic
    swaps = [("How much does", "What does"), ("What is", "What's"), ("How many", "What number of"),
             ("How long", "For how long"), ("When", "At what time"), ("Where", "To where")]
    swapped = body
    for old, new in rng.sample(swaps, len(swaps)):
        if swapped.startswith(old):
            swapped = new + swapped[len(old):]
            break
    return {"q": body + "?", "ql": lower + "?", "t": topic, "s": swapped + "?"}


def paraphrase_question(question: str, family: Family = "train", k: int = 4, seed: int = 0) -> list[str]:
    """Up to ``k`` distinct phrasings of ``question`` from one template family (never the question itself)."""
    if not question.strip() or k <= 0:
        return []
    rng = random.Random(f"{seed}\x00{family}\x00{question}")
    zh = is_chinese(question)
    parts = _zh_parts(question, rng) if zh else _en_parts(question, rng)
    templates = list((_ZH_TEMPLATES if zh else _EN_TEMPLATES)[family])
    rng.shuffle(templates)
    seen = {_key(question)}
    out: list[str] = []
    for tpl in templates:
        text = tpl.format(**parts)
        if _key(text) in seen:
            continue
        seen.add(_key(text))
        out.append(text)
        if len(out) >= k:
            break
    return out


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())
