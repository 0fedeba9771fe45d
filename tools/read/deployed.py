"""One question to a deployed run, answered as the product answers (the CLI's chat, the agent): read, checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.read.answer import GroundedAnswer, finish, prepare
from tools.read.ask import run_reading


def answer_deployed(dep: Any, run_dir: Path, which: str, question: str, *, system: str | None = None,
                    closed_book: bool = False, max_tokens: int = 256) -> GroundedAnswer:
    """``which`` (base or tuned) on the run's server answers ``question`` with the passages found for it when
    the run has documents (alone when it has none, or ``closed_book``); the deployment adds the run's system
    prompt unless ``system`` is given."""
    from tools.serve.chat import complete

    index, _, k, _ = run_reading(run_dir)
    prep = prepare(question, index, None, k, closed_book=closed_book)
    messages = ([{"role": "system", "content": system}] if system else []) + prep.messages
    raw = complete(dep, which, messages, max_tokens=max_tokens)
    return finish(prep, raw, index.passages if index is not None else [])
