"""Graph nodes: each reads the state, calls one tool from ``tools/`` and says what happened.

Nodes hold no business logic; every number they report comes from a tool's
result. A tool's :class:`TunepilotError` becomes a plain sentence in the
person's language, never a traceback.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import interrupt

from agent.intent import parse_message
from agent.replies import t, word
from agent.state import META_KEY, AgentState
from tools.core.errors import TunepilotError
from tools.core.messages import say

log = logging.getLogger(__name__)


def _say(state: AgentState, key: str, /, **kw: Any) -> dict[str, Any]:
    return {"messages": [AIMessage(content=t(key, state.get("lang", "en"), **kw))]}


def _error(state: AgentState, err: Exception) -> dict[str, Any]:
    from tools.core.secrets import redact

    text = redact(str(err) if isinstance(err, TunepilotError) else f"{type(err).__name__}: {err}")
    said = t("error", state.get("lang", "en"), error=_shown(text, state))
    return {"messages": [AIMessage(content=said, additional_kwargs={META_KEY: {"failed": True}})], "intent": "error"}


def _shown(text: str, state: AgentState, run_dir: Path | None = None, run_id: str | None = None) -> str:
    """The text with the run folder's server path written as the run id: ``/srv/runs/<id>/merged`` → ``<id>/merged``.

    The state and the tools keep the full paths; only what the person reads is shortened.
    """
    from tools.core.paths import runs_root

    folder = run_dir or (Path(state["run_dir"]) if state.get("run_dir") else None)  # type: ignore[arg-type]
    if folder is not None:
        name = run_id or state.get("run_id") or folder.name
        for path in {str(folder.resolve()), str(folder)}:
            text = re.sub(re.escape(path) + r"(?![\w.-])", lambda _: name, text)
    # files the page stored (runs/uploads/<conversation>/NAME) by their names, other run paths from the root
    root = runs_root()
    text = re.sub(re.escape(str(root / "uploads")) + r"/[^/\s]+/", "", text)
    return text.replace(str(root) + "/", "")


def _last_human(state: AgentState) -> str:
    for m in reversed(state.get("messages", [])):
        if isinstance(m, HumanMessage):
            return str(m.content)
    return ""


# --- understand -----------------------------------------------------------------


ACTION = "action"  # the key of a page action in a resume value or a graph input (agent.session)


def understand(state: AgentState) -> dict[str, Any]:
    from agent.llm import llm_configured, parse_with_llm

    if state.get(ACTION) == "carry_on":  # the page's timer after training: no words to understand
        return {"intent": "continue", ACTION: None}
    if state.get(ACTION) == "follow_up":  # the runs tab's "Train again with my corrections"
        return {"intent": "follow_up", ACTION: None}
    text = _last_human(state)
    files = state.get("files") or []
    note = None
    goal = None
    if llm_configured():
        goal, note = parse_with_llm(text, has_files=bool(files))
    if goal is None:
        goal = parse_message(text, has_files=bool(files))
    intent = goal.intents[0] if goal.intents else "unknown"
    update: dict[str, Any] = {"goal": goal.model_dump(mode="json"), "intent": intent, "note": note}
    if goal.language in ("zh", "en") and not (state.get("lang") and _control_word(text)):
        update["lang"] = goal.language
    elif not state.get("lang"):
        update["lang"] = "en"
    overrides = dict(state.get("overrides") or {})
    for field, key in (("rank", "rank"), ("micro_batch", "micro_batch"), ("max_length", "max_length"),
                       ("epochs", "epochs"), ("learning_rate", "learning_rate"), ("method", "method")):
        value = getattr(goal, field, None)
        if value is not None:
            overrides[key] = value
    update["overrides"] = overrides
    if goal.gpu is not None:
        update["hardware_hint"] = goal.gpu.model_dump(mode="json")
    if goal.style or goal.system_prompt:
        from tools.core.system_prompt import system_prompt_from_style

        update["style"] = list(goal.style)
        update["system_prompt"] = system_prompt_from_style(goal.style, update.get("lang") or state.get("lang", "en"),
                                                           goal.system_prompt)
    if intent == "finetune":
        update["journey"] = True
    if goal.run_id:
        from tools.core.runs import RunIndex

        try:
            index, owner = RunIndex(), state.get("owner")
            runs = index.list(owner=owner)
            rec = runs[0] if goal.run_id == "latest" and runs else index.get(goal.run_id, owner=owner)
            update.update(run_id=rec.id, run_dir=rec.path)
        except TunepilotError:
            pass
    if note:
        update["messages"] = [AIMessage(content=note)]
    return update


def _control_word(text: str) -> bool:
    """A bare control word ("status", "yes", "ok") says nothing of the person's language: keep the one in use."""
    return len(text.split()) <= 1 and text.strip().isascii()


