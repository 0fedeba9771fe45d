"""The page's frame and style: the header (conversation id, language, title) and the chat tab's two columns.

The chat tab holds the agent chat (wired in ``ui/agent_chat.py``) beside the run panel (``ui/run_panel.py``);
the other tabs build their own parts (``ui/model_chat.py``, ``ui/runs_tab.py``, ``ui/corrections.py``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from tools.core.messages import say
from ui.conversations import browser_secret

CSS = """
.tp-stages {display:flex; flex-wrap:wrap; gap:.3em; align-items:center; font-size:.95em}
.tp-server {margin-top:.4em; font-size:.9em; overflow-wrap:anywhere}
.tp-server-down {color:#b42318; font-weight:600}
.tp-stage {padding:.15em .5em; border-radius:1em; border:1px solid #ccc; white-space:nowrap}
.tp-done {background:#e6f4ea; border-color:#34a853}
.tp-running {background:#fff4e5; border-color:#f9ab00}
.tp-error {background:#fce8e6; border-color:#ea4335}
.tp-progress {height:12px; background:#eee; border-radius:6px; overflow:hidden}
.tp-bar {height:100%; background:#34a853; transition:width .5s}
.tp-progress-text {font-size:.9em; margin-top:.3em; overflow-wrap:anywhere}
.message, .message * {overflow-wrap:anywhere; word-break:break-word}
#tp-dataset th, #tp-dataset th * {word-break:keep-all; overflow-wrap:normal}
#tp-chat pre, #tp-chat pre code {white-space:pre-wrap; overflow-wrap:anywhere}
#tp-eval table, #tp-chat table {display:block; max-width:100%; overflow-x:auto}
#tp-eval th, #tp-eval td, #tp-chat th, #tp-chat td {min-width:4.5em; vertical-align:top; overflow-wrap:break-word;
  word-break:normal}
#tp-eval td:nth-last-child(-n+2), #tp-chat td:nth-last-child(-n+2) {min-width:14em}
"""


def header() -> dict[str, Any]:
    """Above the tabs: the browser's conversation id, the page language, the title and the language toggle."""
    # The default is empty: each browser gets its own random id on first load (see new_thread_id).
    thread = gr.BrowserState("", storage_key="tunepilot-thread", secret=browser_secret())
    lang_state = gr.State("en")
    title = gr.Markdown(f"## {say('page.title', 'en')}")
    lang = gr.Radio(["English", "中文"], value="English", label=say("page.language", "en"), elem_id="tp-lang")
    return {"thread": thread, "lang_state": lang_state, "title": title, "lang": lang}


def chat_tab() -> dict[str, Any]:
    """The chat tab's parts: the agent chat beside the run panel, and the before/after tables under both."""
    with gr.Row():
        with gr.Column(scale=3, min_width=320):
            chat = _chat_column()
        with gr.Column(scale=2, min_width=300):
            panel = _panel_column()
    # the before/after tables are wide: they get the page's full width
    with gr.Accordion(say("page.eval", "en"), open=True) as acc_eval:
        eval_md = gr.Markdown(elem_id="tp-eval")
    return {**chat, **panel, "acc_eval": acc_eval, "eval_md": eval_md}


def _chat_column() -> dict[str, Any]:
    """The conversation, the message box (text and files), the confirmation buttons and a notice line."""
    chatbot = gr.Chatbot(label=say("page.chat", "en"), show_label=False, height=520,
                         elem_id="tp-chat", sanitize_html=True)
    box = gr.MultimodalTextbox(file_count="multiple", placeholder=say("page.input", "en"),
                               show_label=False, elem_id="tp-input")
    with gr.Row(visible=False, elem_id="tp-confirm") as confirm_row:
        approve = gr.Button(say("page.approve", "en"), variant="primary", elem_id="tp-approve")
        edit = gr.Button(say("page.edit", "en"), elem_id="tp-edit")
        cancel = gr.Button(say("page.cancel", "en"), variant="stop", elem_id="tp-cancel")
    notice = gr.Markdown(elem_id="tp-notice")
    return {"chatbot": chatbot, "box": box, "confirm_row": confirm_row, "approve": approve, "edit": edit,
            "cancel": cancel, "notice": notice}


def _panel_column() -> dict[str, Any]:
    """The run panel: stages, the dataset report with its editable pairs, the plan, progress and loss, downloads."""
    stages = gr.HTML(elem_id="tp-stages")
    with gr.Accordion(say("page.dataset", "en"), open=True) as acc_data:
        dataset = gr.Dataframe(headers=say("page.dataset_cols", "en").split(","),
                               interactive=False, wrap=True, elem_id="tp-dataset")
        pairs_hint = gr.Markdown(elem_id="tp-pairs-hint")
        pairs = gr.Dataframe(headers=say("page.pairs_cols", "en").split(","), interactive=True,
                             wrap=True, visible=False, max_height=360, elem_id="tp-pairs",
                             label=say("page.pairs", "en"))
        pairs_save = gr.Button(say("page.pairs_save", "en"), visible=False, elem_id="tp-pairs-save")
        pairs_msg = gr.Markdown(elem_id="tp-pairs-msg")
        pairs_sig = gr.State("")
    with gr.Accordion(say("page.plan", "en"), open=True) as acc_plan:
        plan_md = gr.Markdown(elem_id="tp-plan")
    with gr.Accordion(say("page.progress", "en"), open=True) as acc_prog:
        progress = gr.HTML(elem_id="tp-progress")
        # the series names are the legend (train / held-out, in the page language): no title
        loss = gr.LinePlot(x="step", y="loss", color="series", color_title="", height=220,
                           x_title=say("page.plot_step", "en"), y_title=say("page.plot_loss", "en"),
                           elem_id="tp-loss", label=say("page.loss", "en"))
    files_out = gr.File(label=say("page.downloads", "en"), file_count="multiple", interactive=False,
                        visible=False, elem_id="tp-downloads")
    return {"stages": stages, "acc_data": acc_data, "dataset": dataset, "pairs_hint": pairs_hint, "pairs": pairs,
            "pairs_save": pairs_save, "pairs_msg": pairs_msg, "pairs_sig": pairs_sig, "acc_plan": acc_plan,
            "plan_md": plan_md, "acc_prog": acc_prog, "progress": progress, "loss": loss, "files_out": files_out}
