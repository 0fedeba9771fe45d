"""The data step: the person's files turned into the run's train/eval set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

import tools.data
from agent.nodes.reply import error_reply, shown
from agent.nodes.runs import ensure_run
from agent.nodes.understanding import ask_missing
from agent.replies import word
from agent.state import META_KEY, AgentState, goal_of
from tools.core.errors import InputError
from tools.core.messages import say
from tools.core.runs import RunIndex
from tools.data import ConvertRequest
from tools.data.schema import DatasetReport


def _files_failed(state: AgentState, exc: Exception, run_dir: Path | None) -> dict[str, Any] | None:
    """No file gave a record: each file's problem in the person's language and what to do, from the report the
    converter wrote (None when there is no such report: the failure was elsewhere)."""
    from langchain_core.messages import AIMessage as Message

    report = DatasetReport.read(run_dir / "data" / "report.json") if run_dir else None
    if not isinstance(exc, InputError) or report is None:
        return None
    stale = run_dir / "plan.json" if run_dir else None
    if stale is not None and stale.exists():  # a plan for earlier files: kept aside, no longer on the panel
        stale.replace(stale.with_name("plan.before-these-files.json"))
    lang = state.language
    problems = [i.shown(lang, fr.source) for fr in report.files for i in fr.errors] or [
        f"{fr.source}: {', '.join(f'{word(k, lang)} {v}' for k, v in fr.dropped.items())}" for fr in report.files]
    text = say("agent.data_failed", lang, problems="\n".join(f"- {p}" for p in problems[:10]),
               report=str(run_dir / "data" / "report.json") if run_dir else "report.json")
    return {"messages": [Message(content=shown(text, state, run_dir), additional_kwargs={META_KEY: {"failed": True}})],
            "outcome": "error", "files": []}


def convert(state: AgentState) -> dict[str, Any]:
    files = [Path(f) for f in state.files]
    if not files:
        return ask_missing(state)
    run_dir: Path | None = None
    update: dict[str, Any] = {}
    try:
        run_id, run_dir, update = ensure_run(state)
        result = tools.data.convert_documents(
            ConvertRequest(inputs=files, out_dir=run_dir / "data", system=goal_of(state).system_prompt)
        )
        RunIndex().update(run_id, stage="data", state="created")
    except Exception as exc:  # noqa: BLE001
        failed = _files_failed(state, exc, run_dir)
        # the page's panel follows the run the files went to: an earlier plan no longer applies to them
        return {**update, **failed} if failed is not None else error_reply(state, exc)
    lang = state.language
    problems = [i.shown(lang, fr.source) for fr in result.files for i in fr.errors]
    dropped = ", ".join(f"{word(k, lang)} {v}" for k, v in result.dropped.items()) or "0"
    msg = say("agent.data_done", lang, train=result.train_records, eval=result.eval_records,
            dropped=dropped, files=len(result.files), p95=result.tokens.p95)
    if problems:
        msg += "\n" + say("agent.data_problems", lang, problems="\n".join(f"- {p}" for p in problems[:10]))
    msg = shown(msg, state, run_dir, run_id)
    update.update(messages=[AIMessage(content=msg)], data_dir=str(run_dir / "data"), stage="data", files=[])
    return update
