"""A follow-up run: the previous run's data plus the person's corrections, from the previous run's adapter.

:func:`prepare_follow_up` writes the new run's ``data/`` (:func:`tools.data.corrections.follow_up_data`), its
``plan.json`` (:func:`tools.plan.follow_up.follow_up_plan`) and ``follow_up.json`` (where it came from); training
it is :func:`tools.train.launch.run_training` as for any run. ``tunepilot train --continue RUN --run RUN2``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools.core.errors import InputError
from tools.core.jsonio import iter_jsonl, write_jsonl
from tools.core.runs import CONFIG_FILE
from tools.data.corrections import (
    Correction,
    FollowUp,
    correction_row,
    follow_up_data,
    latest_per_question,
    load_corrections,
    load_follow_up,
    write_follow_up,
)
from tools.data.knowledge import rewordings
from tools.plan.follow_up import follow_up_plan
from tools.plan.record import TrainingPlan, load_plan, write_plan
from tools.plan.schedule import KNOWLEDGE_PARAPHRASES
from tools.train.record import read_config


class FollowUpRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_run: Path
    run_dir: Path
    plan_path: Path | None = None  # the previous run's plan when it is not in its folder


class FollowUpResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    data_dir: Path
    plan_path: Path
    plan: TrainingPlan
    record: FollowUp


def _previous(req: FollowUpRequest) -> tuple[TrainingPlan, Path, Path]:
    """The previous run's plan, data folder and adapter, each named when it is missing."""
    prev = req.previous_run
    adapter = prev / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError("this run has no trained adapter to continue from", where=str(prev),
                         hint="Continue a run whose training finished (`tunepilot runs` shows their state)")
    plan_path = req.plan_path or prev / "plan.json"
    if not plan_path.exists():
        raise InputError("this run has no plan.json", where=str(prev),
                         hint="Pass the plan it was trained with: --plan PLAN.json")
    config = prev / CONFIG_FILE
    if not config.exists():
        raise InputError(f"this run has no {CONFIG_FILE}", where=str(prev), hint="Continue a run that was trained")
    data_dir = Path(read_config(config).data_dir)
    return load_plan(plan_path), data_dir, adapter


def _reworded(data_dir: Path, corrections: list[Correction], paraphrases: int) -> int:
    """When the plan adds no rewordings in training (questions written from documents), each correction's
    rewordings are written into the data instead: the count a knowledge question gets. Returns how many."""
    if paraphrases:
        return 0

    path = data_dir / "train.jsonl"
    rows = [rec for _, rec in iter_jsonl(path)]
    added = []
    for corr in corrections:
        for q in rewordings(corr.question, corr.answer, KNOWLEDGE_PARAPHRASES):
            added.append(correction_row(corr.model_copy(update={"question": q}), rows[0] if rows else None))
    write_jsonl(path, rows + added)
    return len(added)


def prepare_follow_up(req: FollowUpRequest) -> FollowUpResult:
    """The follow-up's data, plan and record in ``req.run_dir``; refused when there is nothing to correct."""
    prev = req.previous_run.resolve()
    corrections = latest_per_question(load_corrections(prev))
    if not corrections:
        raise InputError("this run has no corrections to train", where=str(prev),
                         hint='Add one first: tunepilot correct --run RUN "question" "the right answer"')
    previous_plan, previous_data, adapter = _previous(req.model_copy(update={"previous_run": prev}))
    run_dir = req.run_dir.resolve()
    if (run_dir / "adapter").exists() or (run_dir / CONFIG_FILE).exists():
        raise InputError("this folder already holds a run", where=str(run_dir), hint="Name a new run folder")
    data_dir = run_dir / "data"
    records, replaced = follow_up_data(previous_data, corrections, data_dir)
    added = _reworded(data_dir, corrections, previous_plan.paraphrases)
    plan = follow_up_plan(previous_plan, prev, adapter, records=records + added, corrections=len(corrections),
                          replaced=replaced, reworded=bool(added))
    plan, written = write_plan(plan, run_dir, data_dir=str(data_dir))
    record = FollowUp(previous_run=str(prev), previous_adapter=str(adapter), corrections=corrections,
                      replaced=replaced, train=records + added)
    write_follow_up(run_dir, record)
    return FollowUpResult(run_dir=run_dir, data_dir=data_dir, plan_path=written[0], plan=plan, record=record)


def replan_follow_up(run_dir: Path, *, epochs: int | None = None, learning_rate: float | None = None) -> TrainingPlan:
    """The plan of a prepared follow-up again, with the person's epochs or learning rate (an edit before Approve)."""
    record = load_follow_up(run_dir)
    if record is None:
        raise InputError("this run is not a follow-up", where=str(run_dir), hint="Use `tunepilot plan` for a new run")
    previous = Path(record.previous_run)
    plan = load_plan(previous / "plan.json")
    return follow_up_plan(plan, previous, Path(record.previous_adapter), records=record.train,
                          corrections=len(record.corrections), replaced=record.replaced,
                          reworded=plan.paraphrases == 0, epochs=epochs, learning_rate=learning_rate)
