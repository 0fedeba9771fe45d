"""The reading prompt: a question with its passages, as training and every answer with documents put it."""

from __future__ import annotations

from collections.abc import Sequence

from tools.core.messages import say
from tools.core.prompts import render_prompt
from tools.data.paraphrase import is_chinese
from tools.data.read.passages import Passage


def lang_of(question: str) -> str:
    return "zh" if is_chinese(question) else "en"


def decline_words(lang: str) -> str:
    """What the model learns to say when its passages do not hold the answer."""
    return say("read.not_in_documents", lang)


def reading_turn(question: str, passages: Sequence[Passage]) -> str:
    """The user turn: the passages, numbered, then the question (in the question's language)."""
    lang = lang_of(question)
    return render_prompt("reading", zh=lang == "zh", passages=[p.shown() for p in passages],
                         decline=decline_words(lang), question=question.strip()).strip()


def reading_messages(question: str, passages: Sequence[Passage], system: str | None = None) -> list[dict[str, str]]:
    """The whole prompt: the run's system prompt (when it has one) and the reading turn."""
    sys_msg = [{"role": "system", "content": system}] if system else []
    return [*sys_msg, {"role": "user", "content": reading_turn(question, passages)}]
