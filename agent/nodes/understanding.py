"""Understanding a message: its goal (by the LLM or the rule-based parser) laid into the state, or a page action."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

from agent.goal import Goal
from agent.intent import parse_message
from agent.llm import llm_configured, parse_with_llm
from agent.nodes.reply import last_human, reply
from agent.state import ACTION, AgentState, at_run, overrides_of
from tools.core.errors import TunepilotError
from tools.core.runs import RunIndex
from tools.core.system_prompt import system_prompt_from_style


def understand(state: AgentState) -> dict[str, Any]:
    if state.action == "carry_on":  # the page's timer after training: no words to understand
        return {"intent": "continue", "outcome": None, ACTION: None}
    if state.action == "follow_up":  # the runs tab's "Train again with my corrections"
        return {"intent": "follow_up", "outcome": None, ACTION: None}
    text = last_human(state)
    goal, note = _goal(text, has_files=bool(state.files))
    intent = goal.intents[0] if goal.intents else "unknown"
    update: dict[str, Any] = {"goal": goal.model_dump(mode="json"), "intent": intent, "outcome": None, "note": note}
    if goal.language in ("zh", "en") and not (state.lang and _control_word(text)):
        update["lang"] = goal.language
    elif not state.lang:
        update["lang"] = "en"
    update["overrides"] = overrides_of(state).edited(goal).record()
    if goal.gpu is not None:
        update["hardware_hint"] = goal.gpu.model_dump(mode="json")
    if goal.style or goal.system_prompt:
        update["style"] = list(goal.style)
        update["system_prompt"] = system_prompt_from_style(goal.style, update.get("lang") or state.language,
                                                           goal.system_prompt)
    if intent == "finetune":
        update["journey"] = True
    if goal.run_id:
        update.update(_named_run(state, goal.run_id))
    if note:
        update["messages"] = [AIMessage(content=note)]
    return update


def _goal(text: str, *, has_files: bool) -> tuple[Goal, str | None]:
    """The message's goal, from the LLM when one is configured, else (or when it fails) from the parser, and the
    notice that the parser took over."""
    note = None
    goal = None
    if llm_configured():
        goal, note = parse_with_llm(text, has_files=has_files)
    if goal is None:
        goal = parse_message(text, has_files=has_files)
    return goal, note


def _named_run(state: AgentState, run_id: str) -> dict[str, Any]:
    """The run a message names ("run 2026…", "the last run") among the conversation's own, as the current run."""
    try:
        index, owner = RunIndex(), state.owner
        runs = index.list(owner=owner)
        rec = runs[0] if run_id == "latest" and runs else index.get(run_id, owner=owner)
        return at_run(rec.id, rec.path)
    except TunepilotError:
        return {}


def _control_word(text: str) -> bool:
    """A bare control word ("status", "yes", "ok") says nothing of the person's language: keep the one in use."""
    return len(text.split()) <= 1 and text.strip().isascii()


def ask_missing(state: AgentState) -> dict[str, Any]:
    return reply(state, "ask_files")


def help_node(state: AgentState) -> dict[str, Any]:
    return reply(state, "unknown")
