"""The runs tab: this conversation's runs and where each stands, and the buttons that act on the chosen one.

Open / resume / redeploy / export / delete are typed calls on the conversation's ``AgentSession``; the run's
corrections listed below them are ``ui/corrections.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from tools.core.errors import TunepilotError
from tools.core.messages import say
from tools.core.runs import RunIndex
from ui import view
from ui.conversations import get_session, new_thread_id
from ui.run_panel import outputs as panel_outputs
from ui.run_panel import refresh_panel


def build() -> dict[str, Any]:
    """The runs tab's parts: the table, the chosen run's id, its buttons, and the line that answers them."""
    runs_table = gr.Dataframe(headers=say("page.runs_cols", "en").split(","), interactive=False,
                              elem_id="tp-runs")
    with gr.Row():
        run_id_box = gr.Textbox(label=say("page.run_id", "en"), scale=3, elem_id="tp-run-id")
        open_btn = gr.Button(say("page.open", "en"))
        resume_btn = gr.Button(say("page.resume", "en"))
        redeploy_btn = gr.Button(say("page.redeploy", "en"))
        export_btn = gr.Button(say("page.export", "en"), elem_id="tp-export")
    with gr.Row():
        confirm_del = gr.Checkbox(label=say("page.confirm_delete", "en"), value=False)
        delete_btn = gr.Button(say("page.delete", "en"), variant="stop")
    runs_msg = gr.Markdown(elem_id="tp-runs-msg")
    return {"runs_table": runs_table, "run_id_box": run_id_box, "open_btn": open_btn, "resume_btn": resume_btn,
            "redeploy_btn": redeploy_btn, "export_btn": export_btn, "confirm_del": confirm_del,
            "delete_btn": delete_btn, "runs_msg": runs_msg}


def list_runs(lang: str = "en", thread_id: str = "") -> Any:
    """This conversation's runs with where each stands now (read from its folder, not a stale index row);
    other conversations' runs are not shown."""
    import pandas as pd

    rows = [[r.id, *view.run_standing(Path(r.path), lang), r.goal[:80]]
            for r in RunIndex().list(owner=new_thread_id(thread_id))]
    return pd.DataFrame(rows, columns=say("page.runs_cols", lang).split(","))


def pick_row(evt: gr.SelectData, rows: Any) -> str:
    try:
        return str(rows.iloc[evt.index[0], 0])
    except Exception:  # noqa: BLE001
        return ""


def open_run(run_id: str, thread_id: str, lang: str) -> str:
    return get_session(new_thread_id(thread_id)).open_run(run_id).text(lang)


def resume_run(run_id: str, thread_id: str, lang: str) -> str:
    return get_session(new_thread_id(thread_id)).resume_run(run_id).text(lang)


def redeploy(run_id: str, thread_id: str, lang: str) -> str:
    return get_session(new_thread_id(thread_id)).redeploy(run_id).text(lang)


def export_run(run_id: str, thread_id: str, lang: str) -> str:
    return get_session(new_thread_id(thread_id)).export_run(run_id).text(lang)


def delete_run(run_id: str, sure: bool, thread_id: str, lang: str) -> tuple[str, Any, bool]:
    if not sure:
        return say("runs.tick_first", lang), list_runs(lang, thread_id), False
    said = get_session(new_thread_id(thread_id)).delete_run(run_id)
    return said.text(lang), list_runs(lang, thread_id), False


def guarded(fn: Callable[..., Any], n_extra: int = 0) -> Callable[..., Any]:
    """Tool errors as one line in the page's language; ``n_extra`` other outputs keep their value."""
    def inner(*args: Any) -> Any:
        try:
            return fn(*args)
        except TunepilotError as err:
            msg = f"⚠️ {say('page.run_problem', args[-1] if args else 'en')} {err}"
            return (msg, *(gr.update() for _ in range(n_extra))) if n_extra else msg
    return inner


def wire(p: SimpleNamespace) -> None:
    """The runs tab: this conversation's runs, and open / resume / redeploy / delete."""
    panel = panel_outputs(p)
    p.tab_runs.select(list_runs, [p.lang_state, p.thread], p.runs_table, api_name="list_runs")

    p.runs_table.select(pick_row, p.runs_table, p.run_id_box, api_visibility="private")

    # the runs tab's buttons are typed calls on this conversation's agent session
    p.open_btn.click(guarded(open_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg, api_name="open_run").then(
        refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")
    p.resume_btn.click(guarded(resume_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg,
                     api_name="resume_run").then(
        refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")
    p.redeploy_btn.click(guarded(redeploy), [p.run_id_box, p.thread, p.lang_state], p.runs_msg, api_name="redeploy")
    p.export_btn.click(guarded(export_run), [p.run_id_box, p.thread, p.lang_state], p.runs_msg,
                       api_name="export_run").then(
        refresh_panel, [p.thread, p.lang_state], panel, api_visibility="private", show_progress="hidden")
    p.delete_btn.click(guarded(delete_run, 2), [p.run_id_box, p.confirm_del, p.thread, p.lang_state],
                     [p.runs_msg, p.runs_table, p.confirm_del], api_name="delete_run")
