"""``ask``: a file of questions answered by a run's merged model in-process (no server), each with its sources.

For scripts and checks: ``tunepilot ask --run RUN --questions FILE --out answers.jsonl [--closed-book] [--base]``.
With documents (the default for a run that has passages) each question is answered the way the product answers
everywhere (:mod:`tools.data.read.answer`): the passages found for it, the model, the guard.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.jsonio import write_jsonl
from tools.core.messages import say
from tools.data.read.answer import READ_K, GroundedAnswer, finish, prepare
from tools.data.read.index import PassageIndex
from tools.data.read.passages import load_passages
from tools.serve import chat as serve_chat
from tools.train.generate import generate_greedy
from tools.train.record import run_settings


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    questions: Path
    out: Path
    closed_book: bool = False
    base: bool = Field(default=False, description="the base model instead of the tuned one")
    k: int | None = Field(default=None, ge=1, le=8, description="passages per question (default: the run's plan)")
    max_new_tokens: int = Field(default=96, ge=1, le=1024)
    lang: str = "en"


class AskResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path
    answers: list[GroundedAnswer]
    model: str
    seconds: float

    def summary(self, lang: str = "en") -> str:
        closed = all(a.mode == "closed_book" for a in self.answers)
        return say("read.asked", lang, n=len(self.answers), out=str(self.out), model=self.model,
                   mode=say("read.mode_closed" if closed else "read.mode_documents", lang),
                   declined=sum(a.mode == "declined" for a in self.answers),
                   fired=sum(a.guard_fired for a in self.answers))


def read_questions(path: Path) -> list[str]:
    """One question a line, or JSON lines with a ``question`` field (a file of the evaluation's questions)."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the questions: {exc}", where=str(path)) from exc
    out: list[str] = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise InputError(f"invalid JSON on this line ({exc})", where=f"{path}:{n}",
                                 hint=say("read.questions_hint")) from exc
            q = rec.get("question") if isinstance(rec, dict) else None
            if not isinstance(q, str) or not q.strip():
                raise InputError("this line has no \"question\" text", where=f"{path}:{n}", hint=say("read.questions_hint"))
            out.append(q.strip())
        else:
            out.append(line)
    if not out:
        raise InputError(say("read.no_questions", path=str(path)), where=str(path), hint=say("read.questions_hint"))
    return out


def run_reading(run_dir: Path) -> tuple[PassageIndex | None, str | None, int, Any]:
    """The run's passage index (None without passages), system prompt, passages a question and settings."""
    settings = run_settings(run_dir)
    data_dir = Path(settings.data_dir) if settings is not None else run_dir / "data"
    index = PassageIndex.load(data_dir) if load_passages(data_dir) else None
    # at least READ_K: finding the passage matters more than matching the trained k (on a CPU the plan may train
    # with one passage to keep examples short; the right one was in the top 2 far more often than in the top 1)
    k = max(READ_K, settings.reading_k if settings is not None else 0)
    return index, settings.system_prompt if settings is not None else None, k, settings


def model_folder(run_dir: Path, base: bool, settings: Any) -> Path:
    merged = run_dir / "merged"
    if base:
        if settings is None:
            raise InputError("this run was not trained: no config.yaml names its base model", where=str(run_dir))
        return Path(settings.model)
    if not (merged / "config.json").exists():
        raise InputError(say("read.no_model", path=str(merged)), where=str(run_dir),
                         hint=say("read.no_model_hint", run=str(run_dir)))
    return merged


def local_generate(folder: Path, prompts: Sequence[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
    """Greedy answers of the model in ``folder`` (loaded here, in this process) to chat prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    return generate_greedy(model, tok, list(prompts), max_new_tokens=max_new_tokens, batch=8)


def ask_questions(req: AskRequest) -> AskResult:
    t0 = time.perf_counter()
    run_dir = Path(req.run_dir)
    questions = read_questions(req.questions)
    index, system, k, settings = run_reading(run_dir)
    folder = model_folder(run_dir, req.base, settings)
    prepared = [prepare(q, index, system, req.k or k, closed_book=req.closed_book) for q in questions]
    raw = local_generate(folder, [p.messages for p in prepared], req.max_new_tokens)
    covered = index.passages if index is not None else []
    answers = [finish(p, r, covered) for p, r in zip(prepared, raw, strict=True)]
    write_jsonl(Path(req.out), (a.model_dump(mode="json") for a in answers))
    return AskResult(out=Path(req.out), answers=answers, model="base" if req.base else "tuned",
                     seconds=round(time.perf_counter() - t0, 2))


def answer_deployed(dep: Any, run_dir: Path, which: str, question: str, *, system: str | None = None,
                    closed_book: bool = False, max_tokens: int = 256) -> GroundedAnswer:
    """``which`` (base or tuned) on the run's server answers ``question`` with the passages found for it when
    the run has documents (alone when it has none, or ``closed_book``); the deployment adds the run's system
    prompt unless ``system`` is given."""
    index, _, k, _ = run_reading(run_dir)
    prep = prepare(question, index, None, k, closed_book=closed_book)
    messages = ([{"role": "system", "content": system}] if system else []) + prep.messages
    raw = serve_chat.complete(dep, which, messages, max_tokens=max_tokens)
    return finish(prep, raw, index.passages if index is not None else [])