def ask_missing(state: AgentState) -> dict[str, Any]:
    return _say(state, "ask_files")


def help_node(state: AgentState) -> dict[str, Any]:
    return _say(state, "unknown")


# --- data ---------------------------------------------------------------------------


def _ensure_run(state: AgentState) -> tuple[str, Path, dict[str, Any]]:
    from tools.core.runs import RunIndex

    if state.get("run_dir") and Path(state["run_dir"]).is_dir():  # type: ignore[arg-type]
        return state["run_id"] or Path(state["run_dir"]).name, Path(state["run_dir"]), {}  # type: ignore[arg-type]
    rec = RunIndex().create(goal=_last_human(state)[:500], owner=state.get("owner") or "")
    return rec.id, Path(rec.path), {"run_id": rec.id, "run_dir": rec.path}


def convert(state: AgentState) -> dict[str, Any]:
    from tools.core.runs import RunIndex
    from tools.data import ConvertRequest, convert_documents

    files = [Path(f) for f in state.get("files") or []]
    if not files:
        return ask_missing(state)
    try:
        run_id, run_dir, update = _ensure_run(state)
        goal = state.get("goal") or {}
        result = convert_documents(
            ConvertRequest(inputs=files, out_dir=run_dir / "data", system=goal.get("system_prompt"))
        )
        RunIndex().update(run_id, stage="data", state="created")
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    lang = state.get("lang", "en")
    problems = [i.shown(lang, fr.source) for fr in result.files for i in fr.errors]
    dropped = ", ".join(f"{word(k, lang)} {v}" for k, v in result.dropped.items()) or "0"
    summary = {
        "train": result.train_records, "eval": result.eval_records, "dropped": result.dropped,
        "p95": result.tokens.p95, "files": [fr.model_dump(mode="json") for fr in result.files],
    }
    msg = t("data_done", lang, train=result.train_records, eval=result.eval_records,
            dropped=dropped, files=len(result.files), p95=result.tokens.p95)
    if problems:
        msg += "\n" + t("data_problems", lang, problems="\n".join(f"- {p}" for p in problems[:10]))
    msg = _shown(msg, state, run_dir, run_id)
    update.update(messages=[AIMessage(content=msg)], data_dir=str(run_dir / "data"), dataset=summary,
                  stage="data", files=[])
    return update


# --- plan ---------------------------------------------------------------------------


def _hardware(state: AgentState) -> Any:
    from tools.plan.hardware import detect_hardware, hardware_for_gpus

    hint = state.get("hardware_hint")
    if hint and (hint.get("name") or hint.get("memory_gb")) and hint.get("count", 1) != 0:
        return hardware_for_gpus(hint.get("name"), hint.get("memory_gb"), int(hint.get("count") or 1))
    return detect_hardware()


def default_model() -> str:
    """The base model when the person names none and no data decides (``tools.plan.cli.model_for_data``):
    ``$TUNEPILOT_DEFAULT_MODEL`` or the bundled demo model."""
    import os

    return os.environ.get("TUNEPILOT_DEFAULT_MODEL") or "demo"


