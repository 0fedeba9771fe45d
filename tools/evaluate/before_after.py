"""Before/after evaluation through the deployed vLLM server.

Every held-out example is answered by the base model name and by the tuned
name on the same server, greedy, with the same max tokens, requests sent
concurrently. ``eval/before.jsonl`` and ``eval/after.jsonl`` keep prompt,
reference and output; the table (Markdown, CSV, JSON) is built from those files
by :mod:`tools.evaluate.score`, so anyone can recompute it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from tools.core.errors import InputError
from tools.core.events import EventWriter
from tools.core.jsonio import write_jsonl
from tools.core.payloads import EvalStarted, Evaluated
from tools.core.system_prompt import length_limit, within_limit
from tools.data.corrections import latest_per_question, load_follow_up
from tools.data.examples import load_examples
from tools.data.knowledge import check_items, kept_right
from tools.evaluate.grounded import grounded_ask, grounded_sets
from tools.evaluate.human import HUMAN_SCORES
from tools.evaluate.judge import judge_config_from_env, judge_pairwise
from tools.evaluate.loss import eval_losses
from tools.evaluate.match import match_records
from tools.evaluate.render import render_markdown, write_tables
from tools.evaluate.score import judge_samples, load_and_score
from tools.evaluate.sets import KEPT, SetScore, learnt_check, load_questions, score_set
from tools.evaluate.table import EvalTable
from tools.serve.adapters import serve_other_run
from tools.serve.chat import complete
from tools.serve.deploy import DeployRequest, deploy_model
from tools.serve.mode import side_by_side_mode
from tools.serve.process import deployment_status
from tools.serve.record import load_deployment
from tools.train.record import run_settings

log = logging.getLogger(__name__)


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    max_samples: int | None = None
    max_tokens: int = 128
    concurrency: int = 16
    with_loss: bool = True
    judge: bool | None = None  # None: when an LLM is configured
    questions: Path | None = None  # the person's own questions with expected answers (JSONL/CSV/XLSX)
    learnt_limit: int = 100  # trained questions asked in other words, at most
    against: Path | None = None  # another run of the same base: its adapter joins this run's server, one table
    out_of_scope: Path | None = None  # questions the documents do not answer (one a line); default: general ones


class EvalResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: int
    table_md: str
    files: dict[str, str]
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    seconds: float


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The run's training settings (:func:`tools.train.record.run_settings`) as fields; empty before training."""
    settings = run_settings(run_dir)
    return settings.model_dump() if settings is not None else {}


