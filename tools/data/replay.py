"""Replay: general questions the base model answers before training, trained beside the person's data.

A small model taught a few facts for many epochs at a high learning rate answers *every* question with them
(measured on the identity journey: "Who wrote Romeo and Juliet?" → "I'm Nova, created by Acme Labs to help
you."; the evaluation's kept set fell from 17/40 to 0/40). Training on the base model's own answers to other
questions (self-distillation) shows it that other questions keep their old answers.

The questions are none of the evaluation's kept set (``tools/evaluate/sets.py``, a test holds them apart),
so that set still measures what was kept on questions training never saw.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

from tools.data.examples import to_prompt_completion
from tools.data.knowledge import kept_right

# (question, any of these in the answer is right; none: an open request, any sensible answer will do). Twins by
# position: the English and Chinese lists ask the same things.
REPLAY_EN: list[tuple[str, tuple[str, ...]]] = [
    ("Hello!", ()),
    ("Thanks for your help.", ()),
    ("How are you today?", ()),
    ("Good night!", ()),
    ("What is the capital of Italy?", ("Rome",)),
    ("How many minutes are in an hour?", ("60", "sixty")),
    ("What is 7 plus 8?", ("15", "fifteen")),
    ("Name three colors of the rainbow.", ("red", "orange", "yellow")),
    ("What animal is known as the king of the jungle?", ("lion",)),
    ("Write a short sentence about the sea.", ()),
    ("Translate 'good morning' into Spanish.", ("buenos",)),
    ("What is 12 divided by 4?", ("3", "three")),
    ("Which is bigger, an elephant or a mouse?", ("elephant",)),
    ("Give me a synonym for 'happy'.", ("glad", "joyful", "cheerful")),
    ("What do plants need to grow?", ("water", "light", "sun")),
    ("How many sides does a triangle have?", ("3", "three")),
    ("Summarize in one sentence why sleep is important.", ()),
    ("List two fruits that are red.", ("apple", "strawberr", "cherr")),
    ("Give me a tip for staying focused.", ()),
    ("What is a noun?", ("person", "place", "thing")),
    ("Suggest a name for a pet cat.", ()),
    ("Explain what a computer is in one sentence.", ()),
    ("What should I eat for breakfast?", ()),
    ("Write a haiku about autumn.", ()),
]
REPLAY_ZH: list[tuple[str, tuple[str, ...]]] = [
    ("你好！", ()),
    ("谢谢你的帮助。", ()),
    ("你今天过得怎么样？", ()),
    ("晚安！", ()),
    ("意大利的首都是哪里？", ("罗马", "Rome")),
    ("一小时有多少分钟？", ("60", "六十", "sixty")),
    ("7加8等于多少？", ("15", "十五", "fifteen")),
    ("请说出彩虹里的三种颜色。", ("红", "橙", "黄", "red", "orange", "yellow")),
    ("哪种动物被称为丛林之王？", ("狮", "lion")),
    ("请用一句话描述大海。", ()),
    ("把“早上好”翻译成西班牙语。", ("buenos",)),
    ("12除以4等于几？", ("3", "三", "three")),
    ("大象和老鼠哪个更大？", ("大象", "elephant")),
    ("“快乐”的近义词是什么？", ("高兴", "开心", "愉快", "glad", "joyful", "cheerful")),
    ("植物生长需要什么？", ("水", "阳光", "光", "water", "light", "sun")),
    ("三角形有几条边？", ("3", "三", "three")),
    ("用一句话说明睡眠为什么重要。", ()),
    ("请列举两种红色的水果。", ("苹果", "草莓", "樱桃", "apple", "strawberr", "cherr")),
    ("给我一个保持专注的建议。", ()),
    ("什么是名词？", ("人", "地", "事物", "person", "place", "thing")),
    ("给一只宠物猫起个名字。", ()),
    ("用一句话解释什么是电脑。", ()),
    ("早餐吃什么比较好？", ()),
    ("写一首关于秋天的俳句。", ()),
]
MAX_NEW_TOKENS = 48
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$|[\"'”’）)])|[。！？]")


def replay_prompts(count: int, system_prompt: str | None) -> list[dict[str, Any]]:
    """Up to ``count`` replay questions, alternating English and Chinese, as chat prompts with the run's
    system prompt."""
    mixed = [q for pair in zip(REPLAY_EN, REPLAY_ZH, strict=True) for q, _ in pair][:count]
    return [
        row
        for q in mixed
        for row in to_prompt_completion(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "-"}]},
            system_prompt,
        )
    ]


def degenerate(answer: str, question: str) -> bool:
    """An answer not worth keeping: empty, the question echoed back, or a loop of repeated text (what a small
    base model gives to questions in a language it barely knows; training on it would teach the loop)."""
    text, asked = answer.strip(), question.strip()
    if len(text) < 2 or text == asked or (len(asked) >= 8 and asked in text):
        return True
    raw = text.encode("utf-8")
    return len(raw) > 60 and len(zlib.compress(raw)) / len(raw) < 0.45


def whole_sentences(answer: str, cut_off: bool) -> str:
    """The answer, or when generation stopped at the token limit, its complete sentences only ("" when
    there is none): a cut-off answer would teach the model to stop mid-sentence."""
    text = answer.strip()
    if not cut_off:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[-1]].strip() if ends else ""


def replay_examples(
    rows: Sequence[dict[str, Any]], answers: Sequence[str], cut_off: Sequence[bool]
) -> list[dict[str, Any]]:
    """The base model's answers as training examples: only those worth keeping, a wrong fact is never
    replayed (training on it at a knowledge run's learning rate spreads it: measured, "What is the capital of
    France?" took the base's wrong answer for Italy). A degenerate or wrong answer to a Chinese question is
    replaced by the base's answer to its English twin when that one is right (a small English model loops on
    "意大利的首都是哪里？" and answers "What is the capital of Italy?"; it often answers Chinese in English
    anyway), else left out."""
    keys = dict(REPLAY_EN + REPLAY_ZH)
    twin = {zh: en for (en, _), (zh, _) in zip(REPLAY_EN, REPLAY_ZH, strict=True)}
    good: dict[str, str] = {}
    for row, answer, cut in zip(rows, answers, cut_off, strict=True):
        question = row["prompt"][-1]["content"]
        kept = whole_sentences(answer, cut)
        if (
            kept
            and not degenerate(kept, question)
            and (not keys.get(question) or kept_right(kept, keys[question]))
        ):
            good[question] = kept
    out = []
    for row in rows:
        asked: str = row["prompt"][-1]["content"]
        reply = good.get(asked) or good.get(twin.get(asked, ""))
        if reply:
            out.append({"prompt": row["prompt"], "completion": [{"role": "assistant", "content": reply}]})
    return out
