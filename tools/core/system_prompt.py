"""The run's system prompt, written from the style and constraints said in the goal.

"回答要简短" or "answer in under 50 words, formal" become one system prompt in the goal's language.
The prompt is saved in the plan and in ``config.yaml``; training puts it before every example, the
evaluation asks with it and the deployment's chat sends it, so the model is trained, measured and
served under the same words. :func:`length_limit` and :func:`within_limit` let the table report how
well answers keep a length the person named.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from tools.core.cjk import HAN
from tools.core.messages import has, say

# style phrases (the goal parser's vocabulary, agent/words/style.py) → a sentence of the system prompt: ``style.<key>`` in the catalogs
_PHRASES: dict[str, str] = {
    "concise": "concise",
    "detailed": "detailed",
    "always give code in Markdown": "always_give_code_in_markdown",
    "use Markdown": "use_markdown",
    "formal": "formal",
    "professional": "professional",
    "friendly": "friendly",
    "casual": "casual",
    "polite": "polite",
    "humorous": "humorous",
    "answer in Chinese": "answer_in_chinese",
    "answer in English": "answer_in_english",
    "use bullet points": "use_bullet_points",
    "step by step": "step_by_step",
    "cite sources": "cite_sources",
    "say so when unsure": "say_so_when_unsure",
    "no emoji": "no_emoji",
}
_LIMIT = re.compile(r"^at most (\d+) (words|characters|sentences|lines)$")


class LengthLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int
    unit: str  # words | characters | sentences | lines

    def words(self, lang: str = "en") -> str:
        unit = say(f"style.unit_{self.unit}", lang) if has(f"style.unit_{self.unit}") else self.unit
        return say("style.at_most", lang, n=self.n, unit=unit)


def length_limit(style: list[str]) -> LengthLimit | None:
    for phrase in style:
        m = _LIMIT.match(phrase)
        if m:
            return LengthLimit(n=int(m.group(1)), unit=m.group(2))
    return None


def system_prompt_from_style(style: list[str], lang: str = "en", explicit: str | None = None) -> str | None:
    """The system prompt for these style phrases, in the goal's language; ``explicit`` wins when given."""
    if explicit and explicit.strip():
        return explicit.strip()
    parts = [say(f"style.{_PHRASES[s]}", lang) for s in style if s in _PHRASES]
    limit = length_limit(style)
    if limit:
        parts.append(say("style.answer_within", lang, limit=limit.words(lang)))
    if not parts:
        return None
    return say("style.join", lang).join([say("style.lead", lang), *parts])


def measure(text: str, unit: str) -> int:
    """Length of ``text`` in ``unit``; a Chinese character counts as a word and as a character."""
    if unit == "characters":
        return len(re.sub(r"\s+", "", text))
    if unit == "lines":
        return len([ln for ln in text.splitlines() if ln.strip()])
    if unit == "sentences":
        return len([s for s in re.split(r"[.!?。！？]+", text) if s.strip()])
    return len(re.findall(f"[{HAN}]|[A-Za-z0-9']+", text))


def within_limit(text: str, limit: LengthLimit) -> bool:
    return measure(text, limit.unit) <= limit.n
