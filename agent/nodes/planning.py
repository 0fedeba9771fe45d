"""The plan step: the machine (or one named in words) and the model → a plan card; a follow-up's plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.nodes.reply import error_reply, last_human, reply, shown
from agent.state import AgentState, at_run, goal_of, hardware_hint_of, overrides_of, plan_of
from tools.core.messages import say
from tools.core.runs import RunIndex
from tools.data.corrections import load_corrections
from tools.plan.card import plan_card as card
from tools.plan.gather import make_plan as plan_for
from tools.plan.hardware import detect_hardware, hardware_for_gpus
from tools.plan.record import write_plan
from tools.train.follow_up import FollowUpRequest, prepare_follow_up, replan_follow_up


def _hardware(state: AgentState) -> Any:
    hint = hardware_hint_of(state)
    if hint and (hint.name or hint.memory_gb) and hint.count != 0:
        return hardware_for_gpus(hint.name, hint.memory_gb, int(hint.count or 1))
    return detect_hardware()


def _str(folder: Path | None) -> str | None:
    """A folder as the planner's records keep it."""
    return str(folder) if folder else None


def default_model() -> str:
    """The base model when the person names none and no data decides (``tools.plan.gather.model_for_data``):
    ``$TUNEPILOT_DEFAULT_MODEL`` or the bundled demo model."""
    import os

    return os.environ.get("TUNEPILOT_DEFAULT_MODEL") or "demo"


def _planned_model(state: AgentState) -> str | None:
    """The model of the plan shown last, kept when a later message names none."""
    shown_plan = plan_of(state)
    return shown_plan.model if shown_plan is not None else None


def make_plan(state: AgentState) -> Any:
    ov = overrides_of(state)
    if state.run_dir and (state.run_dir / "follow_up.json").exists():
        return replan_follow_up(state.run_dir, epochs=ov.epochs, learning_rate=ov.learning_rate)
    goal = goal_of(state)
    params = f"{goal.params_b}B" if goal.params_b else None
    # none named: the planner picks the bundled model for the data (Gemma for Chinese facts, else the demo)
    model = goal.base_model or _planned_model(state) or (default_model() if params else None)
    return plan_for(model=model, params=params, hardware=_hardware(state),
                    data_dir=state.data_dir,
                    method=ov.method or "auto", overrides=ov.plan_overrides(), run_dir=_str(state.run_dir),
                    system_prompt=state.system_prompt, style=state.style)


def plan_card(plan: Any, lang: str) -> str:
    mem = plan.memory
    gib = 1024**3
    lines = [say("agent.plan_header", lang, method=plan.method.upper(), model=plan.model_facts.name, device=plan.device,
               r=plan.lora.r, batch=plan.micro_batch_size, accum=plan.grad_accum, length=plan.max_length,
               epochs=plan.num_epochs, est=f"{mem.total_bytes / gib:.1f}", avail=f"{mem.available_bytes / gib:.1f}",
               mem=say("agent.plan_mem_gpu" if plan.num_gpus else "agent.plan_mem_ram", lang))]
    est = plan.cpu_estimate
    if est and (est.total_seconds or est.seconds_per_epoch):
        minutes = (est.total_seconds or (est.seconds_per_epoch or 0) * plan.num_epochs) / 60
        lines.append(say("agent.plan_time", lang, minutes=f"{minutes:.0f}" if minutes >= 1 else "<1"))
    text = card(plan, lang)
    source = plan.model_facts.source
    if Path(source).is_absolute():  # the model's config.json on this server: its folder and file name
        text = text.replace(f"[{source}]", f"[{Path(source).parent.name}/{Path(source).name}]")
    return "\n".join(lines) + "\n\n```\n" + text + "\n```"


def plan(state: AgentState) -> dict[str, Any]:
    try:
        p = make_plan(state)
        if state.run_dir:  # the plan's own writer: plan.json and, for several GPUs, the launch configs
            p, _ = write_plan(p, state.run_dir, data_dir=_str(state.data_dir))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    lang = state.language
    update: dict[str, Any] = {"plan": p.model_dump(mode="json"), "stage": "plan"}
    text = shown(plan_card(p, lang), state)
    if not p.fits:
        text += "\n\n" + say("agent.plan_refused", lang, why=p.refusal_in(lang) or "")
    update["messages"] = [AIMessage(content=text)]
    if not p.fits:
        update["outcome"] = "refused"
    return update


def follow_up(state: AgentState) -> dict[str, Any]:
    """A follow-up of the current run: its data plus the corrections given in the model chat, from its adapter;
    the plan is shown for approval and the journey goes on from there (train, merge, deploy, evaluate)."""
    previous = state.run_dir
    if previous is None:
        return reply(state, "no_run")
    try:
        n = len(load_corrections(previous))
        if not n:
            return {**reply(state, "no_corrections", run_id=previous.name), "outcome": "declined"}
        rec = RunIndex().create(goal=last_human(state)[:500], owner=state.owner or "")
        prep = prepare_follow_up(FollowUpRequest(previous_run=previous, run_dir=Path(rec.path)))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    lang = state.language
    text = say("agent.follow_up_ready", lang, run_id=rec.id, previous=previous.name, n=n) + "\n\n" + plan_card(
        prep.plan, lang)
    return {**at_run(rec.id, rec.path), "data_dir": str(prep.data_dir), "journey": True, "stage": "plan",
            "outcome": "planned", "plan": prep.plan.model_dump(mode="json"),
            "messages": [AIMessage(content=shown(text, state))]}