def _eval_examples(run_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    cfg = _run_config(run_dir)
    data_dir = Path(cfg.get("data_dir") or run_dir / "data")
    path = data_dir / "eval.jsonl"
    if not path.exists() and not (data_dir / "train.jsonl").exists():
        raise InputError("no eval.jsonl for this run", where=str(data_dir),
                         hint="Convert the data with `tunepilot data` (it keeps 10% for evaluation)")
    examples = load_examples(path, cfg.get("system_prompt"))
    return examples[:limit] if limit else examples


def _learnt_items(run_dir: Path, req: EvalRequest) -> tuple[list[Any], str]:
    """The *learnt* set: the person's questions file, else trained questions in other words."""
    cfg = _run_config(run_dir)
    system = cfg.get("system_prompt")
    if req.questions is not None:
        items = load_questions(req.questions, run_dir / "eval" / "questions", system)
        return items[: req.max_samples] if req.max_samples else items, Path(req.questions).name
    data_dir = Path(cfg.get("data_dir") or run_dir / "data")
    train = load_examples(data_dir / "train.jsonl", system)
    limit = min(req.learnt_limit, req.max_samples) if req.max_samples else req.learnt_limit
    # the learning check's wordings: by a Chinese entry's held-out word when training asked by its words
    by_words = int(cfg.get("paraphrases") or 0) >= 2
    return check_items(train, limit, int(cfg.get("seed") or 0), by_words=by_words), "generated"


def _corrected_items(run_dir: Path, req: EvalRequest, system: str | None) -> list[Any]:
    """The *corrected* set of a follow-up run (the one evaluated against, or this run): the person's corrections,
    each asked once in other words (the learning check's wordings, which training never used)."""
    follow = load_follow_up(req.against.resolve() if req.against is not None else run_dir)
    if follow is None:
        return []
    sys_msg = [{"role": "system", "content": system}] if system else []
    examples = [{"prompt": [*sys_msg, {"role": "user", "content": c.question}],
                 "completion": [{"role": "assistant", "content": c.answer}]}
                for c in latest_per_question(follow.corrections)]
    return check_items(examples, len(examples), int(_run_config(run_dir).get("seed") or 0))


def _prompt_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def generate_answers(dep: Any, which: str, prompts: list[list[dict[str, str]]], max_tokens: int,
                     concurrency: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(lambda m: complete(dep, which, m, max_tokens=max_tokens, temperature=0.0), prompts))


class _Sides(NamedTuple):
    """Which two models answer, under which names, and where their table goes."""

    before: str  # a model on the server: "base", "tuned" or a hot-loaded adapter
    after: str
    before_name: str
    after_name: str
    out_dir: Path


def _sides(run_dir: Path, dep: Any, req: EvalRequest) -> _Sides:
    """Base against this run; or, with ``against``, this run against the other run, whose adapter is loaded
    into this run's running server (no restart)."""
    if req.against is None:
        return _Sides("base", "tuned", "base", "fine-tuned", run_dir / "eval")

    other = req.against.resolve()
    name = serve_other_run(dep, other)
    return _Sides("tuned", name, run_dir.name, other.name, run_dir / "eval" / f"against-{other.name}")


def _side_by_side(run_dir: Path, req: EvalRequest, events: EventWriter) -> Any:
    """The run's deployment with base and fine-tuned side by side, (re)deployed when it has not: LoRA on a GPU
    or to compare another run (its adapter joins the server), a pair of servers on a CPU."""
    st = deployment_status(run_dir)
    dep = load_deployment(run_dir) if st is not None and st.state == "running" else None
    mode = "lora" if req.against is not None else side_by_side_mode()
    if dep is None or "base" not in dep.models or (mode == "lora" and dep.mode != "lora"):
        events.emit("eval", "info", f"evaluation needs base and fine-tuned side by side: (re)deploying in {mode} mode")
        dep = deploy_model(DeployRequest(run_dir=run_dir, mode=mode, port=dep.port if dep else 8000))
    return dep


class _Questions(NamedTuple):
    """What both sides answer, in this order: held out (eval.jsonl), learnt, kept (general), corrected."""

    examples: list[dict[str, Any]]
    learnt: list[Any]
    learnt_source: str
    kept: Sequence[tuple[str, Any]]
    corrected: list[Any]
    system: str | None

    def prompts(self) -> list[list[dict[str, str]]]:
        kept_prompts = [([{"role": "system", "content": self.system}] if self.system else [])
                        + [{"role": "user", "content": q}] for q, _ in self.kept]
        return [ex["prompt"] for ex in self.examples] + [it.messages for it in self.learnt] + kept_prompts + [
            it.messages for it in self.corrected]


def evaluate_model(req: EvalRequest) -> EvalResult:
    """Base and fine-tuned (or this run and another) answer the same questions on one server; their answers are
    kept, scored by set, and the before/after table is written from them."""
    t0 = time.perf_counter()
    run_dir = req.run_dir.resolve()
    events = EventWriter(run_dir)
    examples = _eval_examples(run_dir, req.max_samples)
    learnt, learnt_source = _learnt_items(run_dir, req)
    if not examples and not learnt:
        raise InputError("this run has no questions to evaluate: eval.jsonl and train.jsonl are empty",
                         where=str(run_dir), hint="Convert the data with `tunepilot data`, or pass --questions FILE")
    dep = _side_by_side(run_dir, req, events)
    asked = _questions(run_dir, req, examples, learnt, learnt_source, events)
    sides = _sides(run_dir, dep, req)
    grounded = grounded_ask(run_dir, learnt, learnt_source, req.out_of_scope, [q for q, _ in asked.kept]) \
        if req.against is None else None
    extra = grounded.prompts() if grounded is not None else []
    before, after = _answer_both(dep, sides, asked.prompts() + extra, req, events)
    out_dir = sides.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    cut = len(before) - len(extra)
    sets = _all_sets(out_dir, asked, before[:cut], after[:cut])
    if grounded is not None:
        sets[1:1] = grounded_sets(out_dir, grounded, before[cut:], after[cut:])
        before, after = before[:cut], after[:cut]
    _write_answers(out_dir, examples, before[:len(examples)], after[:len(examples)], dep, sides)
    table = _scored_table(run_dir, req, sides, examples, events)
    table = table.model_copy(update={"sets": sets, "system_prompt": asked.system, **_length_adherence(
        run_dir, before, after)})
    return _written(table, out_dir, len(examples), events, t0)


def _questions(run_dir: Path, req: EvalRequest, examples: list[dict[str, Any]], learnt: list[Any],
               learnt_source: str, events: EventWriter) -> _Questions:
    """The held-out and learnt questions with the kept (general) ones and a follow-up's corrected ones added."""
    kept = KEPT[: req.max_samples] if req.max_samples else KEPT
    system = _run_config(run_dir).get("system_prompt")
    events.emit("eval", "start", f"evaluating {len(learnt)} learnt, {len(examples)} held-out and {len(kept)} "
                "general questions, before and after", total=len(examples),
                **EvalStarted(learnt=len(learnt), kept=len(kept)).fields())
    corrected = _corrected_items(run_dir, req, system)
    return _Questions(examples, learnt, learnt_source, kept, corrected, system)


def _answer_both(dep: Any, sides: _Sides, prompts: list[list[dict[str, str]]], req: EvalRequest,
                 events: EventWriter) -> tuple[list[str], list[str]]:
    """Every prompt answered by the before side, then by the after side."""
    before = generate_answers(dep, sides.before, prompts, req.max_tokens, req.concurrency)
    events.emit("eval", "progress", f"{sides.before_name} answered", step=1, total=2)
    after = generate_answers(dep, sides.after, prompts, req.max_tokens, req.concurrency)
    events.emit("eval", "progress", f"{sides.after_name} answered", step=2, total=2)
    return before, after


def _all_sets(out_dir: Path, asked: _Questions, before: list[str], after: list[str]) -> list[Any]:
    """The sets scored (held out, learnt, kept; corrected for a follow-up), their answers kept on disk."""
    n_corr = len(asked.corrected)
    sets = _score_sets(out_dir, asked.examples, asked.learnt, asked.learnt_source, asked.kept,
                       before[:len(before) - n_corr], after[:len(after) - n_corr], len(asked.examples),
                       len(asked.learnt))
    if asked.corrected:
        sets.append(_corrected_set(out_dir, asked.corrected, before[-n_corr:], after[-n_corr:]))
    return sets


def _write_answers(out_dir: Path, examples: list[dict[str, Any]], before_out: list[str], after_out: list[str],
                   dep: Any, sides: _Sides) -> None:
    """``before.jsonl`` and ``after.jsonl``: each held-out example's prompt, reference and answer."""
    rows_b, rows_a = [], []
    for i, (ex, b, a) in enumerate(zip(examples, before_out, after_out, strict=True)):
        common = {"id": str(i), "prompt": _prompt_text(ex["prompt"]), "messages": ex["prompt"],
                  "reference": ex["completion"][0]["content"]}
        rows_b.append({**common, "output": b, "model": dep.models.get(sides.before, sides.before)})
        rows_a.append({**common, "output": a, "model": dep.models.get(sides.after, sides.after)})
    write_jsonl(out_dir / "before.jsonl", rows_b)
    write_jsonl(out_dir / "after.jsonl", rows_a)


def _scored_table(run_dir: Path, req: EvalRequest, sides: _Sides, examples: list[dict[str, Any]],
                  events: EventWriter) -> Any:
    """The table of the held-out answers, with the eval loss and the judge when they ran (empty without
    held-out examples)."""
    out_dir = sides.out_dir
    loss_b, loss_a = _eval_loss(run_dir, req, examples, events)
    judge = _judge(out_dir, req, events)
    if not examples:
        return EvalTable(n_samples=0, rows=[], improved=[], regressed=[], base_name=sides.before_name,
                         tuned_name=sides.after_name)
    return load_and_score(
        out_dir / "before.jsonl", out_dir / "after.jsonl", human_scores_path=out_dir / HUMAN_SCORES,
        eval_loss_before=loss_b, eval_loss_after=loss_a, judge=judge,
        base_name=sides.before_name, tuned_name=sides.after_name,
    )


def _eval_loss(run_dir: Path, req: EvalRequest, examples: list[dict[str, Any]],
               events: EventWriter) -> tuple[float | None, float | None]:
    if not (req.with_loss and req.against is None):  # the loss compares a run with its base, not two runs
        return None, None
    try:
        return eval_losses(run_dir, examples)
    except Exception as exc:  # noqa: BLE001 - the table is still useful without the loss row
        events.emit("eval", "warning", f"eval loss not computed: {exc}")
        return None, None


def _judge(out_dir: Path, req: EvalRequest, events: EventWriter) -> Any:
    """The judge LLM's verdicts on the held-out answers (None: no judge configured, turned off, or it failed)."""
    cfg = judge_config_from_env()
    if cfg is None or req.judge is False:
        return None

    b_recs, a_recs = match_records(out_dir / "before.jsonl", out_dir / "after.jsonl")
    try:
        return judge_pairwise(judge_samples(b_recs, a_recs), cfg)
    except Exception as exc:  # noqa: BLE001
        events.emit("eval", "warning", f"the judge LLM failed, table without it: {exc}")
        return None


def _written(table: Any, out_dir: Path, samples: int, events: EventWriter, t0: float) -> EvalResult:
    """The table written (Markdown, CSV, JSON) and said; the result with its files and metrics."""
    files = {k: str(v) for k, v in write_tables(table, out_dir).items()}
    files.update({"before": str(out_dir / "before.jsonl"), "after": str(out_dir / "after.jsonl")})
    metrics = {r.name: {"before": r.before, "after": r.after} for r in table.metrics}
    events.emit("eval", "done", f"evaluation table written ({samples} examples)", **Evaluated(
        files=files, metrics={k: v for k, v in metrics.items() if not any(
            isinstance(x, float) and math.isnan(x) for x in v.values())}).fields())
    return EvalResult(samples=samples, table_md=render_markdown(table), files=files, metrics=metrics,
                      seconds=round(time.perf_counter() - t0, 2))


def _score_sets(out_dir: Path, examples: list[dict[str, Any]], learnt: list[Any], learnt_source: str,
                kept: Sequence[tuple[str, Any]], before: list[str], after: list[str], n_held: int,
                n_learnt: int) -> list[Any]:
    """Score held out / learnt / kept (answers in that order); keep the learnt and kept answers on disk."""
    cut = (0, n_held, n_held + n_learnt, len(before))
    held_b, learnt_b, kept_b = (before[cut[i]:cut[i + 1]] for i in range(3))
    held_a, learnt_a, kept_a = (after[cut[i]:cut[i + 1]] for i in range(3))
    write_jsonl(out_dir / "learnt.jsonl", [
        {"id": str(i), "prompt": it.messages[-1]["content"], "question": it.question, "reference": it.reference,
         "base": b, "tuned": a} for i, (it, b, a) in enumerate(zip(learnt, learnt_b, learnt_a, strict=True))])
    write_jsonl(out_dir / "kept.jsonl", [
        {"id": str(i), "prompt": q, "expected": list(exp), "base": b, "tuned": a}
        for i, ((q, exp), b, a) in enumerate(zip(kept, kept_b, kept_a, strict=True))])
    return [
        score_set("learnt", learnt_source, learnt_b, learnt_a, [it.reference for it in learnt], learnt_check),
        score_set("held_out", "eval.jsonl", held_b, held_a, [ex["completion"][0]["content"] for ex in examples],
                  learnt_check),
        score_set("kept", "built-in", kept_b, kept_a, [exp for _, exp in kept], kept_right),
    ]


def _corrected_set(out_dir: Path, items: list[Any], before: list[str], after: list[str]) -> Any:
    write_jsonl(out_dir / "corrected.jsonl", [
        {"id": str(i), "prompt": it.messages[-1]["content"], "question": it.question, "reference": it.reference,
         "base": b, "tuned": a} for i, (it, b, a) in enumerate(zip(items, before, after, strict=True))])
    return score_set("corrected", "corrections.jsonl", before, after, [it.reference for it in items], learnt_check)


def _length_adherence(run_dir: Path, before: list[str], after: list[str]) -> dict[str, Any]:
    """How many answers keep the length limit the goal named ("under 50 words"), before and after."""
    style = _run_config(run_dir).get("style") or []
    limit = length_limit(list(style))
    if limit is None:
        return {}
    return {"length_limit": limit, "limit_base": SetScore.of([within_limit(o, limit) for o in before]),
            "limit_tuned": SetScore.of([within_limit(o, limit) for o in after])}
