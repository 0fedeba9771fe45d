"""Optional: an OpenAI-compatible LLM writes question/answer pairs for each document chunk.

Configured from the environment (``TUNEPILOT_LLM_BASE_URL``, ``TUNEPILOT_LLM_API_KEY``,
``TUNEPILOT_LLM_MODEL``); without them nothing here runs. The prompt is ``prompts/qa_generation.md``
(Jinja, StrictUndefined). Document text is passed as data between markers; the model's reply is parsed
as JSON and validated item by item against :class:`QAReply` (an item that is not a question/answer pair is
dropped and counted). An answer the chunk does not support (a number, code or name in it that the chunk does
not hold; or, without such facts, fewer than 60% of its words in the chunk) is dropped and counted: a model
that invents a fact would teach it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.core.key_facts import key_fact_recall_detail
from tools.core.metric_text import tokenize
from tools.core.paths import REPO_ROOT
from tools.core.secrets import redact
from tools.data.document import FileLog, Record, pair

log = logging.getLogger(__name__)

PROMPT_PATH = REPO_ROOT / "prompts" / "qa_generation.md"
LANGUAGE_NAMES = {"zh": "Chinese (简体中文)", "en": "English"}
DROP_UNSUPPORTED = "LLM answer not supported by the document"
DROP_NOT_A_PAIR = "LLM item not a question/answer pair"


class QAPair(BaseModel):
    """One item of the LLM's reply."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=3)
    answer: str = Field(min_length=1)


class QAReply(BaseModel):
    """The reply ``prompts/qa_generation.md`` asks for: ``{"pairs": [{"question": ..., "answer": ...}]}``."""

    model_config = ConfigDict(extra="ignore")

    pairs: list[dict[str, Any]]


def supported(answer: str, text: str) -> bool:
    """True when ``text`` holds what ``answer`` says: every key fact of the answer (numbers, codes, names), or,
    for an answer without such facts, at least 60% of its words."""
    detail = key_fact_recall_detail(text, answer)
    if detail.recall is not None:
        return detail.recall >= 1.0
    words = tokenize(answer)
    have = set(tokenize(text))
    return bool(words) and sum(w in have for w in words) / len(words) >= 0.6


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    api_key: str
    model: str


@dataclass
class Chunk:
    text: str
    lang: str
    meta: dict[str, Any]


def llm_settings() -> LLMSettings | None:
    base = os.environ.get("TUNEPILOT_LLM_BASE_URL", "").strip()
    model = os.environ.get("TUNEPILOT_LLM_MODEL", "").strip()
    if not base or not model:
        return None
    return LLMSettings(base, os.environ.get("TUNEPILOT_LLM_API_KEY", "").strip() or "EMPTY", model)


def render_prompt(**values: Any) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(PROMPT_PATH.read_text(encoding="utf-8")).render(**values)


def parse_pairs(content: str, rejected: list[str] | None = None) -> list[tuple[str, str]]:
    """Pull ``[(question, answer)]`` out of a model reply; tolerant of code fences and chatter. Items that are
    not a question/answer pair go to ``rejected``."""
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    data: Any = None
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if start >= 0 and end > start:
            try:
                data = json.loads(text[start: end + 1])
                break
            except json.JSONDecodeError:
                continue
    if isinstance(data, list):
        data = {"pairs": data}
    if isinstance(data, dict) and "pairs" not in data and isinstance(data.get("qa"), list):
        data = {"pairs": data["qa"]}
    try:
        reply = QAReply.model_validate(data)
    except ValidationError:
        raise ValueError("the reply is not JSON with a \"pairs\" list") from None
    out = []
    for item in reply.pairs:
        item = {"question": item.get("question", item.get("q")), "answer": item.get("answer", item.get("a"))}
        try:
            qa = QAPair.model_validate(item)
        except ValidationError:
            if rejected is not None:
                rejected.append(str(item)[:200])
            continue
        if qa.question.strip() and qa.answer.strip():
            out.append((qa.question.strip(), qa.answer.strip()))
        elif rejected is not None:
            rejected.append(str(item)[:200])
    return out


def generate(chunks: list[Chunk], settings: LLMSettings, n_pairs: int, logs: dict[str, FileLog]) -> list[Record]:
    """Ask the LLM for pairs per chunk; failures are reported on the chunk's file and skipped."""
    from openai import OpenAI

    client = OpenAI(base_url=settings.base_url, api_key=settings.api_key, timeout=120.0, max_retries=1)
    out: list[Record] = []
    failures_in_a_row = 0
    for chunk in chunks:
        source = str(chunk.meta.get("source", ""))
        flog = logs.get(source)
        where = source + (f" page {chunk.meta['page']}" if "page" in chunk.meta else "")
        if failures_in_a_row >= 3:
            if flog:
                flog.note("LLM Q/A generation stopped after 3 failures in a row")
            continue
        prompt = render_prompt(
            source=source, section=chunk.meta.get("section", ""), text=chunk.text, n_pairs=n_pairs,
            language_name=LANGUAGE_NAMES.get(chunk.lang, "the language of the excerpt"),
        )
        try:
            reply = client.chat.completions.create(
                model=settings.model, messages=[{"role": "user", "content": prompt}], temperature=0.0,
            )
            rejected: list[str] = []
            pairs = parse_pairs(reply.choices[0].message.content or "", rejected)
            failures_in_a_row = 0
        except Exception as exc:  # noqa: BLE001 - network, server or format problems are reported per chunk
            failures_in_a_row += 1
            if flog:
                flog.error("data.llm_failed", where=where, detail=f"{type(exc).__name__}: {redact(str(exc))[:200]}",
                           base_url=settings.base_url)
            continue
        if rejected and flog:
            flog.drop(DROP_NOT_A_PAIR, len(rejected))
        for q, a in pairs[:n_pairs]:
            if not supported(a, chunk.text):
                if flog:
                    flog.drop(DROP_UNSUPPORTED)
                continue
            m = dict(chunk.meta)
            m["method"] = "llm"
            m["llm"] = settings.model
            out.append(pair(q, a, m))
    return out