def _env_int(name: str) -> int | None:
    import os

    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def make_plan(state: AgentState) -> Any:
    from tools.plan.cli import make_plan as plan_for
    from tools.plan.planner import PlanOverrides

    if state.get("run_dir") and (Path(state["run_dir"]) / "follow_up.json").exists():  # type: ignore[arg-type]
        from tools.train.follow_up import replan_follow_up

        ov = state.get("overrides") or {}
        return replan_follow_up(Path(state["run_dir"]), epochs=ov.get("epochs"),  # type: ignore[arg-type]
                                learning_rate=ov.get("learning_rate"))
    goal = state.get("goal") or {}
    ov = state.get("overrides") or {}
    overrides = PlanOverrides(**{k: v for k, v in ov.items() if k in PlanOverrides.model_fields and k != "method"})
    data_dir = state.get("data_dir")
    params = f"{goal['params_b']}B" if goal.get("params_b") else None
    # none named: the planner picks the bundled model for the data (Gemma for Chinese facts, else the demo)
    model = goal.get("base_model") or (state.get("plan") or {}).get("model") or (default_model() if params else None)
    return plan_for(model=model, params=params, hardware=_hardware(state),
                    data_dir=Path(data_dir) if data_dir else None,
                    method=ov.get("method") or "auto", overrides=overrides, run_dir=state.get("run_dir"),
                    system_prompt=state.get("system_prompt"), style=state.get("style") or [])


def plan_card(plan: Any, lang: str) -> str:
    from tools.plan.cli import plan_card as card

    mem = plan.memory
    gib = 1024**3
    lines = [t("plan_header", lang, method=plan.method.upper(), model=plan.model_facts.name, device=plan.device,
               r=plan.lora.r, batch=plan.micro_batch_size, accum=plan.grad_accum, length=plan.max_length,
               epochs=plan.num_epochs, est=f"{mem.total_bytes / gib:.1f}", avail=f"{mem.available_bytes / gib:.1f}",
               mem=t("plan_mem_gpu" if plan.num_gpus else "plan_mem_ram", lang))]
    est = plan.cpu_estimate
    if est and (est.total_seconds or est.seconds_per_epoch):
        minutes = (est.total_seconds or (est.seconds_per_epoch or 0) * plan.num_epochs) / 60
        lines.append(t("plan_time", lang, minutes=f"{minutes:.0f}" if minutes >= 1 else "<1"))
    text = card(plan, lang)
    source = plan.model_facts.source
    if Path(source).is_absolute():  # the model's config.json on this server: its folder and file name
        text = text.replace(f"[{source}]", f"[{Path(source).parent.name}/{Path(source).name}]")
    return "\n".join(lines) + "\n\n```\n" + text + "\n```"


def plan(state: AgentState) -> dict[str, Any]:
    from tools.plan.cli import write_plan

    try:
        p = make_plan(state)
        if state.get("run_dir"):  # the plan's own writer: plan.json and, for several GPUs, the launch configs
            p, _ = write_plan(p, Path(state["run_dir"]), data_dir=state.get("data_dir"))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    lang = state.get("lang", "en")
    update: dict[str, Any] = {"plan": p.model_dump(mode="json"), "stage": "plan"}
    text = _shown(plan_card(p, lang), state)
    if not p.fits:
        text += "\n\n" + t("plan_refused", lang, why=p.refusal_in(lang) or "")
    update["messages"] = [AIMessage(content=text)]
    if not p.fits:
        update["intent"] = "refused"
    return update


def follow_up(state: AgentState) -> dict[str, Any]:
    """A follow-up of the current run: its data plus the corrections given in the model chat, from its adapter;
    the plan is shown for approval and the journey goes on from there (train, merge, deploy, evaluate)."""
    from tools.core.runs import RunIndex
    from tools.data.corrections import load_corrections
    from tools.train.follow_up import FollowUpRequest, prepare_follow_up

    previous = state.get("run_dir")
    if not previous:
        return _say(state, "no_run")
    try:
        n = len(load_corrections(Path(previous)))
        if not n:
            return {**_say(state, "no_corrections", run_id=Path(previous).name), "intent": "declined"}
        rec = RunIndex().create(goal=_last_human(state)[:500], owner=state.get("owner") or "")
        prep = prepare_follow_up(FollowUpRequest(previous_run=Path(previous), run_dir=Path(rec.path)))
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    lang = state.get("lang", "en")
    text = t("follow_up_ready", lang, run_id=rec.id, previous=Path(previous).name, n=n) + "\n\n" + plan_card(
        prep.plan, lang)
    return {"run_id": rec.id, "run_dir": rec.path, "data_dir": str(prep.data_dir), "journey": True, "stage": "plan",
            "intent": "planned", "plan": prep.plan.model_dump(mode="json"), "messages": [AIMessage(content=_shown(text, state))]}


