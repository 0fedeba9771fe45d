"""After training: merge, export, deploy, the before/after evaluation, and a message to the served models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.nodes.reply import error_reply, last_human, reply, shown
from agent.replies import word
from agent.state import AgentState, goal_of, overrides_of
from tools.core.messages import say


def merge(state: AgentState) -> dict[str, Any]:
    from tools.train.merge import MergeRequest, merge_adapter

    try:
        result = merge_adapter(MergeRequest(run_dir=Path(state["run_dir"])))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    lang = state.get("lang", "en")
    return {"stage": "merge", **reply(state, "merged", path=_run_path(result.merged_dir, state),
                                      check=word("check_ok" if result.identical else "check_mismatch", lang))}


def export(state: AgentState) -> dict[str, Any]:
    """The merged model as GGUF (and for Ollama when the message says so), read back and checked."""
    if not state.get("run_dir"):
        return reply(state, "no_run")
    to = "ollama" if "ollama" in last_human(state).lower() else "gguf"
    try:
        passed, params = export_run(Path(str(state["run_dir"])), to, state.get("run_id"))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    return reply(state, "exported" if passed else "exported_differs", **params)


def export_run(run_dir: Path, to: str, run_id: str | None = None) -> tuple[bool, dict[str, str]]:
    """Export a run (GGUF, or GGUF + Modelfile for Ollama): whether read back it answers as the merged model,
    and the reply's parameters (the files, the check's counts)."""
    from tools.train.export import ExportRequest, export_model

    result = export_model(ExportRequest(run_dir=run_dir, to=to))  # type: ignore[arg-type]
    files = [*result.files, *([result.modelfile] if result.modelfile else [])]
    run = {"run_dir": str(run_dir), "run_id": run_id or run_dir.name}
    checks = ", ".join(f"{c.type} {c.identical}/{c.prompts}" for c in result.checks)
    return (result.passed,
            {"files": ", ".join(_run_path(f.parent, run) + f.name for f in files), "checks": checks})


def _run_path(path: Path, state: AgentState | dict[str, Any]) -> str:
    """A folder of the run as the person sees it: ``<run id>/merged/`` (the full path stays in the tool result)."""
    run_dir = Path(state["run_dir"])  # type: ignore[arg-type]
    run_id = state.get("run_id") or run_dir.name
    try:
        rel = Path(path).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return Path(path).name + "/"
    return f"{run_id}/{rel.as_posix()}/"


def deploy(state: AgentState) -> dict[str, Any]:
    from tools.serve.deploy import DeployRequest, deploy_model
    from tools.serve.mode import side_by_side_mode

    if not state.get("run_dir"):
        return reply(state, "no_run")
    try:
        # the page's side-by-side chat and the before/after table need base and tuned (LoRA on a GPU, a pair of
        # servers on a CPU)
        dep = deploy_model(DeployRequest(run_dir=Path(state["run_dir"]),  # type: ignore[arg-type]
                                         mode=side_by_side_mode()))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    return {"stage": "deploy", **reply(state, "deployed", url=dep.base_url, models=", ".join(dep.models.values()))}


def evaluate(state: AgentState) -> dict[str, Any]:
    from tools.evaluate.before_after import EvalRequest, evaluate_model

    if not state.get("run_dir"):
        return reply(state, "no_run")
    # a file sent with "evaluate" is the person's own questions ("看家提问"); it stays for later evaluations
    files = state.get("files") or []
    questions = files[0] if files else state.get("questions_file")
    try:
        result = evaluate_model(EvalRequest(run_dir=Path(state["run_dir"]),  # type: ignore[arg-type]
                                            questions=Path(questions) if questions else None,
                                            max_samples=overrides_of(state).eval_samples))
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    from tools.evaluate.render import render_saved

    lang = state.get("lang", "en")
    table = render_saved(Path(result.files["json"]).parent, lang) or result.table_md  # files on disk stay English
    text = say("agent.eval_done", lang, n=result.samples) + "\n\n" + table + _against_previous(state, Path(state["run_dir"]))  # type: ignore[arg-type]
    return {"stage": "eval", "files": [], "questions_file": questions, "messages": [AIMessage(content=text)]}


def _against_previous(state: AgentState, run_dir: Path) -> str:
    """A follow-up run is also compared with the run it continued, on one server: learnt / held out / kept for
    both, and the corrections asked in other words (nothing the first run knew is lost unseen)."""
    from tools.data.corrections import load_follow_up
    from tools.evaluate.before_after import EvalRequest, evaluate_model
    from tools.evaluate.render import render_saved

    follow = load_follow_up(run_dir)
    if follow is None:
        return ""
    lang = state.get("lang", "en")
    try:
        vs = evaluate_model(EvalRequest(run_dir=Path(follow.previous_run), against=run_dir,
                                        max_samples=overrides_of(state).eval_samples))
    except Exception as exc:  # noqa: BLE001 - the run's own table stands; say why the comparison is missing
        return "\n\n" + say("agent.error", lang, error=shown(str(exc), state))
    table = render_saved(Path(vs.files["json"]).parent, lang) or vs.table_md
    return "\n\n" + say("agent.follow_up_compared", lang, previous=Path(follow.previous_run).name,
                        run_id=run_dir.name) + "\n\n" + table


def chat(state: AgentState) -> dict[str, Any]:
    from tools.data.read.answer import sources_line
    from tools.serve.ask import answer_deployed
    from tools.serve.record import load_deployment

    text = goal_of(state).chat_message or last_human(state)
    dep = load_deployment(Path(state["run_dir"])) if state.get("run_dir") else None  # type: ignore[arg-type]
    if dep is None:
        return reply(state, "not_deployed")
    lang = state.get("lang", "en")
    try:  # a run with documents answers by reading them, as the page and the endpoint do
        answers = {w: answer_deployed(dep, Path(str(state["run_dir"])), w, text, max_tokens=200)
                   for w in ("base", "tuned") if w in dep.models}
    except Exception as exc:  # noqa: BLE001
        return error_reply(state, exc)
    body = "\n\n".join(f"**{word(w, lang)}**: {a.answer}" for w, a in answers.items())
    tuned = answers.get("tuned")
    if tuned is not None and tuned.sources:
        body += "\n\n" + sources_line(tuned, lang)
    return {"messages": [AIMessage(content=body)]}
