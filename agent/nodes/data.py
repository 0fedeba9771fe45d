"""The data step: the person's files turned into the run's train/eval set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.nodes.reply import error_reply, shown
from agent.nodes.runs import ensure_run
from agent.nodes.understanding import ask_missing
from agent.replies import word
from agent.state import AgentState, goal_of
from tools.core.messages import say


def convert(state: AgentState) -> dict[str, Any]:
    from tools.core.runs import RunIndex
    from tools.data import ConvertRequest, convert_documents

    files = [Path(f) for f in state.get("files") or []]
    if not files:
        return ask_missing(state)
    try:
        run_id, run_dir, update = ensure_run(state)
        result = convert_documents(
            ConvertRequest(inputs=files, out_dir=run_dir / "data", system=goal_of(state).system_prompt)
        )
        RunIndex().update(run_id, stage="data", state="created")
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    lang = state.get("lang", "en")
    problems = [i.shown(lang, fr.source) for fr in result.files for i in fr.errors]
    dropped = ", ".join(f"{word(k, lang)} {v}" for k, v in result.dropped.items()) or "0"
    msg = say("agent.data_done", lang, train=result.train_records, eval=result.eval_records,
            dropped=dropped, files=len(result.files), p95=result.tokens.p95)
    if problems:
        msg += "\n" + say("agent.data_problems", lang, problems="\n".join(f"- {p}" for p in problems[:10]))
    msg = shown(msg, state, run_dir, run_id)
    update.update(messages=[AIMessage(content=msg)], data_dir=str(run_dir / "data"), stage="data", files=[])
    return update
