"""The train step: the approved plan started in its own process; where it stands; stopping it."""

from __future__ import annotations

from typing import Any

from agent.nodes.reply import error_reply, reply
from agent.nodes.runs import ensure_run
from agent.replies import word
from agent.state import AgentState, overrides_of, plan_of
from tools.core.events import read_events
from tools.core.payloads import Progress, Queued
from tools.core.runs import RunIndex, training_state
from tools.plan.record import parse_plan
from tools.train import launch as train_launch
from tools.train.launch import cancel_training
from tools.train.record import settings_from_plan, write_config


def _env_int(name: str) -> int | None:
    import os

    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def train(state: AgentState) -> dict[str, Any]:
    try:
        run_id, run_dir, update = ensure_run(state)
        data_dir = state.data_dir
        if not data_dir:
            return {**update, **reply(state, "ask_files")}

        approved = plan_of(state) or parse_plan({})  # none shown yet: the plan reader's own refusal
        settings = settings_from_plan(approved, data_dir)
        write_config(run_dir, settings)
        max_steps = overrides_of(state).max_steps or _env_int("TUNEPILOT_MAX_STEPS")
        pid = train_launch.launch_training(run_dir, max_steps=max_steps)
        RunIndex().update(run_id, stage="train", state="running")
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    return {**update, "stage": "train", **reply(state, "train_started", run_id=run_id, pid=pid)}


def status(state: AgentState) -> dict[str, Any]:
    run_dir = state.run_dir
    if run_dir is None:
        return reply(state, "no_run")
    st = training_state(run_dir)
    progress = [e for e in read_events(run_dir) if e.stage == "train" and e.kind == "progress"]
    last = progress[-1] if progress else None
    data = (Progress.of(last) or Progress(loss=0.0)) if last is not None else None
    update: dict[str, Any] = {"outcome": f"train_{st}"}
    train_events = [e for e in read_events(run_dir) if e.stage == "train"]
    queued = Queued.of(train_events[-1]) if train_events else None
    if st == "running" and queued is not None and queued.queued:
        update.update(reply(state, "train_queued", pos=queued.queued))
    elif st == "running":
        if last is not None and data is not None:
            update.update(reply(state, "train_progress", step=last.step, total=last.total,
                                loss=f"{data.loss:.4f}", eta=int(data.eta_s or 0)))
        else:
            update.update(reply(state, "train_starting"))
    elif st == "done":
        update.update(reply(state, "train_done", steps=last.step if last else "?",
                            loss=f"{data.loss:.4f}" if data is not None else "?"))
    elif st == "failed" and train_events and train_events[-1].said is not None:  # why, in their language
        update.update(reply(state, "train_failed_why", why=train_events[-1].said.text(state.language)))
    else:
        update.update(reply(state, "train_state", state=word(st, state.language)))
    return update


def cancel(state: AgentState) -> dict[str, Any]:
    run_dir = state.run_dir
    if run_dir is None:
        return reply(state, "no_run")
    stopped = cancel_training(run_dir)
    return reply(state, "cancelled" if stopped else "nothing_to_cancel")
