"""The page: chat with the agent, the run panel, the model chat (base vs tuned) and the runs list.

``create_app()`` builds the Blocks; ``launch()`` serves them. The page talks only to
``agent/`` (AgentSession) and reads run files and events through ``ui.view``.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import unicodedata
from pathlib import Path
from typing import Any

import gradio as gr

from ui import view
from ui.i18n import L

log = logging.getLogger(__name__)

MAX_FILES = 20
MAX_FILE_MB = 200
CSS = """
.tp-stages {display:flex; flex-wrap:wrap; gap:.3em; align-items:center; font-size:.95em}
.tp-stage {padding:.15em .5em; border-radius:1em; border:1px solid #ccc; white-space:nowrap}
.tp-done {background:#e6f4ea; border-color:#34a853}
.tp-running {background:#fff4e5; border-color:#f9ab00}
.tp-error {background:#fce8e6; border-color:#ea4335}
.tp-progress {height:12px; background:#eee; border-radius:6px; overflow:hidden}
.tp-bar {height:100%; background:#34a853; transition:width .5s}
.tp-progress-text {font-size:.9em; margin-top:.3em; overflow-wrap:anywhere}
.message, .message * {overflow-wrap:anywhere; word-break:break-word}
"""

_sessions: dict[str, Any] = {}
_lock = threading.Lock()


def get_session(thread_id: str) -> Any:
    from agent.session import AgentSession

    with _lock:
        if thread_id not in _sessions:
            _sessions[thread_id] = AgentSession(thread_id=thread_id)
        return _sessions[thread_id]


def sanitize_name(name: str) -> str:
    """A safe file name: no folders, no traversal, no control characters; keeps Chinese."""
    base = unicodedata.normalize("NFKC", Path(str(name).replace("\\", "/")).name)
    base = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", "_", base).strip(" .")
    return base[:150] or "upload"


def store_uploads(paths: list[str], dest: Path, lang: str) -> tuple[list[str], list[str]]:
    """Copy uploads into ``dest`` with sanitised, non-clobbering names. Returns (stored, problems)."""
    problems: list[str] = []
    if len(paths) > MAX_FILES:
        return [], [L("too_many_files", lang, n=len(paths), limit=MAX_FILES)]
    dest.mkdir(parents=True, exist_ok=True)
    stored = []
    for p in paths:
        src = Path(p)
        size_mb = src.stat().st_size / 1e6
        name = sanitize_name(getattr(p, "orig_name", None) or src.name)
        if size_mb > MAX_FILE_MB:
            problems.append(L("file_too_big", lang, name=name, mb=size_mb, limit=MAX_FILE_MB))
            continue
        target = dest / name
        stem, suffix, n = target.stem, target.suffix, 1
        while target.exists():
            target = dest / f"{stem}-{n}{suffix}"
            n += 1
        shutil.copyfile(src, target)
        stored.append(str(target))
    return stored, problems


def _lang(choice: str | None) -> str:
    return "zh" if choice and ("中" in choice or choice.startswith("zh")) else "en"


def _to_messages(history: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": view.safe_text(text)} for role, text in history]


def _run_dir(thread_id: str) -> Path | None:
    session = get_session(thread_id)
    rd = session.values().get("run_dir")
    return Path(rd) if rd else None


def create_app() -> gr.Blocks:
    from tools.paths import runs_root

    with gr.Blocks(title="tunepilot") as demo:
        thread = gr.BrowserState(secrets.token_hex(8), storage_key="tunepilot-thread")
        lang_state = gr.State("en")
        title = gr.Markdown(f"## {L('title', 'en')}")
        lang = gr.Radio(["English", "中文"], value="English", label=L("language", "en"), elem_id="tp-lang")
        with gr.Tabs():
            with gr.Tab(L("chat", "en"), id="chat") as tab_chat:
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        chatbot = gr.Chatbot(label=L("chat", "en"), height=520, elem_id="tp-chat",
                                             sanitize_html=True)
                        box = gr.MultimodalTextbox(file_count="multiple", placeholder=L("input", "en"),
                                                   show_label=False, elem_id="tp-input")
                        with gr.Row(visible=False, elem_id="tp-confirm") as confirm_row:
                            approve = gr.Button(L("approve", "en"), variant="primary", elem_id="tp-approve")
                            edit = gr.Button(L("edit", "en"), elem_id="tp-edit")
                            cancel = gr.Button(L("cancel", "en"), variant="stop", elem_id="tp-cancel")
                        notice = gr.Markdown(elem_id="tp-notice")
                    with gr.Column(scale=2, min_width=300):
                        stages = gr.HTML(elem_id="tp-stages")
                        with gr.Accordion(L("dataset", "en"), open=True) as acc_data:
                            dataset = gr.Dataframe(headers=["file", "type", "found", "kept", "dropped", "errors"],
                                                   interactive=False, wrap=True, elem_id="tp-dataset")
                        with gr.Accordion(L("plan", "en"), open=True) as acc_plan:
                            plan_md = gr.Markdown(elem_id="tp-plan")
                        with gr.Accordion(L("progress", "en"), open=True) as acc_prog:
                            progress = gr.HTML(elem_id="tp-progress")
                            loss = gr.LinePlot(x="step", y="loss", color="series", height=220, elem_id="tp-loss",
                                               label=L("loss", "en"))
                        with gr.Accordion(L("eval", "en"), open=True) as acc_eval:
                            eval_md = gr.Markdown(elem_id="tp-eval")
                        files_out = gr.File(label=L("downloads", "en"), file_count="multiple", interactive=False)
            with gr.Tab(L("model_chat", "en"), id="model") as tab_model:
                with gr.Row():
                    run_pick = gr.Dropdown(label=L("pick_run", "en"), choices=[], elem_id="tp-run-pick")
                    refresh = gr.Button(L("refresh", "en"), size="sm")
                with gr.Row():
                    chat_base = gr.Chatbot(label=L("base", "en"), height=380, elem_id="tp-chat-base",
                                           feedback_options=("Like", "Dislike"))
                    chat_tuned = gr.Chatbot(label=L("tuned", "en"), height=380, elem_id="tp-chat-tuned",
                                            feedback_options=("Like", "Dislike"))
                with gr.Row():
                    ask = gr.Textbox(show_label=False, placeholder=L("ask", "en"), scale=4, elem_id="tp-ask")
                    ask_btn = gr.Button(L("send", "en"), variant="primary", scale=1, elem_id="tp-ask-btn")
            with gr.Tab(L("runs", "en"), id="runs") as tab_runs:
                runs_table = gr.Dataframe(headers=["id", "stage", "state", "goal"], interactive=False,
                                          elem_id="tp-runs")
                with gr.Row():
                    run_id_box = gr.Textbox(label=L("run_id", "en"), scale=3)
                    open_btn = gr.Button(L("open", "en"))
                    resume_btn = gr.Button(L("resume", "en"))
                    redeploy_btn = gr.Button(L("redeploy", "en"))
                with gr.Row():
                    confirm_del = gr.Checkbox(label=L("confirm_delete", "en"), value=False)
                    delete_btn = gr.Button(L("delete", "en"), variant="stop")
                runs_msg = gr.Markdown()
        timer = gr.Timer(2.0)

        # --- language ---------------------------------------------------------------
        def set_lang(choice: str) -> list[Any]:
            lg = _lang(choice)
            return [lg, f"## {L('title', lg)}", gr.update(label=L("language", lg)),
                    gr.update(label=L("chat", lg)), gr.update(placeholder=L("input", lg)),
                    gr.update(value=L("approve", lg)), gr.update(value=L("edit", lg)),
                    gr.update(value=L("cancel", lg)), gr.update(label=L("dataset", lg)),
                    gr.update(label=L("plan", lg)), gr.update(label=L("progress", lg)),
                    gr.update(label=L("eval", lg)), gr.update(label=L("downloads", lg)),
                    gr.update(label=L("base", lg)), gr.update(label=L("tuned", lg)),
                    gr.update(placeholder=L("ask", lg)), gr.update(value=L("send", lg)),
                    gr.update(label=L("model_chat", lg)), gr.update(label=L("runs", lg)),
                    gr.update(label=L("chat", lg))]

        lang.change(set_lang, lang, [lang_state, title, lang, chatbot, box, approve, edit, cancel, acc_data,
                                     acc_plan, acc_prog, acc_eval, files_out, chat_base, chat_tuned, ask,
                                     ask_btn, tab_model, tab_runs, tab_chat])
        demo.load(None, None, lang, js="() => (navigator.language || 'en').startsWith('zh') ? '中文' : 'English'")

        # --- chat with the agent ---------------------------------------------------
        def refresh_panel(thread_id: str, lg: str) -> list[Any]:
            rd = _run_dir(thread_id)
            p = view.panel(rd, lg)
            import pandas as pd

            df = pd.DataFrame(p["loss"] or [], columns=["step", "loss", "series"])
            return [p["stages"], p["dataset"], p["plan"], p["progress"], df, p["eval"], p["downloads"] or None]

        panel_outputs = [stages, dataset, plan_md, progress, loss, eval_md, files_out]

        def on_load(thread_id: str, lg: str) -> list[Any]:
            session = get_session(thread_id)
            pending = session.pending()
            return [_to_messages(session.history()), gr.update(visible=pending is not None),
                    *refresh_panel(thread_id, lg)]

        demo.load(on_load, [thread, lang_state], [chatbot, confirm_row, *panel_outputs])

        def send(message: dict[str, Any] | str, thread_id: str, lg: str):  # type: ignore[no-untyped-def]
            session = get_session(thread_id)
            text = message.get("text", "") if isinstance(message, dict) else str(message)
            paths = list(message.get("files", [])) if isinstance(message, dict) else []
            history = _to_messages(session.history())
            shown = text + ("".join(f"\n📎 {Path(p).name}" for p in paths) if paths else "")
            history.append({"role": "user", "content": view.safe_text(shown)})
            history.append({"role": "assistant", "content": L("working", lg)})
            yield history, gr.update(value=None, interactive=False), gr.update(), ""
            stored, problems = [], []
            if paths:
                dest = runs_root() / "uploads" / thread_id
                stored, problems = store_uploads(paths, dest, lg)
            if problems and not stored:
                history[-1] = {"role": "assistant", "content": "\n".join(problems)}
                yield history, gr.update(interactive=True), gr.update(), ""
                return
            try:
                turn = session.send(text or ("convert" if stored else ""), files=stored)
            except Exception as exc:  # noqa: BLE001 - the page never shows a traceback
                log.exception("agent failed")
                history[-1] = {"role": "assistant", "content": f"⚠️ {type(exc).__name__}: {exc}"}
                yield history, gr.update(interactive=True), gr.update(), ""
                return
            msgs = _to_messages(session.history())
            yield (msgs, gr.update(interactive=True), gr.update(visible=turn.pending is not None),
                   "\n".join(problems))

        box.submit(send, [box, thread, lang_state], [chatbot, box, confirm_row, notice]).then(
            refresh_panel, [thread, lang_state], panel_outputs)

        def quick(answer: str):  # type: ignore[no-untyped-def]
            def handler(message: Any, thread_id: str, lg: str):  # type: ignore[no-untyped-def]
                text = answer or (message.get("text", "") if isinstance(message, dict) else str(message or ""))
                yield from send({"text": text, "files": []}, thread_id, lg)
            return handler

        approve.click(quick("yes"), [box, thread, lang_state], [chatbot, box, confirm_row, notice]).then(
            refresh_panel, [thread, lang_state], panel_outputs)
        cancel.click(quick("no"), [box, thread, lang_state], [chatbot, box, confirm_row, notice]).then(
            refresh_panel, [thread, lang_state], panel_outputs)
        edit.click(quick(""), [box, thread, lang_state], [chatbot, box, confirm_row, notice]).then(
            refresh_panel, [thread, lang_state], panel_outputs)

        def tick(thread_id: str, lg: str) -> list[Any]:
            """Live panel; when a journey's training has finished, carry the journey on."""
            session = get_session(thread_id)
            values = session.values()
            chat_update: Any = gr.update()
            confirm_update: Any = gr.update()
            rd = values.get("run_dir")
            if rd and values.get("journey") and values.get("stage") == "train" and session.pending() is None:
                from tools.train import training_state

                if training_state(Path(rd)) in ("done", "failed", "cancelled"):
                    turn = session.send("status")
                    chat_update = _to_messages(session.history())
                    confirm_update = gr.update(visible=turn.pending is not None)
            return [chat_update, confirm_update, *refresh_panel(thread_id, lg)]

        timer.tick(tick, [thread, lang_state], [chatbot, confirm_row, *panel_outputs], show_progress="hidden")

        # --- model chat: base vs tuned ------------------------------------------------
        def deployed_runs() -> Any:
            from tools.deploy import all_deployments

            live = [s for s in all_deployments(runs_root()) if s.state == "running"]
            choices = [Path(s.run_dir).name for s in live]
            return gr.update(choices=choices, value=choices[0] if choices else None)

        refresh.click(deployed_runs, None, run_pick)
        tab_model.select(deployed_runs, None, run_pick)

        def ask_both(text: str, run_id: str | None, hb: list, ht: list, lg: str):  # type: ignore[no-untyped-def]
            from tools.chat import ChatError, stream_chat
            from tools.deploy import load_deployment

            hb, ht = list(hb or []), list(ht or [])
            if not text or not run_id:
                yield hb, ht, text
                return
            dep = load_deployment(runs_root() / run_id)
            hb.append({"role": "user", "content": view.safe_text(text)})
            ht.append({"role": "user", "content": view.safe_text(text)})
            hb.append({"role": "assistant", "content": ""})
            ht.append({"role": "assistant", "content": ""})
            if dep is None:
                hb[-1]["content"] = ht[-1]["content"] = L("server_down", lg, error="no serve.json")
                yield hb, ht, ""
                return
            msgs = [{"role": "user", "content": text}]
            streams = {"base": stream_chat(dep, "base", msgs), "tuned": stream_chat(dep, "tuned", msgs)}
            texts = {"base": "", "tuned": ""}
            active = {k for k in streams if k in dep.models}
            while active:
                for k in list(active):
                    try:
                        texts[k] += next(streams[k])
                    except StopIteration:
                        active.discard(k)
                    except ChatError as exc:
                        texts[k] = L("server_down", lg, error=str(exc))
                        active.discard(k)
                hb[-1]["content"] = view.safe_text(texts["base"]) if "base" in dep.models else "—"
                ht[-1]["content"] = view.safe_text(texts["tuned"])
                yield hb, ht, ""

        ask_btn.click(ask_both, [ask, run_pick, chat_base, chat_tuned, lang_state], [chat_base, chat_tuned, ask])
        ask.submit(ask_both, [ask, run_pick, chat_base, chat_tuned, lang_state], [chat_base, chat_tuned, ask])

        def like(which: str):  # type: ignore[no-untyped-def]
            def handler(data: gr.LikeData, run_id: str | None, history: list) -> None:
                from tools.evaluate import record_human_score

                if not run_id:
                    return
                idx = data.index if isinstance(data.index, int) else data.index[0]
                question = history[idx - 1]["content"] if idx and idx > 0 else ""
                import hashlib

                sid = "chat-" + hashlib.sha1(str(question).encode()).hexdigest()[:10]
                record_human_score(runs_root() / run_id, sid, which, 1 if data.liked else -1)
            return handler

        chat_base.like(like("base"), [run_pick, chat_base], None)
        chat_tuned.like(like("tuned"), [run_pick, chat_tuned], None)

        # --- runs list ------------------------------------------------------------------
        def list_runs() -> list[list[Any]]:
            from tools.runs import RunIndex

            return [[r.id, r.stage, r.state, r.goal[:80]] for r in RunIndex().list()]

        tab_runs.select(list_runs, None, runs_table)

        def pick_row(evt: gr.SelectData, rows: Any) -> str:
            try:
                return str(rows.iloc[evt.index[0], 0])
            except Exception:  # noqa: BLE001
                return ""

        runs_table.select(pick_row, runs_table, run_id_box)

        def open_run(run_id: str, thread_id: str) -> str:
            from tools.runs import RunIndex

            rec = RunIndex().get(run_id.strip())
            session = get_session(thread_id)
            session.graph.update_state(session.config, {"run_id": rec.id, "run_dir": rec.path})
            return f"opened `{rec.id}`"

        def resume_run(run_id: str) -> str:
            from tools.runs import RunIndex
            from tools.train import launch_training

            rec = RunIndex().get(run_id.strip())
            launch_training(Path(rec.path), resume=True)
            RunIndex().update(rec.id, stage="train", state="running")
            return f"resumed `{rec.id}`"

        def redeploy(run_id: str) -> str:
            from tools.deploy import DeployRequest, deploy_model
            from tools.runs import RunIndex

            rec = RunIndex().get(run_id.strip())
            dep = deploy_model(DeployRequest(run_dir=Path(rec.path)))
            return f"serving at {dep.base_url}"

        def delete_run(run_id: str, sure: bool) -> tuple[str, list[list[Any]], bool]:
            from tools.deploy import stop_deployment
            from tools.runs import RunIndex

            if not sure:
                return "tick the confirmation box first", list_runs(), False
            rec = RunIndex().get(run_id.strip())
            stop_deployment(Path(rec.path))
            RunIndex().delete(rec.id)
            return f"deleted `{rec.id}`", list_runs(), False

        def guarded(fn):  # type: ignore[no-untyped-def]
            def inner(*args: Any) -> Any:
                from tools.errors import TunepilotError

                try:
                    return fn(*args)
                except TunepilotError as err:
                    return f"⚠️ {err}"
            return inner

        open_btn.click(guarded(open_run), [run_id_box, thread], runs_msg).then(
            refresh_panel, [thread, lang_state], panel_outputs)
        resume_btn.click(guarded(resume_run), run_id_box, runs_msg)
        redeploy_btn.click(guarded(redeploy), run_id_box, runs_msg)
        delete_btn.click(delete_run, [run_id_box, confirm_del], [runs_msg, runs_table, confirm_del])
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           prevent_thread_lock: bool = False) -> Any:
    demo = create_app()
    demo.queue(default_concurrency_limit=8)
    return demo.launch(server_name=host, server_port=port, auth=auth, share=False, show_error=False,
                       max_file_size=f"{MAX_FILE_MB}mb", prevent_thread_lock=prevent_thread_lock,
                       theme=gr.themes.Soft(), css=CSS, ssr_mode=False)
