"""Optional: an OpenAI-compatible LLM writes question/answer pairs for each document chunk.

Configured from the environment (``TUNEPILOT_LLM_BASE_URL``, ``TUNEPILOT_LLM_API_KEY``,
``TUNEPILOT_LLM_MODEL``); without them nothing here runs. The prompt is ``prompts/qa_generation.md``
(Jinja, StrictUndefined). Document text is passed as data between markers; the model's reply is parsed
as JSON and anything that is not a question/answer pair is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from tools.core.paths import REPO_ROOT
from tools.core.secrets import redact
from tools.data.document import FileLog, Record, pair

log = logging.getLogger(__name__)

PROMPT_PATH = REPO_ROOT / "prompts" / "qa_generation.md"
LANGUAGE_NAMES = {"zh": "Chinese (简体中文)", "en": "English"}


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


def parse_pairs(content: str) -> list[tuple[str, str]]:
    """Pull ``[(question, answer)]`` out of a model reply; tolerant of code fences and chatter."""
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
    if isinstance(data, dict):
        data = data.get("pairs", data.get("qa", []))
    if not isinstance(data, list):
        raise ValueError("the reply is not JSON with a \"pairs\" list")
    out = []
    for item in data:
        if isinstance(item, dict):
            q, a = item.get("question", item.get("q")), item.get("answer", item.get("a"))
            if isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip():
                out.append((q.strip(), a.strip()))
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
            pairs = parse_pairs(reply.choices[0].message.content or "")
            failures_in_a_row = 0
        except Exception as exc:  # noqa: BLE001 - network, server or format problems are reported per chunk
            failures_in_a_row += 1
            if flog:
                flog.error("data.llm_failed", where=where, detail=f"{type(exc).__name__}: {redact(str(exc))[:200]}",
                           base_url=settings.base_url)
            continue
        for q, a in pairs[:n_pairs]:
            m = dict(chunk.meta)
            m["method"] = "llm"
            m["llm"] = settings.model
            out.append(pair(q, a, m))
    return out
