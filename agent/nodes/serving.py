"""After training: merge, export, deploy, the before/after evaluation, and a message to the served models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage

from agent.nodes.reply import error_reply, last_human, reply, shown
from agent.replies import word
from agent.state import AgentState, goal_of, overrides_of
from tools.core.messages import say
from tools.data.corrections import load_follow_up
from tools.data.read.answer import sources_line
from tools.evaluate import before_after
from tools.evaluate.before_after import EvalRequest
from tools.evaluate.render import render_saved
from tools.serve import record as serve_record
from tools.serve.ask import answer_deployed
from tools.serve.deploy import DeployRequest, deploy_model
from tools.serve.mode import side_by_side_mode
from tools.train import export as train_export
from tools.train import merge as train_merge
from tools.train.export import ExportRequest
from tools.train.merge import MergeRequest

ExportTarget = Literal["gguf", "ollama"]  # the merged model as GGUF files, or GGUF and an Ollama Modelfile


def merge(state: AgentState) -> dict[str, Any]:
    if state.run_dir is None:
        return reply(state, "no_run")
    try:
        result = train_merge.merge_adapter(MergeRequest(run_dir=state.run_dir))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    lang = state.language
    return {"stage": "merge", **reply(state, "merged", path=_run_path(result.merged_dir, state.run_dir, state.run_id),
                                      check=word("check_ok" if result.identical else "check_mismatch", lang))}


def export(state: AgentState) -> dict[str, Any]:
    """The merged model as GGUF (and for Ollama when the message says so), read back and checked."""
    if state.run_dir is None:
        return reply(state, "no_run")
    to: ExportTarget = "ollama" if "ollama" in last_human(state).lower() else "gguf"
    try:
        passed, params = export_run(state.run_dir, to, state.run_id)
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    return reply(state, "exported" if passed else "exported_differs", **params)


def export_run(run_dir: Path, to: ExportTarget, run_id: str | None = None) -> tuple[bool, dict[str, str]]:
    """Export a run (GGUF, or GGUF + Modelfile for Ollama): whether read back it answers as the merged model,
    and the reply's parameters (the files, the check's counts)."""
    result = train_export.export_model(ExportRequest(run_dir=run_dir, to=to))
    files = [*result.files, *([result.modelfile] if result.modelfile else [])]
    checks = ", ".join(f"{c.type} {c.identical}/{c.prompts}" for c in result.checks)
    return (result.passed,
            {"files": ", ".join(_run_path(f.parent, run_dir, run_id) + f.name for f in files), "checks": checks})


def _run_path(path: Path, run_dir: Path, run_id: str | None) -> str:
    """A folder of the run as the person sees it: ``<run id>/merged/`` (the full path stays in the tool result)."""
    try:
        rel = Path(path).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return Path(path).name + "/"
    return f"{run_id or run_dir.name}/{rel.as_posix()}/"


def deploy(state: AgentState) -> dict[str, Any]:
    if state.run_dir is None:
        return reply(state, "no_run")
    try:
        # the page's side-by-side chat and the before/after table need base and tuned (LoRA on a GPU, a pair of
        # servers on a CPU)
        dep = deploy_model(DeployRequest(run_dir=state.run_dir, mode=side_by_side_mode()))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    return {"stage": "deploy", **reply(state, "deployed", url=dep.base_url, models=", ".join(dep.models.values()))}


def evaluate(state: AgentState) -> dict[str, Any]:
    run_dir = state.run_dir
    if run_dir is None:
        return reply(state, "no_run")
    # a file sent with "evaluate" is the person's own questions ("看家提问"); it stays for later evaluations
    questions = Path(state.files[0]) if state.files else state.questions_file
    try:
        result = before_after.evaluate_model(EvalRequest(run_dir=run_dir, questions=questions,
                                                         max_samples=overrides_of(state).eval_samples))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)

    lang = state.language
    table = render_saved(Path(result.files["json"]).parent, lang) or result.table_md  # files on disk stay English
    text = say("agent.eval_done", lang, n=result.samples) + "\n\n" + table + _against_previous(state, run_dir)
    return {"stage": "eval", "files": [], "questions_file": str(questions) if questions else None,
            "messages": [AIMessage(content=text)]}


def _against_previous(state: AgentState, run_dir: Path) -> str:
    """A follow-up run is also compared with the run it continued, on one server: learnt / held out / kept for
    both, and the corrections asked in other words (nothing the first run knew is lost unseen)."""
    follow = load_follow_up(run_dir)
    if follow is None:
        return ""
    lang = state.language
    try:
        vs = before_after.evaluate_model(EvalRequest(run_dir=Path(follow.previous_run), against=run_dir,
                                                     max_samples=overrides_of(state).eval_samples))
    except Exception as exc:  # noqa: BLE001 - the run's own table stands; say why the comparison is missing
        return "\n\n" + say("agent.error", lang, error=shown(str(exc), state))
    table = render_saved(Path(vs.files["json"]).parent, lang) or vs.table_md
    return "\n\n" + say("agent.follow_up_compared", lang, previous=Path(follow.previous_run).name,
                        run_id=run_dir.name) + "\n\n" + table


def chat(state: AgentState) -> dict[str, Any]:
    text = goal_of(state).chat_message or last_human(state)
    run_dir = state.run_dir
    dep = serve_record.load_deployment(run_dir) if run_dir is not None else None
    if run_dir is None or dep is None:
        return reply(state, "not_deployed")
    lang = state.language
    try:  # a run with documents answers by reading them, as the page and the endpoint do
        answers = {w: answer_deployed(dep, run_dir, w, text, max_tokens=200)
                   for w in ("base", "tuned") if w in dep.models}
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    body = "\n\n".join(f"**{word(w, lang)}**: {a.answer}" for w, a in answers.items())
    tuned = answers.get("tuned")
    if tuned is not None and tuned.sources:
        body += "\n\n" + sources_line(tuned, lang)
    return {"messages": [AIMessage(content=body)]}
