"""Optional pairwise LLM judge for the before/after table: base vs tuned, win/tie/loss.

Used only when an OpenAI-compatible chat model is configured through
``TUNEPILOT_LLM_BASE_URL``, ``TUNEPILOT_LLM_API_KEY`` and ``TUNEPILOT_LLM_MODEL``.
For each sample the two answers are shown as A and B in an order drawn from a
RNG seeded with ``(seed, sample id)``, so about half the time the tuned answer
is A (against position bias) and a rerun asks the same questions. The reply is
parsed for ``A``/``B``/``tie`` (``[[A]]``, ``Verdict: B``, ``平局`` ...) and mapped
back to a verdict for the tuned model. The prompt is ``prompts/judge.md``.
"""

from __future__ import annotations

import logging
import os
import random
import re
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import ResourceError
from tools.core.prompts import render_prompt
from tools.core.secrets import redact

log = logging.getLogger(__name__)

Choice = Literal["A", "B", "tie"]
Verdict = Literal["win", "tie", "loss", "invalid", "error"]

ENV_BASE_URL = "TUNEPILOT_LLM_BASE_URL"
ENV_API_KEY = "TUNEPILOT_LLM_API_KEY"
ENV_MODEL = "TUNEPILOT_LLM_MODEL"


class JudgeConfig(BaseModel):
    """Where the judge model is and how to call it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    api_key: str
    model: str
    seed: int = 0
    timeout_s: float = 120.0
    max_workers: int = Field(default=4, ge=1, le=64)
    max_tokens: int | None = None


def judge_config_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> JudgeConfig | None:
    """A config from the ``TUNEPILOT_LLM_*`` variables, or ``None`` when base URL or model is unset."""
    env = os.environ if env is None else env
    base_url, model = env.get(ENV_BASE_URL, "").strip(), env.get(ENV_MODEL, "").strip()
    if not base_url or not model:
        return None
    api_key = env.get(ENV_API_KEY, "").strip() or "EMPTY"  # vLLM without --api-key accepts any key
    return JudgeConfig(base_url=base_url, api_key=api_key, model=model, **overrides)


class JudgeSample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str
    reference: str
    base_output: str
    tuned_output: str


class JudgeItem(BaseModel):
    """The judge's answer for one sample."""

    model_config = ConfigDict(extra="forbid")

    id: str
    tuned_position: Literal["A", "B"]
    choice: Choice | None
    verdict: Verdict
    raw: str = ""
    error: str | None = None


class JudgeResult(BaseModel):
    """Per-sample verdicts for the tuned model and their counts."""

    model_config = ConfigDict(extra="forbid")

    model: str
    seed: int
    items: list[JudgeItem]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for it in self.items if it.verdict == verdict)

    @property
    def win(self) -> int:
        return self.count("win")

    @property
    def tie(self) -> int:
        return self.count("tie")

    @property
    def loss(self) -> int:
        return self.count("loss")

    @property
    def judged(self) -> int:
        return self.win + self.tie + self.loss


def tuned_position(sample_id: str, seed: int = 0) -> Literal["A", "B"]:
    """Where the tuned answer is shown for this sample: fixed by (seed, id), ~50/50 over samples."""
    return "A" if random.Random(f"{seed}:{sample_id}").random() < 0.5 else "B"


def judge_prompt_vars(prompt: str, reference: str, answer_a: str, answer_b: str) -> dict[str, str]:
    """The variables ``prompts/judge.md`` is rendered with."""
    return {"prompt": prompt, "reference": reference, "answer_a": answer_a, "answer_b": answer_b}


_AB = r"(A|B|tie|tied|draw|equal)"
_BRACKET_RE = re.compile(r"\[\[\s*" + _AB + r"\s*\]\]", re.IGNORECASE)
_LABELLED_RE = re.compile(
    r"(?:final\s+verdict|verdict|winner|better\s+answer|final\s+answer|decision|judg(?:e)?ment|"
    r"结论|判定|裁决|最终答案|更好的(?:回答|答案)(?:是)?)"
    r"\s*(?:is|:|：|为|是)?\s*[*_`\[\]\"'“”(（]*\s*(?:answer\s+|response\s+|回答\s*|答案\s*)?"
    + _AB
    + r"(?![A-Za-z])",
    re.IGNORECASE,
)
_BETTER_RE = re.compile(
    r"(?<![A-Za-z])(?:answer|response|回答|答案)?\s*(A|B)\s*(?:is\s+(?:clearly\s+|much\s+|slightly\s+)?better|更好|更佳|胜出|获胜)",
    re.IGNORECASE,
)
_TIE_RE = re.compile(
    r"(平局|平手|打平|不相上下|一样好|同样好|一样差|equally\s+(?:good|bad)|\btie\b)", re.IGNORECASE
)
_BARE_RE = re.compile(r"^(?:option\s+|answer\s+|回答\s*|答案\s*)?" + _AB + r"$", re.IGNORECASE)