def confirm_train(state: AgentState) -> dict[str, Any]:
    """Pause for yes / no / an edit. Re-runs from the top on resume, so nothing happens before interrupt()."""
    lang = state.get("lang", "en")
    if state.get("auto_approve"):
        return {"intent": "approved"}
    answer = interrupt({"kind": "confirm_train", "question": t("confirm_train", lang),
                        "plan": state.get("plan"), "run_id": state.get("run_id")})
    return _confirmation(state, answer, "train")


SET_ASIDE = "set_aside"  # a resume value: the person sent new files instead of answering (see AgentSession.send)


def _confirmation(state: AgentState, raw: Any, what: str) -> dict[str, Any]:
    lang = state.get("lang", "en")
    if isinstance(raw, dict) and raw.get(SET_ASIDE):
        return {"intent": "declined", "messages": [AIMessage(content=t("set_aside_for_files", lang))]}
    if isinstance(raw, dict) and raw.get(ACTION) in ("approve", "decline"):  # a button: typed, not parsed
        pressed = HumanMessage(content=say(f"page.{'approve' if raw[ACTION] == 'approve' else 'cancel'}", lang),
                               additional_kwargs={META_KEY: {ACTION: raw[ACTION]}})
        if raw[ACTION] == "approve":
            return {"intent": "approved", "messages": [pressed]}
        return {"intent": "declined", "messages": [pressed, AIMessage(content=t("declined", lang))]}
    answer = str(raw.get("text", "")) if isinstance(raw, dict) else str(raw)  # an edit, or typed words
    goal = parse_message(answer, awaiting_confirmation=True)
    intent = goal.intents[0] if goal.intents else "unknown"
    human = HumanMessage(content=answer)
    if intent == "confirm_yes":
        return {"intent": "approved", "messages": [human]}
    if intent in ("confirm_no", "cancel"):
        return {"intent": "declined", "messages": [human, AIMessage(content=t("declined", state.get("lang", "en")))]}
    overrides = dict(state.get("overrides") or {})
    changed = False
    for field in ("rank", "micro_batch", "max_length", "epochs", "learning_rate", "method"):
        value = getattr(goal, field, None)
        if value is not None:
            overrides[field] = value
            changed = True
    if changed:
        return {"intent": "edit", "overrides": overrides, "messages": [human]}
    return {"intent": "reask", "messages": [human, AIMessage(content=t("confirm_unclear", state.get("lang", "en")))]}


# --- train ---------------------------------------------------------------------------


def train(state: AgentState) -> dict[str, Any]:
    from tools.core.runs import RunIndex
    from tools.train.launch import launch_training, settings_from_plan, write_config

    try:
        run_id, run_dir, update = _ensure_run(state)
        if not state.get("data_dir"):
            return {**update, **_say(state, "ask_files")}
        from tools.plan.cli import parse_plan

        settings = settings_from_plan(parse_plan(state.get("plan") or {}), Path(state["data_dir"]))  # type: ignore[arg-type]
        write_config(run_dir, settings)
        max_steps = (state.get("overrides") or {}).get("max_steps") or _env_int("TUNEPILOT_MAX_STEPS")
        pid = launch_training(run_dir, max_steps=max_steps)
        RunIndex().update(run_id, stage="train", state="running")
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    return {**update, "stage": "train", **_say(state, "train_started", run_id=run_id, pid=pid)}


