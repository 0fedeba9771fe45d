"""The conversation's runs: the current one (made when a step first needs it), the list, the journey's end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.nodes.reply import last_human, reply
from agent.replies import word
from agent.state import AgentState, at_run
from tools.core.messages import say
from tools.core.runs import RunIndex


def ensure_run(state: AgentState) -> tuple[str, Path, dict[str, Any]]:
    """(run id, run folder, the state update that makes it the current run: empty when it already is)."""
    if state.run_dir and state.run_dir.is_dir():
        return state.run_id or state.run_dir.name, state.run_dir, {}
    rec = RunIndex().create(goal=last_human(state)[:500], owner=state.owner or "")
    return rec.id, Path(rec.path), at_run(rec.id, rec.path)


def list_runs(state: AgentState) -> dict[str, Any]:
    runs = RunIndex().list(owner=state.owner)[:20]
    if not runs:
        return reply(state, "no_runs")
    lang = state.language
    lines = [f"- `{r.id}` {word(r.stage, lang)}/{word(r.state, lang)} — {r.goal[:60]}" for r in runs]
    return {"messages": [AIMessage(content=say("agent.runs_header", lang, n=len(runs)) + "\n" + "\n".join(lines))]}


def report(state: AgentState) -> dict[str, Any]:
    return {"stage": "done", **reply(state, "journey_done", run_id=state.run_id or "")}