def _choice(token: str) -> Choice:
    t = token.strip().casefold()
    return "A" if t == "a" else "B" if t == "b" else "tie"


def parse_verdict(text: str | None) -> Choice | None:
    """``A``, ``B`` or ``tie`` from a judge reply; ``None`` when it cannot be read unambiguously."""
    t = unicodedata.normalize("NFKC", text or "")
    t = re.sub(r"<think>.*?(?:</think>|$)", "", t, flags=re.DOTALL | re.IGNORECASE)
    found = _BRACKET_RE.findall(t)
    if found:
        return _choice(found[-1])
    lines = [ln for ln in t.splitlines() if ln.strip()]
    if lines:
        last = re.sub(r"[*_`#>\"'“”.。!！\[\]()（）\s]+", " ", lines[-1]).strip()
        last = re.sub(r"^(?:final\s+)?(?:verdict|answer|winner|结论|判定)\s*[:：]?\s*", "", last, flags=re.I)
        m = _BARE_RE.match(last.strip())
        if m:
            return _choice(m.group(1))
    found = _LABELLED_RE.findall(t)
    if found:
        return _choice(found[-1])
    better = {_choice(x) for x in _BETTER_RE.findall(t)}
    if len(better) == 1:
        return better.pop()
    if not better and _TIE_RE.search(t):
        return "tie"
    return None


def _verdict(choice: Choice | None, position: Literal["A", "B"]) -> Verdict:
    if choice is None:
        return "invalid"
    if choice == "tie":
        return "tie"
    return "win" if choice == position else "loss"


def _make_client(config: JudgeConfig) -> Any:
    from openai import OpenAI  # imported here: nothing heavy at import time

    return OpenAI(base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_s, max_retries=1)


def _judge_one(client: Any, config: JudgeConfig, sample: JudgeSample) -> JudgeItem:
    position = tuned_position(sample.id, config.seed)
    a, b = (
        (sample.tuned_output, sample.base_output)
        if position == "A"
        else (sample.base_output, sample.tuned_output)
    )
    text = render_prompt("judge", **judge_prompt_vars(sample.prompt, sample.reference, a, b))
    kwargs: dict[str, Any] = {"model": config.model, "messages": [{"role": "user", "content": text}]}
    kwargs["temperature"] = 0.0
    if config.max_tokens is not None:
        kwargs["max_tokens"] = config.max_tokens
    try:
        response = client.chat.completions.create(**kwargs)
        raw = response.choices[0].message.content or ""
    except Exception as exc:  # one failed request must not sink the other samples
        log.warning("judge request for sample %s failed: %s", sample.id, exc)
        return JudgeItem(id=sample.id, tuned_position=position, choice=None, verdict="error", error=redact(str(exc)))
    choice = parse_verdict(raw)
    if choice is None:
        log.warning("judge reply for sample %s not understood: %.200r", sample.id, raw)
    return JudgeItem(
        id=sample.id, tuned_position=position, choice=choice, verdict=_verdict(choice, position), raw=raw
    )


def judge_pairwise(
    samples: Sequence[JudgeSample], config: JudgeConfig | None = None, *, client: Any = None
) -> JudgeResult | None:
    """Ask the configured judge model which answer is better for each sample.

    Returns ``None`` when no judge is configured (``config`` is None and the
    ``TUNEPILOT_LLM_*`` variables are unset). Raises :class:`ResourceError`
    when every request failed (server unreachable, wrong key or model name).
    """
    config = config or judge_config_from_env()
    if config is None:
        return None
    if not samples:
        return JudgeResult(model=config.model, seed=config.seed, items=[])
    client = client or _make_client(config)
    workers = min(config.max_workers, len(samples))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        items = list(pool.map(lambda s: _judge_one(client, config, s), samples))
    if all(it.verdict == "error" for it in items):
        raise ResourceError(
            f"the judge model failed on every sample ({items[0].error})",
            where=config.base_url,
            hint=f"Check {ENV_BASE_URL}, {ENV_API_KEY} and {ENV_MODEL}, or unset them to skip the judge",
        )
    return JudgeResult(model=config.model, seed=config.seed, items=items)