def status(state: AgentState) -> dict[str, Any]:
    from tools.core.events import read_events
    from tools.train.launch import training_state

    run_dir = state.get("run_dir")
    if not run_dir:
        return _say(state, "no_run")
    st = training_state(Path(run_dir))
    progress = [e for e in read_events(Path(run_dir)) if e.stage == "train" and e.kind == "progress"]
    last = progress[-1] if progress else None
    update: dict[str, Any] = {"intent": f"train_{st}"}
    train_events = [e for e in read_events(Path(run_dir)) if e.stage == "train"]
    queued = train_events[-1].data.get("queued") if train_events and train_events[-1].kind == "info" else None
    if st == "running" and queued:
        update.update(_say(state, "train_queued", pos=queued))
    elif st == "running":
        if last:
            update.update(_say(state, "train_progress", step=last.step, total=last.total,
                               loss=f"{last.data.get('loss', 0):.4f}", eta=int(last.data.get("eta_s") or 0)))
        else:
            update.update(_say(state, "train_starting"))
    elif st == "done":
        update.update(_say(state, "train_done", steps=last.step if last else "?",
                           loss=f"{last.data.get('loss', 0):.4f}" if last else "?"))
    elif st == "failed" and train_events and train_events[-1].said is not None:  # why, in their language
        update.update(_say(state, "train_failed_why", why=train_events[-1].said.text(state.get("lang", "en"))))
    else:
        update.update(_say(state, "train_state", state=word(st, state.get("lang", "en"))))
    return update


def cancel(state: AgentState) -> dict[str, Any]:
    from tools.train.launch import cancel_training

    run_dir = state.get("run_dir")
    if not run_dir:
        return _say(state, "no_run")
    stopped = cancel_training(Path(run_dir))
    return _say(state, "cancelled" if stopped else "nothing_to_cancel")


# --- merge / deploy / eval --------------------------------------------------------------


def merge(state: AgentState) -> dict[str, Any]:
    from tools.train.merge import MergeRequest, merge_adapter

    try:
        result = merge_adapter(MergeRequest(run_dir=Path(state["run_dir"])))  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    lang = state.get("lang", "en")
    return {"stage": "merge", **_say(state, "merged", path=_run_path(result.merged_dir, state),
                                     check=word("check_ok" if result.identical else "check_mismatch", lang))}


def export(state: AgentState) -> dict[str, Any]:
    """The merged model as GGUF (and for Ollama when the message says so), read back and checked."""
    if not state.get("run_dir"):
        return _say(state, "no_run")
    to = "ollama" if "ollama" in _last_human(state).lower() else "gguf"
    try:
        passed, params = export_run(Path(str(state["run_dir"])), to, state.get("run_id"))
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    return _say(state, "exported" if passed else "exported_differs", **params)


def export_run(run_dir: Path, to: str, run_id: str | None = None) -> tuple[bool, dict[str, str]]:
    """Export a run (GGUF, or GGUF + Modelfile for Ollama): whether read back it answers as the merged model,
    and the reply's parameters (the files, the check's counts)."""
    from tools.train.export import ExportRequest, export_model

    result = export_model(ExportRequest(run_dir=run_dir, to=to))  # type: ignore[arg-type]
    files = [*result.files, *([result.modelfile] if result.modelfile else [])]
    shown = {"run_dir": str(run_dir), "run_id": run_id or run_dir.name}
    checks = ", ".join(f"{c.type} {c.identical}/{c.prompts}" for c in result.checks)
    return (result.passed,
            {"files": ", ".join(_run_path(f.parent, shown) + f.name for f in files), "checks": checks})


def _run_path(path: Path, state: AgentState | dict[str, Any]) -> str:
    """A folder of the run as the person sees it: ``<run id>/merged/`` (the full path stays in the tool result)."""
    run_dir = Path(state["run_dir"])  # type: ignore[arg-type]
    run_id = state.get("run_id") or run_dir.name
    try:
        rel = Path(path).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return Path(path).name + "/"
    return f"{run_id}/{rel.as_posix()}/"


def confirm_deploy(state: AgentState) -> dict[str, Any]:
    lang = state.get("lang", "en")
    if state.get("auto_approve"):
        return {"intent": "approved"}
    answer = interrupt({"kind": "confirm_deploy", "question": t("confirm_deploy", lang), "run_id": state.get("run_id")})
    return _confirmation(state, answer, "deploy")


