"""The optional LLM: an OpenAI-compatible endpoint from the environment, used for understanding.

``TUNEPILOT_LLM_BASE_URL``, ``TUNEPILOT_LLM_API_KEY``, ``TUNEPILOT_LLM_MODEL``. When it
fails or answers nonsense, the deterministic parser takes over and the person is told.
"""

from __future__ import annotations

import json
import logging
import os
import re

from agent.goal import Goal
from agent.intent import parse_message
from tools.core.messages import say
from tools.core.prompts import render_prompt
from tools.core.secrets import redact

log = logging.getLogger(__name__)


def llm_configured() -> bool:
    return bool(os.environ.get("TUNEPILOT_LLM_BASE_URL") and os.environ.get("TUNEPILOT_LLM_MODEL"))


def _extract_json(text: str) -> dict | None:
    m = re.search(r"\{.*\}", text or "", re.S)
    if not m:
        return None
    try:
        obj = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def parse_with_llm(text: str, *, has_files: bool = False) -> tuple[Goal | None, str | None]:
    """(goal, notice). goal is None when the LLM failed; the notice then says the parser took over."""
    from openai import OpenAI

    fallback = parse_message(text, has_files=has_files)
    lang = fallback.language if fallback.language in ("zh", "en") else "en"
    try:
        client = OpenAI(base_url=os.environ["TUNEPILOT_LLM_BASE_URL"],
                        api_key=os.environ.get("TUNEPILOT_LLM_API_KEY") or "EMPTY", timeout=30, max_retries=0)
        schema = json.dumps(Goal.model_json_schema(), ensure_ascii=False)
        resp = client.chat.completions.create(
            model=os.environ["TUNEPILOT_LLM_MODEL"],
            messages=[
                {"role": "system", "content": render_prompt("system")},
                {"role": "user", "content": render_prompt("goal_extraction", message=text, schema=schema,
                                                          has_files=has_files)},
            ],
            temperature=0,
        )
        data = _extract_json(resp.choices[0].message.content or "")
        if data is None:
            raise ValueError("no JSON object in the answer")
        data.setdefault("language", fallback.language)
        goal = Goal.model_validate(data)
        if not goal.intents:
            raise ValueError("no intent")
        return goal, None
    except Exception as exc:  # noqa: BLE001 - any failure: the parser takes over, the person is told

        log.info("LLM understanding failed: %s", redact(str(exc)))
        return fallback, say("agent.llm_fallback", lang)
