"""The two questions of the journey, start training? and deploy?: yes, no, an edit, or words to ask again."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import interrupt

from agent.intent import parse_message
from agent.state import ACTION, META_KEY, SET_ASIDE, AgentState, Confirmation, overrides_of
from tools.core.messages import say


def confirm_train(state: AgentState) -> dict[str, Any]:
    """Pause for yes / no / an edit. Re-runs from the top on resume, so nothing happens before interrupt()."""
    if state.auto_approve:
        return {"outcome": "approved"}
    answer = interrupt(Confirmation(kind="confirm_train", question=say("agent.confirm_train", state.language),
                                    plan=state.plan, run_id=state.run_id).model_dump(mode="json"))
    return _confirmation(state, answer, "train")


def confirm_deploy(state: AgentState) -> dict[str, Any]:
    if state.auto_approve:
        return {"outcome": "approved"}
    answer = interrupt(Confirmation(kind="confirm_deploy", question=say("agent.confirm_deploy", state.language),
                                    run_id=state.run_id).model_dump(mode="json", exclude={"plan"}))
    return _confirmation(state, answer, "deploy")


def _confirmation(state: AgentState, raw: Any, what: str) -> dict[str, Any]:
    lang = state.language
    if isinstance(raw, dict) and raw.get(SET_ASIDE):
        return {"outcome": "declined", "messages": [AIMessage(content=say("agent.set_aside_for_files", lang))]}
    if isinstance(raw, dict) and raw.get(ACTION) in ("approve", "decline"):  # a button: typed, not parsed
        pressed = HumanMessage(content=say(f"page.{'approve' if raw[ACTION] == 'approve' else 'cancel'}", lang),
                               additional_kwargs={META_KEY: {ACTION: raw[ACTION]}})
        if raw[ACTION] == "approve":
            return {"outcome": "approved", "messages": [pressed]}
        return {"outcome": "declined", "messages": [pressed, AIMessage(content=say("agent.declined", lang))]}
    answer = str(raw.get("text", "")) if isinstance(raw, dict) else str(raw)  # an edit, or typed words
    goal = parse_message(answer, awaiting_confirmation=True)
    intent = goal.intents[0] if goal.intents else "unknown"
    human = HumanMessage(content=answer)
    if intent == "confirm_yes":
        return {"outcome": "approved", "messages": [human]}
    if intent in ("confirm_no", "cancel"):
        return {"outcome": "declined", "messages": [human, AIMessage(content=say("agent.declined", lang))]}
    if goal.overrides():
        return {"outcome": "edit", "overrides": overrides_of(state).edited(goal).record(), "messages": [human]}
    return {"outcome": "reask", "messages": [human, AIMessage(content=say("agent.confirm_unclear", lang))]}