def deploy(state: AgentState) -> dict[str, Any]:
    from tools.serve.deploy import DeployRequest, deploy_model, side_by_side_mode

    if not state.get("run_dir"):
        return _say(state, "no_run")
    try:
        # the page's side-by-side chat and the before/after table need base and tuned (LoRA on a GPU, a pair of
        # servers on a CPU)
        dep = deploy_model(DeployRequest(run_dir=Path(state["run_dir"]),  # type: ignore[arg-type]
                                         mode=side_by_side_mode()))
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    return {"stage": "deploy", **_say(state, "deployed", url=dep.base_url, models=", ".join(dep.models.values()))}


def evaluate(state: AgentState) -> dict[str, Any]:
    from tools.evaluate.before_after import EvalRequest, evaluate_model

    if not state.get("run_dir"):
        return _say(state, "no_run")
    # a file sent with "evaluate" is the person's own questions ("看家提问"); it stays for later evaluations
    files = state.get("files") or []
    questions = files[0] if files else state.get("questions_file")
    try:
        result = evaluate_model(EvalRequest(run_dir=Path(state["run_dir"]),  # type: ignore[arg-type]
                                            questions=Path(questions) if questions else None,
                                            max_samples=(state.get("overrides") or {}).get("eval_samples")))
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    from tools.evaluate.table import render_saved

    lang = state.get("lang", "en")
    table = render_saved(Path(result.files["json"]).parent, lang) or result.table_md  # files on disk stay English
    text = t("eval_done", lang, n=result.samples) + "\n\n" + table + _against_previous(state, Path(state["run_dir"]))  # type: ignore[arg-type]
    return {"stage": "eval", "files": [], "questions_file": questions, "messages": [AIMessage(content=text)]}


def _against_previous(state: AgentState, run_dir: Path) -> str:
    """A follow-up run is also compared with the run it continued, on one server: learnt / held out / kept for
    both, and the corrections asked in other words (nothing the first run knew is lost unseen)."""
    from tools.data.corrections import load_follow_up
    from tools.evaluate.before_after import EvalRequest, evaluate_model
    from tools.evaluate.table import render_saved

    follow = load_follow_up(run_dir)
    if follow is None:
        return ""
    lang = state.get("lang", "en")
    try:
        vs = evaluate_model(EvalRequest(run_dir=Path(follow.previous_run), against=run_dir,
                                        max_samples=(state.get("overrides") or {}).get("eval_samples")))
    except Exception as exc:  # noqa: BLE001 - the run's own table stands; say why the comparison is missing
        return "\n\n" + t("error", lang, error=_shown(str(exc), state))
    table = render_saved(Path(vs.files["json"]).parent, lang) or vs.table_md
    return "\n\n" + t("follow_up_compared", lang, previous=Path(follow.previous_run).name,
                        run_id=run_dir.name) + "\n\n" + table


def chat(state: AgentState) -> dict[str, Any]:
    from tools.serve.chat import complete
    from tools.serve.deploy import load_deployment

    goal = state.get("goal") or {}
    text = goal.get("chat_message") or _last_human(state)
    dep = load_deployment(Path(state["run_dir"])) if state.get("run_dir") else None  # type: ignore[arg-type]
    if dep is None:
        return _say(state, "not_deployed")
    try:
        answers = {w: complete(dep, w, [{"role": "user", "content": text}], max_tokens=200)
                   for w in ("base", "tuned") if w in dep.models}
    except Exception as exc:  # noqa: BLE001
        return _error(state, exc)
    body = "\n\n".join(f"**{word(w, state.get('lang', 'en'))}**: {a}" for w, a in answers.items())
    return {"messages": [AIMessage(content=body)]}


def list_runs(state: AgentState) -> dict[str, Any]:
    from tools.core.runs import RunIndex

    runs = RunIndex().list(owner=state.get("owner"))[:20]
    if not runs:
        return _say(state, "no_runs")
    lang = state.get("lang", "en")
    lines = [f"- `{r.id}` {word(r.stage, lang)}/{word(r.state, lang)} — {r.goal[:60]}" for r in runs]
    return {"messages": [AIMessage(content=t("runs_header", lang, n=len(runs)) + "\n" + "\n".join(lines))]}


def report(state: AgentState) -> dict[str, Any]:
    return {"stage": "done", **_say(state, "journey_done", run_id=state.get("run_id") or "")}
