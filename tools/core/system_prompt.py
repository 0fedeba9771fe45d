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

# style phrases (agent.intent's vocabulary) → a sentence of the system prompt, English and Chinese
_SENTENCES: dict[str, tuple[str, str]] = {
    "concise": ("Keep answers short and to the point.", "回答要简短，直接给出要点。"),
    "detailed": ("Give detailed, thorough answers.", "回答要详细、完整。"),
    "always give code in Markdown": ("Always put code in Markdown code blocks.", "代码一律放在 Markdown 代码块里。"),
    "use Markdown": ("Format answers in Markdown.", "用 Markdown 排版回答。"),
    "formal": ("Use a formal tone.", "使用正式的书面语。"),
    "professional": ("Answer in a professional tone.", "语气要专业。"),
    "friendly": ("Be friendly and warm.", "语气友好亲切。"),
    "casual": ("Use a casual, conversational tone.", "语气轻松口语化。"),
    "polite": ("Be polite.", "要有礼貌。"),
    "humorous": ("Add a light touch of humour.", "适当幽默一点。"),
    "answer in Chinese": ("Answer in Chinese.", "用中文回答。"),
    "answer in English": ("Answer in English.", "用英文回答。"),
    "use bullet points": ("Use bullet points.", "分点回答。"),
    "step by step": ("Explain step by step.", "一步一步地说明。"),
    "cite sources": ("Say where the answer comes from.", "注明答案的出处。"),
    "say so when unsure": ("If you do not know, say so instead of guessing.", "不知道就说不知道，不要编造。"),
    "no emoji": ("Do not use emoji.", "不要使用表情符号。"),
}
_UNITS_ZH = {"words": "个词", "characters": "个字", "sentences": "句话", "lines": "行"}
_LIMIT = re.compile(r"^at most (\d+) (words|characters|sentences|lines)$")


class LengthLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int
    unit: str  # words | characters | sentences | lines

    def words(self, lang: str = "en") -> str:
        if lang.startswith("zh"):
            return f"不超过 {self.n} {_UNITS_ZH.get(self.unit, self.unit)}"
        return f"at most {self.n} {self.unit}"


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
    zh = lang.startswith("zh")
    parts = [_SENTENCES[s][1 if zh else 0] for s in style if s in _SENTENCES]
    limit = length_limit(style)
    if limit:
        parts.append(f"每次回答{limit.words('zh')}。" if zh else f"Answer in {limit.words('en')}.")
    if not parts:
        return None
    lead = "你是一个乐于助人的助手。" if zh else "You are a helpful assistant."
    return lead + ("" if zh else " ") + ("" if zh else " ").join(parts)


def measure(text: str, unit: str) -> int:
    """Length of ``text`` in ``unit``; a Chinese character counts as a word and as a character."""
    if unit == "characters":
        return len(re.sub(r"\s+", "", text))
    if unit == "lines":
        return len([ln for ln in text.splitlines() if ln.strip()])
    if unit == "sentences":
        return len([s for s in re.split(r"[.!?。！？]+", text) if s.strip()])
    return len(re.findall(r"[\u3400-\u9fff]|[A-Za-z0-9']+", text))


def within_limit(text: str, limit: LengthLimit) -> bool:
    return measure(text, limit.unit) <= limit.n
